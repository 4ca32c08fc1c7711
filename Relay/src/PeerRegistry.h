//
// PeerRegistry.h
//
// Library: Relay
// Internal header: the relay's announced peer records, behind an interface, with the bounded
// indexes the directory and the status page are served from.
// This is an internal header file, you should not include this.
//


#ifndef CrossChat_Relay_PeerRegistry_INCLUDED
#define CrossChat_Relay_PeerRegistry_INCLUDED


#include "CommitTicket.h"
#include "SourceKey.h"
#include "CrossChat/PeerId.h"
#include "Poco/Net/SocketAddress.h"
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>
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
	Poco::Net::SocketAddress observed;                  ///< The announce's source address (the real client's).
	bool publishObserved = false;                       ///< The peer asked for its observed address to be
	                                                    ///< published (an unspecified host in its addresses).
	SourceKey source;                                   ///< Counts against this source's records.
	std::string token;                                  ///< The access token's id it was announced with
	                                                    ///< (private relays; counts against its quota), or "".
	std::int64_t lastSeenMs = 0;                        ///< Wall clock, ms since the epoch.
	std::int64_t expiresMs = 0;                         ///< Wall clock: what survives a restart.
	Clock::time_point expires;
};


struct PeerLookup
	/// What PeerRegistry::lookup() finds for one ID.
{
	bool found = false;                           ///< A live (unexpired) record exists.
	std::shared_ptr<const std::string> answer;    ///< The answer kept with this version of the record for
	                                              ///< the online state asked about (keepAnswer()), or null.
	std::optional<PeerRecord> record;             ///< Found without a kept answer: a copy of the record.
	std::uint64_t version = 0;                    ///< Found: the record's version, for keepAnswer().
};


struct DirectoryEntry
	/// One line of a directory page.
{
	PeerId id;
	std::string name;
	std::int64_t lastSeenMs = 0;
};


struct DirectoryPage
	/// One page of a directory search.
{
	std::vector<DirectoryEntry> entries;   ///< Sorted by name, ASCII case-insensitively (then ID).
	std::size_t total = 0;                 ///< Matches before paging.
};


class PeerRegistry
	/// Stores peer records by ID. Implementations decide where (memory today; SQLite later);
	/// expired records are never returned. Besides lookups by ID, an implementation keeps two
	/// bounded indexes so that no request ever copies or sorts the whole registry:
	///   - the directory: records announced with directory = true whose peer is online
	///     (setOnline()), in name order, paged inside the registry;
	///   - the most recent opted-in announces, at most RECENT_LIMIT (the status page).
	///
	/// Thread rules: implementations must be safe to call from any thread; they never call
	/// back into other components (callers may hold their own locks while calling in).
{
public:
	using Clock = PeerRecord::Clock;
	static constexpr std::size_t RECENT_LIMIT = 100;

	enum class PutResult
	{
		OK,
		FULL,          ///< maxRecords live records exist and the ID is new.
		SOURCE_FULL,   ///< The announcing source already holds maxPerSource records.
		TOKEN_FULL     ///< The access token already holds maxPerToken records.
	};

	struct PutLimits
	{
		std::size_t maxRecords = 0;
		std::size_t maxPerSource = 0;
		std::size_t maxPerToken = 0;   ///< 0: records are not counted per token.
	};

	virtual ~PeerRegistry();

	virtual PutResult put(const PeerRecord& record, const PutLimits& limits, const CommitTicket::Ptr& durable) = 0;
		/// Adds or replaces the record; nothing is stored unless OK. Re-announcing an ID from the
		/// source (and with the token) that already holds it always works. durable (may be null)
		/// is completed once the record would survive a restart of the relay: at once in
		/// memory-only registries, after the database commit in StoredPeerRegistry; it is not
		/// completed unless the result is OK.

	PutResult put(const PeerRecord& record, std::size_t maxRecords, std::size_t maxPerSource);
		/// put() without a token quota or a ticket.

	virtual bool remove(const PeerId& id) = 0;
		/// Returns true if a record was removed.

	virtual std::optional<PeerRecord> find(const PeerId& id, Clock::time_point now) const = 0;

	virtual PeerLookup lookup(const PeerId& id, bool online, Clock::time_point now) const = 0;
		/// find() for the relay's lookup answer: if an answer was kept for this version of the
		/// record and this online state (keepAnswer()), returns it and no copy of the record;
		/// otherwise the record and its version. The registry does not look into answers: they
		/// are what the caller rendered from exactly this record (and online).

	virtual void keepAnswer(const PeerId& id, std::uint64_t version, bool online,
		const std::shared_ptr<const std::string>& answer) = 0;
		/// Keeps answer with the record if the record is still at version (else does nothing:
		/// a put() came in between and the answer describes an older record). Every put() of
		/// the ID starts a new version without answers; remove() and expiry drop them with the
		/// record. At most two answers per record (online and offline).

	virtual void setOnline(const PeerId& id, bool online) = 0;
		/// Whether the peer has an authenticated control channel (the directory lists only
		/// those). Remembered also for IDs without a record.

	virtual DirectoryPage directory(const std::string& text, std::size_t offset, std::size_t limit,
		Clock::time_point now) const = 0;
		/// Online, opted-in records whose name contains text (ASCII case-insensitive). Costs
		/// O(listed peers) at most, copies only the page.

	virtual std::vector<PeerRecord> recent(std::size_t limit, Clock::time_point now) const = 0;
		/// Up to min(limit, RECENT_LIMIT) live opted-in records, most recently announced first.

	virtual std::size_t sweep(Clock::time_point now) = 0;
		/// Drops expired records; returns how many. Costs O(expired records).

	virtual std::size_t size() const = 0;
		/// Records held (expired ones included until the next sweep).

	virtual std::size_t listed() const = 0;
		/// Entries of the directory index (online, opted-in records).

	virtual std::size_t sources() const = 0;
		/// Sources holding at least one record.
};


