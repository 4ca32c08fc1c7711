//
// RelayFairnessTest.h
//
// testsuite: RelayServer's front under misbehaving clients, per-source bounds, reverse
// proxies (X-Forwarded-For, PROXY v2), privacy of addresses, and draining; in process on
// 127.0.0.1 port 0 (distinct sources come through a trusted proxy's headers).
//


#ifndef CrossChat_Test_RelayFairnessTest_INCLUDED
#define CrossChat_Test_RelayFairnessTest_INCLUDED


#include <cppunit/extensions/HelperMacros.h>


class RelayFairnessTest: public CppUnit::TestFixture
{
	CPPUNIT_TEST_SUITE(RelayFairnessTest);
	CPPUNIT_TEST(testPortTaken);
	CPPUNIT_TEST(testSlowClientsAreCutOff);
	CPPUNIT_TEST(testPerSourceConnectionCap);
	CPPUNIT_TEST(testPipelinedRequests);
	CPPUNIT_TEST(testForwardedFor);
	CPPUNIT_TEST(testUntrustedForwardedForIgnored);
	CPPUNIT_TEST(testProxyProtocol);
	CPPUNIT_TEST(testObservedOnlyWhenPublished);
	CPPUNIT_TEST(testRecordsPerSource);
	CPPUNIT_TEST(testInviteNotChargedToCallee);
	CPPUNIT_TEST(testTunnelRequestRate);
	CPPUNIT_TEST(testPunchPrivacy);
	CPPUNIT_TEST(testDrain);
	CPPUNIT_TEST_SUITE_END();

public:
	void testPortTaken();
	void testSlowClientsAreCutOff();
	void testPerSourceConnectionCap();
	void testPipelinedRequests();
	void testForwardedFor();
	void testUntrustedForwardedForIgnored();
	void testProxyProtocol();
	void testObservedOnlyWhenPublished();
	void testRecordsPerSource();
	void testInviteNotChargedToCallee();
	void testTunnelRequestRate();
	void testPunchPrivacy();
	void testDrain();
};


#endif // CrossChat_Test_RelayFairnessTest_INCLUDED
