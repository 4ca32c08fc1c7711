//
// RelayBook.cpp
//
// Library: Chat
//


#include "RelayBook.h"
#include "Poco/Data/LOB.h"
#include "Poco/Data/Session.h"
#include "Poco/Data/Statement.h"
#include "Poco/Tuple.h"


using namespace Poco::Data::Keywords;
using Poco::Data::BLOB;


namespace CrossChat {
namespace Chat {


namespace {


BLOB blobOf(const PeerId& peer)
{
	return BLOB(peer.bytes().data(), peer.bytes().size());
}


BLOB blobOf(const std::string& bytes)
{
	return BLOB(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size());
}


std::string textOf(const BLOB& blob)
{
	if (blob.size() == 0) return std::string();
	return std::string(reinterpret_cast<const char*>(blob.rawContent()), blob.size());
}


} // namespace


RelayBook::RelayBook(ChatStore& store):
	_store(store)
{
}


std::optional<HandlePin> RelayBook::pin(const std::string& handle, const std::string& relay)
{
	std::string name = handle;
	std::string where = relay;
	std::vector<Poco::Tuple<BLOB, Poco::Int64, Poco::Int64>> rows;
	_store.database() << "SELECT peer_id, pinned_ms, seen_ms FROM handle_pins WHERE handle = ? AND relay = ?",
		use(name), use(where), into(rows), now;
	if (rows.empty()) return std::nullopt;
	const std::string id = textOf(rows.front().get<0>());
	if (id.size() != PeerId::SIZE) return std::nullopt;
	HandlePin result;
	result.handle = handle;
	result.relay = relay;
	result.peer = PeerId::fromBytes(id);
	result.pinnedMs = rows.front().get<1>();
	result.seenMs = rows.front().get<2>();
	return result;
}


void RelayBook::setPin(const std::string& handle, const std::string& relay, const PeerId& peer, std::int64_t nowMs)
{
	std::string name = handle;
	std::string where = relay;
	BLOB id = blobOf(peer);
	Poco::Int64 time = nowMs;
	_store.database() << "INSERT INTO handle_pins (handle, relay, peer_id, pinned_ms, seen_ms) VALUES (?, ?, ?, ?, ?)"
		" ON CONFLICT (handle, relay) DO UPDATE SET peer_id = excluded.peer_id, pinned_ms = excluded.pinned_ms,"
		" seen_ms = excluded.seen_ms", use(name), use(where), use(id), use(time), use(time), now;
}


void RelayBook::confirmPin(const std::string& handle, const std::string& relay, std::int64_t nowMs)
{
	std::string name = handle;
	std::string where = relay;
	Poco::Int64 time = nowMs;
	_store.database() << "UPDATE handle_pins SET seen_ms = ? WHERE handle = ? AND relay = ?", use(time), use(name), use(where), now;
}


bool RelayBook::forgetPin(const std::string& handle, const std::string& relay)
{
	std::string name = handle;
	std::string where = relay;
	Poco::Data::Statement statement(_store.database());
	statement << "DELETE FROM handle_pins WHERE handle = ? AND relay = ?", use(name), use(where);
	return statement.execute() > 0;
}


std::vector<OwnPrekey> RelayBook::prekeys()
{
	std::vector<Poco::Tuple<Poco::Int64, BLOB, BLOB, Poco::Int64, Poco::Int64, Poco::Int64>> rows;
	_store.database() << "SELECT id, private_key, public_key, created_ms, expires_ms, delete_ms FROM own_prekeys ORDER BY id DESC",
		into(rows), now;
	std::vector<OwnPrekey> result;
	for (const auto& row: rows)
	{
		OwnPrekey prekey;
		prekey.id = static_cast<std::uint64_t>(row.get<0>());
		prekey.privateKey = textOf(row.get<1>());
		prekey.publicKey = textOf(row.get<2>());
		prekey.createdMs = row.get<3>();
		prekey.expiresMs = row.get<4>();
		prekey.deleteMs = row.get<5>();
		result.push_back(prekey);
	}
	return result;
}


void RelayBook::addPrekey(const OwnPrekey& prekey)
{
	Poco::Int64 id = static_cast<Poco::Int64>(prekey.id);
	BLOB privateKey = blobOf(prekey.privateKey);
	BLOB publicKey = blobOf(prekey.publicKey);
	Poco::Int64 created = prekey.createdMs;
	Poco::Int64 expires = prekey.expiresMs;
	Poco::Int64 deleteAt = prekey.deleteMs;
	_store.database() << "INSERT INTO own_prekeys (id, private_key, public_key, created_ms, expires_ms, delete_ms)"
		" VALUES (?, ?, ?, ?, ?, ?)", use(id), use(privateKey), use(publicKey), use(created), use(expires), use(deleteAt), now;
}


std::size_t RelayBook::deletePrekeys(std::int64_t nowMs)
{
	Poco::Int64 time = nowMs;
	Poco::Data::Statement statement(_store.database());
	statement << "DELETE FROM own_prekeys WHERE delete_ms <= ?", use(time);
	return statement.execute();
}


std::set<std::string> RelayBook::deposited(const PeerId& peer, const std::string& relay)
{
	BLOB id = blobOf(peer);
	std::string where = relay;
	std::vector<BLOB> ids;
	_store.database() << "SELECT CAST(m.msg_id AS BLOB) FROM mailbox_deposits d JOIN messages m ON m.seq = d.seq"
		" WHERE m.peer = (SELECT id FROM peers WHERE peer_id = ?) AND m.direction = 0 AND m.state IN (0, 1) AND d.relay = ?",
		use(id), use(where), into(ids), now;
	std::set<std::string> result;
	for (const BLOB& blob: ids) result.insert(textOf(blob));
	return result;
}


void RelayBook::markDeposited(const PeerId& peer, const std::string& messageId, const std::string& relay, std::int64_t nowMs)
{
	BLOB id = blobOf(peer);
	std::string message = messageId;
	std::string where = relay;
	Poco::Int64 time = nowMs;
	_store.database() << "INSERT OR IGNORE INTO mailbox_deposits (seq, relay, deposited_ms)"
		" SELECT seq, ?, ? FROM messages WHERE peer = (SELECT id FROM peers WHERE peer_id = ?) AND direction = 0 AND msg_id = ?",
		use(where), use(time), use(id), use(message), now;
}


} } // namespace CrossChat::Chat
