//
// TlsClientContext.cpp
//
// Library: Foundation
//


#include "CrossChat/TlsClientContext.h"
#include "OpenSSLError.h"
#include "TlsProfiles.h"
#include "CrossChat/FoundationException.h"
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <mutex>


namespace CrossChat {


namespace {


std::shared_ptr<SSL_CTX> newClientContext()
{
	std::shared_ptr<SSL_CTX> pContext = newX509Context(false);
	// Every connection runs a full handshake: nothing to cache.
	SSL_CTX_set_session_cache_mode(pContext.get(), SSL_SESS_CACHE_OFF);
	return pContext;
}


std::size_t countCertificates(const std::string& path)
	/// The number of PEM certificates in path; throws TlsConfigException if it cannot be read.
{
	std::unique_ptr<std::FILE, decltype(&std::fclose)> pFile(std::fopen(path.c_str(), "r"), std::fclose);
	if (!pFile) throw TlsConfigException("cannot open CA file " + path + ": " + std::strerror(errno));
	std::size_t count = 0;
	while (X509* pCert = PEM_read_X509(pFile.get(), nullptr, noPassword, nullptr))
	{
		X509_free(pCert);
		++count;
	}
	ERR_clear_error();
	return count;
}


} // namespace


TlsClientContext::TlsClientContext(std::shared_ptr<ssl_ctx_st> pContext, std::string description):
	_pContext(std::move(pContext)),
	_description(std::move(description))
{
}


TlsClientContext::~TlsClientContext() = default;


TlsClientContext::Ptr TlsClientContext::systemTrust()
{
	static std::mutex mutex;
	static Ptr pShared;
	std::lock_guard<std::mutex> lock(mutex);
	if (pShared) return pShared;
	std::shared_ptr<SSL_CTX> pContext = newClientContext();
	ERR_clear_error();
	if (SSL_CTX_set_default_verify_paths(pContext.get()) != 1)
		throw TlsConfigException("cannot read the system trust store: " + openSSLError());
	pShared.reset(new TlsClientContext(std::move(pContext), "the system trust store"));
	return pShared;
}


TlsClientContext::Ptr TlsClientContext::withCaFile(const std::string& caFile)
{
	if (countCertificates(caFile) == 0) throw TlsConfigException("CA file " + caFile + " holds no PEM certificate");
	std::shared_ptr<SSL_CTX> pContext = newClientContext();
	ERR_clear_error();
	if (SSL_CTX_load_verify_locations(pContext.get(), caFile.c_str(), nullptr) != 1)
		throw TlsConfigException("cannot load CA file " + caFile + ": " + openSSLError());
	return Ptr(new TlsClientContext(std::move(pContext), "CA file " + caFile));
}


const std::string& TlsClientContext::trustDescription() const
{
	return _description;
}


std::shared_ptr<ssl_ctx_st> TlsClientContext::sslContext() const
{
	return _pContext;
}


} // namespace CrossChat
