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


RequestAuth::RequestAuth(std::size_t replayCapacity):
	_capacity(replayCapacity)
{
}


RequestAuth::Result RequestAuth::verify(const Poco::Net::NameValueCollection& headers, const std::string& method,
	const std::string& pathAndQuery, const std::string& body, std::int64_t nowMs, Clock::time_point now)
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
	{
		std::lock_guard<std::mutex> lock(_mutex);
		while (!_order.empty() && _order.front().first <= now)
		{
			_nonces.erase(_order.front().second);
			_order.pop_front();
		}
		const std::string cacheKey = signedHeaders.publicKeyRaw + signedHeaders.nonce;
		if (_nonces.count(cacheKey) != 0)
		{
			result.status = Status::FORBIDDEN;
			result.reason = "replayed nonce";
			return result;
		}
		if (_nonces.size() >= _capacity)
		{
			result.status = Status::UNAVAILABLE;
			result.reason = "replay cache full";
			return result;
		}
		_nonces.insert(cacheKey);
		_order.emplace_back(now + 2 * RelayProtocol::MAX_CLOCK_SKEW, cacheKey);
	}
	result.status = Status::OK;
	result.key = std::move(key);
	return result;
}


std::size_t RequestAuth::cachedNonces() const
{
	std::lock_guard<std::mutex> lock(_mutex);
	return _nonces.size();
}


} } // namespace CrossChat::Relay
