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
#include <memory>


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
	using HandOffHandler = std::function<void(std::shared_ptr<Poco::Net::StreamSocket> pSocket)>;
		/// For a handler that passes the socket to another loop: the listener keeps no reference
		/// of its own, so the socket's last reference is dropped either by the shared_ptr (whose
		/// count ThreadSanitizer sees) or on the loop that used it. A Poco socket's own reference
		/// count lives in uninstrumented libPocoNet; a copy left behind on the accepting thread
		/// and released there after the other loop has closed the socket looks like a race.

	static constexpr int DEFAULT_BACKLOG = 128;
	static constexpr int MAX_ACCEPTS_PER_EVENT = 64;
	static constexpr std::chrono::milliseconds ACCEPT_RETRY_DELAY{100};

	TcpListener(EventLoop& loop, const Poco::Net::SocketAddress& address, AcceptHandler handler, bool reusePort = false);
		/// Binds (SO_REUSEADDR; SO_REUSEPORT too if reusePort) and listens. Port 0 picks a free
		/// port. An IPv6 address is bound dual-stack: [::] accepts IPv4 connections too.
		/// Throws Poco::Net::NetException if the address cannot be bound.
		/// The accepted socket is still blocking; TcpConnection::adopt() makes it non-blocking.
	TcpListener(EventLoop& loop, const Poco::Net::SocketAddress& address, HandOffHandler handler, bool reusePort = false);
		/// The same, for a handler that takes the socket over (see HandOffHandler).

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
	HandOffHandler _handler;
	std::uint64_t _acceptErrors = 0;
	TimerHandle _retryTimer;
};


} // namespace CrossChat


#endif // CrossChat_Foundation_TcpListener_INCLUDED
