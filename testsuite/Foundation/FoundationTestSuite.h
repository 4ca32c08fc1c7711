//
// FoundationTestSuite.h
//
// testsuite: all Foundation tests.
//


#ifndef CrossChat_Test_FoundationTestSuite_INCLUDED
#define CrossChat_Test_FoundationTestSuite_INCLUDED


#include <cppunit/Test.h>


class FoundationTestSuite
{
public:
	static CppUnit::Test* suite();
};


#endif // CrossChat_Test_FoundationTestSuite_INCLUDED
