//
// HandleBook.cpp
//
// Library: Relay
//


#include "HandleBook.h"
#include "RelayStore.h"
#include "Poco/Data/LOB.h"
#include "Poco/Data/Statement.h"
#include "Poco/Tuple.h"
#include <vector>


using namespace Poco::Data::Keywords;
using Poco::Data::BLOB;


namespace CrossChat {
namespace Relay {


namespace {


std::string textOf(const BLOB& blob)
{
	if (blob.size() == 0) return std::string();
	return std::string(reinterpret_cast<const char*>(blob.rawContent()), blob.size());
}


BLOB blobOf(const std::string& bytes)
{
	return BLOB(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size());
}


} // namespace


HandleBook::HandleBook(RelayStore* pStore, std::int64_t releaseAfterMs):
	_pStore(pStore),
	_releaseAfterMs(releaseAfterMs)
{
}


HandleBook::~HandleBook() = default;


bool HandleBook::expired(const HandleRecord& record, std::int64_t nowMs) const
{
	return record.renewedMs + _releaseAfterMs <= nowMs;
}


void HandleBook::eraseLocked(std::unordered_map<std::string, HandleRecord>::iterator it)
{
	const auto counted = _perSource.find(it->second.source);
	if (counted != _perSource.end() && --counted->second == 0) _perSource.erase(counted);
	_byPeer.erase(it->second.id);
	_written.erase(it->first);
	_byHandle.erase(it);
}


HandleBook::ClaimResult HandleBook::claim(const HandleRecord& record, std::size_t maxHandles, std::size_t maxPerSource,
	const CommitTicket::Ptr& durable)
{
	std::string released;
	HandleRecord stored = record;
	{
		std::lock_guard<std::mutex> lock(_mutex);
		auto it = _byHandle.find(record.handle);
		if (it != _byHandle.end() && it->second.id != record.id && !expired(it->second, record.renewedMs)) return ClaimResult::TAKEN;
		const bool renewal = it != _byHandle.end() && it->second.id == record.id;
		if (!renewal)
		{
			const auto counted = _perSource.find(record.source);
			if (maxPerSource == 0 || (counted != _perSource.end() && counted->second >= maxPerSource)) return ClaimResult::SOURCE_FULL;
			// The peer's previous handle (if any) is given up for this one.
			const auto previous = _byPeer.find(record.id);
			const bool replacing = previous != _byPeer.end();
			if (it == _byHandle.end() && !replacing && _byHandle.size() >= maxHandles) return ClaimResult::FULL;
			if (replacing)
			{
				released = previous->second;
				const auto old = _byHandle.find(released);
				if (old != _byHandle.end()) eraseLocked(old);
				it = _byHandle.find(record.handle);
			}
			if (it != _byHandle.end()) eraseLocked(it);   // an expired claim of another key
			++_perSource[record.source];
		}
		else
		{
			stored.claimedMs = it->second.claimedMs;
			if (it->second.source != record.source)
			{
				const auto counted = _perSource.find(it->second.source);
				if (counted != _perSource.end() && --counted->second == 0) _perSource.erase(counted);
				++_perSource[record.source];
			}
		}
		_byHandle[stored.handle] = stored;
		_byPeer[stored.id] = stored.handle;
		_written[stored.handle] = stored.renewedMs;
	}
	if (!released.empty() && released != stored.handle) erase(released);
	write(stored, durable);
	return ClaimResult::OK;
}


void HandleBook::write(const HandleRecord& record, const CommitTicket::Ptr& durable)
{
	if (!_pStore)
	{
		if (durable) durable->complete(true);
		return;
	}
	_pStore->submit([record](Poco::Data::Session& session) {
		std::string handle = record.handle;
		const auto& bytes = record.id.bytes();
		BLOB id(bytes.data(), bytes.size());
		BLOB key = blobOf(record.publicKeyRaw);
		Poco::Int64 claimTs = record.claimTs;
		BLOB signature = blobOf(record.claimSignature);
		Poco::Int64 claimed = record.claimedMs;
		Poco::Int64 renewed = record.renewedMs;
		std::string source = record.source.toString();
		std::string token = record.token;
		// A handle and a peer have one row each: whatever either had before goes.
		session << "DELETE FROM handles WHERE peer_id = ? AND handle <> ?", use(id), use(handle), now;
		session << "INSERT INTO handles (handle, peer_id, public_key, claim_ts, claim_signature, claimed_ms, renewed_ms, source, token)"
			" VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (handle) DO UPDATE SET peer_id = excluded.peer_id,"
			" public_key = excluded.public_key, claim_ts = excluded.claim_ts, claim_signature = excluded.claim_signature,"
			" claimed_ms = excluded.claimed_ms, renewed_ms = excluded.renewed_ms, source = excluded.source, token = excluded.token",
			use(handle), use(id), use(key), use(claimTs), use(signature), use(claimed), use(renewed), use(source), use(token), now;
	}, durable ? durable->completer() : RelayStore::Done());
}


void HandleBook::erase(const std::string& handle)
{
	if (!_pStore) return;
	_pStore->submit([handle](Poco::Data::Session& session) {
		std::string name = handle;
		session << "DELETE FROM handles WHERE handle = ?", use(name), now;
	});
}


std::optional<HandleRecord> HandleBook::find(const std::string& handle, std::int64_t nowMs) const
{
	std::lock_guard<std::mutex> lock(_mutex);
	const auto it = _byHandle.find(handle);
	if (it == _byHandle.end() || expired(it->second, nowMs)) return std::nullopt;
	return it->second;
}


std::optional<std::string> HandleBook::handleOf(const PeerId& id, std::int64_t nowMs) const
{
	std::lock_guard<std::mutex> lock(_mutex);
	const auto it = _byPeer.find(id);
	if (it == _byPeer.end()) return std::nullopt;
	const auto record = _byHandle.find(it->second);
	if (record == _byHandle.end() || expired(record->second, nowMs)) return std::nullopt;
	return it->second;
}


void HandleBook::renew(const PeerId& id, std::int64_t nowMs)
{
	std::string handle;
	{
		std::lock_guard<std::mutex> lock(_mutex);
		const auto it = _byPeer.find(id);
		if (it == _byPeer.end()) return;
		auto record = _byHandle.find(it->second);
		if (record == _byHandle.end() || expired(record->second, nowMs)) return;
		record->second.renewedMs = nowMs;
		std::int64_t& written = _written[it->second];
		if (nowMs - written < std::max<std::int64_t>(1000, _releaseAfterMs / RENEW_WRITE_FRACTION)) return;
		written = nowMs;
		handle = it->second;
	}
	if (!_pStore) return;
	_pStore->submit([handle, nowMs](Poco::Data::Session& session) {
		std::string name = handle;
		Poco::Int64 renewed = nowMs;
		session << "UPDATE handles SET renewed_ms = ? WHERE handle = ?", use(renewed), use(name), now;
	});
}


bool HandleBook::release(const PeerId& id)
{
	std::string handle;
	{
		std::lock_guard<std::mutex> lock(_mutex);
		const auto it = _byPeer.find(id);
		if (it == _byPeer.end()) return false;
		handle = it->second;
		const auto record = _byHandle.find(handle);
		if (record != _byHandle.end()) eraseLocked(record);
		else _byPeer.erase(it);
	}
	erase(handle);
	return true;
}


std::size_t HandleBook::sweep(std::int64_t nowMs)
{
	std::vector<std::string> released;
	{
		// Linear in the handles held, once per sweep period (at most a minute): renewals move
		// every handle's deadline, which an ordered index would have to follow on every announce.
		std::lock_guard<std::mutex> lock(_mutex);
		for (auto it = _byHandle.begin(); it != _byHandle.end();)
		{
			if (expired(it->second, nowMs))
			{
				released.push_back(it->first);
				auto next = std::next(it);
				eraseLocked(it);
				it = next;
			}
			else
			{
				++it;
			}
		}
	}
	if (_pStore && !released.empty())
	{
		const std::int64_t cutoff = nowMs - _releaseAfterMs;
		_pStore->submit([cutoff](Poco::Data::Session& session) {
			Poco::Int64 before = cutoff;
			session << "DELETE FROM handles WHERE renewed_ms <= ?", use(before), now;
		});
	}
	return released.size();
}


std::size_t HandleBook::load(std::int64_t nowMs)
{
	if (!_pStore) return 0;
	using Row = Poco::Tuple<std::string, BLOB, BLOB, Poco::Int64, BLOB, Poco::Int64, Poco::Int64, std::string, std::string>;
	std::vector<Row> rows;
	_pStore->read([&rows](Poco::Data::Session& session) {
		session << "SELECT handle, peer_id, public_key, claim_ts, claim_signature, claimed_ms, renewed_ms, source, token"
			" FROM handles", into(rows), now;
	});
	std::size_t loaded = 0;
	std::lock_guard<std::mutex> lock(_mutex);
	for (const Row& row: rows)
	{
		HandleRecord record;
		record.handle = row.get<0>();
		const std::string id = textOf(row.get<1>());
		if (id.size() != PeerId::SIZE) continue;
		record.id = PeerId::fromBytes(id);
		record.publicKeyRaw = textOf(row.get<2>());
		record.claimTs = row.get<3>();
		record.claimSignature = textOf(row.get<4>());
		record.claimedMs = row.get<5>();
		record.renewedMs = row.get<6>();
		record.source = SourceKey::parse(row.get<7>());
		record.token = row.get<8>();
		if (expired(record, nowMs) || _byHandle.count(record.handle) || _byPeer.count(record.id)) continue;
		++_perSource[record.source];
		_byPeer[record.id] = record.handle;
		_written[record.handle] = record.renewedMs;
		_byHandle[record.handle] = record;
		++loaded;
	}
	return loaded;
}


std::size_t HandleBook::size() const
{
	std::lock_guard<std::mutex> lock(_mutex);
	return _byHandle.size();
}


} } // namespace CrossChat::Relay
