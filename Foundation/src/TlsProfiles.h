//
// TlsProfiles.h
//
// Library: Foundation
// Private: the OpenSSL settings of CrossChat's two TLS profiles.
// This is an internal header file, it is not installed; do not include it from outside
// Foundation/src.
//


#ifndef CrossChat_Foundation_TlsProfiles_INCLUDED
#define CrossChat_Foundation_TlsProfiles_INCLUDED


#include <openssl/ssl.h>
#include <memory>


namespace CrossChat {


std::shared_ptr<SSL_CTX> newX509Context(bool isServer);
	/// A context for X.509 mode (relays, HTTPS): TLS 1.2 and 1.3, ECDHE with AEAD ciphers only
	/// for TLS 1.2 (TLS 1.3 suites are all AEAD), no renegotiation, no compression, record
	/// buffers released while a connection is idle. Throws CryptoException.

int noPassword(char* buffer, int size, int rwflag, void* userData);
	/// A PEM password callback that never prompts: an encrypted key is refused, not asked about.


} // namespace CrossChat


#endif // CrossChat_Foundation_TlsProfiles_INCLUDED
