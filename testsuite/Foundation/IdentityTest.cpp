//
// IdentityTest.cpp
//
// testsuite: tests for Identity and PublicKey.
//


#include "IdentityTest.h"
#include "CrossChat/Identity.h"
#include "CrossChat/PublicKey.h"
#include "CrossChat/FoundationException.h"
#include "Poco/File.h"
#include "Poco/Path.h"
#include "Poco/TemporaryFile.h"
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <memory>
#include <optional>
#include <sys/stat.h>


using CrossChat::CryptoException;
using CrossChat::Identity;
using CrossChat::IdentityException;
using CrossChat::PeerId;
using CrossChat::PublicKey;


namespace {


using BioPtr = std::unique_ptr<BIO, decltype(&BIO_free)>;
using X509Ptr = std::unique_ptr<X509, decltype(&X509_free)>;
using KeyPtr = std::shared_ptr<EVP_PKEY>;


BioPtr memoryBio(const std::string& text)
{
	return BioPtr(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())), BIO_free);
}


std::string bioText(BIO* pBio)
{
	char* pData = nullptr;
	const long length = BIO_get_mem_data(pBio, &pData);
	return std::string(pData, static_cast<std::size_t>(length));
}


KeyPtr ecKey()
	/// A P-256 key: a valid key of the wrong type.
{
	EVP_PKEY* pKey = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
	CPPUNIT_ASSERT(pKey != nullptr);
	return KeyPtr(pKey, EVP_PKEY_free);
}


std::string privatePem(EVP_PKEY* pKey, const EVP_CIPHER* pCipher = nullptr, const char* password = nullptr)
{
	BioPtr pBio(BIO_new(BIO_s_mem()), BIO_free);
	CPPUNIT_ASSERT_EQUAL(1, PEM_write_bio_PKCS8PrivateKey(pBio.get(), pKey, pCipher,
		const_cast<char*>(password), password ? static_cast<int>(std::strlen(password)) : 0, nullptr, nullptr));
	return bioText(pBio.get());
}


std::string publicPem(EVP_PKEY* pKey)
{
	BioPtr pBio(BIO_new(BIO_s_mem()), BIO_free);
	CPPUNIT_ASSERT_EQUAL(1, PEM_write_bio_PUBKEY(pBio.get(), pKey));
	return bioText(pBio.get());
}


void writeFile(const std::string& path, const std::string& contents, mode_t mode)
{
	{
		std::ofstream out(path, std::ios::binary | std::ios::trunc);
		out << contents;
		CPPUNIT_ASSERT(out.good());
	}
	CPPUNIT_ASSERT_EQUAL(0, ::chmod(path.c_str(), mode));
}


mode_t modeOf(const std::string& path)
{
	struct stat st;
	CPPUNIT_ASSERT_EQUAL(0, ::stat(path.c_str(), &st));
	return st.st_mode & 07777;
}


std::string flipBit(std::string text, std::size_t index)
{
	text[index] = static_cast<char>(text[index] ^ 0x01);
	return text;
}


class EnvGuard
	/// Sets or unsets an environment variable and restores the old value on scope exit.
{
public:
	EnvGuard(const char* name, const char* value):
		_name(name)
	{
		const char* old = std::getenv(name);
		if (old) _old = old;
		if (value)
			::setenv(name, value, 1);
		else
			::unsetenv(name);
	}

	~EnvGuard()
	{
		if (_old)
			::setenv(_name.c_str(), _old->c_str(), 1);
		else
			::unsetenv(_name.c_str());
	}

	EnvGuard(const EnvGuard&) = delete;
	EnvGuard& operator=(const EnvGuard&) = delete;

private:
	std::string _name;
	std::optional<std::string> _old;
};


} // namespace


void IdentityTest::setUp()
{
	_tempDir = Poco::TemporaryFile::tempName();
	Poco::File(_tempDir).createDirectories();
	CPPUNIT_ASSERT_EQUAL(0, ::chmod(_tempDir.c_str(), 0700));
}


void IdentityTest::tearDown()
{
	try
	{
		Poco::File dir(_tempDir);
		if (dir.exists()) dir.remove(true);
	}
	catch (...)
	{
	}
}


