//
// PrekeyBook.h
//
// Library: Relay
// Internal header: the pre-key bundles peers published for their mailboxes.
// This is an internal header file, you should not include this.
//


#ifndef CrossChat_Relay_PrekeyBook_INCLUDED
#define CrossChat_Relay_PrekeyBook_INCLUDED


#include "CommitTicket.h"
#include "SourceKey.h"
#include "CrossChat/PeerId.h"
#include "CrossChat/Relay/Prekey.h"
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>


namespace CrossChat {
namespace Relay {


class RelayStore;


struct PrekeyBundle
	/// The pre-keys one peer published in its last announce that had some.
{
	PeerId id;
	std::string publicKeyRaw;        ///< The peer's Ed25519 key (clients check the signatures against it).
	std::vector<Prekey> prekeys;     ///< Shape-checked; signatures are the clients' business.
	SourceKey source;                ///< Counts against this source's bundles.
	std::int64_t expiresMs = 0;      ///< The latest pre-key expiry (wall clock): the bundle goes then.
};


class PrekeyBook
	/// Bundles by peer ID. A bundle outlives the peer's record (an announce expires after an
	/// hour; a pre-key lasts days): that is what lets a peer offline for a week still receive
	/// sealed mail. Bounded like records: maxBundles in all, maxPerSource from one source.
	/// With a store, every change is written to the prekeys table (a put's ticket completes
	/// once durable) and load() fills the memory at start.
	///
	/// Thread rules: safe to call from any thread.
	/// Ownership: does not own the store (may be null: memory only), which must outlive it.
{
public:
	enum class PutResult
	{
		OK,
		FULL,
		SOURCE_FULL
	};

	explicit PrekeyBook(RelayStore* pStore);
	~PrekeyBook();

	PutResult put(const PrekeyBundle& bundle, std::size_t maxBundles, std::size_t maxPerSource, const CommitTicket::Ptr& durable);
		/// Adds or replaces the peer's bundle (an empty pre-key list removes it; that is OK too).
		/// The ticket completes once durable (at once without a store), only when OK.

	std::optional<PrekeyBundle> find(const PeerId& id, std::int64_t nowMs) const;
		/// The bundle with the pre-keys that have not expired; nothing if none is left.

	std::size_t sweep(std::int64_t nowMs);
		/// Drops bundles whose every pre-key has expired.

	std::size_t load(std::int64_t nowMs);
	std::size_t size() const;

private:
	using Expiry = std::multimap<std::int64_t, PeerId>;

	struct Entry
	{
		PrekeyBundle bundle;
		Expiry::iterator expiry;
	};

	void eraseLocked(std::unordered_map<PeerId, Entry>::iterator it);
	void putLocked(const PrekeyBundle& bundle);
	void write(const PrekeyBundle& bundle, const CommitTicket::Ptr& durable);

	RelayStore* _pStore;
	mutable std::mutex _mutex;
	std::unordered_map<PeerId, Entry> _bundles;
	Expiry _expiry;
	std::unordered_map<SourceKey, std::uint32_t, SourceKeyHash> _perSource;
};


} } // namespace CrossChat::Relay


#endif // CrossChat_Relay_PrekeyBook_INCLUDED
