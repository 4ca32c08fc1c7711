//
// ServerContext.cpp
//
// Library: Relay
//


#include "ServerContext.h"
#include "CrossChat/FoundationException.h"
#include "Poco/DigestEngine.h"
#include <openssl/rand.h>
#include <algorithm>
#include <vector>


namespace CrossChat {
namespace Relay {


LoopSession::~LoopSession() = default;


void LoopSession::drain()
{
}


void LoopSession::tick(Clock::time_point)
{
}


RelayLoop::RelayLoop(const std::string& name, std::function<LoopSession::Clock::time_point()> clock):
	_thread(name),
	_clock(std::move(clock))
{
	// The timer lives as long as this object; its callback runs on the loop thread, which
	// this object outlives (stop() joins it before destruction).
	_tickTimer = _thread.loop().runEvery(TICK, [this] { tickAll(); });
}


EventLoop& RelayLoop::loop()
{
	return _thread.loop();
}


void RelayLoop::add(const std::shared_ptr<LoopSession>& pSession)
{
	_thread.loop().assertInLoopThread();
	if (_ticking)
	{
		_added.push_back(pSession);
		return;
	}
	_sessions[pSession.get()] = pSession;
}


void RelayLoop::remove(const LoopSession* pSession)
{
	_thread.loop().assertInLoopThread();
	if (_ticking)
	{
		_removed.push_back(pSession);
		return;
	}
	_sessions.erase(pSession);
}


void RelayLoop::tickAll()
{
	const auto now = _clock ? _clock() : LoopSession::Clock::now();
	_ticking = true;
	for (const auto& entry: _sessions)
	{
		if (auto pSession = entry.second.lock()) pSession->tick(now);
	}
	_ticking = false;
	for (const LoopSession* pSession: _removed) _sessions.erase(pSession);
	_removed.clear();
	for (const auto& pSession: _added) _sessions[pSession.get()] = pSession;
	_added.clear();
}


void RelayLoop::shutdownAll()
{
	_thread.loop().assertInLoopThread();
	_tickTimer.cancel();
	std::vector<std::shared_ptr<LoopSession>> live;
	for (const auto& entry: _sessions)
	{
		if (auto pSession = entry.second.lock()) live.push_back(pSession);
	}
	_sessions.clear();
	for (const auto& pSession: live) pSession->shutdown();
}


void RelayLoop::drainAll()
{
	_thread.loop().assertInLoopThread();
	std::vector<std::shared_ptr<LoopSession>> live;
	for (const auto& entry: _sessions)
	{
		if (auto pSession = entry.second.lock()) live.push_back(pSession);
	}
	for (const auto& pSession: live) pSession->drain();
}


std::size_t RelayLoop::sessions() const
{
	return _sessions.size();
}


void RelayLoop::stop()
{
	_tickTimer.cancel();
	_thread.stop();
}


ServerContext::ServerContext(const RelayServerConfig& configArg, const RelayLimits& limitsArg, RelayMetrics& metricsArg,
	ControlHub& hubArg, TunnelManager& tunnelsArg, PeerRegistry& registryArg, SharedTokenBucket& globalRateArg,
	ConnectionBudget& budgetArg, RequestAuth& authArg, IpRateLimiter& requestRateArg, IpRateLimiter& tunnelRateArg,
	const TrustedProxies& trustedProxiesArg, Poco::Logger& loggerArg):
	config(configArg),
	limits(limitsArg),
	metrics(metricsArg),
	hub(hubArg),
	tunnels(tunnelsArg),
	registry(registryArg),
	globalRate(globalRateArg),
	budget(budgetArg),
	auth(authArg),
	requestRate(requestRateArg),
	tunnelRate(tunnelRateArg),
	trustedProxies(trustedProxiesArg),
	logger(loggerArg)
{
}


ServerContext::Clock::time_point ServerContext::now() const
{
	return config.clock ? config.clock() : Clock::now();
}


std::int64_t ServerContext::wallMs()
{
	return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}


bool ServerContext::logAllowed()
{
	const auto current = Clock::now();
	std::lock_guard<std::mutex> lock(_logMutex);
	const double elapsed = std::chrono::duration<double>(current - _logLast).count();
	_logLast = current;
	_logTokens = std::min(LOG_BURST, _logTokens + std::max(0.0, elapsed) * LOG_RATE);
	if (_logTokens < 1) return false;
	_logTokens -= 1;
	return true;
}


std::string randomHex(std::size_t bytes)
{
	std::vector<unsigned char> buffer(bytes);
	if (RAND_bytes(buffer.data(), static_cast<int>(buffer.size())) != 1)
		throw CryptoException("RAND_bytes failed");
	return Poco::DigestEngine::digestToHex(Poco::DigestEngine::Digest(buffer.begin(), buffer.end()));
}


const char* addressOriginName(AddressOrigin origin)
{
	switch (origin)
	{
	case AddressOrigin::DIRECT: return "direct";
	case AddressOrigin::PROXY_PROTOCOL: return "proxy_protocol";
	case AddressOrigin::FORWARDED_FOR: return "forwarded_for";
	case AddressOrigin::HIDDEN: return "hidden";
	}
	return "unknown";
}


} } // namespace CrossChat::Relay
