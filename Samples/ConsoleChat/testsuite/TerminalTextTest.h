//
// TerminalTextTest.h
//
// testsuite: crosschat's TerminalText.
//


#ifndef CrossChat_Test_TerminalTextTest_INCLUDED
#define CrossChat_Test_TerminalTextTest_INCLUDED


#include <cppunit/extensions/HelperMacros.h>


class TerminalTextTest: public CppUnit::TestFixture
{
	CPPUNIT_TEST_SUITE(TerminalTextTest);
	CPPUNIT_TEST(testDecodeInvalid);
	CPPUNIT_TEST(testSanitizeControls);
	CPPUNIT_TEST(testBidiAndFormat);
	CPPUNIT_TEST(testCombining);
	CPPUNIT_TEST(testWidths);
	CPPUNIT_TEST(testFitAndTruncate);
	CPPUNIT_TEST(testEncodeRoundTrip);
	CPPUNIT_TEST_SUITE_END();

public:
	void setUp() override;
	void testDecodeInvalid();
	void testSanitizeControls();
	void testBidiAndFormat();
	void testCombining();
	void testWidths();
	void testFitAndTruncate();
	void testEncodeRoundTrip();
};


#endif // CrossChat_Test_TerminalTextTest_INCLUDED