std::string IdentityTest::path(const std::string& name) const
{
	return Poco::Path(Poco::Path(_tempDir).makeDirectory(), name).toString();
}


void IdentityTest::testSignVerify()
{
	const Identity identity = Identity::generate();
	const std::string data = "hello, crosschat";
	const std::string signature = identity.sign(data);
	CPPUNIT_ASSERT_EQUAL(PublicKey::SIGNATURE_SIZE, signature.size());
	CPPUNIT_ASSERT(identity.publicKey().verify(data, signature));
	CPPUNIT_ASSERT(identity.publicKey().verify("", identity.sign("")));
	const std::string binary("\0\1\2\3", 4);
	CPPUNIT_ASSERT(identity.publicKey().verify(binary, identity.sign(binary)));
	CPPUNIT_ASSERT(!identity.publicKey().verify(binary.substr(0, 3), identity.sign(binary)));
	// Ed25519 is deterministic.
	CPPUNIT_ASSERT_EQUAL(signature, identity.sign(data));
}


void IdentityTest::testTamperedSignatureRejected()
{
	const Identity identity = Identity::generate();
	const std::string data = "message";
	const std::string signature = identity.sign(data);
	for (std::size_t i = 0; i < signature.size(); ++i)
	{
		CPPUNIT_ASSERT(!identity.publicKey().verify(data, flipBit(signature, i)));
	}
	CPPUNIT_ASSERT(!identity.publicKey().verify(data, std::string(PublicKey::SIGNATURE_SIZE, '\0')));
	// A later valid verification is not disturbed by errors left from the failures.
	CPPUNIT_ASSERT(identity.publicKey().verify(data, signature));
}


void IdentityTest::testTamperedDataRejected()
{
	const Identity identity = Identity::generate();
	const std::string data = "transfer 10 coins to alice";
	const std::string signature = identity.sign(data);
	for (std::size_t i = 0; i < data.size(); ++i)
	{
		CPPUNIT_ASSERT(!identity.publicKey().verify(flipBit(data, i), signature));
	}
	CPPUNIT_ASSERT(!identity.publicKey().verify(data + " ", signature));
}


void IdentityTest::testOtherKeyRejects()
{
	const Identity alice = Identity::generate();
	const Identity bob = Identity::generate();
	CPPUNIT_ASSERT(alice.peerId() != bob.peerId());
	const std::string data = "hello";
	CPPUNIT_ASSERT(!bob.publicKey().verify(data, alice.sign(data)));
	CPPUNIT_ASSERT(!alice.publicKey().verify(data, bob.sign(data)));
}


void IdentityTest::testWrongSizeSignatureRejected()
{
	const Identity identity = Identity::generate();
	const std::string signature = identity.sign("x");
	CPPUNIT_ASSERT(!identity.publicKey().verify("x", ""));
	CPPUNIT_ASSERT(!identity.publicKey().verify("x", signature.substr(0, 63)));
	CPPUNIT_ASSERT(!identity.publicKey().verify("x", signature + '\0'));
	CPPUNIT_ASSERT(!identity.publicKey().verify("x", signature + signature));
}


void IdentityTest::testPeerIdIsHashOfPublicKey()
{
	const Identity identity = Identity::generate();
	const PublicKey& key = identity.publicKey();
	CPPUNIT_ASSERT(identity.peerId() == key.peerId());
	CPPUNIT_ASSERT(identity.peerId() == PeerId::fromPublicKeyDer(key.der()));
	CPPUNIT_ASSERT(!identity.peerId().isNull());
	CPPUNIT_ASSERT_EQUAL(PublicKey::RAW_SIZE, key.raw().size());
	CPPUNIT_ASSERT_EQUAL(std::size_t(44), key.der().size()); // Ed25519 SubjectPublicKeyInfo

	// The DER is what OpenSSL itself makes of the private key's public half.
	unsigned char* pDer = nullptr;
	const int length = i2d_PUBKEY(identity.keyHandle(), &pDer);
	CPPUNIT_ASSERT(length > 0);
	const std::string der(reinterpret_cast<char*>(pDer), static_cast<std::size_t>(length));
	OPENSSL_free(pDer);
	CPPUNIT_ASSERT_EQUAL(der, key.der());

	// The public key object never carries the secret.
	std::size_t secretLength = 0;
	CPPUNIT_ASSERT(EVP_PKEY_get_raw_private_key(key.handle(), nullptr, &secretLength) != 1);
	ERR_clear_error();
}


