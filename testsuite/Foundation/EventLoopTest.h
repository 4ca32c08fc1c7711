//
// EventLoopTest.h
//
// testsuite: tests for EventLoop, TimerHandle and EventLoopThread.
//


#ifndef CrossChat_Test_EventLoopTest_INCLUDED
#define CrossChat_Test_EventLoopTest_INCLUDED


#include <cppunit/extensions/HelperMacros.h>


class EventLoopTest: public CppUnit::TestFixture
{
	CPPUNIT_TEST_SUITE(EventLoopTest);
	CPPUNIT_TEST(testTimersFireInOrder);
	CPPUNIT_TEST(testCancel);
	CPPUNIT_TEST(testCancelFromOtherThread);
	CPPUNIT_TEST(testHandleLifetime);
	CPPUNIT_TEST(testRunEvery);
	CPPUNIT_TEST(testPostFromManyThreads);
	CPPUNIT_TEST(testRunInLoop);
	CPPUNIT_TEST(testStopFromOtherThread);
	CPPUNIT_TEST(testStopBeforeRun);
	CPPUNIT_TEST(testThrowingHandlerKeepsLoopRunning);
	CPPUNIT_TEST(testSocketReadiness);
	CPPUNIT_TEST(testRemoveInsideHandler);
	CPPUNIT_TEST(testOneLoopPerThread);
	CPPUNIT_TEST(testLoopOnlyMethodAbortsFromOtherThread);
	CPPUNIT_TEST(testManyCancelledTimersAreReleased);
	CPPUNIT_TEST(testShutdownWhileOtherThreadsSignal);
	CPPUNIT_TEST(testDirectStopDoesNotEndLoopThread);
	CPPUNIT_TEST(testRunAtIterationEnd);
	CPPUNIT_TEST(testIterationEndTaskBeforeRunDoesNotSleep);
	CPPUNIT_TEST_SUITE_END();

public:
	void testTimersFireInOrder();
	void testCancel();
	void testCancelFromOtherThread();
	void testHandleLifetime();
	void testRunEvery();
	void testPostFromManyThreads();
	void testRunInLoop();
	void testStopFromOtherThread();
	void testStopBeforeRun();
	void testThrowingHandlerKeepsLoopRunning();
	void testSocketReadiness();
	void testRemoveInsideHandler();
	void testOneLoopPerThread();
	void testLoopOnlyMethodAbortsFromOtherThread();
	void testManyCancelledTimersAreReleased();
	void testShutdownWhileOtherThreadsSignal();
	void testDirectStopDoesNotEndLoopThread();
	void testRunAtIterationEnd();
	void testIterationEndTaskBeforeRunDoesNotSleep();
};


#endif // CrossChat_Test_EventLoopTest_INCLUDED
