//
// RelayNatTest.h
//
// testsuite: NAT probing and hole-punch coordination (relay probe port, punch forwarding,
// RelayClient::natInfo(), punch messages through RelayClient and a real TCP simultaneous open on loopback).
//


#ifndef CrossChat_Test_RelayNatTest_INCLUDED
#define CrossChat_Test_RelayNatTest_INCLUDED


#include <cppunit/extensions/HelperMacros.h>


class RelayNatTest: public CppUnit::TestFixture
{
	CPPUNIT_TEST_SUITE(RelayNatTest);
	CPPUNIT_TEST(testProbePortAnswersObservedAddress);
	CPPUNIT_TEST(testProbePortDisabled);
	CPPUNIT_TEST(testProbeRateLimited);
	CPPUNIT_TEST(testRelayForwardsPunch);
	CPPUNIT_TEST(testRelayPunchErrors);
	CPPUNIT_TEST(testNatClassification);
	CPPUNIT_TEST(testNatInfoOnLoopback);
	CPPUNIT_TEST(testNatInfoWithoutProbePort);
	CPPUNIT_TEST(testPunchMessagesThroughClients);
	CPPUNIT_TEST(testSimultaneousOpenOnLoopback);
	CPPUNIT_TEST_SUITE_END();

public:
	void testProbePortAnswersObservedAddress();
	void testProbePortDisabled();
	void testProbeRateLimited();
	void testRelayForwardsPunch();
	void testRelayPunchErrors();
	void testNatClassification();
	void testNatInfoOnLoopback();
	void testNatInfoWithoutProbePort();
	void testPunchMessagesThroughClients();
	void testSimultaneousOpenOnLoopback();
};


#endif // CrossChat_Test_RelayNatTest_INCLUDED
