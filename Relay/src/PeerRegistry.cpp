//
// PeerRegistry.cpp
//
// Library: Relay
//


#include "PeerRegistry.h"
#include "Poco/String.h"
#include <algorithm>


namespace CrossChat {
namespace Relay {


PeerRegistry::~PeerRegistry() = default;


MemoryPeerRegistry::MemoryPeerRegistry() = default;


MemoryPeerRegistry::~MemoryPeerRegistry() = default;


bool MemoryPeerRegistry::put(const PeerRecord& record, std::size_t maxRecords)
{
	std::lock_guard<std::mutex> lock(_mutex);
	auto it = _records.find(record.id);
	if (it != _records.end())
	{
		it->second = record;
		return true;
	}
	if (_records.size() >= maxRecords) return false;
	_records.emplace(record.id, record);
	return true;
}


bool MemoryPeerRegistry::remove(const PeerId& id)
{
	std::lock_guard<std::mutex> lock(_mutex);
	return _records.erase(id) != 0;
}


std::optional<PeerRecord> MemoryPeerRegistry::find(const PeerId& id, Clock::time_point now) const
{
	std::lock_guard<std::mutex> lock(_mutex);
	const auto it = _records.find(id);
	if (it == _records.end() || it->second.expires <= now) return std::nullopt;
	return it->second;
}


DirectoryPage MemoryPeerRegistry::directory(const std::string& text, std::size_t offset, std::size_t limit,
	Clock::time_point now) const
{
	const std::string needle = Poco::toLower(text);
	std::vector<const PeerRecord*> matches;
	DirectoryPage page;
	std::lock_guard<std::mutex> lock(_mutex);
	for (const auto& entry: _records)
	{
		const PeerRecord& record = entry.second;
		if (!record.directory || record.expires <= now) continue;
		if (!needle.empty() && Poco::toLower(record.name).find(needle) == std::string::npos) continue;
		matches.push_back(&record);
	}
	std::sort(matches.begin(), matches.end(), [](const PeerRecord* pA, const PeerRecord* pB)
	{
		const int order = Poco::icompare(pA->name, pB->name);
		if (order != 0) return order < 0;
		return pA->id < pB->id;
	});
	page.total = matches.size();
	for (std::size_t i = offset; i < matches.size() && page.records.size() < limit; ++i)
		page.records.push_back(*matches[i]);
	return page;
}


std::vector<PeerRecord> MemoryPeerRegistry::recent(std::size_t limit, Clock::time_point now) const
{
	std::vector<PeerRecord> result;
	{
		std::lock_guard<std::mutex> lock(_mutex);
		for (const auto& entry: _records)
		{
			if (entry.second.expires > now) result.push_back(entry.second);
		}
	}
	std::sort(result.begin(), result.end(), [](const PeerRecord& a, const PeerRecord& b)
	{
		return a.lastSeenMs > b.lastSeenMs;
	});
	if (result.size() > limit) result.resize(limit);
	return result;
}


std::size_t MemoryPeerRegistry::sweep(Clock::time_point now)
{
	std::lock_guard<std::mutex> lock(_mutex);
	std::size_t removed = 0;
	for (auto it = _records.begin(); it != _records.end();)
	{
		if (it->second.expires <= now)
		{
			it = _records.erase(it);
			++removed;
		}
		else ++it;
	}
	return removed;
}


std::size_t MemoryPeerRegistry::size() const
{
	std::lock_guard<std::mutex> lock(_mutex);
	return _records.size();
}


} } // namespace CrossChat::Relay
