//
// TransferWindowTest.h
//
// testsuite: the receiver's delay-based window (TransferWindow).
//


#ifndef CrossChat_Test_TransferWindowTest_INCLUDED
#define CrossChat_Test_TransferWindowTest_INCLUDED


#include <cppunit/extensions/HelperMacros.h>


class TransferWindowTest: public CppUnit::TestFixture
{
	CPPUNIT_TEST_SUITE(TransferWindowTest);
	CPPUNIT_TEST(testStartsSmallAndAlwaysAllowsOne);
	CPPUNIT_TEST(testSlowStartGrows);
	CPPUNIT_TEST(testQueueShrinks);
	CPPUNIT_TEST(testSettlesNearTarget);
	CPPUNIT_TEST(testBounds);
	CPPUNIT_TEST(testResetForgetsBase);
	CPPUNIT_TEST_SUITE_END();

public:
	void testStartsSmallAndAlwaysAllowsOne();
	void testSlowStartGrows();
	void testQueueShrinks();
	void testSettlesNearTarget();
	void testBounds();
	void testResetForgetsBase();
};


#endif // CrossChat_Test_TransferWindowTest_INCLUDED