void IdentityTest::testSaveLoadRoundTrip()
{
	const Identity identity = Identity::generate();
	const std::string file = path("key.pem");
	identity.save(file);
	CPPUNIT_ASSERT_EQUAL(mode_t(0600), modeOf(file));

	const Identity loaded = Identity::load(file);
	CPPUNIT_ASSERT(loaded.peerId() == identity.peerId());
	CPPUNIT_ASSERT_EQUAL(identity.publicKey().der(), loaded.publicKey().der());
	CPPUNIT_ASSERT(identity.publicKey().verify("data", loaded.sign("data")));
	CPPUNIT_ASSERT_EQUAL(identity.privateKeyPem(), loaded.privateKeyPem());

	// No temporary files are left behind.
	std::vector<std::string> names;
	Poco::File(_tempDir).list(names);
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), names.size());
}


void IdentityTest::testSaveReplacesAndKeepsMode()
{
	const std::string file = path("key.pem");
	writeFile(file, "old contents", 0644);
	const Identity identity = Identity::generate();
	identity.save(file);
	CPPUNIT_ASSERT_EQUAL(mode_t(0600), modeOf(file));
	CPPUNIT_ASSERT(Identity::load(file).peerId() == identity.peerId());

	const Identity second = Identity::generate();
	second.save(file);
	CPPUNIT_ASSERT(Identity::load(file).peerId() == second.peerId());

	CPPUNIT_ASSERT_THROW(identity.save(path("missing-dir/key.pem")), IdentityException);
}


void IdentityTest::testLoadOrCreate()
{
	const std::string dataDir = path("a/b/crosschat");
	const Identity created = Identity::loadOrCreate(dataDir);
	CPPUNIT_ASSERT(Poco::File(dataDir).isDirectory());
	CPPUNIT_ASSERT_EQUAL(mode_t(0700), modeOf(dataDir));
	const std::string keyFile = Poco::Path(Poco::Path(dataDir).makeDirectory(), Identity::KEY_FILE_NAME).toString();
	CPPUNIT_ASSERT(Poco::File(keyFile).isFile());
	CPPUNIT_ASSERT_EQUAL(mode_t(0600), modeOf(keyFile));

	const Identity again = Identity::loadOrCreate(dataDir);
	CPPUNIT_ASSERT(again.peerId() == created.peerId());
	CPPUNIT_ASSERT(Identity::load(keyFile).peerId() == created.peerId());
	CPPUNIT_ASSERT(Identity::loadOrCreate(dataDir + "/").peerId() == created.peerId());

	std::vector<std::string> names;
	Poco::File(dataDir).list(names);
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), names.size());

	// A different directory gets a different identity.
	CPPUNIT_ASSERT(Identity::loadOrCreate(path("other")).peerId() != created.peerId());

	// An unsafe existing key is refused, not silently replaced.
	CPPUNIT_ASSERT_EQUAL(0, ::chmod(keyFile.c_str(), 0644));
	CPPUNIT_ASSERT_THROW(Identity::loadOrCreate(dataDir), IdentityException);
}


void IdentityTest::testLoadOrCreateKeepsExistingDirectoryMode()
{
	const std::string dataDir = path("existing");
	Poco::File(dataDir).createDirectories();
	CPPUNIT_ASSERT_EQUAL(0, ::chmod(dataDir.c_str(), 0750));
	const Identity created = Identity::loadOrCreate(dataDir);
	CPPUNIT_ASSERT_EQUAL(mode_t(0750), modeOf(dataDir));
	CPPUNIT_ASSERT_EQUAL(mode_t(0600), modeOf(dataDir + "/" + Identity::KEY_FILE_NAME));

	writeFile(path("plainfile"), "x", 0600);
	CPPUNIT_ASSERT_THROW(Identity::loadOrCreate(path("plainfile")), IdentityException);
}


