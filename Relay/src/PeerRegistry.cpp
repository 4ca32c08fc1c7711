//
// PeerRegistry.cpp
//
// Library: Relay
//


#include "PeerRegistry.h"
#include "Poco/String.h"
#include <algorithm>
#include <mutex>


namespace CrossChat {
namespace Relay {


PeerRegistry::~PeerRegistry() = default;


PeerRegistry::PutResult PeerRegistry::put(const PeerRecord& record, std::size_t maxRecords, std::size_t maxPerSource)
{
	PutLimits limits;
	limits.maxRecords = maxRecords;
	limits.maxPerSource = maxPerSource;
	return put(record, limits, nullptr);
}


MemoryPeerRegistry::MemoryPeerRegistry() = default;


MemoryPeerRegistry::~MemoryPeerRegistry() = default;


void MemoryPeerRegistry::unlistLocked(const PeerRecord& record)
{
	if (record.directory) _directory.erase(DirectoryKey(Poco::toLower(record.name), record.id));
}


void MemoryPeerRegistry::listLocked(const PeerRecord& record)
{
	if (record.directory && _online.count(record.id) != 0)
		_directory.emplace(Poco::toLower(record.name), record.id);
}


void MemoryPeerRegistry::releaseSourceLocked(const SourceKey& source)
{
	const auto it = _perSource.find(source);
	if (it == _perSource.end()) return;
	if (--it->second == 0) _perSource.erase(it);
}


void MemoryPeerRegistry::releaseTokenLocked(const std::string& token)
{
	if (token.empty()) return;
	const auto it = _perToken.find(token);
	if (it == _perToken.end()) return;
	if (--it->second == 0) _perToken.erase(it);
}


void MemoryPeerRegistry::eraseLocked(std::unordered_map<PeerId, Stored>::iterator it)
{
	unlistLocked(it->second.record);
	releaseSourceLocked(it->second.record.source);
	releaseTokenLocked(it->second.record.token);
	_expiry.erase(it->second.expiry);
	const auto recent = std::find(_recent.begin(), _recent.end(), it->first);
	if (recent != _recent.end()) _recent.erase(recent);
	_records.erase(it);
}


PeerRegistry::PutResult MemoryPeerRegistry::put(const PeerRecord& record, const PutLimits& limits, const CommitTicket::Ptr& durable)
{
	{
		std::unique_lock<std::shared_mutex> lock(_mutex);
		auto it = _records.find(record.id);
		const bool sameSource = it != _records.end() && it->second.record.source == record.source;
		const bool sameToken = it != _records.end() && it->second.record.token == record.token;
		if (!sameSource)
		{
			const auto counted = _perSource.find(record.source);
			if (counted != _perSource.end() && counted->second >= limits.maxPerSource) return PutResult::SOURCE_FULL;
			if (limits.maxPerSource == 0) return PutResult::SOURCE_FULL;
		}
		if (!sameToken && !record.token.empty() && limits.maxPerToken != 0)
		{
			const auto counted = _perToken.find(record.token);
			if (counted != _perToken.end() && counted->second >= limits.maxPerToken) return PutResult::TOKEN_FULL;
		}
		if (it == _records.end() && _records.size() >= limits.maxRecords) return PutResult::FULL;

		if (it != _records.end())
		{
			unlistLocked(it->second.record);
			if (!sameSource) releaseSourceLocked(it->second.record.source);
			if (!sameToken) releaseTokenLocked(it->second.record.token);
			_expiry.erase(it->second.expiry);
			it->second.record = record;
			it->second.answers[0].reset();
			it->second.answers[1].reset();
		}
		else
		{
			it = _records.emplace(record.id, Stored{record, Expiry::iterator(), 0, {}}).first;
		}
		it->second.version = ++_versions;
		if (!sameSource) ++_perSource[record.source];
		if (!sameToken && !record.token.empty()) ++_perToken[record.token];
		it->second.expiry = _expiry.emplace(record.expires, record.id);
		listLocked(record);

		const auto recent = std::find(_recent.begin(), _recent.end(), record.id);
		if (recent != _recent.end()) _recent.erase(recent);
		if (record.directory)
		{
			_recent.push_front(record.id);
			if (_recent.size() > RECENT_LIMIT) _recent.pop_back();
		}
	}
	persist(record, durable);
	return PutResult::OK;
}


void MemoryPeerRegistry::persist(const PeerRecord&, const CommitTicket::Ptr& durable)
{
	if (durable) durable->complete(true);   // nothing outlives this process anyway
}


bool MemoryPeerRegistry::remove(const PeerId& id)
{
	std::unique_lock<std::shared_mutex> lock(_mutex);
	const auto it = _records.find(id);
	if (it == _records.end()) return false;
	eraseLocked(it);
	return true;
}


std::optional<PeerRecord> MemoryPeerRegistry::find(const PeerId& id, Clock::time_point now) const
{
	std::shared_lock<std::shared_mutex> lock(_mutex);
	const auto it = _records.find(id);
	if (it == _records.end() || it->second.record.expires <= now) return std::nullopt;
	return it->second.record;
}


PeerLookup MemoryPeerRegistry::lookup(const PeerId& id, bool online, Clock::time_point now) const
{
	PeerLookup result;
	std::shared_lock<std::shared_mutex> lock(_mutex);
	const auto it = _records.find(id);
	if (it == _records.end() || it->second.record.expires <= now) return result;
	result.found = true;
	result.version = it->second.version;
	result.answer = it->second.answers[online ? 1 : 0];
	if (!result.answer) result.record = it->second.record;
	return result;
}


void MemoryPeerRegistry::keepAnswer(const PeerId& id, std::uint64_t version, bool online,
	const std::shared_ptr<const std::string>& answer)
{
	std::unique_lock<std::shared_mutex> lock(_mutex);
	const auto it = _records.find(id);
	if (it == _records.end() || it->second.version != version) return;
	it->second.answers[online ? 1 : 0] = answer;
}


void MemoryPeerRegistry::setOnline(const PeerId& id, bool online)
{
	std::unique_lock<std::shared_mutex> lock(_mutex);
	const auto it = _records.find(id);
	if (online)
	{
		_online.insert(id);
		if (it != _records.end()) listLocked(it->second.record);
	}
	else
	{
		_online.erase(id);
		if (it != _records.end()) unlistLocked(it->second.record);
	}
}


DirectoryPage MemoryPeerRegistry::directory(const std::string& text, std::size_t offset, std::size_t limit,
	Clock::time_point now) const
{
	const std::string needle = Poco::toLower(text);
	DirectoryPage page;
	std::shared_lock<std::shared_mutex> lock(_mutex);
	if (needle.empty() && offset >= _directory.size())
	{
		page.total = _directory.size();
		return page;
	}
	for (const DirectoryKey& key: _directory)
	{
		if (!needle.empty() && key.first.find(needle) == std::string::npos) continue;
		const auto it = _records.find(key.second);
		if (it == _records.end() || it->second.record.expires <= now) continue;
		if (page.total++ < offset || page.entries.size() >= limit)
		{
			// Without a search text every listed record matches: the count is known.
			if (needle.empty() && page.entries.size() >= limit)
			{
				page.total = _directory.size();
				break;
			}
			continue;
		}
		const PeerRecord& record = it->second.record;
		page.entries.push_back(DirectoryEntry{record.id, record.name, record.lastSeenMs});
	}
	return page;
}


std::vector<PeerRecord> MemoryPeerRegistry::recent(std::size_t limit, Clock::time_point now) const
{
	std::vector<PeerRecord> result;
	std::shared_lock<std::shared_mutex> lock(_mutex);
	for (const PeerId& id: _recent)
	{
		if (result.size() >= limit) break;
		const auto it = _records.find(id);
		if (it != _records.end() && it->second.record.expires > now) result.push_back(it->second.record);
	}
	return result;
}


std::size_t MemoryPeerRegistry::sweep(Clock::time_point now)
{
	std::unique_lock<std::shared_mutex> lock(_mutex);
	std::size_t removed = 0;
	while (!_expiry.empty() && _expiry.begin()->first <= now)
	{
		const auto it = _records.find(_expiry.begin()->second);
		if (it == _records.end())
		{
			_expiry.erase(_expiry.begin());   // cannot happen: records and expiry change together
			continue;
		}
		eraseLocked(it);
		++removed;
	}
	return removed;
}


std::size_t MemoryPeerRegistry::size() const
{
	std::shared_lock<std::shared_mutex> lock(_mutex);
	return _records.size();
}


std::size_t MemoryPeerRegistry::listed() const
{
	std::shared_lock<std::shared_mutex> lock(_mutex);
	return _directory.size();
}


std::size_t MemoryPeerRegistry::sources() const
{
	std::shared_lock<std::shared_mutex> lock(_mutex);
	return _perSource.size();
}


} } // namespace CrossChat::Relay
