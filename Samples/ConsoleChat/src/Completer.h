//
// Completer.h
//
// Sample: ConsoleChat
// Tab completion for the full-screen client: commands, names, peer IDs, window numbers, paths.
//
// This is an internal header of the crosschat program.
//


#ifndef CrossChat_ConsoleChat_Completer_INCLUDED
#define CrossChat_ConsoleChat_Completer_INCLUDED


#include <cstddef>
#include <optional>
#include <string>
#include <vector>


namespace CrossChat {


class Completer
	/// Completes the word before the cursor, as irssi does: the first Tab replaces it with the
	/// first candidate, each further Tab (or Shift+Tab, backwards) with the next one, until
	/// some other key ends the completion (reset()). What the candidates are depends on where
	/// the word is:
	///   - the first word, starting with '/': command names;
	///   - the argument of a command whose usage names <peer> (e.g. /msg <peer>): peer names
	///     (case-insensitive prefix), then peer IDs (a prefix of the ID's text, dashes
	///     optional), completed to the whole 63-character ID;
	///   - the argument of /win: window numbers and names;
	///   - a word with '/' after its first character, or starting with "~/" or "./": paths in
	///     the file system (a directory ends in '/'), for commands that take a file;
	///   - the first word of a plain line: a peer name followed by ": ";
	///   - any other word: peer names, then peer IDs.
	/// Names that contain spaces are offered only where the rest of the line follows them
	/// (plain text); in command arguments their peer ID is offered instead.
	///
	/// Thread rules: not thread-safe; used on the UI thread only.
{
public:
	struct Peer
	{
		std::string name;   ///< UTF-8, as shown; may be empty.
		std::string id;     ///< The 63-character peer ID.
	};

	struct Window
	{
		unsigned number = 0;
		std::string name;
	};

	struct Sources
	{
		std::vector<std::string> commands;            ///< Names with '/', e.g. "/msg".
		std::vector<std::string> peerCommands;        ///< Commands whose first argument is a peer.
		std::vector<Peer> peers;
		std::vector<Window> windows;
	};

	struct Result
	{
		std::wstring line;
		std::size_t cursor = 0;
	};

	std::optional<Result> complete(const std::wstring& line, std::size_t cursor, const Sources& sources, bool backwards);
		/// The line with the word before cursor completed (or the next candidate while
		/// cycling); nothing if there is no candidate.

	void reset();
		/// Ends the current completion: the next Tab starts afresh.

	static std::vector<std::string> candidates(const std::string& line, std::size_t wordStart, const std::string& word,
		const Sources& sources, std::string& suffix);
		/// The candidates for word (which starts at byte wordStart of line) and the text to put
		/// after the completed word. Exposed for tests.

private:
	bool _active = false;
	std::wstring _prefix;          ///< The line before the word.
	std::wstring _rest;            ///< The line after the cursor.
	std::vector<std::string> _candidates;
	std::string _suffix;
	std::size_t _index = 0;
};


} // namespace CrossChat


#endif // CrossChat_ConsoleChat_Completer_INCLUDED
