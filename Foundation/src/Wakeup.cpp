//
// Wakeup.cpp
//
// Library: Foundation
// The one platform file of the event loop: eventfd on Linux, a non-blocking pipe elsewhere.
//


#include "Wakeup.h"
#include "Poco/Exception.h"
#include "Poco/Net/SocketImpl.h"
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>
#if defined(__linux__)
#include <sys/eventfd.h>
#endif


namespace CrossChat {


namespace {


class DescriptorImpl: public Poco::Net::SocketImpl
	/// Lets PollSet watch a descriptor that is not a socket. SocketImpl closes it on destruction.
{
public:
	explicit DescriptorImpl(int fd): Poco::Net::SocketImpl(fd)
	{
	}
};


class DescriptorSocket: public Poco::Net::Socket
{
public:
	explicit DescriptorSocket(int fd): Poco::Net::Socket(new DescriptorImpl(fd))
	{
	}
};


[[noreturn]] void fail(const char* what)
{
	throw Poco::SystemException(std::string("event loop wake-up channel: ") + what, std::strerror(errno));
}


} // namespace


#if defined(__linux__)


Wakeup::Wakeup():
	_socket(DescriptorSocket([] {
		int fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (fd < 0) fail("eventfd");
		return fd;
	}()))
{
	_writeFd = _socket.impl()->sockfd();
}


Wakeup::~Wakeup() = default;


void Wakeup::signal()
{
	const std::uint64_t one = 1;
	ssize_t n;
	do n = ::write(_writeFd, &one, sizeof(one));
	while (n < 0 && errno == EINTR);
	// EAGAIN means the counter is saturated: the descriptor is readable already.
}


void Wakeup::drain()
{
	std::uint64_t value;
	ssize_t n;
	do n = ::read(_socket.impl()->sockfd(), &value, sizeof(value));
	while (n < 0 && errno == EINTR);
}


#else


namespace {


int makePipe(int& writeFd)
{
	int fds[2];
	if (::pipe(fds) != 0) fail("pipe");
	for (int fd: fds)
	{
		::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
		::fcntl(fd, F_SETFD, FD_CLOEXEC);
	}
	writeFd = fds[1];
	return fds[0];
}


} // namespace


Wakeup::Wakeup():
	_socket(DescriptorSocket(makePipe(_writeFd)))
{
}


Wakeup::~Wakeup()
{
	::close(_writeFd);
}


void Wakeup::signal()
{
	const char byte = 1;
	ssize_t n;
	do n = ::write(_writeFd, &byte, 1);
	while (n < 0 && errno == EINTR);
	// EAGAIN means the pipe is full: the read end is readable already.
}


void Wakeup::drain()
{
	char buffer[256];
	ssize_t n;
	do n = ::read(_socket.impl()->sockfd(), buffer, sizeof(buffer));
	while (n > 0 || (n < 0 && errno == EINTR));
}


#endif


const Poco::Net::Socket& Wakeup::socket() const
{
	return _socket;
}


} // namespace CrossChat
