//
// Driver.cpp
//
// testsuite: Foundation-testrunner. Runs the whole suite, or the tests named on the command
// line (for example "EventLoopTest::testTimersFireInOrder" or "EventLoopTest"); "-l" lists them.
// Exits non-zero on any failure.
//


#include "FoundationTestSuite.h"
#include "../TestDriver.h"


int main(int argc, char** argv)
{
	return CrossChat::Test::runTests(FoundationTestSuite::suite(), argc, argv);
}
