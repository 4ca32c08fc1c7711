//
// Hpke.h
//
// Library: Foundation
// RFC 9180 Hybrid Public Key Encryption, base mode, one suite, from OpenSSL 3 primitives.
//


#ifndef CrossChat_Foundation_Hpke_INCLUDED
#define CrossChat_Foundation_Hpke_INCLUDED


#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>


namespace CrossChat {


class Hpke
	/// HPKE (RFC 9180) in base mode (mode_base: no PSK, no sender authentication) with the suite
	///   KEM  DHKEM(X25519, HKDF-SHA256)   0x0020
	///   KDF  HKDF-SHA256                  0x0001
	///   AEAD ChaCha20-Poly1305            0x0003
	/// composed exactly as the RFC specifies from OpenSSL 3.0 primitives (which has no HPKE API
	/// of its own before 3.2): EVP_PKEY X25519 key generation and derivation, EVP_KDF "HKDF"
	/// in extract-only and expand-only modes for LabeledExtract() and LabeledExpand(), and the
	/// EVP ChaCha20-Poly1305 AEAD. Checked against the RFC's test vectors (appendix A.2) in
	/// HpkeTest.
	///
	/// Keys are raw 32-byte X25519 strings (RFC 7748): SerializePublicKey() and
	/// SerializePrivateKey() of the RFC are the identity. An all-zero Diffie-Hellman result (a
	/// low-order public key) is refused, as section 7.1.4 requires.
	///
	/// Errors: CryptoException (FoundationException.h) for malformed keys, a failed OpenSSL
	/// call, or a ciphertext that does not authenticate (open()); nothing is returned then.
	///
	/// Thread rules: stateless functions, safe from any thread; a Context is a value used by
	/// one thread at a time.
{
public:
	static constexpr std::uint16_t KEM_ID = 0x0020;
	static constexpr std::uint16_t KDF_ID = 0x0001;
	static constexpr std::uint16_t AEAD_ID = 0x0003;
	static constexpr std::size_t KEY_SIZE = 32;      ///< Npk = Nsk = Nenc = Nsecret (X25519), Nk (ChaCha20).
	static constexpr std::size_t NONCE_SIZE = 12;    ///< Nn.
	static constexpr std::size_t TAG_SIZE = 16;      ///< Nt: a ciphertext is this much longer than its plaintext.

	struct KeyPair
		/// An X25519 key pair, raw bytes.
	{
		std::string privateKey;   ///< 32 bytes.
		std::string publicKey;    ///< 32 bytes.
	};

	class Context
		/// The result of a setup: the AEAD key and base nonce, a sequence number, the exporter
		/// secret (RFC 9180 section 5.2). seal() and open() each use the next sequence number.
	{
	public:
		std::string seal(const std::string& aad, const std::string& plaintext);
			/// Encrypts with the next nonce. Throws CryptoException.
		std::string open(const std::string& aad, const std::string& ciphertext);
			/// Decrypts with the next nonce; throws CryptoException if the ciphertext (or aad)
			/// does not authenticate, and then the sequence number does not advance.
		std::string exportSecret(const std::string& exporterContext, std::size_t length) const;
			/// LabeledExpand(exporter_secret, "sec", exporterContext, length). Throws
			/// CryptoException for a length over 255 * 32.

		const std::string& sharedSecret() const;   ///< The KEM's shared_secret (for tests).
		const std::string& key() const;
		const std::string& baseNonce() const;
		const std::string& exporterSecret() const;
		std::uint64_t sequence() const;

	private:
		friend class Hpke;
		std::string nonce() const;

		std::string _sharedSecret;
		std::string _key;
		std::string _baseNonce;
		std::string _exporterSecret;
		std::uint64_t _sequence = 0;
	};

	static KeyPair generateKeyPair();
		/// A fresh random key pair (OpenSSL's CSPRNG).

	static KeyPair deriveKeyPair(const std::string& ikm);
		/// DeriveKeyPair(ikm) of section 7.1.3 (ikm of at least 32 bytes): deterministic.

	static std::string publicKeyOf(const std::string& privateKey);
		/// The public key of a raw private key. Throws CryptoException if it is not 32 bytes.

	static std::pair<std::string, Context> setupBaseSender(const std::string& recipientPublicKey, const std::string& info);
		/// SetupBaseS(pkR, info): (enc, context) with a fresh ephemeral key.

	static std::pair<std::string, Context> setupBaseSender(const std::string& recipientPublicKey, const std::string& info,
		const KeyPair& ephemeral);
		/// The same with a given ephemeral key pair: for test vectors only (an ephemeral key
		/// used twice breaks the scheme).

	static Context setupBaseRecipient(const std::string& enc, const std::string& recipientPrivateKey, const std::string& info);
		/// SetupBaseR(enc, skR, info).

	static std::pair<std::string, std::string> seal(const std::string& recipientPublicKey, const std::string& info,
		const std::string& aad, const std::string& plaintext);
		/// Single-shot Seal (section 6.1): (enc, ciphertext).

	static std::string open(const std::string& enc, const std::string& recipientPrivateKey, const std::string& info,
		const std::string& aad, const std::string& ciphertext);
		/// Single-shot Open: the plaintext, or CryptoException if anything does not match.

private:
	static Context keySchedule(const std::string& sharedSecret, const std::string& info);
};


} // namespace CrossChat


#endif // CrossChat_Foundation_Hpke_INCLUDED
