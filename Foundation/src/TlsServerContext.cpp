//
// TlsServerContext.cpp
//
// Library: Foundation
//


#include "CrossChat/TlsServerContext.h"
#include "OpenSSLError.h"
#include "TlsProfiles.h"
#include "X509Text.h"
#include "CrossChat/FoundationException.h"
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <cerrno>
#include <cstring>
#include <vector>


namespace CrossChat {


namespace {


using BioPtr = std::unique_ptr<BIO, decltype(&BIO_free)>;
using X509Ptr = std::unique_ptr<X509, decltype(&X509_free)>;


BioPtr openFile(const std::string& path, const char* what)
{
	ERR_clear_error();
	errno = 0;
	BioPtr pBio(BIO_new_file(path.c_str(), "r"), BIO_free);
	if (!pBio)
	{
		const int error = errno;
		ERR_clear_error();
		throw TlsConfigException(std::string("cannot open ") + what + " " + path + ": "
			+ (error ? std::strerror(error) : "unknown error"));
	}
	return pBio;
}


bool endOfPem()
	/// True if the error queue only says that no further PEM block was found.
{
	const unsigned long code = ERR_peek_last_error();
	return code == 0 || (ERR_GET_LIB(code) == ERR_LIB_PEM && ERR_GET_REASON(code) == PEM_R_NO_START_LINE);
}


std::vector<X509Ptr> readCertificates(const std::string& path)
{
	BioPtr pBio = openFile(path, "certificate chain file");
	std::vector<X509Ptr> certificates;
	for (;;)
	{
		X509* pCert = PEM_read_bio_X509(pBio.get(), nullptr, noPassword, nullptr);
		if (!pCert) break;
		certificates.emplace_back(pCert, X509_free);
	}
	if (!endOfPem())
	{
		throw TlsConfigException("malformed certificate number " + std::to_string(certificates.size() + 1)
			+ " in " + path + ": " + openSSLError());
	}
	ERR_clear_error();
	if (certificates.empty()) throw TlsConfigException("certificate chain file " + path + " holds no PEM certificate");
	return certificates;
}


std::shared_ptr<EVP_PKEY> readKey(const std::string& path)
{
	BioPtr pBio = openFile(path, "private key file");
	EVP_PKEY* pKey = PEM_read_bio_PrivateKey(pBio.get(), nullptr, noPassword, nullptr);
	if (!pKey)
	{
		throw TlsConfigException("private key file " + path
			+ " holds no readable, unencrypted PEM private key: " + openSSLError());
	}
	return std::shared_ptr<EVP_PKEY>(pKey, EVP_PKEY_free);
}


} // namespace


struct TlsServerContext::Loaded
{
	std::shared_ptr<SSL_CTX> pContext;
	std::string summary;
	std::chrono::system_clock::time_point notAfter;
};


TlsServerContext::TlsServerContext(std::string certificateChainFile, std::string privateKeyFile):
	_certificateChainFile(std::move(certificateChainFile)),
	_privateKeyFile(std::move(privateKeyFile))
{
}


TlsServerContext::~TlsServerContext() = default;


TlsServerContext::Ptr TlsServerContext::fromFiles(const std::string& certificateChainFile, const std::string& privateKeyFile)
{
	Ptr pContext(new TlsServerContext(certificateChainFile, privateKeyFile));
	pContext->reload();
	return pContext;
}


void TlsServerContext::reload()
{
	// Loaded outside the lock: connections being set up meanwhile use the current context.
	std::shared_ptr<const Loaded> pLoaded = load(_certificateChainFile, _privateKeyFile);
	std::lock_guard<std::mutex> lock(_mutex);
	_pCurrent = std::move(pLoaded);
	++_generation;
}


const std::string& TlsServerContext::certificateChainFile() const
{
	return _certificateChainFile;
}


const std::string& TlsServerContext::privateKeyFile() const
{
	return _privateKeyFile;
}


std::string TlsServerContext::summary() const
{
	std::lock_guard<std::mutex> lock(_mutex);
	return _pCurrent->summary;
}


std::chrono::system_clock::time_point TlsServerContext::notAfter() const
{
	std::lock_guard<std::mutex> lock(_mutex);
	return _pCurrent->notAfter;
}


std::uint64_t TlsServerContext::generation() const
{
	std::lock_guard<std::mutex> lock(_mutex);
	return _generation;
}


std::shared_ptr<ssl_ctx_st> TlsServerContext::sslContext() const
{
	std::lock_guard<std::mutex> lock(_mutex);
	return _pCurrent->pContext;
}


std::shared_ptr<const TlsServerContext::Loaded> TlsServerContext::load(const std::string& chainFile, const std::string& keyFile)
{
	std::vector<X509Ptr> certificates = readCertificates(chainFile);
	std::shared_ptr<EVP_PKEY> pKey = readKey(keyFile);
	std::shared_ptr<SSL_CTX> pContext = newX509Context(true);
	SSL_CTX* pCtx = pContext.get();
	X509* pLeaf = certificates.front().get();
	if (SSL_CTX_use_certificate(pCtx, pLeaf) != 1)
		throw TlsConfigException("cannot use the certificate in " + chainFile + ": " + openSSLError());
	for (std::size_t i = 1; i < certificates.size(); ++i)
	{
		if (SSL_CTX_add1_chain_cert(pCtx, certificates[i].get()) != 1)
			throw TlsConfigException("cannot use chain certificate number " + std::to_string(i + 1) + " in "
				+ chainFile + ": " + openSSLError());
	}
	if (X509_check_private_key(pLeaf, pKey.get()) != 1)
	{
		ERR_clear_error();
		throw TlsConfigException("the private key in " + keyFile + " does not belong to the certificate in " + chainFile
			+ " (" + x509NameText(X509_get_subject_name(pLeaf)) + ")");
	}
	if (SSL_CTX_use_PrivateKey(pCtx, pKey.get()) != 1 || SSL_CTX_check_private_key(pCtx) != 1)
		throw TlsConfigException("cannot use the private key in " + keyFile + ": " + openSSLError());
	auto pLoaded = std::make_shared<Loaded>();
	pLoaded->pContext = std::move(pContext);
	pLoaded->summary = certificateSummary(pLeaf);
	pLoaded->notAfter = x509TimePoint(X509_get0_notAfter(pLeaf));
	return pLoaded;
}


} // namespace CrossChat
