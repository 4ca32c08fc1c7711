//
// Peer.h
//
// Library: Chat
// Private: everything the node knows and does about one peer.
// This is an internal header file, it is not installed; do not include it from outside Chat/src.
//


#ifndef CrossChat_Chat_Peer_INCLUDED
#define CrossChat_Chat_Peer_INCLUDED


#include "Ladder.h"
#include "Outbox.h"
#include "PeerHost.h"
#include "Session.h"
#include "CrossChat/Chat/ChatNode.h"
#include "CrossChat/LogThrottle.h"
#include "CrossChat/TimerHandle.h"
#include "Poco/Net/SocketAddress.h"
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_set>
#include <vector>


namespace CrossChat {
namespace Chat {


enum class AddressSource
	/// Where an address of a peer came from; it decides whether and how it may be dialed.
	/// In order of the strength of the evidence: what was observed before the peer's word.
{
	USER,            ///< Given by our own user or program (addPeerAddress): dialed as given.
	LAN_OBSERVED,    ///< The source address of the peer's LAN announcement (with its chat port).
	RELAY_OBSERVED,  ///< The host the relay saw the peer at (with its announced chat port).
	LAN_ANNOUNCED,   ///< Another address the LAN announcement lists (the peer's word).
	RELAY_ANNOUNCED  ///< An address the peer announced to the relay or in a punch (the peer's word).
};


struct PeerAddress
{
	Poco::Net::SocketAddress address;
	AddressSource source = AddressSource::USER;
};


class Peer: public Session::Listener, public std::enable_shared_from_this<Peer>
	/// One peer as the node sees it, and everything done about it: its sessions (the one in
	/// use, incoming ones not yet established, and the attempts of its Ladder), its outbox and
	/// receipt watchdog, its duplicate filter, its relation to the user (stranger, contact,
	/// blocked) and what it told us (name, addresses).
	///
	/// It hears back from every session it has (it is their Listener), so the reason a session
	/// closed reaches the object that cares; it reports upward through its PeerHost.
	///
	/// Consent: the Ladder dials, punches and upgrades only for a contact; a stranger's
	/// conversation stays on the session it opened, and its messages cost bounded resources
	/// (a small duplicate filter and a message rate; beyond it, messages are refused "busy").
	///
	/// Thread rules: loop thread only (the host's scheduler's).
	/// Ownership: owned by std::shared_ptr (the node's peer table); owns its sessions, outbox,
	/// ladder and timers; asynchronous callbacks hold weak_ptrs. shutdown() (also from the
	/// destructor) detaches every session, so none calls back into a dead Peer.
{
public:
	using Ptr = std::shared_ptr<Peer>;

	static constexpr std::size_t SEEN_IDS_CONTACT = 4096;  ///< Recent message ids kept in memory per contact.
	static constexpr std::size_t SEEN_IDS_STRANGER = 256;  ///< ... per stranger.
	static constexpr std::size_t MAX_ADDRESSES = 16;       ///< Known addresses kept per peer.
	static constexpr const char* UPGRADE_REASON = "upgraded to a direct path";   ///< Close reason of a relayed session replaced by a direct one.
	static constexpr std::chrono::seconds HANDOVER_GRACE{5};  ///< How long a peer's close with UPGRADE_REASON waits for the direct session
	                                                          ///< before it counts as a disconnection.
	static constexpr int STRANGER_MESSAGE_BURST = 20;      ///< A stranger's messages taken at once...
	static constexpr std::chrono::seconds STRANGER_MESSAGE_PERIOD{3};  ///< ...then one per period.

	Peer(PeerHost& host, const PeerId& id);
	~Peer() override;

	Peer(const Peer&) = delete;
	Peer& operator=(const Peer&) = delete;

	void shutdown();
		/// Detaches every session and cancels every timer (the node is stopping or evicts us).

	// What we know -------------------------------------------------------------------------

	const PeerId& id() const;
	Relation relation() const;
	void setRelation(Relation relation);
		/// CONTACT: the ladder may act for it (and starts now if messages wait); BLOCKED: its
		/// messages are refused, nothing is dialed; STRANGER: back to receiving only.
	bool consented() const;
		/// The peer has written to us (so we are its contact): upgrades may start.
	void setConsented(bool consented);
	bool groupPeer() const;
	void setGroupPeer(bool groupPeer);
		/// We share a group with the peer (or invited it, or wait for it as our inviter): the
		/// ladder acts for it as for a contact (unless it is blocked), upgrades go ahead as if it
		/// had written to us (both sides chose the group), and a session to it is kept.
	bool trusted() const;
		/// A contact, or a group peer that is not blocked: the ladder may dial and upgrade it.
	bool wantsSession() const;
		/// Messages or a service's work wait for it (waiting()), or it is a group peer.
	const std::string& alias() const;
	void setAlias(const std::string& alias);
	const std::string& name() const;
		/// The name the peer gives itself (terminal-safe only when printed).
	void setName(const std::string& name);
	void restoreContact(Relation relation, const std::string& alias, const std::string& name, std::int64_t lastSeenMs);
		/// What the store remembered of a contact (or blocked peer), without events.
	std::vector<std::string> addressTexts() const;
		/// The known addresses (not the ones our user gave), as text, for the store.
	std::string displayName() const;
		/// Terminal-safe: the alias, else the peer's name, with the short ID.
	PeerInfo info() const;
	std::int64_t lastSeenMs() const;
	Scheduler::TimePoint lastActivity() const;
		/// For the stranger LRU.
	bool idle() const;
		/// No session, no waiting message: nothing is lost if it is evicted.
	std::size_t sessionCount() const;

	// Addresses ----------------------------------------------------------------------------

	void lanFound(const std::string& name, const Poco::Net::SocketAddress& source, const std::vector<Poco::Net::SocketAddress>& announced);
		/// Found or updated on the LAN: source is the datagram's source host with the chat port.
	void lanLost();
	void addAddress(const Poco::Net::SocketAddress& address, AddressSource source);
	void learnFromRelay(const Relay::RelayPeerRecord& record);
		/// A lookup's answer: its observed host (with the announced chat port) and, for a contact,
		/// its announced addresses.
	std::vector<PeerAddress> dialableAddresses() const;
		/// The addresses that may be dialed now, best first: our user's, the LAN source, what
		/// the relay observed, then (contacts only) addresses the peer announced that pass the
		/// address policy.
	bool fromRelay(const Poco::Net::SocketAddress& address) const;
	void relayObserved(const Poco::Net::IPAddress& host);
		/// The relay vouches that the peer's control channel comes from host (a punch answer or
		/// sync it forwarded): an observation, like a lookup's.
	bool observedAt(const Poco::Net::IPAddress& host) const;
		/// Evidence that the peer is at host: our user gave an address there, its LAN
		/// announcement came from there, or the relay saw it there (a lookup's observed address).
	const std::string& via() const;

	// Messages -----------------------------------------------------------------------------

	void send(Outbox::Entry message);
		/// Queues a message (the caller made the peer a contact) and sends it now or connects.
	void restore(std::vector<Outbox::Entry> messages);
		/// Messages that waited before a restart, in order; sent when a session exists.
	const Outbox& outbox() const;
	void setWaiting(const std::string& service, bool waiting);
		/// A service (file transfer, ...) has work for this peer that needs a session (or no
		/// longer has): the ladder connects for it as for waiting messages (contacts only).
	bool waiting() const;
		/// Messages wait in the outbox, or a service has work waiting: worth a session.

	// Sessions -----------------------------------------------------------------------------

	void adopt(const Session::Ptr& session);
		/// An incoming session (TLS done, peerId() is us): the peer takes it over.
	bool sendMessage(const std::string& name, const Poco::JSON::Object& body);
		/// On the session in use, if there is one (false otherwise): for the node's services.
	bool sendData(std::uint8_t type, const std::string& body);
		/// A binary frame on the session in use, if there is one (false otherwise): for the
		/// node's services.
	bool supports(const std::string& capability) const;
		/// The session in use's peer announced capability in its hello.
	void announceName(const std::string& name);
		/// Tells the peer our new name (message 9) if its session in use understands it.
	const Session::Ptr& current() const;
		/// The established session in use, or null.
	std::optional<Path> currentPath() const;
	bool relayed() const;
		/// The session in use goes through a relay.
	void relayChanged(bool online);
	void punchReceived(const Relay::PunchMessage& message);
	void punchFailed(const std::string& error);
	Ladder& ladder();

	// Session::Listener --------------------------------------------------------------------

	void onSessionTlsReady(Session& session) override;
	void onSessionEstablished(Session& session) override;
	void onSessionMessage(Session& session, const Message& message) override;
	void onSessionRefusedInput(Session& session, const std::string& messageId, const std::string& problem) override;
	void onSessionClosed(Session& session, const std::string& reason) override;
	void onSessionData(Session& session, std::uint8_t type, const std::string& body) override;

	// For the Ladder ----------------------------------------------------------------------

	PeerHost& host();
	Session::Ptr open(const Dial& dial);
		/// A direct attempt; the session is ours until it ends.
	void openTunnel(std::function<void(const Session::Ptr& session, const std::string& error)> done);
	void reportUnreachable(const std::string& why);
		/// A dial round failed: tells the user once per outage (while messages wait).

	// The relay's mailbox -------------------------------------------------------------------

	enum class MailResult
	{
		KEPT,         ///< New: stored and delivered to the user.
		DUPLICATE,    ///< Seen before (by mail or on a session): dropped.
		BLOCKED       ///< We refuse this peer's messages.
	};

	MailResult takeMail(const std::string& id, std::int64_t timestampMs, const std::string& text);
		/// A text that came through our mailbox (path "mailbox"): the duplicate filter, then,
		/// if new, stored (PeerHost::messageReceived()) and delivered once, like a session's.
	bool acknowledgeByMail(const std::string& id);
		/// The peer's receipt came through our mailbox: the message leaves the outbox. False if
		/// it was not waiting.

private:
	void touch();
	void keep(const Session::Ptr& session);
	void changed(ChatNode::PeerChange change);
	void takeSession(const Session::Ptr& session);
	void replaceCurrent(const Session::Ptr& session, const char* reason);
	void flushOutbox();
	void armReceiptWatchdog();
	void checkReceipts();
	void onText(Session& session, const Message& message);
	void onReceipt(const Message& message);
	void onRefuse(const Message& message);
	void onName(const std::string& name);
	void handoverFailed();
	bool seen(const std::string& id);
	bool strangerAllowance();
	bool dialedBySmallerId(const Session& session) const;

	PeerHost& _host;
	const PeerId _id;
	Relation _relation = Relation::STRANGER;
	bool _consented = false;
	bool _groupPeer = false;
	std::string _alias;
	std::string _name;
	std::string _via;
	bool _online = false;
	std::vector<PeerAddress> _addresses;
	std::optional<Poco::Net::IPAddress> _relayObservedHost;   ///< From the last lookup, with or without a chat port.
	std::int64_t _lastSeenMs = 0;
	Scheduler::TimePoint _lastActivity;
	std::optional<Path> _lastPath;
	bool _unreachableReported = false;
	std::map<std::uint64_t, Session::Ptr> _sessions;   ///< Every session with this peer, by serial.
	Session::Ptr _current;
	std::vector<Session::Ptr> _spares;   ///< Established sessions the peer dialed besides _current, kept until
	                                     ///< the peer (their dialer) closes the one it does not keep.
	Outbox _outbox;
	std::set<std::string> _serviceWork;   ///< Services with work waiting for a session.
	TimerHandle _receiptTimer;
	TimerHandle _handoverTimer;        ///< Armed while the peer's move to a direct session is awaited.
	std::unordered_set<std::string> _seen;
	std::deque<std::string> _seenOrder;
	double _strangerTokens = STRANGER_MESSAGE_BURST;
	Scheduler::TimePoint _strangerRefill;
	LogThrottle _logThrottle;
	LogThrottle _renameThrottle{5, std::chrono::seconds(60)};   ///< Renames taken from the peer.
	Ladder _ladder;
};


} } // namespace CrossChat::Chat


#endif // CrossChat_Chat_Peer_INCLUDED
