//
// RelayProtocol.cpp
//
// Library: Relay
//


#include "CrossChat/Relay/RelayProtocol.h"
#include "Poco/DigestEngine.h"
#include "Poco/SHA2Engine.h"


namespace CrossChat {
namespace Relay {


std::string RelayProtocol::signingString(const std::string& method, const std::string& pathAndQuery,
	const std::string& body, std::int64_t timestampMs, const std::string& nonce)
{
	Poco::SHA2Engine sha256(Poco::SHA2Engine::SHA_256);
	sha256.update(body);
	return "CXR1\n" + method + "\n" + pathAndQuery + "\n" + Poco::DigestEngine::digestToHex(sha256.digest())
		+ "\n" + std::to_string(timestampMs) + "\n" + nonce;
}


std::string RelayProtocol::controlSigningString(const std::string& nonce)
{
	return "CXR1-control\n" + nonce;
}


bool RelayProtocol::isValidHandle(const std::string& handle)
{
	if (handle.size() < HANDLE_MIN_SIZE || handle.size() > HANDLE_MAX_SIZE) return false;
	if (handle[0] < 'a' || handle[0] > 'z') return false;
	for (const char c: handle)
	{
		const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
		if (!ok) return false;
	}
	return true;
}


std::string RelayProtocol::handleSigningString(const std::string& handle, std::int64_t timestampMs)
{
	return "CXR1-handle\n" + handle + "\n" + std::to_string(timestampMs);
}


std::string RelayProtocol::prekeySigningString(std::uint64_t id, const std::string& publicKey, std::int64_t expiresMs)
{
	std::string out("CXP1");
	for (int shift = 56; shift >= 0; shift -= 8) out += static_cast<char>((id >> shift) & 0xFF);
	out += publicKey;
	const auto expires = static_cast<std::uint64_t>(expiresMs);
	for (int shift = 56; shift >= 0; shift -= 8) out += static_cast<char>((expires >> shift) & 0xFF);
	return out;
}


const MessageCatalog& RelayProtocol::control()
{
	static const MessageCatalog catalog = [] {
		MessageCatalog c("control");
		c.declare(1, "hello", MessageSchema()
			.requireString("key", 1, 128)
			.requireInteger("version", 1, 255));
		c.declare(2, "challenge", MessageSchema()
			.requireString("nonce", 16, 128)
			.optionalString("observed", 0, 64));
		c.declare(3, "auth", MessageSchema()
			.requireString("signature", 1, 256));
		c.declare(4, "welcome", MessageSchema()
			.requireString("id", 1, 80)
			.requireInteger("keepalive_s", 1, 7200)
			.optionalObject("limits")
			.optionalInteger("probe_port", 1, 65535)
			.optionalInteger("ping_s", 1, 3600)
			.optionalBoolean("nat_traversal")
			.optionalBoolean("mailbox"));
		c.declare(5, "invite", MessageSchema()
			.requireString("token", 16, 128)
			.requireString("from", 1, 80)
			.optionalString("name", 0, 64));
		c.declare(6, "ping", MessageSchema().requireInteger("n", 0));
		c.declare(7, "pong", MessageSchema().requireInteger("n", 0));
		c.declare(8, "error", MessageSchema()
			.requireString("code", 1, 64)
			.optionalString("message", 0, 512)
			.optionalString("peer", 1, 80)
			.optionalInteger("retry_after_s", 1, 86400));
		c.declare(9, "punch", MessageSchema()
			.optionalString("to", 1, 80)
			.optionalString("from", 1, 80)
			.requireString("phase", 1, 16)
			.optionalArray("addrs", PUNCH_MAX_ADDRESSES)
			.optionalString("nat", 1, 16)
			.optionalInteger("attempt", 1, PUNCH_MAX_ATTEMPT)
			.optionalBoolean("reply")
			.optionalString("observed", 1, 64));
		c.declare(10, "mail_fetch", MessageSchema()
			.requireInteger("window", 1, MAIL_MAX_WINDOW));
		c.declare(11, "mail", MessageSchema()
			.requireString("id", 32, 32)
			.requireInteger("ts", 0)
			.requireString("envelope", 1, (MAX_ENVELOPE_SIZE + 2) / 3 * 4));
		c.declare(12, "mail_ack", MessageSchema()
			.requireString("id", 32, 32));
		return c;
	}();
	return catalog;
}


} } // namespace CrossChat::Relay
