//
// ChatWindow.h
//
// Sample: ConsoleChat
// One window of the full-screen client: a conversation or the status window, with its lines.
//
// This is an internal header of the crosschat program.
//


#ifndef CrossChat_ConsoleChat_ChatWindow_INCLUDED
#define CrossChat_ConsoleChat_ChatWindow_INCLUDED


#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <vector>


namespace CrossChat {


class ChatWindow
	/// The lines of one conversation (or of the status window), bounded, and what the status
	/// bar says about it: unread lines and the level of activity since it was last looked at.
	/// Our own messages keep their message ID, so a receipt or a refusal that names the ID
	/// updates the line that shows it (sending → sent → delivered, or failed with the reason).
	///
	/// Lines are stored once and wrapped for the current width when drawn (rows()); a
	/// continuation row is indented to where the line's text started.
	///
	/// Thread rules: not thread-safe; the full-screen client uses it on its UI thread only.
{
public:
	static constexpr std::size_t MAX_LINES = 2000;
	static constexpr std::uint64_t FIRST_SEQUENCE = std::uint64_t(1) << 40;   ///< Room below for prepend().
	static constexpr std::size_t MAX_CHARACTERS = 256 * 1024;   ///< Text kept, all lines together (1 MiB).

	enum class Kind
	{
		STATUS,        ///< System messages, command output with no better place.
		CONVERSATION   ///< A peer (later also a group).
	};

	enum class Style
		/// How a span looks; the screen maps each to colours and attributes.
	{
		TEXT,
		TIME,
		OWN,          ///< Our own name.
		PEER,         ///< A peer's name (coloured by its ID, see Span::colour).
		NOTICE,       ///< Events: joined, left, connected, relay state.
		ERROR,
		PENDING,      ///< (sending) / (sent)
		DELIVERED,
		FAILED,
		ACTION,       ///< /me lines
		HIGHLIGHT
	};

	enum class Activity
		/// What happened in the window since it was last current, in increasing order.
	{
		NONE,
		EVENTS,
		MESSAGES,
		HIGHLIGHT
	};

	enum class State
		/// The delivery state of one of our messages.
	{
		NONE,         ///< Not one of our messages.
		SENDING,      ///< Queued: no session to the peer yet.
		SENT,         ///< Written to a session; the receipt has not come yet.
		DELIVERED,    ///< The peer's receipt came.
		FAILED        ///< Refused or given up; the reason is kept.
	};

	struct Span
	{
		std::wstring text;     ///< Sanitised (TerminalText): every character has a known width.
		Style style = Style::TEXT;
		unsigned colour = 0;   ///< For PEER: an index into the sender palette.
	};

	struct Line
	{
		std::vector<Span> spans;
		std::size_t indent = 0;      ///< Cells before the text: where continuation rows start.
		std::string messageId;       ///< Our messages only.
		State state = State::NONE;
		std::wstring failure;        ///< FAILED: why.
	};

	using Row = std::vector<Span>;

	ChatWindow(Kind kind, std::string key, std::wstring name);

	Kind kind() const;
	const std::string& key() const;
		/// "status", or the peer ID of a conversation.
	const std::wstring& name() const;
	void rename(const std::wstring& name);

	void add(Line line, Activity activity, bool current);
		/// Appends a line; if the window is not current, counts it as unread (activity
		/// MESSAGES or HIGHLIGHT) and raises the activity level. The oldest lines go beyond
		/// MAX_LINES or MAX_CHARACTERS. A window scrolled up stays where it is.

	std::size_t prepend(std::vector<Line> older);
		/// Adds lines older than every line in the window (scrollback from the history store),
		/// oldest first, as far as MAX_LINES and MAX_CHARACTERS leave room (the newest of them
		/// first); returns how many were taken. Neither the view nor the unread count moves.

	bool hasMessage(const std::string& messageId) const;
		/// True if a line of the window shows the message with this ID (either direction).

	bool setState(const std::string& messageId, State state, const std::wstring& failure = std::wstring());
		/// Updates the line of one of our messages; false if no line has that ID (it scrolled
		/// out or was cleared). A delivered or failed line is final.

	bool replace(const std::string& key, Line line);
		/// Replaces the spans of the line added with messageId key (a transfer's progress line,
		/// updated in place); false if no line has that key (it scrolled out or was cleared).

	std::vector<std::string> retreat(State from, State to);
		/// Moves every line in state from to state to (the session to the peer came up: SENDING
		/// to SENT; it went down: SENT to SENDING); returns their message IDs.

	void clear();
		/// Forgets the lines (/clear).

	void seen();
		/// The window became current: unread count and activity are reset.

	std::size_t unread() const;
	Activity activity() const;
	std::size_t lineCount() const;

	std::vector<Row> rows(std::size_t width) const;
		/// Every line wrapped to width cells, oldest first, our message states appended.

	void scrollBy(long rows, std::size_t height, std::size_t width);
		/// Scrolls up (positive) or down (negative); clamped to the lines kept.

	void scrollToBottom();
	std::size_t scrolledRows() const;
		/// Rows scrolled up from the bottom (0: following new lines).

	bool atTop(std::size_t height, std::size_t width) const;
		/// True if the oldest line kept is visible (the place where older history would load).

	static std::wstring stateText(State state, const std::wstring& failure);
		/// " (sending)", " (sent)", " ✓", " ✗ reason", or nothing.

private:
	static void wrap(const Line& line, std::size_t width, std::vector<Row>& out);
	static std::size_t characters(const Line& line);

	const Kind _kind;
	const std::string _key;
	std::wstring _name;
	std::deque<Line> _lines;
	std::uint64_t _firstSeq = FIRST_SEQUENCE;    ///< Sequence number of _lines.front().
	std::map<std::string, std::uint64_t> _byId;  ///< Our message IDs → sequence numbers.
	std::size_t _characters = 0;                 ///< In all spans of _lines.
	std::size_t _unread = 0;
	Activity _activity = Activity::NONE;
	std::size_t _scroll = 0;
	mutable std::size_t _lastWidth = 80;         ///< The width rows() was last asked for.
};


} // namespace CrossChat


#endif // CrossChat_ConsoleChat_ChatWindow_INCLUDED
