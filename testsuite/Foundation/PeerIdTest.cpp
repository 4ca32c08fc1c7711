//
// PeerIdTest.cpp
//
// testsuite: tests for PeerId.
//


#include "PeerIdTest.h"
#include "CrossChat/PeerId.h"
#include "CrossChat/FoundationException.h"
#include <openssl/evp.h>
#include <algorithm>
#include <cstring>
#include <random>
#include <set>
#include <unordered_set>
#include <vector>


using CrossChat::PeerId;
using CrossChat::InvalidPeerIdException;


namespace {


const std::string ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";


std::string undash(const std::string& text)
{
	std::string result;
	for (char c: text)
	{
		if (c != '-') result += c;
	}
	return result;
}


std::string dash(const std::string& plain)
{
	std::string result;
	for (std::size_t i = 0; i < plain.size(); ++i)
	{
		if (i > 0 && i % 7 == 0) result += '-';
		result += plain[i];
	}
	return result;
}


char luhn32(const std::string& block)
	/// An independent implementation of the standard Luhn mod N check, N = 32.
{
	int factor = 2;
	int sum = 0;
	for (auto it = block.rbegin(); it != block.rend(); ++it)
	{
		const int addend = factor*static_cast<int>(ALPHABET.find(*it));
		factor = 3 - factor;
		sum += addend/32 + addend%32;
	}
	return ALPHABET[(32 - sum%32)%32];
}


std::vector<PeerId> sampleIds()
	/// A few fixed IDs: the null ID, all-ones, and pseudo-random ones (fixed seed).
{
	std::vector<PeerId> ids;
	ids.push_back(PeerId());
	PeerId::Bytes bytes;
	bytes.fill(0xFF);
	ids.push_back(PeerId::fromBytes(bytes));
	std::mt19937 rng(20240601);
	for (int i = 0; i < 6; ++i)
	{
		for (auto& b: bytes) b = static_cast<std::uint8_t>(rng());
		ids.push_back(PeerId::fromBytes(bytes));
	}
	return ids;
}


PeerId::Bytes sequenceBytes()
	/// 0x00, 0x01, ..., 0x1F.
{
	PeerId::Bytes bytes;
	for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<std::uint8_t>(i);
	return bytes;
}


std::string messageOf(const std::string& text)
	/// The message of the InvalidPeerIdException that parse(text) throws, or "" if it does not throw.
{
	try
	{
		PeerId::parse(text);
	}
	catch (InvalidPeerIdException& exc)
	{
		return exc.message();
	}
	return "";
}


bool contains(const std::string& haystack, const std::string& needle)
{
	return haystack.find(needle) != std::string::npos;
}


} // namespace


void PeerIdTest::testDefaultIsNull()
{
	PeerId id;
	CPPUNIT_ASSERT(id.isNull());
	CPPUNIT_ASSERT_EQUAL(std::string(PeerId::SIZE, '\0'), id.byteString());
	CPPUNIT_ASSERT(!PeerId::fromBytes(sequenceBytes()).isNull());

	// The all-zero ID has a valid human form (all 'A', all checks 'A') and parses back to null.
	const std::string zero = "AAAAAAA-AAAAAAA-AAAAAAA-AAAAAAA-AAAAAAA-AAAAAAA-AAAAAAA-AAAAAAA";
	CPPUNIT_ASSERT_EQUAL(zero, id.toString());
	CPPUNIT_ASSERT(PeerId::parse(zero).isNull());
}


void PeerIdTest::testRoundTrip()
{
	for (const PeerId& id: sampleIds())
	{
		const PeerId parsed = PeerId::parse(id.toString());
		CPPUNIT_ASSERT(parsed == id);
		CPPUNIT_ASSERT(parsed.bytes() == id.bytes());
		CPPUNIT_ASSERT_EQUAL(id.toString(), parsed.toString());
		CPPUNIT_ASSERT(PeerId::fromBytes(id.byteString()) == id);
	}
}


void PeerIdTest::testFormat()
{
	for (const PeerId& id: sampleIds())
	{
		const std::string text = id.toString();
		CPPUNIT_ASSERT_EQUAL(std::size_t(63), text.size());
		CPPUNIT_ASSERT_EQUAL(std::ptrdiff_t(7), std::count(text.begin(), text.end(), '-'));
		for (std::size_t i = 0; i < text.size(); ++i)
		{
			if (i % 8 == 7)
				CPPUNIT_ASSERT_EQUAL('-', text[i]);
			else
				CPPUNIT_ASSERT(ALPHABET.find(text[i]) != std::string::npos);
		}
		// Each block of 13 data characters is followed by its Luhn mod 32 check character.
		const std::string plain = undash(text);
		CPPUNIT_ASSERT_EQUAL(std::size_t(56), plain.size());
		for (std::size_t block = 0; block < 4; ++block)
		{
			CPPUNIT_ASSERT_EQUAL(luhn32(plain.substr(block*14, 13)), plain[block*14 + 13]);
		}
	}
}


