//
// DataDirectoryTest.h
//
// testsuite: tests for DataDirectory (one process per identity) and for the checks Identity
// makes on the key file in it.
//


#ifndef CrossChat_Test_DataDirectoryTest_INCLUDED
#define CrossChat_Test_DataDirectoryTest_INCLUDED


#include <cppunit/extensions/HelperMacros.h>
#include <string>


class DataDirectoryTest: public CppUnit::TestFixture
{
	CPPUNIT_TEST_SUITE(DataDirectoryTest);
	CPPUNIT_TEST(testCreatesPrivateDirectory);
	CPPUNIT_TEST(testExistingDirectoryKept);
	CPPUNIT_TEST(testSecondHolderRefused);
	CPPUNIT_TEST(testLockReleasedWhenHolderKilled);
	CPPUNIT_TEST(testWritableByOthersRefused);
	CPPUNIT_TEST(testSymbolicLinksRefused);
	CPPUNIT_TEST(testNotADirectoryRefused);
	CPPUNIT_TEST(testOtherOwnerRefused);
	CPPUNIT_TEST(testKeyFileSymbolicLinkRefused);
	CPPUNIT_TEST(testKeyFileOtherOwnerRefused);
	CPPUNIT_TEST_SUITE_END();

public:
	void setUp() override;
	void tearDown() override;

	void testCreatesPrivateDirectory();
	void testExistingDirectoryKept();
	void testSecondHolderRefused();
	void testLockReleasedWhenHolderKilled();
	void testWritableByOthersRefused();
	void testSymbolicLinksRefused();
	void testNotADirectoryRefused();
	void testOtherOwnerRefused();
	void testKeyFileSymbolicLinkRefused();
	void testKeyFileOtherOwnerRefused();

private:
	std::string path(const std::string& name) const;
		/// name inside this test's temporary directory.

	std::string _tempDir;
};


#endif // CrossChat_Test_DataDirectoryTest_INCLUDED
