//
// Driver.cpp
//
// testsuite: Relay-testrunner. Runs the whole suite, or the tests named on the command line
// (for example "RelayServerTest::testAnnounceAndLookup" or "RelayTunnelTest"); "-l" lists them.
// Exits non-zero on any failure.
//


#include "RelayTestSuite.h"
#include "../TestDriver.h"


int main(int argc, char** argv)
{
	return CrossChat::Test::runTests(RelayTestSuite::suite(), argc, argv);
}
