//
// IdentityTest.h
//
// testsuite: tests for Identity.
//


#ifndef CrossChat_Test_IdentityTest_INCLUDED
#define CrossChat_Test_IdentityTest_INCLUDED


#include <cppunit/extensions/HelperMacros.h>


class IdentityTest: public CppUnit::TestFixture
{
	CPPUNIT_TEST_SUITE(IdentityTest);
	CPPUNIT_TEST_SUITE_END();
};


#endif // CrossChat_Test_IdentityTest_INCLUDED
