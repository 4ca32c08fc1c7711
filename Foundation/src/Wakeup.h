//
// Wakeup.h
//
// Library: Foundation
// Private: the channel that wakes an EventLoop sleeping in PollSet::poll().
// This is an internal header file, it is not installed; do not include it from outside
// Foundation/src.
//


#ifndef CrossChat_Foundation_Wakeup_INCLUDED
#define CrossChat_Foundation_Wakeup_INCLUDED


#include "Poco/Net/Socket.h"


namespace CrossChat {


class Wakeup
	/// A readable-when-signalled descriptor wrapped as a Poco::Net::Socket so that it can be
	/// registered in a Poco::Net::PollSet (Poco 1.11's PollSet has no wakeUp()).
	/// The platform-specific code (eventfd on Linux, a pipe elsewhere) lives in Wakeup.cpp only.
	///
	/// Thread rules: signal() is safe from any thread; drain() must be called from the thread
	/// that polls socket().
{
public:
	Wakeup();
	~Wakeup();

	Wakeup(const Wakeup&) = delete;
	Wakeup& operator=(const Wakeup&) = delete;

	const Poco::Net::Socket& socket() const;
		/// The descriptor to poll for readability.

	void signal();
		/// Makes socket() readable. Safe to call from any thread.

	void drain();
		/// Consumes all pending signals so that socket() is no longer readable.

private:
	int _writeFd = -1;          // declared first: the pipe variant sets it while making _socket
	Poco::Net::Socket _socket;
};


} // namespace CrossChat


#endif // CrossChat_Foundation_Wakeup_INCLUDED
