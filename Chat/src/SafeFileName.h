//
// SafeFileName.h
//
// Library: Chat
// Private: turns the name a sender gives a file into a name that is safe to create in the
// downloads directory, and finds a free one there.
// This is an internal header file, it is not installed; do not include it from outside Chat/src.
//


#ifndef CrossChat_Chat_SafeFileName_INCLUDED
#define CrossChat_Chat_SafeFileName_INCLUDED


#include <cstddef>
#include <string>


namespace CrossChat {
namespace Chat {


class SafeFileName
	/// No path from a sender is ever used as a path (THREAT-MODEL.md, rule 7): the offered name
	/// is data, from which a plain file name is made:
	///   - only what follows the last '/' or '\' is kept (and look-alike slashes, fraction and
	///     division slashes, full-width solidus and reverse solidus, become '_' first, so that
	///     "..∕..∕x" cannot pass as a path later either);
	///   - every C0 or C1 control character (NUL included), DEL, bidirectional control (U+202A..
	///     U+202E, U+2066..U+2069, U+200E, U+200F, U+061C), zero-width or invisible format
	///     character (U+200B..U+200D, U+2060..U+2064, U+FEFF, U+00AD, U+180E), line or paragraph
	///     separator, invalid UTF-8 byte, and each of < > : " | ? * (not portable) becomes '_';
	///     a run of such replacements is one '_';
	///   - leading dots and spaces go (no hidden file, no "." or ".."), as do trailing dots and
	///     spaces (Windows drops them, which would change the name on a copy);
	///   - a name that Windows reserves for a device (CON, PRN, AUX, NUL, COM0-9, LPT0-9,
	///     CONIN$, CONOUT$, with any extension, any case) gets a '_' in front;
	///   - at most MAX_BYTES bytes of UTF-8, cut at a character boundary, keeping an extension of
	///     up to 16 bytes;
	///   - what is left empty becomes "file".
	///
	/// Thread rules: stateless; safe from any thread.
{
public:
	static constexpr std::size_t MAX_BYTES = 200;
		/// Leaves room within NAME_MAX (255) for " (9999)" and ".part".

	static std::string make(const std::string& offered);
		/// The safe form of offered (any bytes).

	static std::string numbered(const std::string& name, unsigned number);
		/// "stem (number).ext" for a safe name "stem.ext" ("name (number)" without an extension).

	static std::string partName(const std::string& name);
		/// The name of the file that holds name while it downloads: name + ".part".
};


} } // namespace CrossChat::Chat


#endif // CrossChat_Chat_SafeFileName_INCLUDED
