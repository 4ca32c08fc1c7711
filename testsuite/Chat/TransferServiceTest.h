//
// TransferServiceTest.h
//
// testsuite: the transfer service between two fake peers on a manual clock: hostile offers and data, bounds, the window, the pump and the drain mark, block verification.
//


#ifndef CrossChat_Test_TransferServiceTest_INCLUDED
#define CrossChat_Test_TransferServiceTest_INCLUDED


#include "../TestSupport.h"
#include <cppunit/extensions/HelperMacros.h>
#include <memory>
#include <string>


class TransferServiceTest: public CppUnit::TestFixture
{
	CPPUNIT_TEST_SUITE(TransferServiceTest);
	CPPUNIT_TEST(testHostileNameLandsSafely);
	CPPUNIT_TEST(testStrangerOffersBounded);
	CPPUNIT_TEST(testOutOfPlaceDataDropped);
	CPPUNIT_TEST(testBadRequestsRefused);
	CPPUNIT_TEST(testWindowBoundsRequests);
	CPPUNIT_TEST(testPumpWaitsForDrain);
	CPPUNIT_TEST(testCorruptBlocksGiveUp);
	CPPUNIT_TEST(testRoundsAfterNewSession);
	CPPUNIT_TEST(testDownloadMemoryShared);
	CPPUNIT_TEST(testGroupOffers);
	CPPUNIT_TEST(testGroupShareHashedOnce);
	CPPUNIT_TEST_SUITE_END();

public:
	void setUp() override;
	void tearDown() override;

	void testHostileNameLandsSafely();
	void testStrangerOffersBounded();
	void testOutOfPlaceDataDropped();
	void testBadRequestsRefused();
	void testWindowBoundsRequests();
	void testPumpWaitsForDrain();
	void testCorruptBlocksGiveUp();
	void testRoundsAfterNewSession();
	void testDownloadMemoryShared();
	void testGroupOffers();
	void testGroupShareHashedOnce();

private:
	std::string path(const std::string& name) const;

	std::unique_ptr<CrossChat::Test::TempDirectory> _pTempDir;
};


#endif // CrossChat_Test_TransferServiceTest_INCLUDED
