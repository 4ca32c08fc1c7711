//
// TlsChannelTest.h
//
// testsuite: tests for TlsChannel (TLS 1.3 pinned to peer IDs) over loopback.
//


#ifndef CrossChat_Test_TlsChannelTest_INCLUDED
#define CrossChat_Test_TlsChannelTest_INCLUDED


#include <cppunit/extensions/HelperMacros.h>


class TlsChannelTest: public CppUnit::TestFixture
{
	CPPUNIT_TEST_SUITE(TlsChannelTest);
	CPPUNIT_TEST(testHandshakePinsPeerIds);
	CPPUNIT_TEST(testCiphertextReadBeforeAttach);
	CPPUNIT_TEST(testDataQueuedBeforeReady);
	CPPUNIT_TEST(testCloseBeforeReadySendsQueuedData);
	CPPUNIT_TEST(testWrongExpectedPeerRefused);
	CPPUNIT_TEST(testTls12ClientRefused);
	CPPUNIT_TEST(testNonEd25519PeerRefused);
	CPPUNIT_TEST(testGarbageRejected);
	CPPUNIT_TEST(testOrderlyCloseByServer);
	CPPUNIT_TEST(testTruncationReported);
	CPPUNIT_TEST(testNestedChannels);
	CPPUNIT_TEST(testSendsCoalescedIntoOneRecord);
	CPPUNIT_TEST(testLoneMessageNotDelayed);
	CPPUNIT_TEST(testBackpressureCountsQueuedPlaintext);
	CPPUNIT_TEST(testLingeringChannelGoesWithItsLoop);
	CPPUNIT_TEST_SUITE_END();

public:
	void testHandshakePinsPeerIds();
	void testCiphertextReadBeforeAttach();
	void testDataQueuedBeforeReady();
	void testCloseBeforeReadySendsQueuedData();
	void testWrongExpectedPeerRefused();
	void testTls12ClientRefused();
	void testNonEd25519PeerRefused();
	void testGarbageRejected();
	void testOrderlyCloseByServer();
	void testTruncationReported();
	void testNestedChannels();
	void testSendsCoalescedIntoOneRecord();
	void testLoneMessageNotDelayed();
	void testBackpressureCountsQueuedPlaintext();
	void testLingeringChannelGoesWithItsLoop();
};


#endif // CrossChat_Test_TlsChannelTest_INCLUDED
