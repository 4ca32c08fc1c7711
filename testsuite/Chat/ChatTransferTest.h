//
// ChatTransferTest.h
//
// testsuite: file transfers between ChatNodes over loopback (real sessions, files and stores).
//


#ifndef CrossChat_Test_ChatTransferTest_INCLUDED
#define CrossChat_Test_ChatTransferTest_INCLUDED


#include "../TestSupport.h"
#include <cppunit/extensions/HelperMacros.h>
#include <memory>
#include <string>


class ChatTransferTest: public CppUnit::TestFixture
{
	CPPUNIT_TEST_SUITE(ChatTransferTest);
	CPPUNIT_TEST(testOfferAcceptVerify);
	CPPUNIT_TEST(testEmptyAndOddSizes);
	CPPUNIT_TEST(testCorruptBlockFetchedAgain);
	CPPUNIT_TEST(testRejectAndLimits);
	CPPUNIT_TEST(testCancelMidway);
	CPPUNIT_TEST(testReceiverRestartResumes);
	CPPUNIT_TEST(testSenderRestartResumes);
	CPPUNIT_TEST(testReconnectResumes);
	CPPUNIT_TEST(testChatDuringTransfer);
	CPPUNIT_TEST(testAutoAccept);
	CPPUNIT_TEST(testChangedFileFails);
	CPPUNIT_TEST(testNeverOverwrites);
	CPPUNIT_TEST_SUITE_END();

public:
	void setUp() override;
	void tearDown() override;

	void testOfferAcceptVerify();
	void testEmptyAndOddSizes();
	void testCorruptBlockFetchedAgain();
	void testRejectAndLimits();
	void testCancelMidway();
	void testReceiverRestartResumes();
	void testSenderRestartResumes();
	void testReconnectResumes();
	void testChatDuringTransfer();
	void testAutoAccept();
	void testChangedFileFails();
	void testNeverOverwrites();

private:
	std::string path(const std::string& name) const;

	std::unique_ptr<CrossChat::Test::TempDirectory> _pTempDir;
};


#endif // CrossChat_Test_ChatTransferTest_INCLUDED
