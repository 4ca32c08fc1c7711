//
// PrekeyBook.cpp
//
// Library: Relay
//


#include "PrekeyBook.h"
#include "RelayStore.h"
#include "CrossChat/Relay/RelayProtocol.h"
#include "Poco/Data/LOB.h"
#include "Poco/Data/Statement.h"
#include "Poco/JSON/Parser.h"
#include "Poco/Tuple.h"
#include <algorithm>
#include <sstream>


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


std::string bundleJson(const std::vector<Prekey>& prekeys)
{
	std::ostringstream out;
	Prekey::listToJson(prekeys)->stringify(out);
	return out.str();
}


} // namespace


PrekeyBook::PrekeyBook(RelayStore* pStore):
	_pStore(pStore)
{
}


PrekeyBook::~PrekeyBook() = default;


void PrekeyBook::eraseLocked(std::unordered_map<PeerId, Entry>::iterator it)
{
	const auto counted = _perSource.find(it->second.bundle.source);
	if (counted != _perSource.end() && --counted->second == 0) _perSource.erase(counted);
	_expiry.erase(it->second.expiry);
	_bundles.erase(it);
}


void PrekeyBook::putLocked(const PrekeyBundle& bundle)
{
	++_perSource[bundle.source];
	const auto expiry = _expiry.emplace(bundle.expiresMs, bundle.id);
	_bundles[bundle.id] = Entry{bundle, expiry};
}


PrekeyBook::PutResult PrekeyBook::put(const PrekeyBundle& bundle, std::size_t maxBundles, std::size_t maxPerSource,
	const CommitTicket::Ptr& durable)
{
	{
		std::lock_guard<std::mutex> lock(_mutex);
		auto it = _bundles.find(bundle.id);
		if (bundle.prekeys.empty())
		{
			if (it != _bundles.end()) eraseLocked(it);
		}
		else
		{
			const bool sameSource = it != _bundles.end() && it->second.bundle.source == bundle.source;
			if (!sameSource)
			{
				const auto counted = _perSource.find(bundle.source);
				if (maxPerSource == 0 || (counted != _perSource.end() && counted->second >= maxPerSource))
					return PutResult::SOURCE_FULL;
			}
			if (it == _bundles.end() && _bundles.size() >= maxBundles) return PutResult::FULL;
			if (it != _bundles.end()) eraseLocked(it);
			putLocked(bundle);
		}
	}
	write(bundle, durable);
	return PutResult::OK;
}


void PrekeyBook::write(const PrekeyBundle& bundle, const CommitTicket::Ptr& durable)
{
	if (!_pStore)
	{
		if (durable) durable->complete(true);
		return;
	}
	const std::string json = bundleJson(bundle.prekeys);
	_pStore->submit([bundle, json](Poco::Data::Session& session) {
		const auto& bytes = bundle.id.bytes();
		BLOB id(bytes.data(), bytes.size());
		if (bundle.prekeys.empty())
		{
			session << "DELETE FROM prekeys WHERE peer_id = ?", use(id), now;
			return;
		}
		BLOB key(reinterpret_cast<const unsigned char*>(bundle.publicKeyRaw.data()), bundle.publicKeyRaw.size());
		std::string text = json;
		std::string source = bundle.source.toString();
		Poco::Int64 expires = bundle.expiresMs;
		session << "INSERT INTO prekeys (peer_id, public_key, bundle, source, expires_ms) VALUES (?, ?, ?, ?, ?)"
			" ON CONFLICT (peer_id) DO UPDATE SET public_key = excluded.public_key, bundle = excluded.bundle,"
			" source = excluded.source, expires_ms = excluded.expires_ms",
			use(id), use(key), use(text), use(source), use(expires), now;
	}, durable ? durable->completer() : RelayStore::Done());
}


std::optional<PrekeyBundle> PrekeyBook::find(const PeerId& id, std::int64_t nowMs) const
{
	std::lock_guard<std::mutex> lock(_mutex);
	const auto it = _bundles.find(id);
	if (it == _bundles.end()) return std::nullopt;
	PrekeyBundle bundle = it->second.bundle;
	bundle.prekeys.erase(std::remove_if(bundle.prekeys.begin(), bundle.prekeys.end(),
		[nowMs](const Prekey& prekey) { return prekey.expiresMs <= nowMs; }), bundle.prekeys.end());
	if (bundle.prekeys.empty()) return std::nullopt;
	return bundle;
}


std::size_t PrekeyBook::sweep(std::int64_t nowMs)
{
	std::size_t removed = 0;
	{
		std::lock_guard<std::mutex> lock(_mutex);
		while (!_expiry.empty() && _expiry.begin()->first <= nowMs)
		{
			const auto it = _bundles.find(_expiry.begin()->second);
			if (it == _bundles.end())
			{
				_expiry.erase(_expiry.begin());
				continue;
			}
			eraseLocked(it);
			++removed;
		}
	}
	if (_pStore && removed > 0)
	{
		_pStore->submit([nowMs](Poco::Data::Session& session) {
			Poco::Int64 cutoff = nowMs;
			session << "DELETE FROM prekeys WHERE expires_ms <= ?", use(cutoff), now;
		});
	}
	return removed;
}


std::size_t PrekeyBook::load(std::int64_t nowMs)
{
	if (!_pStore) return 0;
	using Row = Poco::Tuple<BLOB, BLOB, std::string, std::string, Poco::Int64>;
	std::vector<Row> rows;
	Poco::Int64 cutoff = nowMs;
	_pStore->read([&rows, &cutoff](Poco::Data::Session& session) {
		session << "SELECT peer_id, public_key, bundle, source, expires_ms FROM prekeys WHERE expires_ms > ?",
			use(cutoff), into(rows), now;
	});
	std::size_t loaded = 0;
	std::lock_guard<std::mutex> lock(_mutex);
	for (const Row& row: rows)
	{
		const std::string id = textOf(row.get<0>());
		if (id.size() != PeerId::SIZE) continue;
		PrekeyBundle bundle;
		bundle.id = PeerId::fromBytes(id);
		bundle.publicKeyRaw = textOf(row.get<1>());
		try
		{
			Poco::JSON::Parser parser;
			Poco::JSON::Array::Ptr pArray = parser.parse(row.get<2>()).extract<Poco::JSON::Array::Ptr>();
			bundle.prekeys = Prekey::listFromJson(*pArray, RelayProtocol::MAX_PREKEYS);
		}
		catch (const Poco::Exception&)
		{
			continue;   // the relay wrote it: only a damaged file has these
		}
		bundle.source = SourceKey::parse(row.get<3>());
		bundle.expiresMs = row.get<4>();
		if (_bundles.count(bundle.id)) continue;
		putLocked(bundle);
		++loaded;
	}
	return loaded;
}


std::size_t PrekeyBook::size() const
{
	std::lock_guard<std::mutex> lock(_mutex);
	return _bundles.size();
}


} } // namespace CrossChat::Relay
