//
// Session.h
//
// Library: Chat
// Private: what a peer needs of one chat session, so that the peer's logic can be tested with
// fake sessions (no sockets, no TLS) and a manual clock.
// This is an internal header file, it is not installed; do not include it from outside Chat/src.
//


#ifndef CrossChat_Chat_Session_INCLUDED
#define CrossChat_Chat_Session_INCLUDED


#include "CrossChat/MessageCatalog.h"
#include "CrossChat/PeerId.h"
#include "Poco/JSON/Object.h"
#include "Poco/Net/SocketAddress.h"
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>


namespace CrossChat {
namespace Chat {


enum class Path
	/// How a session reaches the peer.
{
	DIRECT,   ///< A TCP connection to the peer (LAN, a public or mapped address, a hole punch).
	RELAY     ///< A tunnel through a relay (the relay copies TLS records it cannot read).
};


const char* pathName(Path path);
	/// "direct" or "relay" (the names of the JSON events and PROTOCOL.md).


class Session
	/// One chat session with one peer: TLS pinned to the peer's ID, then the session protocol
	/// (SessionProtocol). ChatSession is the real one; unit tests use fakes.
	///
	/// Thread rules: loop thread only; Listener calls happen on it, never from inside a send
	/// method (a session reports its closing later, from the loop).
	/// Ownership: held by std::shared_ptr; does not own its Listener, which must call
	/// setListener(nullptr) (or detach()) before it dies.
{
public:
	using Ptr = std::shared_ptr<Session>;

	class Listener
	{
	public:
		virtual ~Listener() = default;
		virtual void onSessionTlsReady(Session& session) = 0;
			/// TLS is up and the peer's key is verified: peerId() is known.
		virtual void onSessionEstablished(Session& session) = 0;
			/// The peer's hello has arrived: messages may flow.
		virtual void onSessionMessage(Session& session, const Message& message) = 0;
			/// A text, receipt, refuse or contact message (decoded and schema-checked).
		virtual void onSessionRefusedInput(Session& session, const std::string& messageId, const std::string& problem) = 0;
			/// A message from the peer was malformed and skipped (refused by id if it had a
			/// readable one; messageId is empty otherwise). The session goes on.
		virtual void onSessionClosed(Session& session, const std::string& reason) = 0;
			/// Called once; reason is empty for an orderly close.
		virtual void onSessionText(Session& session, std::string_view id, std::int64_t timestampMs, std::string_view text);
			/// A text that came as a binary frame (SessionProtocol::TEXT_BIN; the text is valid
			/// UTF-8, the views are valid only during the call). By default handed to
			/// onSessionMessage() as the "text" message it stands for; a listener that wants no
			/// JSON object per message overrides it.
		virtual void onSessionReceipt(Session& session, std::string_view id);
			/// One id of a binary receipt frame (SessionProtocol::RECEIPTS). By default handed to
			/// onSessionMessage() as a "receipt" message.
		virtual void onSessionData(Session& /*session*/, std::uint8_t /*type*/, const std::string& /*body*/) {}
			/// A binary frame (SessionProtocol::isBinary(type), e.g. file data) after the
			/// handshake, unparsed. Ignored by default.
	};

	using DrainHandler = std::function<void()>;

	static constexpr std::size_t DRAIN_MARK = 64 * 1024;
		/// Unsent bytes above which a bulk sender (a file transfer) stops writing and waits for
		/// the drain handler, so that chat frames never queue behind more than this much of it.

	virtual ~Session() = default;

	virtual void setListener(Listener* pListener) = 0;
		/// Where events go from now on; nullptr: nowhere.

	virtual void sendText(const std::string& id, std::int64_t timestampMs, const std::string& text) = 0;
	virtual void sendReceipt(std::string_view id) = 0;
		/// To a peer that reads binary receipts the ids of one loop iteration leave together,
		/// in one RECEIPTS frame at the end of the iteration (or at close()).
	virtual void sendRefusal(const std::string& id, const std::string& code, const std::string& reason) = 0;
		/// Tells the peer that we will not take its message id (see SessionProtocol "refuse").
	virtual void sendContact(bool accepted) = 0;
		/// Tells the peer whether we have it as a contact (SessionProtocol "contact").
	virtual void sendMessage(const std::string& name, const Poco::JSON::Object& body) = 0;
		/// Any message of SessionProtocol's catalog (schema-checked before it leaves); for the
		/// node's services (PeerService). Nothing is sent on a closed session.
	virtual bool peerSupports(const std::string& capability) const = 0;
		/// True if the peer's hello listed capability in its caps (what it can parse).
	virtual void sendData(std::uint8_t type, const std::string& body) = 0;
		/// A binary frame (SessionProtocol::isBinary(type)) for the node's services; body is the
		/// whole frame body. Nothing is sent on a closed session.
	virtual std::size_t unsentBytes() const = 0;
		/// Bytes handed to the session that its connection has not yet written to the socket.
	virtual void setDrainHandler(DrainHandler handler) = 0;
		/// Called (on the loop, never from inside a send) each time unsentBytes() has fallen to 0
		/// after it exceeded DRAIN_MARK; empty: none. The session holds it until it closes.

	virtual void close(const std::string& reason) = 0;
		/// Sends a close message, then closes. The Listener still gets onSessionClosed.
	virtual void abort(const std::string& reason) = 0;
		/// Drops the connection at once; the Listener gets onSessionClosed.
	virtual void detach() = 0;
		/// Forgets the Listener and aborts quietly (owner shutting down).

	virtual bool outgoing() const = 0;
		/// True if we dialed it (we are the TLS client).
	virtual bool tlsReady() const = 0;
	virtual bool established() const = 0;
		/// Hello exchanged and not closed.
	virtual bool closed() const = 0;
	virtual std::uint64_t serial() const = 0;
		/// Unique per node, increasing.
	virtual const PeerId& peerId() const = 0;
	virtual const std::string& peerName() const = 0;
	virtual Path path() const = 0;
	virtual Poco::Net::SocketAddress remoteAddress() const = 0;
		/// The connection's remote address (the relay's for a tunnel).
};


} } // namespace CrossChat::Chat


#endif // CrossChat_Chat_Session_INCLUDED
