//
// TestDriver.h
//
// testsuite: the shared main() of every CppUnit runner.
//   runner                 run all tests
//   runner NAME...         run the named tests or fixtures (e.g. "EventLoopTest::testStop")
//   runner -l              list the test names
// CROSSCHAT_TEST_LOG=<level> (debug, information, ...) shows the library's log on stderr.
// Exits 0 only if every test ran and passed; an unknown name is an error.
//


#ifndef CrossChat_Test_TestDriver_INCLUDED
#define CrossChat_Test_TestDriver_INCLUDED


#include <cppunit/Test.h>
#include <cppunit/TestResult.h>
#include <cppunit/TestResultCollector.h>
#include <cppunit/BriefTestProgressListener.h>
#include <cppunit/CompilerOutputter.h>
#include <cppunit/TestRunner.h>
#include "Poco/ConsoleChannel.h"
#include "Poco/Logger.h"
#include <cstdlib>
#include <iostream>
#include <string>
#include <memory>


namespace CrossChat {
namespace Test {


inline void listTests(CppUnit::Test* pTest)
{
	if (pTest->getChildTestCount() == 0)
	{
		std::cout << pTest->getName() << "\n";
		return;
	}
	for (int i = 0; i < pTest->getChildTestCount(); ++i)
		listTests(pTest->getChildTestAt(i));
}


inline int runTests(CppUnit::Test* pSuite, int argc, char** argv)
{
	std::unique_ptr<CppUnit::Test> pOwned(pSuite);
	if (const char* level = std::getenv("CROSSCHAT_TEST_LOG"))
	{
		Poco::Logger::root().setChannel(new Poco::ConsoleChannel(std::cerr));
		Poco::Logger::setLevel("", Poco::Logger::parseLevel(level));
	}
	if (argc > 1 && std::string(argv[1]) == "-l")
	{
		listTests(pSuite);
		return 0;
	}
	CppUnit::TestResult controller;
	CppUnit::TestResultCollector collector;
	CppUnit::BriefTestProgressListener progress;
	controller.addListener(&collector);
	controller.addListener(&progress);
	CppUnit::TestRunner runner;
	runner.addTest(pOwned.release());
	try
	{
		if (argc <= 1)
		{
			runner.run(controller);
		}
		else
		{
			for (int i = 1; i < argc; ++i)
				runner.run(controller, argv[i]);
		}
	}
	catch (std::invalid_argument& exc)
	{
		std::cerr << "No such test: " << exc.what() << "\n";
		return 2;
	}
	CppUnit::CompilerOutputter outputter(&collector, std::cerr);
	outputter.write();
	const int run = collector.runTests();
	const int failed = collector.testFailuresTotal();
	std::cout << (run - failed) << " passed, " << failed << " failed\n";
	return (failed == 0 && run > 0) ? 0 : 1;
}


} } // namespace CrossChat::Test


#endif // CrossChat_Test_TestDriver_INCLUDED
