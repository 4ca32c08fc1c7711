//
// RelayStream.h
//
// Library: Relay
// Internal header: the byte stream of one client connection at the relay, plain TCP or TLS,
// as the HTTP front, control channels and tunnels use it.
// This is an internal header file, you should not include this.
//


#ifndef CrossChat_Relay_RelayStream_INCLUDED
#define CrossChat_Relay_RelayStream_INCLUDED


#include "CrossChat/EventLoop.h"
#include "CrossChat/TcpConnection.h"
#include "CrossChat/TlsChannel.h"
#include "CrossChat/TlsServerContext.h"
#include <cstddef>
#include <functional>
#include <memory>
#include <string>


namespace CrossChat {
namespace Relay {


class RelayStream
	/// What the relay's sessions need of a connection: plaintext in and out, flow control,
	/// graceful close and reset. PlainStream runs it over a TcpConnection; a TLS stream runs
	/// the same over the relay's certificate, so the HTTP front, control channels and tunnels
	/// do not know which they have. A session takes a stream over from the previous owner (the
	/// HTTP front after an upgrade) by setting its own handlers.
	///
	/// Thread rules: every method must be called from the stream's loop thread; handlers run on it.
	/// Ownership: held by std::shared_ptr; the underlying connection's loop registration keeps
	/// it alive while the connection is open (as for TcpConnection).
{
public:
	using Ptr = std::shared_ptr<RelayStream>;
	using DataHandler = std::function<void(const char* data, std::size_t size)>;
	using CloseHandler = std::function<void(const std::string& reason)>;
	using DrainHandler = std::function<void()>;

	virtual ~RelayStream();

	virtual void setHandlers(DataHandler onData, CloseHandler onClose, DrainHandler onDrain) = 0;
		/// Replaces all three handlers (also from inside a handler). onDrain: the output has been
		/// written out after having been above the high-water mark.

	virtual void send(const char* data, std::size_t size) = 0;
	void send(const std::string& data);
	virtual void close() = 0;
		/// Flushes, then closes gracefully; onClose follows.
	virtual void abort(const std::string& reason) = 0;
		/// Resets at once; onClose(reason) follows.
	virtual void pauseReading() = 0;
	virtual void resumeReading() = 0;
	virtual std::size_t bufferedAmount() const = 0;
		/// Bytes accepted by send() and not yet written to the socket (ciphertext for TLS).
	virtual bool aboveHighWaterMark() const = 0;
	virtual void setHighWaterMark(std::size_t bytes) = 0;
	virtual bool closed() const = 0;
	virtual bool secure() const = 0;
	virtual EventLoop& loop() const = 0;
};


class PlainStream: public RelayStream
	/// A RelayStream that is just a TcpConnection.
{
public:
	static Ptr create(const TcpConnection::Ptr& pConnection);

	void setHandlers(DataHandler onData, CloseHandler onClose, DrainHandler onDrain) override;
	using RelayStream::send;
	void send(const char* data, std::size_t size) override;
	void close() override;
	void abort(const std::string& reason) override;
	void pauseReading() override;
	void resumeReading() override;
	std::size_t bufferedAmount() const override;
	bool aboveHighWaterMark() const override;
	void setHighWaterMark(std::size_t bytes) override;
	bool closed() const override;
	bool secure() const override;
	EventLoop& loop() const override;

private:
	explicit PlainStream(const TcpConnection::Ptr& pConnection);

	TcpConnection::Ptr _pConnection;
};


class TlsStream: public RelayStream
	/// A RelayStream over a TlsChannel in X.509 server mode: the relay's certificate
	/// (TlsServerContext, reloadable for new connections) on the event loop. Plaintext flows
	/// through send() and the data handler; flow control and the high-water mark apply to the
	/// ciphertext on the TcpConnection underneath. What the client sends before the handshake
	/// completes is queued by TlsChannel; the HTTP front's first-byte timeout covers the
	/// handshake too, as nothing reaches it before.
{
public:
	static Ptr create(const TcpConnection::Ptr& pConnection, const TlsServerContext::Ptr& pContext,
		const std::string& ciphertextAlreadyRead);
		/// Starts the server side of the handshake; ciphertextAlreadyRead holds bytes read from
		/// the connection before (after a PROXY header). Throws CryptoException.

	void setHandlers(DataHandler onData, CloseHandler onClose, DrainHandler onDrain) override;
	using RelayStream::send;
	void send(const char* data, std::size_t size) override;
	void close() override;
	void abort(const std::string& reason) override;
	void pauseReading() override;
	void resumeReading() override;
	std::size_t bufferedAmount() const override;
	bool aboveHighWaterMark() const override;
	void setHighWaterMark(std::size_t bytes) override;
	bool closed() const override;
	bool secure() const override;
	EventLoop& loop() const override;

private:
	TlsStream(const TcpConnection::Ptr& pConnection, const TlsChannel::Ptr& pChannel);

	TcpConnection::Ptr _pConnection;   ///< Under the channel (it holds it too): the ciphertext's buffer.
	TlsChannel::Ptr _pChannel;
	bool _closed = false;
};


} } // namespace CrossChat::Relay


#endif // CrossChat_Relay_RelayStream_INCLUDED
