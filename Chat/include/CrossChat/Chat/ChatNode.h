//
// ChatNode.h
//
// Library: Chat
// The façade that programs embed: identity + LAN discovery + TLS chat sessions.
//


#ifndef CrossChat_Chat_ChatNode_INCLUDED
#define CrossChat_Chat_ChatNode_INCLUDED


#include "CrossChat/Discovery/LanDiscovery.h"
#include "CrossChat/Chat/PortMapper.h"
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
	std::size_t maxPendingSessions = 64;                      ///< Unfinished handshakes accepted at once.
	std::string relayUrl;                                     ///< http://host:port of a relay (--relay); empty: none.
	bool relayDirectory = false;                              ///< Be listed in the relay's directory.
	bool relayAnnounceAddresses = true;                       ///< false: announce no chat address, so peers reach us
	                                                          ///< only through relay tunnels (hides our IP from them).
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
};


struct PeerInfo
	/// A snapshot of one peer as the node sees it.
{
	PeerId id;
	std::string name;
	std::vector<Poco::Net::SocketAddress> addresses;   ///< Known chat endpoints.
	std::string via;                                   ///< How found: "lan", "relay", "incoming" or "static".
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
};


class ChatNode
	/// Assembles identity, LAN discovery and TLS sessions:
	///   - listens for chat sessions and announces itself on the LAN;
	///   - send() queues a message in the peer's outbox and connects on demand, trying each
	///     known address, then retrying with exponential backoff while messages are pending;
	///   - a message leaves the outbox only when the peer's receipt arrives, so a message is
	///     retransmitted after a reconnect; the receiver drops retransmissions by message ID,
	///     so each message is delivered once and in order per session;
	///   - one session per peer pair: when both dial at once, the session dialed by the peer
	///     with the smaller PeerId survives on both sides;
	///   - with a relay (config.relayUrl), the node stays announced there; a peer with no
	///     working known address is looked up on the relay, its announced addresses (with the
	///     host the relay sees it at, and its gateway-mapped address) are tried directly, and
	///     then a relay tunnel carries the same TLS session
	///     (path "relay"); the relay only ever sees ciphertext. Messages wait while the relay
	///     is down and go out once it is back;
	///   - a relayed session is upgraded in the background: known addresses are tried directly
	///     and, with holePunching, a TCP simultaneous open is coordinated through the relay (the
	///     peer with the smaller ID initiates, at most 3 attempts per round, rounds repeat with
	///     a growing pause; when exactly one NAT maps per destination, a bounded port
	///     prediction: 64 fresh mappings on that side against 256 guessed ports from the other); a direct session replaces the relayed one (PATH event) and the
	///     unacknowledged messages are sent again on it in order, so nothing is lost, duplicated
	///     (receivers drop repeats by ID) or reordered. A session whose receipts stop coming
	///     (receiptTimeout) is dropped and the next round starts — over the relay if need be.
	///
	/// Thread rules: every method must be called from the loop thread (asserted); handlers are
	/// called on the loop thread.
	/// Ownership: does not own the loop or the identity, which must outlive the node.
{
public:
	enum class PeerChange
	{
		FOUND,          ///< Discovered on the LAN (or first contact).
		UPDATED,        ///< Name or addresses changed.
		LOST,           ///< Gone from the LAN.
		CONNECTED,      ///< A session is established.
		DISCONNECTED,   ///< The session closed.
		PATH            ///< The session in use changed path ("relay" to "direct" or back).
	};

	using PeerHandler = std::function<void(PeerChange change, const PeerInfo& peer)>;
	using MessageHandler = std::function<void(const ChatMessage& message)>;
	using DeliveredHandler = std::function<void(const std::string& messageId, const PeerId& to)>;
	using ErrorHandler = std::function<void(const std::string& message)>;
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
	void setErrorHandler(ErrorHandler handler);
	void setRelayHandler(RelayHandler handler);

	void start();
		/// Starts listening and LAN discovery. Throws Poco::Net::NetException if the chat port
		/// or the discovery port cannot be bound.

	void stop();
		/// Says goodbye on the LAN, closes every session. Idempotent.

	std::string send(const PeerId& to, const std::string& text);
		/// Queues a message and returns its ID; it is delivered as soon as a session exists.
		/// Throws Poco::InvalidArgumentException if the text exceeds SessionProtocol::MAX_TEXT_SIZE.

	void addPeerAddress(const PeerId& peer, const Poco::Net::SocketAddress& address, const std::string& via = "static");
		/// Tells the node where a peer listens (static configuration, tests, the relay later).

	std::vector<PeerInfo> peers() const;
		/// Every peer known, in order of first contact.

	std::optional<PeerInfo> peer(const PeerId& id) const;

	std::vector<PeerId> resolve(const std::string& query) const;
		/// Peers matching query: a full peer ID (known or not), else peers whose name equals
		/// query (case-insensitive), else peers whose ID starts with query. The caller treats
		/// more than one result as ambiguous.

	const PeerId& id() const;
	const std::string& name() const;
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

private:
	class Impl;
	std::unique_ptr<Impl> _pImpl;
};


} } // namespace CrossChat::Chat


#endif // CrossChat_Chat_ChatNode_INCLUDED
