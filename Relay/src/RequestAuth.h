//
// RequestAuth.h
//
// Library: Relay
// Internal header: verification of signed API requests, with a bounded replay cache.
// This is an internal header file, you should not include this.
//


#ifndef CrossChat_Relay_RequestAuth_INCLUDED
#define CrossChat_Relay_RequestAuth_INCLUDED


#include "ReplayCache.h"
#include "SourceKey.h"
#include "CrossChat/PublicKey.h"
#include "Poco/Net/NameValueCollection.h"
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>


namespace CrossChat {
namespace Relay {


class RequestAuth
	/// Checks the RelayProtocol signature headers of a request:
	///   missing or malformed headers, an invalid key or a bad signature -> UNAUTHORIZED (401);
	///   a timestamp off by more than MAX_CLOCK_SKEW or a nonce seen before -> FORBIDDEN (403);
	///   the source's share of the replay cache used up, or the whole cache full -> UNAVAILABLE
	///   (503; the cache never grows past its capacity).
	/// A nonce is remembered (for twice the skew window, in a ReplayCache partitioned by the
	/// request's source) only once the signature is valid, so unsigned junk cannot fill it, and
	/// one source's requests cannot fill or evict another's.
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

	RequestAuth(std::size_t replayCapacity, std::size_t replayPerSource);

	Result verify(const Poco::Net::NameValueCollection& headers, const std::string& method,
		const std::string& pathAndQuery, const std::string& body, std::int64_t nowMs, Clock::time_point now,
		const SourceKey& source);
		/// nowMs is the wall clock (ms since the epoch), now the steady clock for the cache;
		/// source is the request's client (its partition of the replay cache).

	std::size_t cachedNonces() const;
	const ReplayCache& replayCache() const;

private:
	ReplayCache _replay;
};


} } // namespace CrossChat::Relay


#endif // CrossChat_Relay_RequestAuth_INCLUDED
