//
// InputLine.h
//
// Sample: ConsoleChat
// The full-screen client's line editor: editing, word movement, kill and yank, history.
//
// This is an internal header of the crosschat program.
//


#ifndef CrossChat_ConsoleChat_InputLine_INCLUDED
#define CrossChat_ConsoleChat_InputLine_INCLUDED


#include <cstddef>
#include <deque>
#include <string>


namespace CrossChat {


class InputLine
	/// The text being typed, a cursor in it, and the lines typed before (history). Positions
	/// are indexes into the wide text; a combining mark moves and is deleted with the
	/// character before it. Words are runs of characters other than spaces (as in readline's
	/// unix-word-rubout, Ctrl+W), so "/msg bob" has two words. Text the kill commands remove
	/// goes to a one-entry kill buffer that yank() inserts again.
	///
	/// History: submit() appends the line (not empty lines, not a repeat of the last one; at
	/// most MAX_HISTORY lines, the oldest dropped). previous() and next() walk it; the line
	/// being typed before the walk is kept and comes back after the newest entry.
	///
	/// The editor knows nothing of the terminal: view() says what part of the text to show
	/// in a field of a given width and where the cursor is in it.
	///
	/// Thread rules: not thread-safe; the full-screen client uses it on its UI thread only.
{
public:
	static constexpr std::size_t MAX_HISTORY = 500;
	static constexpr std::size_t MAX_LENGTH = 16 * 1024;   ///< Characters; more typed or pasted is ignored.

	struct View
	{
		std::wstring text;      ///< The visible part.
		std::size_t cursor = 0; ///< The cursor's column within it.
	};

	const std::wstring& text() const;
	std::size_t cursor() const;
	bool empty() const;

	void set(const std::wstring& text, std::size_t cursor);
		/// Replaces the text (completion); the cursor is clamped to it.

	void insert(const std::wstring& text);
		/// Inserts at the cursor, as far as MAX_LENGTH allows.

	void backspace();
	void deleteForward();
	void left();
	void right();
	void home();
	void end();
	void wordLeft();
	void wordRight();
	void killToEnd();         ///< Ctrl+K
	void killToStart();       ///< Ctrl+U
	void killWordBack();      ///< Ctrl+W, Alt+Backspace
	void killWordForward();   ///< Alt+D
	void yank();              ///< Ctrl+Y

	std::wstring submit();
		/// Returns the text, records it in the history and clears the line.

	void previous();
		/// Up: the previous history entry (nothing at the oldest).

	void next();
		/// Down: the next history entry, or the line typed before the walk.

	View view(std::size_t width) const;
		/// The part of the text to show in width cells (width >= 2) so that the cursor is
		/// visible; scrolls in steps of a third of the width.

private:
	std::size_t clusterStart(std::size_t position) const;
	std::size_t clusterEnd(std::size_t position) const;
	void kill(std::size_t from, std::size_t to);

	std::wstring _text;
	std::size_t _cursor = 0;
	std::wstring _killed;
	std::deque<std::wstring> _history;
	std::size_t _historyIndex = 0;   ///< == _history.size(): not walking.
	std::wstring _draft;
	mutable std::size_t _scroll = 0; ///< First visible character (kept between views).
};


} // namespace CrossChat


#endif // CrossChat_ConsoleChat_InputLine_INCLUDED
