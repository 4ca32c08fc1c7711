//
// RelayTestSuite.h
//
// testsuite: all Relay tests.
//


#ifndef CrossChat_Test_RelayTestSuite_INCLUDED
#define CrossChat_Test_RelayTestSuite_INCLUDED


#include <cppunit/Test.h>


class RelayTestSuite
{
public:
	static CppUnit::Test* suite();
};


#endif // CrossChat_Test_RelayTestSuite_INCLUDED
