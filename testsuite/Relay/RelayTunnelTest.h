//
// RelayTunnelTest.h
//
// testsuite: RelayServer's control channels and forwarding tunnels (HTTP upgrades).
//


#ifndef CrossChat_Test_RelayTunnelTest_INCLUDED
#define CrossChat_Test_RelayTunnelTest_INCLUDED


#include <cppunit/extensions/HelperMacros.h>


class RelayTunnelTest: public CppUnit::TestFixture
{
	CPPUNIT_TEST_SUITE(RelayTunnelTest);
	CPPUNIT_TEST(testControlAuthentication);
	CPPUNIT_TEST(testControlBadSignature);
	CPPUNIT_TEST(testControlWithoutHelloTimesOut);
	CPPUNIT_TEST(testControlGarbage);
	CPPUNIT_TEST(testControlPingPong);
	CPPUNIT_TEST(testControlReplaced);
	CPPUNIT_TEST(testControlNeedsUpgradeHeaders);
	CPPUNIT_TEST(testControlConnectionLimit);
	CPPUNIT_TEST(testTunnelEndToEnd);
	CPPUNIT_TEST(testTunnelHoldsEarlyBytes);
	CPPUNIT_TEST(testTunnelToOfflinePeer);
	CPPUNIT_TEST(testTunnelUnknownAndReusedToken);
	CPPUNIT_TEST(testTunnelLimit);
	CPPUNIT_TEST(testTunnelRateLimit);
	CPPUNIT_TEST(testTunnelRatesArePerTunnel);
	CPPUNIT_TEST(testTunnelIdleTimeout);
	CPPUNIT_TEST(testTunnelJoinTimeout);
	CPPUNIT_TEST_SUITE_END();

public:
	void testControlAuthentication();
	void testControlBadSignature();
	void testControlWithoutHelloTimesOut();
	void testControlGarbage();
	void testControlPingPong();
	void testControlReplaced();
	void testControlNeedsUpgradeHeaders();
	void testControlConnectionLimit();
	void testTunnelEndToEnd();
	void testTunnelHoldsEarlyBytes();
	void testTunnelToOfflinePeer();
	void testTunnelUnknownAndReusedToken();
	void testTunnelLimit();
	void testTunnelRateLimit();
	void testTunnelRatesArePerTunnel();
	void testTunnelIdleTimeout();
	void testTunnelJoinTimeout();
};


#endif // CrossChat_Test_RelayTunnelTest_INCLUDED
