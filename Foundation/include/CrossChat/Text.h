//
// Text.h
//
// Library: Foundation
// Checks and conversions for text that crosses a trust boundary: UTF-8 validity, and
// terminal-safe forms of text that came from a peer.
//


#ifndef CrossChat_Foundation_Text_INCLUDED
#define CrossChat_Foundation_Text_INCLUDED


#include <cstddef>
#include <string>


namespace CrossChat {


class Text
	/// Text from peers is data: it is validated as UTF-8 where the protocol says so, and made
	/// terminal-safe on every output path (stdout, stderr, logs) so that it can never move the
	/// cursor, change colours, reorder the line (bidirectional overrides) or break the layout.
	///
	/// Thread rules: stateless; safe from any thread.
{
public:
	static bool isValidUtf8(const std::string& text);
		/// True if text is well-formed UTF-8 (RFC 3629: no overlong forms, no surrogates, nothing
		/// above U+10FFFF). The empty string is valid.

	static bool isValidUtf8(const char* data, std::size_t size);
		/// The same for the size bytes at data (a view into a received frame, no copy).

	static std::size_t invalidUtf8Offset(const std::string& text);
		/// The byte offset of the first malformed sequence, or std::string::npos if there is none.

	static std::string replaceInvalidUtf8(const std::string& text);
		/// text with every malformed UTF-8 byte replaced by U+FFFD (a lossy decode, e.g. to read
		/// the readable fields of a message whose text is not UTF-8).

	static std::string terminalSafe(const std::string& untrusted, std::size_t maxBytes = std::string::npos);
		/// untrusted with every C0 and C1 control character (tab becomes a space), DEL, malformed
		/// UTF-8 byte and bidirectional formatting character (U+202A..U+202E, U+2066..U+2069,
		/// U+200E, U+200F, U+061C) replaced by U+FFFD, cut (at a character boundary, with "…")
		/// to at most maxBytes bytes of input.

	static std::string quoted(const std::string& untrusted, std::size_t maxBytes = 80);
		/// terminalSafe(untrusted, maxBytes) in double quotes: for log lines and error messages
		/// that quote a peer.
};


} // namespace CrossChat


#endif // CrossChat_Foundation_Text_INCLUDED
