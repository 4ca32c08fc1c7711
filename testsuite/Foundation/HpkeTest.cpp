//
// HpkeTest.cpp
//
// testsuite: tests for Hpke.
//
// The vectors are RFC 9180, appendix A.2.1: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256,
// ChaCha20Poly1305, base setup (mode 0, kem_id 32, kdf_id 1, aead_id 3).
//


#include "HpkeTest.h"
#include "CrossChat/Hpke.h"
#include "CrossChat/FoundationException.h"
#include <string>
#include <vector>


using CrossChat::CryptoException;
using CrossChat::Hpke;


namespace {


std::string unhex(const std::string& text)
{
	std::string out;
	for (std::size_t i = 0; i + 1 < text.size(); i += 2) out += static_cast<char>(std::stoi(text.substr(i, 2), nullptr, 16));
	return out;
}


std::string hex(const std::string& bytes)
{
	static const char* const DIGITS = "0123456789abcdef";
	std::string out;
	for (const char c: bytes)
	{
		out += DIGITS[(static_cast<unsigned char>(c) >> 4) & 0xF];
		out += DIGITS[static_cast<unsigned char>(c) & 0xF];
	}
	return out;
}


// RFC 9180 A.2.1 "Base Setup Information".
const std::string INFO = "4f6465206f6e2061204772656369616e2055726e";
const std::string IKM_E = "909a9b35d3dc4713a5e72a4da274b55d3d3821a37e5d099e74a647db583a904b";
const std::string PK_EM = "1afa08d3dec047a643885163f1180476fa7ddb54c6a8029ea33f95796bf2ac4a";
const std::string SK_EM = "f4ec9b33b792c372c1d2c2063507b684ef925b8c75a42dbcbf57d63ccd381600";
const std::string IKM_R = "1ac01f181fdf9f352797655161c58b75c656a6cc2716dcb66372da835542e1df";
const std::string PK_RM = "4310ee97d88cc1f088a5576c77ab0cf5c3ac797f3d95139c6c84b5429c59662a";
const std::string SK_RM = "8057991eef8f1f1af18f4a9491d16a1ce333f695d4db8e38da75975c4478e0fb";
const std::string ENC = "1afa08d3dec047a643885163f1180476fa7ddb54c6a8029ea33f95796bf2ac4a";
const std::string SHARED_SECRET = "0bbe78490412b4bbea4812666f7916932b828bba79942424abb65244930d69a7";
const std::string KEY = "ad2744de8e17f4ebba575b3f5f5a8fa1f69c2a07f6e7500bc60ca6e3e3ec1c91";
const std::string BASE_NONCE = "5c4d98150661b848853b547f";
const std::string EXPORTER_SECRET = "a3b010d4994890e2c6968a36f64470d3c824c8f5029942feb11e7a74b2921922";
const std::string PT = "4265617574792069732074727574682c20747275746820626561757479";


struct Encryption
{
	std::uint64_t sequence;
	const char* aad;
	const char* nonce;
	const char* ct;
};


// RFC 9180 A.2.1.1 "Encryptions".
const std::vector<Encryption> ENCRYPTIONS = {
	{0, "436f756e742d30", "5c4d98150661b848853b547f",
		"1c5250d8034ec2b784ba2cfd69dbdb8af406cfe3ff938e131f0def8c8b60b4db21993c62ce81883d2dd1b51a28"},
	{1, "436f756e742d31", "5c4d98150661b848853b547e",
		"6b53c051e4199c518de79594e1c4ab18b96f081549d45ce015be002090bb119e85285337cc95ba5f59992dc98c"},
	{2, "436f756e742d32", "5c4d98150661b848853b547d",
		"71146bd6795ccc9c49ce25dda112a48f202ad220559502cef1f34271e0cb4b02b4f10ecac6f48c32f878fae86b"},
	{4, "436f756e742d34", "5c4d98150661b848853b547b",
		"63357a2aa291f5a4e5f27db6baa2af8cf77427c7c1a909e0b37214dd47db122bb153495ff0b02e9e54a50dbe16"},
	{255, "436f756e742d323535", "5c4d98150661b848853b5480",
		"18ab939d63ddec9f6ac2b60d61d36a7375d2070c9b683861110757062c52b8880a5f6b3936da9cd6c23ef2a95c"},
	{256, "436f756e742d323536", "5c4d98150661b848853b557f",
		"7a4a13e9ef23978e2c520fd4d2e757514ae160cd0cd05e556ef692370ca53076214c0c40d4c728d6ed9e727a5b"},
};


Hpke::Context vectorSender()
{
	Hpke::KeyPair ephemeral{unhex(SK_EM), unhex(PK_EM)};
	auto setup = Hpke::setupBaseSender(unhex(PK_RM), unhex(INFO), ephemeral);
	CPPUNIT_ASSERT_EQUAL(ENC, hex(setup.first));
	return setup.second;
}


} // namespace