void IdentityTest::testGroupOrWorldReadableKeyRefused()
{
	const Identity identity = Identity::generate();
	const std::string file = path("key.pem");
	identity.save(file);
	for (mode_t mode: {0644, 0640, 0604, 0660, 0606, 0620, 0602, 0666})
	{
		CPPUNIT_ASSERT_EQUAL(0, ::chmod(file.c_str(), mode));
		try
		{
			Identity::load(file);
			CPPUNIT_FAIL("key file with mode " + std::to_string(mode) + " accepted");
		}
		catch (IdentityException& exc)
		{
			CPPUNIT_ASSERT(exc.message().find("chmod 600 " + file) != std::string::npos);
		}
	}
	CPPUNIT_ASSERT_EQUAL(0, ::chmod(file.c_str(), 0400));
	CPPUNIT_ASSERT(Identity::load(file).peerId() == identity.peerId());
	CPPUNIT_ASSERT_EQUAL(0, ::chmod(file.c_str(), 0600));
	CPPUNIT_ASSERT(Identity::load(file).peerId() == identity.peerId());
}


void IdentityTest::testMissingFileRefused()
{
	CPPUNIT_ASSERT_THROW(Identity::load(path("no-such-file.pem")), IdentityException);
	CPPUNIT_ASSERT_THROW(Identity::load(_tempDir), IdentityException);
}


void IdentityTest::testGarbageFileRefused()
{
	const std::string file = path("garbage.pem");
	writeFile(file, "this is not a key\n", 0600);
	CPPUNIT_ASSERT_THROW(Identity::load(file), IdentityException);
	writeFile(file, "", 0600);
	CPPUNIT_ASSERT_THROW(Identity::load(file), IdentityException);
	writeFile(file, "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", 0600);
	CPPUNIT_ASSERT_THROW(Identity::load(file), IdentityException);

	// A truncated real key.
	const std::string pem = Identity::generate().privateKeyPem();
	writeFile(file, pem.substr(0, pem.size()/2), 0600);
	CPPUNIT_ASSERT_THROW(Identity::load(file), IdentityException);

	// A public key is not a private key.
	writeFile(file, publicPem(Identity::generate().keyHandle()), 0600);
	CPPUNIT_ASSERT_THROW(Identity::load(file), IdentityException);
}


void IdentityTest::testNonEd25519KeyRefused()
{
	const std::string file = path("ec.pem");
	writeFile(file, privatePem(ecKey().get()), 0600);
	try
	{
		Identity::load(file);
		CPPUNIT_FAIL("EC key accepted");
	}
	catch (IdentityException& exc)
	{
		CPPUNIT_ASSERT(exc.message().find("Ed25519") != std::string::npos);
	}

	EVP_PKEY* pX25519 = EVP_PKEY_Q_keygen(nullptr, nullptr, "X25519");
	CPPUNIT_ASSERT(pX25519 != nullptr);
	const std::string x25519Pem = privatePem(pX25519);
	EVP_PKEY_free(pX25519);
	writeFile(file, x25519Pem, 0600);
	CPPUNIT_ASSERT_THROW(Identity::load(file), IdentityException);
}


void IdentityTest::testEncryptedKeyRefusedWithoutPrompt()
{
	const Identity identity = Identity::generate();
	const std::string file = path("encrypted.pem");
	writeFile(file, privatePem(identity.keyHandle(), EVP_aes_256_cbc(), "secret"), 0600);
	CPPUNIT_ASSERT_THROW(Identity::load(file), IdentityException);
}


void IdentityTest::testPrivateKeyPemIsPkcs8()
{
	const Identity identity = Identity::generate();
	const std::string pem = identity.privateKeyPem();
	CPPUNIT_ASSERT_EQUAL(std::string("-----BEGIN PRIVATE KEY-----\n"), pem.substr(0, 28));
	CPPUNIT_ASSERT(pem.find("-----END PRIVATE KEY-----") != std::string::npos);

	BioPtr pBio = memoryBio(pem);
	EVP_PKEY* pKey = PEM_read_bio_PrivateKey(pBio.get(), nullptr, nullptr, nullptr);
	CPPUNIT_ASSERT(pKey != nullptr);
	const int same = EVP_PKEY_eq(pKey, identity.keyHandle());
	EVP_PKEY_free(pKey);
	CPPUNIT_ASSERT_EQUAL(1, same);
}


