//
// TokenBucket.cpp
//
// Library: Relay
//


#include "TokenBucket.h"
#include <algorithm>
#include <limits>


namespace CrossChat {
namespace Relay {


namespace {


constexpr double UNLIMITED = 1e18;


} // namespace


TokenBucket::TokenBucket(double ratePerSecond, double capacity, Clock::time_point now):
	_rate(std::max(0.0, ratePerSecond)),
	_capacity(std::max(1.0, capacity)),
	_tokens(_capacity),
	_last(now)
{
}


void TokenBucket::refill(Clock::time_point now)
{
	if (now <= _last) return;
	const double seconds = std::chrono::duration<double>(now - _last).count();
	_tokens = std::min(_capacity, _tokens + seconds * _rate);
	_last = now;
}


double TokenBucket::available(Clock::time_point now)
{
	if (unlimited()) return UNLIMITED;
	refill(now);
	return _tokens;
}


bool TokenBucket::tryTake(double tokens, Clock::time_point now)
{
	if (unlimited()) return true;
	refill(now);
	if (_tokens < tokens) return false;
	_tokens -= tokens;
	return true;
}


void TokenBucket::take(double tokens, Clock::time_point now)
{
	if (unlimited()) return;
	refill(now);
	_tokens = std::max(0.0, _tokens - tokens);
}


TokenBucket::Clock::duration TokenBucket::timeUntil(double tokens, Clock::time_point now)
{
	if (unlimited()) return Clock::duration::zero();
	refill(now);
	const double missing = std::min(tokens, _capacity) - _tokens;
	if (missing <= 0) return Clock::duration::zero();
	return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(missing / _rate));
}


bool TokenBucket::unlimited() const
{
	return _rate <= 0;
}


SharedTokenBucket::SharedTokenBucket(double ratePerSecond, double capacity, Clock::time_point now):
	_bucket(ratePerSecond, capacity, now)
{
}


double SharedTokenBucket::available(Clock::time_point now)
{
	std::lock_guard<std::mutex> lock(_mutex);
	return _bucket.available(now);
}


void SharedTokenBucket::take(double tokens, Clock::time_point now)
{
	std::lock_guard<std::mutex> lock(_mutex);
	_bucket.take(tokens, now);
}


SharedTokenBucket::Clock::duration SharedTokenBucket::timeUntil(double tokens, Clock::time_point now)
{
	std::lock_guard<std::mutex> lock(_mutex);
	return _bucket.timeUntil(tokens, now);
}


} } // namespace CrossChat::Relay