class MemoryPeerRegistry: public PeerRegistry
	/// PeerRegistry in hash maps and ordered indexes under one reader-writer lock.
{
public:
	MemoryPeerRegistry();
	~MemoryPeerRegistry() override;

	using PeerRegistry::put;
	PutResult put(const PeerRecord& record, const PutLimits& limits, const CommitTicket::Ptr& durable) override;
	bool remove(const PeerId& id) override;
	std::optional<PeerRecord> find(const PeerId& id, Clock::time_point now) const override;
	PeerLookup lookup(const PeerId& id, bool online, Clock::time_point now) const override;
	void keepAnswer(const PeerId& id, std::uint64_t version, bool online,
		const std::shared_ptr<const std::string>& answer) override;
	void setOnline(const PeerId& id, bool online) override;
	DirectoryPage directory(const std::string& text, std::size_t offset, std::size_t limit,
		Clock::time_point now) const override;
	std::vector<PeerRecord> recent(std::size_t limit, Clock::time_point now) const override;
	std::size_t sweep(Clock::time_point now) override;
	std::size_t size() const override;
	std::size_t listed() const override;
	std::size_t sources() const override;

protected:
	virtual void persist(const PeerRecord& record, const CommitTicket::Ptr& durable);
		/// After a successful put(), outside the lock: completes durable (StoredPeerRegistry
		/// writes the record first).

private:
	using DirectoryKey = std::pair<std::string, PeerId>;   ///< Lower-case name, ID.
	using Expiry = std::multimap<Clock::time_point, PeerId>;

	struct Stored
	{
		PeerRecord record;
		Expiry::iterator expiry;
		std::uint64_t version = 0;                       ///< From _versions, new with every put().
		std::shared_ptr<const std::string> answers[2];   ///< keepAnswer(): [online]; immutable once
		                                                 ///< kept, replaced only under the unique lock.
	};

	void eraseLocked(std::unordered_map<PeerId, Stored>::iterator it);
	void unlistLocked(const PeerRecord& record);
	void listLocked(const PeerRecord& record);
	void releaseSourceLocked(const SourceKey& source);
	void releaseTokenLocked(const std::string& token);

	mutable std::shared_mutex _mutex;
	std::unordered_map<PeerId, Stored> _records;
	Expiry _expiry;
	std::set<DirectoryKey> _directory;
	std::unordered_set<PeerId> _online;
	std::deque<PeerId> _recent;                                     ///< Newest first, at most RECENT_LIMIT.
	std::unordered_map<SourceKey, std::uint32_t, SourceKeyHash> _perSource;
	std::unordered_map<std::string, std::uint32_t> _perToken;
	std::uint64_t _versions = 0;                                    ///< The last record version handed out.
};


} } // namespace CrossChat::Relay


#endif // CrossChat_Relay_PeerRegistry_INCLUDED
