//
// PublicKey.h
//
// Library: Foundation
// An Ed25519 public key: verifies signatures and names its PeerId.
//


#ifndef CrossChat_Foundation_PublicKey_INCLUDED
#define CrossChat_Foundation_PublicKey_INCLUDED


#include "CrossChat/PeerId.h"
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
	/// Thread rules: immutable after construction; safe to share and to verify() from several
	/// threads at once.
{
public:
	static constexpr std::size_t RAW_SIZE = 32;
	static constexpr std::size_t SIGNATURE_SIZE = 64;

	static PublicKey fromRaw(const std::string& raw);
		/// Takes the 32-byte raw Ed25519 public key.

	static PublicKey fromDer(const std::string& spkiDer);
		/// Takes a DER SubjectPublicKeyInfo holding an Ed25519 key.

	static PublicKey fromPem(const std::string& pem);
		/// Takes a PEM "PUBLIC KEY" block.

	explicit PublicKey(std::shared_ptr<evp_pkey_st> pKey);
		/// Wraps an OpenSSL key (used by Identity). Throws CryptoException if not Ed25519.

	std::string raw() const;
		/// The 32-byte raw key.

	std::string der() const;
		/// The DER SubjectPublicKeyInfo.

	const PeerId& peerId() const;
		/// SHA-256 of der().

	bool verify(const std::string& data, const std::string& signature) const;
		/// True if signature is a valid Ed25519 signature of data by this key. A signature of the
		/// wrong size is simply invalid.

	evp_pkey_st* handle() const;
		/// The OpenSSL key, for TLS code. Does not transfer ownership.

private:
	std::shared_ptr<evp_pkey_st> _pKey;
	PeerId _peerId;
};


} // namespace CrossChat


#endif // CrossChat_Foundation_PublicKey_INCLUDED
