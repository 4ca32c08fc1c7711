//
// TransferProtocolTest.h
//
// testsuite: the file transfer wire forms (TransferProtocol): IDs, digests, the block plan, the control messages and the binary file-data frame.
//


#ifndef CrossChat_Test_TransferProtocolTest_INCLUDED
#define CrossChat_Test_TransferProtocolTest_INCLUDED


#include <cppunit/extensions/HelperMacros.h>


class TransferProtocolTest: public CppUnit::TestFixture
{
	CPPUNIT_TEST_SUITE(TransferProtocolTest);
	CPPUNIT_TEST(testBlockSizeRule);
	CPPUNIT_TEST(testBlockPlan);
	CPPUNIT_TEST(testIdsAndDigests);
	CPPUNIT_TEST(testOfferRoundTrip);
	CPPUNIT_TEST(testOfferRefused);
	CPPUNIT_TEST(testHashesAndGet);
	CPPUNIT_TEST(testDataFrame);
	CPPUNIT_TEST(testCancelBody);
	CPPUNIT_TEST_SUITE_END();

public:
	void testBlockSizeRule();
	void testBlockPlan();
	void testIdsAndDigests();
	void testOfferRoundTrip();
	void testOfferRefused();
	void testHashesAndGet();
	void testDataFrame();
	void testCancelBody();
};


#endif // CrossChat_Test_TransferProtocolTest_INCLUDED
