//
// TextTest.cpp
//
// testsuite: tests for Text.
//


#include "TextTest.h"
#include "CrossChat/Text.h"
#include <string>


using CrossChat::Text;


void TextTest::testValidUtf8()
{
	CPPUNIT_ASSERT(Text::isValidUtf8(""));
	CPPUNIT_ASSERT(Text::isValidUtf8("plain ASCII"));
	CPPUNIT_ASSERT(Text::isValidUtf8("caf\xC3\xA9"));                       // café
	CPPUNIT_ASSERT(Text::isValidUtf8("\xE2\x82\xAC 5"));                   // € 5
	CPPUNIT_ASSERT(Text::isValidUtf8("\xF0\x9F\x98\x80"));                 // U+1F600
	CPPUNIT_ASSERT(Text::isValidUtf8("\xF4\x8F\xBF\xBF"));                 // U+10FFFF
	CPPUNIT_ASSERT(Text::isValidUtf8(std::string("a\0b", 3)));             // NUL is valid UTF-8
	CPPUNIT_ASSERT_EQUAL(std::string::npos, Text::invalidUtf8Offset("caf\xC3\xA9"));
}


void TextTest::testInvalidUtf8()
{
	CPPUNIT_ASSERT(!Text::isValidUtf8("caf\xE9"));                          // Latin-1 é
	CPPUNIT_ASSERT_EQUAL(std::size_t(3), Text::invalidUtf8Offset("caf\xE9"));
	CPPUNIT_ASSERT(!Text::isValidUtf8("\xC0\xAF"));                         // overlong '/'
	CPPUNIT_ASSERT(!Text::isValidUtf8("\xE0\x80\xAF"));                     // overlong
	CPPUNIT_ASSERT(!Text::isValidUtf8("\xED\xA0\x80"));                     // surrogate U+D800
	CPPUNIT_ASSERT(!Text::isValidUtf8("\xF4\x90\x80\x80"));                 // above U+10FFFF
	CPPUNIT_ASSERT(!Text::isValidUtf8("\xC3"));                             // truncated
	CPPUNIT_ASSERT(!Text::isValidUtf8("\x80"));                             // lone continuation
	CPPUNIT_ASSERT(!Text::isValidUtf8("\xFF"));
	CPPUNIT_ASSERT_EQUAL(std::size_t(2), Text::invalidUtf8Offset("ab\xF0\x9F\x98"));
	const std::string R = "\xEF\xBF\xBD";
	CPPUNIT_ASSERT_EQUAL("caf" + R + " ok \xC3\xA9", Text::replaceInvalidUtf8("caf\xE9 ok \xC3\xA9"));
	CPPUNIT_ASSERT_EQUAL(R + R, Text::replaceInvalidUtf8("\xC0\xAF"));
	CPPUNIT_ASSERT(Text::isValidUtf8(Text::replaceInvalidUtf8("a\xF0\x9F\x98\x80\xFF\xED\xA0\x80z")));
	// ASCII is checked a word at a time: a bad byte or a valid sequence at every offset and
	// alignment, after and before ASCII runs of every length, is still found exactly.
	for (std::size_t before = 0; before < 20; ++before)
	{
		for (std::size_t after = 0; after < 12; ++after)
		{
			const std::string bad = std::string(before, 'a') + "\xE9" + std::string(after, 'b');
			CPPUNIT_ASSERT_EQUAL(before, Text::invalidUtf8Offset(bad));
			CPPUNIT_ASSERT(!Text::isValidUtf8(bad.data(), bad.size()));
			const std::string good = std::string(before, 'a') + "\xC3\xA9\xF0\x9F\x98\x80" + std::string(after, 'b');
			CPPUNIT_ASSERT(Text::isValidUtf8(good));
			CPPUNIT_ASSERT(Text::isValidUtf8(good.data(), good.size()));
			const std::string cut = std::string(before, 'a') + "\xF0\x9F\x98";
			CPPUNIT_ASSERT_EQUAL(before, Text::invalidUtf8Offset(cut));
		}
	}
}


void TextTest::testTerminalSafe()
{
	const std::string R = "\xEF\xBF\xBD";
	CPPUNIT_ASSERT_EQUAL(std::string("caf\xC3\xA9 ok"), Text::terminalSafe("caf\xC3\xA9 ok"));
	CPPUNIT_ASSERT_EQUAL(R + "[2Jgone", Text::terminalSafe("\x1B[2Jgone"));             // ESC
	CPPUNIT_ASSERT_EQUAL("a" + R + "b", Text::terminalSafe("a\rb"));
	CPPUNIT_ASSERT_EQUAL(std::string("a b"), Text::terminalSafe("a\tb"));
	CPPUNIT_ASSERT_EQUAL("x" + R + "y", Text::terminalSafe("x\xC2\x9By"));              // C1 CSI
	CPPUNIT_ASSERT_EQUAL("x" + R + "y", Text::terminalSafe("x\x7Fy"));                  // DEL
	CPPUNIT_ASSERT_EQUAL("caf" + R, Text::terminalSafe("caf\xE9"));                      // Latin-1
	CPPUNIT_ASSERT_EQUAL(R + "evil" + R, Text::terminalSafe("\xE2\x80\xAE" "evil\xE2\x81\xA6"));  // RLO, LRI
	CPPUNIT_ASSERT_EQUAL(std::string("\"a" + R + "\""), Text::quoted("a\n"));
}


void TextTest::testTerminalSafeCut()
{
	const std::string ellipsis = "\xE2\x80\xA6";
	CPPUNIT_ASSERT_EQUAL("abc" + ellipsis, Text::terminalSafe("abcdef", 3));
	CPPUNIT_ASSERT_EQUAL(std::string("abc"), Text::terminalSafe("abc", 3));
	// Never inside a character: "é" is two bytes.
	CPPUNIT_ASSERT_EQUAL("ab" + ellipsis, Text::terminalSafe("ab\xC3\xA9", 3));
}
