//
// PeerRegistry.h
//
// Library: Relay
// Internal header: the relay's announced peer records, behind an interface.
// This is an internal header file, you should not include this.
//


#ifndef CrossChat_Relay_PeerRegistry_INCLUDED
#define CrossChat_Relay_PeerRegistry_INCLUDED


#include "CrossChat/PeerId.h"
#include "Poco/Net/SocketAddress.h"
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>


namespace CrossChat {
namespace Relay {


struct PeerRecord
	/// What an announce stores.
{
	using Clock = std::chrono::steady_clock;

	PeerId id;
	std::string publicKeyRaw;                           ///< 32 bytes.
	std::string name;
	std::vector<Poco::Net::SocketAddress> addresses;    ///< Unspecified parts already filled in.
	std::uint16_t chatPort = 0;
	bool directory = false;
	Poco::Net::SocketAddress observed;                  ///< The announce's source address.
	std::int64_t lastSeenMs = 0;                        ///< Wall clock, ms since the epoch.
	Clock::time_point expires;
};


struct DirectoryPage
	/// One page of a directory search.
{
	std::vector<PeerRecord> records;   ///< Sorted by name, ASCII case-insensitively (then ID).
	std::size_t total = 0;             ///< Matches before paging.
};


class PeerRegistry
	/// Stores peer records by ID. Implementations decide where (memory today; a snapshot file
	/// or a shared store later); expired records are never returned.
	///
	/// Thread rules: implementations must be safe to call from any thread.
{
public:
	using Clock = PeerRecord::Clock;

	virtual ~PeerRegistry();

	virtual bool put(const PeerRecord& record, std::size_t maxRecords) = 0;
		/// Adds or replaces the record. Returns false (storing nothing) if the record is new and
		/// maxRecords live records exist already.

	virtual bool remove(const PeerId& id) = 0;
		/// Returns true if a record was removed.

	virtual std::optional<PeerRecord> find(const PeerId& id, Clock::time_point now) const = 0;

	virtual DirectoryPage directory(const std::string& text, std::size_t offset, std::size_t limit,
		Clock::time_point now) const = 0;
		/// Opted-in records whose name contains text (ASCII case-insensitive).

	virtual std::vector<PeerRecord> recent(std::size_t limit, Clock::time_point now) const = 0;
		/// Up to limit live records, most recently seen first (for the status page).

	virtual std::size_t sweep(Clock::time_point now) = 0;
		/// Drops expired records; returns how many.

	virtual std::size_t size() const = 0;
		/// Records held (expired ones included until the next sweep).
};


class MemoryPeerRegistry: public PeerRegistry
	/// PeerRegistry in a hash map under one mutex.
{
public:
	MemoryPeerRegistry();
	~MemoryPeerRegistry() override;

	bool put(const PeerRecord& record, std::size_t maxRecords) override;
	bool remove(const PeerId& id) override;
	std::optional<PeerRecord> find(const PeerId& id, Clock::time_point now) const override;
	DirectoryPage directory(const std::string& text, std::size_t offset, std::size_t limit,
		Clock::time_point now) const override;
	std::vector<PeerRecord> recent(std::size_t limit, Clock::time_point now) const override;
	std::size_t sweep(Clock::time_point now) override;
	std::size_t size() const override;

private:
	mutable std::mutex _mutex;
	std::unordered_map<PeerId, PeerRecord> _records;
};


} } // namespace CrossChat::Relay


#endif // CrossChat_Relay_PeerRegistry_INCLUDED
