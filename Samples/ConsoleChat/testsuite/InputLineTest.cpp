//
// InputLineTest.cpp
//
// testsuite: InputLine — the full-screen client's line editor.
//


#include "InputLineTest.h"
#include "InputLine.h"
#include "TerminalText.h"
#include <clocale>


using CrossChat::InputLine;


void InputLineTest::setUp()
{
	CPPUNIT_ASSERT(std::setlocale(LC_CTYPE, "C.UTF-8") != nullptr);
}


void InputLineTest::testEditing()
{
	InputLine line;
	line.insert(L"helo");
	line.left();
	line.insert(L"l");
	CPPUNIT_ASSERT(line.text() == L"hello");
	CPPUNIT_ASSERT_EQUAL(std::size_t(4), line.cursor());
	line.home();
	line.deleteForward();
	CPPUNIT_ASSERT(line.text() == L"ello");
	line.end();
	line.backspace();
	CPPUNIT_ASSERT(line.text() == L"ell");
	line.right();   // at the end: stays
	CPPUNIT_ASSERT_EQUAL(std::size_t(3), line.cursor());
}


void InputLineTest::testWords()
{
	InputLine line;
	line.insert(L"/msg bob  hello");
	line.wordLeft();
	CPPUNIT_ASSERT_EQUAL(std::size_t(10), line.cursor());
	line.wordLeft();
	CPPUNIT_ASSERT_EQUAL(std::size_t(5), line.cursor());
	line.wordRight();
	CPPUNIT_ASSERT_EQUAL(std::size_t(8), line.cursor());
	line.home();
	line.wordRight();
	CPPUNIT_ASSERT_EQUAL(std::size_t(4), line.cursor());
}


void InputLineTest::testKillAndYank()
{
	InputLine line;
	line.insert(L"one two three");
	line.killWordBack();
	CPPUNIT_ASSERT(line.text() == L"one two ");
	line.yank();
	CPPUNIT_ASSERT(line.text() == L"one two three");
	line.home();
	line.killWordForward();
	CPPUNIT_ASSERT(line.text() == L" two three");
	line.end();
	line.wordLeft();
	line.killToEnd();
	CPPUNIT_ASSERT(line.text() == L" two ");
	line.killToStart();
	CPPUNIT_ASSERT(line.text().empty());
	line.yank();
	CPPUNIT_ASSERT(line.text() == L" two ");
}


void InputLineTest::testHistory()
{
	InputLine line;
	line.insert(L"first");
	CPPUNIT_ASSERT(line.submit() == L"first");
	line.insert(L"second");
	line.submit();
	line.insert(L"second");
	line.submit();   // a repeat of the last line is kept once
	line.insert(L"draft");
	line.previous();
	CPPUNIT_ASSERT(line.text() == L"second");
	line.previous();
	CPPUNIT_ASSERT(line.text() == L"first");
	line.previous();   // the oldest: stays
	CPPUNIT_ASSERT(line.text() == L"first");
	line.next();
	line.next();
	CPPUNIT_ASSERT(line.text() == L"draft");   // the line being typed comes back
	line.set(L"", 0);
	line.submit();     // empty lines are not recorded
	line.previous();
	CPPUNIT_ASSERT(line.text() == L"second");
	for (std::size_t i = 0; i < InputLine::MAX_HISTORY + 10; ++i)
	{
		line.set(std::to_wstring(i), 0);
		line.submit();
	}
	for (std::size_t i = 0; i < InputLine::MAX_HISTORY + 10; ++i) line.previous();
	CPPUNIT_ASSERT(line.text() == L"10");   // bounded: the oldest were dropped
}


void InputLineTest::testCombiningMarks()
{
	InputLine line;
	line.insert(L"ae\u0301");
	line.left();
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), line.cursor());   // over the mark, with its base
	line.end();
	line.backspace();
	CPPUNIT_ASSERT(line.text() == L"a");
}


void InputLineTest::testViewScrolls()
{
	InputLine line;
	line.insert(L"0123456789abcdefghij");
	InputLine::View view = line.view(10);
	CPPUNIT_ASSERT(CrossChat::TerminalText::width(view.text) <= 10);
	CPPUNIT_ASSERT(view.cursor < 10);
	CPPUNIT_ASSERT_EQUAL(L'j', view.text[view.cursor - 1]);   // the cursor follows the end
	line.home();
	view = line.view(10);
	CPPUNIT_ASSERT_EQUAL(std::size_t(0), view.cursor);
	CPPUNIT_ASSERT_EQUAL(L'0', view.text[0]);
	line.set(L"\u4f60\u4f60\u4f60\u4f60\u4f60\u4f60\u4f60\u4f60", 8);   // wide characters
	view = line.view(9);
	CPPUNIT_ASSERT(CrossChat::TerminalText::width(view.text) <= 9);
	CPPUNIT_ASSERT(view.cursor <= 8);
}
