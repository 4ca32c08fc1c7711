//
// Outbox.cpp
//
// Library: Chat
//


#include "Outbox.h"
#include "Poco/Exception.h"
#include <algorithm>


namespace CrossChat {
namespace Chat {


void Outbox::push(Entry entry)
{
	if (contains(entry.id)) throw Poco::InvalidArgumentException("message " + entry.id + " is queued already");
	entry.writtenOn = 0;
	entry.writtenAt = {};
	_entries.push_back(std::move(entry));
}


bool Outbox::empty() const
{
	return _entries.empty();
}


std::size_t Outbox::size() const
{
	return _entries.size();
}


const std::deque<Outbox::Entry>& Outbox::entries() const
{
	return _entries;
}


bool Outbox::contains(const std::string& id) const
{
	return std::any_of(_entries.begin(), _entries.end(), [&id](const Entry& e) { return e.id == id; });
}


std::vector<const Outbox::Entry*> Outbox::unwritten(std::uint64_t session) const
{
	std::vector<const Entry*> result;
	for (const Entry& entry: _entries)
		if (entry.writtenOn != session) result.push_back(&entry);
	return result;
}


void Outbox::markWritten(const std::string& id, std::uint64_t session, Scheduler::TimePoint now)
{
	auto it = std::find_if(_entries.begin(), _entries.end(), [&id](const Entry& e) { return e.id == id; });
	if (it == _entries.end()) return;
	it->writtenOn = session;
	it->writtenAt = now;
}


std::optional<Outbox::Entry> Outbox::acknowledge(const std::string& id)
{
	return remove(id);
}


std::optional<Outbox::Entry> Outbox::refuse(const std::string& id)
{
	return remove(id);
}


std::optional<Outbox::Entry> Outbox::remove(const std::string& id)
{
	auto it = std::find_if(_entries.begin(), _entries.end(), [&id](const Entry& e) { return e.id == id; });
	if (it == _entries.end()) return std::nullopt;
	Entry entry = std::move(*it);
	_entries.erase(it);
	return entry;
}


std::optional<Scheduler::TimePoint> Outbox::oldestWaiting(std::uint64_t session) const
{
	if (_entries.empty() || session == 0 || _entries.front().writtenOn != session) return std::nullopt;
	return _entries.front().writtenAt;
}


void Outbox::clear()
{
	_entries.clear();
}


} } // namespace CrossChat::Chat
