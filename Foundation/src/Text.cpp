//
// Text.cpp
//
// Library: Foundation
//


#include "CrossChat/Text.h"
#include "Poco/UTF8Encoding.h"
#include <cstdint>
#include <cstring>
#include <string_view>


namespace CrossChat {


namespace {


const std::string REPLACEMENT = "\xEF\xBF\xBD";


int sequenceAt(std::string_view text, std::size_t offset, int& codePoint)
	/// The length of the well-formed UTF-8 sequence at offset (its code point in codePoint),
	/// or 0 if the bytes there are malformed.
{
	static const Poco::UTF8Encoding utf8;
	const auto* bytes = reinterpret_cast<const unsigned char*>(text.data()) + offset;
	const int available = static_cast<int>(std::min<std::size_t>(text.size() - offset, 4));
	int length = utf8.sequenceLength(bytes, available);
	if (length <= 0 || length > available || !Poco::UTF8Encoding::isLegal(bytes, length)) return 0;
	codePoint = utf8.queryConvert(bytes, length);
	if (codePoint < 0 || codePoint > 0x10FFFF || (codePoint >= 0xD800 && codePoint <= 0xDFFF)) return 0;
	return length;
}


bool unsafe(int codePoint)
{
	return codePoint < 0x20 || codePoint == 0x7F || (codePoint >= 0x80 && codePoint <= 0x9F)
		|| (codePoint >= 0x202A && codePoint <= 0x202E) || (codePoint >= 0x2066 && codePoint <= 0x2069)
		|| codePoint == 0x200E || codePoint == 0x200F || codePoint == 0x061C;
}


bool allAscii(std::string_view text)
	/// True if no byte has its high bit set: eight bytes at a time, the last word overlapping.
{
	constexpr std::uint64_t HIGH_BITS = 0x8080808080808080ULL;
	const std::size_t size = text.size();
	const char* data = text.data();
	if (size < 8)
	{
		for (std::size_t i = 0; i < size; ++i)
			if (static_cast<unsigned char>(data[i]) >= 0x80) return false;
		return true;
	}
	std::uint64_t word = 0;
	for (std::size_t i = 0; i + 8 <= size; i += 8)
	{
		std::memcpy(&word, data + i, 8);
		if (word & HIGH_BITS) return false;
	}
	std::memcpy(&word, data + size - 8, 8);
	return (word & HIGH_BITS) == 0;
}


std::size_t firstInvalid(std::string_view text)
{
	if (allAscii(text)) return std::string::npos;
	std::size_t offset = 0;
	while (offset < text.size())
	{
		// ASCII eight bytes at a time (a word with no high bit set).
		while (text.size() - offset >= 8)
		{
			std::uint64_t word = 0;
			std::memcpy(&word, text.data() + offset, 8);
			if (word & 0x8080808080808080ULL) break;
			offset += 8;
		}
		if (offset == text.size()) break;
		if (static_cast<unsigned char>(text[offset]) < 0x80)
		{
			++offset;
			continue;
		}
		int codePoint = 0;
		const int length = sequenceAt(text, offset, codePoint);
		if (length == 0) return offset;
		offset += static_cast<std::size_t>(length);
	}
	return std::string::npos;
}


} // namespace


std::size_t Text::invalidUtf8Offset(const std::string& text)
{
	return firstInvalid(text);
}


bool Text::isValidUtf8(const std::string& text)
{
	return firstInvalid(text) == std::string::npos;
}


bool Text::isValidUtf8(const char* data, std::size_t size)
{
	return firstInvalid(std::string_view(data, size)) == std::string::npos;
}


std::string Text::replaceInvalidUtf8(const std::string& text)
{
	std::string result;
	result.reserve(text.size());
	std::size_t offset = 0;
	while (offset < text.size())
	{
		const std::size_t bad = invalidUtf8Offset(text.substr(offset));
		if (bad == std::string::npos)
		{
			result.append(text, offset, std::string::npos);
			break;
		}
		result.append(text, offset, bad);
		result += REPLACEMENT;
		offset += bad + 1;
	}
	return result;
}


std::string Text::terminalSafe(const std::string& untrusted, std::size_t maxBytes)
{
	std::string result;
	result.reserve(std::min(untrusted.size(), maxBytes) + 3);
	std::size_t offset = 0;
	while (offset < untrusted.size())
	{
		int codePoint = 0;
		int length = 1;
		const auto byte = static_cast<unsigned char>(untrusted[offset]);
		if (byte < 0x80)
			codePoint = byte;
		else
			length = sequenceAt(untrusted, offset, codePoint);
		if (offset + static_cast<std::size_t>(std::max(length, 1)) > maxBytes)
		{
			result += "\xE2\x80\xA6";   // …
			break;
		}
		if (length == 0)
		{
			result += REPLACEMENT;
			++offset;
			continue;
		}
		if (codePoint == '\t')
			result += ' ';
		else if (unsafe(codePoint))
			result += REPLACEMENT;
		else
			result.append(untrusted, offset, static_cast<std::size_t>(length));
		offset += static_cast<std::size_t>(length);
	}
	return result;
}


std::string Text::quoted(const std::string& untrusted, std::size_t maxBytes)
{
	return "\"" + terminalSafe(untrusted, maxBytes) + "\"";
}


} // namespace CrossChat
