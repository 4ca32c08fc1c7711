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


namespace CrossChat {


namespace {


constexpr std::size_t READ_CHUNK = 64 * 1024;
constexpr std::size_t MAX_WRITE = 1024 * 1024 * 1024;   ///< sendBytes() takes an int.


Poco::Logger& logger()
{
	static Poco::Logger& logger = Poco::Logger::get("CrossChat.Net");
	return logger;
}


bool wouldBlock(int code)
	/// Poco 1.11 reports EAGAIN from a non-blocking send as Poco::IOException with the errno as
	/// its code (receiveBytes returns -1 instead).
{
	return code == EAGAIN || code == EWOULDBLOCK || code == EINTR;
}


std::string describe(const Poco::Exception& exc)
{
	switch (exc.code())
	{
	case ECONNRESET:
		return "connection reset by peer";
	case EPIPE:
		return "connection closed by peer (broken pipe)";
	case ETIMEDOUT:
		return "connection timed out";
	default:
		return exc.displayText();
	}
}


} // namespace


constexpr std::size_t TcpConnection::DEFAULT_HIGH_WATER_MARK;
constexpr std::size_t TcpConnection::MAX_READ_PER_EVENT;
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
	auto self = shared_from_this();
	_loop.addSocket(_socket, _interest, [self](int events) { self->onSocketEvent(events); });
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
	if (!_closeDelivered) _onData = std::move(handler);
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


void TcpConnection::send(const char* data, std::size_t size)
{
	_loop.assertInLoopThread();
	if (_closed || _closeRequested || size == 0) return;
	std::size_t written = 0;
	if (_connected && bufferedAmount() == 0)
	{
		written = writeSome(data, size);
		if (_closed) return;
	}
	if (written < size)
	{
		_output.append(data + written, size - written);
		if (aboveHighWaterMark()) _wasAboveHighWater = true;
		updateInterest();
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
	return _output.size() - _outputPos;
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
	if (!_closed && (events & EventLoop::SOCKET_WRITABLE))
		handleWrite();
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
		handleWrite();
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
		int n = 0;
		try
		{
			n = _socket.receiveBytes(buffer.data(), static_cast<int>(buffer.size()));
		}
		catch (const Poco::Net::ConnectionResetException&)
		{
			shutdown(_sentFin ? "" : "connection reset by peer");
			return;
		}
		catch (const Poco::Exception& exc)
		{
			if (wouldBlock(exc.code())) break;
			shutdown(_sentFin ? "" : describe(exc));
			return;
		}
		if (n < 0) break;   // EAGAIN
		if (n == 0)
		{
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
				updateInterest();
			}
			return;
		}
		const auto size = static_cast<std::size_t>(n);
		_bytesReceived += size;
		total += size;
		if (!discarding && _onData)
		{
			DataHandler handler = _onData;   // the handler may replace itself
			handler(buffer.data(), size);
		}
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


void TcpConnection::handleWrite()
{
	while (bufferedAmount() > 0)
	{
		const std::size_t written = writeSome(_output.data() + _outputPos, bufferedAmount());
		if (_closed) return;
		if (written == 0) break;
		_outputPos += written;
	}
	if (bufferedAmount() > 0)
	{
		// Keep the buffer from growing forever at the front.
		if (_outputPos >= READ_CHUNK && _outputPos * 2 >= _output.size())
		{
			_output.erase(0, _outputPos);
			_outputPos = 0;
		}
		updateInterest();
		return;
	}
	_output.clear();
	_outputPos = 0;
	updateInterest();
	if (_wasAboveHighWater)
	{
		_wasAboveHighWater = false;
		if (_onDrain && !_closeRequested)
		{
			DrainHandler handler = _onDrain;
			handler();
			if (_closed) return;
		}
	}
	maybeFinishClose();
}


std::size_t TcpConnection::writeSome(const char* data, std::size_t size)
{
	try
	{
		const int n = _socket.sendBytes(data, static_cast<int>(std::min(size, MAX_WRITE)), MSG_NOSIGNAL);
		if (n <= 0) return 0;
		_bytesSent += static_cast<std::size_t>(n);
		return static_cast<std::size_t>(n);
	}
	catch (const Poco::TimeoutException&)
	{
		return 0;
	}
	catch (const Poco::Exception& exc)
	{
		if (wouldBlock(exc.code())) return 0;
		shutdown(describe(exc));
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
		if (bufferedAmount() > 0) interest |= EventLoop::SOCKET_WRITABLE;
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
	_output.shrink_to_fit();
	_outputPos = 0;
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
