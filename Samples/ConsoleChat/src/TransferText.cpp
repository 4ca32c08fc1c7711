//
// TransferText.cpp
//
// Sample: ConsoleChat
//


#include "TransferText.h"
#include "Poco/NumberParser.h"
#include "Poco/String.h"
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>


namespace CrossChat {


std::string TransferText::size(std::uint64_t bytes)
{
	static const char* const units[] = {"KiB", "MiB", "GiB", "TiB"};
	if (bytes < 1024) return std::to_string(bytes) + (bytes == 1 ? " byte" : " bytes");
	double value = static_cast<double>(bytes) / 1024;
	int unit = 0;
	while (value >= 1024 && unit < 3)
	{
		value /= 1024;
		++unit;
	}
	char text[32];
	std::snprintf(text, sizeof(text), "%.1f %s", value, units[unit]);
	return text;
}


std::string TransferText::rate(double bytesPerSecond)
{
	char text[32];
	if (bytesPerSecond >= 1e6)
		std::snprintf(text, sizeof(text), "%.1f MB/s", bytesPerSecond / 1e6);
	else
		std::snprintf(text, sizeof(text), "%.0f kB/s", bytesPerSecond / 1e3);
	return text;
}


std::string TransferText::duration(std::int64_t seconds)
{
	seconds = std::max<std::int64_t>(seconds, 0);
	char text[32];
	if (seconds >= 3600)
		std::snprintf(text, sizeof(text), "%lld:%02lld:%02lld", static_cast<long long>(seconds / 3600),
			static_cast<long long>(seconds / 60 % 60), static_cast<long long>(seconds % 60));
	else
		std::snprintf(text, sizeof(text), "%lld:%02lld", static_cast<long long>(seconds / 60), static_cast<long long>(seconds % 60));
	return text;
}


std::string TransferText::bar(std::uint64_t done, std::uint64_t total)
{
	const double fraction = total == 0 ? 1.0 : std::min(1.0, static_cast<double>(done) / static_cast<double>(total));
	const std::size_t filled = std::min(BAR_WIDTH, static_cast<std::size_t>(fraction * BAR_WIDTH));
	return "[" + std::string(filled, '#') + std::string(BAR_WIDTH - filled, '-') + "] "
		+ std::to_string(static_cast<int>(std::floor(fraction * 100))) + "%";
}


std::string TransferText::progress(std::uint64_t done, std::uint64_t total, double bytesPerSecond,
	std::optional<std::int64_t> etaSeconds, bool connected)
{
	std::string text = bar(done, total) + " " + size(done) + " of " + size(total);
	if (bytesPerSecond > 0) text += ", " + rate(bytesPerSecond);
	if (etaSeconds) text += ", " + duration(*etaSeconds) + " left";
	if (!connected) text += " (waiting for the peer)";
	return text;
}


std::optional<std::uint64_t> TransferText::parseSize(const std::string& text)
{
	std::string value = Poco::trim(text);
	std::string unit;
	while (!value.empty() && std::isalpha(static_cast<unsigned char>(value.back())))
	{
		unit.insert(unit.begin(), static_cast<char>(std::toupper(static_cast<unsigned char>(value.back()))));
		value.pop_back();
	}
	value = Poco::trim(value);
	if (unit.size() >= 2 && unit.compare(unit.size() - 2, 2, "IB") == 0)
		unit.resize(unit.size() - 2);
	else if (unit.size() >= 2 && unit.back() == 'B')
		unit.pop_back();
	else if (unit == "B")
		unit.clear();
	double multiplier = 1;
	if (unit == "K") multiplier = 1024.0;
	else if (unit == "M") multiplier = 1024.0 * 1024;
	else if (unit == "G") multiplier = 1024.0 * 1024 * 1024;
	else if (unit == "T") multiplier = 1024.0 * 1024 * 1024 * 1024;
	else if (!unit.empty()) return std::nullopt;
	double number = 0;
	if (value.empty() || value.find_first_not_of("0123456789.") != std::string::npos || !Poco::NumberParser::tryParseFloat(value, number))
		return std::nullopt;
	const double bytes = number * multiplier;
	if (!(bytes >= 0) || bytes > 1.8e19) return std::nullopt;
	return static_cast<std::uint64_t>(bytes);
}


} // namespace CrossChat
