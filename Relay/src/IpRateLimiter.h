//
// IpRateLimiter.h
//
// Library: Relay
// Internal header: a token bucket per client source (IPv4 address, IPv6 /64), in a table
// bounded by evicting the longest-idle entry.
// This is an internal header file, you should not include this.
//


#ifndef CrossChat_Relay_IpRateLimiter_INCLUDED
#define CrossChat_Relay_IpRateLimiter_INCLUDED


#include "SourceKey.h"
#include "TokenBucket.h"
#include <chrono>
#include <cstddef>
#include <list>
#include <mutex>
#include <unordered_map>


namespace CrossChat {
namespace Relay {


class IpRateLimiter
	/// Admits events per source at ratePerSecond with a burst of burst (0 rate: unlimited).
	/// Sources are SourceKeys (IPv6 clients by their /64 prefix).
	///
	/// The table holds at most maxSources buckets. When a new source arrives while it is full,
	/// the bucket used longest ago is evicted (its source starts again with a full bucket if it
	/// comes back); a source is never refused because the table is full, so a flood of many
	/// addresses cannot lock out a new honest one. sweep() drops every bucket that has been
	/// idle long enough to be full again (it would behave the same when recreated).
	///
	/// Thread rules: safe to call from any thread.
{
public:
	using Clock = TokenBucket::Clock;

	IpRateLimiter(double ratePerSecond, double burst, std::size_t maxSources);

	bool admit(const SourceKey& source, Clock::time_point now, Clock::duration& retryAfter, double cost = 1);
		/// True if the event may proceed (cost tokens taken); else false with the time until it
		/// would.

	void sweep(Clock::time_point now);
		/// Forgets sources idle long enough for their bucket to be full.

	std::size_t size() const;
	std::uint64_t evictions() const;
		/// Buckets evicted because the table was full.

private:
	struct Entry
	{
		SourceKey source;
		TokenBucket bucket;
		Clock::time_point lastUsed;
	};
	using List = std::list<Entry>;   ///< Most recently used first.

	const double _rate;
	const double _burst;
	const std::size_t _maxSources;
	mutable std::mutex _mutex;
	List _entries;
	std::unordered_map<SourceKey, List::iterator, SourceKeyHash> _index;
	std::uint64_t _evictions = 0;
};


} } // namespace CrossChat::Relay


#endif // CrossChat_Relay_IpRateLimiter_INCLUDED
