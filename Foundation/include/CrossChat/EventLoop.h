//
// EventLoop.h
//
// Library: Foundation
// A single-threaded reactor: timers, cross-thread tasks and socket readiness.
//


#ifndef CrossChat_Foundation_EventLoop_INCLUDED
#define CrossChat_Foundation_EventLoop_INCLUDED


#include "CrossChat/Scheduler.h"
#include "CrossChat/TimerHandle.h"
#include "Poco/Net/Socket.h"
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <thread>


namespace CrossChat {


class EventLoop: public Scheduler
	/// One event loop per thread (at most one EventLoop object may exist per thread at any time).
	/// The loop belongs to the thread that constructs it; run() must be called from that thread.
	///
	/// Thread rules:
	///   - post(), runInLoop(), runAfter(), runEvery(), stop(), TimerHandle::cancel() and
	///     isInLoopThread() are safe to call from any thread.
	///   - addSocket(), updateSocket(), removeSocket(), runAtIterationEnd(), run() must be
	///     called from the loop thread; they check it with assertInLoopThread(), which is
	///     active in release builds and aborts the process on a violation.
	///   - Every task, timer callback and socket handler runs on the loop thread.
	///
	/// An exception that escapes a task or handler is logged (logger "CrossChat.EventLoop"),
	/// counted in handlerErrors(), and the loop keeps running.
	///
	/// Ownership: the loop does not own registered sockets beyond holding a Poco::Net::Socket
	/// reference until removeSocket(); it owns the std::function objects given to it. Tasks
	/// still queued when the loop is destroyed are destroyed without running.
	///
	/// The implementation uses epoll directly on Linux (Poco::Net::PollSet elsewhere) plus a
	/// private wake-up channel.
{
public:
	using Scheduler::Clock;
	using Scheduler::Duration;
	using Scheduler::TimePoint;
	using Scheduler::Task;

	enum SocketEvent
	{
		SOCKET_READABLE = 0x01,
		SOCKET_WRITABLE = 0x02,
		SOCKET_ERROR    = 0x04
	};

	using SocketHandler = std::function<void(int events)>;
		/// Receives an OR of SocketEvent values that are ready.

	EventLoop();
		/// Creates a loop owned by the calling thread.
		/// Throws Poco::IllegalStateException if the thread already has a loop.

	~EventLoop() override;
		/// Destroys the loop. Must be called from the loop thread, after run() has returned.
		/// Waits until no other thread is inside post() or stop() any more (they signal the
		/// loop while holding the lock the destructor takes), so a stop() that made run()
		/// return never touches a destroyed loop. Calling any method once the destruction has
		/// begun is an error of the caller.

	EventLoop(const EventLoop&) = delete;
	EventLoop& operator=(const EventLoop&) = delete;

	void run();
		/// Runs the loop until stop() is called. Must be called from the loop thread.
		/// Returns at once if stop() was called before. Returning consumes the stop request,
		/// so run() may be called again later (tests run a loop in phases this way).

	void stop();
		/// Asks the loop to return from run() after the current iteration; wakes it if asleep.
		/// Safe to call from any thread.

	TimePoint now() const override;
		/// Clock::now(). Safe to call from any thread.

	bool stopped() const;
		/// True while a stop() request is pending, that is, until run() returns because of it.
		/// Safe to call from any thread.

	void post(Task task) override;
		/// Queues the task to run on the loop thread, after the tasks queued before it,
		/// and wakes the loop. Safe to call from any thread.

	void runInLoop(Task task);
		/// Runs the task at once if called on the loop thread, else post()s it.
		/// Safe to call from any thread.

	void runAtIterationEnd(Task task);
		/// Runs the task on the loop thread at the end of the current iteration, after this
		/// iteration's socket handlers, timers and posted tasks: the place to flush what was
		/// gathered during the iteration (TcpConnection and TlsChannel coalesce their output
		/// this way, so that the frames queued in one iteration leave in one write). Tasks queued
		/// by such a task run in the same end phase (a few rounds at most; then in the next
		/// iteration). Called outside run(), the task runs at the end of the next iteration, and
		/// the loop does not sleep while such tasks wait. Must be called from the loop thread.

	void runAtIterationEnd(const std::shared_ptr<const Task>& task);
		/// As above, for a task its owner keeps and queues again in many iterations (a flush):
		/// queueing it copies the pointer, not the function. Must be called from the loop thread.

	[[nodiscard]] TimerHandle runAfter(Duration delay, Task task) override;
		/// Runs the task once on the loop thread after the delay.
		/// The returned handle cancels the timer when destroyed, unless detach()ed.
		/// Safe to call from any thread.

	[[nodiscard]] TimerHandle runEvery(Duration interval, Task task) override;
		/// Runs the task on the loop thread every interval (first run after one interval)
		/// until cancelled. A slow task does not cause a burst of catch-up runs.
		/// Safe to call from any thread.

	void addSocket(const Poco::Net::Socket& socket, int events, SocketHandler handler);
		/// Watches the socket for the given SocketEvent mask (SOCKET_ERROR is always reported)
		/// and calls the handler on readiness. Replaces an existing registration of the socket.
		/// Must be called from the loop thread (also from inside a handler).

	void updateSocket(const Poco::Net::Socket& socket, int events);
		/// Changes the event mask of a registered socket.
		/// Must be called from the loop thread (also from inside a handler).

	void removeSocket(const Poco::Net::Socket& socket);
		/// Stops watching the socket; its handler is not called again, even if the socket was
		/// already reported ready in the current iteration. Does nothing if not registered.
		/// Must be called from the loop thread (also from inside a handler).

	bool hasSocket(const Poco::Net::Socket& socket) const;
		/// True if the socket is registered. Must be called from the loop thread.

	bool isInLoopThread() const;
		/// True if the calling thread owns this loop. Safe to call from any thread.

	void assertInLoopThread() const override;
		/// Aborts the process with a clear message if not called from the loop thread.
		/// Active in release builds.

	std::uint64_t handlerErrors() const;
		/// Number of exceptions caught at the loop boundary. Safe to call from any thread.

	static EventLoop* current();
		/// The loop owned by the calling thread, or nullptr.

private:
	class Impl;
	std::unique_ptr<Impl> _pImpl;
	const std::thread::id _threadId;
};


} // namespace CrossChat


#endif // CrossChat_Foundation_EventLoop_INCLUDED
