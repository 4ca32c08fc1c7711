//
// ChatStoreTest.h
//
// testsuite: tests for ChatStore (the SQLite chat database) and its schema migrations.
//


#ifndef CrossChat_Test_ChatStoreTest_INCLUDED
#define CrossChat_Test_ChatStoreTest_INCLUDED


#include "../TestSupport.h"
#include <cppunit/extensions/HelperMacros.h>
#include <memory>
#include <string>


namespace CrossChat {
class ManualScheduler;
}


class ChatStoreTest: public CppUnit::TestFixture
{
	CPPUNIT_TEST_SUITE(ChatStoreTest);
	CPPUNIT_TEST(testNames);
	CPPUNIT_TEST(testOpenCreatesPrivateFiles);
	CPPUNIT_TEST(testUnsafeFilesRefused);
	CPPUNIT_TEST(testOtherOwnerRefused);
	CPPUNIT_TEST(testCorruptFileRefused);
	CPPUNIT_TEST(testDamagedPagesReported);
	CPPUNIT_TEST(testNewerVersionRefused);
	CPPUNIT_TEST(testMigrationToNextVersion);
	CPPUNIT_TEST(testMigrationFromVersion1);
	CPPUNIT_TEST(testMigrationToFileTransfers);
	CPPUNIT_TEST(testFailedMigrationRolledBack);
	CPPUNIT_TEST(testSecondConnectionRefused);
	CPPUNIT_TEST(testClosedStore);
	CPPUNIT_TEST(testContacts);
	CPPUNIT_TEST(testContactArguments);
	CPPUNIT_TEST(testOutboxStates);
	CPPUNIT_TEST(testOutboxOrderAcrossPeersAndReopen);
	CPPUNIT_TEST(testMessageArguments);
	CPPUNIT_TEST(testIncomingDuplicatesDropped);
	CPPUNIT_TEST(testDuplicatesDroppedAfterReopen);
	CPPUNIT_TEST(testSequenceNeverReused);
	CPPUNIT_TEST(testHistoryPaging);
	CPPUNIT_TEST(testSearch);
	CPPUNIT_TEST(testSearchExpression);
	CPPUNIT_TEST(testSearchHostileInput);
	CPPUNIT_TEST(testDeleteAndPrune);
	CPPUNIT_TEST(testStrangerLimits);
	CPPUNIT_TEST(testTransaction);
	CPPUNIT_TEST(testNestedTransaction);
	CPPUNIT_TEST(testQueriesUseIndexes);
	CPPUNIT_TEST(testKilledWriterLosesNothing);
	CPPUNIT_TEST_SUITE_END();

public:
	ChatStoreTest();
	~ChatStoreTest() override;

	void setUp() override;
	void tearDown() override;

	void testNames();
	void testOpenCreatesPrivateFiles();
	void testUnsafeFilesRefused();
	void testOtherOwnerRefused();
	void testCorruptFileRefused();
	void testDamagedPagesReported();
	void testNewerVersionRefused();
	void testMigrationToNextVersion();
	void testMigrationFromVersion1();
	void testMigrationToFileTransfers();
	void testFailedMigrationRolledBack();
	void testSecondConnectionRefused();
	void testClosedStore();
	void testContacts();
	void testContactArguments();
	void testOutboxStates();
	void testOutboxOrderAcrossPeersAndReopen();
	void testMessageArguments();
	void testIncomingDuplicatesDropped();
	void testDuplicatesDroppedAfterReopen();
	void testSequenceNeverReused();
	void testHistoryPaging();
	void testSearch();
	void testSearchExpression();
	void testSearchHostileInput();
	void testDeleteAndPrune();
	void testStrangerLimits();
	void testTransaction();
	void testNestedTransaction();
	void testQueriesUseIndexes();
	void testKilledWriterLosesNothing();

private:
	std::string path(const std::string& name) const;
		/// name inside this test's temporary directory.

	std::unique_ptr<CrossChat::Test::TempDirectory> _pTempDir;
	std::unique_ptr<CrossChat::ManualScheduler> _pLoop;
};


#endif // CrossChat_Test_ChatStoreTest_INCLUDED
