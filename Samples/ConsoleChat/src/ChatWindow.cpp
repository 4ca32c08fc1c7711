//
// ChatWindow.cpp
//
// Sample: ConsoleChat
//


#include "ChatWindow.h"
#include "TerminalText.h"
#include <algorithm>
#include <utility>


namespace CrossChat {


ChatWindow::ChatWindow(Kind kind, std::string key, std::wstring name):
	_kind(kind),
	_key(std::move(key)),
	_name(std::move(name))
{
}


ChatWindow::Kind ChatWindow::kind() const
{
	return _kind;
}


const std::string& ChatWindow::key() const
{
	return _key;
}


const std::wstring& ChatWindow::name() const
{
	return _name;
}


void ChatWindow::rename(const std::wstring& name)
{
	_name = name;
}


void ChatWindow::add(Line line, Activity activity, bool current)
{
	if (!line.messageId.empty()) _byId[line.messageId] = _firstSeq + _lines.size();
	if (_scroll > 0)
	{
		// Keep the view where it is: it moves up by the rows the new line takes.
		std::vector<Row> added;
		wrap(line, _lastWidth, added);
		_scroll += added.size();
	}
	_characters += characters(line);
	_lines.push_back(std::move(line));
	while (_lines.size() > MAX_LINES || (_characters > MAX_CHARACTERS && _lines.size() > 1))
	{
		if (!_lines.front().messageId.empty()) _byId.erase(_lines.front().messageId);
		_characters -= characters(_lines.front());
		_lines.pop_front();
		++_firstSeq;
	}
	if (current) return;
	if (activity >= Activity::MESSAGES) ++_unread;
	_activity = std::max(_activity, activity);
}


std::size_t ChatWindow::prepend(std::vector<Line> older)
{
	std::size_t taken = 0;
	for (auto it = older.rbegin(); it != older.rend() && _firstSeq > 0; ++it)
	{
		const std::size_t size = characters(*it);
		if (_lines.size() >= MAX_LINES || _characters + size > MAX_CHARACTERS) break;
		--_firstSeq;
		if (!it->messageId.empty()) _byId[it->messageId] = _firstSeq;
		_characters += size;
		_lines.push_front(std::move(*it));
		++taken;
	}
	return taken;
}


bool ChatWindow::hasMessage(const std::string& messageId) const
{
	const auto it = _byId.find(messageId);
	return it != _byId.end() && it->second >= _firstSeq;
}


bool ChatWindow::setState(const std::string& messageId, State state, const std::wstring& failure)
{
	const auto it = _byId.find(messageId);
	if (it == _byId.end() || it->second < _firstSeq) return false;
	Line& line = _lines[static_cast<std::size_t>(it->second - _firstSeq)];
	if (line.state == State::DELIVERED || line.state == State::FAILED) return true;
	const std::wstring kept = failure.substr(0, 1024);
	_characters = _characters - line.failure.size() + kept.size();
	line.state = state;
	line.failure = kept;
	return true;
}


bool ChatWindow::replace(const std::string& key, Line line)
{
	const auto it = _byId.find(key);
	if (it == _byId.end() || it->second < _firstSeq) return false;
	Line& old = _lines[static_cast<std::size_t>(it->second - _firstSeq)];
	_characters = _characters - characters(old) + characters(line);
	old.spans = std::move(line.spans);
	old.indent = line.indent;
	return true;
}


std::vector<std::string> ChatWindow::retreat(State from, State to)
{
	std::vector<std::string> ids;
	for (Line& line: _lines)
	{
		if (line.state != from) continue;
		line.state = to;
		ids.push_back(line.messageId);
	}
	return ids;
}


std::size_t ChatWindow::characters(const Line& line)
{
	std::size_t total = line.failure.size();
	for (const Span& span: line.spans) total += span.text.size();
	return total;
}


void ChatWindow::clear()
{
	_characters = 0;
	_firstSeq += _lines.size();
	_lines.clear();
	_byId.clear();
	_scroll = 0;
}


void ChatWindow::seen()
{
	_unread = 0;
	_activity = Activity::NONE;
}


std::size_t ChatWindow::unread() const
{
	return _unread;
}


ChatWindow::Activity ChatWindow::activity() const
{
	return _activity;
}


std::size_t ChatWindow::lineCount() const
{
	return _lines.size();
}


std::wstring ChatWindow::stateText(State state, const std::wstring& failure)
{
	switch (state)
	{
	case State::NONE:      return std::wstring();
	case State::SENDING:   return L" (sending)";
	case State::SENT:      return L" (sent)";
	case State::DELIVERED: return L" \u2713";
	case State::FAILED:    return L" \u2717 " + failure;
	}
	return std::wstring();
}


void ChatWindow::wrap(const Line& line, std::size_t width, std::vector<Row>& out)
{
	std::vector<Span> spans = line.spans;
	if (line.state != State::NONE)
	{
		Span state;
		state.text = stateText(line.state, line.failure);
		state.style = line.state == State::DELIVERED ? Style::DELIVERED
			: line.state == State::FAILED ? Style::FAILED : Style::PENDING;
		spans.push_back(state);
	}
	const std::size_t indent = line.indent < width / 2 ? line.indent : 0;
	Row row;
	std::size_t used = 0;
	for (const Span& span: spans)
	{
		std::size_t start = 0;
		while (start < span.text.size())
		{
			if (used >= width)
			{
				out.push_back(std::move(row));
				row = Row();
				if (indent > 0) row.push_back(Span{std::wstring(indent, L' '), Style::TEXT, 0});
				used = indent;
				// A continuation row does not start with the space that ended the last one.
				while (start < span.text.size() && span.text[start] == L' ') ++start;
				if (start >= span.text.size()) break;
			}
			std::size_t end = TerminalText::fit(span.text, start, width - used);
			if (end < span.text.size() && end > start)
			{
				// Break after the last space in this piece, if there is one worth breaking at.
				const std::size_t space = span.text.rfind(L' ', end - 1);
				if (space != std::wstring::npos && space > start && (end - space) < (width - indent) / 2)
					end = space + 1;
			}
			if (end == start)
			{
				if (used == indent || used == 0)
				{
					end = start + 1;   // a character wider than the row: show it anyway
				}
				else
				{
					used = width;      // wrap first
					continue;
				}
			}
			row.push_back(Span{span.text.substr(start, end - start), span.style, span.colour});
			used += TerminalText::width(row.back().text);
			start = end;
			if (start < span.text.size()) used = width;   // the rest goes to the next row
		}
	}
	out.push_back(std::move(row));
}


std::vector<ChatWindow::Row> ChatWindow::rows(std::size_t width) const
{
	std::vector<Row> result;
	width = std::max<std::size_t>(width, 4);
	_lastWidth = width;
	for (const Line& line: _lines) wrap(line, width, result);
	return result;
}


void ChatWindow::scrollBy(long rows, std::size_t height, std::size_t width)
{
	const std::size_t total = this->rows(width).size();
	const std::size_t maximum = total > height ? total - height : 0;
	long scroll = static_cast<long>(_scroll) + rows;
	if (scroll < 0) scroll = 0;
	_scroll = std::min(static_cast<std::size_t>(scroll), maximum);
}


void ChatWindow::scrollToBottom()
{
	_scroll = 0;
}


std::size_t ChatWindow::scrolledRows() const
{
	return _scroll;
}


bool ChatWindow::atTop(std::size_t height, std::size_t width) const
{
	const std::size_t total = rows(width).size();
	return total <= height || _scroll >= total - height;
}


} // namespace CrossChat
