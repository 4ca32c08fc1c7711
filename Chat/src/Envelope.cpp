//
// Envelope.cpp
//
// Library: Chat
//


#include "Envelope.h"
#include "CrossChat/Chat/ChatException.h"
#include "CrossChat/Chat/SessionProtocol.h"
#include "CrossChat/FoundationException.h"
#include "CrossChat/Hpke.h"
#include "CrossChat/PublicKey.h"
#include "CrossChat/Relay/RelayProtocol.h"
#include "CrossChat/Text.h"
#include "Poco/Exception.h"
#include <openssl/crypto.h>


namespace CrossChat {
namespace Chat {


namespace {


using Relay::RelayProtocol;

constexpr std::size_t FIXED_INNER = 1 + PublicKey::RAW_SIZE + 8 + 1 + 4 + PublicKey::SIGNATURE_SIZE;


void putUint(std::string& out, std::uint64_t value, std::size_t bytes)
{
	for (std::size_t i = bytes; i-- > 0;) out += static_cast<char>((value >> (8 * i)) & 0xFF);
}


std::uint64_t getUint(const std::string& in, std::size_t offset, std::size_t bytes)
{
	std::uint64_t value = 0;
	for (std::size_t i = 0; i < bytes; ++i) value = (value << 8) | static_cast<std::uint8_t>(in[offset + i]);
	return value;
}


std::string header(const PeerId& recipient, std::uint64_t prekeyId, const std::string& enc)
{
	std::string out(RelayProtocol::MAIL_MAGIC);
	out += static_cast<char>(RelayProtocol::MAIL_VERSION);
	out += static_cast<char>(RelayProtocol::MAIL_SUITE_HPKE_X25519_CHACHA20);
	out.append(reinterpret_cast<const char*>(recipient.bytes().data()), PeerId::SIZE);
	putUint(out, prekeyId, 8);
	out += enc;
	return out;
}


} // namespace


std::string Envelope::seal(const Identity& sender, const PeerId& recipient, const Relay::Prekey& prekey, const MailContent& content)
{
	if (content.messageId.empty() || content.messageId.size() > MAX_ID_SIZE)
		throw Poco::InvalidArgumentException("a message ID has 1 to 64 bytes");
	if (content.timestampMs < 0) throw Poco::InvalidArgumentException("a negative timestamp");
	if (content.kind == MailContent::Kind::TEXT && content.text.size() > SessionProtocol::MAX_TEXT_SIZE)
		throw Poco::InvalidArgumentException("a text has at most " + std::to_string(SessionProtocol::MAX_TEXT_SIZE) + " bytes");
	if (content.kind == MailContent::Kind::RECEIPT && !content.text.empty())
		throw Poco::InvalidArgumentException("a receipt has no text");
	// The ephemeral key (enc) is part of the header the sender signs, so it is made first.
	auto setup = Hpke::setupBaseSender(prekey.publicKey, INFO);
	const std::string head = header(recipient, prekey.id, setup.first);
	std::string inner;
	inner += static_cast<char>(content.kind);
	inner += sender.publicKey().raw();
	putUint(inner, static_cast<std::uint64_t>(content.timestampMs), 8);
	inner += static_cast<char>(content.messageId.size());
	inner += content.messageId;
	putUint(inner, content.text.size(), 4);
	inner += content.text;
	inner += sender.sign(SIGNATURE_CONTEXT + head + inner);
	std::string sealed = head + setup.second.seal(head, inner);
	OPENSSL_cleanse(&inner[0], inner.size());
	return sealed;
}


OpenedEnvelope Envelope::open(const PeerId& self, const std::string& envelope, const PrivateKeyOf& privateKeyOf)
{
	if (envelope.size() < RelayProtocol::MAIL_MIN_SIZE || envelope.size() > RelayProtocol::MAX_ENVELOPE_SIZE)
		throw EnvelopeException("envelope of " + std::to_string(envelope.size()) + " bytes");
	if (envelope.compare(0, 4, RelayProtocol::MAIL_MAGIC) != 0) throw EnvelopeException("not a mailbox envelope");
	if (static_cast<std::uint8_t>(envelope[4]) != RelayProtocol::MAIL_VERSION) throw EnvelopeException("unknown envelope version");
	if (static_cast<std::uint8_t>(envelope[5]) != RelayProtocol::MAIL_SUITE_HPKE_X25519_CHACHA20) throw EnvelopeException("unknown envelope suite");
	const std::string head = envelope.substr(0, RelayProtocol::MAIL_HEADER_SIZE);
	const PeerId recipient = PeerId::fromBytes(head.substr(RelayProtocol::MAIL_RECIPIENT_OFFSET, PeerId::SIZE));
	if (recipient != self) throw EnvelopeException("sealed for another peer (" + recipient.shortString() + ")");
	OpenedEnvelope opened;
	opened.prekeyId = getUint(head, RelayProtocol::MAIL_PREKEY_OFFSET, 8);
	const std::optional<std::string> privateKey = privateKeyOf(opened.prekeyId);
	if (!privateKey) throw EnvelopeException("sealed to pre-key " + std::to_string(opened.prekeyId) + ", which we no longer hold (expired)");
	std::string inner;
	try
	{
		inner = Hpke::open(head.substr(RelayProtocol::MAIL_ENC_OFFSET, Hpke::KEY_SIZE), *privateKey, INFO, head,
			envelope.substr(RelayProtocol::MAIL_HEADER_SIZE));
	}
	catch (const CryptoException& exc)
	{
		throw EnvelopeException("does not decrypt: " + exc.message());
	}
	// inner: kind | sender key | ts | id length | id | body length | body | signature
	if (inner.size() < FIXED_INNER) throw EnvelopeException("inner content too short");
	std::size_t offset = 0;
	const auto kind = static_cast<std::uint8_t>(inner[offset++]);
	if (kind != static_cast<std::uint8_t>(MailContent::Kind::TEXT) && kind != static_cast<std::uint8_t>(MailContent::Kind::RECEIPT))
		throw EnvelopeException("unknown content kind " + std::to_string(kind));
	opened.content.kind = static_cast<MailContent::Kind>(kind);
	opened.senderKeyRaw = inner.substr(offset, PublicKey::RAW_SIZE);
	offset += PublicKey::RAW_SIZE;
	const std::uint64_t timestamp = getUint(inner, offset, 8);
	offset += 8;
	if (timestamp > static_cast<std::uint64_t>(INT64_MAX)) throw EnvelopeException("timestamp out of range");
	opened.content.timestampMs = static_cast<std::int64_t>(timestamp);
	const std::size_t idSize = static_cast<std::uint8_t>(inner[offset++]);
	if (idSize == 0 || idSize > MAX_ID_SIZE || inner.size() < FIXED_INNER + idSize) throw EnvelopeException("bad message ID length");
	opened.content.messageId = inner.substr(offset, idSize);
	offset += idSize;
	const std::uint64_t bodySize = getUint(inner, offset, 4);
	offset += 4;
	if (bodySize != inner.size() - FIXED_INNER - idSize) throw EnvelopeException("bad body length");
	opened.content.text = inner.substr(offset, static_cast<std::size_t>(bodySize));
	offset += static_cast<std::size_t>(bodySize);
	const std::string signature = inner.substr(offset, PublicKey::SIGNATURE_SIZE);
	std::optional<PublicKey> key;
	try
	{
		key = PublicKey::fromRaw(opened.senderKeyRaw);
	}
	catch (const CryptoException& exc)
	{
		throw EnvelopeException("bad sender key: " + exc.message());
	}
	if (!key->verify(SIGNATURE_CONTEXT + head + inner.substr(0, offset), signature))
		throw EnvelopeException("the signature does not verify");
	opened.sender = key->peerId();
	if (opened.sender == self) throw EnvelopeException("signed by ourselves");
	if (opened.content.kind == MailContent::Kind::TEXT)
	{
		if (opened.content.text.size() > SessionProtocol::MAX_TEXT_SIZE) throw EnvelopeException("text too long");
		if (!Text::isValidUtf8(opened.content.text)) throw EnvelopeException("text is not UTF-8");
	}
	else if (!opened.content.text.empty())
	{
		throw EnvelopeException("a receipt with a body");
	}
	if (!Text::isValidUtf8(opened.content.messageId)) throw EnvelopeException("message ID is not UTF-8");
	OPENSSL_cleanse(&inner[0], inner.size());
	return opened;
}


} } // namespace CrossChat::Chat
