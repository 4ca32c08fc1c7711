//
// ManualScheduler.h
//
// Library: Foundation
// A Scheduler whose clock moves only when told to: for unit tests of time-driven logic.
//


#ifndef CrossChat_Foundation_ManualScheduler_INCLUDED
#define CrossChat_Foundation_ManualScheduler_INCLUDED


#include "CrossChat/Scheduler.h"
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <thread>
#include <utility>


namespace CrossChat {


class ManualScheduler: public Scheduler
	/// A fake clock with timers and a task queue, for tests that drive backoff, timeouts and
	/// retries without sleeping: now() starts at an arbitrary fixed point and moves only through
	/// advance(); posted tasks run only in runPending() (advance() runs them too).
	///
	/// Timers fire in due-time order (ties in the order they were scheduled), each with now()
	/// equal to its due time; a periodic timer is rescheduled one interval after its due time.
	/// Cancelled timers never run. The semantics match EventLoop's, without sockets.
	///
	/// Thread rules: single-threaded; every method must be called from the thread that created
	/// the scheduler (asserted).
	/// Ownership: owns the tasks given to it; destroying it destroys pending ones unrun.
{
public:
	ManualScheduler();
	~ManualScheduler() override;

	ManualScheduler(const ManualScheduler&) = delete;
	ManualScheduler& operator=(const ManualScheduler&) = delete;

	TimePoint now() const override;
	void post(Task task) override;
	[[nodiscard]] TimerHandle runAfter(Duration delay, Task task) override;
	[[nodiscard]] TimerHandle runEvery(Duration interval, Task task) override;
	void assertInLoopThread() const override;

	std::size_t runPending(std::size_t limit = 100000);
		/// Runs posted tasks (and the tasks they post) until the queue is empty or limit tasks
		/// have run; returns how many ran. Throws Poco::IllegalStateException if limit is
		/// reached (a task that re-posts itself forever).

	void advance(Duration delta);
		/// Moves the clock forward by delta: runs the pending tasks, then every timer due
		/// within delta in due order (with now() at its due time), running the tasks posted
		/// by each before the next, and ends with now() at the old time + delta.

	void advanceToNextTimer();
		/// Moves the clock to the earliest pending timer and runs it (and what it posts).
		/// Does nothing if no timer is pending.

	std::size_t pendingTimers() const;
		/// Timers neither fired nor cancelled.

	std::size_t pendingTasks() const;

private:
	struct Entry;
	bool runNextDue(TimePoint until);

	const std::thread::id _threadId;
	TimePoint _now;
	std::uint64_t _nextSequence = 0;
	std::multimap<std::pair<TimePoint, std::uint64_t>, std::shared_ptr<TimerHandle::State>> _timers;
	std::deque<Task> _tasks;
};


} // namespace CrossChat


#endif // CrossChat_Foundation_ManualScheduler_INCLUDED
