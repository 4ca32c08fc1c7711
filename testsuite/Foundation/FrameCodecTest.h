//
// FrameCodecTest.h
//
// testsuite: tests for FrameCodec.
//


#ifndef CrossChat_Test_FrameCodecTest_INCLUDED
#define CrossChat_Test_FrameCodecTest_INCLUDED


#include <cppunit/extensions/HelperMacros.h>


class FrameCodecTest: public CppUnit::TestFixture
{
	CPPUNIT_TEST_SUITE(FrameCodecTest);
	CPPUNIT_TEST_SUITE_END();
};


#endif // CrossChat_Test_FrameCodecTest_INCLUDED
