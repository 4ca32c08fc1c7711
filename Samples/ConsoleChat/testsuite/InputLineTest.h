//
// InputLineTest.h
//
// testsuite: crosschat's InputLine.
//


#ifndef CrossChat_Test_InputLineTest_INCLUDED
#define CrossChat_Test_InputLineTest_INCLUDED


#include <cppunit/extensions/HelperMacros.h>


class InputLineTest: public CppUnit::TestFixture
{
	CPPUNIT_TEST_SUITE(InputLineTest);
	CPPUNIT_TEST(testEditing);
	CPPUNIT_TEST(testWords);
	CPPUNIT_TEST(testKillAndYank);
	CPPUNIT_TEST(testHistory);
	CPPUNIT_TEST(testCombiningMarks);
	CPPUNIT_TEST(testViewScrolls);
	CPPUNIT_TEST_SUITE_END();

public:
	void setUp() override;
	void testEditing();
	void testWords();
	void testKillAndYank();
	void testHistory();
	void testCombiningMarks();
	void testViewScrolls();
};


#endif // CrossChat_Test_InputLineTest_INCLUDED
