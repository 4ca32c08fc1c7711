//
// Scheduler.h
//
// Library: Foundation
// The clock seam: time, timers and deferred tasks, as the event loop provides them.
//


#ifndef CrossChat_Foundation_Scheduler_INCLUDED
#define CrossChat_Foundation_Scheduler_INCLUDED


#include "CrossChat/TimerHandle.h"
#include <chrono>
#include <functional>


namespace CrossChat {


class Scheduler
	/// What time-driven logic needs from its event loop: the current time, one-shot and
	/// periodic timers, and tasks deferred to a later moment on the same thread.
	///
	/// EventLoop implements it for real; ManualScheduler implements it with a clock that only
	/// moves when a test says so. Code written against Scheduler (backoff, receipt watchdogs,
	/// punch retries) can therefore be driven in unit tests without sockets and without sleeping.
	///
	/// Thread rules: as for the implementation (EventLoop: post(), runAfter(), runEvery() and
	/// now() are safe from any thread; ManualScheduler: one thread only).
{
public:
	using Clock = std::chrono::steady_clock;
	using Duration = Clock::duration;
	using TimePoint = Clock::time_point;
	using Task = std::function<void()>;

	virtual ~Scheduler() = default;

	virtual TimePoint now() const = 0;
		/// The scheduler's current time (steady; never goes back).

	virtual void post(Task task) = 0;
		/// Runs the task later on the scheduler's thread, after the tasks posted before it.

	[[nodiscard]] virtual TimerHandle runAfter(Duration delay, Task task) = 0;
		/// Runs the task once after the delay; the handle cancels it (see TimerHandle).

	[[nodiscard]] virtual TimerHandle runEvery(Duration interval, Task task) = 0;
		/// Runs the task every interval (first run after one interval) until cancelled.

	virtual void assertInLoopThread() const = 0;
		/// Aborts the process if not called from the scheduler's thread.
};


} // namespace CrossChat


#endif // CrossChat_Foundation_Scheduler_INCLUDED
