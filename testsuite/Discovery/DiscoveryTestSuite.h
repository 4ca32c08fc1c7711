//
// DiscoveryTestSuite.h
//
// testsuite: all Discovery tests.
//


#ifndef CrossChat_Test_DiscoveryTestSuite_INCLUDED
#define CrossChat_Test_DiscoveryTestSuite_INCLUDED


#include <cppunit/Test.h>


class DiscoveryTestSuite
{
public:
	static CppUnit::Test* suite();
};


#endif // CrossChat_Test_DiscoveryTestSuite_INCLUDED
