//
// LadderTest.h
//
// testsuite: tests for Ladder (dial rounds, budgets, upgrade rounds, hole punching, port
// prediction) with fake sessions, a fake host and a manual clock — no sockets, no root.
//


#ifndef CrossChat_Test_LadderTest_INCLUDED
#define CrossChat_Test_LadderTest_INCLUDED


#include <cppunit/extensions/HelperMacros.h>


class LadderTest: public CppUnit::TestFixture
{
	CPPUNIT_TEST_SUITE(LadderTest);
	CPPUNIT_TEST(testNoDialsForStranger);
	CPPUNIT_TEST(testGroupPeerDialedWhileShared);
	CPPUNIT_TEST(testDialRoundOrder);
	CPPUNIT_TEST(testBackoff);
	CPPUNIT_TEST(testRoundBudget);
	CPPUNIT_TEST(testFlappingPeerBudget);
	CPPUNIT_TEST(testDialBudget);
	CPPUNIT_TEST(testUpgradeRounds);
	CPPUNIT_TEST(testNoUpgradeWithoutConsent);
	CPPUNIT_TEST(testPunchInitiator);
	CPPUNIT_TEST(testPunchResponder);
	CPPUNIT_TEST(testPunchBothStartAtOnce);
	CPPUNIT_TEST(testStrangerPunchIgnored);
	CPPUNIT_TEST(testPunchRetries);
	CPPUNIT_TEST(testPunchDialPastTlsNotRepeated);
	CPPUNIT_TEST(testPredictionGuessingSide);
	CPPUNIT_TEST(testPredictionMappingSide);
	CPPUNIT_TEST(testPredictionGuessingResponder);
	CPPUNIT_TEST(testBothEndpointDependentNoPunch);
	CPPUNIT_TEST(testDirectAttemptDropsOthers);
	CPPUNIT_TEST_SUITE_END();

public:
	void testNoDialsForStranger();
	void testGroupPeerDialedWhileShared();
	void testDialRoundOrder();
	void testBackoff();
	void testRoundBudget();
	void testFlappingPeerBudget();
	void testDialBudget();
	void testUpgradeRounds();
	void testNoUpgradeWithoutConsent();
	void testPunchInitiator();
	void testPunchResponder();
	void testPunchBothStartAtOnce();
	void testStrangerPunchIgnored();
	void testPunchRetries();
	void testPunchDialPastTlsNotRepeated();
	void testPredictionGuessingSide();
	void testPredictionMappingSide();
	void testPredictionGuessingResponder();
	void testBothEndpointDependentNoPunch();
	void testDirectAttemptDropsOthers();
};


#endif // CrossChat_Test_LadderTest_INCLUDED
