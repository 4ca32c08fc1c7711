//
// ControlMessages.h
//
// Library: Relay
// The relay control channel's messages as typed values, encoded and parsed in one place for
// the relay server and its client (see docs/PROTOCOL.md, "Control channel").
//


#ifndef CrossChat_Relay_ControlMessages_INCLUDED
#define CrossChat_Relay_ControlMessages_INCLUDED


#include "CrossChat/FrameCodec.h"
#include "CrossChat/MessageCatalog.h"
#include "CrossChat/PeerId.h"
#include "CrossChat/PublicKey.h"
#include "CrossChat/Relay/RelayProtocol.h"
#include "Poco/JSON/Object.h"
#include "Poco/Net/SocketAddress.h"
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>


namespace CrossChat {
namespace Relay {


enum class NatType
	/// How a NAT maps one local port, as learned by NAT probing (docs/PROTOCOL.md, "NAT probing").
{
	UNKNOWN,                ///< Not probed yet, the probe failed, or the relay has no probe port.
	NONE,                   ///< No NAT: the relay sees the connection's own local address.
	ENDPOINT_INDEPENDENT,   ///< One external port for every destination: hole punching can work.
	ENDPOINT_DEPENDENT      ///< A new external mapping per destination ("symmetric").
};


const char* natTypeName(NatType type);
	/// The wire name: "unknown", "none", "eim" or "edm".

std::optional<NatType> parseNatType(const std::string& name);
	/// The type for a wire name; empty for anything else.


// Every message below is a plain value with:
//   NAME                      its name in RelayProtocol::control();
//   Poco::JSON::Object toBody() const
//                             the JSON body (validated against the catalog when encoded);
//   static T fromBody(const Poco::JSON::Object& body)
//                             the value of a body that has passed the catalog's schema;
//                             throws MessageException for what the schema cannot express
//                             (a malformed peer ID, key, address or enumeration value);
//   static T parse(const std::string& frameBody)
//                             catalog decode + fromBody: the whole parser of untrusted input,
//                             fuzzed in testsuite/fuzz/ControlMessageFuzzer.cpp.
// encodeControl() frames any of them. Thread rules: values; safe from any thread.


struct ControlHello
	/// client -> relay, first message: the client's Ed25519 key and protocol version.
{
	static constexpr const char* NAME = "hello";

	PublicKey key;
	std::int64_t version = 0;

	Poco::JSON::Object toBody() const;
	static ControlHello fromBody(const Poco::JSON::Object& body);
	static ControlHello parse(const std::string& frameBody);
};


struct ControlChallenge
	/// relay -> client: the nonce to sign and the client's address as the relay sees it.
{
	static constexpr const char* NAME = "challenge";

	std::string nonce;
	std::optional<Poco::Net::SocketAddress> observed;

	Poco::JSON::Object toBody() const;
	static ControlChallenge fromBody(const Poco::JSON::Object& body);
	static ControlChallenge parse(const std::string& frameBody);
};


struct ControlAuth
	/// client -> relay: the signature of RelayProtocol::controlSigningString(nonce).
{
	static constexpr const char* NAME = "auth";

	std::string signature;   ///< 64 raw bytes (base64 on the wire).

	Poco::JSON::Object toBody() const;
	static ControlAuth fromBody(const Poco::JSON::Object& body);
	static ControlAuth parse(const std::string& frameBody);
};


struct ControlWelcome
	/// relay -> client: authenticated; the channel is online.
{
	static constexpr const char* NAME = "welcome";

	PeerId id;                                 ///< The client's ID as the relay derived it.
	std::chrono::seconds keepalive{20};        ///< "keepalive_s": clients without pingInterval ping every
	                                           ///< keepalive / 2 (the relay sends twice pingInterval).
	std::optional<std::chrono::seconds> pingInterval;   ///< "ping_s": the client pings this often; the
	                                           ///< relay does not ping and resets a channel silent for 3 x this.
	std::optional<bool> natTraversal;          ///< "nat_traversal": false when the relay cannot see the
	                                           ///< client's address (behind a proxy): no probing, no punching.
	std::optional<std::uint16_t> probePort;    ///< The relay's NAT probe port, if it has one.
	std::optional<bool> mailbox;               ///< "mailbox": the relay keeps envelopes for offline peers
	                                           ///< (mail_fetch, mail, mail_ack).
	Poco::JSON::Object::Ptr pLimits;           ///< Informational limits (may be null).

	Poco::JSON::Object toBody() const;
	static ControlWelcome fromBody(const Poco::JSON::Object& body);
	static ControlWelcome parse(const std::string& frameBody);
};


struct ControlInvite
	/// relay -> client: a peer opened a tunnel to us; join it with token.
{
	static constexpr const char* NAME = "invite";

	std::string token;
	PeerId from;
	std::string name;   ///< The caller's announced name; may be empty.

	Poco::JSON::Object toBody() const;
	static ControlInvite fromBody(const Poco::JSON::Object& body);
	static ControlInvite parse(const std::string& frameBody);
};


struct ControlPing
	/// Either side: a keepalive; answered by a ControlPong with the same n.
{
	static constexpr const char* NAME = "ping";

	std::int64_t n = 0;

	Poco::JSON::Object toBody() const;
	static ControlPing fromBody(const Poco::JSON::Object& body);
	static ControlPing parse(const std::string& frameBody);
};


struct ControlPong
{
	static constexpr const char* NAME = "pong";

