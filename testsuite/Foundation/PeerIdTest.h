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
	CPPUNIT_TEST(testDefaultIsNull);
	CPPUNIT_TEST(testRoundTrip);
	CPPUNIT_TEST(testFormat);
	CPPUNIT_TEST(testKnownVector);
	CPPUNIT_TEST(testShortString);
	CPPUNIT_TEST(testLowerCaseAndNoDashesAccepted);
	CPPUNIT_TEST(testEverySubstitutionRejected);
	CPPUNIT_TEST(testTranspositionsMostlyRejected);
	CPPUNIT_TEST(testNonCanonicalEndingRejected);
	CPPUNIT_TEST(testGarbageRejected);
	CPPUNIT_TEST(testErrorMessagesNameTheProblem);
	CPPUNIT_TEST(testTryParse);
	CPPUNIT_TEST(testFromBytes);
	CPPUNIT_TEST(testFromPublicKeyDer);
	CPPUNIT_TEST(testIsPrefixOf);
	CPPUNIT_TEST(testOrderingAndHash);
	CPPUNIT_TEST_SUITE_END();

public:
	void testDefaultIsNull();
	void testRoundTrip();
	void testFormat();
	void testKnownVector();
	void testShortString();
	void testLowerCaseAndNoDashesAccepted();
	void testEverySubstitutionRejected();
	void testTranspositionsMostlyRejected();
	void testNonCanonicalEndingRejected();
	void testGarbageRejected();
	void testErrorMessagesNameTheProblem();
	void testTryParse();
	void testFromBytes();
	void testFromPublicKeyDer();
	void testIsPrefixOf();
	void testOrderingAndHash();
};


#endif // CrossChat_Test_PeerIdTest_INCLUDED
