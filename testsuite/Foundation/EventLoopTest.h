//
// EventLoopTest.h
//
// testsuite: tests for EventLoop.
//


#ifndef CrossChat_Test_EventLoopTest_INCLUDED
#define CrossChat_Test_EventLoopTest_INCLUDED


#include <cppunit/extensions/HelperMacros.h>


class EventLoopTest: public CppUnit::TestFixture
{
	CPPUNIT_TEST_SUITE(EventLoopTest);
	CPPUNIT_TEST_SUITE_END();
};


#endif // CrossChat_Test_EventLoopTest_INCLUDED
