//
// StoredPeerRegistry.h
//
// Library: Relay
// Internal header: the peer registry kept in memory and written behind to the relay's database.
// This is an internal header file, you should not include this.
//


#ifndef CrossChat_Relay_StoredPeerRegistry_INCLUDED
#define CrossChat_Relay_StoredPeerRegistry_INCLUDED


#include "PeerRegistry.h"
#include <cstdint>
#include <memory>


namespace CrossChat {
namespace Relay {


class RelayStore;


class StoredPeerRegistry: public MemoryPeerRegistry
	/// MemoryPeerRegistry for every read (lookups, the directory, the status page never touch the
	/// disk), plus a write-behind layer: every accepted put() is queued as an upsert of the
	/// records table, and its ticket completes when the store has committed it — one fsync per
	/// group of announces (RelayStore), so that an announce is answered only once durable
	/// without costing an fsync each. remove() and sweep() delete the rows too (not waited for).
	/// load() fills the memory from the database at start: every record whose TTL has not run
	/// out, so a peer announced before a crash (kill -9 included) can be looked up after a
	/// restart without announcing again.
	///
	/// Thread rules: as PeerRegistry (safe from any thread); load() before the relay serves.
	/// Ownership: does not own the store, which must outlive it.
{
public:
	explicit StoredPeerRegistry(RelayStore& store);
	~StoredPeerRegistry() override;

	std::size_t load(Clock::time_point now, std::int64_t nowMs);
		/// Reads every live record (expires_ms > nowMs), sets its steady expiry from the wall
		/// clock's remaining time, and returns how many were loaded. Records are loaded without
		/// quotas (they were admitted when announced).

	bool remove(const PeerId& id) override;
	std::size_t sweep(Clock::time_point now) override;
		/// Also deletes the rows whose wall-clock expiry has passed.

protected:
	void persist(const PeerRecord& record, const CommitTicket::Ptr& durable) override;

private:
	struct Writer;

	RelayStore& _store;
	std::shared_ptr<Writer> _pWriter;   ///< Touched by the store's writer thread only.
	bool _loading = false;              ///< load() is filling the memory from the database.
};


std::string joinAddresses(const std::vector<Poco::Net::SocketAddress>& addresses);
	/// "a b c": how the records table keeps a record's addresses.

std::vector<Poco::Net::SocketAddress> splitAddresses(const std::string& text);
	/// The inverse; entries that do not parse are skipped.


} } // namespace CrossChat::Relay


#endif // CrossChat_Relay_StoredPeerRegistry_INCLUDED