void IdentityTest::testCertificate()
{
	const Identity identity = Identity::generate();
	const std::string pem = identity.certificatePem();
	CPPUNIT_ASSERT_EQUAL(pem, identity.certificatePem());

	BioPtr pBio = memoryBio(pem);
	X509Ptr pCert(PEM_read_bio_X509(pBio.get(), nullptr, nullptr, nullptr), X509_free);
	CPPUNIT_ASSERT(pCert != nullptr);
	X509* pX509 = pCert.get();

	CPPUNIT_ASSERT_EQUAL(0, X509_cmp(pX509, identity.certificateHandle()));
	CPPUNIT_ASSERT_EQUAL(2L, X509_get_version(pX509)); // v3
	EVP_PKEY* pCertKey = X509_get0_pubkey(pX509);
	CPPUNIT_ASSERT(pCertKey != nullptr);
	CPPUNIT_ASSERT_EQUAL(1, EVP_PKEY_eq(pCertKey, identity.keyHandle()));
	CPPUNIT_ASSERT_EQUAL(1, EVP_PKEY_eq(pCertKey, identity.publicKey().handle()));
	CPPUNIT_ASSERT_EQUAL(1, X509_verify(pX509, pCertKey));
	CPPUNIT_ASSERT_EQUAL(static_cast<int>(X509_V_OK), X509_check_issued(pX509, pX509));
	CPPUNIT_ASSERT_EQUAL(NID_ED25519, X509_get_signature_nid(pX509));

	char commonName[128] = {};
	CPPUNIT_ASSERT(X509_NAME_get_text_by_NID(X509_get_subject_name(pX509), NID_commonName,
		commonName, sizeof(commonName)) > 0);
	CPPUNIT_ASSERT_EQUAL(identity.peerId().toString(), std::string(commonName));
	CPPUNIT_ASSERT_EQUAL(0, X509_NAME_cmp(X509_get_subject_name(pX509), X509_get_issuer_name(pX509)));

	// Valid now and for many years.
	CPPUNIT_ASSERT(X509_cmp_current_time(X509_get0_notBefore(pX509)) < 0);
	std::time_t in19Years = std::time(nullptr) + 19L*365*24*60*60;
	CPPUNIT_ASSERT(X509_cmp_time(X509_get0_notAfter(pX509), &in19Years) > 0);

	// Random serials: two certificates of one key differ.
	const Identity copy = Identity::load([&]
	{
		const std::string file = path("key.pem");
		identity.save(file);
		return file;
	}());
	CPPUNIT_ASSERT(ASN1_INTEGER_cmp(X509_get0_serialNumber(pX509),
		X509_get0_serialNumber(copy.certificateHandle())) != 0);
	std::unique_ptr<BIGNUM, decltype(&BN_free)> pSerial(ASN1_INTEGER_to_BN(X509_get0_serialNumber(pX509), nullptr),
		BN_free);
	CPPUNIT_ASSERT(pSerial != nullptr);
	CPPUNIT_ASSERT(!BN_is_negative(pSerial.get()));
	CPPUNIT_ASSERT(BN_num_bits(pSerial.get()) > 64);
	CPPUNIT_ASSERT(BN_num_bits(pSerial.get()) <= 159); // RFC 5280: at most 20 octets

	// The certificate, trusted on its own (as peers pin it), verifies as a chain of one.
	std::unique_ptr<X509_STORE, decltype(&X509_STORE_free)> pStore(X509_STORE_new(), X509_STORE_free);
	CPPUNIT_ASSERT_EQUAL(1, X509_STORE_add_cert(pStore.get(), pX509));
	std::unique_ptr<X509_STORE_CTX, decltype(&X509_STORE_CTX_free)> pCtx(X509_STORE_CTX_new(), X509_STORE_CTX_free);
	CPPUNIT_ASSERT_EQUAL(1, X509_STORE_CTX_init(pCtx.get(), pStore.get(), pX509, nullptr));
	CPPUNIT_ASSERT_EQUAL(1, X509_verify_cert(pCtx.get()));

	// Another identity's key does not verify this certificate.
	CPPUNIT_ASSERT(X509_verify(pX509, Identity::generate().keyHandle()) != 1);
	ERR_clear_error();
}


