//
// PartFileTest.h
//
// testsuite: the download on disk (PartFile): free names, exclusive creation, blocks out of order, the running hash, resume state, the final rename without overwriting.
//


#ifndef CrossChat_Test_PartFileTest_INCLUDED
#define CrossChat_Test_PartFileTest_INCLUDED


#include "../TestSupport.h"
#include <cppunit/extensions/HelperMacros.h>
#include <memory>
#include <string>


class PartFileTest: public CppUnit::TestFixture
{
	CPPUNIT_TEST_SUITE(PartFileTest);
	CPPUNIT_TEST(testFreeNames);
	CPPUNIT_TEST(testWriteCheckFinish);
	CPPUNIT_TEST(testWrongDigest);
	CPPUNIT_TEST(testWriteVerified);
	CPPUNIT_TEST(testResumeRehashes);
	CPPUNIT_TEST(testRecoverUnrecorded);
	CPPUNIT_TEST(testReopenRefusesUnsafe);
	CPPUNIT_TEST(testFinishNeverOverwrites);
	CPPUNIT_TEST(testHaveBits);
	CPPUNIT_TEST_SUITE_END();

public:
	void setUp() override;
	void tearDown() override;

	void testFreeNames();
	void testWriteCheckFinish();
	void testWrongDigest();
	void testWriteVerified();
	void testResumeRehashes();
	void testRecoverUnrecorded();
	void testReopenRefusesUnsafe();
	void testFinishNeverOverwrites();
	void testHaveBits();

private:
	std::string path(const std::string& name) const;

	std::unique_ptr<CrossChat::Test::TempDirectory> _pTempDir;
};


#endif // CrossChat_Test_PartFileTest_INCLUDED
