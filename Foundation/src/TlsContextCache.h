//
// TlsContextCache.h
//
// Library: Foundation
// Private: the pinned-mode SSL_CTX objects of one Identity, made on first use.
// This is an internal header file, it is not installed; do not include it from outside
// Foundation/src.
//


#ifndef CrossChat_Foundation_TlsContextCache_INCLUDED
#define CrossChat_Foundation_TlsContextCache_INCLUDED


#include <openssl/ssl.h>
#include <memory>
#include <mutex>


namespace CrossChat {


struct TlsContextCache
	/// Owned by an Identity (shared by its copies): building an SSL_CTX costs more than a
	/// handshake in OpenSSL 3.0, so each Identity builds one per role, once, and keeps it for
	/// as long as the Identity lives. TlsChannel fills it under the mutex.
{
	std::mutex mutex;
	std::shared_ptr<SSL_CTX> client;
	std::shared_ptr<SSL_CTX> server;
};


} // namespace CrossChat


#endif // CrossChat_Foundation_TlsContextCache_INCLUDED
