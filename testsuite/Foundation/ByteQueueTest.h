//
// ByteQueueTest.h
//
// testsuite: tests for ByteQueue.
//


#ifndef CrossChat_Test_ByteQueueTest_INCLUDED
#define CrossChat_Test_ByteQueueTest_INCLUDED


#include <cppunit/extensions/HelperMacros.h>


class ByteQueueTest: public CppUnit::TestFixture
{
	CPPUNIT_TEST_SUITE(ByteQueueTest);
	CPPUNIT_TEST(testFifoAcrossChunks);
	CPPUNIT_TEST(testConsumeAtBoundaries);
	CPPUNIT_TEST(testPeekLimits);
	CPPUNIT_TEST(testSpareChunksReused);
	CPPUNIT_TEST(testLargeStringAdopted);
	CPPUNIT_TEST(testPrepareCommit);
	CPPUNIT_TEST(testClearAndErrors);
	CPPUNIT_TEST(testRandomOperations);
	CPPUNIT_TEST_SUITE_END();

public:
	void testFifoAcrossChunks();
	void testConsumeAtBoundaries();
	void testPeekLimits();
	void testSpareChunksReused();
	void testLargeStringAdopted();
	void testPrepareCommit();
	void testClearAndErrors();
	void testRandomOperations();
};


#endif // CrossChat_Test_ByteQueueTest_INCLUDED
