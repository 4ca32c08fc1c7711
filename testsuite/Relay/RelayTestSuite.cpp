//
// RelayTestSuite.cpp
//
// testsuite: all Relay tests.
//


#include "RelayTestSuite.h"
#include "RelayRequestsTest.h"
#include "RelayFrontPartsTest.h"
#include "RelayFairnessTest.h"
#include "RelayServerTest.h"
#include "RelayTunnelTest.h"
#include "RelayClientTest.h"
#include "RelayNatTest.h"
#include "RelayPersistenceTest.h"
#include <cppunit/TestSuite.h>


CppUnit::Test* RelayTestSuite::suite()
{
	CppUnit::TestSuite* pSuite = new CppUnit::TestSuite("RelayTestSuite");
	pSuite->addTest(RelayRequestsTest::suite());
	pSuite->addTest(RelayFrontPartsTest::suite());
	pSuite->addTest(RelayServerTest::suite());
	pSuite->addTest(RelayFairnessTest::suite());
	pSuite->addTest(RelayTunnelTest::suite());
	pSuite->addTest(RelayClientTest::suite());
	pSuite->addTest(RelayNatTest::suite());
	pSuite->addTest(RelayPersistenceTest::suite());
	return pSuite;
}
