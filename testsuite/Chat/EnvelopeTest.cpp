//
// EnvelopeTest.cpp
//
// testsuite: Envelope. An envelope must open only for its recipient, with the pre-key it was
// sealed to, exactly as the sender signed it; every changed byte is refused.
//


#include "EnvelopeTest.h"
#include "Envelope.h"
#include "CrossChat/Chat/ChatException.h"
#include "CrossChat/Hpke.h"
#include "CrossChat/Identity.h"
#include "CrossChat/Relay/Prekey.h"
#include "Poco/Exception.h"
#include <chrono>
#include <optional>
#include <string>


using namespace CrossChat;
using namespace CrossChat::Chat;


namespace {


struct Recipient
{
	Identity identity = Identity::generate();
	Hpke::KeyPair pair = Hpke::generateKeyPair();
	std::uint64_t prekeyId = 1700000000000;

	Relay::Prekey prekey() const
	{
		const std::int64_t expires = std::chrono::duration_cast<std::chrono::milliseconds>(
			std::chrono::system_clock::now().time_since_epoch()).count() + 86400000;
		return Relay::Prekey::sign(identity, prekeyId, pair.publicKey, expires);
	}

	Envelope::PrivateKeyOf keys() const
	{
		return [this](std::uint64_t id) -> std::optional<std::string> {
			if (id == prekeyId) return pair.privateKey;
			return std::nullopt;
		};
	}
};


MailContent text(const std::string& id, const std::string& body)
{
	MailContent content;
	content.kind = MailContent::Kind::TEXT;
	content.messageId = id;
	content.timestampMs = 1765000000123;
	content.text = body;
	return content;
}


} // namespace


void EnvelopeTest::testRoundTrip()
{
	const Identity sender = Identity::generate();
	const Recipient bob;
	const std::string sealed = Envelope::seal(sender, bob.identity.peerId(), bob.prekey(), text("m-1", "hello, Bob"));
	const OpenedEnvelope opened = Envelope::open(bob.identity.peerId(), sealed, bob.keys());
	CPPUNIT_ASSERT(opened.sender == sender.peerId());
	CPPUNIT_ASSERT_EQUAL(bob.prekeyId, opened.prekeyId);
	CPPUNIT_ASSERT(opened.content.kind == MailContent::Kind::TEXT);
	CPPUNIT_ASSERT_EQUAL(std::string("m-1"), opened.content.messageId);
	CPPUNIT_ASSERT_EQUAL(std::string("hello, Bob"), opened.content.text);
	CPPUNIT_ASSERT_EQUAL(std::int64_t(1765000000123), opened.content.timestampMs);
	// The layout of docs/PROTOCOL.md: 78-byte header, then the AEAD ciphertext of the inner
	// part (1 + 32 + 8 + 1 + id + 4 + body + 64) and its 16-byte tag.
	CPPUNIT_ASSERT_EQUAL(std::string("CXM1"), sealed.substr(0, 4));
	CPPUNIT_ASSERT_EQUAL(std::size_t(78 + 1 + 32 + 8 + 1 + 3 + 4 + 10 + 64 + 16), sealed.size());
	CPPUNIT_ASSERT_EQUAL(bob.identity.peerId().toString(), PeerId::fromBytes(sealed.substr(6, 32)).toString());
	// Two seals of the same content differ (a fresh ephemeral key each time).
	CPPUNIT_ASSERT(sealed != Envelope::seal(sender, bob.identity.peerId(), bob.prekey(), text("m-1", "hello, Bob")));
}


void EnvelopeTest::testReceipt()
{
	const Identity sender = Identity::generate();
	const Recipient bob;
	MailContent receipt;
	receipt.kind = MailContent::Kind::RECEIPT;
	receipt.messageId = "m-42";
	receipt.timestampMs = 5;
	const OpenedEnvelope opened = Envelope::open(bob.identity.peerId(),
		Envelope::seal(sender, bob.identity.peerId(), bob.prekey(), receipt), bob.keys());
	CPPUNIT_ASSERT(opened.content.kind == MailContent::Kind::RECEIPT);
	CPPUNIT_ASSERT_EQUAL(std::string("m-42"), opened.content.messageId);
	CPPUNIT_ASSERT(opened.content.text.empty());
	receipt.text = "a receipt carries no text";
	CPPUNIT_ASSERT_THROW(Envelope::seal(sender, bob.identity.peerId(), bob.prekey(), receipt), Poco::InvalidArgumentException);
}


void EnvelopeTest::testNoPlaintextOutside()
{
	const Identity sender = Identity::generate();
	const Recipient bob;
	const std::string secret = "meet me at the north gate at nine";
	const std::string sealed = Envelope::seal(sender, bob.identity.peerId(), bob.prekey(), text("id-visible?", secret));
	CPPUNIT_ASSERT(sealed.find(secret) == std::string::npos);
	CPPUNIT_ASSERT(sealed.find("north gate") == std::string::npos);
	CPPUNIT_ASSERT(sealed.find("id-visible?") == std::string::npos);
	CPPUNIT_ASSERT(sealed.find(sender.publicKey().raw()) == std::string::npos);   // nor who sent it
}


