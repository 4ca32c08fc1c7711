//
// AnnouncementTest.h
//
// testsuite: tests for the discovery datagram codec (Announcement).
//


#ifndef CrossChat_Test_AnnouncementTest_INCLUDED
#define CrossChat_Test_AnnouncementTest_INCLUDED


#include <cppunit/extensions/HelperMacros.h>


class AnnouncementTest: public CppUnit::TestFixture
{
	CPPUNIT_TEST_SUITE(AnnouncementTest);
	CPPUNIT_TEST(testRoundTrip);
	CPPUNIT_TEST(testLayout);
	CPPUNIT_TEST(testLargestDatagramFits);
	CPPUNIT_TEST(testTamperedByteRejected);
	CPPUNIT_TEST(testTruncatedRejected);
	CPPUNIT_TEST(testTrailingBytesRejected);
	CPPUNIT_TEST(testOversizedRejected);
	CPPUNIT_TEST(testWrongMagicVersionKind);
	CPPUNIT_TEST(testBadFieldsBehindValidSignature);
	CPPUNIT_TEST(testEncodeLimits);
	CPPUNIT_TEST(testIdDerivedFromKey);
	CPPUNIT_TEST_SUITE_END();

public:
	void testRoundTrip();
	void testLayout();
	void testLargestDatagramFits();
	void testTamperedByteRejected();
	void testTruncatedRejected();
	void testTrailingBytesRejected();
	void testOversizedRejected();
	void testWrongMagicVersionKind();
	void testBadFieldsBehindValidSignature();
	void testEncodeLimits();
	void testIdDerivedFromKey();
};


#endif // CrossChat_Test_AnnouncementTest_INCLUDED
