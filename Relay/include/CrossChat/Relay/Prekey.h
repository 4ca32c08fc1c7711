//
// Prekey.h
//
// Library: Relay
// A mailbox pre-key: a short-lived X25519 public key signed by a peer's identity.
//


#ifndef CrossChat_Relay_Prekey_INCLUDED
#define CrossChat_Relay_Prekey_INCLUDED


#include "CrossChat/Identity.h"
#include "CrossChat/PublicKey.h"
#include "Poco/JSON/Array.h"
#include "Poco/JSON/Object.h"
#include <cstdint>
#include <string>
#include <vector>


namespace CrossChat {
namespace Relay {


struct Prekey
	/// What a peer publishes (in its announces; a relay hands it out by GET /api/v1/prekeys/<id>)
	/// so that others can seal mailbox envelopes to it while it is offline: an X25519 public
	/// key with an ID and an expiry, signed by the peer's Ed25519 identity over
	/// RelayProtocol::prekeySigningString(). The peer keeps the private key until the last
	/// envelope sealed to it can have expired, then deletes it (docs/PROTOCOL.md, "Pre-keys").
	///
	/// JSON form: {"id": <1..2^53-1>, "key": <base64 of 32 bytes>, "expires_ms": <ms since the
	/// epoch>, "signature": <base64 of 64 bytes>}.
	///
	/// Thread rules: a value; safe from any thread.
{
	static constexpr std::uint64_t MAX_ID = (std::uint64_t(1) << 53) - 1;   ///< Exact in any JSON parser.

	std::uint64_t id = 0;
	std::string publicKey;     ///< 32 raw bytes (X25519).
	std::int64_t expiresMs = 0;
	std::string signature;     ///< 64 raw bytes (Ed25519).

	static Prekey sign(const Identity& identity, std::uint64_t id, const std::string& publicKey, std::int64_t expiresMs);
		/// Throws Poco::InvalidArgumentException for an ID of 0 or over MAX_ID, or a key that is not 32 bytes.

	bool verify(const PublicKey& owner) const;
		/// The signature is owner's over this pre-key.

	Poco::JSON::Object::Ptr toJson() const;

	static Prekey fromJson(const Poco::JSON::Object& object);
		/// Checks the shape (fields, types, sizes, ID range), not the signature. Throws
		/// MessageException naming what is wrong.

	static std::vector<Prekey> listFromJson(const Poco::JSON::Array& array, std::size_t maxCount);
		/// Every element through fromJson(); throws MessageException for more than maxCount, an
		/// element that is not an object, or two with the same ID.

	static Poco::JSON::Array::Ptr listToJson(const std::vector<Prekey>& prekeys);
};


} } // namespace CrossChat::Relay


#endif // CrossChat_Relay_Prekey_INCLUDED
