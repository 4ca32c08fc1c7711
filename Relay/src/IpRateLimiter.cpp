//
// IpRateLimiter.cpp
//
// Library: Relay
//


#include "IpRateLimiter.h"
#include <algorithm>


namespace CrossChat {
namespace Relay {


IpRateLimiter::IpRateLimiter(double ratePerSecond, double burst, std::size_t maxSources):
	_rate(ratePerSecond),
	_burst(std::max(1.0, burst)),
	_maxSources(std::max<std::size_t>(1, maxSources))
{
}


bool IpRateLimiter::admit(const SourceKey& source, Clock::time_point now, Clock::duration& retryAfter, double cost)
{
	if (_rate <= 0) return true;
	std::lock_guard<std::mutex> lock(_mutex);
	auto it = _index.find(source);
	List::iterator entry;
	if (it != _index.end())
	{
		entry = it->second;
		_entries.splice(_entries.begin(), _entries, entry);   // now the most recently used
	}
	else
	{
		if (_index.size() >= _maxSources)
		{
			_index.erase(_entries.back().source);
			_entries.pop_back();
			++_evictions;
		}
		_entries.push_front(Entry{source, TokenBucket(_rate, _burst, now), now});
		entry = _entries.begin();
		_index.emplace(source, entry);
	}
	entry->lastUsed = now;
	if (entry->bucket.tryTake(cost, now)) return true;
	retryAfter = entry->bucket.timeUntil(cost, now);
	return false;
}


void IpRateLimiter::sweep(Clock::time_point now)
{
	if (_rate <= 0) return;
	// A bucket untouched for burst/rate seconds is full again: forgetting it changes nothing.
	const auto refill = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(_burst / _rate));
	std::lock_guard<std::mutex> lock(_mutex);
	while (!_entries.empty() && now - _entries.back().lastUsed >= refill)
	{
		_index.erase(_entries.back().source);
		_entries.pop_back();
	}
}


std::size_t IpRateLimiter::size() const
{
	std::lock_guard<std::mutex> lock(_mutex);
	return _index.size();
}


std::uint64_t IpRateLimiter::evictions() const
{
	std::lock_guard<std::mutex> lock(_mutex);
	return _evictions;
}


} } // namespace CrossChat::Relay
