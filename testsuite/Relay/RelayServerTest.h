//
// RelayServerTest.h
//
// testsuite: RelayServer's HTTP API, status pages and bad-input handling, in process on
// 127.0.0.1 port 0.
//


#ifndef CrossChat_Test_RelayServerTest_INCLUDED
#define CrossChat_Test_RelayServerTest_INCLUDED


#include <cppunit/extensions/HelperMacros.h>


class RelayServerTest: public CppUnit::TestFixture
{
	CPPUNIT_TEST_SUITE(RelayServerTest);
	CPPUNIT_TEST(testHealth);
	CPPUNIT_TEST(testAnnounceAndLookup);
	CPPUNIT_TEST(testAnnounceFillsObservedAddress);
	CPPUNIT_TEST(testUnregister);
	CPPUNIT_TEST(testLookupUnknownAndMalformed);
	CPPUNIT_TEST(testLookupAnswerKept);
	CPPUNIT_TEST(testBodyTooLarge);
	CPPUNIT_TEST(testMalformedBodies);
	CPPUNIT_TEST(testSignatureRequired);
	CPPUNIT_TEST(testStaleAndReplayed);
	CPPUNIT_TEST(testUnknownPathAndWrongMethod);
	CPPUNIT_TEST(testRateLimit);
	CPPUNIT_TEST(testStatusPageEscapesNames);
	CPPUNIT_TEST(testMetrics);
	CPPUNIT_TEST(testRecordExpiry);
	CPPUNIT_TEST(testDirectory);
	CPPUNIT_TEST(testRegistryFull);
	CPPUNIT_TEST(testGarbageRequestKeepsServing);
	CPPUNIT_TEST(testHttps);
	CPPUNIT_TEST_SUITE_END();

public:
	void testHealth();
	void testAnnounceAndLookup();
	void testAnnounceFillsObservedAddress();
	void testUnregister();
	void testLookupUnknownAndMalformed();
	void testLookupAnswerKept();
	void testBodyTooLarge();
	void testMalformedBodies();
	void testSignatureRequired();
	void testStaleAndReplayed();
	void testUnknownPathAndWrongMethod();
	void testRateLimit();
	void testStatusPageEscapesNames();
	void testMetrics();
	void testRecordExpiry();
	void testDirectory();
	void testRegistryFull();
	void testGarbageRequestKeepsServing();
	void testHttps();
};


#endif // CrossChat_Test_RelayServerTest_INCLUDED
