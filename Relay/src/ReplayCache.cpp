//
// ReplayCache.cpp
//
// Library: Relay
//


#include "ReplayCache.h"
#include "CrossChat/FoundationException.h"
#include "Poco/SHA2Engine.h"
#include <openssl/rand.h>
#include <algorithm>
#include <cstring>


namespace CrossChat {
namespace Relay {


namespace {


const std::array<unsigned char, 16>& fingerprintKey()
{
	static const std::array<unsigned char, 16> key = [] {
		std::array<unsigned char, 16> bytes{};
		if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) throw CryptoException("RAND_bytes failed");
		return bytes;
	}();
	return key;
}


} // namespace


bool ReplayCache::FlatSet::contains(std::uint64_t value) const
{
	if (_table.empty()) return false;
	const std::size_t mask = _table.size() - 1;
	for (std::size_t i = static_cast<std::size_t>(value) & mask;; i = (i + 1) & mask)
	{
		if (_table[i] == value) return true;
		if (_table[i] == 0) return false;
	}
}


void ReplayCache::FlatSet::insert(std::uint64_t value)
{
	if ((_size + 1) * 2 > _table.size())
	{
		std::vector<std::uint64_t> old;
		old.swap(_table);
		_table.assign(std::max<std::size_t>(64, old.size() * 2), 0);
		_size = 0;
		for (std::uint64_t item: old)
		{
			if (item != 0) insert(item);
		}
	}
	const std::size_t mask = _table.size() - 1;
	for (std::size_t i = static_cast<std::size_t>(value) & mask;; i = (i + 1) & mask)
	{
		if (_table[i] == value) return;
		if (_table[i] == 0)
		{
			_table[i] = value;
			++_size;
			return;
		}
	}
}


std::size_t ReplayCache::FlatSet::size() const
{
	return _size;
}


void ReplayCache::FlatSet::clear()
{
	std::vector<std::uint64_t>().swap(_table);   // give the memory back
	_size = 0;
}


ReplayCache::ReplayCache(std::size_t capacity, std::size_t perSource, Clock::duration window):
	_capacity(capacity),
	_perSource(std::min(perSource, capacity)),
	_period(std::max<Clock::duration>(std::chrono::milliseconds(1), window / static_cast<int>(SLOTS))),
	_origin(Clock::now() - std::chrono::hours(24))   // any fixed point before every "now"
{
}


std::uint64_t ReplayCache::fingerprint(const std::string& publicKeyRaw, const std::string& nonce)
{
	Poco::SHA2Engine sha256(Poco::SHA2Engine::SHA_256);
	sha256.update(fingerprintKey().data(), static_cast<unsigned>(fingerprintKey().size()));
	const unsigned char sizes[2] = {static_cast<unsigned char>(publicKeyRaw.size()), static_cast<unsigned char>(nonce.size())};
	sha256.update(sizes, sizeof(sizes));
	sha256.update(publicKeyRaw);
	sha256.update(nonce);
	const Poco::DigestEngine::Digest& digest = sha256.digest();
	std::uint64_t value = 0;
	std::memcpy(&value, digest.data(), sizeof(value));
	return value == 0 ? 1 : value;   // 0 marks an empty place in the sets
}


void ReplayCache::expire(std::int64_t current)
{
	for (Slot& slot: _slots)
	{
		if (slot.index < 0 || slot.index > current - static_cast<std::int64_t>(SLOTS + 1)) continue;
		_size -= slot.set.size();
		for (const auto& entry: slot.perSource)
		{
			const auto it = _live.find(entry.first);
			if (it == _live.end()) continue;
			it->second -= std::min(it->second, entry.second);
			if (it->second == 0) _live.erase(it);
		}
		slot.set.clear();
		slot.perSource.clear();
		slot.index = -1;
	}
}


ReplayCache::Result ReplayCache::insert(const SourceKey& source, std::uint64_t fingerprint, Clock::time_point now)
{
	const std::int64_t current = std::max<std::int64_t>(0, (now - _origin) / _period);
	std::lock_guard<std::mutex> lock(_mutex);
	// Slot i holds period index i (mod SLOTS + 1); an entry of period p is dropped once the
	// current period is p + SLOTS + 1, that is after at least SLOTS periods (= window).
	expire(current);
	for (const Slot& slot: _slots)
	{
		if (slot.index >= 0 && slot.set.contains(fingerprint)) return Result::REPLAYED;
	}
	const auto live = _live.find(source);
	if (live != _live.end() && live->second >= _perSource) return Result::SOURCE_FULL;
	if (_size >= _capacity) return Result::FULL;
	Slot& slot = _slots[static_cast<std::size_t>(current % static_cast<std::int64_t>(SLOTS + 1))];
	if (slot.index != current)
	{
		// expire() has emptied it unless it still holds a live period, which cannot happen.
		slot.set.clear();
		slot.perSource.clear();
		slot.index = current;
	}
	slot.set.insert(fingerprint);
	++slot.perSource[source];
	++_live[source];
	++_size;
	return Result::FRESH;
}


std::size_t ReplayCache::size() const
{
	std::lock_guard<std::mutex> lock(_mutex);
	return _size;
}


std::size_t ReplayCache::sources() const
{
	std::lock_guard<std::mutex> lock(_mutex);
	return _live.size();
}


std::size_t ReplayCache::capacity() const
{
	return _capacity;
}


std::size_t ReplayCache::perSource() const
{
	return _perSource;
}


} } // namespace CrossChat::Relay
