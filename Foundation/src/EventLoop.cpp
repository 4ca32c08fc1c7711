//
// EventLoop.cpp
//
// Library: Foundation
//


#include "CrossChat/EventLoop.h"
#include "Poller.h"
#include "TimerState.h"
#include "Wakeup.h"
#include "Poco/Exception.h"
#include "Poco/Logger.h"
#include "Poco/Net/SocketImpl.h"
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <unordered_map>
#include <sstream>
#include <vector>


namespace CrossChat {


namespace {


thread_local EventLoop* t_pLoopInThisThread = nullptr;


constexpr std::uint64_t WAKEUP_ID = 0;   ///< The Poller id of the wake-up channel.


} // namespace


class EventLoop::Impl
{
public:
	struct Registration
	{
		Poco::Net::Socket socket;
		SocketHandler handler;
		std::uint64_t id;   ///< The Poller id: never reused, so a stale event finds nothing.
	};

	struct TimerEntry
	{
		Clock::time_point when;
		std::uint64_t sequence;   ///< Keeps timers due at the same instant in scheduling order.
		std::shared_ptr<TimerHandle::State> pState;
	};

	struct Later
	{
		bool operator()(const TimerEntry& a, const TimerEntry& b) const
		{
			return a.when != b.when ? a.when > b.when : a.sequence > b.sequence;
		}
	};

	static constexpr std::size_t MIN_COMPACT_SIZE = 1024;
	static constexpr int MAX_END_ROUNDS = 4;
	static constexpr std::chrono::microseconds BUSY_POLL_INTERVAL{50};
		///< While tasks keep the loop busy, sockets are polled at least this often.

	Impl(): _logger(Poco::Logger::get("CrossChat.EventLoop"))
	{
		_poller.add(_wakeup.socket(), EventLoop::SOCKET_READABLE, WAKEUP_ID);
	}

	~Impl()
	{
		// Another thread may still be inside post() or stop(): it signals the wake-up channel
		// while holding _tasksMutex (see wakeLocked()). Taking the mutex here waits for it, so
		// the channel and the mutex outlive every signal. Whoever calls post() or stop() after
		// the loop's destruction has begun is at fault (the loop's owner must rule that out).
		std::lock_guard<std::mutex> lock(_tasksMutex);
	}

	template <typename Fn>
	void guarded(const char* what, Fn&& fn)
		/// Runs fn; an exception is logged and counted, never propagated.
	{
		try
		{
			fn();
		}
		catch (const Poco::Exception& exc)
		{
			reportError(what, exc.displayText());
		}
		catch (const std::exception& exc)
		{
			reportError(what, exc.what());
		}
		catch (...)
		{
			reportError(what, "unknown exception");
		}
	}

	void reportError(const char* what, const std::string& text)
	{
		_handlerErrors.fetch_add(1, std::memory_order_relaxed);
		_logger.error("exception escaped %s, loop continues: %s", std::string(what), text);
	}

	void wakeLocked(bool onLoopThread)
		/// Wakes the loop unless a wake-up is pending already. Callers hold _tasksMutex: the
		/// loop thread may otherwise see the reason for the wake-up (a task, the stop flag),
		/// return from run() and destroy the loop while this thread is still signalling. On the
		/// loop thread itself the loop is not asleep: the pending flag alone makes its next
		/// poll return at once, and the wake-up channel's write and read are saved.
	{
		if (!_wakePending.exchange(true, std::memory_order_acq_rel) && !onLoopThread)
			_wakeup.signal();
	}

	void enqueue(Task&& task, bool onLoopThread)
	{
		std::lock_guard<std::mutex> lock(_tasksMutex);
		_tasks.push_back(std::move(task));
		wakeLocked(onLoopThread);
	}

	void requestStop(bool onLoopThread)
	{
		std::lock_guard<std::mutex> lock(_tasksMutex);
		_stop.store(true, std::memory_order_release);
		wakeLocked(onLoopThread);
	}

	void addTimer(const std::shared_ptr<TimerHandle::State>& pState, Clock::time_point when)
		/// Loop thread only.
	{
		if (_timers.size() >= MIN_COMPACT_SIZE && _timers.size() >= 2 * _sizeAfterCompaction)
			compactTimers();
		_timers.push_back(TimerEntry{when, _nextSequence++, pState});
		std::push_heap(_timers.begin(), _timers.end(), Later());
	}

