//
// TerminalText.cpp
//
// Sample: ConsoleChat
//


#include "TerminalText.h"
#include "CrossChat/Text.h"
#include <cwchar>


namespace CrossChat {


namespace {


bool isScalar(char32_t c)
{
	return c <= 0x10FFFF && (c < 0xD800 || c > 0xDFFF);
}


bool isBidiControl(wchar_t c)
{
	return (c >= 0x202A && c <= 0x202E) || (c >= 0x2066 && c <= 0x2069) || c == 0x200E || c == 0x200F || c == 0x061C;
}


bool isDroppedFormat(wchar_t c)
{
	return (c >= 0x200B && c <= 0x200D) || (c >= 0x2060 && c <= 0x2064) || c == 0xFEFF || (c >= 0xFE00 && c <= 0xFE0F)
		|| (c >= 0xE0100 && c <= 0xE01EF);
}


bool isControl(wchar_t c)
{
	return c < 0x20 || c == 0x7F || (c >= 0x80 && c <= 0x9F);
}


} // namespace


std::wstring TerminalText::decode(const std::string& utf8)
{
	std::wstring result;
	result.reserve(utf8.size());
	const std::size_t size = utf8.size();
	std::size_t i = 0;
	while (i < size)
	{
		const auto b0 = static_cast<unsigned char>(utf8[i]);
		if (b0 < 0x80)
		{
			result += static_cast<wchar_t>(b0);
			++i;
			continue;
		}
		std::size_t length = 0;
		char32_t c = 0;
		char32_t minimum = 0;
		if (b0 >= 0xC2 && b0 <= 0xDF) { length = 2; c = b0 & 0x1F; minimum = 0x80; }
		else if (b0 >= 0xE0 && b0 <= 0xEF) { length = 3; c = b0 & 0x0F; minimum = 0x800; }
		else if (b0 >= 0xF0 && b0 <= 0xF4) { length = 4; c = b0 & 0x07; minimum = 0x10000; }
		bool valid = length > 0 && i + length <= size;
		for (std::size_t k = 1; valid && k < length; ++k)
		{
			const auto b = static_cast<unsigned char>(utf8[i + k]);
			if ((b & 0xC0) != 0x80) valid = false;
			else c = (c << 6) | (b & 0x3F);
		}
		if (valid && c >= minimum && isScalar(c))
		{
			result += static_cast<wchar_t>(c);
			i += length;
		}
		else
		{
			result += REPLACEMENT;
			++i;
		}
	}
	return result;
}


std::string TerminalText::encode(const std::wstring& text)
{
	std::string result;
	result.reserve(text.size());
	for (wchar_t wc: text)
	{
		char32_t c = static_cast<char32_t>(wc);
		if (!isScalar(c)) c = REPLACEMENT;
		if (c < 0x80)
		{
			result += static_cast<char>(c);
		}
		else if (c < 0x800)
		{
			result += static_cast<char>(0xC0 | (c >> 6));
			result += static_cast<char>(0x80 | (c & 0x3F));
		}
		else if (c < 0x10000)
		{
			result += static_cast<char>(0xE0 | (c >> 12));
			result += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
			result += static_cast<char>(0x80 | (c & 0x3F));
		}
		else
		{
			result += static_cast<char>(0xF0 | (c >> 18));
			result += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
			result += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
			result += static_cast<char>(0x80 | (c & 0x3F));
		}
	}
	return result;
}


std::wstring TerminalText::sanitize(const std::string& untrusted)
{
	// Controls, bidirectional controls and invalid UTF-8 as on every other output path
	// (Text::terminalSafe), then what a cell grid needs on top: widths, marks, format characters.
	return sanitize(decode(Text::terminalSafe(untrusted)));
}


std::wstring TerminalText::sanitize(const std::wstring& untrusted)
{
	std::wstring result;
	result.reserve(untrusted.size());
	bool canCombine = false;       // the last character kept is a printable base
	std::size_t combining = 0;     // marks kept on it so far
	for (wchar_t c: untrusted)
	{
		if (c == L'\t') c = L' ';
		if (isDroppedFormat(c)) continue;
		if (isControl(c) || isBidiControl(c))
		{
			result += REPLACEMENT;
			canCombine = false;
			continue;
		}
		const int w = ::wcwidth(c);
		if (w < 0)
		{
			result += REPLACEMENT;
			canCombine = false;
		}
		else if (w == 0)
		{
			if (!canCombine)
			{
				result += REPLACEMENT;
			}
			else if (combining < MAX_COMBINING)
			{
				result += c;
				++combining;
			}
		}
		else
		{
			result += c;
			canCombine = c != REPLACEMENT;
			combining = 0;
		}
	}
	return result;
}


std::wstring TerminalText::ascii(const std::wstring& text)
{
	std::wstring result;
	result.reserve(text.size());
	for (wchar_t c: text)
	{
		if (c >= 0x20 && c < 0x7F) result += c;
		else if (charWidth(c) > 0) result += L'?';
	}
	return result;
}


int TerminalText::charWidth(wchar_t c)
{
	const int w = ::wcwidth(c);
	return w < 0 ? 1 : w;
}


std::size_t TerminalText::width(const std::wstring& text)
{
	std::size_t total = 0;
	for (wchar_t c: text) total += static_cast<std::size_t>(charWidth(c));
	return total;
}


std::size_t TerminalText::fit(const std::wstring& text, std::size_t start, std::size_t columns)
{
	std::size_t used = 0;
	std::size_t i = start;
	while (i < text.size())
	{
		const auto w = static_cast<std::size_t>(charWidth(text[i]));
		if (used + w > columns) break;
		used += w;
		++i;
		while (i < text.size() && charWidth(text[i]) == 0) ++i;   // marks stay with their base
	}
	return i;
}


std::wstring TerminalText::truncate(const std::wstring& text, std::size_t columns)
{
	if (width(text) <= columns) return text;
	if (columns == 0) return std::wstring();
	return text.substr(0, fit(text, 0, columns - 1)) + L'\u2026';
}


} // namespace CrossChat
