//
// SafeFileName.cpp
//
// Library: Chat
//


#include "SafeFileName.h"
#include "CrossChat/Text.h"
#include "Poco/TextIterator.h"
#include "Poco/UTF8Encoding.h"
#include <algorithm>
#include <array>
#include <cctype>


namespace CrossChat {
namespace Chat {


namespace {


constexpr std::size_t MAX_EXTENSION = 16;


bool looksLikeSlash(int c)
{
	switch (c)
	{
	case 0x2044:   // FRACTION SLASH
	case 0x2215:   // DIVISION SLASH
	case 0x2216:   // SET MINUS
	case 0x29F5:   // REVERSE SOLIDUS OPERATOR
	case 0x29F8:   // BIG SOLIDUS
	case 0x29F9:   // BIG REVERSE SOLIDUS
	case 0xFF0F:   // FULLWIDTH SOLIDUS
	case 0xFF3C:   // FULLWIDTH REVERSE SOLIDUS
	case 0xFE68:   // SMALL REVERSE SOLIDUS
		return true;
	default:
		return false;
	}
}


bool unsafe(int c)
{
	if (c < 0x20 || c == 0x7F || (c >= 0x80 && c <= 0x9F)) return true;   // C0, DEL, C1 (NUL included)
	if ((c >= 0x202A && c <= 0x202E) || (c >= 0x2066 && c <= 0x2069) || c == 0x200E || c == 0x200F || c == 0x061C)
		return true;   // bidirectional controls: U+202E would show "<U+202E>txt.exe" as "exe.txt"
	if ((c >= 0x200B && c <= 0x200D) || (c >= 0x2060 && c <= 0x2064) || c == 0xFEFF || c == 0x00AD || c == 0x180E)
		return true;   // invisible: two names that look the same
	if (c == 0x2028 || c == 0x2029 || c == 0xFFFD) return true;   // line breaks; an invalid byte
	switch (c)
	{
	case '<': case '>': case ':': case '"': case '|': case '?': case '*':
		return true;   // not portable (Windows, SMB shares); ':' names an NTFS stream
	default:
		return looksLikeSlash(c);
	}
}


bool reservedDeviceName(const std::string& name)
	/// Windows' device names, with any extension and any case (and the stem's trailing spaces).
{
	std::string stem = name.substr(0, name.find('.'));
	while (!stem.empty() && stem.back() == ' ') stem.pop_back();
	std::string upper;
	for (char c: stem) upper += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
	static const std::array<const char*, 6> plain = {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"};
	if (std::find(plain.begin(), plain.end(), upper) != plain.end()) return true;
	if (upper.size() >= 4 && (upper.compare(0, 3, "COM") == 0 || upper.compare(0, 3, "LPT") == 0))
	{
		const std::string rest = upper.substr(3);
		if (rest.size() == 1 && std::isdigit(static_cast<unsigned char>(rest[0]))) return true;
		// Windows counts the superscript digits ¹ ² ³ as digits here too.
		if (rest == "\xC2\xB9" || rest == "\xC2\xB2" || rest == "\xC2\xB3") return true;
	}
	return false;
}


std::string utf8Prefix(const std::string& text, std::size_t maxBytes)
	/// At most maxBytes of valid UTF-8 text, cut at a character boundary.
{
	if (text.size() <= maxBytes) return text;
	std::size_t end = maxBytes;
	while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
	return text.substr(0, end);
}


std::string::size_type extensionStart(const std::string& name)
	/// Where the extension (".ext") starts, or npos: a dot that is not the first character.
{
	const std::string::size_type dot = name.rfind('.');
	return dot == std::string::npos || dot == 0 ? std::string::npos : dot;
}


} // namespace


std::string SafeFileName::make(const std::string& offered)
{
	const std::string text = Text::isValidUtf8(offered) ? offered : Text::replaceInvalidUtf8(offered);

	// Code points, with the unsafe ones (look-alike slashes included) as '_', runs of them one.
	Poco::UTF8Encoding utf8;
	std::string cleaned;
	bool lastReplaced = false;
	for (Poco::TextIterator it(text, utf8), end(text); it != end; ++it)
	{
		const int c = *it;
		if (c < 0 || unsafe(c))
		{
			if (!lastReplaced) cleaned += '_';
			lastReplaced = true;
			continue;
		}
		lastReplaced = false;
		unsigned char bytes[4];
		const int length = utf8.convert(c, bytes, static_cast<int>(sizeof(bytes)));
		cleaned.append(reinterpret_cast<const char*>(bytes), static_cast<std::size_t>(std::max(length, 0)));
	}

	// The last component of anything that looks like a path.
	const std::string::size_type slash = cleaned.find_last_of("/\\");
	std::string name = slash == std::string::npos ? cleaned : cleaned.substr(slash + 1);

	// No hidden file, no "." or "..", nothing Windows would change on a copy, no option look-alike.
	const std::string::size_type first = name.find_first_not_of(". ");
	name = first == std::string::npos ? std::string() : name.substr(first);
	const std::string::size_type last = name.find_last_not_of(". ");
	name = last == std::string::npos ? std::string() : name.substr(0, last + 1);
	if (!name.empty() && name[0] == '-') name[0] = '_';

	if (reservedDeviceName(name)) name = "_" + name;

	if (name.size() > MAX_BYTES)
	{
		const std::string::size_type dot = extensionStart(name);
		const std::string extension = dot != std::string::npos && name.size() - dot <= MAX_EXTENSION ? name.substr(dot) : std::string();
		name = utf8Prefix(name.substr(0, name.size() - extension.size()), MAX_BYTES - extension.size()) + extension;
		const std::string::size_type end = name.find_last_not_of(". ");
		name = end == std::string::npos ? std::string() : name.substr(0, end + 1);
	}
	return name.empty() ? "file" : name;
}


std::string SafeFileName::numbered(const std::string& name, unsigned number)
{
	const std::string::size_type dot = extensionStart(name);
	const std::string suffix = " (" + std::to_string(number) + ")";
	if (dot == std::string::npos) return name + suffix;
	return name.substr(0, dot) + suffix + name.substr(dot);
}


std::string SafeFileName::partName(const std::string& name)
{
	return name + ".part";
}


} } // namespace CrossChat::Chat