	void compactTimers()
		/// Drops cancelled timers, so that timers cancelled from other threads cannot pile up.
		/// Amortised O(1) per timer: runs only when the heap has doubled since the last time.
	{
		_timers.erase(std::remove_if(_timers.begin(), _timers.end(),
			[](const TimerEntry& e) { return e.pState->cancelled.load(std::memory_order_relaxed); }),
			_timers.end());
		std::make_heap(_timers.begin(), _timers.end(), Later());
		_sizeAfterCompaction = _timers.size();
	}

	std::chrono::milliseconds pollTimeout()
		/// How long the poll may sleep: not at all with work pending, until the next live timer,
		/// or without a limit (-1) when nothing but a socket or a wake-up can bring work. Reads
		/// the clock only when a timer decides.
	{
		if (_wakePending.load(std::memory_order_acquire) || !_atIterationEnd.empty())
			return std::chrono::milliseconds(0);
		// Cancelled timers at the front would end the sleep for nothing: drop them now.
		while (!_timers.empty() && _timers.front().pState->cancelled.load(std::memory_order_acquire))
		{
			std::pop_heap(_timers.begin(), _timers.end(), Later());
			_timers.pop_back();
		}
		if (_timers.empty())
			return std::chrono::milliseconds(-1);   // no timer to arm in the kernel
		const Clock::duration wait = std::max(Clock::duration::zero(), _timers.front().when - Clock::now());
		// The poll waits in whole milliseconds: round up so that a timer never busy-spins.
		return std::chrono::ceil<std::chrono::milliseconds>(wait);
	}

	void dispatchSockets()
	{
		for (const Poller::Event& event: _ready)
		{
			if (event.id == WAKEUP_ID)
			{
				_wakeup.drain();
				continue;
			}
			// Looked up now, not before the loop: an earlier handler may have removed it.
			auto it = _byId.find(event.id);
			if (it == _byId.end()) continue;
			std::shared_ptr<Registration> pReg = it->second;  // survives removal inside the handler
			guarded("socket handler", [&] { pReg->handler(event.events); });
		}
	}

	void runDueTimers()
	{
		if (_timers.empty()) return;
		const Clock::time_point now = Clock::now();
		// Timers scheduled while these run are due one interval later at the earliest, so the
		// loop ends even if a callback keeps re-arming itself with a zero delay.
		std::vector<std::shared_ptr<TimerHandle::State>> due;
		while (!_timers.empty() && _timers.front().when <= now)
		{
			std::pop_heap(_timers.begin(), _timers.end(), Later());
			TimerEntry entry = std::move(_timers.back());
			_timers.pop_back();
			if (entry.pState->cancelled.load(std::memory_order_acquire)) continue;
			if (entry.pState->interval > Clock::duration::zero())
			{
				// No catch-up bursts: a late periodic timer's next run is one interval from now.
				Clock::time_point next = entry.when + entry.pState->interval;
				if (next <= now) next = now + entry.pState->interval;
				addTimer(entry.pState, next);
			}
			due.push_back(std::move(entry.pState));
		}
		for (auto& pState: due)
		{
			if (pState->cancelled.load(std::memory_order_acquire)) continue;
			if (pState->interval == Clock::duration::zero())
			{
				pState->fired.store(true, std::memory_order_release);
				Task task = std::move(pState->task);   // releases the captures after it runs
				guarded("timer", task);
			}
			else
			{
				guarded("timer", pState->task);
			}
		}
	}

	void runIterationEnd()
		/// Runs the end-of-iteration tasks, and those they queue, for a few rounds.
	{
		for (int round = 0; round < MAX_END_ROUNDS && !_atIterationEnd.empty(); ++round)
		{
			std::vector<EndTask> tasks;
			tasks.swap(_atIterationEnd);
			for (auto& entry: tasks)
			{
				if (entry.pShared)
					guarded("end-of-iteration task", *entry.pShared);
				else
					guarded("end-of-iteration task", entry.task);
			}
			tasks.clear();
			if (_atIterationEnd.empty())
			{
				_atIterationEnd.swap(tasks);   // keeps the capacity: no allocation next time
				break;
			}
		}
	}

	void runTasks()
	{
		_wakePending.store(false, std::memory_order_release);
		std::vector<Task> tasks;
		{
			std::lock_guard<std::mutex> lock(_tasksMutex);
			tasks.swap(_tasks);
		}
		for (auto& task: tasks) guarded("posted task", task);
	}

