//
// AddressPolicyTest.h
//
// testsuite: tests for AddressPolicy, which addresses a peer may make us dial.
//


#ifndef CrossChat_Test_AddressPolicyTest_INCLUDED
#define CrossChat_Test_AddressPolicyTest_INCLUDED


#include <cppunit/extensions/HelperMacros.h>


class AddressPolicyTest: public CppUnit::TestFixture
{
	CPPUNIT_TEST_SUITE(AddressPolicyTest);
	CPPUNIT_TEST(testNeverDialed);
	CPPUNIT_TEST(testGlobalUnicast);
	CPPUNIT_TEST(testRestrictedOnlyOnOwnNetworks);
	CPPUNIT_TEST(testOwnBroadcast);
	CPPUNIT_TEST(testScopedLinkLocal);
	CPPUNIT_TEST(testNetworksKeptUntilRefresh);
	CPPUNIT_TEST(testSourceKey);
	CPPUNIT_TEST_SUITE_END();

public:
	void testNeverDialed();
	void testGlobalUnicast();
	void testRestrictedOnlyOnOwnNetworks();
	void testOwnBroadcast();
	void testScopedLinkLocal();
	void testNetworksKeptUntilRefresh();
	void testSourceKey();
};


#endif // CrossChat_Test_AddressPolicyTest_INCLUDED
