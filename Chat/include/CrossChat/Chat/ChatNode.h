//
// ChatNode.h
//
// Library: Chat
// The façade that programs embed: identity + LAN discovery + TLS chat sessions.
//


#ifndef CrossChat_Chat_ChatNode_INCLUDED
#define CrossChat_Chat_ChatNode_INCLUDED


#include "CrossChat/Discovery/LanDiscovery.h"
#include "CrossChat/Chat/ChatStore.h"
#include "CrossChat/Chat/Group.h"
#include "CrossChat/Chat/PortMapper.h"
#include "CrossChat/Chat/Relation.h"
#include "CrossChat/Chat/Transfer.h"
#include "CrossChat/Relay/RelayClient.h"
#include "CrossChat/EventLoop.h"
#include "CrossChat/Identity.h"
#include "CrossChat/PeerId.h"
#include "Poco/Net/SocketAddress.h"
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>


namespace CrossChat {
namespace Chat {


struct ChatNodeConfig
	/// Settings, with the defaults crosschat uses.
{
	std::string name;                                         ///< Our display name.
	Poco::Net::SocketAddress listenAddress{"0.0.0.0", 0};     ///< Chat TCP listener (--port); port 0 picks a free port.
	bool enableLan = true;                                    ///< Run LAN discovery.
	Discovery::LanDiscoveryConfig lan;                        ///< Discovery settings (--lan-port).
	std::chrono::milliseconds keepaliveInterval{15000};       ///< Ping period; 3 silent periods close a session.
	std::chrono::milliseconds connectTimeout{5000};           ///< Per address tried.
	std::chrono::milliseconds handshakeTimeout{10000};        ///< TLS + hello must finish within this.
	std::chrono::milliseconds reconnectMin{500};              ///< First retry delay; doubles up to reconnectMax.
	std::chrono::milliseconds reconnectMax{30000};
	std::string databasePath;                                 ///< The SQLite store (ChatStore: contacts, history, the
	                                                          ///< outbox); empty: none (outbox and contacts in memory only).
	std::size_t maxSessions = 256;                            ///< Sessions at once, established and pending.
	std::size_t maxSessionsPerAddress = 16;                   ///< ... from one remote IP (IPv6: one /64); tunnels
	                                                          ///< count per peer instead (they all come from the relay).
	std::size_t maxPendingSessions = 64;                      ///< Unfinished handshakes accepted at once...
	std::size_t maxPendingPerAddress = 8;                     ///< ... and from one remote IP (/64).
	std::size_t maxStrangers = 256;                           ///< Strangers kept in memory; the least recently active
	                                                          ///< idle one is forgotten first (with its duplicate filter).
	unsigned maxDialsPerMinute = 30;                          ///< Direct dials per peer in any minute.
	unsigned maxRoundsPerMinute = 6;                          ///< Dial rounds (reconnects) per peer in any minute.
	std::string relayUrl;                                     ///< http://host[:port] or https://host[:port] of a relay
	                                                          ///< (--relay); empty: none.
	std::string relayCaFile;                                  ///< https relay: PEM CA file to trust instead of the
	                                                          ///< system store (--relay-ca); empty: the system store.
	bool relayDirectory = false;                              ///< Be listed in the relay's directory.
	bool relayAnnounceAddresses = false;                      ///< true: publish our chat address (the host the relay sees
	                                                          ///< us at, and a gateway-mapped one) to anyone who looks us
	                                                          ///< up; false (privacy by default): announce none, so our
	                                                          ///< addresses reach contacts only, in punch candidates.
	std::chrono::milliseconds relayAddressTimeout{1500};      ///< Connect timeout for addresses learned from the relay
	                                                          ///< (a NAT drops unsolicited SYNs: the tunnel is next).
	std::chrono::milliseconds relayRetryMin{1000};            ///< Relay reconnect backoff, doubled up to relayRetryMax.
	std::chrono::milliseconds relayRetryMax{60000};
	std::chrono::milliseconds upgradeMin{1000};               ///< First try to replace a relayed session by a direct
	std::chrono::milliseconds upgradeMax{60000};              ///< one; the pause doubles up to upgradeMax.
	std::chrono::milliseconds receiptTimeout{10000};          ///< A session whose oldest message waits this long for its
	                                                          ///< receipt is presumed broken and replaced (failover).
	bool holePunching = true;                                 ///< Upgrade relayed sessions by TCP simultaneous open.
	bool portMapping = true;                                  ///< Map the chat port on the gateway (NAT-PMP, UPnP IGD)
	                                                          ///< and announce the mapped address to the relay.
	TransferConfig transfers;                                 ///< File transfers (downloads directory, limits).
	std::string relayToken;                                   ///< A private relay's access token (--relay-token).
	bool relayMailbox = true;                                 ///< Leave messages for offline contacts in their relay
	                                                          ///< mailbox, and take ours (sealed envelopes).
};


struct PeerInfo
	/// A snapshot of one peer as the node sees it.
{
	PeerId id;
	std::string name;                                  ///< The name the peer gives itself (untrusted text).
	std::string alias;                                 ///< Our local name for it (wins over name).
	Relation relation = Relation::STRANGER;
	bool consented = false;                            ///< It has written to us (we are its contact).
	std::int64_t lastSeenMs = 0;                       ///< Last session activity or LAN announcement (0: never).
	std::vector<Poco::Net::SocketAddress> addresses;   ///< Known chat endpoints.
	std::string via;                                   ///< How found: "lan", "relay", "incoming", "static" or "contact" (remembered).
	bool online = false;                               ///< Currently announced on the LAN (or connected).
	bool connected = false;                            ///< An established session exists.
	std::string path;                                  ///< "direct" or "relay" while connected, else empty.
	std::size_t pending = 0;                           ///< Our messages not yet acknowledged.
};


struct ChatMessage
	/// A received text message.
{
	std::string id;            ///< The sender's unique message ID.
	PeerId from;
	std::string name;          ///< The sender's display name.
	std::string text;
	std::int64_t timestampMs = 0;  ///< The sender's clock, ms since the Unix epoch.
	std::string path;          ///< "direct" or "relay" (through a relay tunnel).
	bool request = false;      ///< From a stranger: shown as a request until the user accepts or blocks it.
};


struct ChatNodeStats
{
	std::uint64_t sessionsOpened = 0;
	std::uint64_t sessionsRefused = 0;      ///< Over the pending limit.
	std::uint64_t duplicateSessions = 0;    ///< Closed by the simultaneous-dial tie-break.
	std::uint64_t messagesSent = 0;         ///< Text frames written (a retransmission counts again).
	std::uint64_t messagesReceived = 0;     ///< Distinct messages delivered to the handler.
	std::uint64_t duplicatesDropped = 0;    ///< Retransmitted messages already delivered.
	std::uint64_t connectFailures = 0;
	std::uint64_t relayLookups = 0;
	std::uint64_t relayTunnels = 0;         ///< Tunnel sessions opened, by us or to us.
	std::uint64_t upgrades = 0;             ///< Relayed sessions replaced by direct ones.
	std::uint64_t punchAttempts = 0;
	std::uint64_t punchSuccesses = 0;
	std::uint64_t receiptTimeouts = 0;      ///< Sessions dropped because receipts stopped coming.
	std::uint64_t predictionAttempts = 0;   ///< Port predictions tried (one NAT maps per destination).
	std::uint64_t predictionDials = 0;      ///< Connections opened by them (bounded per attempt).
	std::uint64_t predictionSuccesses = 0;
	std::uint64_t messagesRefused = 0;      ///< Messages of ours the peer refused.
	std::uint64_t inputRefused = 0;         ///< Malformed or unwanted messages from peers, skipped or refused.
	std::uint64_t strangersEvicted = 0;     ///< Idle strangers forgotten to stay within maxStrangers.
	std::uint64_t sessionsRefusedPerAddress = 0;  ///< Over maxSessionsPerAddress or maxPendingPerAddress.
	std::uint64_t dialsDenied = 0;          ///< Dials skipped by the per-peer budget.
	std::uint64_t addressesRefused = 0;     ///< Addresses peers gave that the address policy does not let us dial
	                                        ///< (counted once per address learned).
	std::uint64_t punchesIgnored = 0;       ///< Punch messages from peers that are not contacts.
	std::uint64_t mailDeposited = 0;        ///< Envelopes (messages, receipts) left in peers' relay mailboxes.
	std::uint64_t mailReceived = 0;         ///< Envelopes from our mailbox that opened.
	std::uint64_t mailRefused = 0;          ///< Envelopes from our mailbox that did not (dropped).
};


class ChatNode
	/// Assembles identity, LAN discovery, the relay and TLS sessions around one object per peer:
	///   - listens for chat sessions and announces itself on the LAN;
	///   - send() makes the recipient a contact, stores the message in its outbox (durable when
	///     the node has a database) and connects on demand through the connection ladder:
	///     known addresses, a relay lookup, a relay tunnel, with backoff while messages wait;
	///   - a message leaves the outbox only when the peer's receipt (delivered) or refusal
	///     (refused) arrives, so it is retransmitted after a reconnect; the receiver drops
	///     retransmissions by message ID, so each message is delivered once and in order;
	///   - one session per peer pair (PROTOCOL.md, "One session per pair");
	///   - a relayed session is upgraded in the background (direct addresses, hole punches
	///     coordinated through the relay, bounded port prediction when exactly one NAT maps per
	///     destination); a direct session replaces the relayed one without loss, duplicates or
	///     reordering; a session whose receipts stop coming (receiptTimeout) is dropped and the
	///     next round starts — over the relay if need be.
	///
	/// Consent: a peer becomes a contact when the user writes to it or accepts it. Until then
	/// the node acts on nothing it says — no dials, punches, predictions or upgrades toward it,
	/// and none of our addresses revealed to it; its conversation stays on the session it
	/// opened, and its messages arrive with ChatMessage::request set. Dial targets are only the
	/// LAN source address, the address the relay observed, a contact's announced addresses
	/// that pass the address policy (never loopback, unspecified, multicast, broadcast, or a
	/// private or link-local range that is not one of our own networks), and addresses the
	/// program gave with addPeerAddress(), within per-peer budgets.
	///
	/// Bounded state: sessions in total and per remote address, pending handshakes per remote
	/// address, strangers kept in memory (least recently active idle one forgotten first), per
	/// peer dials and reconnects per minute (see ChatNodeConfig).
	///
	/// Thread rules: every method must be called from the loop thread (asserted); handlers are
	/// called on the loop thread.
	/// Ownership: does not own the loop or the identity, which must outlive the node.
{
public:
	enum class PeerChange
	{
		FOUND,          ///< Discovered on the LAN (or first contact).
		UPDATED,        ///< Name, addresses, alias or relation changed.
		LOST,           ///< Gone from the LAN.
		CONNECTED,      ///< A session is established.
		DISCONNECTED,   ///< The session closed.
		PATH            ///< The session in use changed path ("relay" to "direct" or back).
	};

	using PeerHandler = std::function<void(PeerChange change, const PeerInfo& peer)>;
	using MessageHandler = std::function<void(const ChatMessage& message)>;
	using DeliveredHandler = std::function<void(const std::string& messageId, const PeerId& to)>;
	using RefusedHandler = std::function<void(const std::string& messageId, const PeerId& to, const std::string& code, const std::string& reason)>;
		/// The peer will not take the message (code as in SessionProtocol, reason its words,
		/// untrusted text): its delivery has ended.
	using ErrorHandler = std::function<void(const std::string& message)>;
		/// Terminal-safe text for the user.
	using RelayHandler = std::function<void(const std::string& state, const std::string& detail)>;
		/// state is "connecting", "online" or "offline"; detail says why (e.g. the relay is
		/// unreachable and when the next attempt is).

	ChatNode(EventLoop& loop, const Identity& identity, ChatNodeConfig config);
	~ChatNode();
		/// Calls stop().

	ChatNode(const ChatNode&) = delete;
	ChatNode& operator=(const ChatNode&) = delete;

	void setPeerHandler(PeerHandler handler);
	void setMessageHandler(MessageHandler handler);
	void setDeliveredHandler(DeliveredHandler handler);
	void setRefusedHandler(RefusedHandler handler);
	void setErrorHandler(ErrorHandler handler);
	void setRelayHandler(RelayHandler handler);

	void start();
		/// Opens the database (if any), starts listening and LAN discovery. Throws
		/// Poco::Net::NetException if the chat port or the discovery port cannot be bound, and
		/// the store's exception if the database cannot be opened. Messages that waited when
		/// the node last stopped go out as soon as their peers are reachable.

	void stop();
		/// Says goodbye on the LAN, closes every session. Idempotent.

	std::string send(const PeerId& to, const std::string& text);
		/// Makes to a contact, queues a message and returns its ID; it is delivered as soon as a
		/// session exists (with a database, it survives a restart until then). Throws
		/// Poco::InvalidArgumentException if the text exceeds SessionProtocol::MAX_TEXT_SIZE or
		/// is not valid UTF-8, or if to is us or blocked.

	void accept(const PeerId& peer);
		/// Makes peer a contact without writing to it (unblocks it).
	void block(const PeerId& peer);
		/// Refuses peer's sessions (and so its messages) from now on, closes the open ones and
		/// ends what waits for it.
	void setAlias(const PeerId& peer, const std::string& alias);
		/// A local name for peer (empty: none); it wins over the name the peer gives itself.
		/// Throws Poco::InvalidArgumentException for more than 64 bytes, invalid UTF-8 or
		/// control characters.

	void addPeerAddress(const PeerId& peer, const Poco::Net::SocketAddress& address, const std::string& via = "static");
		/// Tells the node where a peer listens (static configuration, tests). Such an address
		/// is dialed as given.

	std::vector<PeerInfo> peers() const;
		/// Every peer known now (in memory), in order of first contact this run.

	std::vector<PeerInfo> contacts() const;
		/// Every contact and blocked peer, including those not met since the start (from the
		/// store), by alias or name.

	std::optional<PeerInfo> peer(const PeerId& id) const;

	std::vector<PeerId> resolve(const std::string& query) const;
		/// Peers matching query, in this order of precedence: a full peer ID (known or not);
		/// else known peers whose ID starts with query (a valid ID prefix resolves as an ID
		/// before any name); else peers whose alias equals query (case-insensitive); else peers
		/// whose own name does. More than one result is ambiguous: the caller lists them.

	std::size_t pendingMessages() const;
		/// Messages accepted by send() and not yet delivered or refused, over all peers.

	bool durable() const;
		/// True if the node keeps a database (config.databasePath): history, and an outbox that
		/// survives a restart.

	std::vector<StoredMessage> history(const PeerId& peer, std::size_t count, std::int64_t beforeSequence = 0) const;
		/// The last count messages (at most ChatStore::MAX_PAGE) of the conversation with peer,
		/// both directions, oldest first; with beforeSequence, those before it (page back with the
		/// first one's sequence). Throws Poco::IllegalStateException without a database.

	std::vector<SearchResult> search(const std::string& words, std::size_t limit) const;
		/// Messages of every conversation containing all the words (whole words, case- and
		/// accent-insensitive, "word*" as a prefix), newest first, with a snippet in which the
		/// matches are marked [like this]. Any input is words, never query syntax. Throws
		/// Poco::IllegalStateException without a database.

	const PeerId& id() const;
	const std::string& name() const;
	void setName(const std::string& name);
		/// Our display name from now on (the console's /nick): in LAN announcements at once, in
		/// the relay's record at its next announce, in the hello of every new session, and told
		/// to every connected peer that understands it (message 9). Not saved: the configured
		/// name is back at the next start. Throws Poco::InvalidArgumentException if the name is
		/// empty, longer than SessionProtocol::MAX_NAME_SIZE bytes or not valid UTF-8. Must be
		/// called from the loop thread.
	std::uint16_t port() const;
		/// The bound chat port.
	std::uint16_t lanPort() const;
		/// The bound discovery port, 0 if LAN discovery is off.
	const ChatNodeStats& stats() const;

	std::string relayState() const;
		/// "none" without a relay, else "connecting", "online" or "offline".

	std::optional<Poco::Net::SocketAddress> reflexiveAddress() const;
		/// Our address as the relay sees it, once known.

	Relay::NatInfo natInfo() const;
		/// What the relay's probe taught us about our NAT (UNKNOWN without a relay).

	PortMapping portMapping() const;
		/// The gateway port mapping of the chat port (inactive, with the reason, if none).

	std::size_t sessionCount() const;
		/// Live sessions, including unfinished handshakes and duplicates being closed.

	std::size_t peerCount() const;
		/// Peers kept in memory (contacts, and strangers up to maxStrangers).

	// File transfers (docs/PROTOCOL.md, "File transfer") ----------------------------------------
	//
	// A file is offered with its name, size and SHA-256, and pulled by the receiver in blocks
	// (128 KiB, larger for big files), each verified before it is written, the whole file
	// verified at the end. Transfers resume after a broken session, a change of path or a
	// restart of either side (with a database), and never delay chat messages by more than a
	// few milliseconds' worth of data. Transfer IDs are 32 hex characters.

	using TransferHandler = std::function<void(const TransferInfo& transfer, bool progressOnly)>;
		/// Every change of a transfer: a new offer (incoming: OFFERED, with request set for a
		/// stranger's), each change of state, and, with progressOnly, its progress at most every
		/// TransferConfig::progressInterval.

	void setTransferHandler(TransferHandler handler);

	std::string sendFile(const PeerId& to, const std::string& path);
		/// Makes to a contact and offers it the file (after hashing it on a worker thread);
		/// returns the transfer's ID. Throws Poco::InvalidArgumentException if to is us or
		/// blocked, Poco::FileNotFoundException / Poco::FileException if path is not a readable
		/// regular file.

	std::vector<std::string> sendFileToGroup(const std::string& group, const std::string& path);
		/// Offers the file to every other member of the group but those we blocked, each over
		/// its own session and each offer marked with the group (TransferInfo::group); the file
		/// is hashed once.
		/// Members are not made contacts; a member not connected now gets the offer when it
		/// connects (the offers are stored, as any). Returns the transfer IDs, one per member.
		/// Throws Poco::InvalidArgumentException (a malformed group ID, no other member),
		/// Poco::NotFoundException (an unknown group), Poco::IllegalStateException (we are not
		/// a member), and as sendFile() for the path.

	TransferInfo acceptFile(const std::string& id);
		/// Accepts an offer: the file lands in the downloads directory under a safe, free name.
		/// A stranger's offer makes it a contact (as a reply does; not a group's file from a
		/// member of the group, which is taken like a contact's). Throws
		/// Poco::NotFoundException, Poco::IllegalStateException (not waiting for an answer),
		/// Poco::RuntimeException (not enough disk space; too many downloads), Poco::FileException.

	TransferInfo rejectFile(const std::string& id);
		/// Declines an offer. Throws as acceptFile().

	TransferInfo cancelFile(const std::string& id);
		/// Ends an unfinished transfer in either direction (a partial download is deleted).
		/// Throws Poco::NotFoundException.

	std::vector<TransferInfo> transfers() const;
		/// The transfers in memory: unfinished ones and the last finished ones, oldest first.

	std::vector<TransferInfo> findTransfers(const std::string& idPrefix) const;
		/// Transfers whose ID starts with idPrefix (so users can type a short prefix).

	void setAutoAccept(const PeerId& peer, std::uint64_t maxBytes);
		/// Offers from this contact of at most maxBytes are accepted without asking; 0: ask
		/// (kept in the database). Never applies to strangers. Throws
		/// Poco::InvalidArgumentException for ourselves.

	std::uint64_t autoAccept(const PeerId& peer) const;

	std::string downloadDirectory() const;
		/// Where received files land.

	const TransferStats& transferStats() const;

	// Groups (Group.h; docs/PROTOCOL.md, "Groups") ------------------------------------------
	//
	// A group is named by its ID's text form (64 hex digits, GroupInfo::id). Its membership is
	// a log signed by its founder and the admins the founder names; messages are signed by
	// their authors and fanned out over the members' pairwise sessions; a member that was away
	// catches up from any member when a session comes up. Consent: an invitation is a request
	// (GroupChange "invited") the user accepts or ignores; the members of the groups we are in
	// become peers the node connects to for the group (not contacts); leaving or being removed
	// ends that. With a database, groups and their history survive restarts.
	// Every call below must be called from the loop thread; handlers run on it. Calls taking a
	// group throw Poco::InvalidArgumentException for a malformed ID and
	// Poco::NotFoundException for an unknown group.

	using GroupMessageHandler = std::function<void(const GroupMessage& message)>;
		/// A member's message, delivered once, in its author's order.
	using GroupHandler = std::function<void(const GroupChange& change)>;
		/// Membership, name or invitation changes.

	void setGroupMessageHandler(GroupMessageHandler handler);
	void setGroupHandler(GroupHandler handler);

	std::string createGroup(const std::string& name, bool shareHistory = false);
		/// Founds a group (we are its founder and only member) and returns its ID. With
		/// shareHistory, new members receive the messages written before they joined.
		/// Throws Poco::InvalidArgumentException for a name that is not 1..64 bytes of UTF-8
		/// without control characters.
	void inviteToGroup(const std::string& group, const PeerId& peer);
		/// Invites peer (it becomes our contact); the invitation goes out when a session is up.
		/// When the peer accepts, we add it to the log. Throws Poco::IllegalStateException unless
		/// we are an admin of the group, Poco::InvalidArgumentException for a member or us.
	void acceptGroupInvitation(const std::string& group);
		/// Accepts an invitation: our signed join goes to the inviter, who adds us ("joined").
	void leaveGroup(const std::string& group);
		/// Leaves the group (a signed entry in its log), or declines an invitation.
	void kickFromGroup(const std::string& group, const PeerId& peer);
		/// Removes a member (admins; only the founder removes admins). Its messages after the
		/// last one we had are refused by every member that has seen the removal.
	void promoteInGroup(const std::string& group, const PeerId& peer);
		/// Makes a member an admin (the founder only).
	void renameGroup(const std::string& group, const std::string& name);
		/// Renames the group (admins).
	GroupMessage sendToGroup(const std::string& group, const std::string& text);
		/// Writes a message to every member (stored first with a database) and returns it.
		/// Throws Poco::IllegalStateException unless we are a member,
		/// Poco::InvalidArgumentException for text over SessionProtocol::MAX_TEXT_SIZE or not UTF-8.
	std::vector<GroupInfo> groups() const;
		/// Every group we know (member, invited, joining, left, removed), by name.
	GroupInfo groupMembers(const std::string& group) const;
		/// The group with its memberList.
	std::vector<GroupMessage> groupHistory(const std::string& group, std::size_t count, std::int64_t beforeSequence = 0) const;
		/// The last count messages (at most ChatStore::MAX_PAGE) in the order they were delivered
		/// (each author's in its order), oldest first; before beforeSequence if positive. Without
		/// a database, the recent ones kept in memory.
	std::vector<std::string> resolveGroup(const std::string& query) const;
		/// IDs of the groups whose ID starts with query (4 or more hex digits), else whose name
		/// equals query (case-insensitive). More than one is ambiguous.
	GroupStats groupStats() const;
		/// Counters of the group service.
	// Private relays, handles and the relay mailbox ------------------------------------------

	struct HandleAnswer
		/// What a relay says a handle is bound to, against what we pinned.
	{
		std::string handle;                 ///< Lower-case, as asked.
		std::string relay;                  ///< The relay that answered, "host:port".
		std::optional<PeerId> id;           ///< The peer the relay binds it to (its signed claim checked);
		                                    ///< empty if nobody holds it (or on error).
		std::optional<PeerId> pinned;       ///< What we pinned for handle@relay before, if anything.
		bool firstUse = false;              ///< Pinned to id just now.
		bool keyChanged = false;            ///< The relay names another key than the pinned one: not taken.
		std::string error;                  ///< Why there is no answer.
	};

	using HandleHandler = std::function<void(const HandleAnswer& answer)>;
	using DepositedHandler = std::function<void(const std::string& messageId, const PeerId& to)>;
		/// A waiting message is now also in the recipient's relay mailbox.

	void setDepositedHandler(DepositedHandler handler);

	void claimHandle(const std::string& handle, std::function<void(const std::string& error)> done);
		/// Claims handle (3 to 32 characters: a-z first, then a-z, 0-9, - or _; upper-case
		/// letters are lowered) on the relay, first come first served; our announces keep it.
		/// done gets an empty error on success. Throws Poco::InvalidArgumentException for a
		/// malformed handle, Poco::IllegalStateException without a relay.

	void releaseHandle(std::function<void(const std::string& error)> done);
		/// Gives our handle on the relay up. Throws Poco::IllegalStateException without a relay.

	void lookupHandle(const std::string& spec, HandleHandler done);
		/// spec is "alice" (on the configured relay) or "alice@host[:port]" (on that relay;
		/// the configured one if host is its host). The first answer for handle@relay is pinned
		/// (in the store when there is one); a later answer naming another key is reported with
		/// keyChanged and never replaces the pin. A relay answers only ID and key, never
		/// addresses. Throws Poco::InvalidArgumentException for a malformed spec,
		/// Poco::IllegalStateException without a relay to ask.

	bool unpinHandle(const std::string& spec);
		/// Forgets the pin of handle@relay, so that the next lookup pins what the relay says.

	static std::optional<std::pair<std::string, std::string>> parseHandleSpec(const std::string& spec);
		/// ("alice", "host[:port]" or "") for "Alice" or "alice@host[:port]"; empty if it is not
		/// a handle. Safe to call from any thread.

	std::string relayRefusal() const;
		/// The relay's code if it refused our access token ("token_required", ...); else empty.

private:
	class Impl;
	std::unique_ptr<Impl> _pImpl;
};


} } // namespace CrossChat::Chat


#endif // CrossChat_Chat_ChatNode_INCLUDED
