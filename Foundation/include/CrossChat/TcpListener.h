//
// TcpListener.h
//
// Library: Foundation
// A listening TCP socket on an EventLoop.
//


#ifndef CrossChat_Foundation_TcpListener_INCLUDED
#define CrossChat_Foundation_TcpListener_INCLUDED


#include "CrossChat/EventLoop.h"
#include "CrossChat/TimerHandle.h"
#include "Poco/Net/ServerSocket.h"
#include "Poco/Net/SocketAddress.h"
#include "Poco/Net/StreamSocket.h"
#include <chrono>
#include <cstdint>
#include <functional>


namespace CrossChat {


class TcpListener
	/// Accepts connections without blocking the loop and hands each socket to a handler.
	/// Each readiness event accepts at most MAX_ACCEPTS_PER_EVENT connections (fairness).
	/// A failing accept (for example EMFILE) is logged (logger "CrossChat.Net") and counted; the
	/// listener keeps going. When out of file descriptors it stops accepting for
	/// ACCEPT_RETRY_DELAY instead of spinning on the still-readable socket.
	///
	/// Thread rules: must be used (constructed and destroyed too) from the loop thread (asserted);
	/// the handler runs on it.
	/// Ownership: owns the listening socket; stops listening when destroyed.
{
public:
	using AcceptHandler = std::function<void(const Poco::Net::StreamSocket& socket)>;

	static constexpr int DEFAULT_BACKLOG = 128;
	static constexpr int MAX_ACCEPTS_PER_EVENT = 64;
	static constexpr std::chrono::milliseconds ACCEPT_RETRY_DELAY{100};

	TcpListener(EventLoop& loop, const Poco::Net::SocketAddress& address, AcceptHandler handler, bool reusePort = false);
		/// Binds (SO_REUSEADDR; SO_REUSEPORT too if reusePort) and listens. Port 0 picks a free
		/// port. An IPv6 address is bound dual-stack: [::] accepts IPv4 connections too.
		/// Throws Poco::Net::NetException if the address cannot be bound.
		/// The accepted socket is still blocking; TcpConnection::adopt() makes it non-blocking.

	~TcpListener();

	TcpListener(const TcpListener&) = delete;
	TcpListener& operator=(const TcpListener&) = delete;

	Poco::Net::SocketAddress address() const;
		/// The bound address, with the real port.

	std::uint64_t acceptErrors() const;
		/// Number of failed accepts since construction.

private:
	void onReadable();

	EventLoop& _loop;
	Poco::Net::ServerSocket _socket;
	AcceptHandler _handler;
	std::uint64_t _acceptErrors = 0;
	TimerHandle _retryTimer;
};


} // namespace CrossChat


#endif // CrossChat_Foundation_TcpListener_INCLUDED
