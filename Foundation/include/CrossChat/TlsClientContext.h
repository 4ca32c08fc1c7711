//
// TlsClientContext.h
//
// Library: Foundation
// The trust anchors a TLS client verifies X.509 server certificates against.
//


#ifndef CrossChat_Foundation_TlsClientContext_INCLUDED
#define CrossChat_Foundation_TlsClientContext_INCLUDED


#include <memory>
#include <string>


struct ssl_ctx_st;


namespace CrossChat {


class TlsClientContext
	/// What a TLS client trusts in X.509 mode (TlsChannel::client(connection, context, host)):
	/// either the system trust store or the CA certificates of one PEM file. The channel
	/// verifies the server's chain against it, then that the certificate is valid for the host
	/// name or IP address the caller names (RFC 6125: subjectAltName dNSName, wildcards only as
	/// the whole left-most label; iPAddress for an address), and sends the name as SNI. TLS 1.2
	/// and 1.3, ECDHE with AEAD ciphers only, no renegotiation. No session resumption.
	///
	/// Thread rules: immutable after construction; safe to share between event-loop threads.
	/// Ownership: held by std::shared_ptr; each TlsChannel keeps the OpenSSL context alive for
	/// as long as it needs it.
{
public:
	using Ptr = std::shared_ptr<TlsClientContext>;

	static Ptr systemTrust();
		/// Trusts the system's certificate authorities: OpenSSL's default verify paths (on
		/// Debian the ca-certificates bundle /etc/ssl/certs/ca-certificates.crt and the hashed
		/// directory /etc/ssl/certs; SSL_CERT_FILE and SSL_CERT_DIR override them). The context
		/// is made once per process and shared. Throws TlsConfigException if the store cannot
		/// be read.

	static Ptr withCaFile(const std::string& caFile);
		/// Trusts exactly the CA certificates in caFile (PEM, one or more; for a private relay
		/// or a test CA), not the system store. Throws TlsConfigException if the file cannot be
		/// read or holds no certificate.

	~TlsClientContext();

	TlsClientContext(const TlsClientContext&) = delete;
	TlsClientContext& operator=(const TlsClientContext&) = delete;

	const std::string& trustDescription() const;
		/// "the system trust store" or "CA file <path>", for messages.

	std::shared_ptr<ssl_ctx_st> sslContext() const;
		/// The OpenSSL context, for TlsChannel. The returned pointer keeps it alive.

private:
	TlsClientContext(std::shared_ptr<ssl_ctx_st> pContext, std::string description);

	const std::shared_ptr<ssl_ctx_st> _pContext;
	const std::string _description;
};


} // namespace CrossChat


#endif // CrossChat_Foundation_TlsClientContext_INCLUDED
