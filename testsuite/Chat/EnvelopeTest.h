//
// EnvelopeTest.h
//
// testsuite: tests for Envelope, the sealed mailbox envelope (HPKE to a pre-key, signed inside).
//


#ifndef CrossChat_Test_EnvelopeTest_INCLUDED
#define CrossChat_Test_EnvelopeTest_INCLUDED


#include <cppunit/extensions/HelperMacros.h>


class EnvelopeTest: public CppUnit::TestFixture
{
	CPPUNIT_TEST_SUITE(EnvelopeTest);
	CPPUNIT_TEST(testRoundTrip);
	CPPUNIT_TEST(testReceipt);
	CPPUNIT_TEST(testNoPlaintextOutside);
	CPPUNIT_TEST(testEveryByteTampered);
	CPPUNIT_TEST(testWrongRecipient);
	CPPUNIT_TEST(testReaddressedRefused);
	CPPUNIT_TEST(testPrekeyGone);
	CPPUNIT_TEST(testReplayOpensToSameId);
	CPPUNIT_TEST(testBounds);
	CPPUNIT_TEST_SUITE_END();

public:
	void testRoundTrip();
	void testReceipt();
	void testNoPlaintextOutside();
	void testEveryByteTampered();
	void testWrongRecipient();
	void testReaddressedRefused();
	void testPrekeyGone();
	void testReplayOpensToSameId();
	void testBounds();
};


#endif // CrossChat_Test_EnvelopeTest_INCLUDED
