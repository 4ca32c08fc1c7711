//
// Mailbox.h
//
// Library: Relay
// Internal header: sealed envelopes kept for offline peers.
// This is an internal header file, you should not include this.
//


#ifndef CrossChat_Relay_Mailbox_INCLUDED
#define CrossChat_Relay_Mailbox_INCLUDED


#include "CommitTicket.h"
#include "SourceKey.h"
#include "CrossChat/PeerId.h"
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>


namespace CrossChat {
namespace Relay {


class RelayStore;


struct MailLimits
	/// What the mailbox keeps at most (settings relay.mailbox*; see RelayServerConfig).
{
	std::uint64_t maxBytes = 0;                   ///< Envelope bytes held in all.
	std::size_t perRecipient = 0;                 ///< Envelopes waiting for one peer.
	std::uint64_t bytesPerRecipient = 0;          ///< Their bytes.
	std::uint64_t bytesPerSource = 0;             ///< Bytes deposited from one source and not yet fetched.
	std::size_t perSourcePerRecipient = 0;        ///< Envelopes from one source waiting for one peer.
	std::int64_t ttlMs = 0;                       ///< An envelope not fetched by then is deleted.
};


struct MailItem
	/// One envelope as the relay knows it: its bytes are sealed to the recipient.
{
	std::string id;                  ///< 16 random bytes (32 hex digits on the wire).
	PeerId recipient;
	std::int64_t depositedMs = 0;
	std::int64_t expiresMs = 0;
	SourceKey source;                ///< Where it came from (the depositor is not named: deposits are not signed).
	std::string token;               ///< The access token it was deposited with (private relays).
	std::size_t size = 0;
};


class Mailbox
	/// Envelopes by recipient, oldest first, each until the recipient acknowledges it or its TTL
	/// runs out. Deposits are anonymous (the relay sees the recipient, the size, the time and
	/// the source address), so what strangers can leave for someone is bounded per source:
	/// per recipient (perSourcePerRecipient) and in all (bytesPerSource); and per recipient
	/// (perRecipient, bytesPerRecipient), per access token (its quota) and in all (maxBytes).
	/// A full box is shared fairly: a deposit from a source that holds less of it than another
	/// evicts that source's newest envelopes (the source holding the most first) while the other
	/// still keeps at least as many as the depositor then holds — so a few addresses that fill someone's
	/// box cannot keep an honest sender out. Evicted envelopes are not lost for the sender: its
	/// client keeps every message until the recipient's receipt.
	///
	/// Storage: the index (MailItem) lives in memory; the envelopes in the relay's database
	/// (table mail; a deposit's ticket completes once durable, acknowledgements and expiry
	/// delete the rows), or in memory without a store. A deposit handler is told of every new
	/// envelope, so that an online recipient gets it at once.
	///
	/// Thread rules: safe to call from any thread; the deposit handler runs on the depositing
	/// thread and must only hand work over.
	/// Ownership: does not own the store (may be null).
{
public:
	enum class DepositResult
	{
		OK,
		FULL,               ///< maxBytes held.
		RECIPIENT_FULL,     ///< The recipient's box is full.
		SOURCE_FULL,        ///< The source has deposited as much as it may (in all, or for this recipient).
		TOKEN_FULL          ///< The access token's mailbox quota is used up.
	};

	Mailbox(RelayStore* pStore, const MailLimits& limits);
	~Mailbox();

	DepositResult deposit(const PeerId& recipient, const std::string& envelope, const SourceKey& source,
		const std::string& token, std::uint64_t tokenQuota, std::int64_t nowMs, const CommitTicket::Ptr& durable,
		std::string& id);
		/// Keeps the envelope; id is set to its new ID. tokenQuota 0: no token quota.

	std::vector<MailItem> pending(const PeerId& recipient, std::size_t count, const std::set<std::string>& skip,
		std::int64_t nowMs) const;
		/// Up to count of the recipient's envelopes, oldest first, leaving out the IDs in skip
		/// (in flight) and expired ones.

	std::optional<std::string> envelope(const MailItem& item) const;
		/// The envelope's bytes; empty if it is gone meanwhile (acknowledged, expired).

	bool acknowledge(const PeerId& recipient, const std::string& id);
		/// Deletes the recipient's envelope id; false if it has none by that ID.

	std::size_t sweep(std::int64_t nowMs);
		/// Deletes expired envelopes; returns how many.

	std::size_t load(std::int64_t nowMs);
	void setDepositHandler(std::function<void(const PeerId& recipient)> handler);
		/// Set before the relay serves.

	std::size_t size() const;
	std::uint64_t bytes() const;
	std::size_t waiting(const PeerId& recipient) const;

	std::uint64_t evicted() const;
		/// Envelopes evicted from full boxes to make room for a fairer share, since start.

	static std::string hexId(const std::string& id);
	static std::optional<std::string> parseHexId(const std::string& hex);

private:
	struct Box
	{
		std::deque<MailItem> items;
		std::uint64_t bytes = 0;
	};

	bool fairShareLocked(const Box& box, const SourceKey& source, std::size_t size, std::vector<std::string>& victims) const;
		/// Whether an envelope of size from source fits into the box, after evicting victims
		/// (their IDs; none if it fits as it is); false (victims empty) if it does not fit even so.
	void addLocked(const MailItem& item, std::string envelope);
	bool removeLocked(const PeerId& recipient, const std::string& id);
	std::string senderKey(const SourceKey& source, const PeerId& recipient) const;

	RelayStore* _pStore;
	const MailLimits _limits;
	mutable std::mutex _mutex;
	std::unordered_map<PeerId, Box> _boxes;
	using Expiry = std::multimap<std::int64_t, std::pair<PeerId, std::string>>;
	Expiry _expiry;
	std::unordered_map<std::string, Expiry::iterator> _expiryOf;   ///< By envelope ID.
	std::unordered_map<std::string, std::string> _bytes;   ///< Envelopes by ID, without a store.
	std::unordered_map<SourceKey, std::uint64_t, SourceKeyHash> _perSourceBytes;
	std::unordered_map<std::string, std::uint32_t> _perSourceRecipient;
	std::unordered_map<std::string, std::uint64_t> _perTokenBytes;
	std::size_t _count = 0;
	std::uint64_t _total = 0;
	std::uint64_t _evicted = 0;
	std::function<void(const PeerId&)> _onDeposit;
};


} } // namespace CrossChat::Relay


#endif // CrossChat_Relay_Mailbox_INCLUDED
