//
// CompleterTest.h
//
// testsuite: crosschat's Completer.
//


#ifndef CrossChat_Test_CompleterTest_INCLUDED
#define CrossChat_Test_CompleterTest_INCLUDED


#include <cppunit/extensions/HelperMacros.h>


class CompleterTest: public CppUnit::TestFixture
{
	CPPUNIT_TEST_SUITE(CompleterTest);
	CPPUNIT_TEST(testCommands);
	CPPUNIT_TEST(testPeerNamesAndIds);
	CPPUNIT_TEST(testCycling);
	CPPUNIT_TEST(testPlainTextAddressing);
	CPPUNIT_TEST(testWindows);
	CPPUNIT_TEST(testPaths);
	CPPUNIT_TEST_SUITE_END();

public:
	void setUp() override;
	void testCommands();
	void testPeerNamesAndIds();
	void testCycling();
	void testPlainTextAddressing();
	void testWindows();
	void testPaths();
};


#endif // CrossChat_Test_CompleterTest_INCLUDED
