//
// Envelope.h
//
// Library: Chat
// Private: sealed mailbox envelopes (docs/PROTOCOL.md, "Mailbox envelope").
// This is an internal header file, it is not installed; do not include it from outside Chat/src.
//


#ifndef CrossChat_Chat_Envelope_INCLUDED
#define CrossChat_Chat_Envelope_INCLUDED


#include "CrossChat/Identity.h"
#include "CrossChat/PeerId.h"
#include "CrossChat/Relay/Prekey.h"
#include <cstdint>
#include <functional>
#include <optional>
#include <string>


namespace CrossChat {
namespace Chat {


struct MailContent
	/// What an envelope carries: a text message or the receipt of one.
{
	enum class Kind: std::uint8_t
	{
		TEXT = 1,
		RECEIPT = 2
	};

	Kind kind = Kind::TEXT;
	std::string messageId;         ///< 1..64 bytes: the text's ID (for a receipt: the ID acknowledged).
	std::int64_t timestampMs = 0;  ///< The sender's clock, ms since the epoch.
	std::string text;              ///< TEXT only: at most SessionProtocol::MAX_TEXT_SIZE bytes of UTF-8.
};


struct OpenedEnvelope
{
	PeerId sender;                 ///< The key that signed it (verified).
	std::string senderKeyRaw;      ///< That Ed25519 key, raw.
	std::uint64_t prekeyId = 0;    ///< The pre-key it was sealed to.
	MailContent content;
};


class Envelope
	/// A mailbox envelope: encrypted to the recipient with HPKE (RFC 9180 base mode,
	/// DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20-Poly1305; Hpke) under one of its
	/// pre-keys, and signed inside by the sender's Ed25519 identity, so that the relay that
	/// keeps it sees only the recipient's ID, the pre-key's ID, the size and the time:
	///
	///   header (cleartext, the AEAD's associated data), 78 bytes:
	///     "CXM1" | version 1 | suite 1 | recipient ID (32) | pre-key ID (8, big-endian) | enc (32)
	///   ciphertext: HPKE Seal(pre-key, info = INFO, aad = header, inner)
	///   inner: kind (1) | sender key (32) | timestamp ms (8) | ID length (1) | ID |
	///          body length (4) | body | signature (64)
	///   signature: Ed25519 by the sender over SIGNATURE_CONTEXT || header || inner without it.
	///
	/// The signature covers the header, so an envelope cannot be re-addressed or re-sealed by
	/// anyone without the sender's key; the recipient checks that the header names it before it
	/// decrypts anything. A replayed envelope opens again: the recipient's duplicate filter
	/// (message IDs per sender) drops the copy.
	///
	/// Thread rules: stateless; safe from any thread.
{
public:
	static constexpr const char* INFO = "CrossChat mailbox v1";
	static constexpr const char* SIGNATURE_CONTEXT = "CXM1-sign\n";
	static constexpr std::size_t MAX_ID_SIZE = 64;

	using PrivateKeyOf = std::function<std::optional<std::string>(std::uint64_t prekeyId)>;
		/// The private X25519 key of our pre-key with this ID, if we still hold it.

	static std::string seal(const Identity& sender, const PeerId& recipient, const Relay::Prekey& prekey, const MailContent& content);
		/// Throws Poco::InvalidArgumentException for content out of bounds, CryptoException if
		/// sealing fails.

	static OpenedEnvelope open(const PeerId& self, const std::string& envelope, const PrivateKeyOf& privateKeyOf);
		/// Throws EnvelopeException saying why it cannot be opened (the message is meant for
		/// logs, not for the sender: nobody is told).
};


} } // namespace CrossChat::Chat


#endif // CrossChat_Chat_Envelope_INCLUDED
