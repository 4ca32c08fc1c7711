//
// TestCertificates.cpp
//
// testsuite: a throw-away certificate authority and server certificates.
//


#include "TestCertificates.h"
#include "Poco/File.h"
#include "Poco/Path.h"
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <unistd.h>


namespace CrossChat {
namespace Test {


namespace {


void check(bool ok, const char* what)
{
	if (!ok)
	{
		char text[256] = "";
		ERR_error_string_n(ERR_get_error(), text, sizeof(text));
		ERR_clear_error();
		throw std::runtime_error(std::string("test certificates: ") + what + ": " + text);
	}
}


std::shared_ptr<EVP_PKEY> makeKey(TestCertificates::KeyType type)
{
	EVP_PKEY* pKey = nullptr;
	switch (type)
	{
	case TestCertificates::KeyType::EC_P256:
		pKey = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
		break;
	case TestCertificates::KeyType::RSA_2048:
		pKey = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(2048));
		break;
	case TestCertificates::KeyType::ED25519:
		pKey = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
		break;
	}
	check(pKey != nullptr, "key generation");
	return std::shared_ptr<EVP_PKEY>(pKey, EVP_PKEY_free);
}


void addExtension(X509* pCert, X509* pIssuer, int nid, const std::string& value)
{
	X509V3_CTX ctx;
	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, pIssuer, pCert, nullptr, nullptr, 0);
	X509_EXTENSION* pExt = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
	check(pExt != nullptr, "extension");
	check(X509_add_ext(pCert, pExt, -1) == 1, "add extension");
	X509_EXTENSION_free(pExt);
}


std::shared_ptr<X509> makeCertificate(long serial, const std::string& commonName, EVP_PKEY* pKey,
	X509* pIssuer, std::chrono::seconds from, std::chrono::seconds until)
{
	std::shared_ptr<X509> pCert(X509_new(), X509_free);
	X509* p = pCert.get();
	check(X509_set_version(p, 2) == 1, "version");
	check(ASN1_INTEGER_set(X509_get_serialNumber(p), serial) == 1, "serial");
	check(X509_gmtime_adj(X509_getm_notBefore(p), static_cast<long>(from.count())) != nullptr, "notBefore");
	check(X509_gmtime_adj(X509_getm_notAfter(p), static_cast<long>(until.count())) != nullptr, "notAfter");
	X509_NAME* pName = X509_get_subject_name(p);
	check(X509_NAME_add_entry_by_txt(pName, "CN", MBSTRING_ASC,
		reinterpret_cast<const unsigned char*>(commonName.c_str()), -1, -1, 0) == 1, "subject");
	check(X509_set_issuer_name(p, pIssuer ? X509_get_subject_name(pIssuer) : pName) == 1, "issuer");
	check(X509_set_pubkey(p, pKey) == 1, "public key");
	return pCert;
}


void sign(X509* pCert, EVP_PKEY* pKey)
{
	const bool digestless = EVP_PKEY_get_id(pKey) == EVP_PKEY_ED25519;
	check(X509_sign(pCert, pKey, digestless ? nullptr : EVP_sha256()) > 0, "sign");
}


std::string pem(X509* pCert)
{
	std::unique_ptr<BIO, decltype(&BIO_free)> pBio(BIO_new(BIO_s_mem()), BIO_free);
	check(PEM_write_bio_X509(pBio.get(), pCert) == 1, "write certificate");
	char* pData = nullptr;
	const long length = BIO_get_mem_data(pBio.get(), &pData);
	return std::string(pData, static_cast<std::size_t>(length));
}


std::string pem(EVP_PKEY* pKey, const char* password = nullptr)
{
	std::unique_ptr<BIO, decltype(&BIO_free)> pBio(BIO_new(BIO_s_mem()), BIO_free);
	check(PEM_write_bio_PrivateKey(pBio.get(), pKey, password ? EVP_aes_256_cbc() : nullptr,
		nullptr, 0, nullptr, const_cast<char*>(password)) == 1, "write key");
	char* pData = nullptr;
	const long length = BIO_get_mem_data(pBio.get(), &pData);
	return std::string(pData, static_cast<std::size_t>(length));
}


} // namespace


