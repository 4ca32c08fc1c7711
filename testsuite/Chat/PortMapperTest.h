//
// PortMapperTest.h
//
// testsuite: PortMapper against a fake NAT-PMP gateway on a loopback address.
//


#ifndef CrossChat_Test_PortMapperTest_INCLUDED
#define CrossChat_Test_PortMapperTest_INCLUDED


#include <cppunit/extensions/HelperMacros.h>


class PortMapperTest: public CppUnit::TestFixture
{
	CPPUNIT_TEST_SUITE(PortMapperTest);
	CPPUNIT_TEST(testRejectsBadConfig);
	CPPUNIT_TEST(testNoGatewayReported);
	CPPUNIT_TEST(testSilentGatewayBoundedByTimeout);
	CPPUNIT_TEST(testNatPmpMapRenewRemove);
	CPPUNIT_TEST(testRenewalFailureReportedAndRetried);
	CPPUNIT_TEST(testDestructorRemovesMapping);
	CPPUNIT_TEST(testDestructorLeavesDiscoveryBehind);
	CPPUNIT_TEST_SUITE_END();

public:
	void testRejectsBadConfig();
	void testNoGatewayReported();
	void testSilentGatewayBoundedByTimeout();
	void testNatPmpMapRenewRemove();
	void testRenewalFailureReportedAndRetried();
	void testDestructorRemovesMapping();
	void testDestructorLeavesDiscoveryBehind();
};


#endif // CrossChat_Test_PortMapperTest_INCLUDED
