//
// AnnouncementTest.cpp
//
// testsuite: tests for the discovery datagram codec (Announcement).
//


#include "AnnouncementTest.h"
#include "CrossChat/Discovery/Announcement.h"
#include "CrossChat/FoundationException.h"
#include "CrossChat/Identity.h"
#include "Poco/Exception.h"
#include "Poco/Net/IPAddress.h"
#include <cstdint>
#include <string>


using CrossChat::CryptoException;
using CrossChat::Identity;
using CrossChat::Discovery::Announcement;
using Poco::Net::IPAddress;


namespace {


const Identity& alice()
{
	static const Identity identity = Identity::generate();
	return identity;
}


const Identity& mallory()
{
	static const Identity identity = Identity::generate();
	return identity;
}


Announcement sample()
{
	Announcement a;
	a.kind = Announcement::ANNOUNCE;
	a.flags = Announcement::FLAG_QUERY;
	a.name = "Zo\xC3\xAB \xF0\x9F\x99\x82";   // "Zoë 🙂"
	a.chatPort = 0xBEEF;
	a.addresses = {IPAddress("192.0.2.7"), IPAddress("2001:db8::1"), IPAddress("0.0.0.0"), IPAddress("::")};
	a.instanceId = 0x0102030405060708ULL;
	a.sequence = 42;
	a.timestampMs = 1700000000123ULL;
	return a;
}


enum class Verdict
{
	ACCEPTED,
	MALFORMED,
	BAD_SIGNATURE
};


Verdict judge(const std::string& datagram)
	/// Anything but the two documented exceptions escapes and fails the test.
{
	try
	{
		Announcement::parse(datagram.data(), datagram.size());
		return Verdict::ACCEPTED;
	}
	catch (const CryptoException&)
	{
		return Verdict::BAD_SIGNATURE;
	}
	catch (const Poco::DataFormatException&)
	{
		return Verdict::MALFORMED;
	}
}


std::string resign(const std::string& datagram, const Identity& identity)
	/// Replaces the signature with identity's signature of the (possibly edited) body.
{
	const std::string body = datagram.substr(0, datagram.size() - Announcement::SIGNATURE_SIZE);
	return body + identity.sign(body);
}


std::string malformedMessage(const std::string& datagram)
{
	try
	{
		Announcement::parse(datagram);
	}
	catch (const Poco::DataFormatException& exc)
	{
		return exc.displayText();
	}
	return std::string();
}


std::uint64_t readBigEndian(const std::string& bytes, std::size_t offset, std::size_t count)
{
	std::uint64_t value = 0;
	for (std::size_t i = 0; i < count; ++i) value = (value << 8) | static_cast<unsigned char>(bytes[offset + i]);
	return value;
}


} // namespace


void AnnouncementTest::testRoundTrip()
{
	const Announcement original = sample();
	const std::string datagram = original.encode(alice());
	const Announcement parsed = Announcement::parse(datagram);
	CPPUNIT_ASSERT(parsed.kind == Announcement::ANNOUNCE);
	CPPUNIT_ASSERT(parsed.hasFlag(Announcement::FLAG_QUERY));
	CPPUNIT_ASSERT(!parsed.hasFlag(Announcement::FLAG_REPLY));
	CPPUNIT_ASSERT_EQUAL(alice().publicKey().raw(), parsed.publicKey);
	CPPUNIT_ASSERT(parsed.peerId == alice().peerId());
	CPPUNIT_ASSERT_EQUAL(original.name, parsed.name);
	CPPUNIT_ASSERT_EQUAL(original.chatPort, parsed.chatPort);
	CPPUNIT_ASSERT(parsed.addresses == original.addresses);
	CPPUNIT_ASSERT_EQUAL(original.instanceId, parsed.instanceId);
	CPPUNIT_ASSERT_EQUAL(original.sequence, parsed.sequence);
	CPPUNIT_ASSERT_EQUAL(original.timestampMs, parsed.timestampMs);

	Announcement goodbye;
	goodbye.kind = Announcement::GOODBYE;
	goodbye.flags = Announcement::FLAG_REPLY;
	const Announcement parsedGoodbye = Announcement::parse(goodbye.encode(alice()));
	CPPUNIT_ASSERT(parsedGoodbye.kind == Announcement::GOODBYE);
	CPPUNIT_ASSERT(parsedGoodbye.hasFlag(Announcement::FLAG_REPLY));
	CPPUNIT_ASSERT(parsedGoodbye.name.empty());
	CPPUNIT_ASSERT(parsedGoodbye.addresses.empty());
	CPPUNIT_ASSERT_EQUAL(Announcement::MIN_DATAGRAM_SIZE, goodbye.encode(alice()).size());
}


