//
// EventLoopThread.h
//
// Library: Foundation
// A thread that owns and runs one EventLoop.
//


#ifndef CrossChat_Foundation_EventLoopThread_INCLUDED
#define CrossChat_Foundation_EventLoopThread_INCLUDED


#include "CrossChat/EventLoop.h"
#include "Poco/Thread.h"
#include <condition_variable>
#include <mutex>
#include <string>


namespace CrossChat {


class EventLoopThread
	/// Starts a thread, creates an EventLoop on it and runs it. loop() returns once the loop
	/// exists. The destructor stops the loop and joins the thread.
	///
	/// Thread rules: construct, stop() and destroy from one controlling thread (not the loop
	/// thread itself). The pointer returned by loop() stays valid until stop() returns; use
	/// it only through the EventLoop methods that are safe from any thread. Only stop() ends
	/// the thread: a loop().stop() from elsewhere makes run() return, and the thread runs the
	/// loop again.
	///
	/// Shutdown is free of use-after-free windows: stop() signals the loop while holding the
	/// mutex that the loop thread takes before it destroys the loop, and the EventLoop itself
	/// makes its destructor wait for any post() or stop() still signalling it.
	/// Ownership: owns the thread and the loop.
{
public:
	explicit EventLoopThread(const std::string& name = "EventLoop");
		/// Starts the thread (named name, as seen in debuggers and logs) and waits until its
		/// loop is created.

	~EventLoopThread();
		/// Calls stop().

	EventLoopThread(const EventLoopThread&) = delete;
	EventLoopThread& operator=(const EventLoopThread&) = delete;

	EventLoop& loop();
		/// The thread's loop. Does not transfer ownership.

	void stop();
		/// Stops the loop, waits for run() to return and joins the thread; tasks still queued
		/// are destroyed without running. Idempotent.

private:
	void threadMain();

	Poco::Thread _thread;
	std::mutex _mutex;
	std::condition_variable _ready;
	EventLoop* _pLoop = nullptr;
	bool _started = false;
	bool _stopRequested = false;   ///< Set by stop() under _mutex.
};


} // namespace CrossChat


#endif // CrossChat_Foundation_EventLoopThread_INCLUDED
