//
// SafeFileNameTest.h
//
// testsuite: safe file names from hostile offered names (SafeFileName).
//


#ifndef CrossChat_Test_SafeFileNameTest_INCLUDED
#define CrossChat_Test_SafeFileNameTest_INCLUDED


#include <cppunit/extensions/HelperMacros.h>


class SafeFileNameTest: public CppUnit::TestFixture
{
	CPPUNIT_TEST_SUITE(SafeFileNameTest);
	CPPUNIT_TEST(testPathsStripped);
	CPPUNIT_TEST(testControlCharacters);
	CPPUNIT_TEST(testUnicodeTricks);
	CPPUNIT_TEST(testReservedAndDotNames);
	CPPUNIT_TEST(testLengthCap);
	CPPUNIT_TEST(testNumbered);
	CPPUNIT_TEST_SUITE_END();

public:
	void testPathsStripped();
	void testControlCharacters();
	void testUnicodeTricks();
	void testReservedAndDotNames();
	void testLengthCap();
	void testNumbered();
};


#endif // CrossChat_Test_SafeFileNameTest_INCLUDED
