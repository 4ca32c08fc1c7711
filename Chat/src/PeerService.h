//
// PeerService.h
//
// Library: Chat
// Private: a feature that speaks its own session messages with peers (groups, file
// transfers, ...) on top of the node's sessions.
// This is an internal header file, it is not installed; do not include it from outside Chat/src.
//


#ifndef CrossChat_Chat_PeerService_INCLUDED
#define CrossChat_Chat_PeerService_INCLUDED


#include "CrossChat/Chat/ChatNode.h"
#include "CrossChat/MessageCatalog.h"
#include <string>
#include <vector>


namespace CrossChat {
namespace Chat {


class Peer;


class PeerService
	/// A node-level component owning one feature's state (one object per group, per transfer,
	/// ...) and its session messages. The node (ChatNode::Impl) routes to it:
	///   - every message whose name it lists in messages(), from any peer's session in use
	///     (the peer has passed TLS and hello; consent rules are the service's business);
	///   - every peer change (CONNECTED, DISCONNECTED, PATH, ...), e.g. to exchange what is
	///     missing when a session comes up;
	/// and it sends through Peer::sendMessage() (the session in use, if any). Its messages are
	/// declared in SessionProtocol's catalog; caps() are announced in our hello and checked
	/// with Peer::supports() before sending to a peer.
	///
	/// Thread rules: loop thread only. Ownership: owned by the node, which outlives no service
	/// it calls; a service holds no Peer beyond a call (it keeps PeerIds).
{
public:
	virtual ~PeerService() = default;

	virtual std::vector<std::string> messages() const = 0;
		/// The session message names it handles.

	virtual std::vector<std::string> caps() const = 0;
		/// Capabilities announced in hello (e.g. "groups/1").

	virtual void onMessage(Peer& peer, const Message& message) = 0;
		/// One of its messages from peer (schema-checked).

	virtual std::vector<std::uint8_t> dataTypes() const { return {}; }
		/// The binary frame types it handles (SessionProtocol::isBinary()); none by default.

	virtual void onData(Peer& /*peer*/, std::uint8_t /*type*/, const std::string& /*body*/) {}
		/// One of its binary frames from peer, unparsed (the service's own codec checks it).

	virtual void onPeerChanged(Peer& peer, ChatNode::PeerChange change) = 0;

	virtual void start() = 0;
		/// The node has started (its store is open).

	virtual void stop() = 0;
		/// The node stops: cancel timers, forget sessions.
};


} } // namespace CrossChat::Chat


#endif // CrossChat_Chat_PeerService_INCLUDED
