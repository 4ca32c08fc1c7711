//
// CompleterTest.cpp
//
// testsuite: Completer — Tab completion in the full-screen client.
//


#include "CompleterTest.h"
#include "Completer.h"
#include "Poco/File.h"
#include "Poco/FileStream.h"
#include "Poco/TemporaryFile.h"
#include <clocale>


using CrossChat::Completer;


namespace {


const std::string BOB = "24C5H6G-FDT6UHZ-6TTXBTB-UAUZKXH-JYNZXHI-6TQHOMU-6KMYGI6-FDOQQAO";
const std::string BOBBY = "GKXAXOZ-IMBMN2Q-YQNP7ZT-C4WZ3ZF-TOTMB33-5YOFOK4-F3TYMLY-PCKGLAU";


Completer::Sources sources()
{
	Completer::Sources result;
	result.commands = {"/help", "/msg", "/netinfo", "/peers", "/quit", "/whoami", "/win"};
	result.peerCommands = {"/msg"};
	result.peers = {{"bob", BOB}, {"Bobby", BOBBY}, {"Carol Ann", "XMCUUVG-WV4WWHV-ID6J5M6-NH43J6P-EWN6OVI-GHRI5FN-K2FFYWI-TMUSAQH"}};
	result.windows = {{1, "status"}, {2, "bob"}, {3, "Bobby"}};
	return result;
}


std::wstring complete(Completer& completer, const std::wstring& line, bool backwards = false)
{
	const auto result = completer.complete(line, line.size(), sources(), backwards);
	return result ? result->line : L"<none>";
}


} // namespace


void CompleterTest::setUp()
{
	CPPUNIT_ASSERT(std::setlocale(LC_CTYPE, "C.UTF-8") != nullptr);
}


void CompleterTest::testCommands()
{
	Completer completer;
	CPPUNIT_ASSERT(complete(completer, L"/ms") == L"/msg ");
	completer.reset();
	CPPUNIT_ASSERT(complete(completer, L"/W") == L"/whoami ");
	CPPUNIT_ASSERT(complete(completer, L"/W") == L"/win ");   // the next one
	completer.reset();
	CPPUNIT_ASSERT(complete(completer, L"/nothing") == L"<none>");
	completer.reset();
	CPPUNIT_ASSERT(complete(completer, L"/msg bob /he") == L"<none>");   // not the first word
}


void CompleterTest::testPeerNamesAndIds()
{
	Completer completer;
	CPPUNIT_ASSERT(complete(completer, L"/msg bo") == L"/msg bob ");
	CPPUNIT_ASSERT(complete(completer, L"/msg bo") == L"/msg Bobby ");
	completer.reset();
	// An ID prefix, any case, dashes optional, completes to the whole ID.
	CPPUNIT_ASSERT(complete(completer, L"/msg 24c5h") == L"/msg " + std::wstring(BOB.begin(), BOB.end()) + L" ");
	completer.reset();
	CPPUNIT_ASSERT(complete(completer, L"/msg GKXAXOZ-IMB") == L"/msg " + std::wstring(BOBBY.begin(), BOBBY.end()) + L" ");
	completer.reset();
	// A name with a space cannot be a command argument: its ID is offered instead.
	CPPUNIT_ASSERT(complete(completer, L"/msg Car") == L"<none>");
	completer.reset();
	CPPUNIT_ASSERT(complete(completer, L"/msg XMC").find(L"XMCUUVG-WV4WWHV") == 5);
}


void CompleterTest::testCycling()
{
	Completer completer;
	CPPUNIT_ASSERT(complete(completer, L"/msg b") == L"/msg bob ");
	CPPUNIT_ASSERT(complete(completer, L"/msg b") == L"/msg Bobby ");
	CPPUNIT_ASSERT(complete(completer, L"/msg b") == L"/msg bob ");   // round again
	CPPUNIT_ASSERT(complete(completer, L"/msg b", true) == L"/msg Bobby ");
	completer.reset();
	CPPUNIT_ASSERT(complete(completer, L"/msg b", true) == L"/msg Bobby ");   // Shift+Tab from the end
	// The text after the cursor stays.
	completer.reset();
	const auto result = completer.complete(L"/msg b hello", 6, sources(), false);
	CPPUNIT_ASSERT(result);
	CPPUNIT_ASSERT(result->line == L"/msg bob hello");
	CPPUNIT_ASSERT_EQUAL(std::size_t(8), result->cursor);
}


void CompleterTest::testPlainTextAddressing()
{
	Completer completer;
	CPPUNIT_ASSERT(complete(completer, L"ca") == L"Carol Ann: ");   // names with spaces are fine here
	completer.reset();
	CPPUNIT_ASSERT(complete(completer, L"thanks bo") == L"thanks bob ");
	completer.reset();
	CPPUNIT_ASSERT(complete(completer, L"") == L"<none>");
}


void CompleterTest::testWindows()
{
	Completer completer;
	CPPUNIT_ASSERT(complete(completer, L"/win ") == L"/win 1 ");
	CPPUNIT_ASSERT(complete(completer, L"/win ") == L"/win 2 ");
	completer.reset();
	CPPUNIT_ASSERT(complete(completer, L"/win bobb") == L"/win Bobby ");
}


void CompleterTest::testPaths()
{
	Poco::TemporaryFile directory;
	directory.createDirectories();
	Poco::File(directory.path() + "/sub").createDirectory();
	Poco::FileOutputStream(directory.path() + "/notes.txt") << "x";
	Poco::FileOutputStream(directory.path() + "/.hidden") << "x";
	const std::wstring base(directory.path().begin(), directory.path().end());
	Completer completer;
	CPPUNIT_ASSERT(complete(completer, L"/send bob " + base + L"/no") == L"/send bob " + base + L"/notes.txt ");
	completer.reset();
	CPPUNIT_ASSERT(complete(completer, L"/send bob " + base + L"/s") == L"/send bob " + base + L"/sub/");   // no space after a directory
	completer.reset();
	CPPUNIT_ASSERT(complete(completer, L"/send bob " + base + L"/") == L"/send bob " + base + L"/notes.txt ");   // hidden files skipped
	CPPUNIT_ASSERT(complete(completer, L"/send bob " + base + L"/") == L"/send bob " + base + L"/sub/");
	completer.reset();
	CPPUNIT_ASSERT(complete(completer, L"/send bob " + base + L"/.h") == L"/send bob " + base + L"/.hidden ");
	completer.reset();
	CPPUNIT_ASSERT(complete(completer, L"/send bob /no/such/dir/x") == L"<none>");
}
