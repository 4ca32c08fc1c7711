//
// ControlMessages.cpp
//
// Library: Relay
//


#include "CrossChat/Relay/ControlMessages.h"
#include "RelayRequests.h"
#include "CrossChat/FoundationException.h"
#include "Poco/JSON/Array.h"
#include <algorithm>


namespace CrossChat {
namespace Relay {


namespace {


Message decode(const char* name, const std::string& frameBody)
{
	return RelayProtocol::control().decode(Frame{RelayProtocol::control().typeOf(name), frameBody});
}


PeerId peerIdField(const Poco::JSON::Object& body, const std::string& field, const char* message)
{
	const std::optional<PeerId> id = PeerId::tryParse(body.getValue<std::string>(field));
	if (!id || id->isNull()) throw MessageException(std::string(message) + ": " + field + " is not a peer ID");
	return *id;
}


Poco::Net::SocketAddress addressWithPort(const std::string& text, const char* message)
{
	try
	{
		const AnnouncedAddress address = parseAnnouncedAddress(text);
		if (address.port == 0) throw MessageException(std::string(message) + ": an address needs a port");
		return Poco::Net::SocketAddress(address.host, address.port);
	}
	catch (const BadRequestException& exc)
	{
		throw MessageException(std::string(message) + ": " + exc.message());
	}
}


std::string decodeBase64(const std::string& text, std::size_t size, const char* message)
{
	try
	{
		const std::string raw = base64Decode(text, size);
		if (raw.size() == size) return raw;
	}
	catch (const BadRequestException&)
	{
	}
	throw MessageException(std::string(message) + ": expected base64 of " + std::to_string(size) + " bytes");
}


} // namespace


const char* natTypeName(NatType type)
{
	switch (type)
	{
	case NatType::NONE: return "none";
	case NatType::ENDPOINT_INDEPENDENT: return "eim";
	case NatType::ENDPOINT_DEPENDENT: return "edm";
	default: return "unknown";
	}
}


std::optional<NatType> parseNatType(const std::string& name)
{
	for (NatType type: {NatType::UNKNOWN, NatType::NONE, NatType::ENDPOINT_INDEPENDENT, NatType::ENDPOINT_DEPENDENT})
		if (name == natTypeName(type)) return type;
	return std::nullopt;
}


//
// ControlHello
//


Poco::JSON::Object ControlHello::toBody() const
{
	Poco::JSON::Object body;
	body.set("key", base64Encode(key.raw()));
	body.set("version", version);
	return body;
}


ControlHello ControlHello::fromBody(const Poco::JSON::Object& body)
{
	const std::string raw = decodeBase64(body.getValue<std::string>("key"), PublicKey::RAW_SIZE, "hello: key");
	try
	{
		return ControlHello{PublicKey::fromRaw(raw), body.getValue<std::int64_t>("version")};
	}
	catch (const CryptoException& exc)
	{
		throw MessageException("hello: " + exc.message());
	}
}


ControlHello ControlHello::parse(const std::string& frameBody)
{
	return fromBody(*decode(NAME, frameBody).body);
}


//
// ControlChallenge
//


Poco::JSON::Object ControlChallenge::toBody() const
{
	Poco::JSON::Object body;
	body.set("nonce", nonce);
	if (observed) body.set("observed", observed->toString());
	return body;
}


ControlChallenge ControlChallenge::fromBody(const Poco::JSON::Object& body)
{
	ControlChallenge challenge;
	challenge.nonce = body.getValue<std::string>("nonce");
	if (body.has("observed")) challenge.observed = addressWithPort(body.getValue<std::string>("observed"), "challenge: observed");
	return challenge;
}


ControlChallenge ControlChallenge::parse(const std::string& frameBody)
{
	return fromBody(*decode(NAME, frameBody).body);
}


//
// ControlAuth
//


Poco::JSON::Object ControlAuth::toBody() const
{
	Poco::JSON::Object body;
	body.set("signature", base64Encode(signature));
	return body;
}


ControlAuth ControlAuth::fromBody(const Poco::JSON::Object& body)
{
	return ControlAuth{decodeBase64(body.getValue<std::string>("signature"), PublicKey::SIGNATURE_SIZE, "auth: signature")};
}


ControlAuth ControlAuth::parse(const std::string& frameBody)
{
	return fromBody(*decode(NAME, frameBody).body);
}


//
// ControlWelcome
//


Poco::JSON::Object ControlWelcome::toBody() const
{
	Poco::JSON::Object body;
	body.set("id", id.toString());
	body.set("keepalive_s", static_cast<std::int64_t>(keepalive.count()));
	if (pingInterval) body.set("ping_s", static_cast<std::int64_t>(pingInterval->count()));
	if (natTraversal) body.set("nat_traversal", *natTraversal);
	if (pLimits) body.set("limits", pLimits);
	if (probePort) body.set("probe_port", static_cast<int>(*probePort));
	if (mailbox) body.set("mailbox", *mailbox);
	return body;
}


ControlWelcome ControlWelcome::fromBody(const Poco::JSON::Object& body)
{
	ControlWelcome welcome;
	welcome.id = peerIdField(body, "id", "welcome");
	welcome.keepalive = std::chrono::seconds(body.getValue<std::int64_t>("keepalive_s"));
	if (body.has("ping_s")) welcome.pingInterval = std::chrono::seconds(body.getValue<std::int64_t>("ping_s"));
	if (body.has("nat_traversal")) welcome.natTraversal = body.getValue<bool>("nat_traversal");
	if (body.has("probe_port")) welcome.probePort = static_cast<std::uint16_t>(body.getValue<std::int64_t>("probe_port"));
	if (body.has("limits")) welcome.pLimits = body.getObject("limits");
	if (body.has("mailbox")) welcome.mailbox = body.getValue<bool>("mailbox");
	return welcome;
}


ControlWelcome ControlWelcome::parse(const std::string& frameBody)
{
	return fromBody(*decode(NAME, frameBody).body);
}


//
// ControlInvite
//


Poco::JSON::Object ControlInvite::toBody() const
{
	Poco::JSON::Object body;
	body.set("token", token);
	body.set("from", from.toString());
	if (!name.empty()) body.set("name", name);
	return body;
}


ControlInvite ControlInvite::fromBody(const Poco::JSON::Object& body)
{
	ControlInvite invite;
	invite.token = body.getValue<std::string>("token");
	invite.from = peerIdField(body, "from", "invite");
	invite.name = body.optValue<std::string>("name", "");
	return invite;
}


ControlInvite ControlInvite::parse(const std::string& frameBody)
{
	return fromBody(*decode(NAME, frameBody).body);
}


//
// ControlPing, ControlPong
//


Poco::JSON::Object ControlPing::toBody() const
{
	Poco::JSON::Object body;
	body.set("n", n);
	return body;
}


ControlPing ControlPing::fromBody(const Poco::JSON::Object& body)
{
	return ControlPing{body.getValue<std::int64_t>("n")};
}


ControlPing ControlPing::parse(const std::string& frameBody)
{
	return fromBody(*decode(NAME, frameBody).body);
}


Poco::JSON::Object ControlPong::toBody() const
{
	Poco::JSON::Object body;
	body.set("n", n);
	return body;
}


ControlPong ControlPong::fromBody(const Poco::JSON::Object& body)
{
	return ControlPong{body.getValue<std::int64_t>("n")};
}


ControlPong ControlPong::parse(const std::string& frameBody)
{
	return fromBody(*decode(NAME, frameBody).body);
}


//
// ControlError
//


Poco::JSON::Object ControlError::toBody() const
{
	Poco::JSON::Object body;
	body.set("code", code);
	if (!message.empty()) body.set("message", message.substr(0, MAX_MESSAGE_SIZE));
	if (peer) body.set("peer", peer->toString());
	if (retryAfter) body.set("retry_after_s", static_cast<std::int64_t>(retryAfter->count()));
	return body;
}


ControlError ControlError::fromBody(const Poco::JSON::Object& body)
{
	ControlError error;
	error.code = body.getValue<std::string>("code");
	error.message = body.optValue<std::string>("message", "");
	if (body.has("peer")) error.peer = peerIdField(body, "peer", "error");
	if (body.has("retry_after_s")) error.retryAfter = std::chrono::seconds(body.getValue<std::int64_t>("retry_after_s"));
	return error;
}


ControlError ControlError::parse(const std::string& frameBody)
{
	return fromBody(*decode(NAME, frameBody).body);
}


//
// PunchMessage
//


const char* PunchMessage::phaseName(Phase phase)
{
	return phase == Phase::SYNC ? "sync" : "connect";
}


Poco::JSON::Object PunchMessage::toBody(Direction direction) const
{
	if (addresses.size() > RelayProtocol::PUNCH_MAX_ADDRESSES)
		throw Poco::InvalidArgumentException("punch: more than " + std::to_string(RelayProtocol::PUNCH_MAX_ADDRESSES) + " addresses");
	Poco::JSON::Object body;
	body.set(direction == Direction::TO_RELAY ? "to" : "from", peer.toString());
	body.set("phase", std::string(phaseName(phase)));
	Poco::JSON::Array::Ptr pAddresses = new Poco::JSON::Array;
	for (const auto& address: addresses) pAddresses->add(address.toString());
	body.set("addrs", pAddresses);
	body.set("nat", std::string(natTypeName(nat)));
	body.set("attempt", attempt);
	if (reply) body.set("reply", true);
	if (observed && direction == Direction::FROM_RELAY) body.set("observed", observed->toString());
	return body;
}


PunchMessage PunchMessage::fromBody(const Poco::JSON::Object& body, Direction direction)
{
	const char* own = direction == Direction::TO_RELAY ? "to" : "from";
	const char* other = direction == Direction::TO_RELAY ? "from" : "to";
	if (body.has(other)) throw MessageException(std::string("punch: unexpected ") + other);
	if (!body.has(own)) throw MessageException(std::string("punch: missing ") + own);
	PunchMessage punch;
	punch.peer = peerIdField(body, own, "punch");
	const std::string phase = body.getValue<std::string>("phase");
	if (phase == "connect") punch.phase = Phase::CONNECT;
	else if (phase == "sync") punch.phase = Phase::SYNC;
	else throw MessageException("punch: unknown phase");
	if (body.has("nat"))
	{
		const std::optional<NatType> nat = parseNatType(body.getValue<std::string>("nat"));
		if (!nat) throw MessageException("punch: unknown nat");
		punch.nat = *nat;
	}
	punch.attempt = body.optValue<std::int64_t>("attempt", 1);
	punch.reply = body.optValue<bool>("reply", false);
	if (body.has("observed"))
	{
		if (direction == Direction::TO_RELAY) throw MessageException("punch: observed is set by the relay");
		punch.observed = addressWithPort(body.getValue<std::string>("observed"), "punch");
	}
	if (body.has("addrs"))
	{
		const Poco::JSON::Array::Ptr pAddresses = body.getArray("addrs");
		for (std::size_t i = 0; i < pAddresses->size(); ++i)
		{
			const Poco::Dynamic::Var& item = pAddresses->get(static_cast<unsigned>(i));
			if (!item.isString()) throw MessageException("punch: addrs must be strings");
			punch.addresses.push_back(addressWithPort(item.extract<std::string>(), "punch"));
		}
	}
	return punch;
}


PunchMessage PunchMessage::parse(const std::string& frameBody, Direction direction)
{
	return fromBody(*decode(NAME, frameBody).body, direction);
}



//
// ControlMailFetch, ControlMail, ControlMailAck
//


namespace {


std::string mailIdField(const Poco::JSON::Object& body, const char* message)
{
	const std::string id = body.getValue<std::string>("id");
	for (const char c: id)
	{
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			throw MessageException(std::string(message) + ": id is not 32 lower-case hex digits");
	}
	return id;
}


} // namespace


Poco::JSON::Object ControlMailFetch::toBody() const
{
	Poco::JSON::Object body;
	body.set("window", window);
	return body;
}


ControlMailFetch ControlMailFetch::fromBody(const Poco::JSON::Object& body)
{
	return ControlMailFetch{body.getValue<std::int64_t>("window")};
}


ControlMailFetch ControlMailFetch::parse(const std::string& frameBody)
{
	return fromBody(*decode(NAME, frameBody).body);
}


Poco::JSON::Object ControlMail::toBody() const
{
	Poco::JSON::Object body;
	body.set("id", id);
	body.set("ts", depositedMs);
	body.set("envelope", base64Encode(envelope));
	return body;
}


ControlMail ControlMail::fromBody(const Poco::JSON::Object& body)
{
	ControlMail mail;
	mail.id = mailIdField(body, "mail");
	mail.depositedMs = body.getValue<std::int64_t>("ts");
	try
	{
		mail.envelope = base64Decode(body.getValue<std::string>("envelope"), RelayProtocol::MAX_ENVELOPE_SIZE);
	}
	catch (const BadRequestException& exc)
	{
		throw MessageException("mail: envelope: " + exc.message());
	}
	if (mail.envelope.size() < RelayProtocol::MAIL_MIN_SIZE) throw MessageException("mail: envelope too short");
	return mail;
}


ControlMail ControlMail::parse(const std::string& frameBody)
{
	return fromBody(*decode(NAME, frameBody).body);
}


Poco::JSON::Object ControlMailAck::toBody() const
{
	Poco::JSON::Object body;
	body.set("id", id);
	return body;
}


ControlMailAck ControlMailAck::fromBody(const Poco::JSON::Object& body)
{
	return ControlMailAck{mailIdField(body, "mail_ack")};
}


ControlMailAck ControlMailAck::parse(const std::string& frameBody)
{
	return fromBody(*decode(NAME, frameBody).body);
}


} } // namespace CrossChat::Relay
