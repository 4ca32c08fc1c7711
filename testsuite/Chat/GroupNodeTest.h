//
// GroupNodeTest.h
//
// testsuite: group conversations through ChatNode over loopback (real TLS sessions).
//


#ifndef CrossChat_Test_GroupNodeTest_INCLUDED
#define CrossChat_Test_GroupNodeTest_INCLUDED


#include <cppunit/extensions/HelperMacros.h>


class GroupNodeTest: public CppUnit::TestFixture
{
	CPPUNIT_TEST_SUITE(GroupNodeTest);
	CPPUNIT_TEST(testThreeMembersOneAway);
	CPPUNIT_TEST(testApiErrors);
	CPPUNIT_TEST(testFileToGroup);
	CPPUNIT_TEST_SUITE_END();

public:
	void testThreeMembersOneAway();
	void testApiErrors();
	void testFileToGroup();
};


#endif // CrossChat_Test_GroupNodeTest_INCLUDED
