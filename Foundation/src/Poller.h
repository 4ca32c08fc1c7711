//
// Poller.h
//
// Library: Foundation
// Private: the readiness source of an EventLoop: epoll on Linux, Poco::Net::PollSet elsewhere.
// This is an internal header file, it is not installed; do not include it from outside
// Foundation/src.
//


#ifndef CrossChat_Foundation_Poller_INCLUDED
#define CrossChat_Foundation_Poller_INCLUDED


#include "Poco/Net/Socket.h"
#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>


namespace CrossChat {


class Poller
	/// Watches sockets, each registered with a caller-chosen 64-bit id, and reports ready ids
	/// with EventLoop::SocketEvent masks. On Linux it calls epoll directly: one epoll_wait() per
	/// poll into a reused array, with no allocation and no lock (Poco 1.11's PollSet takes a
	/// mutex, looks every ready descriptor up in a map and builds a std::map per poll).
	///
	/// Thread rules: not thread-safe; used by one EventLoop on its thread.
	/// Ownership: does not own the sockets; the caller removes a socket before closing it.
{
public:
	struct Event
	{
		std::uint64_t id;
		int events;   ///< An OR of EventLoop::SocketEvent values.
	};

	Poller();
	~Poller();

	Poller(const Poller&) = delete;
	Poller& operator=(const Poller&) = delete;

	void add(const Poco::Net::Socket& socket, int events, std::uint64_t id);
		/// Starts watching socket for events (SOCKET_ERROR is always reported). Throws
		/// Poco::IOException if the system refuses.

	void update(const Poco::Net::Socket& socket, int events, std::uint64_t id);
		/// Changes the event mask of a watched socket.

	void remove(const Poco::Net::Socket& socket);
		/// Stops watching socket; does nothing if it is not watched (any more).

	void wait(std::chrono::milliseconds timeout, std::vector<Event>& ready);
		/// Waits up to timeout (0: do not wait; negative: no limit) and replaces ready's contents
		/// with the ready sockets. An interrupted wait reports nothing.

private:
	class Impl;
	std::unique_ptr<Impl> _pImpl;
};


} // namespace CrossChat


#endif // CrossChat_Foundation_Poller_INCLUDED