	std::int64_t n = 0;

	Poco::JSON::Object toBody() const;
	static ControlPong fromBody(const Poco::JSON::Object& body);
	static ControlPong parse(const std::string& frameBody);
};


struct ControlError
	/// relay -> client: without peer, the relay closes the channel after it; with peer, it is
	/// about a punch to that peer and the channel stays open.
{
	static constexpr const char* NAME = "error";
	static constexpr std::size_t MAX_MESSAGE_SIZE = 512;

	std::string code;
	std::string message;
	std::optional<PeerId> peer;
	std::optional<std::chrono::seconds> retryAfter;   ///< "retry_after_s" (e.g. with "going_away").

	Poco::JSON::Object toBody() const;
		/// Cuts message to MAX_MESSAGE_SIZE bytes.
	static ControlError fromBody(const Poco::JSON::Object& body);
	static ControlError parse(const std::string& frameBody);
};


struct PunchMessage
	/// Hole-punch coordination (docs/PROTOCOL.md, "Hole punching"). A client sends it with to =
	/// the target; the relay forwards it with from = the sender, which it vouches for.
{
	static constexpr const char* NAME = "punch";

	enum class Phase
	{
		CONNECT,   ///< "connect": candidates (and, with reply, the answer to the peer's connect).
		SYNC       ///< "sync": the initiator's signal to dial after half the round trip.
	};

	enum class Direction
	{
		TO_RELAY,     ///< peer is the target ("to"); "from" must be absent.
		FROM_RELAY    ///< peer is the sender ("from"), set by the relay; "to" must be absent.
	};

	Phase phase = Phase::CONNECT;
	PeerId peer;                                      ///< The target or the sender, see Direction.
	std::vector<Poco::Net::SocketAddress> addresses;  ///< IP literals with a port, at most RelayProtocol::PUNCH_MAX_ADDRESSES.
	NatType nat = NatType::UNKNOWN;                   ///< The sender's NAT mapping.
	std::int64_t attempt = 1;                         ///< 1 .. RelayProtocol::PUNCH_MAX_ATTEMPT.
	bool reply = false;                               ///< A connect that answers the peer's connect.
	std::optional<Poco::Net::SocketAddress> observed; ///< FROM_RELAY only: the sender's address as the relay
	                                                  ///< sees it, in an answer or a sync (both peers take part).

	Poco::JSON::Object toBody(Direction direction) const;
		/// Throws Poco::InvalidArgumentException if there are too many addresses.
	static PunchMessage fromBody(const Poco::JSON::Object& body, Direction direction);
	static PunchMessage parse(const std::string& frameBody, Direction direction);

	static const char* phaseName(Phase phase);
		/// "connect" or "sync".
};


struct ControlMailFetch
	/// client -> relay: deliver my mailbox, with at most window envelopes unacknowledged at once;
	/// new deposits follow while the channel stays open.
{
	static constexpr const char* NAME = "mail_fetch";

	std::int64_t window = 16;   ///< 1 .. RelayProtocol::MAIL_MAX_WINDOW.

	Poco::JSON::Object toBody() const;
	static ControlMailFetch fromBody(const Poco::JSON::Object& body);
	static ControlMailFetch parse(const std::string& frameBody);
};


struct ControlMail
	/// relay -> client: one sealed envelope from the mailbox (docs/PROTOCOL.md, "Mailbox").
{
	static constexpr const char* NAME = "mail";

	std::string id;                 ///< The relay's name for it: 32 lower-case hex digits.
	std::int64_t depositedMs = 0;   ///< "ts": when it was deposited (the relay's wall clock).
	std::string envelope;           ///< The envelope's bytes (base64 on the wire).

	Poco::JSON::Object toBody() const;
	static ControlMail fromBody(const Poco::JSON::Object& body);
	static ControlMail parse(const std::string& frameBody);
};


struct ControlMailAck
	/// client -> relay: the envelope is kept (or refused for good): delete it.
{
	static constexpr const char* NAME = "mail_ack";

	std::string id;

	Poco::JSON::Object toBody() const;
	static ControlMailAck fromBody(const Poco::JSON::Object& body);
	static ControlMailAck parse(const std::string& frameBody);
};


template <class M, class... Args>
std::string encodeControl(FrameCodec& codec, const M& message, Args... args)
	/// The frame carrying message (schema-checked, so we never send what a peer would refuse).
{
	return RelayProtocol::control().encode(codec, M::NAME, message.toBody(args...));
}


} } // namespace CrossChat::Relay


#endif // CrossChat_Relay_ControlMessages_INCLUDED
