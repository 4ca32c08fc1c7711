//
// TerminalText.h
//
// Sample: ConsoleChat
// UTF-8 text made safe for a terminal cell grid: decoding, sanitising, display widths.
//
// This is an internal header of the crosschat program.
//


#ifndef CrossChat_ConsoleChat_TerminalText_INCLUDED
#define CrossChat_ConsoleChat_TerminalText_INCLUDED


#include <cstddef>
#include <string>


namespace CrossChat {


class TerminalText
	/// Turns untrusted UTF-8 (a peer's name or message, a file name) into wide text whose
	/// every character occupies a known number of terminal cells, so that nothing a peer sends
	/// can move the cursor, change colours, reorder the line or make the layout disagree with
	/// the terminal:
	///   - invalid UTF-8 (bad sequences, overlong forms, surrogates) becomes U+FFFD, one per
	///     bad byte;
	///   - a tab becomes a space; other C0 and C1 controls and DEL become U+FFFD;
	///   - bidirectional embeddings, overrides, isolates and marks (U+202A..U+202E,
	///     U+2066..U+2069, U+200E, U+200F, U+061C) become U+FFFD: they could make a line
	///     display in an order other than the one it has;
	///   - zero-width format characters on whose width terminals disagree (U+200B..U+200D,
	///     U+2060..U+2064, U+FEFF, variation selectors U+FE00..U+FE0F) are dropped;
	///   - a combining mark is kept after a printable character (at most MAX_COMBINING per
	///     character, the rest dropped), and becomes U+FFFD where it has nothing to combine
	///     with (at the start, after a replacement);
	///   - characters the C library calls unprintable (wcwidth() < 0) become U+FFFD.
	/// Widths come from wcwidth(), so the program must have set an LC_CTYPE locale with UTF-8
	/// (setlocale(LC_CTYPE, "")); without one, ascii() gives the same guarantees in ASCII.
	///
	/// Thread rules: all functions are safe to call from any thread (they only read the locale).
{
public:
	static constexpr std::size_t MAX_COMBINING = 2;
	static constexpr wchar_t REPLACEMENT = 0xFFFD;

	static std::wstring decode(const std::string& utf8);
		/// UTF-8 to wide characters; invalid bytes become U+FFFD, one each. Nothing else changes.

	static std::string encode(const std::wstring& text);
		/// Wide characters to UTF-8 (a value that is not a Unicode scalar becomes U+FFFD).

	static std::wstring sanitize(const std::string& untrusted);
		/// decode() and then the rules in the class comment.

	static std::wstring sanitize(const std::wstring& untrusted);
		/// The rules in the class comment, for text already decoded.

	static std::wstring ascii(const std::wstring& text);
		/// For a terminal without UTF-8: every character outside printable ASCII becomes '?',
		/// combining marks are dropped.

	static int charWidth(wchar_t c);
		/// Cells of one character of sanitised text: 0 (a combining mark), 1 or 2.

	static std::size_t width(const std::wstring& text);
		/// Cells of sanitised text.

	static std::size_t fit(const std::wstring& text, std::size_t start, std::size_t columns);
		/// The index just past the longest run from start that fits in columns cells, combining
		/// marks kept with their base character (a wide character that would straddle the edge
		/// is left out).

	static std::wstring truncate(const std::wstring& text, std::size_t columns);
		/// text cut to at most columns cells, ending in U+2026 if something was cut (in ASCII
		/// terminals callers pass text through ascii() afterwards).
};


} // namespace CrossChat


#endif // CrossChat_ConsoleChat_TerminalText_INCLUDED
