//
// PeerIdTest.h
//
// testsuite: tests for PeerId.
//


#ifndef CrossChat_Test_PeerIdTest_INCLUDED
#define CrossChat_Test_PeerIdTest_INCLUDED


#include <cppunit/extensions/HelperMacros.h>


class PeerIdTest: public CppUnit::TestFixture
{
	CPPUNIT_TEST_SUITE(PeerIdTest);
	CPPUNIT_TEST_SUITE_END();
};


#endif // CrossChat_Test_PeerIdTest_INCLUDED
