//
// TcpListener.cpp
//
// Library: Foundation
//


#include "CrossChat/TcpListener.h"
#include "Poco/Exception.h"
#include "Poco/Logger.h"
#include <cerrno>


namespace CrossChat {


constexpr int TcpListener::DEFAULT_BACKLOG;
constexpr int TcpListener::MAX_ACCEPTS_PER_EVENT;
constexpr std::chrono::milliseconds TcpListener::ACCEPT_RETRY_DELAY;


TcpListener::TcpListener(EventLoop& loop, const Poco::Net::SocketAddress& address, AcceptHandler handler, bool reusePort):
	TcpListener(loop, address,
		HandOffHandler([handler = std::move(handler)](std::shared_ptr<Poco::Net::StreamSocket> pSocket) { handler(*pSocket); }),
		reusePort)
{
}


TcpListener::TcpListener(EventLoop& loop, const Poco::Net::SocketAddress& address, HandOffHandler handler, bool reusePort):
	_loop(loop),
	_handler(std::move(handler))
{
	_loop.assertInLoopThread();
	// Not ServerSocket(address): in Poco 1.11 that sets SO_REUSEPORT as well as SO_REUSEADDR.
	// An IPv6 address is bound dual-stack (IPV6_V6ONLY off), so [::] accepts IPv4 as well.
	if (address.family() == Poco::Net::SocketAddress::IPv6)
		_socket.bind6(address, true, reusePort, false);
	else
		_socket.bind(address, true, reusePort);
	_socket.listen(DEFAULT_BACKLOG);
	_socket.setBlocking(false);
	// The registration is removed in the destructor, so the raw this never outlives the object.
	_loop.addSocket(_socket, EventLoop::SOCKET_READABLE, [this](int) { onReadable(); });
}


TcpListener::~TcpListener()
{
	_loop.assertInLoopThread();
	_retryTimer.cancel();
	_loop.removeSocket(_socket);
	try
	{
		_socket.close();
	}
	catch (const Poco::Exception&)
	{
		// Nothing useful to do: destructors never throw.
	}
}


Poco::Net::SocketAddress TcpListener::address() const
{
	return _socket.address();
}


std::uint64_t TcpListener::acceptErrors() const
{
	return _acceptErrors;
}


void TcpListener::onReadable()
{
	for (int i = 0; i < MAX_ACCEPTS_PER_EVENT; ++i)
	{
		std::shared_ptr<Poco::Net::StreamSocket> pSocket;
		try
		{
			pSocket = std::make_shared<Poco::Net::StreamSocket>(_socket.acceptConnection());
		}
		catch (const Poco::Exception& exc)
		{
			const int code = exc.code();
			if (code == EAGAIN || code == EWOULDBLOCK || code == EINTR) return;
			++_acceptErrors;
			Poco::Logger::get("CrossChat.Net").warning("accept on %s failed: %s",
				_socket.address().toString(), exc.displayText());
			if (code == EMFILE || code == ENFILE || code == ENOBUFS || code == ENOMEM)
			{
				// The pending connection stays queued and the socket stays readable: back off.
				_loop.updateSocket(_socket, 0);
				_retryTimer = _loop.runAfter(ACCEPT_RETRY_DELAY, [this] {
					_loop.updateSocket(_socket, EventLoop::SOCKET_READABLE);
				});
				return;
			}
			continue;   // for example ECONNABORTED: the next one may be fine
		}
		_handler(std::move(pSocket));
	}
}


} // namespace CrossChat
