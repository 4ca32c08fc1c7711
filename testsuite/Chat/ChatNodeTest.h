//
// ChatNodeTest.h
//
// testsuite: tests for ChatNode over loopback.
//


#ifndef CrossChat_Test_ChatNodeTest_INCLUDED
#define CrossChat_Test_ChatNodeTest_INCLUDED


#include <cppunit/extensions/HelperMacros.h>


class ChatNodeTest: public CppUnit::TestFixture
{
	CPPUNIT_TEST_SUITE(ChatNodeTest);
	CPPUNIT_TEST(testExchangeWithReceipts);
	CPPUNIT_TEST(testDiscoveryThenChat);
	CPPUNIT_TEST(testImpostorRefused);
	CPPUNIT_TEST(testSimultaneousDialKeepsOneSession);
	CPPUNIT_TEST(testRestartResumesWithoutLossOrDuplicates);
	CPPUNIT_TEST(testQueuedUntilPeerFound);
	CPPUNIT_TEST(testResolve);
	CPPUNIT_TEST(testRename);
	CPPUNIT_TEST_SUITE_END();

public:
	void testExchangeWithReceipts();
	void testDiscoveryThenChat();
	void testImpostorRefused();
	void testSimultaneousDialKeepsOneSession();
	void testRestartResumesWithoutLossOrDuplicates();
	void testQueuedUntilPeerFound();
	void testResolve();
	void testRename();
};


#endif // CrossChat_Test_ChatNodeTest_INCLUDED