void PeerIdTest::testKnownVector()
{
	// Computed independently (Python: base64.b32encode and a Luhn mod N implementation).
	CPPUNIT_ASSERT_EQUAL(std::string("AAAQEAY-EAUDAO5-CAJBIFQ-YDIOB4X-IBCEQTC-QKRMFYM-YDENBWH-A5DYPQS"),
		PeerId::fromBytes(sequenceBytes()).toString());
	PeerId::Bytes ones;
	ones.fill(0xFF);
	CPPUNIT_ASSERT_EQUAL(std::string("7777777-777777N-7777777-777777N-7777777-777777N-7777777-77777QL"),
		PeerId::fromBytes(ones).toString());
	CPPUNIT_ASSERT(PeerId::parse("AAAQEAY-EAUDAO5-CAJBIFQ-YDIOB4X-IBCEQTC-QKRMFYM-YDENBWH-A5DYPQS").bytes() ==
		sequenceBytes());
}


void PeerIdTest::testShortString()
{
	for (const PeerId& id: sampleIds())
	{
		CPPUNIT_ASSERT_EQUAL(std::size_t(7), id.shortString().size());
		CPPUNIT_ASSERT_EQUAL(id.toString().substr(0, 7), id.shortString());
		CPPUNIT_ASSERT(PeerId::isPrefixOf(id.shortString(), id));
	}
}


void PeerIdTest::testLowerCaseAndNoDashesAccepted()
{
	for (const PeerId& id: sampleIds())
	{
		const std::string text = id.toString();
		std::string lower = text;
		std::transform(lower.begin(), lower.end(), lower.begin(),
			[](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; });
		CPPUNIT_ASSERT(PeerId::parse(lower) == id);
		CPPUNIT_ASSERT(PeerId::parse(undash(text)) == id);
		CPPUNIT_ASSERT(PeerId::parse(undash(lower)) == id);

		std::string spaced = text;
		std::replace(spaced.begin(), spaced.end(), '-', ' ');
		CPPUNIT_ASSERT(PeerId::parse(spaced) == id);
		CPPUNIT_ASSERT(PeerId::parse("  " + text + " ") == id);
		CPPUNIT_ASSERT(PeerId::parse(dash(dash(undash(text)))) == id);
	}
}


void PeerIdTest::testEverySubstitutionRejected()
{
	const std::string invalid = "0189!@_/\t\n\xC3";
	int tried = 0;
	for (const PeerId& id: sampleIds())
	{
		const std::string text = id.toString();
		for (std::size_t pos = 0; pos < text.size(); ++pos)
		{
			if (text[pos] == '-') continue;
			for (char replacement: ALPHABET + invalid)
			{
				if (replacement == text[pos]) continue;
				std::string typo = text;
				typo[pos] = replacement;
				if (PeerId::tryParse(typo))
				{
					CPPUNIT_FAIL("substitution accepted at position " + std::to_string(pos) + ": " + typo);
				}
				CPPUNIT_ASSERT_THROW(PeerId::parse(typo), InvalidPeerIdException);
				++tried;
			}
		}
	}
	CPPUNIT_ASSERT(tried > 8*56*31);
}


void PeerIdTest::testTranspositionsMostlyRejected()
{
	// A constructed case: swapping two different neighbours inside a block.
	const PeerId seq = PeerId::fromBytes(sequenceBytes());
	std::string plain = undash(seq.toString());
	CPPUNIT_ASSERT(plain[3] != plain[4]);
	std::swap(plain[3], plain[4]);
	CPPUNIT_ASSERT(!PeerId::tryParse(plain));

	int swaps = 0;
	int rejected = 0;
	for (const PeerId& id: sampleIds())
	{
		const std::string original = undash(id.toString());
		for (std::size_t i = 0; i + 1 < original.size(); ++i)
		{
			if (original[i] == original[i + 1]) continue;
			std::string swapped = original;
			std::swap(swapped[i], swapped[i + 1]);
			++swaps;
			if (!PeerId::tryParse(swapped)) ++rejected;
		}
	}
	// Luhn mod 32 misses only swaps of 'A' and '7' within a block (code points 0 and 31).
	CPPUNIT_ASSERT(swaps > 200);
	CPPUNIT_ASSERT(rejected*100 >= swaps*98);
}