void HpkeTest::testDeriveKeyPairVectors()
{
	const Hpke::KeyPair ephemeral = Hpke::deriveKeyPair(unhex(IKM_E));
	CPPUNIT_ASSERT_EQUAL(SK_EM, hex(ephemeral.privateKey));
	CPPUNIT_ASSERT_EQUAL(PK_EM, hex(ephemeral.publicKey));
	const Hpke::KeyPair recipient = Hpke::deriveKeyPair(unhex(IKM_R));
	CPPUNIT_ASSERT_EQUAL(SK_RM, hex(recipient.privateKey));
	CPPUNIT_ASSERT_EQUAL(PK_RM, hex(recipient.publicKey));
	CPPUNIT_ASSERT_EQUAL(PK_RM, hex(Hpke::publicKeyOf(unhex(SK_RM))));
}


void HpkeTest::testBaseSetupVector()
{
	const Hpke::Context sender = vectorSender();
	CPPUNIT_ASSERT_EQUAL(SHARED_SECRET, hex(sender.sharedSecret()));
	CPPUNIT_ASSERT_EQUAL(KEY, hex(sender.key()));
	CPPUNIT_ASSERT_EQUAL(BASE_NONCE, hex(sender.baseNonce()));
	CPPUNIT_ASSERT_EQUAL(EXPORTER_SECRET, hex(sender.exporterSecret()));
	const Hpke::Context recipient = Hpke::setupBaseRecipient(unhex(ENC), unhex(SK_RM), unhex(INFO));
	CPPUNIT_ASSERT_EQUAL(SHARED_SECRET, hex(recipient.sharedSecret()));
	CPPUNIT_ASSERT_EQUAL(KEY, hex(recipient.key()));
	CPPUNIT_ASSERT_EQUAL(BASE_NONCE, hex(recipient.baseNonce()));
	CPPUNIT_ASSERT_EQUAL(EXPORTER_SECRET, hex(recipient.exporterSecret()));
}


void HpkeTest::testEncryptionVectors()
{
	Hpke::Context sender = vectorSender();
	for (const Encryption& vector: ENCRYPTIONS)
	{
		while (sender.sequence() < vector.sequence) sender.seal("", "");   // skip to the vector's number
		CPPUNIT_ASSERT_EQUAL(vector.sequence, sender.sequence());
		CPPUNIT_ASSERT_EQUAL(std::string(vector.ct), hex(sender.seal(unhex(vector.aad), unhex(PT))));
	}
	// The single-shot form is sequence number 0.
	CPPUNIT_ASSERT_EQUAL(std::string(ENCRYPTIONS[0].ct), hex(vectorSender().seal(unhex(ENCRYPTIONS[0].aad), unhex(PT))));
}


void HpkeTest::testRecipientOpensVectors()
{
	Hpke::Context recipient = Hpke::setupBaseRecipient(unhex(ENC), unhex(SK_RM), unhex(INFO));
	for (const Encryption& vector: ENCRYPTIONS)
	{
		while (recipient.sequence() < vector.sequence)
		{
			// Stepping the recipient needs ciphertexts of its own sequence numbers: a sender at the
			// same number makes them.
			Hpke::Context sender = vectorSender();
			while (sender.sequence() < recipient.sequence()) sender.seal("", "");
			recipient.open("", sender.seal("", ""));
		}
		CPPUNIT_ASSERT_EQUAL(PT, hex(recipient.open(unhex(vector.aad), unhex(vector.ct))));
	}
	CPPUNIT_ASSERT_EQUAL(PT, hex(Hpke::open(unhex(ENC), unhex(SK_RM), unhex(INFO), unhex(ENCRYPTIONS[0].aad),
		unhex(ENCRYPTIONS[0].ct))));
}


void HpkeTest::testExportVectors()
{
	// RFC 9180 A.2.1.2 "Exported Values".
	const Hpke::Context sender = vectorSender();
	CPPUNIT_ASSERT_EQUAL(std::string("4bbd6243b8bb54cec311fac9df81841b6fd61f56538a775e7c80a9f40160606e"),
		hex(sender.exportSecret("", 32)));
	CPPUNIT_ASSERT_EQUAL(std::string("8c1df14732580e5501b00f82b10a1647b40713191b7c1240ac80e2b68808ba69"),
		hex(sender.exportSecret(unhex("00"), 32)));
	CPPUNIT_ASSERT_EQUAL(std::string("5acb09211139c43b3090489a9da433e8a30ee7188ba8b0a9a1ccf0c229283e53"),
		hex(sender.exportSecret(unhex("54657374436f6e74657874"), 32)));
}


