//
// ManualSchedulerTest.cpp
//
// testsuite: tests for ManualScheduler.
//


#include "ManualSchedulerTest.h"
#include "CrossChat/ManualScheduler.h"
#include "Poco/Exception.h"
#include <functional>
#include <string>
#include <vector>


using namespace CrossChat;
using namespace std::chrono_literals;


void ManualSchedulerTest::testTimersFireInDueOrderAtTheirTime()
{
	ManualScheduler scheduler;
	const auto start = scheduler.now();
	std::vector<std::string> fired;
	std::vector<Scheduler::Duration> at;
	TimerHandle late = scheduler.runAfter(300ms, [&] { fired.push_back("late"); at.push_back(scheduler.now() - start); });
	TimerHandle early = scheduler.runAfter(100ms, [&] { fired.push_back("early"); at.push_back(scheduler.now() - start); });
	TimerHandle tie = scheduler.runAfter(100ms, [&] { fired.push_back("tie"); at.push_back(scheduler.now() - start); });
	scheduler.advance(99ms);
	CPPUNIT_ASSERT(fired.empty());
	scheduler.advance(250ms);
	CPPUNIT_ASSERT_EQUAL(std::size_t(3), fired.size());
	CPPUNIT_ASSERT_EQUAL(std::string("early"), fired[0]);
	CPPUNIT_ASSERT_EQUAL(std::string("tie"), fired[1]);
	CPPUNIT_ASSERT_EQUAL(std::string("late"), fired[2]);
	CPPUNIT_ASSERT(at[0] == 100ms && at[1] == 100ms && at[2] == 300ms);
	CPPUNIT_ASSERT(scheduler.now() - start == 349ms);
	CPPUNIT_ASSERT(!early.active());
}


void ManualSchedulerTest::testCancelledTimersNeverRun()
{
	ManualScheduler scheduler;
	int runs = 0;
	TimerHandle cancelled = scheduler.runAfter(10ms, [&] { ++runs; });
	{
		TimerHandle dropped = scheduler.runAfter(10ms, [&] { ++runs; });
	}
	cancelled.cancel();
	CPPUNIT_ASSERT_EQUAL(std::size_t(0), scheduler.pendingTimers());
	scheduler.advance(1s);
	CPPUNIT_ASSERT_EQUAL(0, runs);
	// A timer cancelled by another timer due at the same time does not run either.
	TimerHandle second;
	TimerHandle first = scheduler.runAfter(5ms, [&] { ++runs; second.cancel(); });
	second = scheduler.runAfter(5ms, [&] { runs += 100; });
	scheduler.advance(5ms);
	CPPUNIT_ASSERT_EQUAL(1, runs);
}


void ManualSchedulerTest::testRunEveryReschedulesFromDueTime()
{
	ManualScheduler scheduler;
	const auto start = scheduler.now();
	std::vector<Scheduler::Duration> at;
	TimerHandle periodic;
	periodic = scheduler.runEvery(40ms, [&] {
		at.push_back(scheduler.now() - start);
		if (at.size() == 3) periodic.cancel();
	});
	scheduler.advance(1s);
	CPPUNIT_ASSERT_EQUAL(std::size_t(3), at.size());
	CPPUNIT_ASSERT(at[0] == 40ms && at[1] == 80ms && at[2] == 120ms);
	CPPUNIT_ASSERT_THROW(TimerHandle bad = scheduler.runEvery(0ms, [] {}), Poco::InvalidArgumentException);
}


void ManualSchedulerTest::testPostedTasksRunInOrder()
{
	ManualScheduler scheduler;
	std::string order;
	scheduler.post([&] { order += "a"; scheduler.post([&] { order += "c"; }); });
	scheduler.post([&] { order += "b"; });
	CPPUNIT_ASSERT(order.empty());
	CPPUNIT_ASSERT_EQUAL(std::size_t(2), scheduler.pendingTasks());
	CPPUNIT_ASSERT_EQUAL(std::size_t(3), scheduler.runPending());
	CPPUNIT_ASSERT_EQUAL(std::string("abc"), order);
	// A timer's posted task runs before the next timer.
	TimerHandle one = scheduler.runAfter(1ms, [&] { scheduler.post([&] { order += "1"; }); });
	TimerHandle two = scheduler.runAfter(2ms, [&] { order += "2"; });
	scheduler.advance(2ms);
	CPPUNIT_ASSERT_EQUAL(std::string("abc12"), order);
}


void ManualSchedulerTest::testAdvanceToNextTimer()
{
	ManualScheduler scheduler;
	const auto start = scheduler.now();
	int runs = 0;
	scheduler.advanceToNextTimer();   // nothing pending: nothing happens
	CPPUNIT_ASSERT(scheduler.now() == start);
	TimerHandle timer = scheduler.runAfter(7s, [&] { ++runs; });
	scheduler.advanceToNextTimer();
	CPPUNIT_ASSERT_EQUAL(1, runs);
	CPPUNIT_ASSERT(scheduler.now() - start == 7s);
}


void ManualSchedulerTest::testRunawayTaskIsReported()
{
	ManualScheduler scheduler;
	std::function<void()> again = [&] { scheduler.post(again); };
	scheduler.post(again);
	CPPUNIT_ASSERT_THROW(scheduler.runPending(1000), Poco::IllegalStateException);
}
