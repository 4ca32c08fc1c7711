//
// TlsProfiles.cpp
//
// Library: Foundation
//


#include "TlsProfiles.h"
#include "OpenSSLError.h"
#include "CrossChat/FoundationException.h"


namespace CrossChat {


namespace {


// TLS 1.2 only (TLS 1.3 suites are configured separately and are all AEAD): forward secrecy
// and authenticated encryption, as in Mozilla's "intermediate" configuration.
constexpr const char* TLS12_CIPHERS =
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";


} // namespace


std::shared_ptr<SSL_CTX> newX509Context(bool isServer)
{
	std::shared_ptr<SSL_CTX> pContext(SSL_CTX_new(isServer ? TLS_server_method() : TLS_client_method()), SSL_CTX_free);
	if (!pContext) throw CryptoException("SSL_CTX_new failed", openSSLError());
	SSL_CTX* pCtx = pContext.get();
	if (SSL_CTX_set_min_proto_version(pCtx, TLS1_2_VERSION) != 1
		|| SSL_CTX_set_max_proto_version(pCtx, TLS1_3_VERSION) != 1)
		throw CryptoException("cannot restrict TLS to versions 1.2 and 1.3", openSSLError());
	if (SSL_CTX_set_cipher_list(pCtx, TLS12_CIPHERS) != 1)
		throw CryptoException("cannot set the TLS 1.2 cipher list", openSSLError());
	SSL_CTX_set_options(pCtx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION
		| (isServer ? SSL_OP_CIPHER_SERVER_PREFERENCE : 0));
	SSL_CTX_set_default_passwd_cb(pCtx, noPassword);
	// Relays hold many mostly idle connections: an idle one keeps no record buffers.
	SSL_CTX_set_mode(pCtx, SSL_MODE_RELEASE_BUFFERS);
	return pContext;
}


int noPassword(char*, int, int, void*)
{
	return -1;
}


} // namespace CrossChat
