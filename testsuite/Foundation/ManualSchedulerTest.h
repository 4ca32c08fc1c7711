//
// ManualSchedulerTest.h
//
// testsuite: tests for ManualScheduler, the fake clock of time-driven unit tests.
//


#ifndef CrossChat_Test_ManualSchedulerTest_INCLUDED
#define CrossChat_Test_ManualSchedulerTest_INCLUDED


#include <cppunit/extensions/HelperMacros.h>


class ManualSchedulerTest: public CppUnit::TestFixture
{
	CPPUNIT_TEST_SUITE(ManualSchedulerTest);
	CPPUNIT_TEST(testTimersFireInDueOrderAtTheirTime);
	CPPUNIT_TEST(testCancelledTimersNeverRun);
	CPPUNIT_TEST(testRunEveryReschedulesFromDueTime);
	CPPUNIT_TEST(testPostedTasksRunInOrder);
	CPPUNIT_TEST(testAdvanceToNextTimer);
	CPPUNIT_TEST(testRunawayTaskIsReported);
	CPPUNIT_TEST_SUITE_END();

public:
	void testTimersFireInDueOrderAtTheirTime();
	void testCancelledTimersNeverRun();
	void testRunEveryReschedulesFromDueTime();
	void testPostedTasksRunInOrder();
	void testAdvanceToNextTimer();
	void testRunawayTaskIsReported();
};


#endif // CrossChat_Test_ManualSchedulerTest_INCLUDED
