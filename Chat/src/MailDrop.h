//
// MailDrop.h
//
// Library: Chat
// Private: the node's side of relay mailboxes: its pre-keys, deposits for offline contacts,
// and the envelopes the relay hands over.
// This is an internal header file, it is not installed; do not include it from outside Chat/src.
//


#ifndef CrossChat_Chat_MailDrop_INCLUDED
#define CrossChat_Chat_MailDrop_INCLUDED


#include "Envelope.h"
#include "Outbox.h"
#include "RelayBook.h"
#include "CrossChat/Chat/ChatStore.h"
#include "CrossChat/Identity.h"
#include "CrossChat/LogThrottle.h"
#include "CrossChat/PeerId.h"
#include "CrossChat/Relay/RelayClient.h"
#include "CrossChat/Scheduler.h"
#include "CrossChat/TimerHandle.h"
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>


namespace CrossChat {
namespace Chat {


struct MailDropStats
{
	std::uint64_t deposited = 0;          ///< Envelopes (texts and receipts) the relay kept for a peer.
	std::uint64_t depositFailures = 0;    ///< Deposits refused or failed (the message stays in the outbox).
	std::uint64_t received = 0;           ///< Envelopes opened.
	std::uint64_t refused = 0;            ///< Envelopes that could not be opened (dropped, acknowledged).
	std::uint64_t prekeysMade = 0;
	std::uint64_t prekeysDeleted = 0;
};


class MailDrop
	/// Offline delivery through the relay (docs/PROTOCOL.md, "Mailbox"):
	///
	///   - Pre-keys: keeps a current X25519 pre-key (a new one every ROTATION, each published
	///     for LIFETIME), signed by the identity, published with every announce (the newest
	///     RelayProtocol::MAX_PREKEYS); a private key is deleted RETENTION after its expiry,
	///     when no envelope sealed to it can still be waiting at a relay (its TTL).
	///   - Deposits: depositFor(peer) seals each of the peer's waiting outbox messages not yet
	///     deposited at this relay (Envelope, to the peer's newest valid pre-key as the relay
	///     hands it out, checked against the peer's key) and leaves them in its mailbox; the
	///     store remembers which were deposited, so a restart does not deposit them again. The
	///     messages stay in the outbox: a session delivers them too, and the receiver's
	///     duplicate filter keeps one copy.
	///   - Receiving: each envelope the relay hands over is opened (for us, to a pre-key we hold,
	///     signed by the key it names) and given to the node (a text, or a receipt); the relay
	///     is told to delete it once the node has kept it. One that cannot be opened is dropped
	///     (and deleted at the relay), counted and logged at most LOG_BURST times a minute.
	///   - Receipts by mail: receiptFor() seals a receipt to a sender that has no session with us.
	///
	/// Thread rules: loop thread only (the scheduler's). Asynchronous relay callbacks hold a
	/// weak_ptr to this object. Ownership: does not own the relay client, store or identity.
{
public:
	enum class Verdict
	{
		KEPT,        ///< Stored (or a duplicate): delete it at the relay.
		DROPPED,     ///< Refused for good (a blocked sender): delete it at the relay.
		RETRY        ///< Not now (no room for another stranger): leave it at the relay.
	};

	struct Hooks
	{
		std::function<std::vector<Outbox::Entry>(const PeerId& peer)> waiting;
			///< The peer's outbox, in order.
		std::function<Verdict(const OpenedEnvelope& envelope)> text;
			///< A text from the mailbox: keep it (durably) and deliver it once.
		std::function<void(const PeerId& sender, const std::string& messageId)> receipt;
			///< A receipt from the mailbox: the message was delivered.
		std::function<void(const PeerId& peer, const std::string& messageId)> deposited;
			///< A waiting message is now in the peer's mailbox too.
	};

	static constexpr std::chrono::hours ROTATION{24};
	static constexpr std::chrono::hours LIFETIME{7 * 24};
	static constexpr std::chrono::hours RETENTION{8 * 24};    ///< Past the relay's default mailbox TTL (7 days).
	static constexpr std::chrono::minutes CHECK_PERIOD{60};
	static constexpr std::chrono::minutes PREKEY_CACHE{10};   ///< A peer's pre-keys are fetched again after this.

	MailDrop(Scheduler& scheduler, const Identity& identity, Relay::RelayClient& relay, const std::string& relayKey,
		ChatStore* pStore, Hooks hooks);
		/// relayKey names the relay in the store ("host:port"). pStore may be null: then the
		/// pre-keys and the deposits are remembered in memory only.
	~MailDrop();

	MailDrop(const MailDrop&) = delete;
	MailDrop& operator=(const MailDrop&) = delete;

	void start();
		/// Makes or rotates the pre-keys, publishes them, deletes expired private keys, and asks
		/// the relay for our mail.

	void depositFor(const PeerId& peer);
		/// The peer could not be reached: leave its waiting messages in its mailbox.

	void receiptFor(const PeerId& sender, const std::string& messageId);
		/// Acknowledges messageId to sender through its mailbox.

	void forget(const PeerId& peer);
		/// Drops what is cached about the peer (its pre-keys), e.g. after it was blocked.

	const MailDropStats& stats() const;

private:
	struct Cached
	{
		std::optional<Relay::RelayPrekeys> prekeys;
		Scheduler::TimePoint fetched{};
	};

	void check();
	std::vector<OwnPrekey> ownPrekeys();
	void publish(const std::vector<OwnPrekey>& prekeys);
	std::optional<std::string> privateKey(std::uint64_t id);
	void onMail(const Relay::RelayMail& mail);
	void withPrekey(const PeerId& peer, std::function<void(const Relay::Prekey* prekey)> then);
	void depositNext(const PeerId& peer, std::vector<Outbox::Entry> messages, const Relay::Prekey& prekey);
	std::set<std::string> deposited(const PeerId& peer);
	void markDeposited(const PeerId& peer, const std::string& messageId);
	static std::int64_t wallMs();

	Scheduler& _scheduler;
	const Identity& _identity;
	Relay::RelayClient& _relay;
	const std::string _relayKey;
	ChatStore* _pStore;
	std::unique_ptr<RelayBook> _pBook;
	Hooks _hooks;
	TimerHandle _checkTimer;
	std::vector<OwnPrekey> _memoryPrekeys;                    ///< Without a store.
	std::map<PeerId, std::set<std::string>> _memoryDeposits;  ///< Without a store.
	std::map<PeerId, Cached> _prekeys;
	std::set<PeerId> _depositing;                             ///< A deposit run is in progress.
	LogThrottle _logThrottle;
	MailDropStats _stats;
	std::shared_ptr<bool> _alive = std::make_shared<bool>(true);
};


} } // namespace CrossChat::Chat


#endif // CrossChat_Chat_MailDrop_INCLUDED
