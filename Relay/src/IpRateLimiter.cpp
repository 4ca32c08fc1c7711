//
// IpRateLimiter.cpp
//
// Library: Relay
//


#include "IpRateLimiter.h"


namespace CrossChat {
namespace Relay {


IpRateLimiter::IpRateLimiter(double requestsPerSecond, std::size_t maxClients):
	_rate(requestsPerSecond),
	_maxClients(maxClients)
{
}


std::string IpRateLimiter::keyOf(const Poco::Net::IPAddress& client)
{
	if (client.family() == Poco::Net::IPAddress::IPv6 && !client.isIPv4Mapped())
	{
		const auto* pBytes = static_cast<const char*>(client.addr());
		return std::string(pBytes, 8);   // the /64 prefix
	}
	const auto* pBytes = static_cast<const char*>(client.addr());
	return std::string(pBytes, client.length());
}


bool IpRateLimiter::admit(const Poco::Net::IPAddress& client, Clock::time_point now, Clock::duration& retryAfter)
{
	if (_rate <= 0) return true;
	const std::string key = keyOf(client);
	std::lock_guard<std::mutex> lock(_mutex);
	auto it = _buckets.find(key);
	if (it == _buckets.end())
	{
		if (_buckets.size() >= _maxClients)
		{
			retryAfter = std::chrono::seconds(1);
			return false;
		}
		it = _buckets.emplace(key, TokenBucket(_rate, 2 * _rate, now)).first;
	}
	if (it->second.tryTake(1, now)) return true;
	retryAfter = it->second.timeUntil(1, now);
	return false;
}


void IpRateLimiter::sweep(Clock::time_point now)
{
	std::lock_guard<std::mutex> lock(_mutex);
	for (auto it = _buckets.begin(); it != _buckets.end();)
	{
		if (it->second.available(now) >= 2 * _rate) it = _buckets.erase(it);
		else ++it;
	}
}


std::size_t IpRateLimiter::size() const
{
	std::lock_guard<std::mutex> lock(_mutex);
	return _buckets.size();
}


} } // namespace CrossChat::Relay
