//
// DiscoveryTestSuite.cpp
//
// testsuite: all Discovery tests.
//


#include "DiscoveryTestSuite.h"
#include "AnnouncementTest.h"
#include "LanDiscoveryTest.h"
#include <cppunit/TestSuite.h>


CppUnit::Test* DiscoveryTestSuite::suite()
{
	CppUnit::TestSuite* pSuite = new CppUnit::TestSuite("DiscoveryTestSuite");
	pSuite->addTest(AnnouncementTest::suite());
	pSuite->addTest(LanDiscoveryTest::suite());
	return pSuite;
}
