//
// StoredPeerRegistry.cpp
//
// Library: Relay
//


#include "StoredPeerRegistry.h"
#include "RelayStore.h"
#include "Poco/Data/LOB.h"
#include "Poco/Data/Statement.h"
#include "Poco/StringTokenizer.h"
#include "Poco/Tuple.h"


using namespace Poco::Data::Keywords;
using Poco::Data::BLOB;


namespace CrossChat {
namespace Relay {


namespace {


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


std::string joinAddresses(const std::vector<Poco::Net::SocketAddress>& addresses)
{
	std::string text;
	for (const auto& address: addresses)
	{
		if (!text.empty()) text += ' ';
		text += address.toString();
	}
	return text;
}


std::vector<Poco::Net::SocketAddress> splitAddresses(const std::string& text)
{
	std::vector<Poco::Net::SocketAddress> addresses;
	Poco::StringTokenizer tokens(text, " ", Poco::StringTokenizer::TOK_IGNORE_EMPTY);
	for (const std::string& token: tokens)
	{
		try
		{
			addresses.emplace_back(token);
		}
		catch (const Poco::Exception&)
		{
			// not an address: skipped (the relay wrote it, so only a damaged file has these)
		}
	}
	return addresses;
}


struct StoredPeerRegistry::Writer
	/// The upsert and delete statements, prepared once on the writer thread, and the variables
	/// they are bound to.
{
	BLOB peerId;
	BLOB publicKey;
	std::string name;
	std::string addresses;
	Poco::Int32 chatPort = 0;
	Poco::Int32 directory = 0;
	std::string observed;
	Poco::Int32 publishObserved = 0;
	std::string source;
	std::string token;
	Poco::Int64 lastSeenMs = 0;
	Poco::Int64 expiresMs = 0;
	std::unique_ptr<Poco::Data::Statement> pUpsert;
	std::unique_ptr<Poco::Data::Statement> pDelete;

	void upsert(Poco::Data::Session& session, const PeerRecord& record)
	{
		if (!pUpsert)
		{
			pUpsert = std::make_unique<Poco::Data::Statement>(session);
			*pUpsert << "INSERT INTO records (peer_id, public_key, name, addresses, chat_port, directory, observed,"
				" publish_observed, source, token, last_seen_ms, expires_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
				" ON CONFLICT (peer_id) DO UPDATE SET public_key = excluded.public_key, name = excluded.name,"
				" addresses = excluded.addresses, chat_port = excluded.chat_port, directory = excluded.directory,"
				" observed = excluded.observed, publish_observed = excluded.publish_observed, source = excluded.source,"
				" token = excluded.token, last_seen_ms = excluded.last_seen_ms, expires_ms = excluded.expires_ms",
				use(peerId), use(publicKey), use(name), use(addresses), use(chatPort), use(directory), use(observed),
				use(publishObserved), use(source), use(token), use(lastSeenMs), use(expiresMs);
		}
		const auto& bytes = record.id.bytes();
		peerId = BLOB(bytes.data(), bytes.size());
		publicKey = blobOf(record.publicKeyRaw);
		name = record.name;
		addresses = joinAddresses(record.addresses);
		chatPort = record.chatPort;
		directory = record.directory ? 1 : 0;
		observed = record.observed.toString();
		publishObserved = record.publishObserved ? 1 : 0;
		source = record.source.toString();
		token = record.token;
		lastSeenMs = record.lastSeenMs;
		expiresMs = record.expiresMs;
		try
		{
			pUpsert->execute();
		}
		catch (...)
		{
			pUpsert.reset();   // prepared again next time
			throw;
		}
	}

	void remove(Poco::Data::Session& session, const PeerId& id)
	{
		if (!pDelete)
		{
			pDelete = std::make_unique<Poco::Data::Statement>(session);
			*pDelete << "DELETE FROM records WHERE peer_id = ?", use(peerId);
		}
		const auto& bytes = id.bytes();
		peerId = BLOB(bytes.data(), bytes.size());
		try
		{
			pDelete->execute();
		}
		catch (...)
		{
			pDelete.reset();
			throw;
		}
	}
};


StoredPeerRegistry::StoredPeerRegistry(RelayStore& store):
	_store(store),
	_pWriter(std::make_shared<Writer>())
{
}


StoredPeerRegistry::~StoredPeerRegistry() = default;


std::size_t StoredPeerRegistry::load(Clock::time_point steadyNow, std::int64_t nowMs)
{
	using Row = Poco::Tuple<BLOB, BLOB, std::string, std::string, Poco::Int32, Poco::Int32, std::string, Poco::Int32,
		std::string, std::string, Poco::Int64, Poco::Int64>;
	std::vector<Row> rows;
	Poco::Int64 cutoff = nowMs;
	_store.read([&rows, &cutoff](Poco::Data::Session& session) {
		session << "SELECT peer_id, public_key, name, addresses, chat_port, directory, observed, publish_observed, source,"
			" token, last_seen_ms, expires_ms FROM records WHERE expires_ms > ?", use(cutoff), into(rows), now;
	});
	_loading = true;
	PutLimits unlimited;
	unlimited.maxRecords = SIZE_MAX;
	unlimited.maxPerSource = SIZE_MAX;
	std::size_t loaded = 0;
	for (const Row& row: rows)
	{
		PeerRecord record;
		const std::string id = textOf(row.get<0>());
		if (id.size() != PeerId::SIZE) continue;
		record.id = PeerId::fromBytes(id);
		record.publicKeyRaw = textOf(row.get<1>());
		record.name = row.get<2>();
		record.addresses = splitAddresses(row.get<3>());
		record.chatPort = static_cast<std::uint16_t>(row.get<4>());
		record.directory = row.get<5>() != 0;
		try
		{
			record.observed = Poco::Net::SocketAddress(row.get<6>());
		}
		catch (const Poco::Exception&)
		{
			record.observed = Poco::Net::SocketAddress();
		}
		record.publishObserved = row.get<7>() != 0;
		record.source = SourceKey::parse(row.get<8>());
		record.token = row.get<9>();
		record.lastSeenMs = row.get<10>();
		record.expiresMs = row.get<11>();
		record.expires = steadyNow + std::chrono::milliseconds(record.expiresMs - nowMs);
		// Straight into memory: the row is there already (persist() skips it while loading).
		if (MemoryPeerRegistry::put(record, unlimited, nullptr) == PutResult::OK) ++loaded;
	}
	_loading = false;
	return loaded;
}


void StoredPeerRegistry::persist(const PeerRecord& record, const CommitTicket::Ptr& durable)
{
	if (_loading) return;
	std::weak_ptr<Writer> weakWriter = _pWriter;
	_store.submit([weakWriter, record](Poco::Data::Session& session) {
		if (auto pWriter = weakWriter.lock()) pWriter->upsert(session, record);
	}, durable ? durable->completer() : RelayStore::Done());
}


bool StoredPeerRegistry::remove(const PeerId& id)
{
	const bool removed = MemoryPeerRegistry::remove(id);
	if (removed)
	{
		std::weak_ptr<Writer> weakWriter = _pWriter;
		_store.submit([weakWriter, id](Poco::Data::Session& session) {
			if (auto pWriter = weakWriter.lock()) pWriter->remove(session, id);
		});
	}
	return removed;
}


std::size_t StoredPeerRegistry::sweep(Clock::time_point steadyNow)
{
	const std::size_t removed = MemoryPeerRegistry::sweep(steadyNow);
	const Poco::Int64 nowMs = std::chrono::duration_cast<std::chrono::milliseconds>(
		std::chrono::system_clock::now().time_since_epoch()).count();
	_store.submit([nowMs](Poco::Data::Session& session) {
		Poco::Int64 cutoff = nowMs;
		session << "DELETE FROM records WHERE expires_ms <= ?", use(cutoff), now;
	});
	return removed;
}


} } // namespace CrossChat::Relay
