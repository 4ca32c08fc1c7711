//
// Driver.cpp
//
// testsuite: Chat-testrunner (see ../TestDriver.h for the command line).
//


#include "ChatTestSuite.h"
#include "../TestDriver.h"


int main(int argc, char** argv)
{
	return CrossChat::Test::runTests(ChatTestSuite::suite(), argc, argv);
}
