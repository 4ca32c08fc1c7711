//
// PeerHost.h
//
// Library: Chat
// Private: what a Peer needs from the node that owns it (connections, the relay, the
// address policy, reporting), as an interface so that Peer and Ladder can be unit-tested with
// a fake host, fake sessions and a ManualScheduler.
// This is an internal header file, it is not installed; do not include it from outside Chat/src.
//


#ifndef CrossChat_Chat_PeerHost_INCLUDED
#define CrossChat_Chat_PeerHost_INCLUDED


#include "Session.h"
#include "CrossChat/Chat/ChatNode.h"
#include "CrossChat/Relay/ControlMessages.h"
#include "CrossChat/Relay/RelayClient.h"
#include "CrossChat/Scheduler.h"
#include "Poco/Net/SocketAddress.h"
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>


namespace CrossChat {
namespace Chat {


class Peer;


struct Dial
	/// One outgoing connection a peer asks for.
{
	Poco::Net::SocketAddress address;
	std::chrono::milliseconds timeout{5000};
	std::uint16_t localPort = 0;   ///< 0: any port; else bind it with SO_REUSEADDR + SO_REUSEPORT (punching).
	bool tlsClient = true;         ///< We are the TLS client (pinned to the peer's ID); false: the TLS server.
};


struct RelayView
	/// What the ladder needs to know of the relay connection.
{
	bool configured = false;       ///< The node has a relay.
	bool online = false;           ///< Its control channel is authenticated.
	std::uint16_t punchPort = 0;   ///< The control channel's local port (0 while offline).
	Relay::NatType nat = Relay::NatType::UNKNOWN;
	std::optional<Poco::Net::SocketAddress> reflexive;   ///< The control channel as the relay sees it.
};


class PeerHost
	/// Implemented by ChatNode::Impl; faked in tests.
	///
	/// Thread rules: every call on the loop thread. Callbacks given to lookup() and openTunnel()
	/// are called later on the loop (never from inside the call), or never if the node stops.
{
public:
	using LookupHandler = std::function<void(const std::optional<Relay::RelayPeerRecord>& record, const std::string& error)>;
	using TunnelHandler = std::function<void(const Session::Ptr& session, const std::string& error)>;

	virtual ~PeerHost() = default;

	virtual Scheduler& scheduler() = 0;
	virtual const PeerId& selfId() const = 0;
	virtual const ChatNodeConfig& config() const = 0;

	virtual Session::Ptr connect(const PeerId& peer, const Dial& dial, Session::Listener& listener) = 0;
		/// Opens a direct connection with TLS pinned to peer; the session reports to listener.
	virtual void openTunnel(const PeerId& peer, Session::Listener& listener, TunnelHandler handler) = 0;
		/// Asks the relay for a tunnel to peer and starts a TLS client session in it.
	virtual void lookup(const PeerId& peer, LookupHandler handler) = 0;
	virtual bool sendPunch(const Relay::PunchMessage& message) = 0;
		/// Through the relay's control channel; false if it is not online.
	virtual RelayView relay() const = 0;
	virtual std::vector<Poco::Net::SocketAddress> ownCandidates() const = 0;
		/// Extra addresses of ours to offer a contact in a punch (e.g. the gateway-mapped chat
		/// address); the reflexive punch address is added by the ladder.
	virtual bool mayDial(const Poco::Net::SocketAddress& address) const = 0;
		/// The address policy for addresses a peer gave us (not for observed ones): false for
		/// loopback, unspecified, multicast, broadcast, and private or link-local addresses that
		/// are not on one of our own networks.

	virtual void peerChanged(ChatNode::PeerChange change, Peer& peer) = 0;
	virtual void serviceMessage(Peer& peer, const Message& message) = 0;
		/// A message for one of the node's services (not text, receipt, refuse or contact).
	virtual void serviceData(Peer& peer, std::uint8_t type, const std::string& body) = 0;
		/// A binary frame (SessionProtocol::isBinary(type)) for one of the node's services.
	virtual void messageReceived(Peer& peer, const ChatMessage& message) = 0;
		/// A new text message (duplicates already dropped).
	virtual bool isDuplicate(Peer& peer, const std::string& messageId) = 0;
		/// True if messageId from peer was received before (then it is only acknowledged again).
	virtual void delivered(const Peer& peer, const std::string& messageId) = 0;
	virtual void refused(const Peer& peer, const std::string& messageId, const std::string& code, const std::string& reason) = 0;
		/// The peer will not take messageId: its delivery has ended.
	virtual void written(const Peer& peer, const std::string& messageId) = 0;
		/// messageId was written on a session for the first time.
	virtual void peerError(const Peer& peer, const std::string& text) = 0;
		/// Something the user should hear about (e.g. unreachable, messages waiting).
	virtual void countStat(std::uint64_t ChatNodeStats::*counter, std::uint64_t amount = 1) = 0;
	virtual void peerUnreachable(Peer&)
	{
	}
		/// A dial round for the peer failed (its messages wait): the node may leave them in its
		/// relay mailbox. Default: nothing.
};


} } // namespace CrossChat::Chat


#endif // CrossChat_Chat_PeerHost_INCLUDED
