//
// ManualScheduler.cpp
//
// Library: Foundation
//


#include "CrossChat/ManualScheduler.h"
#include "TimerState.h"
#include "Poco/Exception.h"
#include <algorithm>
#include <cstdio>
#include <cstdlib>


namespace CrossChat {


ManualScheduler::ManualScheduler():
	_threadId(std::this_thread::get_id()),
	_now(std::chrono::hours(1000))   // an arbitrary, fixed starting point
{
}


ManualScheduler::~ManualScheduler()
{
	for (const auto& entry: _timers) entry.second->cancelled.store(true, std::memory_order_release);
}


Scheduler::TimePoint ManualScheduler::now() const
{
	return _now;
}


void ManualScheduler::post(Task task)
{
	assertInLoopThread();
	_tasks.push_back(std::move(task));
}


TimerHandle ManualScheduler::runAfter(Duration delay, Task task)
{
	assertInLoopThread();
	auto pState = std::make_shared<TimerHandle::State>();
	pState->task = std::move(task);
	_timers.emplace(std::make_pair(_now + std::max(delay, Duration::zero()), _nextSequence++), pState);
	return TimerHandle(pState);
}


TimerHandle ManualScheduler::runEvery(Duration interval, Task task)
{
	assertInLoopThread();
	if (interval <= Duration::zero())
		throw Poco::InvalidArgumentException("runEvery needs a positive interval");
	auto pState = std::make_shared<TimerHandle::State>();
	pState->task = std::move(task);
	pState->interval = interval;
	_timers.emplace(std::make_pair(_now + interval, _nextSequence++), pState);
	return TimerHandle(pState);
}


void ManualScheduler::assertInLoopThread() const
{
	if (std::this_thread::get_id() != _threadId)
	{
		std::fprintf(stderr, "CrossChat::ManualScheduler: used from a thread other than its own\n");
		std::abort();
	}
}


std::size_t ManualScheduler::runPending(std::size_t limit)
{
	assertInLoopThread();
	std::size_t count = 0;
	while (!_tasks.empty())
	{
		if (count == limit)
			throw Poco::IllegalStateException("ManualScheduler::runPending: more than " + std::to_string(limit) + " tasks");
		Task task = std::move(_tasks.front());
		_tasks.pop_front();
		task();
		++count;
	}
	return count;
}


bool ManualScheduler::runNextDue(TimePoint until)
{
	while (!_timers.empty())
	{
		auto it = _timers.begin();
		if (it->first.first > until) return false;
		const TimePoint due = it->first.first;
		std::shared_ptr<TimerHandle::State> pState = std::move(it->second);
		_timers.erase(it);
		if (pState->cancelled.load(std::memory_order_acquire)) continue;
		_now = std::max(_now, due);
		if (pState->interval > Duration::zero())
		{
			_timers.emplace(std::make_pair(due + pState->interval, _nextSequence++), pState);
			Task task = pState->task;   // a copy: the task may cancel its own timer
			task();
		}
		else
		{
			pState->fired.store(true, std::memory_order_release);
			Task task = std::move(pState->task);
			task();
		}
		runPending();
		return true;
	}
	return false;
}


void ManualScheduler::advance(Duration delta)
{
	assertInLoopThread();
	const TimePoint until = _now + std::max(delta, Duration::zero());
	runPending();
	while (runNextDue(until))
	{
	}
	_now = until;
}


void ManualScheduler::advanceToNextTimer()
{
	assertInLoopThread();
	runPending();
	while (!_timers.empty() && _timers.begin()->second->cancelled.load(std::memory_order_acquire))
		_timers.erase(_timers.begin());
	if (_timers.empty()) return;
	runNextDue(_timers.begin()->first.first);
}


std::size_t ManualScheduler::pendingTimers() const
{
	return static_cast<std::size_t>(std::count_if(_timers.begin(), _timers.end(), [](const auto& entry) {
		return !entry.second->cancelled.load(std::memory_order_acquire);
	}));
}


std::size_t ManualScheduler::pendingTasks() const
{
	return _tasks.size();
}


} // namespace CrossChat