	Poco::Logger& _logger;
	Wakeup _wakeup;
	Poller _poller;
	std::vector<Poller::Event> _ready;        ///< The last poll's result; loop thread only.
	std::atomic<bool> _stop{false};
	std::atomic<bool> _wakePending{false};
	std::atomic<std::uint64_t> _handlerErrors{0};

	std::mutex _tasksMutex;
	std::vector<Task> _tasks;

	std::vector<TimerEntry> _timers;          ///< A min-heap ordered by Later; loop thread only.
	std::uint64_t _nextSequence = 0;
	std::size_t _sizeAfterCompaction = 0;

	std::unordered_map<Poco::Net::SocketImpl*, std::shared_ptr<Registration>> _sockets;  ///< Loop thread only.
	std::unordered_map<std::uint64_t, std::shared_ptr<Registration>> _byId;            ///< Loop thread only.
	std::uint64_t _nextId = WAKEUP_ID + 1;
	struct EndTask
	{
		Task task;
		std::shared_ptr<const Task> pShared;   ///< Set instead of task by the shared overload.
	};

	std::vector<EndTask> _atIterationEnd;     ///< runAtIterationEnd(); loop thread only.
};


EventLoop::EventLoop():
	_pImpl(std::make_unique<Impl>()),
	_threadId(std::this_thread::get_id())
{
	if (t_pLoopInThisThread)
		throw Poco::IllegalStateException("this thread already has an EventLoop: one loop per thread");
	t_pLoopInThisThread = this;
}


EventLoop::~EventLoop()
{
	assertInLoopThread();
	// The socket registrations go first, while the loop is whole: what they own may still call
	// it (removeSocket()) as it is destroyed.
	auto sockets = std::move(_pImpl->_sockets);
	auto byId = std::move(_pImpl->_byId);
	_pImpl->_sockets.clear();
	_pImpl->_byId.clear();
	sockets.clear();
	byId.clear();
	t_pLoopInThisThread = nullptr;
	for (const auto& entry: _pImpl->_timers)
		entry.pState->cancelled.store(true, std::memory_order_release);
}


void EventLoop::run()
{
	assertInLoopThread();
	Impl& impl = *_pImpl;
	Clock::time_point lastPoll;   // of a poll made while busy; the epoch after a blocking one
	while (!impl._stop.load(std::memory_order_acquire))
	{
		// An iteration that only has tasks to run (posted, or queued for the end of the
		// iteration) skips the poll system call if the last poll was less than
		// BUSY_POLL_INTERVAL ago: a loop that keeps posting work to itself still serves its
		// sockets every few microseconds, without a poll per task.
		const bool busy = impl._wakePending.load(std::memory_order_acquire) || !impl._atIterationEnd.empty();
		Clock::time_point now;
		if (busy) now = Clock::now();
		if (!busy || now - lastPoll >= Impl::BUSY_POLL_INTERVAL)
		{
			impl.guarded("poll", [&] { impl._poller.wait(impl.pollTimeout(), impl._ready); });
			lastPoll = now;
			impl.dispatchSockets();
		}
		impl.runDueTimers();
		impl.runTasks();
		impl.runIterationEnd();
	}
	impl._stop.store(false, std::memory_order_release);
}


void EventLoop::stop()
{
	_pImpl->requestStop(isInLoopThread());
}


EventLoop::TimePoint EventLoop::now() const
{
	return Clock::now();
}


bool EventLoop::stopped() const
{
	return _pImpl->_stop.load(std::memory_order_acquire);
}


void EventLoop::post(Task task)
{
	_pImpl->enqueue(std::move(task), isInLoopThread());
}


void EventLoop::runInLoop(Task task)
{
	if (isInLoopThread())
		_pImpl->guarded("task", task);
	else
		_pImpl->enqueue(std::move(task), false);
}


void EventLoop::runAtIterationEnd(Task task)
{
	assertInLoopThread();
	_pImpl->_atIterationEnd.push_back(Impl::EndTask{std::move(task), nullptr});
}


void EventLoop::runAtIterationEnd(const std::shared_ptr<const Task>& task)
{
	assertInLoopThread();
	if (task) _pImpl->_atIterationEnd.push_back(Impl::EndTask{Task(), task});
}


TimerHandle EventLoop::runAfter(Duration delay, Task task)
{
	auto pState = std::make_shared<TimerHandle::State>();
	pState->task = std::move(task);
	const Clock::time_point when = Clock::now() + std::max(delay, Duration::zero());
	if (isInLoopThread())
		_pImpl->addTimer(pState, when);
	else
		_pImpl->enqueue([this, pState, when] { _pImpl->addTimer(pState, when); }, false);
	return TimerHandle(pState);
}


TimerHandle EventLoop::runEvery(Duration interval, Task task)
{
	if (interval <= Duration::zero())
		throw Poco::InvalidArgumentException("runEvery needs a positive interval");
	auto pState = std::make_shared<TimerHandle::State>();
	pState->task = std::move(task);
	pState->interval = interval;
	const Clock::time_point when = Clock::now() + interval;
	if (isInLoopThread())
		_pImpl->addTimer(pState, when);
	else
		_pImpl->enqueue([this, pState, when] { _pImpl->addTimer(pState, when); }, false);
	return TimerHandle(pState);
}


void EventLoop::addSocket(const Poco::Net::Socket& socket, int events, SocketHandler handler)
{
	assertInLoopThread();
	Impl& impl = *_pImpl;
	auto it = impl._sockets.find(socket.impl());
	if (it == impl._sockets.end())
	{
		const std::uint64_t id = impl._nextId++;
		auto pReg = std::make_shared<Impl::Registration>(Impl::Registration{socket, std::move(handler), id});
		impl._poller.add(socket, events, id);
		impl._sockets.emplace(socket.impl(), pReg);
		impl._byId.emplace(id, std::move(pReg));
	}
	else
	{
		// A new registration object: a handler running now keeps the old one alive.
		const std::uint64_t id = it->second->id;
		auto pReg = std::make_shared<Impl::Registration>(Impl::Registration{socket, std::move(handler), id});
		impl._poller.update(socket, events, id);
		it->second = pReg;
		impl._byId[id] = std::move(pReg);
	}
}


void EventLoop::updateSocket(const Poco::Net::Socket& socket, int events)
{
	assertInLoopThread();
	auto it = _pImpl->_sockets.find(socket.impl());
	if (it == _pImpl->_sockets.end())
		throw Poco::NotFoundException("updateSocket: socket is not registered with this loop");
	_pImpl->_poller.update(socket, events, it->second->id);
}


void EventLoop::removeSocket(const Poco::Net::Socket& socket)
{
	assertInLoopThread();
	auto it = _pImpl->_sockets.find(socket.impl());
	if (it == _pImpl->_sockets.end()) return;
	_pImpl->_poller.remove(socket);
	_pImpl->_byId.erase(it->second->id);
	_pImpl->_sockets.erase(it);
}


bool EventLoop::hasSocket(const Poco::Net::Socket& socket) const
{
	assertInLoopThread();
	return _pImpl->_sockets.count(socket.impl()) != 0;
}


bool EventLoop::isInLoopThread() const
{
	return std::this_thread::get_id() == _threadId;
}


void EventLoop::assertInLoopThread() const
{
	if (!isInLoopThread())
	{
		std::ostringstream message;
		message << "CrossChat::EventLoop: a loop-only method was called from thread "
			<< std::this_thread::get_id() << ", but the loop belongs to thread " << _threadId;
		std::fprintf(stderr, "%s\n", message.str().c_str());
		std::abort();
	}
}


std::uint64_t EventLoop::handlerErrors() const
{
	return _pImpl->_handlerErrors.load(std::memory_order_relaxed);
}


EventLoop* EventLoop::current()
{
	return t_pLoopInThisThread;
}


//
// TimerHandle
//


TimerHandle::TimerHandle(std::shared_ptr<State> pState):
	_pState(std::move(pState))
{
}


TimerHandle& TimerHandle::operator=(TimerHandle&& other) noexcept
{
	if (this != &other)
	{
		cancel();
		_pState = std::move(other._pState);
	}
	return *this;
}


TimerHandle::~TimerHandle()
{
	cancel();
}


void TimerHandle::cancel()
{
	if (_pState) _pState->cancelled.store(true, std::memory_order_release);
	_pState.reset();
}


void TimerHandle::detach()
{
	_pState.reset();
}


bool TimerHandle::active() const
{
	return _pState
		&& !_pState->cancelled.load(std::memory_order_acquire)
		&& !_pState->fired.load(std::memory_order_acquire);
}


} // namespace CrossChat
