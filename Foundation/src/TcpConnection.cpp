//
// TcpConnection.cpp
//
// Library: Foundation
//


#include "CrossChat/TcpConnection.h"
#include "Poco/Error.h"
#include "Poco/Exception.h"
#include "Poco/Logger.h"
#include "Poco/Net/NetException.h"
#include "Poco/Net/SocketImpl.h"
#include <algorithm>
#include <array>
#include <cerrno>
#include <climits>
#include <sys/socket.h>
#include <sys/uio.h>


namespace CrossChat {


namespace {


constexpr std::size_t READ_CHUNK = 64 * 1024;
constexpr std::size_t MAX_IOV = 64;                      ///< iovec entries per sendmsg().
constexpr std::size_t MAX_WRITE = 1024 * 1024 * 1024;    ///< Bytes per sendmsg().


Poco::Logger& logger()
{
	static Poco::Logger& logger = Poco::Logger::get("CrossChat.Net");
	return logger;
}


std::string describeError(int code)
{
	switch (code)
	{
	case ECONNRESET:
		return "connection reset by peer";
	case EPIPE:
		return "connection closed by peer (broken pipe)";
	case ETIMEDOUT:
		return "connection timed out";
	default:
		return Poco::Error::getMessage(code);
	}
}


std::string describe(const Poco::Exception& exc)
{
	switch (exc.code())
	{
	case ECONNRESET:
	case EPIPE:
	case ETIMEDOUT:
		return describeError(exc.code());
	default:
		return exc.displayText();
	}
}


} // namespace


constexpr std::size_t TcpConnection::DEFAULT_HIGH_WATER_MARK;
constexpr std::size_t TcpConnection::MAX_READ_PER_EVENT;
constexpr std::size_t TcpConnection::DIRECT_WRITE_SIZE;
constexpr std::size_t TcpConnection::COALESCE_LIMIT;
constexpr std::chrono::milliseconds TcpConnection::CLOSE_TIMEOUT;


TcpConnection::TcpConnection(EventLoop& loop, const Poco::Net::StreamSocket& socket, bool connected):
	_loop(loop),
	_socket(socket),
	_connected(connected)
{
}


TcpConnection::~TcpConnection()
{
	// The loop's registration holds a reference to this object, so an open connection is only
	// destroyed together with its loop; the socket then closes with its last reference.
}


TcpConnection::Ptr TcpConnection::connect(EventLoop& loop, const Poco::Net::SocketAddress& address,
	std::chrono::milliseconds timeout)
{
	loop.assertInLoopThread();
	return startConnect(loop, Poco::Net::StreamSocket(address.family()), address, timeout);
}


TcpConnection::Ptr TcpConnection::connectFrom(EventLoop& loop, const Poco::Net::SocketAddress& local,
	const Poco::Net::SocketAddress& address, std::chrono::milliseconds timeout)
{
	loop.assertInLoopThread();
	Poco::Net::StreamSocket socket(address.family());
	try
	{
		socket.impl()->bind(local, true, true);
	}
	catch (const Poco::Exception& exc)
	{
		Ptr pConnection(new TcpConnection(loop, socket, false));
		pConnection->_peerAddress = address;
		pConnection->shutdown("cannot bind to " + local.toString() + ": " + exc.displayText());
		return pConnection;
	}
	return startConnect(loop, socket, address, timeout);
}


TcpConnection::Ptr TcpConnection::startConnect(EventLoop& loop, Poco::Net::StreamSocket socket,
	const Poco::Net::SocketAddress& address, std::chrono::milliseconds timeout)
{
	Ptr pConnection(new TcpConnection(loop, socket, false));
	pConnection->_peerAddress = address;
	try
	{
		socket.setNoDelay(true);
		socket.connectNB(address);
	}
	catch (const Poco::Exception& exc)
	{
		pConnection->shutdown("connect to " + address.toString() + " failed: " + exc.displayText());
		return pConnection;
	}
	pConnection->registerWithLoop();
	std::weak_ptr<TcpConnection> weak = pConnection;
	pConnection->_connectTimer = loop.runAfter(timeout, [weak, address, timeout] {
		if (auto self = weak.lock())
		{
			if (!self->_connected)
				self->shutdown("connect to " + address.toString() + " timed out after "
					+ std::to_string(timeout.count()) + " ms");
		}
	});
	return pConnection;
}


TcpConnection::Ptr TcpConnection::adopt(EventLoop& loop, const Poco::Net::StreamSocket& socket)
{
	loop.assertInLoopThread();
	Ptr pConnection(new TcpConnection(loop, socket, true));
	try
	{
		pConnection->_socket.setBlocking(false);
	}
	catch (const Poco::Exception& exc)
	{
		pConnection->shutdown(describe(exc));
		return pConnection;
	}
	try
	{
		pConnection->_socket.setNoDelay(true);
		pConnection->_peerAddress = pConnection->_socket.peerAddress();
	}
	catch (const Poco::Exception& exc)
	{
		// ENOTCONN: the peer reset the connection before it was accepted. The first read
		// reports that reset.
		logger().debug("adopted socket has no peer address: %s", exc.displayText());
	}
	pConnection->registerWithLoop();
	return pConnection;
}


void TcpConnection::registerWithLoop()
{
	_interest = _connected ? EventLoop::SOCKET_READABLE : EventLoop::SOCKET_WRITABLE;
	// The registration owns a strong reference: the connection lives while its socket is watched.
	// When the registration goes without shutdown() — the loop is destroyed while the connection
	// is open, or lingers for the peer's FIN after close() — the handlers go with it: they may
	// own what owns this connection (a TlsChannel does), and that cycle would outlive the loop.
	auto self = shared_from_this();
	// (shutdown() removes the registration itself, after setting _closed and before it takes
	// the close handler out: the handlers stay for it.)
	std::shared_ptr<TcpConnection> registration(self.get(), [self](TcpConnection* pConnection) {
		if (!pConnection->_closed) pConnection->releaseHandlers();
	});
	_loop.addSocket(_socket, _interest, [registration](int events) { registration->onSocketEvent(events); });
	_registered = true;
}


void TcpConnection::setConnectHandler(ConnectHandler handler)
{
	_loop.assertInLoopThread();
	if (!_closeDelivered) _onConnect = std::move(handler);
}


void TcpConnection::setDataHandler(DataHandler handler)
{
	_loop.assertInLoopThread();
	if (!_closeDelivered) _onData = handler ? std::make_shared<const DataHandler>(std::move(handler)) : nullptr;
}


void TcpConnection::setCloseHandler(CloseHandler handler)
{
	_loop.assertInLoopThread();
	if (!_closeDelivered) _onClose = std::move(handler);
}


void TcpConnection::setDrainHandler(DrainHandler handler)
{
	_loop.assertInLoopThread();
	if (!_closeDelivered) _onDrain = std::move(handler);
}


void TcpConnection::send(const std::string& data)
{
	send(data.data(), data.size());
}


void TcpConnection::send(std::string&& data)
{
	_loop.assertInLoopThread();
	if (_closed || _closeRequested || data.empty()) return;
	if (data.size() >= DIRECT_WRITE_SIZE && canWriteNow())
	{
		send(data.data(), data.size());
		return;
	}
	_output.append(std::move(data));
	queued();
}


void TcpConnection::send(const char* data, std::size_t size)
{
	_loop.assertInLoopThread();
	if (_closed || _closeRequested || size == 0) return;
	if (size >= DIRECT_WRITE_SIZE && canWriteNow())
	{
		// Large and nothing ahead of it: straight to the socket, without a copy.
		const std::size_t written = writeDirect(data, size);
		if (_closed || written == size) return;
		data += written;
		size -= written;
	}
	_output.append(data, size);
	queued();
}


void TcpConnection::sendNow(const char* data, std::size_t size)
{
	_loop.assertInLoopThread();
	if (_closed || _closeRequested || size == 0) return;
	if (canWriteNow())
	{
		const std::size_t written = writeDirect(data, size);
		if (_closed || written == size) return;
		data += written;
		size -= written;
	}
	_output.append(data, size);
	queued();
}


bool TcpConnection::canWriteNow() const
{
	return _connected && !_writeBlocked && _corked == 0 && _output.empty();
}


void TcpConnection::cork()
{
	_loop.assertInLoopThread();
	++_corked;
}


void TcpConnection::uncork()
{
	_loop.assertInLoopThread();
	if (_corked == 0 || --_corked > 0) return;
	if (!_closed && _connected && !_writeBlocked && !_output.empty()) flushOutput(false);
}


void TcpConnection::queued()
	/// After bytes were added to _output: flush at the end of the iteration (coalescing), or at
	/// once if a lot is queued, or when the socket becomes writable if it is full; while corked,
	/// uncork() does it.
{
	if (aboveHighWaterMark()) _wasAboveHighWater = true;
	if (_corked > 0) return;
	if (!_connected)
	{
		updateInterest();   // the connect completion flushes
		return;
	}
	if (_writeBlocked)
	{
		updateInterest();   // wait for writability (a direct write may just have filled the socket)
		return;
	}
	if (_output.size() >= COALESCE_LIMIT)
	{
		flushOutput(false);
		return;
	}
	if (!_flushQueued)
	{
		_flushQueued = true;
		if (!_pFlushTask)
		{
			std::weak_ptr<TcpConnection> weak = shared_from_this();
			_pFlushTask = std::make_shared<const EventLoop::Task>([weak] {
				if (auto self = weak.lock())
				{
					self->_flushQueued = false;
					if (!self->_closed && !self->_writeBlocked) self->flushOutput(true);
				}
			});
		}
		_loop.runAtIterationEnd(_pFlushTask);
	}
}


void TcpConnection::close()
{
	_loop.assertInLoopThread();
	if (_closed || _closeRequested) return;
	_closeRequested = true;
	if (!_connected && bufferedAmount() == 0)
	{
		shutdown("");
		return;
	}
	startCloseTimer();
	if (_connected && !_writeBlocked && !_output.empty())
		flushOutput(false);   // finishes the close too once everything is out
	else
		maybeFinishClose();
	if (!_closed) updateInterest();
}


void TcpConnection::abort(const std::string& reason)
{
	_loop.assertInLoopThread();
	if (_closed) return;
	if (_connected)
	{
		try
		{
			_socket.setLinger(true, 0);   // close() then sends a reset and drops unsent data
		}
		catch (const Poco::Exception&)
		{
			// The socket is already broken: closing it is all that is left to do.
		}
	}
	shutdown(reason);
}


bool TcpConnection::connected() const
{
	return _connected && !_closed;
}


bool TcpConnection::closed() const
{
	return _closed || _closeRequested;
}


std::size_t TcpConnection::bufferedAmount() const
{
	return _output.size();
}


bool TcpConnection::aboveHighWaterMark() const
{
	return bufferedAmount() > _highWaterMark;
}


void TcpConnection::setHighWaterMark(std::size_t bytes)
{
	_highWaterMark = bytes;
}


void TcpConnection::pauseReading()
{
	_loop.assertInLoopThread();
	_readingPaused = true;
	updateInterest();
}


void TcpConnection::resumeReading()
{
	_loop.assertInLoopThread();
	_readingPaused = false;
	updateInterest();
}


Poco::Net::SocketAddress TcpConnection::localAddress() const
{
	try
	{
		return _socket.address();
	}
	catch (const Poco::Exception&)
	{
		return Poco::Net::SocketAddress(_peerAddress.family());
	}
}


Poco::Net::SocketAddress TcpConnection::peerAddress() const
{
	return _peerAddress;
}


EventLoop& TcpConnection::loop() const
{
	return _loop;
}


std::uint64_t TcpConnection::bytesReceived() const
{
	return _bytesReceived;
}


std::uint64_t TcpConnection::bytesSent() const
{
	return _bytesSent;
}


std::uint64_t TcpConnection::writeCount() const
{
	return _writeCount;
}


void TcpConnection::onSocketEvent(int events)
{
	if (_closed) return;
	if (!_connected)
	{
		finishConnect();
		return;
	}
	if (events & EventLoop::SOCKET_READABLE)
		handleRead();
	else if (events & EventLoop::SOCKET_ERROR)
		handleError();
	if (!_closed && (events & EventLoop::SOCKET_WRITABLE) && _writeBlocked)
	{
		_writeBlocked = false;
		flushOutput(true);
	}
}


void TcpConnection::finishConnect()
{
	int error = 0;
	try
	{
		error = _socket.impl()->socketError();
	}
	catch (const Poco::Exception& exc)
	{
		error = exc.code() ? exc.code() : EIO;
	}
	if (error != 0)
	{
		shutdown("connect to " + _peerAddress.toString() + " failed: " + Poco::Error::getMessage(error));
		return;
	}
	_connected = true;
	_connectTimer.cancel();
	if (_onConnect)
	{
		ConnectHandler handler = _onConnect;   // the handler may replace itself
		handler();
		if (_closed) return;
	}
	if (bufferedAmount() > 0)
		flushOutput(true);
	else
		maybeFinishClose();
	if (!_closed) updateInterest();
}


void TcpConnection::handleRead()
{
	std::array<char, READ_CHUNK> buffer;
	std::size_t total = 0;
	while (!_closed && total < MAX_READ_PER_EVENT)
	{
		const bool discarding = _closeRequested;
		if (_readingPaused && !discarding) break;
		const long n = readOnce(buffer.data(), buffer.size());
		if (n <= 0) break;
		const auto size = static_cast<std::size_t>(n);
		total += size;
		if (!discarding && _onData)
		{
			const std::shared_ptr<const DataHandler> pHandler = _onData;   // the handler may replace itself
			(*pHandler)(buffer.data(), size);
		}
		// A short read has emptied the socket's receive queue: the poll reports what comes
		// next, and an extra recv() that would only say EAGAIN is saved.
		if (size < buffer.size()) break;
	}
}


long TcpConnection::readOnce(char* buffer, std::size_t size)
	/// One recv(): the number of bytes read; 0 if there is nothing to read now; -1 if the
	/// connection has ended or is ending (the peer's FIN or an error, both handled here).
{
	const int fd = _socket.impl()->sockfd();
	for (;;)
	{
		const ssize_t n = ::recv(fd, buffer, size, 0);
		if (n > 0)
		{
			_bytesReceived += static_cast<std::size_t>(n);
			return static_cast<long>(n);
		}
		if (n < 0)
		{
			const int error = errno;
			if (error == EINTR) continue;
			if (error == EAGAIN || error == EWOULDBLOCK) return 0;
			shutdown(_sentFin ? "" : describeError(error));
			return -1;
		}
		_peerFin = true;
		if (_sentFin || bufferedAmount() == 0)
		{
			shutdown("");
		}
		else
		{
			// The peer has half-closed: flush what is left, then finish.
			if (!_closeRequested)
			{
				_closeRequested = true;
				startCloseTimer();
			}
			if (!_writeBlocked) flushOutput(true);
			if (!_closed) updateInterest();
		}
		return -1;
	}
}


void TcpConnection::handleError()
{
	int error = 0;
	try
	{
		error = _socket.impl()->socketError();
	}
	catch (const Poco::Exception& exc)
	{
		error = exc.code() ? exc.code() : EIO;
	}
	if (error == 0) return;
	if (_sentFin)
		shutdown("");
	else if (error == ECONNRESET)
		shutdown("connection reset by peer");
	else
		shutdown(Poco::Error::getMessage(error));
}


void TcpConnection::flushOutput(bool mayCallHandlers)
	/// Writes as much of _output as the socket takes, with one sendmsg() per up to MAX_IOV
	/// chunks. Afterwards either everything is out (drain handler, close progress) or the
	/// socket is full and _writeBlocked waits for writability. Called from inside send() or
	/// close() (mayCallHandlers false), it leaves the drain handler to the end of the
	/// iteration: a handler that sends again must not run inside a send() (for example inside
	/// OpenSSL's write through TlsChannel).
{
	const int fd = _socket.impl()->sockfd();
	while (!_output.empty())
	{
		struct iovec iov[MAX_IOV];
		const std::size_t count = _output.peek(iov, MAX_IOV, MAX_WRITE);
		std::size_t offered = 0;
		for (std::size_t i = 0; i < count; ++i) offered += iov[i].iov_len;
		msghdr message{};
		message.msg_iov = iov;
		message.msg_iovlen = count;
		const ssize_t n = ::sendmsg(fd, &message, MSG_NOSIGNAL);
		if (n < 0)
		{
			const int error = errno;
			if (error == EINTR) continue;
			if (error == EAGAIN || error == EWOULDBLOCK)
			{
				_writeBlocked = true;
				break;
			}
			shutdown(describeError(error));
			return;
		}
		++_writeCount;
		_bytesSent += static_cast<std::size_t>(n);
		_output.consume(static_cast<std::size_t>(n));
		if (static_cast<std::size_t>(n) < offered)
		{
			// The socket buffer is full; another sendmsg() now would only say EAGAIN.
			_writeBlocked = true;
			break;
		}
	}
	updateInterest();
	if (!_output.empty()) return;
	if (_wasAboveHighWater)
	{
		if (!mayCallHandlers)
		{
			std::weak_ptr<TcpConnection> weak = shared_from_this();
			_loop.runAtIterationEnd([weak] {
				auto self = weak.lock();
				if (self && !self->_closed && self->_output.empty() && self->_wasAboveHighWater)
					self->notifyDrained();
			});
		}
		else
		{
			notifyDrained();
			if (_closed) return;
		}
	}
	maybeFinishClose();
}


void TcpConnection::notifyDrained()
{
	_wasAboveHighWater = false;
	if (_onDrain && !_closeRequested)
	{
		DrainHandler handler = _onDrain;
		handler();
	}
}


std::size_t TcpConnection::writeDirect(const char* data, std::size_t size)
	/// One send() of data while nothing is queued; returns how much the socket took. A full
	/// socket sets _writeBlocked; an error ends the connection.
{
	for (;;)
	{
		const ssize_t n = ::send(_socket.impl()->sockfd(), data, std::min(size, MAX_WRITE), MSG_NOSIGNAL);
		if (n >= 0)
		{
			++_writeCount;
			_bytesSent += static_cast<std::size_t>(n);
			if (static_cast<std::size_t>(n) < size) _writeBlocked = true;
			return static_cast<std::size_t>(n);
		}
		const int error = errno;
		if (error == EINTR) continue;
		if (error == EAGAIN || error == EWOULDBLOCK)
		{
			_writeBlocked = true;
			return 0;
		}
		shutdown(describeError(error));
		return 0;
	}
}


void TcpConnection::maybeFinishClose()
{
	if (_closed || !_closeRequested || !_connected || _sentFin || bufferedAmount() > 0) return;
	try
	{
		_socket.shutdownSend();
	}
	catch (const Poco::Exception& exc)
	{
		shutdown(_peerFin ? "" : describe(exc));
		return;
	}
	_sentFin = true;
	if (_peerFin)
		shutdown("");
	else
		updateInterest();   // linger: read (and discard) until the peer's FIN
}


void TcpConnection::startCloseTimer()
{
	std::weak_ptr<TcpConnection> weak = shared_from_this();
	_closeTimer = _loop.runAfter(CLOSE_TIMEOUT, [weak] {
		if (auto self = weak.lock())
		{
			if (self->_sentFin)
			{
				self->shutdown("");   // all output was handed over; the peer just never closed
			}
			else
			{
				self->abort("close timed out with " + std::to_string(self->bufferedAmount())
					+ " bytes unsent");
			}
		}
	});
}


void TcpConnection::updateInterest()
{
	if (_closed || !_registered) return;
	int interest = 0;
	if (!_connected)
	{
		interest = EventLoop::SOCKET_WRITABLE;
	}
	else
	{
		if (!_peerFin && (!_readingPaused || _closeRequested)) interest |= EventLoop::SOCKET_READABLE;
		if (_writeBlocked) interest |= EventLoop::SOCKET_WRITABLE;
	}
	if (interest != _interest)
	{
		_loop.updateSocket(_socket, interest);
		_interest = interest;
	}
}


void TcpConnection::shutdown(const std::string& reason)
	/// Closes the socket and posts onClose(reason). Idempotent.
{
	if (_closed) return;
	_closed = true;
	_connectTimer.cancel();
	_closeTimer.cancel();
	if (_registered)
	{
		_loop.removeSocket(_socket);
		_registered = false;
	}
	try
	{
		_socket.close();
	}
	catch (const Poco::Exception& exc)
	{
		logger().debug("closing socket to %s: %s", _peerAddress.toString(), exc.displayText());
	}
	_output.clear();
	_writeBlocked = false;
	_wasAboveHighWater = false;
	// The handlers move into the posted task: if the loop is destroyed before it runs, they are
	// destroyed with it, which breaks reference cycles through pointers they captured.
	CloseHandler onClose = std::move(_onClose);
	releaseHandlers();
	auto self = shared_from_this();
	_loop.post([self, reason, onClose = std::move(onClose)]() mutable { self->deliverClose(reason, std::move(onClose)); });
}


void TcpConnection::releaseHandlers()
{
	_onClose = nullptr;
	_onConnect = nullptr;
	_onData = nullptr;
	_onDrain = nullptr;
}


void TcpConnection::deliverClose(const std::string& reason, CloseHandler handler)
{
	_closeDelivered = true;
	if (!handler) handler = std::move(_onClose);   // set after the close began
	releaseHandlers();
	if (handler) handler(reason);
}


} // namespace CrossChat
