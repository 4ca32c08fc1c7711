//
// ChatWindowTest.cpp
//
// testsuite: ChatWindow — lines, unread counts, message states, wrapping, scrolling.
//


#include "ChatWindowTest.h"
#include "ChatWindow.h"
#include "TerminalText.h"
#include <clocale>


using CrossChat::ChatWindow;
using CrossChat::TerminalText;


namespace {


ChatWindow::Line line(const std::wstring& text, const std::string& id = std::string(),
	ChatWindow::State state = ChatWindow::State::NONE)
{
	ChatWindow::Line result;
	result.spans.push_back({L"12:00 ", ChatWindow::Style::TIME, 0});
	result.spans.push_back({text, ChatWindow::Style::TEXT, 0});
	result.indent = 6;
	result.messageId = id;
	result.state = state;
	return result;
}


std::wstring rowText(const ChatWindow::Row& row)
{
	std::wstring text;
	for (const auto& span: row) text += span.text;
	return text;
}


} // namespace


void ChatWindowTest::setUp()
{
	CPPUNIT_ASSERT(std::setlocale(LC_CTYPE, "C.UTF-8") != nullptr);
}


void ChatWindowTest::testUnreadAndActivity()
{
	ChatWindow window(ChatWindow::Kind::CONVERSATION, "ID", L"bob");
	window.add(line(L"joined"), ChatWindow::Activity::EVENTS, false);
	CPPUNIT_ASSERT_EQUAL(std::size_t(0), window.unread());
	CPPUNIT_ASSERT(window.activity() == ChatWindow::Activity::EVENTS);
	window.add(line(L"hi"), ChatWindow::Activity::HIGHLIGHT, false);
	window.add(line(L"left"), ChatWindow::Activity::EVENTS, false);
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), window.unread());
	CPPUNIT_ASSERT(window.activity() == ChatWindow::Activity::HIGHLIGHT);   // never lowered
	window.seen();
	CPPUNIT_ASSERT_EQUAL(std::size_t(0), window.unread());
	CPPUNIT_ASSERT(window.activity() == ChatWindow::Activity::NONE);
	window.add(line(L"on screen"), ChatWindow::Activity::HIGHLIGHT, true);
	CPPUNIT_ASSERT_EQUAL(std::size_t(0), window.unread());
}


void ChatWindowTest::testMessageStates()
{
	ChatWindow window(ChatWindow::Kind::CONVERSATION, "ID", L"bob");
	window.add(line(L"hello", "m1", ChatWindow::State::SENDING), ChatWindow::Activity::NONE, true);
	CPPUNIT_ASSERT(rowText(window.rows(80).back()) == L"12:00 hello (sending)");
	CPPUNIT_ASSERT(window.setState("m1", ChatWindow::State::SENT));
	CPPUNIT_ASSERT(rowText(window.rows(80).back()) == L"12:00 hello (sent)");
	CPPUNIT_ASSERT(window.setState("m1", ChatWindow::State::DELIVERED));
	CPPUNIT_ASSERT(rowText(window.rows(80).back()) == L"12:00 hello \u2713");
	CPPUNIT_ASSERT(window.setState("m1", ChatWindow::State::SENDING));   // final: stays delivered
	CPPUNIT_ASSERT(rowText(window.rows(80).back()) == L"12:00 hello \u2713");
	window.add(line(L"bad", "m2", ChatWindow::State::SENT), ChatWindow::Activity::NONE, true);
	CPPUNIT_ASSERT(window.setState("m2", ChatWindow::State::FAILED, L"refused: not UTF-8"));
	CPPUNIT_ASSERT(rowText(window.rows(80).back()) == L"12:00 bad \u2717 refused: not UTF-8");
	CPPUNIT_ASSERT(!window.setState("unknown", ChatWindow::State::DELIVERED));
}


void ChatWindowTest::testRetreat()
{
	ChatWindow window(ChatWindow::Kind::CONVERSATION, "ID", L"bob");
	window.add(line(L"a", "m1", ChatWindow::State::SENDING), ChatWindow::Activity::NONE, true);
	window.add(line(L"b", "m2", ChatWindow::State::DELIVERED), ChatWindow::Activity::NONE, true);
	window.add(line(L"c", "m3", ChatWindow::State::SENDING), ChatWindow::Activity::NONE, true);
	CPPUNIT_ASSERT_EQUAL(std::size_t(2), window.retreat(ChatWindow::State::SENDING, ChatWindow::State::SENT).size());
	CPPUNIT_ASSERT_EQUAL(std::size_t(2), window.retreat(ChatWindow::State::SENT, ChatWindow::State::SENDING).size());
	const auto rows = window.rows(80);
	CPPUNIT_ASSERT(rowText(rows[1]) == L"12:00 b \u2713");
}


void ChatWindowTest::testWrap()
{
	ChatWindow window(ChatWindow::Kind::CONVERSATION, "ID", L"bob");
	window.add(line(L"the quick brown fox jumps over the lazy dog"), ChatWindow::Activity::NONE, true);
	const auto rows = window.rows(20);
	CPPUNIT_ASSERT(rows.size() >= 3);
	for (const auto& row: rows)
	{
		CPPUNIT_ASSERT(TerminalText::width(rowText(row)) <= 20);
	}
	CPPUNIT_ASSERT(rowText(rows[1]).compare(0, 6, L"      ") == 0);   // continuation under the text
	CPPUNIT_ASSERT(rowText(rows[0]) == L"12:00 the quick ");            // broken at a space
	// Wide characters never straddle the edge.
	ChatWindow wide(ChatWindow::Kind::CONVERSATION, "ID", L"bob");
	wide.add(line(std::wstring(30, L'\u4f60')), ChatWindow::Activity::NONE, true);
	for (const auto& row: wide.rows(15)) CPPUNIT_ASSERT(TerminalText::width(rowText(row)) <= 15);
}


