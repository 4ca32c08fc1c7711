//
// OutboxTest.h
//
// testsuite: tests for Outbox, the send queue of one peer.
//


#ifndef CrossChat_Test_OutboxTest_INCLUDED
#define CrossChat_Test_OutboxTest_INCLUDED


#include <cppunit/extensions/HelperMacros.h>


class OutboxTest: public CppUnit::TestFixture
{
	CPPUNIT_TEST_SUITE(OutboxTest);
	CPPUNIT_TEST(testOrder);
	CPPUNIT_TEST(testUnwrittenPerSession);
	CPPUNIT_TEST(testAcknowledgeAndRefuse);
	CPPUNIT_TEST(testOldestWaiting);
	CPPUNIT_TEST(testDuplicateIdRefused);
	CPPUNIT_TEST_SUITE_END();

public:
	void testOrder();
	void testUnwrittenPerSession();
	void testAcknowledgeAndRefuse();
	void testOldestWaiting();
	void testDuplicateIdRefused();
};


#endif // CrossChat_Test_OutboxTest_INCLUDED
