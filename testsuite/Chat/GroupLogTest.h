//
// GroupLogTest.h
//
// testsuite: tests for GroupLog, a group's signed membership log.
//


#ifndef CrossChat_Test_GroupLogTest_INCLUDED
#define CrossChat_Test_GroupLogTest_INCLUDED


#include <cppunit/extensions/HelperMacros.h>


class GroupLogTest: public CppUnit::TestFixture
{
	CPPUNIT_TEST_SUITE(GroupLogTest);
	CPPUNIT_TEST(testCreateAndReplay);
	CPPUNIT_TEST(testRoles);
	CPPUNIT_TEST(testForgedEntries);
	CPPUNIT_TEST(testConflictingVersions);
	CPPUNIT_TEST(testLongerChainWins);
	CPPUNIT_TEST(testFounderDecisionFinal);
	CPPUNIT_TEST(testForkOrderTotal);
	CPPUNIT_TEST(testDeepForkRefused);
	CPPUNIT_TEST(testGroupIdBoundToFounder);
	CPPUNIT_TEST(testRemovedMember);
	CPPUNIT_TEST(testNeedEarlierAndValidPrefix);
	CPPUNIT_TEST(testJsonRoundTrip);
	CPPUNIT_TEST(testGroupIds);
	CPPUNIT_TEST_SUITE_END();

public:
	void testCreateAndReplay();
	void testRoles();
	void testForgedEntries();
	void testConflictingVersions();
	void testLongerChainWins();
	void testFounderDecisionFinal();
	void testForkOrderTotal();
	void testDeepForkRefused();
	void testGroupIdBoundToFounder();
	void testRemovedMember();
	void testNeedEarlierAndValidPrefix();
	void testJsonRoundTrip();
	void testGroupIds();
};


#endif // CrossChat_Test_GroupLogTest_INCLUDED
