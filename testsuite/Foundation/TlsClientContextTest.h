//
// TlsClientContextTest.h
//
// testsuite: tests for TlsClientContext and X.509-mode client verification in TlsChannel.
//


#ifndef CrossChat_Test_TlsClientContextTest_INCLUDED
#define CrossChat_Test_TlsClientContextTest_INCLUDED


#include <cppunit/extensions/HelperMacros.h>


class TlsClientContextTest: public CppUnit::TestFixture
{
	CPPUNIT_TEST_SUITE(TlsClientContextTest);
	CPPUNIT_TEST(testVerifiedByHostName);
	CPPUNIT_TEST(testVerifiedByIpAddress);
	CPPUNIT_TEST(testSniSent);
	CPPUNIT_TEST(testWrongHostNameRefused);
	CPPUNIT_TEST(testWrongIpAddressRefused);
	CPPUNIT_TEST(testUntrustedCaRefused);
	CPPUNIT_TEST(testExpiredCertificateRefused);
	CPPUNIT_TEST(testSystemTrustStore);
	CPPUNIT_TEST(testCaFileErrors);
	CPPUNIT_TEST_SUITE_END();

public:
	void testVerifiedByHostName();
	void testVerifiedByIpAddress();
	void testSniSent();
	void testWrongHostNameRefused();
	void testWrongIpAddressRefused();
	void testUntrustedCaRefused();
	void testExpiredCertificateRefused();
	void testSystemTrustStore();
	void testCaFileErrors();
};


#endif // CrossChat_Test_TlsClientContextTest_INCLUDED
