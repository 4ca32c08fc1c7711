//
// DownloadBudgetTest.h
//
// testsuite: the node-wide download memory and its fair queue (DownloadBudget).
//


#ifndef CrossChat_Test_DownloadBudgetTest_INCLUDED
#define CrossChat_Test_DownloadBudgetTest_INCLUDED


#include <cppunit/extensions/HelperMacros.h>


class DownloadBudgetTest: public CppUnit::TestFixture
{
	CPPUNIT_TEST_SUITE(DownloadBudgetTest);
	CPPUNIT_TEST(testHardLimit);
	CPPUNIT_TEST(testWaitersServedInTurn);
	CPPUNIT_TEST(testBlockedHeadKeepsItsPlace);
	CPPUNIT_TEST(testEndedClientsSkipped);
	CPPUNIT_TEST_SUITE_END();

public:
	void testHardLimit();
	void testWaitersServedInTurn();
	void testBlockedHeadKeepsItsPlace();
	void testEndedClientsSkipped();
};


#endif // CrossChat_Test_DownloadBudgetTest_INCLUDED