void IdentityTest::testPublicKeyRoundTrips()
{
	const Identity identity = Identity::generate();
	const PublicKey& key = identity.publicKey();
	const std::string signature = identity.sign("data");

	const PublicKey fromRaw = PublicKey::fromRaw(key.raw());
	const PublicKey fromDer = PublicKey::fromDer(key.der());
	const PublicKey fromPem = PublicKey::fromPem(publicPem(key.handle()));
	for (const PublicKey* pKey: {&fromRaw, &fromDer, &fromPem})
	{
		CPPUNIT_ASSERT(pKey->peerId() == identity.peerId());
		CPPUNIT_ASSERT_EQUAL(key.raw(), pKey->raw());
		CPPUNIT_ASSERT_EQUAL(key.der(), pKey->der());
		CPPUNIT_ASSERT(pKey->verify("data", signature));
		CPPUNIT_ASSERT(!pKey->verify("Data", signature));
	}

	// Copies share the key and stay valid after the original is gone.
	std::optional<PublicKey> copy;
	{
		const PublicKey temporary = PublicKey::fromRaw(key.raw());
		copy = temporary;
	}
	CPPUNIT_ASSERT(copy->verify("data", signature));

	// The constructor accepts a private key too, and names the same peer.
	EVP_PKEY_up_ref(identity.keyHandle());
	const PublicKey wrapped(KeyPtr(identity.keyHandle(), EVP_PKEY_free));
	CPPUNIT_ASSERT(wrapped.peerId() == identity.peerId());
}


void IdentityTest::testPublicKeyMatchesOpenSSLEncoding()
{
	// PublicKey computes the SubjectPublicKeyInfo and the peer ID from the raw bytes, without
	// OpenSSL's encoder; they must be exactly what the encoder produces.
	for (int i = 0; i < 20; ++i)
	{
		const Identity identity = Identity::generate();
		const PublicKey& key = identity.publicKey();
		unsigned char* pDer = nullptr;
		const int length = i2d_PUBKEY(identity.keyHandle(), &pDer);
		CPPUNIT_ASSERT(length > 0);
		const std::string encoded(reinterpret_cast<char*>(pDer), static_cast<std::size_t>(length));
		OPENSSL_free(pDer);
		CPPUNIT_ASSERT_EQUAL(encoded, key.der());
		CPPUNIT_ASSERT_EQUAL(PublicKey::DER_SIZE, encoded.size());
		CPPUNIT_ASSERT(PeerId::fromPublicKeyDer(encoded) == key.peerId());
		CPPUNIT_ASSERT(PublicKey::peerIdOfRaw(key.rawBytes().data()) == key.peerId());
		CPPUNIT_ASSERT_EQUAL(key.raw(), std::string(reinterpret_cast<const char*>(key.rawBytes().data()), PublicKey::RAW_SIZE));
		const PublicKey parsed = PublicKey::fromDer(encoded);
		CPPUNIT_ASSERT(parsed.peerId() == key.peerId());
		CPPUNIT_ASSERT(parsed.verify("x", identity.sign("x")));
		// Wrapping OpenSSL's key object (as TlsChannel does with a peer certificate's key).
		EVP_PKEY_up_ref(key.handle());
		const PublicKey wrapped(KeyPtr(key.handle(), EVP_PKEY_free));
		CPPUNIT_ASSERT_EQUAL(key.der(), wrapped.der());
		CPPUNIT_ASSERT(wrapped.peerId() == key.peerId());
	}
	// The prefix alone, or with a key of the wrong length, is not a key.
	const std::string prefix(reinterpret_cast<const char*>(PublicKey::SPKI_PREFIX), PublicKey::SPKI_PREFIX_SIZE);
	CPPUNIT_ASSERT_THROW(PublicKey::fromDer(prefix), CryptoException);
	CPPUNIT_ASSERT_THROW(PublicKey::fromDer(prefix + std::string(31, 'k')), CryptoException);
	CPPUNIT_ASSERT_THROW(PublicKey::fromDer(prefix + std::string(33, 'k')), CryptoException);
}


