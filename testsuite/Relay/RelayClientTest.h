//
// RelayClientTest.h
//
// testsuite: tests for RelayClient against an in-process RelayServer (and a scripted fake relay).
//


#ifndef CrossChat_Test_RelayClientTest_INCLUDED
#define CrossChat_Test_RelayClientTest_INCLUDED


#include <cppunit/extensions/HelperMacros.h>


class RelayClientTest: public CppUnit::TestFixture
{
	CPPUNIT_TEST_SUITE(RelayClientTest);
	CPPUNIT_TEST(testAnnounceGoesOnline);
	CPPUNIT_TEST(testLookupOnlinePeer);
	CPPUNIT_TEST(testLookupUnknownPeer);
	CPPUNIT_TEST(testChatPortChangeReannounces);
	CPPUNIT_TEST(testTunnelBothWays);
	CPPUNIT_TEST(testTunnelToOfflinePeer);
	CPPUNIT_TEST(testStopUnregisters);
	CPPUNIT_TEST(testNoCallbackAfterStop);
	CPPUNIT_TEST(testRelayRestart);
	CPPUNIT_TEST(testUnreachableRelay);
	CPPUNIT_TEST(testHttpsTunnelCarriesNestedTls);
	CPPUNIT_TEST(testHttpsVerificationFailures);
	CPPUNIT_TEST(testTunnelLeftoverBytes);
	CPPUNIT_TEST(testBadResponses);
	CPPUNIT_TEST(testControlChannelKeepalive);
	CPPUNIT_TEST_SUITE_END();

public:
	void testAnnounceGoesOnline();
	void testLookupOnlinePeer();
	void testLookupUnknownPeer();
	void testChatPortChangeReannounces();
	void testTunnelBothWays();
	void testTunnelToOfflinePeer();
	void testStopUnregisters();
	void testNoCallbackAfterStop();
	void testRelayRestart();
	void testUnreachableRelay();
	void testHttpsTunnelCarriesNestedTls();
	void testHttpsVerificationFailures();
	void testTunnelLeftoverBytes();
	void testBadResponses();
	void testControlChannelKeepalive();
};


#endif // CrossChat_Test_RelayClientTest_INCLUDED
