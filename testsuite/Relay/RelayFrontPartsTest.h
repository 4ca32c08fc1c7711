//
// RelayFrontPartsTest.h
//
// testsuite: the parts of the relay's front and fairness, without a server: PROXY v2 header,
// trusted proxies and X-Forwarded-For, source keys, connection budgets, the rate limiter's
// eviction, HTTP request framing, and the registry's bounded indexes and per-source caps.
//


#ifndef CrossChat_Test_RelayFrontPartsTest_INCLUDED
#define CrossChat_Test_RelayFrontPartsTest_INCLUDED


#include <cppunit/extensions/HelperMacros.h>


class RelayFrontPartsTest: public CppUnit::TestFixture
{
	CPPUNIT_TEST_SUITE(RelayFrontPartsTest);
	CPPUNIT_TEST(testProxyHeader);
	CPPUNIT_TEST(testProxyHeaderRejects);
	CPPUNIT_TEST(testTrustedProxies);
	CPPUNIT_TEST(testForwardedFor);
	CPPUNIT_TEST(testSourceKey);
	CPPUNIT_TEST(testConnectionBudget);
	CPPUNIT_TEST(testRateLimiterEvictsByAge);
	CPPUNIT_TEST(testRequestReader);
	CPPUNIT_TEST(testRequestReaderRejects);
	CPPUNIT_TEST(testRegistryIndexes);
	CPPUNIT_TEST(testRegistryPerSource);
	CPPUNIT_TEST(testRegistryKeepsAnswers);
	CPPUNIT_TEST(testMailboxFairShare);
	CPPUNIT_TEST_SUITE_END();

public:
	void testProxyHeader();
	void testProxyHeaderRejects();
	void testTrustedProxies();
	void testForwardedFor();
	void testSourceKey();
	void testConnectionBudget();
	void testRateLimiterEvictsByAge();
	void testRequestReader();
	void testRequestReaderRejects();
	void testRegistryIndexes();
	void testRegistryPerSource();
	void testRegistryKeepsAnswers();
	void testMailboxFairShare();
};


#endif // CrossChat_Test_RelayFrontPartsTest_INCLUDED
