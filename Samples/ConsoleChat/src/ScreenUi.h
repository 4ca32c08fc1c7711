//
// ScreenUi.h
//
// Sample: ConsoleChat
// crosschat's full-screen mode: windows per conversation, status bar, line editor.
//
// This is an internal header of the crosschat program.
//


#ifndef CrossChat_ConsoleChat_ScreenUi_INCLUDED
#define CrossChat_ConsoleChat_ScreenUi_INCLUDED


#include "ChatWindow.h"
#include "Completer.h"
#include "InputLine.h"
#include "Poco/Channel.h"
#include "Poco/JSON/Object.h"
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <iosfwd>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>


namespace CrossChat {


class Terminal;


class ScreenUi
	/// The full-screen client. It is a reader of the same events that --json prints: the
	/// Console hands each event, as its JSON line and its human text, to deliver() (on the
	/// loop thread); the UI thread parses it and gives it to the renderer registered for its
	/// name. A renderer decides which window a line goes to and how it looks; an event with
	/// no renderer shows its human text in the current window, so a new kind of event is
	/// visible before it has a renderer, and needs exactly one to look right.
	///
	/// Windows: 1 is the status window (system messages, relay, peers coming and going);
	/// every conversation gets the next number when it starts (a message arrives or is sent,
	/// or /msg <peer> switches to it). Alt+1..9 and Alt+0 (10), Ctrl+N / Ctrl+P, /win N switch;
	/// the status bar lists the windows with unread counts and activity.
	///
	/// Input: lines are edited with InputLine and completed with Completer. Enter hands the
	/// line to the line handler (which posts it to the loop thread): plain text and /me and
	/// /say in a conversation window become "/msg <peer ID> <text>", so a line always goes to
	/// the conversation on screen. /win, /close, /clear and /away are handled here.
	///
	/// Threads: run() is the UI thread (the program's main thread) and the only one that
	/// touches curses or the windows. The loop thread only calls deliver() and finish(), the
	/// log channel may be called from any thread: they append to a queue under a mutex and
	/// write a byte to a pipe that run() polls together with stdin and the signal pipe. So
	/// keyboard input, network events and signals meet in one poll() on one thread, and
	/// nothing is drawn from anywhere else.
	///
	/// Ownership: does not own the loop or the session; the line handler must stay valid
	/// during run().
{
public:
	struct Settings
	{
		bool bell = true;          ///< Ring the terminal bell for a message to us in a window not on screen.
		std::string version;
	};

	struct Command
	{
		std::string name;          ///< "/msg"
		std::string usage;         ///< "/msg <peer> [text]"
		std::string description;
	};

	using LineHandler = std::function<void(const std::string& line)>;
		/// Called on the UI thread with each line to run; it must not block (it posts).

	class LogChannel: public Poco::Channel
		/// Poco logging into the status window (while the screen is up, stderr would
		/// scribble over it). Safe to call from any thread.
	{
	public:
		explicit LogChannel(ScreenUi& ui);
		void log(const Poco::Message& message) override;

	private:
		ScreenUi& _ui;
	};

	explicit ScreenUi(Settings settings);
	~ScreenUi();

	ScreenUi(const ScreenUi&) = delete;
	ScreenUi& operator=(const ScreenUi&) = delete;

	void deliver(const std::string& json, const std::string& text);
		/// Queues one event (its JSON line and its human text). Safe to call from any thread.

	void log(const std::string& line);
		/// Queues a log line for the status window. Safe to call from any thread.

	void finish();
		/// Ends run() once the queued events are shown (the session said bye).
		/// Safe to call from any thread.

	void setCommands(const std::vector<Command>& commands);
		/// The session's command table, for completion and /help. Call before run().

	int run(LineHandler handler);
		/// Starts curses and runs the UI until finish(), or the terminal goes away. Returns 0,
		/// or 128 + the signal that ended it. Throws Poco::IllegalStateException if curses
		/// cannot start (the caller falls back to line mode). Must be called from the main thread.

	void writeTranscript(std::ostream& out, std::ostream& err);
		/// After run(), or instead of it when the session never started: prints the text of
		/// queued events not shown and of the last lines worth keeping (errors that ended
		/// the program, "Bye.") to the normal terminal.

private:
	struct Item
	{
		enum class Kind { EVENT, LOG, FINISH };
		Kind kind = Kind::EVENT;
		std::string json;
		std::string text;
	};

	struct PeerState
	{
		std::string id;
		std::string name;          ///< As the peer calls itself.
		std::string alias;         ///< As we call it (/alias), if we do.
		std::string path;          ///< While connected.
		bool connected = false;
		bool online = false;
	};

	using Renderer = void (ScreenUi::*)(const Poco::JSON::Object& event, const std::string& text);

	// Queue (any thread)
	void push(Item item);
	std::deque<Item> take();

	// Events
	void dispatch(const Item& item);
	void renderReady(const Poco::JSON::Object& event, const std::string& text);
	void renderMessage(const Poco::JSON::Object& event, const std::string& text);
	void renderHistory(const Poco::JSON::Object& event, const std::string& text);
	void renderNick(const Poco::JSON::Object& event, const std::string& text);
	void renderWhois(const Poco::JSON::Object& event, const std::string& text);
	void renderSent(const Poco::JSON::Object& event, const std::string& text);
	void renderDelivered(const Poco::JSON::Object& event, const std::string& text);
	void renderError(const Poco::JSON::Object& event, const std::string& text);
	void renderPeer(const Poco::JSON::Object& event, const std::string& text);
	void renderPath(const Poco::JSON::Object& event, const std::string& text);
	void renderRelay(const Poco::JSON::Object& event, const std::string& text);
	void renderConversation(const Poco::JSON::Object& event, const std::string& text);
	void renderHelp(const Poco::JSON::Object& event, const std::string& text);
	void renderContact(const Poco::JSON::Object& event, const std::string& text);
	void renderGroup(const Poco::JSON::Object& event, const std::string& text);
		/// Membership changes, in the group's window (invitations in the status window).
	void renderBye(const Poco::JSON::Object& event, const std::string& text);
	void renderTransfer(const Poco::JSON::Object& event, const std::string& text);
	void renderText(const Poco::JSON::Object& event, const std::string& text);

	// Windows
	ChatWindow& statusWindow();
	ChatWindow& current();
	ChatWindow* find(const std::string& key);
	ChatWindow& conversation(const std::string& peerId, const std::string& name);
	ChatWindow& groupWindow(const std::string& groupId, const std::string& name);
		/// The window of a group (key "#" + its ID), made if needed.
	std::size_t indexOf(const std::string& key) const;
	void select(std::size_t index);
	void closeWindow(std::size_t index);
	std::wstring displayName(const std::string& peerId, const std::string& fallback) const;
	unsigned colourOf(const std::string& peerId) const;
	ChatWindow::Line messageLine(const std::string& stamp, const std::wstring& who, ChatWindow::Style style, unsigned colour,
		const std::string& text) const;
	void requestOlder(ChatWindow& window);
		/// Asks the session (as "/history <peer> N --before SEQ") for the page of stored messages
		/// before the oldest one loaded; renderHistory() puts them above the window's lines.
	ChatWindow::Line notice(const std::string& text, ChatWindow::Style style = ChatWindow::Style::NOTICE) const;
	void addLines(ChatWindow& window, const std::string& text, ChatWindow::Style style, ChatWindow::Activity activity);
	void add(ChatWindow& window, ChatWindow::Line line, ChatWindow::Activity activity);

	// Input
	void onKey(int key, bool isKeyCode);
	void submit();
	void requestQuit();
	bool localCommand(const std::string& line);
	Completer::Sources completionSources() const;
	void pageUp();

	// Drawing
	void draw();
	void drawTitle(int width);
	void drawMessages(int top, int height, int width);
	void drawStatus(int row, int width);
	void drawInput(int row, int width);
	int attributes(ChatWindow::Style style, unsigned colour) const;
	void put(int row, int column, const std::wstring& text, int attributes, int width);

	const Settings _settings;
	LineHandler _handler;
	Terminal* _pTerminal = nullptr;

	std::mutex _mutex;                 ///< Guards _queue.
	std::deque<Item> _queue;
	std::size_t _dropped = 0;          ///< Items dropped because the queue was full.
	int _wakePipe[2] = {-1, -1};

	// UI thread only
	std::map<std::string, Renderer> _renderers;
	std::vector<std::unique_ptr<ChatWindow>> _windows;
	std::size_t _current = 0;
	std::map<std::string, PeerState> _peers;
	struct Scrollback
	{
		std::int64_t oldest = INT64_MAX;   ///< Store sequence of the oldest message loaded.
		bool pending = false;              ///< A page was asked for and has not arrived.
		bool exhausted = false;            ///< Nothing older, or the window is full.
	};
	std::map<std::string, Scrollback> _scrollback;
	std::map<std::string, std::string> _handles;   ///< "alice" and "alice@relay" -> peer ID, from /whois answers.   ///< Per conversation window (peer ID).
	bool _historyAvailable = false;    ///< The node keeps a database (the ready event says so).
	std::set<std::string> _requestHinted;  ///< Strangers whose first message got the accept/block hint.
	std::vector<Command> _commands;
	InputLine _input;
	Completer _completer;
	std::string _ownId;
	std::string _ownName;
	std::string _relayState;
	std::wstring _away;                ///< Non-empty while away.
	std::size_t _awayMessages = 0;
	bool _finished = false;
	bool _quitRequested = false;
	bool _dirty = true;
	std::vector<std::string> _lastWords;   ///< Shown on the normal terminal after the screen is gone.
	std::vector<std::string> _lastErrors;
};


} // namespace CrossChat


#endif // CrossChat_ConsoleChat_ScreenUi_INCLUDED
