//
// TunnelManager.cpp
//
// Library: Relay
//


#include "TunnelManager.h"
#include "TunnelSession.h"


namespace CrossChat {
namespace Relay {


TunnelManager::AddResult TunnelManager::add(const std::shared_ptr<TunnelSession>& pSession, const std::string& callerToken,
	const std::string& calleeToken, Clock::time_point expires, std::size_t maxSessions, const SourceKey& source,
	std::size_t maxPerSource, const std::string& accessToken, std::size_t maxPerToken)
{
	std::lock_guard<std::mutex> lock(_mutex);
	if (_sessions >= maxSessions) return AddResult::FULL;
	const auto counted = _perSource.find(source);
	if ((counted != _perSource.end() && counted->second >= maxPerSource) || maxPerSource == 0) return AddResult::SOURCE_FULL;
	if (!accessToken.empty() && maxPerToken != 0)
	{
		const auto tokenCount = _perToken.find(accessToken);
		if (tokenCount != _perToken.end() && tokenCount->second >= maxPerToken) return AddResult::TOKEN_FULL;
	}
	_tickets[callerToken] = Ticket{pSession, 0, false, expires, accessToken};
	_tickets[calleeToken] = Ticket{pSession, 1, false, expires, std::string()};
	++_perSource[source];
	if (!accessToken.empty()) ++_perToken[accessToken];
	++_sessions;
	return AddResult::OK;
}


std::shared_ptr<TunnelSession> TunnelManager::claim(const std::string& token, Clock::time_point now, int& side)
{
	std::lock_guard<std::mutex> lock(_mutex);
	const auto it = _tickets.find(token);
	if (it == _tickets.end() || it->second.claimed || it->second.expires <= now) return nullptr;
	it->second.claimed = true;
	side = it->second.side;
	return it->second.session;
}


bool TunnelManager::isCalleeToken(const std::string& token, Clock::time_point now) const
{
	std::lock_guard<std::mutex> lock(_mutex);
	const auto it = _tickets.find(token);
	return it != _tickets.end() && it->second.side == 1 && !it->second.claimed && it->second.expires > now;
}


void TunnelManager::remove(const std::string& callerToken, const std::string& calleeToken, const SourceKey& source)
{
	std::shared_ptr<TunnelSession> pReleased;   // destroyed after the lock is released
	std::lock_guard<std::mutex> lock(_mutex);
	const auto caller = _tickets.find(callerToken);
	if (caller == _tickets.end()) return;
	pReleased = caller->second.session;
	if (!caller->second.accessToken.empty())
	{
		const auto tokenCount = _perToken.find(caller->second.accessToken);
		if (tokenCount != _perToken.end() && --tokenCount->second == 0) _perToken.erase(tokenCount);
	}
	_tickets.erase(caller);
	_tickets.erase(calleeToken);
	if (_sessions > 0) --_sessions;
	const auto counted = _perSource.find(source);
	if (counted != _perSource.end() && --counted->second == 0) _perSource.erase(counted);
}


std::size_t TunnelManager::size() const
{
	std::lock_guard<std::mutex> lock(_mutex);
	return _sessions;
}


void TunnelManager::clear()
{
	std::unordered_map<std::string, Ticket> tickets;
	{
		std::lock_guard<std::mutex> lock(_mutex);
		tickets.swap(_tickets);
		_perSource.clear();
		_perToken.clear();
		_sessions = 0;
	}
}


} } // namespace CrossChat::Relay
