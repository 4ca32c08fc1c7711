//
// TokenBucket.h
//
// Library: Relay
// Internal header: token buckets for request and byte-rate limits.
// This is an internal header file, you should not include this.
//


#ifndef CrossChat_Relay_TokenBucket_INCLUDED
#define CrossChat_Relay_TokenBucket_INCLUDED


#include <chrono>
#include <mutex>


namespace CrossChat {
namespace Relay {


class TokenBucket
	/// A token bucket: fills at rate tokens per second up to capacity, starts full.
	/// A rate of 0 means unlimited. Time is passed in, so tests can drive it.
	///
	/// Thread rules: not thread-safe (see SharedTokenBucket).
{
public:
	using Clock = std::chrono::steady_clock;

	TokenBucket(double ratePerSecond, double capacity, Clock::time_point now);

	double available(Clock::time_point now);
		/// Tokens available now (refills first). Unlimited buckets report a huge number.

	bool tryTake(double tokens, Clock::time_point now);
		/// Takes the tokens if that many are available.

	void take(double tokens, Clock::time_point now);
		/// Takes up to the tokens available (never goes below zero).

	Clock::duration timeUntil(double tokens, Clock::time_point now);
		/// How long until that many tokens are available (zero if they are; capped at the time
		/// to fill the whole bucket).

	bool unlimited() const;

private:
	void refill(Clock::time_point now);

	double _rate;
	double _capacity;
	double _tokens;
	Clock::time_point _last;
};


class SharedTokenBucket
	/// A TokenBucket shared by several threads (the relay's global byte rate).
	///
	/// Thread rules: safe to call from any thread.
{
public:
	using Clock = TokenBucket::Clock;

	SharedTokenBucket(double ratePerSecond, double capacity, Clock::time_point now);

	double available(Clock::time_point now);
	void take(double tokens, Clock::time_point now);
	Clock::duration timeUntil(double tokens, Clock::time_point now);

private:
	std::mutex _mutex;
	TokenBucket _bucket;
};


} } // namespace CrossChat::Relay


#endif // CrossChat_Relay_TokenBucket_INCLUDED
