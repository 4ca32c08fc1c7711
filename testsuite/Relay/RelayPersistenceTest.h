//
// RelayPersistenceTest.h
//
// testsuite: the relay's data directory (records, envelopes across a restart), access tokens
// (relay.access = token) and the token administration (RelayTokens).
//


#ifndef CrossChat_Test_RelayPersistenceTest_INCLUDED
#define CrossChat_Test_RelayPersistenceTest_INCLUDED


#include <cppunit/extensions/HelperMacros.h>
#include <string>


class RelayPersistenceTest: public CppUnit::TestFixture
{
	CPPUNIT_TEST_SUITE(RelayPersistenceTest);
	CPPUNIT_TEST(testRecordsSurviveRestart);
	CPPUNIT_TEST(testMailboxSurvivesRestart);
	CPPUNIT_TEST(testMailboxBounds);
	CPPUNIT_TEST(testTokenAccess);
	CPPUNIT_TEST(testTokenAdministration);
	CPPUNIT_TEST(testTokenQuota);
	CPPUNIT_TEST(testSecondRelayRefused);
	CPPUNIT_TEST_SUITE_END();

public:
	void setUp() override;
	void tearDown() override;

	void testRecordsSurviveRestart();
	void testMailboxSurvivesRestart();
	void testMailboxBounds();
	void testTokenAccess();
	void testTokenAdministration();
	void testTokenQuota();
	void testSecondRelayRefused();

private:
	std::string _dir;
};


#endif // CrossChat_Test_RelayPersistenceTest_INCLUDED
