//
// ChatWindowTest.h
//
// testsuite: crosschat's ChatWindow.
//


#ifndef CrossChat_Test_ChatWindowTest_INCLUDED
#define CrossChat_Test_ChatWindowTest_INCLUDED


#include <cppunit/extensions/HelperMacros.h>


class ChatWindowTest: public CppUnit::TestFixture
{
	CPPUNIT_TEST_SUITE(ChatWindowTest);
	CPPUNIT_TEST(testUnreadAndActivity);
	CPPUNIT_TEST(testMessageStates);
	CPPUNIT_TEST(testRetreat);
	CPPUNIT_TEST(testWrap);
	CPPUNIT_TEST(testBoundedAndClear);
	CPPUNIT_TEST(testScroll);
	CPPUNIT_TEST(testPrepend);
	CPPUNIT_TEST_SUITE_END();

public:
	void setUp() override;
	void testUnreadAndActivity();
	void testMessageStates();
	void testRetreat();
	void testWrap();
	void testBoundedAndClear();
	void testScroll();
	void testPrepend();
};


#endif // CrossChat_Test_ChatWindowTest_INCLUDED
