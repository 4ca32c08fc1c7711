//
// TlsServerContextTest.h
//
// testsuite: tests for TlsServerContext (loading, errors, reload) and X.509-mode TlsChannel servers.
//


#ifndef CrossChat_Test_TlsServerContextTest_INCLUDED
#define CrossChat_Test_TlsServerContextTest_INCLUDED


#include <cppunit/extensions/HelperMacros.h>


class TlsServerContextTest: public CppUnit::TestFixture
{
	CPPUNIT_TEST_SUITE(TlsServerContextTest);
	CPPUNIT_TEST(testKeyTypes);
	CPPUNIT_TEST(testLoadErrors);
	CPPUNIT_TEST(testReloadWhileConnected);
	CPPUNIT_TEST(testFailedReloadKeepsCertificate);
	CPPUNIT_TEST(testSharedByLoopThreads);
	CPPUNIT_TEST(testTls12ClientAccepted);
	CPPUNIT_TEST_SUITE_END();

public:
	void testKeyTypes();
	void testLoadErrors();
	void testReloadWhileConnected();
	void testFailedReloadKeepsCertificate();
	void testSharedByLoopThreads();
	void testTls12ClientAccepted();
};


#endif // CrossChat_Test_TlsServerContextTest_INCLUDED
