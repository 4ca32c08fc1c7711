//
// TlsServerContext.h
//
// Library: Foundation
// An X.509 certificate chain and private key for TLS servers, shared and reloadable.
//


#ifndef CrossChat_Foundation_TlsServerContext_INCLUDED
#define CrossChat_Foundation_TlsServerContext_INCLUDED


#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>


struct ssl_ctx_st;


namespace CrossChat {


class TlsServerContext
	/// What a TLS server presents in X.509 mode (TlsChannel::server(connection, context)): an
	/// ordinary certificate chain and its private key, loaded from PEM files, for example the
	/// fullchain.pem and privkey.pem that an ACME client such as certbot writes. The key may be
	/// RSA, ECDSA or Ed25519. TLS 1.2 and 1.3 are accepted (clients behind real proxies and
	/// platforms may speak 1.2), with ECDHE key exchange and AEAD ciphers only, no
	/// renegotiation, no compression; no client certificate is requested. Resumption with TLS
	/// 1.3 session tickets is on (the keys live in the current OpenSSL context, so a reload
	/// invalidates the tickets issued before it).
	///
	/// reload() reads the files again and, only if they are usable, swaps in the new
	/// certificate and key atomically: connections created afterwards present the new
	/// certificate, connections already open keep the one they started with and are not
	/// disturbed. A failed reload throws and keeps the old certificate (a server's SIGHUP
	/// handler logs the reason and serves on).
	///
	/// Thread rules: every method is safe to call from any thread, and one context serves
	/// channels on several event-loop threads at once.
	/// Ownership: held by std::shared_ptr; each TlsChannel keeps the OpenSSL context it was
	/// created with alive for as long as it needs it.
{
public:
	using Ptr = std::shared_ptr<TlsServerContext>;

	static Ptr fromFiles(const std::string& certificateChainFile, const std::string& privateKeyFile);
		/// Loads the PEM certificate chain (the server's certificate first, then the
		/// intermediates, as in fullchain.pem) and the PEM private key (PKCS#8 or traditional,
		/// not encrypted). Throws TlsConfigException naming the file and the problem: missing or
		/// unreadable file, no certificate, an encrypted or malformed key, or a key that does
		/// not belong to the certificate.

	~TlsServerContext();

	TlsServerContext(const TlsServerContext&) = delete;
	TlsServerContext& operator=(const TlsServerContext&) = delete;

	void reload();
		/// Loads the same two files again and makes them current for new connections. On any
		/// error throws TlsConfigException (as fromFiles()) and the current certificate stays.

	const std::string& certificateChainFile() const;
	const std::string& privateKeyFile() const;

	std::string summary() const;
		/// The current certificate as one line, for logs and status pages:
		/// "subject CN=…, issuer CN=…, valid <from> to <until>, key EC P-256".

	std::chrono::system_clock::time_point notAfter() const;
		/// The end of the current certificate's validity period.

	std::uint64_t generation() const;
		/// 1 after fromFiles(); each successful reload() adds one.

	std::shared_ptr<ssl_ctx_st> sslContext() const;
		/// The current OpenSSL context, for TlsChannel. Does not transfer ownership of the
		/// context object; the returned pointer keeps it alive.

private:
	struct Loaded;

	TlsServerContext(std::string certificateChainFile, std::string privateKeyFile);
	static std::shared_ptr<const Loaded> load(const std::string& chainFile, const std::string& keyFile);

	const std::string _certificateChainFile;
	const std::string _privateKeyFile;
	mutable std::mutex _mutex;
	std::shared_ptr<const Loaded> _pCurrent;   ///< Replaced whole under _mutex.
	std::uint64_t _generation = 0;
};


} // namespace CrossChat


#endif // CrossChat_Foundation_TlsServerContext_INCLUDED
