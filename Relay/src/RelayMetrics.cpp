//
// RelayMetrics.cpp
//
// Library: Relay
//


#include "RelayMetrics.h"
#include <algorithm>


namespace CrossChat {
namespace Relay {


ActivityCounter::ActivityCounter(Clock::time_point origin):
	_origin(origin)
{
	for (auto& slot: _slots) slot = {-1, 0};
}


std::int64_t ActivityCounter::minuteOf(Clock::time_point now) const
{
	if (now < _origin) return 0;
	return std::chrono::duration_cast<std::chrono::minutes>(now - _origin).count();
}


void ActivityCounter::add(std::uint64_t amount, Clock::time_point now)
{
	_total.fetch_add(amount, std::memory_order_relaxed);
	const std::int64_t minute = minuteOf(now);
	std::lock_guard<std::mutex> lock(_mutex);
	auto& slot = _slots[static_cast<std::size_t>(minute) % HISTORY_MINUTES];
	if (slot.first != minute) slot = {minute, 0};
	slot.second += amount;
}


std::uint64_t ActivityCounter::total() const
{
	return _total.load(std::memory_order_relaxed);
}


std::uint64_t ActivityCounter::lastMinutes(std::size_t minutes, Clock::time_point now) const
{
	const std::int64_t current = minuteOf(now);
	const std::int64_t first = current - static_cast<std::int64_t>(std::min(minutes, HISTORY_MINUTES)) + 1;
	std::uint64_t sum = 0;
	std::lock_guard<std::mutex> lock(_mutex);
	for (const auto& slot: _slots)
	{
		if (slot.first >= first && slot.first <= current) sum += slot.second;
	}
	return sum;
}


RelayMetrics::RelayMetrics(Clock::time_point origin):
	announces(origin),
	lookups(origin),
	tunnelsOpened(origin),
	bytesRelayed(origin)
{
}


void RelayMetrics::reject(Rejection reason)
{
	_rejections[static_cast<std::size_t>(reason)].fetch_add(1, std::memory_order_relaxed);
}


std::uint64_t RelayMetrics::rejected(Rejection reason) const
{
	return _rejections[static_cast<std::size_t>(reason)].load(std::memory_order_relaxed);
}


std::uint64_t RelayMetrics::rejectedTotal() const
{
	std::uint64_t sum = 0;
	for (const auto& count: _rejections) sum += count.load(std::memory_order_relaxed);
	return sum;
}


const char* RelayMetrics::rejectionName(Rejection reason)
{
	switch (reason)
	{
	case Rejection::BAD_REQUEST: return "bad_request";
	case Rejection::UNAUTHORIZED: return "unauthorized";
	case Rejection::FORBIDDEN: return "forbidden";
	case Rejection::NOT_FOUND: return "not_found";
	case Rejection::METHOD_NOT_ALLOWED: return "method_not_allowed";
	case Rejection::TOO_LARGE: return "too_large";
	case Rejection::RATE_LIMITED: return "rate_limited";
	case Rejection::UNAVAILABLE: return "unavailable";
	case Rejection::CONNECTION_LIMIT: return "connection_limit";
	case Rejection::SOURCE_LIMIT: return "source_limit";
	case Rejection::HTTP_TIMEOUT: return "http_timeout";
	case Rejection::CONTROL_PROTOCOL: return "control_protocol";
	case Rejection::CONTROL_TIMEOUT: return "control_timeout";
	case Rejection::ACCESS: return "access";
	case Rejection::QUOTA: return "quota";
	case Rejection::CONFLICT: return "conflict";
	case Rejection::STORAGE: return "storage";
	case Rejection::COUNT: break;
	}
	return "unknown";
}


} } // namespace CrossChat::Relay
