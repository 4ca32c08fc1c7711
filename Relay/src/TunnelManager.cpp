//
// TunnelManager.cpp
//
// Library: Relay
//


#include "TunnelManager.h"
#include "TunnelSession.h"


namespace CrossChat {
namespace Relay {


bool TunnelManager::add(const std::shared_ptr<TunnelSession>& pSession, const std::string& callerToken,
	const std::string& calleeToken, Clock::time_point expires, std::size_t maxSessions)
{
	std::lock_guard<std::mutex> lock(_mutex);
	if (_sessions >= maxSessions) return false;
	_tickets[callerToken] = Ticket{pSession, 0, false, expires};
	_tickets[calleeToken] = Ticket{pSession, 1, false, expires};
	++_sessions;
	return true;
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


void TunnelManager::remove(const std::string& callerToken, const std::string& calleeToken)
{
	std::lock_guard<std::mutex> lock(_mutex);
	const std::size_t erased = _tickets.erase(callerToken) + _tickets.erase(calleeToken);
	if (erased != 0 && _sessions > 0) --_sessions;
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
		_sessions = 0;
	}
}


} } // namespace CrossChat::Relay
