//
// ControlHub.cpp
//
// Library: Relay
//


#include "ControlHub.h"
#include "CrossChat/Relay/ControlMessages.h"
#include "ControlSession.h"
#include "PeerRegistry.h"
#include "RelayRequests.h"


namespace CrossChat {
namespace Relay {


ControlHub::ControlHub(PeerRegistry& registry):
	_registry(registry)
{
}


std::uint64_t ControlHub::nextSerial()
{
	return ++_serial;
}


bool ControlHub::add(const PeerId& id, Entry entry, std::size_t maxPerToken)
{
	std::optional<Entry> previous;
	{
		std::lock_guard<std::mutex> lock(_mutex);
		auto it = _entries.find(id);
		const bool sameToken = it != _entries.end() && it->second.token == entry.token;
		if (!entry.token.empty() && !sameToken && maxPerToken != 0)
		{
			const auto counted = _perToken.find(entry.token);
			if (counted != _perToken.end() && counted->second >= maxPerToken) return false;
		}
		if (!entry.token.empty() && !sameToken) ++_perToken[entry.token];
		if (it != _entries.end())
		{
			previous = it->second;
			if (!sameToken) releaseTokenLocked(it->second.token);
			it->second = std::move(entry);
		}
		else
		{
			_entries.emplace(id, std::move(entry));
			_registry.setOnline(id, true);
		}
	}
	if (previous && previous->pLoop)
	{
		std::weak_ptr<ControlSession> pWeak = previous->session;
		previous->pLoop->post([pWeak]
		{
			if (auto pSession = pWeak.lock()) pSession->replace();
		});
	}
	return true;
}


void ControlHub::releaseTokenLocked(const std::string& token)
{
	if (token.empty()) return;
	const auto it = _perToken.find(token);
	if (it != _perToken.end() && --it->second == 0) _perToken.erase(it);
}


void ControlHub::remove(const PeerId& id, std::uint64_t serial)
{
	std::lock_guard<std::mutex> lock(_mutex);
	const auto it = _entries.find(id);
	if (it != _entries.end() && it->second.serial == serial)
	{
		releaseTokenLocked(it->second.token);
		_entries.erase(it);
		_registry.setOnline(id, false);
	}
}


void ControlHub::endToken(const std::string& token)
{
	std::vector<Entry> ended;
	{
		// Linear in the online peers: revocations are rare operator actions, never a request.
		std::lock_guard<std::mutex> lock(_mutex);
		for (const auto& entry: _entries)
			if (entry.second.token == token) ended.push_back(entry.second);
	}
	for (const Entry& entry: ended)
	{
		if (!entry.pLoop) continue;
		std::weak_ptr<ControlSession> pWeak = entry.session;
		entry.pLoop->post([pWeak]
		{
			if (auto pSession = pWeak.lock()) pSession->tokenEnded();
		});
	}
}


bool ControlHub::mailArrived(const PeerId& id)
{
	const std::optional<Entry> entry = find(id);
	if (!entry || !entry->pLoop) return false;
	std::weak_ptr<ControlSession> pWeak = entry->session;
	entry->pLoop->post([pWeak]
	{
		if (auto pSession = pWeak.lock()) pSession->mailArrived();
	});
	return true;
}


std::optional<ControlHub::Entry> ControlHub::find(const PeerId& id) const
{
	std::lock_guard<std::mutex> lock(_mutex);
	const auto it = _entries.find(id);
	if (it == _entries.end()) return std::nullopt;
	return it->second;
}


bool ControlHub::online(const PeerId& id) const
{
	std::lock_guard<std::mutex> lock(_mutex);
	return _entries.count(id) != 0;
}


std::size_t ControlHub::size() const
{
	std::lock_guard<std::mutex> lock(_mutex);
	return _entries.size();
}


bool ControlHub::invite(const PeerId& id, const std::string& token, const PeerId& from, const std::string& name)
{
	const std::optional<Entry> entry = find(id);
	if (!entry || !entry->pLoop) return false;
	std::weak_ptr<ControlSession> pWeak = entry->session;
	entry->pLoop->post([pWeak, token, from, name]
	{
		if (auto pSession = pWeak.lock()) pSession->sendInvite(token, from, name);
	});
	return true;
}


bool ControlHub::punch(const PeerId& id, const PeerId& from, const PunchMessage& punch, const Poco::Net::SocketAddress& fromObserved)
{
	const std::optional<Entry> entry = find(id);
	if (!entry || !entry->pLoop) return false;
	std::weak_ptr<ControlSession> pWeak = entry->session;
	entry->pLoop->post([pWeak, from, punch, fromObserved]
	{
		if (auto pSession = pWeak.lock()) pSession->sendPunch(from, punch, fromObserved);
	});
	return true;
}


} } // namespace CrossChat::Relay
