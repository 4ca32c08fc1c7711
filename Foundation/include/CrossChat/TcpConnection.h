//
// TcpConnection.h
//
// Library: Foundation
// A non-blocking TCP connection living on an EventLoop, with an output buffer.
//


#ifndef CrossChat_Foundation_TcpConnection_INCLUDED
#define CrossChat_Foundation_TcpConnection_INCLUDED


#include "CrossChat/ByteQueue.h"
#include "CrossChat/ByteStream.h"
#include "CrossChat/EventLoop.h"
#include "CrossChat/TimerHandle.h"
#include "Poco/Net/SocketAddress.h"
#include "Poco/Net/StreamSocket.h"
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>


namespace CrossChat {


class TcpConnection: public ByteStream, public std::enable_shared_from_this<TcpConnection>
	/// One TCP connection on an EventLoop: asynchronous connect, reads delivered to a handler,
	/// writes buffered and flushed when the socket is writable, graceful close or abort. The
	/// ByteStream at the bottom of every stack of protocols.
	///
	/// Reads are fair: at most MAX_READ_PER_EVENT bytes are delivered per readiness event before
	/// the loop serves other sockets. Writes never raise SIGPIPE (MSG_NOSIGNAL).
	///
	/// Writes are coalesced: what send() queues during one iteration of the loop leaves in one
	/// sendmsg() at the end of that iteration (EventLoop::runAtIterationEnd()), not one system
	/// call per send(). A lone message is written at the end of the iteration it was sent in, so
	/// it waits for nothing but the rest of that iteration. A large send() (DIRECT_WRITE_SIZE or
	/// more) with nothing queued ahead of it goes to the socket at once without being copied, and
	/// COALESCE_LIMIT queued bytes are written at once. Queued output lives in a ByteQueue
	/// (chunks, never moved or erased from the front), written with one sendmsg() per up to 64
	/// chunks.
	///
	/// close() is graceful: buffered output is flushed, the write side shut down (FIN), and the
	/// connection lingers, discarding input, until the peer closes too (or CLOSE_TIMEOUT passes),
	/// so that the kernel never answers late input with a reset that would destroy our last
	/// bytes in flight. abort() resets the connection at once (SO_LINGER 0).
	///
	/// onClose is called exactly once, always from a task posted to the loop (never from inside
	/// send(), close() or abort()), and no other handler runs after it.
	///
	/// Thread rules: every method must be called from the loop thread (asserted); handlers are
	/// called on the loop thread.
	/// Ownership: always held by std::shared_ptr (use connect()/connectFrom()/adopt()); while the
	/// socket is open the loop's registration keeps the connection alive, so a caller may drop its
	/// pointer and still get onClose. Handlers are released after onClose, which breaks
	/// reference cycles through captured pointers.
{
public:
	using Ptr = std::shared_ptr<TcpConnection>;
	using ByteStream::ConnectHandler;
	using ByteStream::DataHandler;
	using ByteStream::CloseHandler;
	using ByteStream::DrainHandler;

	static constexpr std::size_t DEFAULT_HIGH_WATER_MARK = 4 * 1024 * 1024;
	static constexpr std::size_t MAX_READ_PER_EVENT = 256 * 1024;
	static constexpr std::size_t DIRECT_WRITE_SIZE = 64 * 1024;
	static constexpr std::size_t COALESCE_LIMIT = 256 * 1024;
	static constexpr std::chrono::milliseconds CLOSE_TIMEOUT{10000};
		/// How long close() may take to flush and to wait for the peer's FIN before the
		/// connection is torn down.

	static Ptr connect(EventLoop& loop, const Poco::Net::SocketAddress& address,
		std::chrono::milliseconds timeout = std::chrono::milliseconds(10000));
		/// Starts a non-blocking connect. onConnect runs when it succeeds; onClose(reason) when it
		/// fails or times out. Set the handlers right after this call (nothing runs before the
		/// loop regains control). Must be called from the loop thread.

	static Ptr connectFrom(EventLoop& loop, const Poco::Net::SocketAddress& local,
		const Poco::Net::SocketAddress& address, std::chrono::milliseconds timeout);
		/// As connect(), bound first to local with SO_REUSEADDR and SO_REUSEPORT (TCP hole punching).
		/// A failing bind is reported through onClose like a failing connect.

	static Ptr adopt(EventLoop& loop, const Poco::Net::StreamSocket& socket);
		/// Takes a connected socket (for example from TcpListener); made non-blocking here.
		/// Reading starts with the first turn of the loop, so set the handlers right after this
		/// call. Must be called from the loop thread.

	~TcpConnection() override;

	TcpConnection(const TcpConnection&) = delete;
	TcpConnection& operator=(const TcpConnection&) = delete;

	void setConnectHandler(ConnectHandler handler) override;
	void setDataHandler(DataHandler handler) override;
		/// Data arriving while no data handler is set is discarded.
	void setCloseHandler(CloseHandler handler) override;
	void setDrainHandler(DrainHandler handler) override;
		/// Called when the output buffer has been fully written after having exceeded the
		/// high-water mark (backpressure). Never called from inside send() or close().
		///
		/// Handlers may be replaced at any time, also from inside a handler. Setting a handler
		/// after onClose has been delivered does nothing (it would never be called or released).

	void send(const char* data, std::size_t size) override;
	void send(const std::string& data);
	void send(std::string&& data);
		/// Queues data; it is written at the end of this loop iteration together with
		/// everything else sent meanwhile, or at once if large (see the class comment); while
		/// connecting, once connected. The rvalue overload takes over a large string's buffer
		/// instead of copying it. Ignored after close() or abort(), and once the connection has
		/// ended. A write error ends the connection; onClose(reason) follows on a later turn.

	void sendNow(const char* data, std::size_t size) override;
		/// For output that the caller has coalesced already (TlsChannel's single record at the
		/// end of an iteration): written at once, without a copy, if nothing is queued ahead of
		/// it and the connection is not corked; otherwise queued like send().

	void cork() override;
	void uncork() override;
		/// Between cork() and the matching uncork() (they nest), send() only queues: the bytes
		/// are not written, not even when COALESCE_LIMIT is reached, until the last uncork()
		/// writes everything queued at once. TlsChannel corks around an SSL_write so that all
		/// of its records leave in one write.

	void close() override;
		/// Flushes buffered output, then shuts down the write side and closes; onClose("") follows
		/// once the peer has closed too. Input arriving after close() is discarded. While the connect
		/// is still pending, buffered output is sent once connected; with nothing buffered the
		/// connection ends at once.

	void abort(const std::string& reason) override;
		/// Closes at once with a reset, dropping buffered output; onClose(reason) follows (on a
		/// later turn). Does nothing if the connection has already ended.

	bool connected() const override;
		/// True once the connect has succeeded (or the socket was adopted) and until the
		/// connection ends.
	bool closed() const override;
		/// True once close() or abort() was called or the connection has ended: send() is ignored.
	std::size_t bufferedAmount() const override;
		/// Bytes accepted by send() but not yet written to the socket (also those waiting for
		/// the end of the iteration).
	bool aboveHighWaterMark() const override;
	void setHighWaterMark(std::size_t bytes);

	void pauseReading() override;
	void resumeReading() override;
		/// Flow control: stop/restart delivering data (the kernel buffer then fills and TCP
		/// pushes back on the sender). A paused connection notices the peer's FIN only after
		/// resumeReading(); resets and socket errors are still reported.

	Poco::Net::SocketAddress localAddress() const override;
		/// The local address; a wildcard address if the socket is not bound (or already closed).
	Poco::Net::SocketAddress peerAddress() const override;
		/// The address connected to (for an adopted socket: the peer's address at adoption, or a
		/// wildcard address if the peer had already reset the connection).
	EventLoop& loop() const override;
	std::uint64_t bytesReceived() const;
	std::uint64_t bytesSent() const;
	std::uint64_t writeCount() const;
		/// System calls that wrote to the socket (with coalescing, about one per loop iteration
		/// that sent anything; for statistics and tests).

private:
	TcpConnection(EventLoop& loop, const Poco::Net::StreamSocket& socket, bool connected);
	static Ptr startConnect(EventLoop& loop, Poco::Net::StreamSocket socket,
		const Poco::Net::SocketAddress& address, std::chrono::milliseconds timeout);
	void registerWithLoop();
	void onSocketEvent(int events);
	void handleRead();
	long readOnce(char* buffer, std::size_t size);
	void handleError();
	void finishConnect();
	bool canWriteNow() const;
	void queued();
	void flushOutput(bool mayCallHandlers);
	void notifyDrained();
	std::size_t writeDirect(const char* data, std::size_t size);
	void maybeFinishClose();
	void startCloseTimer();
	void updateInterest();
	void shutdown(const std::string& reason);
	void deliverClose(const std::string& reason, CloseHandler handler);
	void releaseHandlers();

	EventLoop& _loop;
	Poco::Net::StreamSocket _socket;
	Poco::Net::SocketAddress _peerAddress;
	bool _connected;
	bool _registered = false;
	bool _closeRequested = false;   ///< close() called, or the peer's FIN came with output pending.
	bool _sentFin = false;          ///< Write side shut down; lingering for the peer's FIN.
	bool _peerFin = false;          ///< The peer's FIN has been read.
	bool _closed = false;           ///< Socket closed; onClose posted.
	bool _closeDelivered = false;
	bool _readingPaused = false;
	bool _wasAboveHighWater = false;
	bool _writeBlocked = false;     ///< The socket refused bytes: wait until it is writable.
	bool _flushQueued = false;      ///< A flush waits for the end of the loop iteration.
	int _corked = 0;                ///< cork() nesting depth.
	int _interest = 0;              ///< The event mask registered with the loop.
	ByteQueue _output;
	std::size_t _highWaterMark = DEFAULT_HIGH_WATER_MARK;
	std::uint64_t _bytesReceived = 0;
	std::uint64_t _bytesSent = 0;
	std::uint64_t _writeCount = 0;
	TimerHandle _connectTimer;
	TimerHandle _closeTimer;
	ConnectHandler _onConnect;
	std::shared_ptr<const DataHandler> _onData;   ///< Shared: a call keeps it alive without a copy.
	std::shared_ptr<const EventLoop::Task> _pFlushTask;   ///< Queued at the end of iterations.
	CloseHandler _onClose;
	DrainHandler _onDrain;
};


} // namespace CrossChat


#endif // CrossChat_Foundation_TcpConnection_INCLUDED