void AnnouncementTest::testLayout()
{
	// The byte layout of docs/PROTOCOL-discovery.md, checked field by field.
	const Announcement a = sample();
	const std::string d = a.encode(alice());
	CPPUNIT_ASSERT_EQUAL(std::string("CXLD"), d.substr(0, 4));
	CPPUNIT_ASSERT_EQUAL(1, static_cast<int>(d[4]));
	CPPUNIT_ASSERT_EQUAL(1, static_cast<int>(d[5]));
	CPPUNIT_ASSERT_EQUAL(1, static_cast<int>(d[6]));
	CPPUNIT_ASSERT_EQUAL(alice().publicKey().raw(), d.substr(7, 32));
	std::size_t at = 39;
	CPPUNIT_ASSERT_EQUAL(a.name.size(), static_cast<std::size_t>(static_cast<unsigned char>(d[at])));
	CPPUNIT_ASSERT_EQUAL(a.name, d.substr(at + 1, a.name.size()));
	at += 1 + a.name.size();
	CPPUNIT_ASSERT_EQUAL(std::uint64_t(0xBEEF), readBigEndian(d, at, 2));
	at += 2;
	CPPUNIT_ASSERT_EQUAL(4, static_cast<int>(d[at]));
	at += 1;
	CPPUNIT_ASSERT_EQUAL(4, static_cast<int>(d[at]));
	CPPUNIT_ASSERT_EQUAL(std::uint64_t(0xC0000207), readBigEndian(d, at + 1, 4));
	at += 5;
	CPPUNIT_ASSERT_EQUAL(6, static_cast<int>(d[at]));
	CPPUNIT_ASSERT_EQUAL(std::uint64_t(0x20010db800000000ULL), readBigEndian(d, at + 1, 8));
	CPPUNIT_ASSERT_EQUAL(std::uint64_t(1), readBigEndian(d, at + 9, 8));
	at += 17;
	at += 5 + 17;   // 0.0.0.0 and ::
	CPPUNIT_ASSERT_EQUAL(a.instanceId, readBigEndian(d, at, 8));
	CPPUNIT_ASSERT_EQUAL(a.sequence, readBigEndian(d, at + 8, 8));
	CPPUNIT_ASSERT_EQUAL(a.timestampMs, readBigEndian(d, at + 16, 8));
	at += 24;
	CPPUNIT_ASSERT_EQUAL(at + Announcement::SIGNATURE_SIZE, d.size());
	CPPUNIT_ASSERT(alice().publicKey().verify(d.substr(0, at), d.substr(at)));
}


void AnnouncementTest::testLargestDatagramFits()
{
	Announcement a = sample();
	a.name = std::string(Announcement::MAX_NAME_SIZE, 'x');
	a.addresses.assign(Announcement::MAX_ADDRESSES, IPAddress("2001:db8::99"));
	const std::string datagram = a.encode(alice());
	CPPUNIT_ASSERT(datagram.size() <= Announcement::MAX_DATAGRAM_SIZE);
	const Announcement parsed = Announcement::parse(datagram);
	CPPUNIT_ASSERT_EQUAL(a.name, parsed.name);
	CPPUNIT_ASSERT_EQUAL(Announcement::MAX_ADDRESSES, parsed.addresses.size());
}


void AnnouncementTest::testTamperedByteRejected()
{
	const std::string datagram = sample().encode(alice());
	CPPUNIT_ASSERT(judge(datagram) == Verdict::ACCEPTED);
	for (std::size_t i = 0; i < datagram.size(); ++i)
	{
		for (unsigned char mask: {0x01, 0x80, 0xFF})
		{
			std::string tampered = datagram;
			tampered[i] = static_cast<char>(static_cast<unsigned char>(tampered[i]) ^ mask);
			const Verdict verdict = judge(tampered);
			if (verdict == Verdict::ACCEPTED)
				CPPUNIT_FAIL("datagram with byte " + std::to_string(i) + " changed was accepted");
		}
	}
	// Inside the signed fields (past the header) a change is caught by the signature at the latest.
	std::string flipped = datagram;
	flipped[flipped.size() - Announcement::SIGNATURE_SIZE - 1] ^= 0x01;   // last timestamp byte
	CPPUNIT_ASSERT(judge(flipped) == Verdict::BAD_SIGNATURE);
	std::string flags = datagram;
	flags[6] ^= Announcement::FLAG_REPLY;
	CPPUNIT_ASSERT(judge(flags) == Verdict::BAD_SIGNATURE);
}


