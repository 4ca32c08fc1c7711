//
// TlsChannel.h
//
// Library: Foundation
// TLS over a ByteStream: pinned to peer IDs (chat sessions) or with X.509 certificates (relays).
//


#ifndef CrossChat_Foundation_TlsChannel_INCLUDED
#define CrossChat_Foundation_TlsChannel_INCLUDED


#include "CrossChat/ByteStream.h"
#include "CrossChat/Identity.h"
#include "CrossChat/PeerId.h"
#include "CrossChat/PublicKey.h"
#include "CrossChat/TcpConnection.h"
#include "CrossChat/TlsClientContext.h"
#include "CrossChat/TlsServerContext.h"
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>


struct ssl_ctx_st;


namespace CrossChat {


class TlsChannel: public ByteStream, public std::enable_shared_from_this<TlsChannel>
	/// Runs OpenSSL on top of a ByteStream through a BIO of its own (Poco 1.11's non-blocking
	/// SecureStreamSocket is unreliable before 1.12, see docs/ARCHITECTURE.md), so it works on the
	/// event loop and over any byte pipe: a TcpConnection (a direct connection, a relay tunnel) or
	/// another TlsChannel. It is itself a ByteStream (its plaintext side: connected() once the
	/// handshake has succeeded), so TLS layers stack: the chat's pinned TLS runs inside the
	/// relay's X.509 TLS when the relay is reached as https://.
	///
	/// OpenSSL never touches the socket: its BIO reads the ciphertext straight from the buffer
	/// the transport delivers, and its records go to the transport's output. Over a
	/// TcpConnection a flush that makes one record is written at once without a copy
	/// (ByteStream::sendNow()), and the records of a larger SSL_write are gathered on the corked
	/// connection and written together (ByteStream::cork()), which the loop flushes once per
	/// iteration. Over another TlsChannel the records are that channel's plaintext, coalesced
	/// by it in turn.
	///
	/// Two modes, chosen by the factory:
	///
	/// Pinned mode (client(connection, identity, peer), server(connection, identity)), for chat
	/// sessions: TLS 1.3 only, mutual authentication, without session tickets or resumption (a
	/// resumed session would skip the certificate we pin). Both sides present the self-signed
	/// certificate of their Identity. The client must name the PeerId it expects; the server
	/// learns the client's PeerId from its certificate. In both directions the handshake only
	/// succeeds if the peer's certificate holds an Ed25519 key (and, on the client, one whose
	/// SubjectPublicKeyInfo hashes to the expected ID); the peer proves it holds the private key
	/// in the handshake itself. A mismatch fails the handshake with a clear reason ("peer
	/// presented key of <id>, expected <id>"), logged as a warning (logger "CrossChat.Tls"); the
	/// server then sees a TLS alert. The ReadyHandler reports the verified PeerId and key.
	///
	/// X.509 mode (client(connection, clientContext, host), server(connection, serverContext)),
	/// for relays reached as https://: the server presents an ordinary certificate chain from a
	/// TlsServerContext (reloadable); the client verifies it against a TlsClientContext (the
	/// system trust store or a CA file) and checks that it is valid for host, which it also
	/// sends as SNI. TLS 1.2 or 1.3, no client certificate. A failed verification fails the
	/// handshake with a reason that names the host and the problem, for example "TLS
	/// certificate verification failed for relay.example.org: certificate has expired (server
	/// certificate CN=relay.example.org, issued by CN=Example CA)"; a name mismatch lists the
	/// names the certificate is for. The ReadyHandler is not called in this mode (there is no
	/// peer ID); the EstablishedHandler is.
	///
	/// onClose is called exactly once, on a later turn of the loop (never from inside send(),
	/// close() or abort()); no other handler runs after it. Its reason is empty only for an orderly
	/// close: close() on this side, or the peer's close_notify. A connection that ends without
	/// close_notify, or during the handshake, reports a reason.
	///
	/// Pinned mode builds one SSL_CTX per Identity and role on first use and keeps it with the
	/// Identity (building one costs more than a handshake). X.509 mode uses the context
	/// object's SSL_CTX current at creation (a TlsServerContext::reload() affects only channels
	/// created afterwards).
	///
	/// Thread rules: every method must be called from the loop thread of the connection;
	/// handlers run on it.
	/// Ownership: held by std::shared_ptr; keeps its transport alive and installs itself as the
	/// transport's handlers, so the transport (and in the end the TCP connection's loop
	/// registration) keeps both alive while it is open: a caller may drop its pointer and still
	/// get onClose. Does not keep the Identity (OpenSSL holds its own references to the key and
	/// certificate). Handlers are released after onClose.
{
public:
	using Ptr = std::shared_ptr<TlsChannel>;
	using ReadyHandler = std::function<void(const PeerId& peer, const PublicKey& key)>;
	using EstablishedHandler = std::function<void()>;
	using ByteStream::ConnectHandler;
	using ByteStream::DataHandler;
	using ByteStream::CloseHandler;
	using ByteStream::DrainHandler;

	static constexpr std::size_t READ_BUFFER_SIZE = 64 * 1024;
		/// Plaintext is delivered in pieces of at most this size: as much as the ciphertext at
		/// hand decrypts to (several TLS records per piece when they arrive together).
	static constexpr std::size_t COALESCE_LIMIT = 64 * 1024;
		/// Plaintext queued in one iteration up to this size is encrypted at the end of the
		/// iteration in one SSL_write; a send() that would pass it is encrypted at once.

	static Ptr client(const ByteStream::Ptr& connection, const Identity& identity, const PeerId& expectedPeer);
		/// Starts the handshake as the TLS client once the transport is connected (at once if it
		/// already is). Throws CryptoException if OpenSSL cannot set up the session.

	static Ptr server(const ByteStream::Ptr& connection, const Identity& identity);
		/// Waits for the client's handshake. Throws CryptoException if OpenSSL cannot set up the
		/// session.

	static Ptr client(const ByteStream::Ptr& connection, const TlsClientContext::Ptr& context, const std::string& host);
		/// X.509 mode: starts the handshake once connected, verifies the server's certificate
		/// chain against context and that it is valid for host: a DNS name (also sent as SNI) or
		/// an IPv4/IPv6 address literal (IPv6 with or without brackets; matched against the
		/// certificate's iPAddress entries, no SNI). Throws Poco::InvalidArgumentException for an
		/// empty host or a null context, CryptoException if OpenSSL cannot set up the session.

	static Ptr server(const ByteStream::Ptr& connection, const TlsServerContext::Ptr& context);
		/// X.509 mode: presents the certificate chain that is current in context now and waits
		/// for the client's handshake. Throws Poco::InvalidArgumentException for a null context,
		/// CryptoException if OpenSSL cannot set up the session.

	~TlsChannel() override;

	TlsChannel(const TlsChannel&) = delete;
	TlsChannel& operator=(const TlsChannel&) = delete;

	void setReadyHandler(ReadyHandler handler);
		/// Pinned mode: called once the handshake has succeeded and the peer is verified.
	void setEstablishedHandler(EstablishedHandler handler);
		/// Both modes: called once the handshake has succeeded and the peer is verified (in
		/// pinned mode right after the ReadyHandler).
	void setConnectHandler(ConnectHandler handler) override;
		/// ByteStream's connect handler: called once the handshake has succeeded, right after the
		/// EstablishedHandler.
	void setDataHandler(DataHandler handler) override;
	void setCloseHandler(CloseHandler handler) override;
		/// reason is empty for an orderly close.
	void setDrainHandler(DrainHandler handler) override;
		/// Called when the transport's output drained after exceeding its high-water mark.

	void receiveCiphertext(const std::string& bytes);
		/// Processes bytes that were read from the connection before this channel took it over
		/// (for example with an HTTP upgrade response), as if they had just arrived. Set the
		/// handlers first, and call it before the loop reads more from the connection.

	void send(const std::string& plaintext);
	void send(const char* data, std::size_t size) override;
		/// Queues plaintext; everything sent during one loop iteration is encrypted together at
		/// the end of the iteration (one SSL_write: records of up to 16 KiB, not one record per
		/// message) and leaves in the connection's one write of that iteration. A lone message
		/// thus waits only for the rest of its iteration. Data sent before the handshake
		/// completes is queued and sent right after it. Ignored after close() or abort().

	void close() override;
		/// Sends close_notify, flushes and closes the transport. Before the handshake has
		/// completed, queued data is sent first if the handshake succeeds.
	void abort(const std::string& reason) override;
		/// Resets the transport at once, dropping unsent data; onClose(reason) follows.

	bool ready() const;
		/// True once the handshake has succeeded, until the channel closes.
	bool connected() const override;
		/// ready().
	bool closed() const override;
		/// True once close() or abort() was called or the channel has ended.
	std::size_t bufferedAmount() const override;
		/// Plaintext queued here (until the end of the iteration, or until the handshake
		/// completes) plus the transport's buffered bytes: for backpressure, together with the
		/// drain handler and aboveHighWaterMark().
	bool aboveHighWaterMark() const override;
		/// The transport's.
	void pauseReading() override;
	void resumeReading() override;
		/// Stop/restart delivering plaintext (the transport is paused too).
	Poco::Net::SocketAddress localAddress() const override;
	Poco::Net::SocketAddress peerAddress() const override;
		/// The transport's.
	EventLoop& loop() const override;

	const std::optional<PeerId>& peerId() const;
		/// The verified peer ID; empty before the handshake has succeeded.
	const ByteStream::Ptr& connection() const;
		/// The transport this channel runs over.
	std::string protocolVersion() const;
		/// "TLSv1.3" or "TLSv1.2" once ready; empty before.
	const std::string& peerCertificateSubject() const;
		/// X.509 client: the verified server certificate's subject (RFC 2253) once ready;
		/// otherwise empty.

private:
	class Impl;

	TlsChannel(const ByteStream::Ptr& connection, std::shared_ptr<ssl_ctx_st> pContext, bool isServer);
	static std::shared_ptr<ssl_ctx_st> pinnedContext(const Identity& identity, bool isServer);
	void start();
	void beginHandshake();
	void onCiphertext(const char* data, std::size_t size);
	void onConnectionClosed(const std::string& reason);
	void onTransportDrained();
	void doHandshake();
	void handshakeDone();
	void x509HandshakeDone();
	void established(const PublicKey* pKey);
	void readPlaintext();
	void writePlaintext(const char* data, std::size_t size);
	void scheduleFlush();
	void flushPlaintext();
	void fail(const std::string& reason);
	void deliverClose(const std::string& reason);

	std::unique_ptr<Impl> _pImpl;
	std::optional<PeerId> _peerId;
};


} // namespace CrossChat


#endif // CrossChat_Foundation_TlsChannel_INCLUDED