void HpkeTest::testRoundTripWithFreshKeys()
{
	const Hpke::KeyPair recipient = Hpke::generateKeyPair();
	CPPUNIT_ASSERT_EQUAL(Hpke::KEY_SIZE, recipient.privateKey.size());
	CPPUNIT_ASSERT_EQUAL(recipient.publicKey, Hpke::publicKeyOf(recipient.privateKey));
	const std::string text("the quick brown fox\0with a NUL", 30);
	auto sealed = Hpke::seal(recipient.publicKey, "info", "aad", text);
	CPPUNIT_ASSERT_EQUAL(text.size() + Hpke::TAG_SIZE, sealed.second.size());
	CPPUNIT_ASSERT_EQUAL(text, Hpke::open(sealed.first, recipient.privateKey, "info", "aad", sealed.second));
	// A fresh ephemeral key each time: two seals of the same text differ.
	auto again = Hpke::seal(recipient.publicKey, "info", "aad", text);
	CPPUNIT_ASSERT(again.first != sealed.first);
	CPPUNIT_ASSERT(again.second != sealed.second);
	// The empty plaintext is just a tag.
	auto empty = Hpke::seal(recipient.publicKey, "", "", "");
	CPPUNIT_ASSERT_EQUAL(Hpke::TAG_SIZE, empty.second.size());
	CPPUNIT_ASSERT_EQUAL(std::string(), Hpke::open(empty.first, recipient.privateKey, "", "", empty.second));
}


void HpkeTest::testTamperingRefused()
{
	const Hpke::KeyPair recipient = Hpke::generateKeyPair();
	auto sealed = Hpke::seal(recipient.publicKey, "info", "aad", "attack at dawn");
	for (std::size_t i = 0; i < sealed.second.size(); ++i)
	{
		std::string changed = sealed.second;
		changed[i] = static_cast<char>(changed[i] ^ 0x01);
		CPPUNIT_ASSERT_THROW(Hpke::open(sealed.first, recipient.privateKey, "info", "aad", changed), CryptoException);
	}
	std::string enc = sealed.first;
	enc[3] = static_cast<char>(enc[3] ^ 0x40);
	CPPUNIT_ASSERT_THROW(Hpke::open(enc, recipient.privateKey, "info", "aad", sealed.second), CryptoException);
	CPPUNIT_ASSERT_THROW(Hpke::open(sealed.first, recipient.privateKey, "other info", "aad", sealed.second), CryptoException);
	CPPUNIT_ASSERT_THROW(Hpke::open(sealed.first, recipient.privateKey, "info", "other aad", sealed.second), CryptoException);
	CPPUNIT_ASSERT_THROW(Hpke::open(sealed.first, recipient.privateKey, "info", "aad", sealed.second.substr(0, 10)), CryptoException);
	CPPUNIT_ASSERT_THROW(Hpke::open(sealed.first, recipient.privateKey, "info", "aad", sealed.second + "x"), CryptoException);
	// A failed open does not advance the recipient's sequence number.
	Hpke::Context context = Hpke::setupBaseRecipient(sealed.first, recipient.privateKey, "info");
	CPPUNIT_ASSERT_THROW(context.open("wrong", sealed.second), CryptoException);
	CPPUNIT_ASSERT_EQUAL(std::uint64_t(0), context.sequence());
	CPPUNIT_ASSERT_EQUAL(std::string("attack at dawn"), context.open("aad", sealed.second));
}


void HpkeTest::testWrongRecipientRefused()
{
	const Hpke::KeyPair bob = Hpke::generateKeyPair();
	const Hpke::KeyPair carol = Hpke::generateKeyPair();
	auto sealed = Hpke::seal(bob.publicKey, "info", "", "for bob only");
	CPPUNIT_ASSERT_THROW(Hpke::open(sealed.first, carol.privateKey, "info", "", sealed.second), CryptoException);
}


void HpkeTest::testLowOrderPointRefused()
{
	// The X25519 points of small order make every shared value zero (RFC 7748 section 6.1;
	// RFC 9180 section 7.1.4): 0 and 1 are two of them.
	const Hpke::KeyPair recipient = Hpke::generateKeyPair();
	CPPUNIT_ASSERT_THROW(Hpke::seal(std::string(32, '\0'), "", "", "x"), CryptoException);
	std::string one(32, '\0');
	one[0] = 1;
	CPPUNIT_ASSERT_THROW(Hpke::seal(one, "", "", "x"), CryptoException);
	CPPUNIT_ASSERT_THROW(Hpke::setupBaseRecipient(std::string(32, '\0'), recipient.privateKey, ""), CryptoException);
}


void HpkeTest::testMalformedKeysRefused()
{
	CPPUNIT_ASSERT_THROW(Hpke::seal(std::string(31, 'k'), "", "", "x"), CryptoException);
	CPPUNIT_ASSERT_THROW(Hpke::publicKeyOf(std::string(33, 'k')), CryptoException);
	CPPUNIT_ASSERT_THROW(Hpke::open("short", std::string(32, 'k'), "", "", std::string(40, 'c')), CryptoException);
	CPPUNIT_ASSERT_THROW(Hpke::deriveKeyPair("too short"), CryptoException);
}
