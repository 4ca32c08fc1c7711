//
// PeerTest.h
//
// testsuite: tests for Peer (session rules, outbox, receipt watchdog, consent) with fake
// sessions, a fake host and a manual clock.
//


#ifndef CrossChat_Test_PeerTest_INCLUDED
#define CrossChat_Test_PeerTest_INCLUDED


#include <cppunit/extensions/HelperMacros.h>


class PeerTest: public CppUnit::TestFixture
{
	CPPUNIT_TEST_SUITE(PeerTest);
	CPPUNIT_TEST(testDirectBeatsRelay);
	CPPUNIT_TEST(testPeerUpgradeIsAPathChange);
	CPPUNIT_TEST(testPeerDialedRelayReplacesDirect);
	CPPUNIT_TEST(testSameDialerNewerWins);
	CPPUNIT_TEST(testTieBreakSameOnBothSides);
	CPPUNIT_TEST(testOutboxFlushedInOrder);
	CPPUNIT_TEST(testReceiptWatchdog);
	CPPUNIT_TEST(testReceiptWatchdogFollowsOldest);
	CPPUNIT_TEST(testRefusalEndsDelivery);
	CPPUNIT_TEST(testDuplicatesDeliveredOnce);
	CPPUNIT_TEST(testStrangerRequestsAndBurst);
	CPPUNIT_TEST(testStrangerRefusalsKeepDuplicateFilter);
	CPPUNIT_TEST(testBlockedRefused);
	CPPUNIT_TEST(testContactMessageSetsConsent);
	CPPUNIT_TEST(testTlsForAnotherPeerAborted);
	CPPUNIT_TEST_SUITE_END();

public:
	void testDirectBeatsRelay();
	void testPeerUpgradeIsAPathChange();
	void testPeerDialedRelayReplacesDirect();
	void testSameDialerNewerWins();
	void testTieBreakSameOnBothSides();
	void testOutboxFlushedInOrder();
	void testReceiptWatchdog();
	void testReceiptWatchdogFollowsOldest();
	void testRefusalEndsDelivery();
	void testDuplicatesDeliveredOnce();
	void testStrangerRequestsAndBurst();
	void testStrangerRefusalsKeepDuplicateFilter();
	void testBlockedRefused();
	void testContactMessageSetsConsent();
	void testTlsForAnotherPeerAborted();
};


#endif // CrossChat_Test_PeerTest_INCLUDED