TestCertificates::TestCertificates()
{
	std::string templ = Poco::Path::temp() + "crosschat-certs-XXXXXX";
	if (!::mkdtemp(&templ[0])) throw std::runtime_error("test certificates: mkdtemp failed");
	_directory = templ;
}


TestCertificates::~TestCertificates()
{
	try
	{
		Poco::File(_directory).remove(true);
	}
	catch (...)
	{
		// A leftover temporary directory is not worth failing a test for.
	}
}


TestCertificates::Authority TestCertificates::makeAuthority(const std::string& name)
{
	Authority authority;
	authority.pKey = makeKey(KeyType::EC_P256);
	authority.pCert = makeCertificate(_serial++, name, authority.pKey.get(), nullptr,
		std::chrono::seconds(-3600), std::chrono::seconds(365 * 86400));
	addExtension(authority.pCert.get(), authority.pCert.get(), NID_basic_constraints, "critical,CA:TRUE");
	addExtension(authority.pCert.get(), authority.pCert.get(), NID_key_usage, "critical,keyCertSign,cRLSign");
	addExtension(authority.pCert.get(), authority.pCert.get(), NID_subject_key_identifier, "hash");
	sign(authority.pCert.get(), authority.pKey.get());
	authority.certificateFile = writeFile(name + "-ca.pem", pem(authority.pCert.get()));
	return authority;
}


TestCertificates::ServerFiles TestCertificates::makeServer(const Authority& authority, const std::string& stem,
	const ServerSpec& spec)
{
	std::shared_ptr<EVP_PKEY> pKey = makeKey(spec.keyType);
	std::shared_ptr<X509> pCert = makeCertificate(_serial++, spec.commonName, pKey.get(), authority.pCert.get(),
		spec.validFrom, spec.validUntil);
	X509* p = pCert.get();
	addExtension(p, authority.pCert.get(), NID_basic_constraints, "critical,CA:FALSE");
	addExtension(p, authority.pCert.get(), NID_ext_key_usage, "serverAuth");
	addExtension(p, authority.pCert.get(), NID_authority_key_identifier, "keyid:always");
	std::string names;
	for (const auto& dns: spec.dnsNames) names += (names.empty() ? "DNS:" : ",DNS:") + dns;
	for (const auto& ip: spec.ipAddresses) names += (names.empty() ? "IP:" : ",IP:") + ip;
	if (!names.empty()) addExtension(p, authority.pCert.get(), NID_subject_alt_name, names);
	sign(p, authority.pKey.get());
	ServerFiles files;
	files.chainFile = writeFile(stem + "-chain.pem", pem(p) + pem(authority.pCert.get()));
	files.keyFile = writeFile(stem + "-key.pem", pem(pKey.get()));
	return files;
}


TestCertificates::ServerFiles TestCertificates::makeServer(const Authority& authority, const std::string& stem)
{
	return makeServer(authority, stem, ServerSpec());
}


std::string TestCertificates::writeFile(const std::string& name, const std::string& contents)
{
	const std::string path = _directory + "/" + name;
	const std::string temp = path + ".tmp";
	std::FILE* pFile = std::fopen(temp.c_str(), "w");
	if (!pFile) throw std::runtime_error("test certificates: cannot write " + temp);
	const bool ok = std::fwrite(contents.data(), 1, contents.size(), pFile) == contents.size();
	if (std::fclose(pFile) != 0 || !ok) throw std::runtime_error("test certificates: cannot write " + temp);
	if (std::rename(temp.c_str(), path.c_str()) != 0) throw std::runtime_error("test certificates: cannot rename " + temp);
	return path;
}


std::string TestCertificates::encryptedKeyPem()
{
	return pem(makeKey(KeyType::EC_P256).get(), "secret");
}


const std::string& TestCertificates::directory() const
{
	return _directory;
}


} } // namespace CrossChat::Test
