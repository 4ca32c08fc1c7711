//
// TextTest.h
//
// testsuite: tests for Text (UTF-8 validation, terminal-safe text).
//


#ifndef CrossChat_Test_TextTest_INCLUDED
#define CrossChat_Test_TextTest_INCLUDED


#include <cppunit/extensions/HelperMacros.h>


class TextTest: public CppUnit::TestFixture
{
	CPPUNIT_TEST_SUITE(TextTest);
	CPPUNIT_TEST(testValidUtf8);
	CPPUNIT_TEST(testInvalidUtf8);
	CPPUNIT_TEST(testTerminalSafe);
	CPPUNIT_TEST(testTerminalSafeCut);
	CPPUNIT_TEST_SUITE_END();

public:
	void testValidUtf8();
	void testInvalidUtf8();
	void testTerminalSafe();
	void testTerminalSafeCut();
};


#endif // CrossChat_Test_TextTest_INCLUDED
