//
// ChatTestSuite.h
//
// testsuite: all Chat tests.
//


#ifndef CrossChat_Test_ChatTestSuite_INCLUDED
#define CrossChat_Test_ChatTestSuite_INCLUDED


#include <cppunit/Test.h>


class ChatTestSuite
{
public:
	static CppUnit::Test* suite();
};


#endif // CrossChat_Test_ChatTestSuite_INCLUDED
