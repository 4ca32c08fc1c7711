//
// HpkeTest.h
//
// testsuite: tests for Hpke (RFC 9180 test vectors, appendix A.2).
//


#ifndef CrossChat_Test_HpkeTest_INCLUDED
#define CrossChat_Test_HpkeTest_INCLUDED


#include <cppunit/extensions/HelperMacros.h>


class HpkeTest: public CppUnit::TestFixture
{
	CPPUNIT_TEST_SUITE(HpkeTest);
	CPPUNIT_TEST(testDeriveKeyPairVectors);
	CPPUNIT_TEST(testBaseSetupVector);
	CPPUNIT_TEST(testEncryptionVectors);
	CPPUNIT_TEST(testRecipientOpensVectors);
	CPPUNIT_TEST(testExportVectors);
	CPPUNIT_TEST(testRoundTripWithFreshKeys);
	CPPUNIT_TEST(testTamperingRefused);
	CPPUNIT_TEST(testWrongRecipientRefused);
	CPPUNIT_TEST(testLowOrderPointRefused);
	CPPUNIT_TEST(testMalformedKeysRefused);
	CPPUNIT_TEST_SUITE_END();

public:
	void testDeriveKeyPairVectors();
	void testBaseSetupVector();
	void testEncryptionVectors();
	void testRecipientOpensVectors();
	void testExportVectors();
	void testRoundTripWithFreshKeys();
	void testTamperingRefused();
	void testWrongRecipientRefused();
	void testLowOrderPointRefused();
	void testMalformedKeysRefused();
};


#endif // CrossChat_Test_HpkeTest_INCLUDED
