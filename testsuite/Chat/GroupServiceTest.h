//
// GroupServiceTest.h
//
// testsuite: tests for GroupService — invitations, fan-out, per-author order, the gap
// exchange, removed members — over a fake network of services and a ManualScheduler.
//


#ifndef CrossChat_Test_GroupServiceTest_INCLUDED
#define CrossChat_Test_GroupServiceTest_INCLUDED


#include <cppunit/extensions/HelperMacros.h>


class GroupServiceTest: public CppUnit::TestFixture
{
	CPPUNIT_TEST_SUITE(GroupServiceTest);
	CPPUNIT_TEST(testInviteAcceptJoin);
	CPPUNIT_TEST(testInvitationIsARequest);
	CPPUNIT_TEST(testStrangersCannotCrowdOutAContact);
	CPPUNIT_TEST(testFanOutThroughAMember);
	CPPUNIT_TEST(testOfflineMemberCatchesUp);
	CPPUNIT_TEST(testGapRoundsAreBounded);
	CPPUNIT_TEST(testHeldBackUntilPredecessor);
	CPPUNIT_TEST(testHeldMessagesExpire);
	CPPUNIT_TEST(testRemovedMemberRefused);
	CPPUNIT_TEST(testLeave);
	CPPUNIT_TEST(testNewMemberSeesFromJoining);
	CPPUNIT_TEST(testSharedHistory);
	CPPUNIT_TEST(testForgedAndNonMemberMessages);
	CPPUNIT_TEST(testConcurrentAdminsConverge);
	CPPUNIT_TEST(testAuthorRateBounded);
	CPPUNIT_TEST(testRestartKeepsGroups);
	CPPUNIT_TEST_SUITE_END();

public:
	void testInviteAcceptJoin();
	void testInvitationIsARequest();
	void testStrangersCannotCrowdOutAContact();
	void testFanOutThroughAMember();
	void testOfflineMemberCatchesUp();
	void testGapRoundsAreBounded();
	void testHeldBackUntilPredecessor();
	void testHeldMessagesExpire();
	void testRemovedMemberRefused();
	void testLeave();
	void testNewMemberSeesFromJoining();
	void testSharedHistory();
	void testForgedAndNonMemberMessages();
	void testConcurrentAdminsConverge();
	void testAuthorRateBounded();
	void testRestartKeepsGroups();
};


#endif // CrossChat_Test_GroupServiceTest_INCLUDED
