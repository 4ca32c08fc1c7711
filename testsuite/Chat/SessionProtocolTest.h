//
// SessionProtocolTest.h
//
// testsuite: tests for the session protocol catalog.
//


#ifndef CrossChat_Test_SessionProtocolTest_INCLUDED
#define CrossChat_Test_SessionProtocolTest_INCLUDED


#include <cppunit/extensions/HelperMacros.h>


class SessionProtocolTest: public CppUnit::TestFixture
{
	CPPUNIT_TEST_SUITE(SessionProtocolTest);
	CPPUNIT_TEST(testRoundTrip);
	CPPUNIT_TEST(testRejectsInvalid);
	CPPUNIT_TEST_SUITE_END();

public:
	void testRoundTrip();
	void testRejectsInvalid();
};


#endif // CrossChat_Test_SessionProtocolTest_INCLUDED
