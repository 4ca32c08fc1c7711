//
// LanDiscoveryTest.h
//
// testsuite: tests for LanDiscovery, on loopback only (127.255.255.255 and unicast).
//


#ifndef CrossChat_Test_LanDiscoveryTest_INCLUDED
#define CrossChat_Test_LanDiscoveryTest_INCLUDED


#include <cppunit/extensions/HelperMacros.h>


class LanDiscoveryTest: public CppUnit::TestFixture
{
	CPPUNIT_TEST_SUITE(LanDiscoveryTest);
	CPPUNIT_TEST(testThreeInstancesFindEachOther);
	CPPUNIT_TEST(testReplayIsDropped);
	CPPUNIT_TEST(testImpersonationImpossible);
	CPPUNIT_TEST(testGarbageIsMalformed);
	CPPUNIT_TEST(testGoodbyeLosesPeer);
	CPPUNIT_TEST(testRestartIsUpdate);
	CPPUNIT_TEST(testExpiry);
	CPPUNIT_TEST(testFloodIsRateLimited);
	CPPUNIT_TEST(testFakeKeysFromOneHostDoNotCrowdOut);
	CPPUNIT_TEST(testAnswersAreLimited);
	CPPUNIT_TEST(testHandlerMayStopOrDestroy);
	CPPUNIT_TEST(testIpv6Unicast);
	CPPUNIT_TEST(testLocalInfoValidated);
	CPPUNIT_TEST_SUITE_END();

public:
	void testThreeInstancesFindEachOther();
	void testReplayIsDropped();
	void testImpersonationImpossible();
	void testGarbageIsMalformed();
	void testGoodbyeLosesPeer();
	void testRestartIsUpdate();
	void testExpiry();
	void testFloodIsRateLimited();
	void testFakeKeysFromOneHostDoNotCrowdOut();
	void testAnswersAreLimited();
	void testHandlerMayStopOrDestroy();
	void testIpv6Unicast();
	void testLocalInfoValidated();
};


#endif // CrossChat_Test_LanDiscoveryTest_INCLUDED
