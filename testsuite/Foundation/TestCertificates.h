//
// TestCertificates.h
//
// testsuite: a throw-away certificate authority and server certificates for the X.509 TLS
// tests, made with OpenSSL in a temporary directory that is removed afterwards.
//


#ifndef CrossChat_Test_TestCertificates_INCLUDED
#define CrossChat_Test_TestCertificates_INCLUDED


#include <openssl/evp.h>
#include <openssl/x509.h>
#include <chrono>
#include <memory>
#include <string>
#include <vector>


namespace CrossChat {
namespace Test {


class TestCertificates
	/// Owns a temporary directory; every file written goes there.
{
public:
	enum class KeyType
	{
		EC_P256,
		RSA_2048,
		ED25519
	};

	struct Authority
	{
		std::shared_ptr<EVP_PKEY> pKey;
		std::shared_ptr<X509> pCert;
		std::string certificateFile;   ///< PEM, for TlsClientContext::withCaFile().
	};

	struct ServerFiles
	{
		std::string chainFile;   ///< The server certificate, then the CA certificate.
		std::string keyFile;     ///< PKCS#8 PEM, unencrypted.
	};

	struct ServerSpec
	{
		std::string commonName = "localhost";
		std::vector<std::string> dnsNames{"localhost"};
		std::vector<std::string> ipAddresses{"127.0.0.1"};
		KeyType keyType = KeyType::EC_P256;
		std::chrono::seconds validFrom{-3600};    ///< Relative to now.
		std::chrono::seconds validUntil{86400};   ///< Relative to now.
	};

	TestCertificates();
	~TestCertificates();

	TestCertificates(const TestCertificates&) = delete;
	TestCertificates& operator=(const TestCertificates&) = delete;

	Authority makeAuthority(const std::string& name);
		/// A self-signed CA (CA:TRUE, keyCertSign), EC P-256, valid from an hour ago for a year;
		/// its certificate is written to <name>-ca.pem.

	ServerFiles makeServer(const Authority& authority, const std::string& stem, const ServerSpec& spec);
		/// A server certificate issued by authority (serverAuth, subjectAltName from spec),
		/// written to <stem>-chain.pem and <stem>-key.pem.

	ServerFiles makeServer(const Authority& authority, const std::string& stem);
		/// As above with the default ServerSpec (CN and DNS localhost, IP 127.0.0.1, EC P-256).

	std::string writeFile(const std::string& name, const std::string& contents);
		/// Writes a file in the directory (replacing it atomically) and returns its path.

	static std::string encryptedKeyPem();
		/// A private key PEM protected with a password.

	const std::string& directory() const;

private:
	std::string _directory;
	long _serial = 1;
};


} } // namespace CrossChat::Test


#endif // CrossChat_Test_TestCertificates_INCLUDED
