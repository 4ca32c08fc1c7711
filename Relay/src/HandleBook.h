//
// HandleBook.h
//
// Library: Relay
// Internal header: short handles ("alice") bound to peers' keys by their signed claims.
// This is an internal header file, you should not include this.
//


#ifndef CrossChat_Relay_HandleBook_INCLUDED
#define CrossChat_Relay_HandleBook_INCLUDED


#include "CommitTicket.h"
#include "SourceKey.h"
#include "CrossChat/PeerId.h"
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>


namespace CrossChat {
namespace Relay {


class RelayStore;


struct HandleRecord
	/// One handle and the claim that binds it.
{
	std::string handle;               ///< RelayProtocol::isValidHandle().
	PeerId id;
	std::string publicKeyRaw;         ///< Hashes to id.
	std::int64_t claimTs = 0;         ///< The claim's timestamp (signed).
	std::string claimSignature;       ///< Ed25519 over RelayProtocol::handleSigningString(handle, claimTs).
	std::int64_t claimedMs = 0;       ///< When the relay accepted the claim (wall clock).
	std::int64_t renewedMs = 0;       ///< The owner's last sign of life (claim, announce, control channel).
	SourceKey source;                 ///< Counts against this source's handles.
	std::string token;                ///< The access token it was claimed with (private relays).
};


class HandleBook
	/// First come, first served: a handle belongs to the key that claimed it while its owner
	/// keeps coming back (renew(): every announce and control channel of the owner); after
	/// releaseAfter without a sign of life it is released and anyone may claim it. A peer holds
	/// one handle per relay: a new claim releases its old one. Bounded: maxHandles in all,
	/// maxPerSource claimed from one source.
	///
	/// With a store, claims and releases are written to the handles table (a claim's ticket
	/// completes once durable); renewals are written at most once per RENEW_WRITE_FRACTION of
	/// releaseAfter per handle, so that announces do not each cost a row write.
	///
	/// Thread rules: safe to call from any thread.
	/// Ownership: does not own the store (may be null: memory only).
{
public:
	enum class ClaimResult
	{
		OK,
		TAKEN,         ///< Another key holds it.
		FULL,
		SOURCE_FULL
	};

	static constexpr std::int64_t RENEW_WRITE_FRACTION = 64;

	HandleBook(RelayStore* pStore, std::int64_t releaseAfterMs);
	~HandleBook();

	ClaimResult claim(const HandleRecord& record, std::size_t maxHandles, std::size_t maxPerSource, const CommitTicket::Ptr& durable);
		/// record.renewedMs and claimedMs are its time. The owner claiming its own handle again
		/// renews it (claimedMs stays).

	std::optional<HandleRecord> find(const std::string& handle, std::int64_t nowMs) const;
		/// The handle if it is held (not released by absence).

	std::optional<std::string> handleOf(const PeerId& id, std::int64_t nowMs) const;

	void renew(const PeerId& id, std::int64_t nowMs);
		/// The owner is alive: its handle (if any) is kept.

	bool release(const PeerId& id);
		/// The owner gives its handle up; true if it had one.

	std::size_t sweep(std::int64_t nowMs);
		/// Releases the handles whose owners have been away releaseAfter; returns how many.

	std::size_t load(std::int64_t nowMs);
	std::size_t size() const;

private:
	void eraseLocked(std::unordered_map<std::string, HandleRecord>::iterator it);
	void write(const HandleRecord& record, const CommitTicket::Ptr& durable);
	void erase(const std::string& handle);
	bool expired(const HandleRecord& record, std::int64_t nowMs) const;

	RelayStore* _pStore;
	const std::int64_t _releaseAfterMs;
	mutable std::mutex _mutex;
	std::unordered_map<std::string, HandleRecord> _byHandle;
	std::unordered_map<PeerId, std::string> _byPeer;
	std::unordered_map<std::string, std::int64_t> _written;   ///< renewed_ms as last written, per handle.
	std::unordered_map<SourceKey, std::uint32_t, SourceKeyHash> _perSource;
};


} } // namespace CrossChat::Relay


#endif // CrossChat_Relay_HandleBook_INCLUDED
