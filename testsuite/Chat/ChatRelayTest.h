//
// ChatRelayTest.h
//
// testsuite: ChatNode through an in-process relay on loopback.
//


#ifndef CrossChat_Test_ChatRelayTest_INCLUDED
#define CrossChat_Test_ChatRelayTest_INCLUDED


#include <cppunit/extensions/HelperMacros.h>


class ChatRelayTest: public CppUnit::TestFixture
{
	CPPUNIT_TEST_SUITE(ChatRelayTest);
	CPPUNIT_TEST(testTunnelWhenDirectImpossible);
	CPPUNIT_TEST(testDirectAfterLookup);
	CPPUNIT_TEST(testRelayRestartDeliversQueuedOnce);
	CPPUNIT_TEST(testUnreachableRelayKeepsLanChat);
	CPPUNIT_TEST(testUpgradeToDirectKeepsOrder);
	CPPUNIT_TEST(testHolePunchUpgrade);
	CPPUNIT_TEST(testContactTunnelPastStrangers);
	CPPUNIT_TEST(testMailboxNeverOnlineTogether);
	CPPUNIT_TEST(testMailboxDuplicateOfSessionDropped);
	CPPUNIT_TEST(testPrivateRelayToken);
	CPPUNIT_TEST(testHandlesPinned);
	CPPUNIT_TEST_SUITE_END();

public:
	void testTunnelWhenDirectImpossible();
	void testDirectAfterLookup();
	void testRelayRestartDeliversQueuedOnce();
	void testUnreachableRelayKeepsLanChat();
	void testUpgradeToDirectKeepsOrder();
	void testHolePunchUpgrade();
	void testContactTunnelPastStrangers();
	void testMailboxNeverOnlineTogether();
	void testMailboxDuplicateOfSessionDropped();
	void testPrivateRelayToken();
	void testHandlesPinned();
};


#endif // CrossChat_Test_ChatRelayTest_INCLUDED
