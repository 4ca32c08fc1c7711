//
// TcpConnectionTest.h
//
// testsuite: tests for TcpConnection and TcpListener over loopback.
//


#ifndef CrossChat_Test_TcpConnectionTest_INCLUDED
#define CrossChat_Test_TcpConnectionTest_INCLUDED


#include <cppunit/extensions/HelperMacros.h>


class TcpConnectionTest: public CppUnit::TestFixture
{
	CPPUNIT_TEST_SUITE(TcpConnectionTest);
	CPPUNIT_TEST(testEchoRoundTrip);
	CPPUNIT_TEST(testLargeTransferWithBackpressure);
	CPPUNIT_TEST(testOrderlyCloseByClient);
	CPPUNIT_TEST(testOrderlyCloseByServer);
	CPPUNIT_TEST(testConnectRefused);
	CPPUNIT_TEST(testConnectTimeout);
	CPPUNIT_TEST(testAbortDropsOutput);
	CPPUNIT_TEST(testHandlersReleasedAfterClose);
	CPPUNIT_TEST(testConnectionOutlivesUserPointer);
	CPPUNIT_TEST(testConnectFromSharedPort);
	CPPUNIT_TEST(testSendsCoalescedPerIteration);
	CPPUNIT_TEST(testLoneMessageLeavesInItsIteration);
	CPPUNIT_TEST(testLargeSendsKeepOrder);
	CPPUNIT_TEST(testCloseFlushesQueuedOutput);
	CPPUNIT_TEST(testLargeSendIntoFullSocket);
	CPPUNIT_TEST(testCorkAndSendNow);
	CPPUNIT_TEST_SUITE_END();

public:
	void testEchoRoundTrip();
	void testLargeTransferWithBackpressure();
	void testOrderlyCloseByClient();
	void testOrderlyCloseByServer();
	void testConnectRefused();
	void testConnectTimeout();
	void testAbortDropsOutput();
	void testHandlersReleasedAfterClose();
	void testConnectionOutlivesUserPointer();
	void testConnectFromSharedPort();
	void testSendsCoalescedPerIteration();
	void testLoneMessageLeavesInItsIteration();
	void testLargeSendsKeepOrder();
	void testCloseFlushesQueuedOutput();
	void testLargeSendIntoFullSocket();
	void testCorkAndSendNow();
};


#endif // CrossChat_Test_TcpConnectionTest_INCLUDED