void ChatWindowTest::testBoundedAndClear()
{
	ChatWindow window(ChatWindow::Kind::CONVERSATION, "ID", L"bob");
	for (std::size_t i = 0; i < ChatWindow::MAX_LINES + 5; ++i)
		window.add(line(L"x", "m" + std::to_string(i), ChatWindow::State::SENT), ChatWindow::Activity::NONE, true);
	CPPUNIT_ASSERT_EQUAL(ChatWindow::MAX_LINES, window.lineCount());
	CPPUNIT_ASSERT(!window.setState("m0", ChatWindow::State::DELIVERED));   // dropped with its line
	CPPUNIT_ASSERT(window.setState("m10", ChatWindow::State::DELIVERED));
	window.clear();
	CPPUNIT_ASSERT_EQUAL(std::size_t(0), window.lineCount());
	CPPUNIT_ASSERT(!window.setState("m11", ChatWindow::State::DELIVERED));
	window.add(line(L"after"), ChatWindow::Activity::NONE, true);
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), window.rows(80).size());
	// Bounded in characters too: 16 KiB messages keep at most MAX_CHARACTERS of text.
	ChatWindow big(ChatWindow::Kind::CONVERSATION, "ID", L"bob");
	for (int i = 0; i < 100; ++i) big.add(line(std::wstring(16 * 1024, L'x')), ChatWindow::Activity::NONE, true);
	CPPUNIT_ASSERT(big.lineCount() * 16 * 1024 <= ChatWindow::MAX_CHARACTERS);
	CPPUNIT_ASSERT(big.lineCount() >= ChatWindow::MAX_CHARACTERS / (16 * 1024 + 6) - 1);
}


void ChatWindowTest::testScroll()
{
	ChatWindow window(ChatWindow::Kind::CONVERSATION, "ID", L"bob");
	for (int i = 0; i < 50; ++i) window.add(line(std::to_wstring(i)), ChatWindow::Activity::NONE, true);
	CPPUNIT_ASSERT(!window.atTop(10, 80));
	window.scrollBy(9, 10, 80);
	CPPUNIT_ASSERT_EQUAL(std::size_t(9), window.scrolledRows());
	window.add(line(L"new"), ChatWindow::Activity::NONE, true);
	CPPUNIT_ASSERT_EQUAL(std::size_t(10), window.scrolledRows());   // the view stays put
	window.scrollBy(1000, 10, 80);
	CPPUNIT_ASSERT(window.atTop(10, 80));
	CPPUNIT_ASSERT_EQUAL(std::size_t(41), window.scrolledRows());   // 51 rows, 10 shown
	window.scrollBy(-1000, 10, 80);
	CPPUNIT_ASSERT_EQUAL(std::size_t(0), window.scrolledRows());
}

void ChatWindowTest::testPrepend()
{
	ChatWindow window(ChatWindow::Kind::CONVERSATION, "ID", L"bob");
	window.add(line(L"live", "m3", ChatWindow::State::SENT), ChatWindow::Activity::NONE, true);
	std::vector<ChatWindow::Line> older;
	older.push_back(line(L"first", "m1", ChatWindow::State::DELIVERED));
	older.push_back(line(L"second", "m2"));
	CPPUNIT_ASSERT_EQUAL(std::size_t(2), window.prepend(std::move(older)));
	const auto rows = window.rows(80);
	CPPUNIT_ASSERT_EQUAL(std::size_t(3), rows.size());
	CPPUNIT_ASSERT(rowText(rows[0]).find(L"first \u2713") != std::wstring::npos);   // oldest on top, with its state
	CPPUNIT_ASSERT(rowText(rows[1]).find(L"second") != std::wstring::npos);
	CPPUNIT_ASSERT(rowText(rows[2]).find(L"live") != std::wstring::npos);
	CPPUNIT_ASSERT(window.hasMessage("m1") && window.hasMessage("m2") && window.hasMessage("m3"));
	CPPUNIT_ASSERT(!window.hasMessage("m4"));
	CPPUNIT_ASSERT_EQUAL(std::size_t(0), window.unread());
	// States still reach a live line, and a prepended one, by ID.
	CPPUNIT_ASSERT(window.setState("m3", ChatWindow::State::DELIVERED));
	CPPUNIT_ASSERT(window.setState("m2", ChatWindow::State::DELIVERED));
	// Bounded: a full window takes only what fits, the newest of the older lines first.
	ChatWindow full(ChatWindow::Kind::CONVERSATION, "ID", L"bob");
	for (std::size_t i = 0; i + 1 < ChatWindow::MAX_LINES; ++i) full.add(line(L"x"), ChatWindow::Activity::NONE, true);
	std::vector<ChatWindow::Line> more;
	more.push_back(line(L"too old", "o1"));
	more.push_back(line(L"fits", "o2"));
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), full.prepend(std::move(more)));
	CPPUNIT_ASSERT(full.hasMessage("o2") && !full.hasMessage("o1"));
	CPPUNIT_ASSERT_EQUAL(ChatWindow::MAX_LINES, full.lineCount());
	// After clear() nothing is found any more.
	full.clear();
	CPPUNIT_ASSERT(!full.hasMessage("o2"));
}
