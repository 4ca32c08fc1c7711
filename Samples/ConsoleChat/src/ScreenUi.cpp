//
// ScreenUi.cpp
//
// Sample: ConsoleChat
//


#include "ScreenUi.h"
#include "Terminal.h"
#include "TerminalText.h"
#include "TransferText.h"
#include "Poco/DateTimeFormatter.h"
#include "Poco/Exception.h"
#include "Poco/JSON/Array.h"
#include "Poco/JSON/Parser.h"
#include "Poco/LocalDateTime.h"
#include "Poco/Message.h"
#include "Poco/NumberParser.h"
#include "Poco/String.h"
#include "Poco/Timestamp.h"
#include <ncursesw/curses.h>
#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <functional>
#include <ostream>
#include <poll.h>
#include <sstream>
#include <unistd.h>


namespace CrossChat {


namespace {


using Style = ChatWindow::Style;
using Activity = ChatWindow::Activity;
using State = ChatWindow::State;

constexpr std::size_t MAX_QUEUE = 10000;
constexpr std::size_t MAX_WINDOWS = 64;
constexpr std::size_t MAX_HANDLES = 1024;   ///< Handles remembered for Tab completion.
constexpr std::size_t HISTORY_PAGE = 100;   ///< Messages loaded from the history store per PageUp beyond the top.
constexpr std::size_t SENDER_COLOURS = 6;
constexpr wint_t KEY_ESCAPE = 27;

enum Pair : short
{
	PAIR_BAR = 1,
	PAIR_TIME,
	PAIR_NOTICE,
	PAIR_ERROR,
	PAIR_DELIVERED,
	PAIR_ACTIVITY,
	PAIR_HIGHLIGHT,
	PAIR_SENDER   // SENDER_COLOURS pairs from here
};


std::string timeOf(std::int64_t milliseconds)
{
	const Poco::Timestamp when = milliseconds > 0
		? Poco::Timestamp(static_cast<Poco::Timestamp::TimeVal>(milliseconds) * 1000) : Poco::Timestamp();
	return Poco::DateTimeFormatter::format(Poco::LocalDateTime(when), "%H:%M");
}


std::string dayTimeOf(std::int64_t milliseconds)
	/// A stored message's time: the time of day if it was today, else the date too.
{
	const Poco::LocalDateTime when(Poco::Timestamp(static_cast<Poco::Timestamp::TimeVal>(milliseconds) * 1000));
	const Poco::LocalDateTime now;
	const bool today = when.year() == now.year() && when.month() == now.month() && when.day() == now.day();
	return Poco::DateTimeFormatter::format(when, today ? "%H:%M" : "%Y-%m-%d %H:%M");
}


std::string member(const Poco::JSON::Object& event, const std::string& name)
{
	return event.has(name) && !event.isNull(name) ? event.getValue<std::string>(name) : std::string();
}


bool flag(const Poco::JSON::Object& event, const std::string& name)
{
	return event.has(name) && !event.isNull(name) && event.getValue<bool>(name);
}


std::string shortId(const std::string& id)
{
	return id.substr(0, id.find('-'));
}


std::vector<std::string> splitLines(const std::string& text)
{
	std::vector<std::string> lines;
	std::string::size_type start = 0;
	while (start <= text.size())
	{
		const auto end = text.find('\n', start);
		lines.push_back(text.substr(start, end == std::string::npos ? std::string::npos : end - start));
		if (end == std::string::npos) break;
		start = end + 1;
	}
	return lines;
}


} // namespace


ScreenUi::LogChannel::LogChannel(ScreenUi& ui):
	_ui(ui)
{
}


void ScreenUi::LogChannel::log(const Poco::Message& message)
{
	_ui.log(message.getText());
}


ScreenUi::ScreenUi(Settings settings):
	_settings(std::move(settings))
{
	if (::pipe2(_wakePipe, O_NONBLOCK | O_CLOEXEC) != 0)
		throw Poco::SystemException("cannot create the UI wake-up pipe", std::strerror(errno));
	_renderers["ready"] = &ScreenUi::renderReady;
	_renderers["message"] = &ScreenUi::renderMessage;
	_renderers["history"] = &ScreenUi::renderHistory;
	_renderers["nick"] = &ScreenUi::renderNick;
	_renderers["whois"] = &ScreenUi::renderWhois;
	_renderers["sent"] = &ScreenUi::renderSent;
	_renderers["delivered"] = &ScreenUi::renderDelivered;
	_renderers["error"] = &ScreenUi::renderError;
	_renderers["peer"] = &ScreenUi::renderPeer;
	_renderers["path"] = &ScreenUi::renderPath;
	_renderers["relay"] = &ScreenUi::renderRelay;
	_renderers["conversation"] = &ScreenUi::renderConversation;
	_renderers["help"] = &ScreenUi::renderHelp;
	_renderers["bye"] = &ScreenUi::renderBye;
	_renderers["contact"] = &ScreenUi::renderContact;
	_renderers["transfer"] = &ScreenUi::renderTransfer;
	_renderers["group"] = &ScreenUi::renderGroup;
	_windows.push_back(std::make_unique<ChatWindow>(ChatWindow::Kind::STATUS, "status", L"status"));
}


ScreenUi::~ScreenUi()
{
	::close(_wakePipe[0]);
	::close(_wakePipe[1]);
}


// Queue -----------------------------------------------------------------------------------


void ScreenUi::push(Item item)
{
	{
		std::lock_guard<std::mutex> lock(_mutex);
		if (_queue.size() >= MAX_QUEUE && item.kind != Item::Kind::FINISH)
		{
			++_dropped;
			return;
		}
		_queue.push_back(std::move(item));
	}
	const char byte = 1;
	const ssize_t ignored = ::write(_wakePipe[1], &byte, 1);
	(void) ignored;   // a full pipe already holds a wake-up
}


std::deque<ScreenUi::Item> ScreenUi::take()
{
	char buffer[256];
	while (::read(_wakePipe[0], buffer, sizeof(buffer)) > 0)
	{
	}
	std::deque<Item> items;
	std::lock_guard<std::mutex> lock(_mutex);
	items.swap(_queue);
	if (_dropped > 0)
	{
		Item note;
		note.kind = Item::Kind::LOG;
		note.text = std::to_string(_dropped) + " events were not shown: the screen could not keep up";
		items.push_back(note);
		_dropped = 0;
	}
	return items;
}


void ScreenUi::deliver(const std::string& json, const std::string& text)
{
	Item item;
	item.json = json;
	item.text = text;
	push(std::move(item));
}


void ScreenUi::log(const std::string& line)
{
	Item item;
	item.kind = Item::Kind::LOG;
	item.text = line;
	push(std::move(item));
}


void ScreenUi::finish()
{
	Item item;
	item.kind = Item::Kind::FINISH;
	push(std::move(item));
}


void ScreenUi::setCommands(const std::vector<Command>& commands)
{
	_commands = commands;
	const std::vector<Command> local = {
		{"/win", "/win <number|name|next|prev>", "switch to a window (also Alt+1..9, Alt+0, Ctrl+N, Ctrl+P)"},
		{"/close", "/close [number]", "close a conversation window (the conversation goes on)"},
		{"/clear", "/clear", "clear the current window"},
		{"/away", "/away [text]", "mark yourself away on your screen (peers are not told); without text, back"},
	};
	for (const Command& command: local)
	{
		const bool known = std::any_of(_commands.begin(), _commands.end(),
			[&](const Command& existing) { return existing.name == command.name; });
		if (!known) _commands.push_back(command);
	}
}


// Events ----------------------------------------------------------------------------------


void ScreenUi::dispatch(const Item& item)
{
	_dirty = true;
	if (item.kind == Item::Kind::LOG)
	{
		addLines(statusWindow(), item.text, Style::NOTICE, Activity::EVENTS);
		return;
	}
	if (item.kind == Item::Kind::FINISH)
	{
		_finished = true;
		return;
	}
	Poco::JSON::Object::Ptr pEvent;
	try
	{
		pEvent = Poco::JSON::Parser().parse(item.json).extract<Poco::JSON::Object::Ptr>();
	}
	catch (const Poco::Exception& exc)
	{
		addLines(statusWindow(), "cannot show an event (" + exc.displayText() + "): " + item.text, Style::ERROR, Activity::EVENTS);
		return;
	}
	const std::string name = member(*pEvent, "event");
	const auto it = _renderers.find(name);
	try
	{
		(this->*(it == _renderers.end() ? &ScreenUi::renderText : it->second))(*pEvent, item.text);
	}
	catch (const Poco::Exception& exc)
	{
		// A renderer that meets an event it did not expect still shows what happened.
		addLines(current(), item.text, Style::TEXT, Activity::EVENTS);
		addLines(statusWindow(), "(" + name + " event not fully shown: " + exc.displayText() + ")", Style::ERROR, Activity::EVENTS);
	}
}


void ScreenUi::renderReady(const Poco::JSON::Object& event, const std::string& text)
{
	_ownId = member(event, "id");
	_ownName = member(event, "name");
	_historyAvailable = flag(event, "history");
	addLines(statusWindow(), text, Style::NOTICE, Activity::EVENTS);
	addLines(statusWindow(), "Full-screen mode: Alt+1..9 or Ctrl+N/Ctrl+P switch windows, PageUp/PageDown scroll, "
		"Tab completes, /help lists the commands, Ctrl+C or /quit leaves.", Style::NOTICE, Activity::EVENTS);
}


void ScreenUi::renderMessage(const Poco::JSON::Object& event, const std::string&)
{
	const std::string from = member(event, "from");
	const std::string name = member(event, "name");
	PeerState& peer = _peers[from];
	peer.id = from;
	if (!name.empty()) peer.name = name;
	const std::string group = member(event, "group");
	ChatWindow& window = group.empty() ? conversation(from, name) : groupWindow(group, member(event, "groupName"));
	std::int64_t ts = 0;
	if (event.has("ts")) ts = event.getValue<Poco::Int64>("ts");
	const std::string text = member(event, "text");

	const std::wstring who = displayName(from, name);
	ChatWindow::Line line = messageLine(timeOf(ts), who, Style::PEER, colourOf(from), text);
	line.messageId = member(event, "id");
	const bool onScreen = &window == &current();
	add(window, line, Activity::HIGHLIGHT);
	if (flag(event, "request") && _requestHinted.insert(from).second)
	{
		add(window, notice(TerminalText::encode(who) + " (" + shortId(from) + ") is not a contact: reply or /accept "
			+ shortId(from) + " to accept, /block " + shortId(from) + " to refuse its messages"), Activity::EVENTS);
	}
	if (!_away.empty()) ++_awayMessages;
	if (!onScreen && _settings.bell) beep();
}


void ScreenUi::renderSent(const Poco::JSON::Object& event, const std::string&)
{
	const std::string to = member(event, "to");
	const std::string id = member(event, "id");
	const std::string text = member(event, "text");
	const std::string group = member(event, "group");
	ChatWindow& window = group.empty() ? conversation(to, std::string()) : groupWindow(group, std::string());
	const auto peer = _peers.find(to);
	const bool connected = peer != _peers.end() && peer->second.connected;

	ChatWindow::Line line = messageLine(timeOf(0), TerminalText::sanitize(_ownName), Style::OWN, 0, text);
	line.messageId = id;
	// A group message has no receipt: it is signed, stored and handed to every member in reach.
	line.state = !group.empty() ? State::NONE : connected ? State::SENT : State::SENDING;
	if (&window != &current())
	{
		// Typed elsewhere (/msg bob ... in another window): say where it went.
		add(current(), notice("-> " + TerminalText::encode(window.name()) + ": " + text), Activity::NONE);
	}
	add(window, line, Activity::NONE);
}


ChatWindow::Line ScreenUi::messageLine(const std::string& stamp, const std::wstring& who, Style style, unsigned colour,
	const std::string& text) const
{
	ChatWindow::Line line;
	line.spans.push_back({TerminalText::sanitize(stamp + " "), Style::TIME, 0});
	if (text.compare(0, 4, "/me ") == 0)
	{
		line.spans.push_back({L"* " + who + L" ", Style::ACTION, 0});
		line.indent = TerminalText::width(line.spans[0].text);
		line.spans.push_back({TerminalText::sanitize(text.substr(4)), Style::ACTION, 0});
	}
	else
	{
		line.spans.push_back({L"<" + who + L"> ", style, colour});
		line.indent = TerminalText::width(line.spans[0].text) + TerminalText::width(line.spans[1].text);
		line.spans.push_back({TerminalText::sanitize(text), Style::TEXT, 0});
	}
	return line;
}


void ScreenUi::renderNick(const Poco::JSON::Object& event, const std::string& text)
{
	_ownName = member(event, "name");   // our lines from now on
	renderText(event, text);
}


void ScreenUi::renderWhois(const Poco::JSON::Object& event, const std::string& text)
{
	// A handle the relay bound to the key we pinned: Tab completes it from now on.
	const std::string handle = member(event, "handle");
	const std::string id = member(event, "id");
	if (!handle.empty() && !id.empty() && !flag(event, "key_changed") && _handles.size() < MAX_HANDLES)
	{
		_handles[handle] = id;
		const std::string relay = member(event, "relay");
		if (!relay.empty()) _handles[handle + "@" + relay] = id;
	}
	renderText(event, text);
}


void ScreenUi::renderHistory(const Poco::JSON::Object& event, const std::string& text)
{
	// A conversation's window has the peer's ID as its key, a group's "#" and the group's ID;
	// a group message's place in the store is its "order" ("seq" is its author's counter).
	const std::string group = member(event, "group");
	const std::string key = group.empty() ? member(event, "peer") : "#" + group;
	const std::string orderField = group.empty() ? "seq" : "order";
	const auto scrollback = _scrollback.find(key);
	ChatWindow* pWindow = find(key);
	if (!event.has("before") || scrollback == _scrollback.end() || !scrollback->second.pending || !pWindow)
	{
		renderText(event, text);   // asked for with /history: shown as it is
		return;
	}
	Scrollback& state = scrollback->second;
	state.pending = false;
	const Poco::JSON::Array::Ptr pMessages = event.getArray("messages");
	const std::size_t count = pMessages ? pMessages->size() : 0;
	if (count < HISTORY_PAGE) state.exhausted = true;
	std::vector<ChatWindow::Line> lines;
	for (std::size_t i = 0; i < count; ++i)
	{
		const Poco::JSON::Object::Ptr pMessage = pMessages->getObject(static_cast<unsigned>(i));
		if (!pMessage) continue;
		state.oldest = std::min<std::int64_t>(state.oldest, pMessage->getValue<Poco::Int64>(orderField));
		const std::string id = member(*pMessage, "id");
		if (pWindow->hasMessage(id)) continue;   // shown already, as it happened
		const std::string from = member(*pMessage, "from");
		const bool own = from == _ownId;
		const std::string body = member(*pMessage, "text");
		ChatWindow::Line line = own
			? messageLine(dayTimeOf(pMessage->getValue<Poco::Int64>("time")), TerminalText::sanitize(_ownName), Style::OWN, 0, body)
			: messageLine(dayTimeOf(pMessage->getValue<Poco::Int64>("time")), displayName(from, member(*pMessage, "name")),
				Style::PEER, colourOf(from), body);
		line.messageId = id;
		if (own && group.empty())
		{
			const std::string stored = member(*pMessage, "state");
			line.state = stored == "delivered" ? State::DELIVERED : stored == "refused" ? State::FAILED
				: stored == "sent" ? State::SENT : State::SENDING;
			if (line.state == State::FAILED) line.failure = TerminalText::sanitize(member(*pMessage, "reason"));
		}
		lines.push_back(std::move(line));
	}
	const std::size_t wanted = lines.size();
	if (pWindow->prepend(std::move(lines)) < wanted) state.exhausted = true;   // the window is full
	_dirty = true;
}


void ScreenUi::requestOlder(ChatWindow& window)
{
	if (!_historyAvailable || !_handler || window.kind() != ChatWindow::Kind::CONVERSATION) return;
	Scrollback& state = _scrollback[window.key()];
	if (state.pending || state.exhausted || window.lineCount() >= ChatWindow::MAX_LINES) return;
	state.pending = true;
	const std::string page = std::to_string(HISTORY_PAGE) + " --before " + std::to_string(state.oldest);
	if (window.key().compare(0, 1, "#") == 0)
		_handler("/group history " + window.key() + " " + page);
	else
		_handler("/history " + window.key() + " " + page);
}


void ScreenUi::renderDelivered(const Poco::JSON::Object& event, const std::string& text)
{
	const std::string to = member(event, "to");
	const std::string id = member(event, "id");
	ChatWindow* pWindow = find(to);
	if (pWindow && pWindow->setState(id, State::DELIVERED)) return;
	// The line is gone (closed window, cleared, scrolled out): the receipt still shows.
	addLines(pWindow ? *pWindow : statusWindow(), text, Style::DELIVERED, Activity::EVENTS);
}


void ScreenUi::renderError(const Poco::JSON::Object& event, const std::string& text)
{
	const std::string message = member(event, "message");
	const std::string id = member(event, "id");
	if (!id.empty())
	{
		for (const auto& pWindow: _windows)
		{
			if (pWindow->setState(id, State::FAILED, TerminalText::sanitize(message)))
			{
				if (pWindow.get() != &current()) addLines(current(), "error: " + message, Style::ERROR, Activity::NONE);
				return;
			}
		}
	}
	if (flag(event, "fatal")) _lastErrors.push_back(text.empty() ? "crosschat: " + message : text);
	addLines(current(), "error: " + message, Style::ERROR, Activity::EVENTS);
	if (&current() != &statusWindow()) addLines(statusWindow(), "error: " + message, Style::ERROR, Activity::EVENTS);
}


void ScreenUi::renderPeer(const Poco::JSON::Object& event, const std::string& text)
{
	const std::string id = member(event, "id");
	const std::string state = member(event, "state");
	PeerState& peer = _peers[id];
	peer.id = id;
	const std::string name = member(event, "name");
	if (!name.empty()) peer.name = name;
	if (state == "found") peer.online = true;
	else if (state == "lost") peer.online = false;
	else if (state == "connected")
	{
		peer.connected = true;
		peer.path = member(event, "path");
	}
	else if (state == "disconnected")
	{
		peer.connected = false;
		peer.path.clear();
	}
	ChatWindow* pWindow = find(id);
	if (pWindow)
	{
		if (!peer.name.empty()) pWindow->rename(displayName(id, peer.name));
		// The node writes what waits as soon as a session is up, and writes it again on the
		// next one if no receipt came.
		if (state == "connected") pWindow->retreat(State::SENDING, State::SENT);
		if (state == "disconnected") pWindow->retreat(State::SENT, State::SENDING);
	}
	if (text.empty()) return;   // "updated": not worth a line
	addLines(statusWindow(), text, Style::NOTICE, Activity::EVENTS);
	if (pWindow) addLines(*pWindow, text, Style::NOTICE, Activity::EVENTS);
}


void ScreenUi::renderPath(const Poco::JSON::Object& event, const std::string& text)
{
	const std::string id = member(event, "id");
	PeerState& peer = _peers[id];
	peer.id = id;
	peer.path = member(event, "path");
	addLines(statusWindow(), text, Style::NOTICE, Activity::EVENTS);
	if (ChatWindow* pWindow = find(id)) addLines(*pWindow, text, Style::NOTICE, Activity::EVENTS);
}


void ScreenUi::renderRelay(const Poco::JSON::Object& event, const std::string& text)
{
	_relayState = member(event, "state");
	if (!text.empty()) addLines(statusWindow(), text, Style::NOTICE, Activity::EVENTS);
}


void ScreenUi::renderConversation(const Poco::JSON::Object& event, const std::string&)
{
	const std::string group = member(event, "group");
	ChatWindow& window = group.empty() ? conversation(member(event, "id"), member(event, "name")) : groupWindow(group, member(event, "name"));
	select(indexOf(window.key()));
}


void ScreenUi::renderGroup(const Poco::JSON::Object& event, const std::string& text)
{
	const std::string kind = member(event, "kind");
	const std::string group = member(event, "group");
	const std::string line = text.compare(0, 2, "* ") == 0 ? text.substr(2) : text;
	if (kind == "invited" || kind == "declined")
	{
		addLines(statusWindow(), line, Style::NOTICE, Activity::HIGHLIGHT);
		return;
	}
	ChatWindow& window = groupWindow(group, member(event, "name"));
	addLines(window, line, Style::NOTICE, Activity::EVENTS);
	if (kind == "created" || kind == "joining") select(indexOf(window.key()));
}


ChatWindow& ScreenUi::groupWindow(const std::string& groupId, const std::string& name)
{
	const std::string key = "#" + groupId;
	const std::wstring title = L"#" + TerminalText::truncate(TerminalText::sanitize(name.empty() ? groupId.substr(0, 8) : name), 31);
	if (ChatWindow* pWindow = find(key))
	{
		if (!name.empty()) pWindow->rename(title);
		return *pWindow;
	}
	if (_windows.size() >= MAX_WINDOWS) return statusWindow();   // bounded; the lines still show
	_windows.push_back(std::make_unique<ChatWindow>(ChatWindow::Kind::CONVERSATION, key, title));
	requestOlder(*_windows.back());   // the group's conversation so far, from the store
	return *_windows.back();
}


void ScreenUi::renderHelp(const Poco::JSON::Object& event, const std::string& text)
{
	std::ostringstream more;
	more << text;
	more << "\nIn full-screen mode also:";
	for (const Command& command: _commands)
	{
		if (command.name == "/win" || command.name == "/close" || command.name == "/clear" || command.name == "/away")
			more << "\n  " << command.usage << "  " << command.description;
	}
	more << "\nKeys: Alt+1..9/0 window, Ctrl+N/P next/previous window, PageUp/PageDown scroll, Up/Down input history,"
		"\n  Tab complete, Ctrl+A/E start/end, Ctrl+Left/Right or Alt+B/F word, Ctrl+W/Alt+D delete word,"
		"\n  Ctrl+K/U delete to end/start, Ctrl+Y paste deleted text, Ctrl+L redraw, Ctrl+C quit."
		"\nIn a conversation window plain text, /me <action> and /say <text> (or //text) go to that peer.";
	renderText(event, more.str());
}


void ScreenUi::renderContact(const Poco::JSON::Object& event, const std::string& text)
{
	// An alias wins over the name the peer gives itself, in the window list too.
	const std::string id = member(event, "id");
	const std::string alias = member(event, "alias");
	PeerState& peer = _peers[id];
	peer.id = id;
	peer.alias = alias;
	if (!member(event, "name").empty()) peer.name = member(event, "name");
	if (ChatWindow* pWindow = find(id)) pWindow->rename(displayName(id, peer.name));
	renderText(event, text);
}


void ScreenUi::renderBye(const Poco::JSON::Object& event, const std::string& text)
{
	_lastWords.push_back(text);
	renderText(event, text);
}


void ScreenUi::renderTransfer(const Poco::JSON::Object& event, const std::string& text)
	/// A file transfer: one line with its progress bar in the peer's window, updated in place,
	/// and, when its state changes, what happened (an offer with the commands to answer it, the
	/// path a file was saved as, the reason it ended).
{
	const std::string peer = member(event, "peer");
	const std::string id = member(event, "id");
	const std::string state = member(event, "state");
	ChatWindow& window = conversation(peer, member(event, "name"));
	const bool in = member(event, "direction") == "in";
	const auto number = [&event](const char* name) {
		return event.has(name) ? event.getValue<Poco::UInt64>(name) : Poco::UInt64(0);
	};
	std::optional<std::int64_t> eta;
	if (event.has("eta")) eta = event.getValue<Poco::Int64>("eta");
	std::string bar = std::string(in ? "<= " : "=> ") + "\"" + member(event, "file") + "\" ";
	if (state == "transferring")
		bar += TransferText::progress(number("bytes"), number("size"), static_cast<double>(number("rate")), eta, flag(event, "connected"));
	else if (state == "complete")
		bar += TransferText::bar(1, 1) + " " + TransferText::size(number("size")) + ", verified";
	else
		bar += TransferText::size(number("size")) + " " + state;
	Style style = Style::NOTICE;
	if (state == "failed" || state == "cancelled" || state == "rejected") style = Style::FAILED;
	else if (state == "complete") style = Style::DELIVERED;
	ChatWindow::Line line = notice(bar, style);
	line.messageId = "transfer:" + id;
	if (!window.replace(line.messageId, line)) add(window, line, Activity::EVENTS);
	_dirty = true;
	if (flag(event, "progress") || text.empty()) return;
	const bool offer = in && state == "offered";
	addLines(window, text, Style::NOTICE, offer ? Activity::HIGHLIGHT : Activity::EVENTS);
	if (offer && &window != &current() && _settings.bell) beep();
}


void ScreenUi::renderText(const Poco::JSON::Object&, const std::string& text)
{
	if (text.empty()) return;
	addLines(current(), text, Style::TEXT, Activity::EVENTS);
}


// Windows ---------------------------------------------------------------------------------


ChatWindow& ScreenUi::statusWindow()
{
	return *_windows.front();
}


ChatWindow& ScreenUi::current()
{
	return *_windows[_current];
}


ChatWindow* ScreenUi::find(const std::string& key)
{
	for (const auto& pWindow: _windows)
	{
		if (pWindow->key() == key) return pWindow.get();
	}
	return nullptr;
}


std::size_t ScreenUi::indexOf(const std::string& key) const
{
	for (std::size_t i = 0; i < _windows.size(); ++i)
	{
		if (_windows[i]->key() == key) return i;
	}
	return 0;
}


ChatWindow& ScreenUi::conversation(const std::string& peerId, const std::string& name)
{
	if (ChatWindow* pWindow = find(peerId))
	{
		if (!name.empty()) pWindow->rename(displayName(peerId, name));
		return *pWindow;
	}
	if (_windows.size() >= MAX_WINDOWS) return statusWindow();   // bounded; the lines still show
	auto& peer = _peers[peerId];
	peer.id = peerId;
	if (!name.empty()) peer.name = name;
	_windows.push_back(std::make_unique<ChatWindow>(ChatWindow::Kind::CONVERSATION, peerId, displayName(peerId, peer.name)));
	requestOlder(*_windows.back());   // the conversation so far, also from before a restart
	return *_windows.back();
}


void ScreenUi::select(std::size_t index)
{
	if (index >= _windows.size()) return;
	_current = index;
	current().seen();
	_dirty = true;
}


void ScreenUi::closeWindow(std::size_t index)
{
	if (index == 0 || index >= _windows.size()) return;
	_windows.erase(_windows.begin() + static_cast<long>(index));
	if (_current >= _windows.size()) _current = _windows.size() - 1;
	else if (_current > index) --_current;
	else if (_current == index) _current = index - 1;
	current().seen();
	_dirty = true;
}


std::wstring ScreenUi::displayName(const std::string& peerId, const std::string& fallback) const
{
	std::string name = fallback;
	const auto it = _peers.find(peerId);
	if (it != _peers.end() && !it->second.alias.empty()) name = it->second.alias;   // ours wins
	if (name.empty() && it != _peers.end()) name = it->second.name;
	if (name.empty()) name = shortId(peerId);
	return TerminalText::truncate(TerminalText::sanitize(name), 32);
}


unsigned ScreenUi::colourOf(const std::string& peerId) const
{
	return static_cast<unsigned>(std::hash<std::string>()(peerId) % SENDER_COLOURS);
}


ChatWindow::Line ScreenUi::notice(const std::string& text, Style style) const
{
	ChatWindow::Line line;
	line.spans.push_back({TerminalText::sanitize(timeOf(0) + " "), Style::TIME, 0});
	line.indent = TerminalText::width(line.spans[0].text);
	line.spans.push_back({TerminalText::sanitize(text), style, 0});
	return line;
}


void ScreenUi::addLines(ChatWindow& window, const std::string& text, Style style, Activity activity)
{
	for (const std::string& part: splitLines(text)) add(window, notice(part, style), activity);
}


void ScreenUi::add(ChatWindow& window, ChatWindow::Line line, Activity activity)
{
	window.add(std::move(line), activity, &window == &current());
	_dirty = true;
}


// Input -----------------------------------------------------------------------------------


void ScreenUi::onKey(int key, bool isKeyCode)
{
	_dirty = true;
	if (!(key == '\t' && !isKeyCode) && !(isKeyCode && key == KEY_BTAB)) _completer.reset();
	if (!isKeyCode)
	{
		switch (key)
		{
		case '\r':
		case '\n':
			submit();
			return;
		case '\t':
		{
			const auto result = _completer.complete(_input.text(), _input.cursor(), completionSources(), false);
			if (result) _input.set(result->line, result->cursor);
			return;
		}
		case 1:   _input.home(); return;                  // Ctrl+A
		case 2:   _input.left(); return;                  // Ctrl+B
		case 3:   requestQuit(); return;                  // Ctrl+C
		case 4:   _input.deleteForward(); return;         // Ctrl+D
		case 5:   _input.end(); return;                   // Ctrl+E
		case 6:   _input.right(); return;                 // Ctrl+F
		case 8:
		case 127: _input.backspace(); return;
		case 11:  _input.killToEnd(); return;             // Ctrl+K
		case 12:  clearok(stdscr, TRUE); return;          // Ctrl+L
		case 14:  select((_current + 1) % _windows.size()); return;                    // Ctrl+N
		case 16:  select((_current + _windows.size() - 1) % _windows.size()); return;  // Ctrl+P
		case 21:  _input.killToStart(); return;           // Ctrl+U
		case 23:  _input.killWordBack(); return;          // Ctrl+W
		case 25:  _input.yank(); return;                  // Ctrl+Y
		default:
			break;
		}
		const auto c = static_cast<wchar_t>(key);
		if (c < 0x20 || c == 0x7F || (c >= 0x80 && c < 0xA0)) return;   // other controls: nothing
		// Only what the line can show as typed: no controls, bidi or zero-width format
		// characters (they would shift the cursor), marks only after a base.
		const std::wstring typed(1, c);
		if (TerminalText::sanitize(L"a" + typed) != L"a" + typed) return;
		if (::wcwidth(c) == 0 && _input.cursor() == 0) return;
		_input.insert(typed);
		return;
	}
	switch (key)
	{
	case KEY_ENTER:     submit(); break;
	case KEY_BACKSPACE: _input.backspace(); break;
	case KEY_DC:        _input.deleteForward(); break;
	case KEY_LEFT:      _input.left(); break;
	case KEY_RIGHT:     _input.right(); break;
	case KEY_HOME:      _input.home(); break;
	case KEY_END:       _input.end(); break;
	case KEY_UP:        _input.previous(); break;
	case KEY_DOWN:      _input.next(); break;
	case KEY_PPAGE:     pageUp(); break;
	case KEY_NPAGE:
	{
		const int height = std::max(1, _pTerminal->rows() - 3);
		current().scrollBy(-(height - 1), static_cast<std::size_t>(height), static_cast<std::size_t>(_pTerminal->columns()));
		break;
	}
	case KEY_BTAB:
	{
		const auto result = _completer.complete(_input.text(), _input.cursor(), completionSources(), true);
		if (result) _input.set(result->line, result->cursor);
		break;
	}
	case KEY_RESIZE:
		_pTerminal->resize();
		clearok(stdscr, TRUE);
		break;
	case Terminal::KEY_CTRL_LEFT:
	case Terminal::KEY_ALT_LEFT:   _input.wordLeft(); break;
	case Terminal::KEY_CTRL_RIGHT:
	case Terminal::KEY_ALT_RIGHT:  _input.wordRight(); break;
	case Terminal::KEY_CTRL_HOME:
	{
		const int height = std::max(1, _pTerminal->rows() - 3);
		current().scrollBy(static_cast<long>(ChatWindow::MAX_LINES) * 4, static_cast<std::size_t>(height), static_cast<std::size_t>(_pTerminal->columns()));
		break;
	}
	case Terminal::KEY_CTRL_END:   current().scrollToBottom(); break;
	default:
		break;
	}
}


void ScreenUi::pageUp()
{
	const int height = std::max(1, _pTerminal->rows() - 3);
	const auto width = static_cast<std::size_t>(_pTerminal->columns());
	ChatWindow& window = current();
	if (window.atTop(static_cast<std::size_t>(height), width) && window.kind() == ChatWindow::Kind::CONVERSATION)
	{
		requestOlder(window);   // the page before the oldest line shown, from the history store
		return;
	}
	window.scrollBy(height - 1, static_cast<std::size_t>(height), width);
}


void ScreenUi::submit()
{
	const std::string line = TerminalText::encode(_input.submit());
	current().scrollToBottom();
	if (line.find_first_not_of(' ') == std::string::npos) return;
	if (localCommand(line)) return;

	ChatWindow& window = current();
	const bool inConversation = window.kind() == ChatWindow::Kind::CONVERSATION;
	std::string text;
	bool toWindow = false;
	if (line.compare(0, 2, "//") == 0)
	{
		text = line.substr(1);
		toWindow = true;
	}
	else if (line[0] != '/')
	{
		text = line;
		toWindow = true;
	}
	else
	{
		const std::string word = Poco::toLower(line.substr(0, line.find(' ')));
		const std::string rest = line.find(' ') == std::string::npos ? std::string() : line.substr(line.find(' ') + 1);
		if (word == "/say" && !rest.empty())
		{
			text = rest;
			toWindow = true;
		}
		else if (word == "/me" && !rest.empty())
		{
			text = "/me " + rest;
			toWindow = true;
		}
	}
	if (toWindow && inConversation)
	{
		_handler("/msg " + window.key() + " " + text);
		return;
	}
	if (Poco::toLower(line.substr(0, line.find(' '))) == "/quit")
	{
		requestQuit();
		return;
	}
	_handler(line);
}


void ScreenUi::requestQuit()
{
	// Once: Ctrl+C pressed twice, or a signal after /quit, must not say goodbye twice.
	if (_quitRequested) return;
	_quitRequested = true;
	_handler("/quit");
}


bool ScreenUi::localCommand(const std::string& line)
{
	const std::string word = Poco::toLower(line.substr(0, line.find(' ')));
	const std::string rest = Poco::trim(line.find(' ') == std::string::npos ? std::string() : line.substr(line.find(' ') + 1));
	if (word == "/win" || word == "/window")
	{
		unsigned number = 0;
		if (rest == "next") select((_current + 1) % _windows.size());
		else if (rest == "prev") select((_current + _windows.size() - 1) % _windows.size());
		else if (Poco::NumberParser::tryParseUnsigned(rest, number) && number >= 1 && number <= _windows.size()) select(number - 1);
		else
		{
			for (std::size_t i = 0; i < _windows.size(); ++i)
			{
				const std::string name = TerminalText::encode(_windows[i]->name());
				if (!rest.empty() && (Poco::icompare(name, rest) == 0 || _windows[i]->key().compare(0, rest.size(), rest) == 0))
				{
					select(i);
					return true;
				}
			}
			addLines(current(), "usage: /win <number|name|next|prev>; windows 1 to " + std::to_string(_windows.size()), Style::ERROR, Activity::NONE);
		}
		return true;
	}
	if (word == "/close")
	{
		unsigned number = static_cast<unsigned>(_current + 1);
		if (!rest.empty() && !Poco::NumberParser::tryParseUnsigned(rest, number)) number = 0;
		if (number <= 1 || number > _windows.size())
			addLines(current(), "usage: /close [number]: a conversation window (2 to " + std::to_string(_windows.size()) + "); the status window stays", Style::ERROR, Activity::NONE);
		else
			closeWindow(number - 1);
		return true;
	}
	if (word == "/clear")
	{
		current().clear();
		_dirty = true;
		return true;
	}
	if (word == "/away")
	{
		if (rest.empty())
		{
			if (_away.empty())
			{
				addLines(current(), "you are not away", Style::NOTICE, Activity::NONE);
			}
			else
			{
				_away.clear();
				std::string summary = "back; " + std::to_string(_awayMessages) + " message(s) came while you were away";
				std::string where;
				for (std::size_t i = 1; i < _windows.size(); ++i)
				{
					if (_windows[i]->unread() > 0)
						where += (where.empty() ? "" : ", ") + std::to_string(i + 1) + ":" + TerminalText::encode(_windows[i]->name())
							+ " (" + std::to_string(_windows[i]->unread()) + ")";
				}
				addLines(current(), summary + (where.empty() ? std::string() : ": " + where), Style::NOTICE, Activity::NONE);
			}
		}
		else
		{
			_away = TerminalText::sanitize(rest);
			_awayMessages = 0;
			addLines(current(), "away: " + rest + " (shown on your screen only; peers are not told)", Style::NOTICE, Activity::NONE);
		}
		return true;
	}
	return false;
}


Completer::Sources ScreenUi::completionSources() const
{
	Completer::Sources sources;
	for (const Command& command: _commands)
	{
		sources.commands.push_back(command.name);
		if (command.usage.find("<peer>") != std::string::npos) sources.peerCommands.push_back(command.name);
	}
	sources.commands.push_back("/me");
	sources.commands.push_back("/say");
	std::sort(sources.commands.begin(), sources.commands.end());
	sources.commands.erase(std::unique(sources.commands.begin(), sources.commands.end()), sources.commands.end());
	for (const auto& entry: _peers)
	{
		if (!entry.second.alias.empty()) sources.peers.push_back({entry.second.alias, entry.second.id});
		sources.peers.push_back({entry.second.name, entry.second.id});
	}
	for (const auto& entry: _handles) sources.peers.push_back({entry.first, entry.second});
	for (std::size_t i = 0; i < _windows.size(); ++i)
		sources.windows.push_back({static_cast<unsigned>(i + 1), TerminalText::encode(_windows[i]->name())});
	return sources;
}


// Drawing ---------------------------------------------------------------------------------


int ScreenUi::attributes(Style style, unsigned colour) const
{
	const bool colours = _pTerminal->colours();
	switch (style)
	{
	case Style::TEXT:      return A_NORMAL;
	case Style::TIME:      return colours ? COLOR_PAIR(PAIR_TIME) : A_DIM;
	case Style::OWN:       return A_BOLD;
	case Style::PEER:      return colours ? COLOR_PAIR(PAIR_SENDER + static_cast<short>(colour % SENDER_COLOURS)) | A_BOLD : A_BOLD;
	case Style::NOTICE:    return colours ? COLOR_PAIR(PAIR_NOTICE) : A_DIM;
	case Style::ERROR:     return colours ? COLOR_PAIR(PAIR_ERROR) | A_BOLD : A_BOLD;
	case Style::PENDING:   return A_DIM;
	case Style::DELIVERED: return colours ? COLOR_PAIR(PAIR_DELIVERED) : A_NORMAL;
	case Style::FAILED:    return colours ? COLOR_PAIR(PAIR_ERROR) | A_BOLD : A_BOLD;
	case Style::ACTION:    return colours ? COLOR_PAIR(PAIR_HIGHLIGHT) : A_BOLD;
	case Style::HIGHLIGHT: return colours ? COLOR_PAIR(PAIR_HIGHLIGHT) | A_BOLD : A_BOLD;
	}
	return A_NORMAL;
}


void ScreenUi::put(int row, int column, const std::wstring& text, int attrs, int width)
	/// Writes sanitised text from column, cut to the cells left up to width.
{
	if (column >= width) return;
	std::wstring shown = _pTerminal->utf8() ? text : TerminalText::ascii(text);
	const std::size_t end = TerminalText::fit(shown, 0, static_cast<std::size_t>(width - column));
	shown.resize(end);
	attron(attrs);
	mvaddnwstr(row, column, shown.c_str(), static_cast<int>(shown.size()));
	attroff(attrs);
}


void ScreenUi::drawTitle(int width)
{
	ChatWindow& window = current();
	std::string title;
	if (window.kind() == ChatWindow::Kind::STATUS)
	{
		title = " CrossChat " + _settings.version + " \u2014 " + _ownName + (_ownId.empty() ? std::string() : " (" + shortId(_ownId) + ")")
			+ " \u2014 status window";
	}
	else
	{
		const auto it = _peers.find(window.key());
		const bool group = window.key().compare(0, 1, "#") == 0;
		title = " [" + std::to_string(_current + 1) + "] " + TerminalText::encode(window.name()) + " ("
			+ (group ? "group " + window.key().substr(1, 8) : shortId(window.key())) + ")";
		if (it != _peers.end())
		{
			const PeerState& peer = it->second;
			title += peer.connected ? " \u2014 connected (" + peer.path + ")" : peer.online ? " \u2014 online" : " \u2014 not connected";
		}
	}
	if (window.scrolledRows() > 0) title += "  [scrolled up: PageDown or Ctrl+End returns]";
	attron(A_REVERSE);
	mvhline(0, 0, ' ', width);
	attroff(A_REVERSE);
	put(0, 0, TerminalText::sanitize(title), A_REVERSE | (_pTerminal->colours() ? COLOR_PAIR(PAIR_BAR) : 0), width);
}


void ScreenUi::drawMessages(int top, int height, int width)
{
	ChatWindow& window = current();
	const std::vector<ChatWindow::Row> rows = window.rows(static_cast<std::size_t>(width));
	const std::size_t total = rows.size();
	const std::size_t scroll = std::min(window.scrolledRows(), total);
	const std::size_t end = total - scroll;
	const std::size_t begin = end > static_cast<std::size_t>(height) ? end - static_cast<std::size_t>(height) : 0;
	// New lines at the bottom, as in a terminal: a short window starts below empty rows.
	int row = top + height - static_cast<int>(end - begin);
	for (std::size_t i = begin; i < end; ++i, ++row)
	{
		int column = 0;
		for (const ChatWindow::Span& span: rows[i])
		{
			put(row, column, span.text, attributes(span.style, span.colour), width);
			column += static_cast<int>(TerminalText::width(_pTerminal->utf8() ? span.text : TerminalText::ascii(span.text)));
		}
	}
}


void ScreenUi::drawStatus(int row, int width)
{
	const int bar = A_REVERSE | (_pTerminal->colours() ? COLOR_PAIR(PAIR_BAR) : 0);
	attron(bar);
	mvhline(row, 0, ' ', width);
	attroff(bar);
	int column = 0;
	auto text = [&](const std::string& part, int attrs)
	{
		const std::wstring wide = TerminalText::sanitize(part);
		put(row, column, wide, attrs, width);
		column += static_cast<int>(TerminalText::width(wide));
	};
	text("[" + timeOf(0) + "] [" + _ownName + "]", bar);
	if (!_away.empty()) text(" [away: " + TerminalText::encode(TerminalText::truncate(_away, 20)) + "]", bar | A_BOLD);
	if (!_relayState.empty()) text(" [relay: " + _relayState + "]", bar);
	text(" [", bar);
	for (std::size_t i = 0; i < _windows.size(); ++i)
	{
		const ChatWindow& window = *_windows[i];
		std::string entry = (i ? " " : "") + std::to_string(i + 1) + ":" + TerminalText::encode(TerminalText::truncate(window.name(), 16));
		if (window.unread() > 0) entry += "(" + std::to_string(window.unread()) + ")";
		int attrs = bar;
		if (i == _current) attrs = bar | A_BOLD | A_UNDERLINE;
		else if (window.activity() == Activity::HIGHLIGHT) attrs = _pTerminal->colours() ? COLOR_PAIR(PAIR_HIGHLIGHT) | A_BOLD | A_REVERSE : bar | A_BOLD;
		else if (window.activity() == Activity::MESSAGES) attrs = _pTerminal->colours() ? COLOR_PAIR(PAIR_ACTIVITY) | A_BOLD | A_REVERSE : bar | A_BOLD;
		else if (window.activity() == Activity::EVENTS) attrs = bar | A_BOLD;
		text(entry, attrs);
	}
	text("]", bar);
	std::string act;
	for (std::size_t i = 0; i < _windows.size(); ++i)
	{
		if (i != _current && _windows[i]->activity() >= Activity::MESSAGES) act += (act.empty() ? "" : ",") + std::to_string(i + 1);
	}
	if (!act.empty()) text(" [Act: " + act + "]", bar | A_BOLD);
}


void ScreenUi::drawInput(int row, int width)
{
	ChatWindow& window = current();
	const std::wstring prompt = L"[" + (window.kind() == ChatWindow::Kind::STATUS ? std::wstring(L"status") : window.name()) + L"] ";
	const std::wstring shownPrompt = TerminalText::truncate(prompt, static_cast<std::size_t>(std::max(1, width / 3)));
	put(row, 0, shownPrompt, A_BOLD, width);
	const int promptWidth = static_cast<int>(TerminalText::width(shownPrompt));
	// The last cell stays empty: writing it would scroll the screen on some terminals.
	const int field = std::max(2, width - promptWidth - 1);
	const InputLine::View view = _input.view(static_cast<std::size_t>(field));
	put(row, promptWidth, TerminalText::sanitize(view.text), A_NORMAL, width - 1);
	move(row, promptWidth + static_cast<int>(view.cursor));
}


void ScreenUi::draw()
{
	const int rows = _pTerminal->rows();
	const int columns = _pTerminal->columns();
	erase();
	if (rows < 4 || columns < 10)
	{
		put(0, 0, L"window too small", A_BOLD, columns);
		refresh();
		return;
	}
	drawTitle(columns);
	drawMessages(1, rows - 3, columns);
	drawStatus(rows - 2, columns);
	drawInput(rows - 1, columns);
	refresh();
	_dirty = false;
}


// Run -------------------------------------------------------------------------------------


int ScreenUi::run(LineHandler handler)
{
	_handler = std::move(handler);
	Terminal terminal;
	_pTerminal = &terminal;
	if (terminal.colours())
	{
		init_pair(PAIR_BAR, COLOR_WHITE, COLOR_BLUE);
		init_pair(PAIR_TIME, COLOR_CYAN, -1);
		init_pair(PAIR_NOTICE, COLOR_CYAN, -1);
		init_pair(PAIR_ERROR, COLOR_RED, -1);
		init_pair(PAIR_DELIVERED, COLOR_GREEN, -1);
		init_pair(PAIR_ACTIVITY, COLOR_YELLOW, -1);
		init_pair(PAIR_HIGHLIGHT, COLOR_MAGENTA, -1);
		const short senders[SENDER_COLOURS] = {COLOR_RED, COLOR_GREEN, COLOR_YELLOW, COLOR_BLUE, COLOR_MAGENTA, COLOR_CYAN};
		for (std::size_t i = 0; i < SENDER_COLOURS; ++i)
			init_pair(static_cast<short>(PAIR_SENDER + i), senders[i], -1);
	}
	nodelay(stdscr, TRUE);

	int exitCode = 0;
	auto quit = [this] { requestQuit(); };
	try
	{
		for (const Item& item: take()) dispatch(item);
		draw();
		while (!_finished)
		{
			pollfd fds[3] = {
				{STDIN_FILENO, POLLIN, 0},
				{_wakePipe[0], POLLIN, 0},
				{terminal.signalFd(), POLLIN, 0}
			};
			// Wake at least every few seconds: the clock in the status bar.
			const int ready = ::poll(fds, 3, 5000);
			if (ready < 0 && errno != EINTR) throw Poco::SystemException("poll", std::strerror(errno));
			if (fds[2].revents & POLLIN)
			{
				char signals[32];
				const ssize_t n = ::read(terminal.signalFd(), signals, sizeof(signals));
				for (ssize_t i = 0; i < n; ++i)
				{
					if (signals[i] == SIGWINCH)
					{
						terminal.resize();
						clearok(stdscr, TRUE);   // the terminal reflowed what it showed: paint it all
						_dirty = true;
					}
					else
					{
						if (exitCode == 0) exitCode = Terminal::emergencyExitCode(signals[i]);
						quit();
					}
				}
			}
			if (fds[0].revents & (POLLHUP | POLLERR | POLLNVAL))
			{
				quit();   // the terminal is gone: like the end of input
				fds[0].fd = -1;
			}
			else if (fds[0].revents & POLLIN)
			{
				wint_t key = 0;
				int rc;
				while ((rc = get_wch(&key)) != ERR)
				{
					if (rc == OK && key == KEY_ESCAPE)
					{
						// Alt+key arrives as ESC and the key.
						wint_t next = 0;
						const int rc2 = get_wch(&next);
						if (rc2 == OK && next >= L'0' && next <= L'9')
							select(next == L'0' ? 9 : next - L'1');
						else if (rc2 == OK && (next == L'b' || next == L'B')) _input.wordLeft();
						else if (rc2 == OK && (next == L'f' || next == L'F')) _input.wordRight();
						else if (rc2 == OK && (next == L'd' || next == L'D')) _input.killWordForward();
						else if (rc2 == OK && (next == 127 || next == 8)) _input.killWordBack();
						else if (rc2 == OK && next == L'[')
						{
							// An escape sequence curses does not know: skip it whole.
							wint_t c = 0;
							while (get_wch(&c) == OK && !(c >= 0x40 && c <= 0x7E))
							{
							}
						}
						else if (rc2 == KEY_CODE_YES) onKey(static_cast<int>(next), true);
						_dirty = true;
						continue;
					}
					onKey(static_cast<int>(key), rc == KEY_CODE_YES);
					if (_finished) break;
				}
			}
			if (fds[1].revents & POLLIN)
			{
				for (const Item& item: take()) dispatch(item);
			}
			if (_dirty || ready == 0) draw();
		}
		for (const Item& item: take()) dispatch(item);
	}
	catch (...)
	{
		_pTerminal = nullptr;
		terminal.restore();
		throw;
	}
	_pTerminal = nullptr;
	terminal.restore();
	return exitCode;
}


void ScreenUi::writeTranscript(std::ostream& out, std::ostream& err)
{
	// Events never shown (the session did not start, or came after the screen closed).
	for (const Item& item: take())
	{
		if (item.kind == Item::Kind::LOG)
		{
			err << "crosschat: " << item.text << '\n';
			continue;
		}
		if (item.kind != Item::Kind::EVENT || item.text.empty()) continue;
		const bool error = item.json.find("\"event\":\"error\"") == 0 || item.json.find("{\"event\":\"error\"") == 0;
		(error ? err : out) << item.text << '\n';
	}
	for (const std::string& line: _lastErrors) err << line << '\n';
	for (const std::string& line: _lastWords) out << line << '\n';
	_lastErrors.clear();
	_lastWords.clear();
	out.flush();
	err.flush();
}


} // namespace CrossChat
