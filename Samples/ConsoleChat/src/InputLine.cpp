//
// InputLine.cpp
//
// Sample: ConsoleChat
//


#include "InputLine.h"
#include "TerminalText.h"
#include <algorithm>


namespace CrossChat {


namespace {


bool isSpace(wchar_t c)
{
	return c == L' ' || c == L'\t';
}


} // namespace


const std::wstring& InputLine::text() const
{
	return _text;
}


std::size_t InputLine::cursor() const
{
	return _cursor;
}


bool InputLine::empty() const
{
	return _text.empty();
}


void InputLine::set(const std::wstring& text, std::size_t cursor)
{
	_text = text.substr(0, MAX_LENGTH);
	_cursor = std::min(cursor, _text.size());
}


void InputLine::insert(const std::wstring& text)
{
	if (_text.size() >= MAX_LENGTH) return;
	const std::wstring part = text.substr(0, MAX_LENGTH - _text.size());
	_text.insert(_cursor, part);
	_cursor += part.size();
}


std::size_t InputLine::clusterStart(std::size_t position) const
	/// The start of the character before position, with its combining marks.
{
	if (position == 0) return 0;
	std::size_t i = position - 1;
	while (i > 0 && TerminalText::charWidth(_text[i]) == 0) --i;
	return i;
}


std::size_t InputLine::clusterEnd(std::size_t position) const
	/// The end of the character at position, with its combining marks.
{
	if (position >= _text.size()) return _text.size();
	std::size_t i = position + 1;
	while (i < _text.size() && TerminalText::charWidth(_text[i]) == 0) ++i;
	return i;
}


void InputLine::backspace()
{
	const std::size_t start = clusterStart(_cursor);
	_text.erase(start, _cursor - start);
	_cursor = start;
}


void InputLine::deleteForward()
{
	_text.erase(_cursor, clusterEnd(_cursor) - _cursor);
}


void InputLine::left()
{
	_cursor = clusterStart(_cursor);
}


void InputLine::right()
{
	_cursor = clusterEnd(_cursor);
}


void InputLine::home()
{
	_cursor = 0;
}


void InputLine::end()
{
	_cursor = _text.size();
}


void InputLine::wordLeft()
{
	std::size_t i = _cursor;
	while (i > 0 && isSpace(_text[i - 1])) --i;
	while (i > 0 && !isSpace(_text[i - 1])) --i;
	_cursor = i;
}


void InputLine::wordRight()
{
	std::size_t i = _cursor;
	while (i < _text.size() && isSpace(_text[i])) ++i;
	while (i < _text.size() && !isSpace(_text[i])) ++i;
	_cursor = i;
}


void InputLine::kill(std::size_t from, std::size_t to)
{
	if (from >= to) return;
	_killed = _text.substr(from, to - from);
	_text.erase(from, to - from);
	_cursor = from;
}


void InputLine::killToEnd()
{
	kill(_cursor, _text.size());
}


void InputLine::killToStart()
{
	kill(0, _cursor);
}


void InputLine::killWordBack()
{
	const std::size_t end = _cursor;
	wordLeft();
	const std::size_t start = _cursor;
	_cursor = end;
	kill(start, end);
}


void InputLine::killWordForward()
{
	const std::size_t start = _cursor;
	wordRight();
	const std::size_t end = _cursor;
	_cursor = start;
	kill(start, end);
}


void InputLine::yank()
{
	insert(_killed);
}


std::wstring InputLine::submit()
{
	std::wstring line;
	line.swap(_text);
	_cursor = 0;
	_scroll = 0;
	_draft.clear();
	if (!line.empty() && (_history.empty() || _history.back() != line))
	{
		_history.push_back(line);
		if (_history.size() > MAX_HISTORY) _history.pop_front();
	}
	_historyIndex = _history.size();
	return line;
}


void InputLine::previous()
{
	if (_historyIndex == 0) return;
	if (_historyIndex == _history.size()) _draft = _text;
	--_historyIndex;
	set(_history[_historyIndex], std::wstring::npos);
}


void InputLine::next()
{
	if (_historyIndex >= _history.size()) return;
	++_historyIndex;
	set(_historyIndex == _history.size() ? _draft : _history[_historyIndex], std::wstring::npos);
}


InputLine::View InputLine::view(std::size_t width) const
{
	width = std::max<std::size_t>(width, 2);
	// Keep the cursor inside [_scroll, end of the field); one cell stays free for the cursor
	// at the end of the text.
	if (_cursor < _scroll) _scroll = clusterStart(_cursor > width / 3 ? _cursor - width / 3 : 0);
	if (_scroll > _text.size()) _scroll = 0;
	for (;;)
	{
		const std::wstring before = _text.substr(_scroll, _cursor - _scroll);
		if (TerminalText::width(before) + 1 <= width) break;
		// Scroll right by a third of the field at least.
		std::size_t drop = 0;
		std::size_t dropped = 0;
		while (_scroll + drop < _cursor && dropped < std::max<std::size_t>(width / 3, 1))
		{
			dropped += static_cast<std::size_t>(TerminalText::charWidth(_text[_scroll + drop]));
			++drop;
		}
		while (_scroll + drop < _cursor && TerminalText::charWidth(_text[_scroll + drop]) == 0) ++drop;
		_scroll += drop;
	}
	View result;
	const std::size_t end = TerminalText::fit(_text, _scroll, width);
	result.text = _text.substr(_scroll, end - _scroll);
	result.cursor = TerminalText::width(_text.substr(_scroll, _cursor - _scroll));
	return result;
}


} // namespace CrossChat
