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
	/// it only through the EventLoop methods that are safe from any thread.
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
		/// Stops the loop, waits for run() to return and joins the thread. Idempotent.

private:
	void threadMain();

	Poco::Thread _thread;
	std::mutex _mutex;
	std::condition_variable _ready;
	EventLoop* _pLoop = nullptr;
	bool _started = false;
};


} // namespace CrossChat


#endif // CrossChat_Foundation_EventLoopThread_INCLUDED