void AnnouncementTest::testTruncatedRejected()
{
	const std::string datagram = sample().encode(alice());
	for (std::size_t length = 0; length < datagram.size(); ++length)
	{
		const std::string truncated = datagram.substr(0, length);
		if (judge(truncated) != Verdict::MALFORMED)
			CPPUNIT_FAIL("datagram truncated to " + std::to_string(length) + " bytes was not rejected as malformed");
	}
	CPPUNIT_ASSERT(judge(std::string()) == Verdict::MALFORMED);
	CPPUNIT_ASSERT_THROW(Announcement::parse(nullptr, 0), Poco::DataFormatException);
}


void AnnouncementTest::testTrailingBytesRejected()
{
	const std::string datagram = sample().encode(alice());
	CPPUNIT_ASSERT(judge(datagram + '\0') == Verdict::MALFORMED);
	CPPUNIT_ASSERT(malformedMessage(datagram + "xyz").find("trailing") != std::string::npos);
	// Trailing bytes inside the signed part, signature valid: still rejected.
	const std::string body = datagram.substr(0, datagram.size() - Announcement::SIGNATURE_SIZE) + "xy";
	const std::string signedTrailing = body + alice().sign(body);
	CPPUNIT_ASSERT(judge(signedTrailing) == Verdict::MALFORMED);
}


void AnnouncementTest::testOversizedRejected()
{
	const std::string datagram = sample().encode(alice());
	std::string big = datagram + std::string(Announcement::MAX_DATAGRAM_SIZE + 1 - datagram.size(), 'A');
	CPPUNIT_ASSERT_EQUAL(Announcement::MAX_DATAGRAM_SIZE + 1, big.size());
	CPPUNIT_ASSERT(judge(big) == Verdict::MALFORMED);
	CPPUNIT_ASSERT(malformedMessage(big).find("oversized") != std::string::npos);
	CPPUNIT_ASSERT(judge(std::string(65536, 'C')) == Verdict::MALFORMED);
}


void AnnouncementTest::testWrongMagicVersionKind()
{
	const std::string datagram = sample().encode(alice());
	std::string magic = datagram;
	magic[0] = 'X';
	CPPUNIT_ASSERT(malformedMessage(magic).find("magic") != std::string::npos);
	std::string version = datagram;
	version[4] = 2;
	version = resign(version, alice());   // even correctly signed, version 2 is not understood
	CPPUNIT_ASSERT(malformedMessage(version).find("version") != std::string::npos);
	for (int kind: {0, 3, 255})
	{
		std::string wrongKind = datagram;
		wrongKind[5] = static_cast<char>(kind);
		wrongKind = resign(wrongKind, alice());
		CPPUNIT_ASSERT(malformedMessage(wrongKind).find("kind") != std::string::npos);
	}
	// Unknown flag bits are signed and carried, not rejected.
	std::string flags = datagram;
	flags[6] = static_cast<char>(0x81);
	flags = resign(flags, alice());
	CPPUNIT_ASSERT_EQUAL(0x81, static_cast<int>(Announcement::parse(flags).flags));
}


