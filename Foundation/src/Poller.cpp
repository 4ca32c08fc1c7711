//
// Poller.cpp
//
// Library: Foundation
// The event loop's readiness source: epoll on Linux, Poco::Net::PollSet elsewhere.
//


#include "Poller.h"
#include "CrossChat/EventLoop.h"
#include "Poco/Exception.h"
#include "Poco/Net/SocketImpl.h"
#include <cerrno>
#include <cstring>
#if defined(__linux__)
#include <sys/epoll.h>
#include <unistd.h>
#else
#include "Poco/Net/PollSet.h"
#include <map>
#endif


namespace CrossChat {


#if defined(__linux__)


namespace {


std::uint32_t toEpoll(int events)
{
	std::uint32_t mask = 0;
	if (events & EventLoop::SOCKET_READABLE) mask |= EPOLLIN;
	if (events & EventLoop::SOCKET_WRITABLE) mask |= EPOLLOUT;
	return mask;   // EPOLLERR and EPOLLHUP are always reported
}


int fromEpoll(std::uint32_t mask)
{
	int events = 0;
	if (mask & EPOLLIN) events |= EventLoop::SOCKET_READABLE;
	if (mask & EPOLLOUT) events |= EventLoop::SOCKET_WRITABLE;
	if (mask & (EPOLLERR | EPOLLHUP)) events |= EventLoop::SOCKET_ERROR;
	return events;
}


[[noreturn]] void fail(const char* what, int error)
{
	throw Poco::IOException(std::string("event loop: ") + what, std::strerror(error), error);
}


} // namespace


class Poller::Impl
{
public:
	Impl():
		_fd(::epoll_create1(EPOLL_CLOEXEC)),
		_events(256)
	{
		if (_fd < 0) fail("epoll_create1", errno);
	}

	~Impl()
	{
		::close(_fd);
	}

	void control(int operation, const Poco::Net::Socket& socket, int events, std::uint64_t id)
	{
		epoll_event event{};
		event.events = toEpoll(events);
		event.data.u64 = id;
		if (::epoll_ctl(_fd, operation, socket.impl()->sockfd(), &event) != 0)
			fail(operation == EPOLL_CTL_ADD ? "epoll_ctl(ADD)" : "epoll_ctl(MOD)", errno);
	}

	void remove(const Poco::Net::Socket& socket)
	{
		epoll_event event{};
		// ENOENT/EBADF: not watched (any more), for example because it was closed already.
		::epoll_ctl(_fd, EPOLL_CTL_DEL, socket.impl()->sockfd(), &event);
	}

	void wait(std::chrono::milliseconds timeout, std::vector<Event>& ready)
	{
		ready.clear();
		const int n = ::epoll_wait(_fd, _events.data(), static_cast<int>(_events.size()),
			static_cast<int>(timeout.count()));
		if (n < 0)
		{
			if (errno == EINTR) return;
			fail("epoll_wait", errno);
		}
		for (int i = 0; i < n; ++i)
			ready.push_back(Event{_events[static_cast<std::size_t>(i)].data.u64, fromEpoll(_events[static_cast<std::size_t>(i)].events)});
	}

private:
	const int _fd;
	std::vector<epoll_event> _events;
};


Poller::Poller(): _pImpl(std::make_unique<Impl>()) {}
Poller::~Poller() = default;


void Poller::add(const Poco::Net::Socket& socket, int events, std::uint64_t id)
{
	_pImpl->control(EPOLL_CTL_ADD, socket, events, id);
}


void Poller::update(const Poco::Net::Socket& socket, int events, std::uint64_t id)
{
	_pImpl->control(EPOLL_CTL_MOD, socket, events, id);
}


void Poller::remove(const Poco::Net::Socket& socket)
{
	_pImpl->remove(socket);
}


void Poller::wait(std::chrono::milliseconds timeout, std::vector<Event>& ready)
{
	_pImpl->wait(timeout, ready);
}


#else


namespace {


int toPollMode(int events)
{
	int mode = Poco::Net::PollSet::POLL_ERROR;
	if (events & EventLoop::SOCKET_READABLE) mode |= Poco::Net::PollSet::POLL_READ;
	if (events & EventLoop::SOCKET_WRITABLE) mode |= Poco::Net::PollSet::POLL_WRITE;
	return mode;
}


int fromPollMode(int mode)
{
	int events = 0;
	if (mode & Poco::Net::PollSet::POLL_READ) events |= EventLoop::SOCKET_READABLE;
	if (mode & Poco::Net::PollSet::POLL_WRITE) events |= EventLoop::SOCKET_WRITABLE;
	if (mode & Poco::Net::PollSet::POLL_ERROR) events |= EventLoop::SOCKET_ERROR;
	return events;
}


} // namespace


class Poller::Impl
{
public:
	Poco::Net::PollSet pollSet;
	std::map<Poco::Net::SocketImpl*, std::uint64_t> ids;
};


Poller::Poller(): _pImpl(std::make_unique<Impl>()) {}
Poller::~Poller() = default;


void Poller::add(const Poco::Net::Socket& socket, int events, std::uint64_t id)
{
	_pImpl->pollSet.add(socket, toPollMode(events));
	_pImpl->ids[socket.impl()] = id;
}


void Poller::update(const Poco::Net::Socket& socket, int events, std::uint64_t id)
{
	_pImpl->pollSet.update(socket, toPollMode(events));
	_pImpl->ids[socket.impl()] = id;
}


void Poller::remove(const Poco::Net::Socket& socket)
{
	_pImpl->pollSet.remove(socket);
	_pImpl->ids.erase(socket.impl());
}


void Poller::wait(std::chrono::milliseconds timeout, std::vector<Event>& ready)
{
	ready.clear();
	// PollSet has no "no limit": a day stands for it.
	const auto wait = timeout.count() < 0 ? std::chrono::milliseconds(86400000) : timeout;
	const Poco::Net::PollSet::SocketModeMap modes =
		_pImpl->pollSet.poll(Poco::Timespan(static_cast<Poco::Timespan::TimeDiff>(wait.count()) * 1000));
	for (const auto& [socket, mode]: modes)
	{
		auto it = _pImpl->ids.find(socket.impl());
		if (it != _pImpl->ids.end()) ready.push_back(Event{it->second, fromPollMode(mode)});
	}
}


#endif


} // namespace CrossChat
