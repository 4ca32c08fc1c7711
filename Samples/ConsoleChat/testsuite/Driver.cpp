//
// Driver.cpp
//
// testsuite: ConsoleChat-testrunner, the unit tests of crosschat's full-screen parts
// (see testsuite/TestDriver.h for the command line).
//


#include "ChatWindowTest.h"
#include "CompleterTest.h"
#include "InputLineTest.h"
#include "TerminalTextTest.h"
#include "../../../testsuite/TestDriver.h"
#include <cppunit/TestSuite.h>


int main(int argc, char** argv)
{
	CppUnit::TestSuite* pSuite = new CppUnit::TestSuite("ConsoleChatTestSuite");
	pSuite->addTest(TerminalTextTest::suite());
	pSuite->addTest(InputLineTest::suite());
	pSuite->addTest(CompleterTest::suite());
	pSuite->addTest(ChatWindowTest::suite());
	return CrossChat::Test::runTests(pSuite, argc, argv);
}
