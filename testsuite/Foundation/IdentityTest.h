//
// IdentityTest.h
//
// testsuite: tests for Identity and PublicKey.
//


#ifndef CrossChat_Test_IdentityTest_INCLUDED
#define CrossChat_Test_IdentityTest_INCLUDED


#include <cppunit/extensions/HelperMacros.h>
#include <string>


class IdentityTest: public CppUnit::TestFixture
{
	CPPUNIT_TEST_SUITE(IdentityTest);
	CPPUNIT_TEST(testSignVerify);
	CPPUNIT_TEST(testTamperedSignatureRejected);
	CPPUNIT_TEST(testTamperedDataRejected);
	CPPUNIT_TEST(testOtherKeyRejects);
	CPPUNIT_TEST(testWrongSizeSignatureRejected);
	CPPUNIT_TEST(testPeerIdIsHashOfPublicKey);
	CPPUNIT_TEST(testSaveLoadRoundTrip);
	CPPUNIT_TEST(testSaveReplacesAndKeepsMode);
	CPPUNIT_TEST(testLoadOrCreate);
	CPPUNIT_TEST(testLoadOrCreateKeepsExistingDirectoryMode);
	CPPUNIT_TEST(testGroupOrWorldReadableKeyRefused);
	CPPUNIT_TEST(testMissingFileRefused);
	CPPUNIT_TEST(testGarbageFileRefused);
	CPPUNIT_TEST(testNonEd25519KeyRefused);
	CPPUNIT_TEST(testEncryptedKeyRefusedWithoutPrompt);
	CPPUNIT_TEST(testPrivateKeyPemIsPkcs8);
	CPPUNIT_TEST(testCertificate);
	CPPUNIT_TEST(testPublicKeyRoundTrips);
	CPPUNIT_TEST(testPublicKeyMatchesOpenSSLEncoding);
	CPPUNIT_TEST(testPublicKeyGarbageRejected);
	CPPUNIT_TEST(testPublicKeyNonEd25519Rejected);
	CPPUNIT_TEST(testDefaultDataDir);
	CPPUNIT_TEST_SUITE_END();

public:
	void setUp() override;
	void tearDown() override;

	void testSignVerify();
	void testTamperedSignatureRejected();
	void testTamperedDataRejected();
	void testOtherKeyRejects();
	void testWrongSizeSignatureRejected();
	void testPeerIdIsHashOfPublicKey();
	void testSaveLoadRoundTrip();
	void testSaveReplacesAndKeepsMode();
	void testLoadOrCreate();
	void testLoadOrCreateKeepsExistingDirectoryMode();
	void testGroupOrWorldReadableKeyRefused();
	void testMissingFileRefused();
	void testGarbageFileRefused();
	void testNonEd25519KeyRefused();
	void testEncryptedKeyRefusedWithoutPrompt();
	void testPrivateKeyPemIsPkcs8();
	void testCertificate();
	void testPublicKeyRoundTrips();
	void testPublicKeyMatchesOpenSSLEncoding();
	void testPublicKeyGarbageRejected();
	void testPublicKeyNonEd25519Rejected();
	void testDefaultDataDir();

private:
	std::string path(const std::string& name) const;
		/// name inside this test's temporary directory.

	std::string _tempDir;
};


#endif // CrossChat_Test_IdentityTest_INCLUDED
