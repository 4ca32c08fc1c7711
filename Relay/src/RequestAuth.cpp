//
// RequestAuth.cpp
//
// Library: Relay
//


#include "RequestAuth.h"
#include "RelayRequests.h"
#include "CrossChat/FoundationException.h"
#include "CrossChat/Relay/RelayProtocol.h"
#include <cstdlib>


namespace CrossChat {
namespace Relay {


RequestAuth::RequestAuth(std::size_t replayCapacity, std::size_t replayPerSource):
	_replay(replayCapacity, replayPerSource, 2 * RelayProtocol::MAX_CLOCK_SKEW)
{
}


RequestAuth::Result RequestAuth::verify(const Poco::Net::NameValueCollection& headers, const std::string& method,
	const std::string& pathAndQuery, const std::string& body, std::int64_t nowMs, Clock::time_point now, const SourceKey& source)
{
	Result result;
	SignedHeaders signedHeaders;
	try
	{
		signedHeaders = SignedHeaders::parse(headers);
	}
	catch (const BadRequestException& exc)
	{
		result.reason = exc.message();
		return result;
	}
	std::optional<PublicKey> key;
	try
	{
		key = PublicKey::fromRaw(signedHeaders.publicKeyRaw);
	}
	catch (const CryptoException&)
	{
		result.reason = "invalid public key";
		return result;
	}
	const std::string signingString = RelayProtocol::signingString(method, pathAndQuery, body,
		signedHeaders.timestampMs, signedHeaders.nonce);
	if (!key->verify(signingString, signedHeaders.signature))
	{
		result.reason = "bad signature";
		return result;
	}
	const std::int64_t skewMs = std::chrono::duration_cast<std::chrono::milliseconds>(RelayProtocol::MAX_CLOCK_SKEW).count();
	if (std::llabs(nowMs - signedHeaders.timestampMs) > skewMs)
	{
		result.status = Status::FORBIDDEN;
		result.reason = "timestamp outside the allowed clock skew";
		return result;
	}
	switch (_replay.insert(source, ReplayCache::fingerprint(signedHeaders.publicKeyRaw, signedHeaders.nonce), now))
	{
	case ReplayCache::Result::FRESH:
		break;
	case ReplayCache::Result::REPLAYED:
		result.status = Status::FORBIDDEN;
		result.reason = "replayed nonce";
		return result;
	case ReplayCache::Result::SOURCE_FULL:
		result.status = Status::UNAVAILABLE;
		result.reason = "too many signed requests from this address";
		return result;
	case ReplayCache::Result::FULL:
		result.status = Status::UNAVAILABLE;
		result.reason = "replay cache full";
		return result;
	}
	result.status = Status::OK;
	result.key = std::move(key);
	return result;
}


std::size_t RequestAuth::cachedNonces() const
{
	return _replay.size();
}


const ReplayCache& RequestAuth::replayCache() const
{
	return _replay;
}


} } // namespace CrossChat::Relay
