//
// ByteStream.h
//
// Library: Foundation
// A reliable, ordered byte pipe on an EventLoop: what protocols sit on.
//


#ifndef CrossChat_Foundation_ByteStream_INCLUDED
#define CrossChat_Foundation_ByteStream_INCLUDED


#include "Poco/Net/SocketAddress.h"
#include <cstddef>
#include <functional>
#include <memory>
#include <string>


namespace CrossChat {


class EventLoop;


class ByteStream
	/// The interface of a connected byte pipe on an EventLoop, implemented by TcpConnection (the
	/// socket) and by TlsChannel (its plaintext side). Protocols written against it (an HTTP
	/// exchange, a framed session, TLS itself) run over either, so transports stack: the chat's
	/// TLS, pinned to a peer ID, can run over a relay tunnel that is itself the plaintext of the
	/// relay's X.509 TLS over TCP.
	///
	/// The contract every implementation keeps (TcpConnection's documentation has the details):
	///   - the connect handler runs once when the stream can carry data (a TCP connect, a TLS
	///     handshake); connected() is true from then until the stream ends;
	///   - data is delivered in order to the data handler; data arriving without one is dropped;
	///   - send() buffers what cannot be written now; it is ignored once closed() is true;
	///     sendNow(), cork() and uncork() are hints for a layer above that coalesces itself;
	///   - close() is graceful (buffered output first), abort(reason) is immediate;
	///   - the close handler runs exactly once, from a task posted to the loop (never from
	///     inside send(), close() or abort()), with an empty reason for an orderly close; no
	///     other handler runs after it, and the handlers are released after it;
	///   - the drain handler runs when buffered output fell back to zero after having exceeded
	///     the high-water mark (backpressure); pauseReading() stops deliveries until
	///     resumeReading().
	///
	/// Thread rules: every method must be called from the stream's loop thread; handlers run on it.
	/// Ownership: streams are held by std::shared_ptr; an open stream is kept alive by its loop
	/// registration (or by the stream it runs over), so an owner may drop its pointer and still
	/// get the close handler.
{
public:
	using Ptr = std::shared_ptr<ByteStream>;
	using ConnectHandler = std::function<void()>;
	using DataHandler = std::function<void(const char* data, std::size_t size)>;
	using CloseHandler = std::function<void(const std::string& reason)>;
		/// reason is empty for an orderly close by either side.
	using DrainHandler = std::function<void()>;

	virtual ~ByteStream();

	virtual EventLoop& loop() const = 0;

	virtual void setConnectHandler(ConnectHandler handler) = 0;
	virtual void setDataHandler(DataHandler handler) = 0;
	virtual void setCloseHandler(CloseHandler handler) = 0;
	virtual void setDrainHandler(DrainHandler handler) = 0;

	virtual void send(const char* data, std::size_t size) = 0;
	void send(const std::string& data);
		/// send(data.data(), data.size()).

	virtual void sendNow(const char* data, std::size_t size);
		/// For output that the caller has coalesced already (one TLS record): a stream with a
		/// fast path writes it at once without a copy when nothing is queued ahead of it
		/// (TcpConnection); the default is send(data, size).

	virtual void cork();
	virtual void uncork();
		/// Between cork() and the matching uncork() (they nest), a stream with a fast path only
		/// queues what send() gets and writes it all at once at the last uncork() (TcpConnection:
		/// the records of one SSL_write leave in one write). The default does nothing: a stream
		/// that coalesces by itself (TlsChannel encrypts what one loop iteration sent in one
		/// SSL_write) needs no hint.

	virtual void close() = 0;
	virtual void abort(const std::string& reason) = 0;

	virtual bool connected() const = 0;
	virtual bool closed() const = 0;
	virtual std::size_t bufferedAmount() const = 0;
		/// Bytes accepted by send() and not yet handed to the network.
	virtual bool aboveHighWaterMark() const = 0;

	virtual void pauseReading() = 0;
	virtual void resumeReading() = 0;

	virtual Poco::Net::SocketAddress localAddress() const = 0;
	virtual Poco::Net::SocketAddress peerAddress() const = 0;
		/// The addresses of the TCP connection at the bottom of the stack.

protected:
	ByteStream() = default;
	ByteStream(const ByteStream&) = delete;
	ByteStream& operator=(const ByteStream&) = delete;
};


} // namespace CrossChat


#endif // CrossChat_Foundation_ByteStream_INCLUDED
