//
// IpRateLimiter.h
//
// Library: Relay
// Internal header: a token bucket per client address (IPv6 by /64 prefix).
// This is an internal header file, you should not include this.
//


#ifndef CrossChat_Relay_IpRateLimiter_INCLUDED
#define CrossChat_Relay_IpRateLimiter_INCLUDED


#include "TokenBucket.h"
#include "Poco/Net/IPAddress.h"
#include <chrono>
#include <cstddef>
#include <mutex>
#include <string>
#include <unordered_map>


namespace CrossChat {
namespace Relay {


class IpRateLimiter
	/// Admits requests per client at requestsPerSecond with a burst of twice that (0 disables).
	/// IPv6 clients are grouped by their /64 prefix, as one subscriber usually owns a /64.
	/// At most maxClients buckets are kept; sweep() drops the full (idle) ones, and a client
	/// arriving while the table is still full is refused (fail closed under a flood).
	///
	/// Thread rules: safe to call from any thread.
{
public:
	using Clock = TokenBucket::Clock;

	IpRateLimiter(double requestsPerSecond, std::size_t maxClients);

	bool admit(const Poco::Net::IPAddress& client, Clock::time_point now, Clock::duration& retryAfter);
		/// True if the request may proceed; else false with the time until it would.

	void sweep(Clock::time_point now);
		/// Forgets clients whose bucket has refilled completely.

	std::size_t size() const;

private:
	static std::string keyOf(const Poco::Net::IPAddress& client);

	const double _rate;
	const std::size_t _maxClients;
	mutable std::mutex _mutex;
	std::unordered_map<std::string, TokenBucket> _buckets;
};


} } // namespace CrossChat::Relay


#endif // CrossChat_Relay_IpRateLimiter_INCLUDED
