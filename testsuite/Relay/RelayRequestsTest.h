//
// RelayRequestsTest.h
//
// testsuite: the relay server's request parsers, token buckets, replay cache and HTML escaping.
//


#ifndef CrossChat_Test_RelayRequestsTest_INCLUDED
#define CrossChat_Test_RelayRequestsTest_INCLUDED


#include <cppunit/extensions/HelperMacros.h>


class RelayRequestsTest: public CppUnit::TestFixture
{
	CPPUNIT_TEST_SUITE(RelayRequestsTest);
	CPPUNIT_TEST(testAnnouncedAddresses);
	CPPUNIT_TEST(testAnnounceResolve);
	CPPUNIT_TEST(testAnnounceRejects);
	CPPUNIT_TEST(testDirectoryQuery);
	CPPUNIT_TEST(testTokenBucket);
	CPPUNIT_TEST(testReplayCacheIsBounded);
	CPPUNIT_TEST(testHtmlEscape);
	CPPUNIT_TEST_SUITE_END();

public:
	void testAnnouncedAddresses();
	void testAnnounceResolve();
	void testAnnounceRejects();
	void testDirectoryQuery();
	void testTokenBucket();
	void testReplayCacheIsBounded();
	void testHtmlEscape();
};


#endif // CrossChat_Test_RelayRequestsTest_INCLUDED
