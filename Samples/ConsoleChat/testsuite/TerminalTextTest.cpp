//
// TerminalTextTest.cpp
//
// testsuite: TerminalText — nothing a peer sends can break the terminal's layout.
//


#include "TerminalTextTest.h"
#include "TerminalText.h"
#include <clocale>
#include <string>


using CrossChat::TerminalText;


void TerminalTextTest::setUp()
{
	CPPUNIT_ASSERT(std::setlocale(LC_CTYPE, "C.UTF-8") != nullptr);
}


void TerminalTextTest::testDecodeInvalid()
{
	CPPUNIT_ASSERT(TerminalText::decode("caf\xc3\xa9") == L"caf\u00e9");
	CPPUNIT_ASSERT(TerminalText::decode("caf\xe9") == L"caf\ufffd");              // Latin-1
	CPPUNIT_ASSERT(TerminalText::decode("\xc0\xaf") == L"\ufffd\ufffd");          // overlong '/'
	CPPUNIT_ASSERT(TerminalText::decode("\xed\xa0\x80") == L"\ufffd\ufffd\ufffd"); // a surrogate
	CPPUNIT_ASSERT(TerminalText::decode("\xf4\x90\x80\x80").find(L'\ufffd') == 0); // beyond U+10FFFF
	CPPUNIT_ASSERT(TerminalText::decode("ok\xe2\x82") == L"ok\ufffd\ufffd");      // cut short
}


void TerminalTextTest::testSanitizeControls()
{
	CPPUNIT_ASSERT(TerminalText::sanitize("a\tb") == L"a b");
	CPPUNIT_ASSERT(TerminalText::sanitize("\x1b[2Jx") == L"\ufffd[2Jx");
	CPPUNIT_ASSERT(TerminalText::sanitize("bell\x07") == L"bell\ufffd");
	CPPUNIT_ASSERT(TerminalText::sanitize("del\x7f") == L"del\ufffd");
	CPPUNIT_ASSERT(TerminalText::sanitize("c1\xc2\x9b" "31m") == L"c1\ufffd31m");   // CSI as C1
	CPPUNIT_ASSERT(TerminalText::sanitize("line\nnext\r") == L"line\ufffdnext\ufffd");
}


void TerminalTextTest::testBidiAndFormat()
{
	CPPUNIT_ASSERT(TerminalText::sanitize(L"a\u202eb\u202cc") == L"a\ufffdb\ufffdc");
	CPPUNIT_ASSERT(TerminalText::sanitize(L"x\u2066y\u2069") == L"x\ufffdy\ufffd");
	CPPUNIT_ASSERT(TerminalText::sanitize(L"r\u200fl\u200e") == L"r\ufffdl\ufffd");
	// Zero-width characters on which terminals disagree are dropped.
	CPPUNIT_ASSERT(TerminalText::sanitize(L"a\u200bb\u200dc\ufeffd\ufe0f") == L"abcd");
}


void TerminalTextTest::testCombining()
{
	// e + COMBINING ACUTE stays; a mark at the start has no base; Zalgo is cut to two marks.
	CPPUNIT_ASSERT(TerminalText::sanitize(L"e\u0301") == L"e\u0301");
	CPPUNIT_ASSERT(TerminalText::sanitize(L"\u0301x") == L"\ufffdx");
	CPPUNIT_ASSERT(TerminalText::sanitize(L"z\u0301\u0302\u0303\u0304") == L"z\u0301\u0302");
	CPPUNIT_ASSERT(TerminalText::sanitize(L"\x1b\u0301") == L"\ufffd\ufffd");
}


void TerminalTextTest::testWidths()
{
	CPPUNIT_ASSERT_EQUAL(std::size_t(5), TerminalText::width(L"hello"));
	CPPUNIT_ASSERT_EQUAL(std::size_t(4), TerminalText::width(L"\u4f60\u597d"));   // wide CJK
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), TerminalText::width(L"e\u0301"));
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), TerminalText::width(L"\ufffd"));
	// Every sanitised character has width 0, 1 or 2 and a mark only follows a base.
	const std::wstring nasty = TerminalText::sanitize(std::string("\xe2\x80\xae\x1b\x9b\xcc\x81\xf0\x9f\x98\x80\xef\xb8\x8f"));
	for (wchar_t c: nasty)
	{
		const int w = TerminalText::charWidth(c);
		CPPUNIT_ASSERT(w >= 0 && w <= 2);
	}
	CPPUNIT_ASSERT(TerminalText::charWidth(nasty[0]) > 0);
}


void TerminalTextTest::testFitAndTruncate()
{
	const std::wstring text = L"ab\u4f60cd";   // widths 1 1 2 1 1
	CPPUNIT_ASSERT_EQUAL(std::size_t(2), TerminalText::fit(text, 0, 3));   // the wide one would straddle
	CPPUNIT_ASSERT_EQUAL(std::size_t(3), TerminalText::fit(text, 0, 4));
	CPPUNIT_ASSERT_EQUAL(std::size_t(2), TerminalText::fit(L"e\u0301x", 0, 1));   // a mark stays with its base
	CPPUNIT_ASSERT(TerminalText::truncate(L"abcdef", 4) == L"abc\u2026");
	CPPUNIT_ASSERT(TerminalText::truncate(L"abc", 4) == L"abc");
	CPPUNIT_ASSERT(TerminalText::width(TerminalText::truncate(text, 4)) <= 4);
}


void TerminalTextTest::testEncodeRoundTrip()
{
	const std::string utf8 = "a\xc3\xa9\xe4\xbd\xa0\xf0\x9f\x98\x80";
	CPPUNIT_ASSERT_EQUAL(utf8, TerminalText::encode(TerminalText::decode(utf8)));
	CPPUNIT_ASSERT_EQUAL(std::string("?"), TerminalText::encode(TerminalText::ascii(L"\u4f60")));
	CPPUNIT_ASSERT_EQUAL(std::string("e"), TerminalText::encode(TerminalText::ascii(L"e\u0301")));
}
