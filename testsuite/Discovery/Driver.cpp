//
// Driver.cpp
//
// testsuite: Discovery-testrunner. Runs the whole suite, or the tests named on the command
// line (for example "LanDiscoveryTest::testGoodbyeLosesPeer" or "AnnouncementTest"); "-l" lists
// them. Exits non-zero on any failure.
//


#include "DiscoveryTestSuite.h"
#include "../TestDriver.h"


int main(int argc, char** argv)
{
	return CrossChat::Test::runTests(DiscoveryTestSuite::suite(), argc, argv);
}