void IdentityTest::testPublicKeyGarbageRejected()
{
	const std::string raw = Identity::generate().publicKey().raw();
	const std::string der = Identity::generate().publicKey().der();

	CPPUNIT_ASSERT_THROW(PublicKey::fromRaw(""), CryptoException);
	CPPUNIT_ASSERT_THROW(PublicKey::fromRaw(raw.substr(0, 31)), CryptoException);
	CPPUNIT_ASSERT_THROW(PublicKey::fromRaw(raw + "x"), CryptoException);
	CPPUNIT_ASSERT_THROW(PublicKey::fromRaw(der), CryptoException);

	CPPUNIT_ASSERT_THROW(PublicKey::fromDer(""), CryptoException);
	CPPUNIT_ASSERT_THROW(PublicKey::fromDer("garbage"), CryptoException);
	CPPUNIT_ASSERT_THROW(PublicKey::fromDer(raw), CryptoException);
	CPPUNIT_ASSERT_THROW(PublicKey::fromDer(der.substr(0, der.size() - 1)), CryptoException);
	CPPUNIT_ASSERT_THROW(PublicKey::fromDer(der + std::string(1, '\0')), CryptoException);
	CPPUNIT_ASSERT_THROW(PublicKey::fromDer(flipBit(der, 0)), CryptoException);

	CPPUNIT_ASSERT_THROW(PublicKey::fromPem(""), CryptoException);
	CPPUNIT_ASSERT_THROW(PublicKey::fromPem("garbage"), CryptoException);
	CPPUNIT_ASSERT_THROW(PublicKey::fromPem("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"),
		CryptoException);
	CPPUNIT_ASSERT_THROW(PublicKey::fromPem(Identity::generate().privateKeyPem()), CryptoException);

	try
	{
		PublicKey::fromDer("garbage");
		CPPUNIT_FAIL("garbage DER accepted");
	}
	catch (CryptoException& exc)
	{
		// The message carries OpenSSL's reason.
		CPPUNIT_ASSERT(exc.message().find("error:") != std::string::npos);
	}
}


void IdentityTest::testPublicKeyNonEd25519Rejected()
{
	const KeyPtr pEc = ecKey();
	unsigned char* pDer = nullptr;
	const int length = i2d_PUBKEY(pEc.get(), &pDer);
	CPPUNIT_ASSERT(length > 0);
	const std::string der(reinterpret_cast<char*>(pDer), static_cast<std::size_t>(length));
	OPENSSL_free(pDer);

	CPPUNIT_ASSERT_THROW(PublicKey::fromDer(der), CryptoException);
	CPPUNIT_ASSERT_THROW(PublicKey::fromPem(publicPem(pEc.get())), CryptoException);
	CPPUNIT_ASSERT_THROW(PublicKey{pEc}, CryptoException);
	CPPUNIT_ASSERT_THROW(PublicKey{KeyPtr()}, CryptoException);
}


void IdentityTest::testDefaultDataDir()
{
	{
		EnvGuard xdg("XDG_DATA_HOME", "/srv/xdg-data");
		CPPUNIT_ASSERT_EQUAL(std::string("/srv/xdg-data/crosschat"), Identity::defaultDataDir());
	}
	{
		EnvGuard xdg("XDG_DATA_HOME", "/srv/xdg-data/");
		CPPUNIT_ASSERT_EQUAL(std::string("/srv/xdg-data/crosschat"), Identity::defaultDataDir());
	}
	{
		EnvGuard home("HOME", "/home/tester");
		{
			EnvGuard xdg("XDG_DATA_HOME", nullptr);
			CPPUNIT_ASSERT_EQUAL(std::string("/home/tester/.local/share/crosschat"), Identity::defaultDataDir());
		}
		{
			EnvGuard xdg("XDG_DATA_HOME", "");
			CPPUNIT_ASSERT_EQUAL(std::string("/home/tester/.local/share/crosschat"), Identity::defaultDataDir());
		}
		{
			// Relative values are ignored, as the XDG base directory spec requires.
			EnvGuard xdg("XDG_DATA_HOME", "relative/data");
			CPPUNIT_ASSERT_EQUAL(std::string("/home/tester/.local/share/crosschat"), Identity::defaultDataDir());
		}
	}
}
