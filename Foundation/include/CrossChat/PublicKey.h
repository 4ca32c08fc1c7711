//
// PublicKey.h
//
// Library: Foundation
// An Ed25519 public key: verifies signatures and names its PeerId.
//


#ifndef CrossChat_Foundation_PublicKey_INCLUDED
#define CrossChat_Foundation_PublicKey_INCLUDED


#include "CrossChat/PeerId.h"
#include <array>
#include <cstdint>
#include <memory>
#include <string>


struct evp_pkey_st;


namespace CrossChat {


class PublicKey
	/// An Ed25519 public key (OpenSSL 3), a value type.
	///
	/// Keys from the network are parsed with the named factories fromRaw() and fromDer(),
	/// which throw CryptoException on malformed input or a key that is not Ed25519.
	///
	/// The raw 32 bytes are kept beside the OpenSSL key: der() and peerId() are computed from
	/// them (an Ed25519 SubjectPublicKeyInfo is the fixed 12-byte prefix SPKI_PREFIX followed
	/// by the raw key), never through OpenSSL's encoders, which cost about a hundred
	/// microseconds per call in OpenSSL 3.0. fromDer() of an Ed25519 key takes the same path.
	///
	/// Thread rules: immutable after construction; safe to share and to verify() from several
	/// threads at once.
{
public:
	static constexpr std::size_t RAW_SIZE = 32;
	static constexpr std::size_t SIGNATURE_SIZE = 64;
	static constexpr std::size_t SPKI_PREFIX_SIZE = 12;
	static constexpr std::uint8_t SPKI_PREFIX[SPKI_PREFIX_SIZE] =
		{0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00};
		/// DER SEQUENCE { SEQUENCE { OID 1.3.101.112 (Ed25519) }, BIT STRING (33 bytes, no
		/// unused bits) }: what precedes the raw key in every Ed25519 SubjectPublicKeyInfo.
	static constexpr std::size_t DER_SIZE = SPKI_PREFIX_SIZE + RAW_SIZE;

	static PublicKey fromRaw(const std::string& raw);
		/// Takes the 32-byte raw Ed25519 public key.

	static PublicKey fromDer(const std::string& spkiDer);
		/// Takes a DER SubjectPublicKeyInfo holding an Ed25519 key.

	static PublicKey fromPem(const std::string& pem);
		/// Takes a PEM "PUBLIC KEY" block.

	explicit PublicKey(std::shared_ptr<evp_pkey_st> pKey);
		/// Wraps an OpenSSL key (used by Identity, and by TlsChannel for the key of a verified
		/// peer certificate, without copying it). Throws CryptoException if not Ed25519.

	std::string raw() const;
		/// The 32-byte raw key.

	const std::array<std::uint8_t, RAW_SIZE>& rawBytes() const;
		/// The 32-byte raw key, without a copy.

	std::string der() const;
		/// The DER SubjectPublicKeyInfo: SPKI_PREFIX followed by the raw key.

	const PeerId& peerId() const;
		/// SHA-256 of der().

	static PeerId peerIdOfRaw(const std::uint8_t* raw);
		/// The peer ID of the Ed25519 key whose RAW_SIZE raw bytes start at raw, computed
		/// without an OpenSSL key object (SHA-256 of SPKI_PREFIX and the raw bytes).

	bool verify(const std::string& data, const std::string& signature) const;
		/// True if signature is a valid Ed25519 signature of data by this key. A signature of the
		/// wrong size is simply invalid.

	evp_pkey_st* handle() const;
		/// The OpenSSL key, for TLS code. Does not transfer ownership.

private:
	PublicKey(std::shared_ptr<evp_pkey_st> pKey, const std::uint8_t* raw);

	std::shared_ptr<evp_pkey_st> _pKey;
	std::array<std::uint8_t, RAW_SIZE> _raw;
	PeerId _peerId;
};


} // namespace CrossChat


#endif // CrossChat_Foundation_PublicKey_INCLUDED