void PeerIdTest::testNonCanonicalEndingRejected()
{
	// 52 base32 characters carry 260 bits; the last one may only be 'A' (final bit 0) or 'Q' (1).
	PeerId::Bytes bytes{};
	bytes[31] = 0x01;
	CPPUNIT_ASSERT_EQUAL('Q', undash(PeerId::fromBytes(bytes).toString())[54]);
	CPPUNIT_ASSERT_EQUAL('A', undash(PeerId().toString())[54]);

	const std::string zero = undash(PeerId().toString());
	for (char last: ALPHABET)
	{
		if (last == 'A' || last == 'Q') continue;
		std::string text = zero;
		text[54] = last;
		text[55] = luhn32(text.substr(42, 13)); // a correct check, so only the ending is wrong
		CPPUNIT_ASSERT(!PeerId::tryParse(text));
		CPPUNIT_ASSERT(contains(messageOf(text), "non-canonical"));
	}
}


void PeerIdTest::testGarbageRejected()
{
	const std::string valid = PeerId::fromBytes(sequenceBytes()).toString();
	const std::vector<std::string> garbage = {
		"",
		"-",
		"       ",
		"A",
		"AAAAAAA",
		std::string(55, 'A'),
		std::string(57, 'A'),
		std::string(1000, 'A'),
		valid.substr(0, valid.size() - 1),
		valid + "A",
		valid + "-AAAAAAA",
		valid + "\n",
		std::string(valid).replace(3, 1, std::string(1, '\0')),
		std::string(valid).replace(3, 1, "\xFF"),
		std::string(valid).replace(7, 1, "_"),
		std::string(valid).replace(7, 1, "\t"),
		"MFRGGZD-FMZTWQ2-LK5UVK6-DA4LEXH-OIFVVQX-6EJDTMB-XQEMWY6-RLN4G2Y", // not a valid Luhn mod 32 ID
		"not a peer id at all",
	};
	for (const std::string& text: garbage)
	{
		CPPUNIT_ASSERT(!PeerId::tryParse(text));
		CPPUNIT_ASSERT_THROW(PeerId::parse(text), InvalidPeerIdException);
	}
}


void PeerIdTest::testErrorMessagesNameTheProblem()
{
	const std::string valid = PeerId::fromBytes(sequenceBytes()).toString();

	CPPUNIT_ASSERT(contains(messageOf(undash(valid).substr(0, 55)), "wrong length 55, expected 56 characters"));
	CPPUNIT_ASSERT(contains(messageOf(""), "wrong length 0, expected 56 characters"));

	std::string typo = valid;
	typo[8] = '1';
	CPPUNIT_ASSERT(contains(messageOf(typo), "invalid character '1' at position 9"));
	typo[8] = '\x01';
	CPPUNIT_ASSERT(contains(messageOf(typo), "invalid character '\\x01' at position 9"));

	// Position 20 of the dashed form is in the second block (characters 15 to 28 without dashes).
	typo = valid;
	typo[20] = (typo[20] == 'B') ? 'C' : 'B';
	CPPUNIT_ASSERT(contains(messageOf(typo), "check character mismatch in block 2 (mistyped ID?)"));
	typo = valid;
	typo[62] = (typo[62] == 'B') ? 'C' : 'B';
	CPPUNIT_ASSERT(contains(messageOf(typo), "check character mismatch in block 4"));
}


void PeerIdTest::testTryParse()
{
	const PeerId id = PeerId::fromBytes(sequenceBytes());
	const std::optional<PeerId> parsed = PeerId::tryParse(id.toString());
	CPPUNIT_ASSERT(parsed.has_value());
	CPPUNIT_ASSERT(*parsed == id);
	CPPUNIT_ASSERT(!PeerId::tryParse(""));
	CPPUNIT_ASSERT(!PeerId::tryParse("hello"));
	CPPUNIT_ASSERT(!PeerId::tryParse(id.toString().substr(1)));
}


void PeerIdTest::testFromBytes()
{
	const PeerId::Bytes bytes = sequenceBytes();
	const std::string raw(reinterpret_cast<const char*>(bytes.data()), bytes.size());
	const PeerId id = PeerId::fromBytes(raw);
	CPPUNIT_ASSERT(id.bytes() == bytes);
	CPPUNIT_ASSERT_EQUAL(raw, id.byteString());
	CPPUNIT_ASSERT(PeerId::fromBytes(bytes) == id);

	CPPUNIT_ASSERT_THROW(PeerId::fromBytes(std::string()), InvalidPeerIdException);
	CPPUNIT_ASSERT_THROW(PeerId::fromBytes(raw.substr(0, 31)), InvalidPeerIdException);
	CPPUNIT_ASSERT_THROW(PeerId::fromBytes(raw + "x"), InvalidPeerIdException);
	CPPUNIT_ASSERT_THROW(PeerId::fromBytes(id.toString()), InvalidPeerIdException);
}