void AnnouncementTest::testBadFieldsBehindValidSignature()
{
	// Each edit is signed again, so only the structural checks can reject it.
	Announcement a;
	a.name = "abc";
	a.addresses = {IPAddress("192.0.2.1")};
	const std::string datagram = a.encode(alice());
	const std::size_t nameLength = 39;
	const std::size_t name = 40;
	const std::size_t count = name + 3 + 2;
	const std::size_t family = count + 1;

	std::string longName = datagram;
	longName[nameLength] = static_cast<char>(65);
	CPPUNIT_ASSERT(malformedMessage(resign(longName, alice())).find("name too long") != std::string::npos);

	std::string lyingName = datagram;
	lyingName[nameLength] = static_cast<char>(60);   // runs into the following fields
	CPPUNIT_ASSERT(judge(resign(lyingName, alice())) == Verdict::MALFORMED);

	std::string badUtf8 = datagram;
	badUtf8[name + 1] = static_cast<char>(0xFF);
	CPPUNIT_ASSERT(malformedMessage(resign(badUtf8, alice())).find("UTF-8") != std::string::npos);

	std::string control = datagram;
	control[name] = '\x1b';   // ESC: terminal escape sequences stay out of names
	CPPUNIT_ASSERT(malformedMessage(resign(control, alice())).find("control") != std::string::npos);

	std::string overlong = datagram;
	overlong[name] = static_cast<char>(0xC0);
	overlong[name + 1] = static_cast<char>(0x80);
	CPPUNIT_ASSERT(judge(resign(overlong, alice())) == Verdict::MALFORMED);

	std::string manyAddresses = datagram;
	manyAddresses[count] = static_cast<char>(17);
	CPPUNIT_ASSERT(malformedMessage(resign(manyAddresses, alice())).find("too many") != std::string::npos);

	std::string moreAddresses = datagram;
	moreAddresses[count] = static_cast<char>(2);   // claims one more address than present
	CPPUNIT_ASSERT(judge(resign(moreAddresses, alice())) == Verdict::MALFORMED);

	std::string badFamily = datagram;
	badFamily[family] = static_cast<char>(5);
	CPPUNIT_ASSERT(malformedMessage(resign(badFamily, alice())).find("family") != std::string::npos);

	std::string sixForFour = datagram;
	sixForFour[family] = static_cast<char>(6);   // 16 bytes expected where 4 are
	CPPUNIT_ASSERT(judge(resign(sixForFour, alice())) == Verdict::MALFORMED);
}


void AnnouncementTest::testEncodeLimits()
{
	Announcement a = sample();
	a.name = std::string(Announcement::MAX_NAME_SIZE, 'n');
	CPPUNIT_ASSERT_NO_THROW(a.encode(alice()));
	a.name += 'n';
	CPPUNIT_ASSERT_THROW(a.encode(alice()), Poco::InvalidArgumentException);
	a.name = std::string(32, '\xC3') + std::string(1, '\xA9');   // broken UTF-8
	CPPUNIT_ASSERT_THROW(a.encode(alice()), Poco::InvalidArgumentException);
	a.name = "tab\there";
	CPPUNIT_ASSERT_THROW(a.encode(alice()), Poco::InvalidArgumentException);
	a.name = "ok";
	a.addresses.assign(Announcement::MAX_ADDRESSES + 1, IPAddress("192.0.2.1"));
	CPPUNIT_ASSERT_THROW(a.encode(alice()), Poco::InvalidArgumentException);
}


void AnnouncementTest::testIdDerivedFromKey()
{
	CPPUNIT_ASSERT(alice().peerId() != mallory().peerId());
	Announcement claim = sample();
	claim.name = "alice";
	claim.peerId = alice().peerId();        // ignored by encode(): the key decides
	claim.publicKey = alice().publicKey().raw();
	const Announcement byMallory = Announcement::parse(claim.encode(mallory()));
	CPPUNIT_ASSERT_EQUAL(std::string("alice"), byMallory.name);
	CPPUNIT_ASSERT(byMallory.peerId == mallory().peerId());
	CPPUNIT_ASSERT_EQUAL(mallory().publicKey().raw(), byMallory.publicKey);

	// Mallory puts Alice's key in the datagram: her signature does not verify under it.
	std::string spliced = claim.encode(mallory());
	spliced.replace(7, 32, alice().publicKey().raw());
	CPPUNIT_ASSERT(judge(spliced) == Verdict::BAD_SIGNATURE);
	CPPUNIT_ASSERT(judge(resign(spliced, mallory())) == Verdict::BAD_SIGNATURE);

	// A key that is not a valid Ed25519 point, correctly "signed" by nobody: rejected as crypto.
	std::string zeroKey = claim.encode(alice());
	zeroKey.replace(7, 32, std::string(32, '\0'));
	CPPUNIT_ASSERT(judge(zeroKey) == Verdict::BAD_SIGNATURE);
}