void EnvelopeTest::testEveryByteTampered()
{
	const Identity sender = Identity::generate();
	const Recipient bob;
	const std::string sealed = Envelope::seal(sender, bob.identity.peerId(), bob.prekey(), text("m-1", "tamper with me"));
	for (std::size_t i = 0; i < sealed.size(); ++i)
	{
		std::string changed = sealed;
		changed[i] = static_cast<char>(changed[i] ^ 0x01);
		CPPUNIT_ASSERT_THROW_MESSAGE("byte " + std::to_string(i), Envelope::open(bob.identity.peerId(), changed, bob.keys()),
			EnvelopeException);
	}
	CPPUNIT_ASSERT_THROW(Envelope::open(bob.identity.peerId(), sealed.substr(0, sealed.size() - 1), bob.keys()), EnvelopeException);
	CPPUNIT_ASSERT_THROW(Envelope::open(bob.identity.peerId(), sealed + "x", bob.keys()), EnvelopeException);
	CPPUNIT_ASSERT_THROW(Envelope::open(bob.identity.peerId(), sealed.substr(0, 40), bob.keys()), EnvelopeException);
	CPPUNIT_ASSERT_THROW(Envelope::open(bob.identity.peerId(), std::string(), bob.keys()), EnvelopeException);
}


void EnvelopeTest::testWrongRecipient()
{
	const Identity sender = Identity::generate();
	const Recipient bob;
	const Recipient carol;
	const std::string sealed = Envelope::seal(sender, bob.identity.peerId(), bob.prekey(), text("m-1", "for Bob only"));
	// Carol is not named in the header ...
	CPPUNIT_ASSERT_THROW(Envelope::open(carol.identity.peerId(), sealed, carol.keys()), EnvelopeException);
	// ... and even with the header's ID, her pre-key cannot open it.
	Recipient carolWithBobsId = carol;
	carolWithBobsId.prekeyId = bob.prekeyId;
	CPPUNIT_ASSERT_THROW(Envelope::open(bob.identity.peerId(), sealed, carolWithBobsId.keys()), EnvelopeException);
	// Nor can the sender open what it sealed.
	CPPUNIT_ASSERT_THROW(Envelope::open(sender.peerId(), sealed, bob.keys()), EnvelopeException);
}


void EnvelopeTest::testReaddressedRefused()
{
	// A relay that rewrites the recipient in the header (to hand it to someone else) breaks
	// both the AEAD (the header is its associated data) and the signature.
	const Identity sender = Identity::generate();
	const Recipient bob;
	const Identity mallory = Identity::generate();
	std::string sealed = Envelope::seal(sender, bob.identity.peerId(), bob.prekey(), text("m-1", "hi"));
	sealed.replace(6, 32, mallory.peerId().byteString());
	CPPUNIT_ASSERT_THROW(Envelope::open(mallory.peerId(), sealed, bob.keys()), EnvelopeException);
}


void EnvelopeTest::testPrekeyGone()
{
	const Identity sender = Identity::generate();
	const Recipient bob;
	const std::string sealed = Envelope::seal(sender, bob.identity.peerId(), bob.prekey(), text("m-1", "too late"));
	const Envelope::PrivateKeyOf none = [](std::uint64_t) -> std::optional<std::string> { return std::nullopt; };
	try
	{
		Envelope::open(bob.identity.peerId(), sealed, none);
		CPPUNIT_FAIL("opened without the pre-key");
	}
	catch (const EnvelopeException& exc)
	{
		CPPUNIT_ASSERT(exc.message().find("no longer hold") != std::string::npos);
	}
}


void EnvelopeTest::testReplayOpensToSameId()
{
	// A relay may hand an envelope over twice; it opens to the same sender and message ID, which
	// is what the node's duplicate filter keys on (ChatRelayTest covers the node's side).
	const Identity sender = Identity::generate();
	const Recipient bob;
	const std::string sealed = Envelope::seal(sender, bob.identity.peerId(), bob.prekey(), text("m-7", "again?"));
	const OpenedEnvelope first = Envelope::open(bob.identity.peerId(), sealed, bob.keys());
	const OpenedEnvelope second = Envelope::open(bob.identity.peerId(), sealed, bob.keys());
	CPPUNIT_ASSERT(first.sender == second.sender);
	CPPUNIT_ASSERT_EQUAL(first.content.messageId, second.content.messageId);
}


void EnvelopeTest::testBounds()
{
	const Identity sender = Identity::generate();
	const Recipient bob;
	CPPUNIT_ASSERT_THROW(Envelope::seal(sender, bob.identity.peerId(), bob.prekey(), text("", "no id")), Poco::InvalidArgumentException);
	CPPUNIT_ASSERT_THROW(Envelope::seal(sender, bob.identity.peerId(), bob.prekey(), text(std::string(65, 'i'), "long id")),
		Poco::InvalidArgumentException);
	MailContent negative = text("m-1", "x");
	negative.timestampMs = -1;
	CPPUNIT_ASSERT_THROW(Envelope::seal(sender, bob.identity.peerId(), bob.prekey(), negative), Poco::InvalidArgumentException);
	// Signed by ourselves: refused (nobody writes to itself through a relay).
	const std::string self = Envelope::seal(bob.identity, bob.identity.peerId(), bob.prekey(), text("m-1", "me"));
	CPPUNIT_ASSERT_THROW(Envelope::open(bob.identity.peerId(), self, bob.keys()), EnvelopeException);
}
