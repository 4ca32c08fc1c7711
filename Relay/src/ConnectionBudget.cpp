//
// ConnectionBudget.cpp
//
// Library: Relay
//


#include "ConnectionBudget.h"
#include <algorithm>


namespace CrossChat {
namespace Relay {


ConnectionSlot::ConnectionSlot(ConnectionBudget* pBudget, ConnectionKind kind, const SourceKey& source):
	_pBudget(pBudget),
	_kind(kind),
	_source(source)
{
}


ConnectionSlot::ConnectionSlot(ConnectionSlot&& other) noexcept:
	_pBudget(other._pBudget),
	_kind(other._kind),
	_source(other._source)
{
	other._pBudget = nullptr;
}


ConnectionSlot& ConnectionSlot::operator=(ConnectionSlot&& other) noexcept
{
	if (this != &other)
	{
		release();
		_pBudget = other._pBudget;
		_kind = other._kind;
		_source = other._source;
		other._pBudget = nullptr;
	}
	return *this;
}


ConnectionSlot::~ConnectionSlot()
{
	release();
}


bool ConnectionSlot::valid() const
{
	return _pBudget != nullptr;
}


void ConnectionSlot::release()
{
	if (_pBudget)
	{
		_pBudget->release(_kind, _source);
		_pBudget = nullptr;
	}
}


ConnectionBudget::ConnectionBudget(const Limits& limits):
	_limits(limits)
{
}


ConnectionSlot ConnectionBudget::tryReserve(ConnectionKind kind, const SourceKey& source, Refusal* pRefusal, bool sourceExempt)
{
	const auto k = static_cast<std::size_t>(kind);
	std::lock_guard<std::mutex> lock(_mutex);
	if (_counts[k] >= _limits.total[k])
	{
		if (pRefusal) *pRefusal = Refusal::TOTAL;
		return ConnectionSlot();
	}
	auto it = _bySource.find(source);
	if (!sourceExempt && it != _bySource.end() && it->second[k] >= _limits.perSource[k])
	{
		if (pRefusal) *pRefusal = Refusal::SOURCE;
		return ConnectionSlot();
	}
	if (!sourceExempt && _limits.perSource[k] == 0)
	{
		if (pRefusal) *pRefusal = Refusal::SOURCE;
		return ConnectionSlot();
	}
	if (it == _bySource.end()) it = _bySource.emplace(source, Counts{}).first;
	++it->second[k];
	++_counts[k];
	if (pRefusal) *pRefusal = Refusal::NONE;
	return ConnectionSlot(this, kind, source);
}


void ConnectionBudget::release(ConnectionKind kind, const SourceKey& source)
{
	const auto k = static_cast<std::size_t>(kind);
	std::lock_guard<std::mutex> lock(_mutex);
	if (_counts[k] > 0) --_counts[k];
	const auto it = _bySource.find(source);
	if (it == _bySource.end()) return;
	if (it->second[k] > 0) --it->second[k];
	if (std::all_of(it->second.begin(), it->second.end(), [](unsigned n) { return n == 0; })) _bySource.erase(it);
}


unsigned ConnectionBudget::count(ConnectionKind kind) const
{
	std::lock_guard<std::mutex> lock(_mutex);
	return _counts[static_cast<std::size_t>(kind)];
}


unsigned ConnectionBudget::countOf(ConnectionKind kind, const SourceKey& source) const
{
	std::lock_guard<std::mutex> lock(_mutex);
	const auto it = _bySource.find(source);
	return it == _bySource.end() ? 0 : it->second[static_cast<std::size_t>(kind)];
}


unsigned ConnectionBudget::total(ConnectionKind kind) const
{
	return _limits.total[static_cast<std::size_t>(kind)];
}


unsigned ConnectionBudget::perSource(ConnectionKind kind) const
{
	return _limits.perSource[static_cast<std::size_t>(kind)];
}


std::size_t ConnectionBudget::sources() const
{
	std::lock_guard<std::mutex> lock(_mutex);
	return _bySource.size();
}


const char* ConnectionBudget::kindName(ConnectionKind kind)
{
	switch (kind)
	{
	case ConnectionKind::HTTP: return "http";
	case ConnectionKind::CONTROL: return "control";
	case ConnectionKind::TUNNEL: return "tunnel";
	case ConnectionKind::PROBE: return "probe";
	case ConnectionKind::COUNT: break;
	}
	return "unknown";
}


} } // namespace CrossChat::Relay
