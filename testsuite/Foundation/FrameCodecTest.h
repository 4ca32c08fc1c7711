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
	CPPUNIT_TEST(testHeaderLayout);
	CPPUNIT_TEST(testRoundTrip);
	CPPUNIT_TEST(testEmptyAndMaximumBody);
	CPPUNIT_TEST(testManyFramesInOneFeed);
	CPPUNIT_TEST(testByteByByte);
	CPPUNIT_TEST(testTruncatedHeaderWaits);
	CPPUNIT_TEST(testTruncatedBodyWaits);
	CPPUNIT_TEST(testOversizedLengthRejectedFromHeader);
	CPPUNIT_TEST(testEncodeOversizedBodyThrows);
	CPPUNIT_TEST(testBadMagic);
	CPPUNIT_TEST(testBadVersion);
	CPPUNIT_TEST(testFailedStateSticks);
	CPPUNIT_TEST(testReset);
	CPPUNIT_TEST(testBufferedAccounting);
	CPPUNIT_TEST(testBufferStaysBounded);
	CPPUNIT_TEST(testGarbage);
	CPPUNIT_TEST(testDecodeEverySplit);
	CPPUNIT_TEST(testDecodeWithoutCopy);
	CPPUNIT_TEST(testDecodeHandlerThrows);
	CPPUNIT_TEST(testDecodeMalformedAfterGoodFrames);
	CPPUNIT_TEST(testDecodeAfterFeed);
	CPPUNIT_TEST(testDecodeOversizedRejectedFromHeader);
	CPPUNIT_TEST(testEncodeHeader);
	CPPUNIT_TEST_SUITE_END();

public:
	void testHeaderLayout();
	void testRoundTrip();
	void testEmptyAndMaximumBody();
	void testManyFramesInOneFeed();
	void testByteByByte();
	void testTruncatedHeaderWaits();
	void testTruncatedBodyWaits();
	void testOversizedLengthRejectedFromHeader();
	void testEncodeOversizedBodyThrows();
	void testBadMagic();
	void testBadVersion();
	void testFailedStateSticks();
	void testReset();
	void testBufferedAccounting();
	void testBufferStaysBounded();
	void testGarbage();
	void testDecodeEverySplit();
	void testDecodeWithoutCopy();
	void testDecodeHandlerThrows();
	void testDecodeMalformedAfterGoodFrames();
	void testDecodeAfterFeed();
	void testDecodeOversizedRejectedFromHeader();
	void testEncodeHeader();
};


#endif // CrossChat_Test_FrameCodecTest_INCLUDED
