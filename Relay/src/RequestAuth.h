//
// RequestAuth.h
//
// Library: Relay
// Internal header: verification of signed API requests, with a bounded replay cache.
// This is an internal header file, you should not include this.
//


#ifndef CrossChat_Relay_RequestAuth_INCLUDED
#define CrossChat_Relay_RequestAuth_INCLUDED


#include "CrossChat/PublicKey.h"
#include "Poco/Net/NameValueCollection.h"
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_set>


namespace CrossChat {
namespace Relay {


class RequestAuth
	/// Checks the RelayProtocol signature headers of a request:
	///   missing or malformed headers, an invalid key or a bad signature -> UNAUTHORIZED (401);
	///   a timestamp off by more than MAX_CLOCK_SKEW or a nonce seen before -> FORBIDDEN (403);
	///   a full replay cache -> UNAVAILABLE (503; the cache never grows past its capacity).
	/// A nonce is remembered (for twice the skew window) only once the signature is valid, so
	/// unsigned junk cannot fill the cache.
	///
	/// Thread rules: safe to call from any thread.
{
public:
	using Clock = std::chrono::steady_clock;

	enum class Status
	{
		OK,
		UNAUTHORIZED,
		FORBIDDEN,
		UNAVAILABLE
	};

	struct Result
	{
		Status status = Status::UNAUTHORIZED;
		std::string reason;
		std::optional<PublicKey> key;    ///< Set when status is OK.
	};

	explicit RequestAuth(std::size_t replayCapacity);

	Result verify(const Poco::Net::NameValueCollection& headers, const std::string& method,
		const std::string& pathAndQuery, const std::string& body, std::int64_t nowMs, Clock::time_point now);
		/// nowMs is the wall clock (ms since the epoch), now the steady clock for the cache.

	std::size_t cachedNonces() const;

private:
	const std::size_t _capacity;
	mutable std::mutex _mutex;
	std::deque<std::pair<Clock::time_point, std::string>> _order;   ///< Oldest first.
	std::unordered_set<std::string> _nonces;
};


} } // namespace CrossChat::Relay


#endif // CrossChat_Relay_RequestAuth_INCLUDED