void PeerIdTest::testFromPublicKeyDer()
{
	// The FIPS 180-2 test vector: SHA-256("abc").
	const PeerId abc = PeerId::fromPublicKeyDer("abc");
	const std::uint8_t expected[] = {
		0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40, 0xde, 0x5d, 0xae, 0x22, 0x23,
		0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad
	};
	CPPUNIT_ASSERT(std::memcmp(expected, abc.bytes().data(), sizeof(expected)) == 0);

	// A DER-looking input, hashed with OpenSSL directly.
	std::string der("\x30\x2a\x30\x05\x06\x03\x2b\x65\x70\x03\x21\x00", 12);
	der.append(32, '\x42');
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned int length = 0;
	CPPUNIT_ASSERT_EQUAL(1, EVP_Digest(der.data(), der.size(), digest, &length, EVP_sha256(), nullptr));
	CPPUNIT_ASSERT_EQUAL(32u, length);
	CPPUNIT_ASSERT_EQUAL(std::string(reinterpret_cast<char*>(digest), length), PeerId::fromPublicKeyDer(der).byteString());
	CPPUNIT_ASSERT(PeerId::fromPublicKeyDer(der) != abc);
}


void PeerIdTest::testIsPrefixOf()
{
	const PeerId id = PeerId::fromBytes(sequenceBytes());
	const PeerId other = PeerId::fromPublicKeyDer("other");
	const std::string text = id.toString();
	for (std::size_t n = 1; n <= text.size(); ++n)
	{
		CPPUNIT_ASSERT(PeerId::isPrefixOf(text.substr(0, n), id));
	}
	CPPUNIT_ASSERT(PeerId::isPrefixOf("aaaqeay", id));
	CPPUNIT_ASSERT(PeerId::isPrefixOf("AAAQEAYEAU", id));
	CPPUNIT_ASSERT(PeerId::isPrefixOf("aaaq eay-eau", id));
	CPPUNIT_ASSERT(PeerId::isPrefixOf(undash(text), id));

	CPPUNIT_ASSERT(!PeerId::isPrefixOf("", id));
	CPPUNIT_ASSERT(!PeerId::isPrefixOf("-", id));
	CPPUNIT_ASSERT(!PeerId::isPrefixOf("  ", id));
	CPPUNIT_ASSERT(!PeerId::isPrefixOf("AAAQEAZ", id));
	CPPUNIT_ASSERT(!PeerId::isPrefixOf("AAAQ1", id));
	CPPUNIT_ASSERT(!PeerId::isPrefixOf(text + "A", id));
	CPPUNIT_ASSERT(!PeerId::isPrefixOf(text.substr(1), id));
	CPPUNIT_ASSERT(!PeerId::isPrefixOf(text, other));
	CPPUNIT_ASSERT(PeerId::isPrefixOf(other.shortString(), other));
}


void PeerIdTest::testOrderingAndHash()
{
	PeerId::Bytes low{};
	PeerId::Bytes high{};
	high[0] = 1;
	PeerId::Bytes lastByte{};
	lastByte[31] = 1;
	const PeerId a = PeerId::fromBytes(low);
	const PeerId b = PeerId::fromBytes(high);
	const PeerId c = PeerId::fromBytes(lastByte);

	CPPUNIT_ASSERT(a < c);
	CPPUNIT_ASSERT(c < b);
	CPPUNIT_ASSERT(a < b);
	CPPUNIT_ASSERT(!(b < a));
	CPPUNIT_ASSERT(!(a < a));
	CPPUNIT_ASSERT(a != b);
	CPPUNIT_ASSERT(!(a == b));
	CPPUNIT_ASSERT(a == PeerId());

	const std::hash<PeerId> hasher;
	CPPUNIT_ASSERT_EQUAL(hasher(b), hasher(PeerId::parse(b.toString())));
	CPPUNIT_ASSERT(hasher(a) != hasher(c));
	CPPUNIT_ASSERT(hasher(a) != hasher(b));

	std::unordered_set<PeerId> unordered;
	std::set<PeerId> ordered;
	for (const PeerId& id: sampleIds())
	{
		unordered.insert(id);
		unordered.insert(PeerId::parse(id.toString()));
		ordered.insert(id);
	}
	CPPUNIT_ASSERT_EQUAL(sampleIds().size(), unordered.size());
	CPPUNIT_ASSERT_EQUAL(sampleIds().size(), ordered.size());
	CPPUNIT_ASSERT(ordered.begin()->isNull());
}
