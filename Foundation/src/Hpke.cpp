//
// Hpke.cpp
//
// Library: Foundation
//
// RFC 9180, sections 4 (DHKEM), 5.1 (key schedule), 5.2 (encryption and decryption), 5.3
// (secret export) and 7.1.3 (DeriveKeyPair for X25519), for one suite. Every function name
// below is the RFC's.
//


#include "CrossChat/Hpke.h"
#include "OpenSSLError.h"
#include "CrossChat/FoundationException.h"
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <memory>


namespace CrossChat {


namespace {


using PkeyPtr = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;
using PkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, decltype(&EVP_PKEY_CTX_free)>;
using KdfCtxPtr = std::unique_ptr<EVP_KDF_CTX, decltype(&EVP_KDF_CTX_free)>;
using CipherCtxPtr = std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)>;

const std::string VERSION_LABEL = "HPKE-v1";
constexpr std::size_t HASH_SIZE = 32;   ///< Nh of HKDF-SHA256.


std::string i2osp(std::uint64_t value, std::size_t length)
	/// I2OSP: value as length bytes, big-endian.
{
	std::string out(length, '\0');
	for (std::size_t i = 0; i < length; ++i)
	{
		out[length - 1 - i] = static_cast<char>(value & 0xFF);
		value >>= 8;
	}
	return out;
}


const std::string& kemSuiteId()
{
	static const std::string id = "KEM" + i2osp(Hpke::KEM_ID, 2);
	return id;
}


const std::string& hpkeSuiteId()
{
	static const std::string id = "HPKE" + i2osp(Hpke::KEM_ID, 2) + i2osp(Hpke::KDF_ID, 2) + i2osp(Hpke::AEAD_ID, 2);
	return id;
}


const unsigned char* bytes(const std::string& s)
{
	return reinterpret_cast<const unsigned char*>(s.data());
}


KdfCtxPtr hkdfContext()
{
	EVP_KDF* pKdf = EVP_KDF_fetch(nullptr, "HKDF", nullptr);
	if (!pKdf) throw CryptoException("HKDF is not available", openSSLError());
	EVP_KDF_CTX* pContext = EVP_KDF_CTX_new(pKdf);
	EVP_KDF_free(pKdf);
	if (!pContext) throw CryptoException("cannot create an HKDF context", openSSLError());
	return KdfCtxPtr(pContext, EVP_KDF_CTX_free);
}


std::string extract(const std::string& salt, const std::string& ikm)
	/// HKDF-Extract(salt, ikm) with SHA-256 (RFC 5869): an empty salt is HashLen zero bytes.
{
	KdfCtxPtr context = hkdfContext();
	int mode = EVP_KDF_HKDF_MODE_EXTRACT_ONLY;
	char digest[] = "SHA256";
	OSSL_PARAM params[5];
	std::size_t n = 0;
	params[n++] = OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode);
	params[n++] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0);
	params[n++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, const_cast<char*>(ikm.data()), ikm.size());
	const std::string zeros(HASH_SIZE, '\0');
	const std::string& realSalt = salt.empty() ? zeros : salt;
	params[n++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, const_cast<char*>(realSalt.data()), realSalt.size());
	params[n] = OSSL_PARAM_construct_end();
	std::string prk(HASH_SIZE, '\0');
	if (EVP_KDF_derive(context.get(), reinterpret_cast<unsigned char*>(&prk[0]), prk.size(), params) != 1)
		throw CryptoException("HKDF-Extract failed", openSSLError());
	return prk;
}


std::string expand(const std::string& prk, const std::string& info, std::size_t length)
	/// HKDF-Expand(prk, info, length) with SHA-256.
{
	if (length == 0 || length > 255 * HASH_SIZE) throw CryptoException("HKDF-Expand length out of range");
	KdfCtxPtr context = hkdfContext();
	int mode = EVP_KDF_HKDF_MODE_EXPAND_ONLY;
	char digest[] = "SHA256";
	OSSL_PARAM params[5];
	std::size_t n = 0;
	params[n++] = OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode);
	params[n++] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0);
	params[n++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, const_cast<char*>(prk.data()), prk.size());
	params[n++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, const_cast<char*>(info.data()), info.size());
	params[n] = OSSL_PARAM_construct_end();
	std::string out(length, '\0');
	if (EVP_KDF_derive(context.get(), reinterpret_cast<unsigned char*>(&out[0]), out.size(), params) != 1)
		throw CryptoException("HKDF-Expand failed", openSSLError());
	return out;
}


std::string labeledExtract(const std::string& suiteId, const std::string& salt, const std::string& label, const std::string& ikm)
	/// LabeledExtract(salt, label, ikm) = Extract(salt, "HPKE-v1" || suite_id || label || ikm).
{
	return extract(salt, VERSION_LABEL + suiteId + label + ikm);
}


std::string labeledExpand(const std::string& suiteId, const std::string& prk, const std::string& label, const std::string& info,
	std::size_t length)
	/// LabeledExpand(prk, label, info, L) = Expand(prk, I2OSP(L, 2) || "HPKE-v1" || suite_id || label || info, L).
{
	if (length > 0xFFFF) throw CryptoException("LabeledExpand length out of range");
	return expand(prk, i2osp(length, 2) + VERSION_LABEL + suiteId + label + info, length);
}


PkeyPtr privateKey(const std::string& raw)
{
	if (raw.size() != Hpke::KEY_SIZE)
		throw CryptoException("an X25519 private key has " + std::to_string(Hpke::KEY_SIZE) + " bytes, not " + std::to_string(raw.size()));
	EVP_PKEY* pKey = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, nullptr, bytes(raw), raw.size());
	if (!pKey) throw CryptoException("cannot read an X25519 private key", openSSLError());
	return PkeyPtr(pKey, EVP_PKEY_free);
}


PkeyPtr publicKey(const std::string& raw)
{
	if (raw.size() != Hpke::KEY_SIZE)
		throw CryptoException("an X25519 public key has " + std::to_string(Hpke::KEY_SIZE) + " bytes, not " + std::to_string(raw.size()));
	EVP_PKEY* pKey = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, nullptr, bytes(raw), raw.size());
	if (!pKey) throw CryptoException("cannot read an X25519 public key", openSSLError());
	return PkeyPtr(pKey, EVP_PKEY_free);
}


std::string rawPublic(EVP_PKEY* pKey)
{
	std::string out(Hpke::KEY_SIZE, '\0');
	std::size_t size = out.size();
	if (EVP_PKEY_get_raw_public_key(pKey, reinterpret_cast<unsigned char*>(&out[0]), &size) != 1 || size != Hpke::KEY_SIZE)
		throw CryptoException("cannot read an X25519 public key", openSSLError());
	return out;
}


std::string dh(const std::string& privateRaw, const std::string& publicRaw)
	/// DH(sk, pk): the X25519 shared value; an all-zero result is refused (section 7.1.4).
{
	PkeyPtr own = privateKey(privateRaw);
	PkeyPtr peer = publicKey(publicRaw);
	PkeyCtxPtr context(EVP_PKEY_CTX_new(own.get(), nullptr), EVP_PKEY_CTX_free);
	if (!context || EVP_PKEY_derive_init(context.get()) != 1 || EVP_PKEY_derive_set_peer(context.get(), peer.get()) != 1)
		throw CryptoException("X25519 key agreement failed", openSSLError());
	std::string out(Hpke::KEY_SIZE, '\0');
	std::size_t size = out.size();
	if (EVP_PKEY_derive(context.get(), reinterpret_cast<unsigned char*>(&out[0]), &size) != 1 || size != Hpke::KEY_SIZE)
		throw CryptoException("X25519 key agreement failed", openSSLError());
	unsigned char accumulated = 0;
	for (const char c: out) accumulated |= static_cast<unsigned char>(c);
	if (accumulated == 0) throw CryptoException("X25519 key agreement gave the all-zero value (a low-order public key)");
	return out;
}


std::string extractAndExpand(const std::string& dhValue, const std::string& kemContext)
	/// DHKEM's ExtractAndExpand (section 4.1).
{
	const std::string eaePrk = labeledExtract(kemSuiteId(), "", "eae_prk", dhValue);
	return labeledExpand(kemSuiteId(), eaePrk, "shared_secret", kemContext, Hpke::KEY_SIZE);
}


std::string aead(bool encrypt, const std::string& key, const std::string& nonce, const std::string& aad, const std::string& input)
	/// ChaCha20-Poly1305 (RFC 8439): Seal appends the 16-byte tag, Open checks and strips it.
{
	if (!encrypt && input.size() < Hpke::TAG_SIZE) throw CryptoException("ciphertext shorter than its tag");
	CipherCtxPtr context(EVP_CIPHER_CTX_new(), EVP_CIPHER_CTX_free);
	if (!context) throw CryptoException("cannot create a cipher context", openSSLError());
	const std::size_t bodySize = encrypt ? input.size() : input.size() - Hpke::TAG_SIZE;
	if (EVP_CipherInit_ex(context.get(), EVP_chacha20_poly1305(), nullptr, nullptr, nullptr, encrypt ? 1 : 0) != 1
		|| EVP_CIPHER_CTX_ctrl(context.get(), EVP_CTRL_AEAD_SET_IVLEN, static_cast<int>(nonce.size()), nullptr) != 1
		|| EVP_CipherInit_ex(context.get(), nullptr, nullptr, bytes(key), bytes(nonce), encrypt ? 1 : 0) != 1)
	{
		throw CryptoException("ChaCha20-Poly1305 set-up failed", openSSLError());
	}
	int length = 0;
	if (!aad.empty() && EVP_CipherUpdate(context.get(), nullptr, &length, bytes(aad), static_cast<int>(aad.size())) != 1)
		throw CryptoException("ChaCha20-Poly1305 failed on the associated data", openSSLError());
	std::string out(bodySize + (encrypt ? Hpke::TAG_SIZE : 0), '\0');
	auto* pOut = reinterpret_cast<unsigned char*>(&out[0]);
	int written = 0;
	if (bodySize > 0)
	{
		if (EVP_CipherUpdate(context.get(), pOut, &length, bytes(input), static_cast<int>(bodySize)) != 1)
			throw CryptoException("ChaCha20-Poly1305 failed", openSSLError());
		written = length;
	}
	if (!encrypt)
	{
		std::string tag = input.substr(bodySize);
		if (EVP_CIPHER_CTX_ctrl(context.get(), EVP_CTRL_AEAD_SET_TAG, static_cast<int>(tag.size()), &tag[0]) != 1)
			throw CryptoException("ChaCha20-Poly1305 failed to take the tag", openSSLError());
	}
	if (EVP_CipherFinal_ex(context.get(), pOut + written, &length) != 1)
	{
		ERR_clear_error();
		OPENSSL_cleanse(&out[0], out.size());
		throw CryptoException("the ciphertext does not authenticate (wrong key, or it was changed)");
	}
	if (encrypt && EVP_CIPHER_CTX_ctrl(context.get(), EVP_CTRL_AEAD_GET_TAG, static_cast<int>(Hpke::TAG_SIZE), pOut + bodySize) != 1)
		throw CryptoException("ChaCha20-Poly1305 failed to give the tag", openSSLError());
	return out;
}


} // namespace


//
// Context
//


std::string Hpke::Context::nonce() const
	/// ComputeNonce(seq) = base_nonce XOR I2OSP(seq, Nn).
{
	if (_sequence == UINT64_MAX) throw CryptoException("HPKE message limit reached");
	std::string nonce = _baseNonce;
	const std::string sequence = i2osp(_sequence, NONCE_SIZE);
	for (std::size_t i = 0; i < NONCE_SIZE; ++i) nonce[i] = static_cast<char>(nonce[i] ^ sequence[i]);
	return nonce;
}


std::string Hpke::Context::seal(const std::string& aad, const std::string& plaintext)
{
	std::string ciphertext = aead(true, _key, nonce(), aad, plaintext);
	++_sequence;
	return ciphertext;
}


std::string Hpke::Context::open(const std::string& aad, const std::string& ciphertext)
{
	std::string plaintext = aead(false, _key, nonce(), aad, ciphertext);
	++_sequence;
	return plaintext;
}


std::string Hpke::Context::exportSecret(const std::string& exporterContext, std::size_t length) const
{
	return labeledExpand(hpkeSuiteId(), _exporterSecret, "sec", exporterContext, length);
}


const std::string& Hpke::Context::sharedSecret() const
{
	return _sharedSecret;
}


const std::string& Hpke::Context::key() const
{
	return _key;
}


const std::string& Hpke::Context::baseNonce() const
{
	return _baseNonce;
}


const std::string& Hpke::Context::exporterSecret() const
{
	return _exporterSecret;
}


std::uint64_t Hpke::Context::sequence() const
{
	return _sequence;
}


//
// Hpke
//


Hpke::KeyPair Hpke::generateKeyPair()
{
	PkeyCtxPtr context(EVP_PKEY_CTX_new_id(EVP_PKEY_X25519, nullptr), EVP_PKEY_CTX_free);
	EVP_PKEY* pKey = nullptr;
	if (!context || EVP_PKEY_keygen_init(context.get()) != 1 || EVP_PKEY_keygen(context.get(), &pKey) != 1)
		throw CryptoException("cannot generate an X25519 key", openSSLError());
	PkeyPtr key(pKey, EVP_PKEY_free);
	KeyPair pair;
	pair.privateKey.assign(KEY_SIZE, '\0');
	std::size_t size = KEY_SIZE;
	if (EVP_PKEY_get_raw_private_key(key.get(), reinterpret_cast<unsigned char*>(&pair.privateKey[0]), &size) != 1 || size != KEY_SIZE)
		throw CryptoException("cannot read an X25519 private key", openSSLError());
	pair.publicKey = rawPublic(key.get());
	return pair;
}


Hpke::KeyPair Hpke::deriveKeyPair(const std::string& ikm)
{
	if (ikm.size() < KEY_SIZE) throw CryptoException("DeriveKeyPair needs at least 32 bytes of input keying material");
	const std::string dkpPrk = labeledExtract(kemSuiteId(), "", "dkp_prk", ikm);
	KeyPair pair;
	pair.privateKey = labeledExpand(kemSuiteId(), dkpPrk, "sk", "", KEY_SIZE);
	pair.publicKey = publicKeyOf(pair.privateKey);
	return pair;
}


std::string Hpke::publicKeyOf(const std::string& privateRaw)
{
	return rawPublic(privateKey(privateRaw).get());
}


Hpke::Context Hpke::keySchedule(const std::string& sharedSecret, const std::string& info)
	/// KeySchedule<ROLE>(mode_base, shared_secret, info, psk = "", psk_id = "") (section 5.1).
{
	const std::string pskIdHash = labeledExtract(hpkeSuiteId(), "", "psk_id_hash", "");
	const std::string infoHash = labeledExtract(hpkeSuiteId(), "", "info_hash", info);
	const std::string keyScheduleContext = std::string(1, '\0') + pskIdHash + infoHash;
	const std::string secret = labeledExtract(hpkeSuiteId(), sharedSecret, "secret", "");
	Context context;
	context._sharedSecret = sharedSecret;
	context._key = labeledExpand(hpkeSuiteId(), secret, "key", keyScheduleContext, KEY_SIZE);
	context._baseNonce = labeledExpand(hpkeSuiteId(), secret, "base_nonce", keyScheduleContext, NONCE_SIZE);
	context._exporterSecret = labeledExpand(hpkeSuiteId(), secret, "exp", keyScheduleContext, HASH_SIZE);
	return context;
}


std::pair<std::string, Hpke::Context> Hpke::setupBaseSender(const std::string& recipientPublicKey, const std::string& info)
{
	return setupBaseSender(recipientPublicKey, info, generateKeyPair());
}


std::pair<std::string, Hpke::Context> Hpke::setupBaseSender(const std::string& recipientPublicKey, const std::string& info,
	const KeyPair& ephemeral)
{
	// Encap(pkR): dh = DH(skE, pkR); enc = pkE; kem_context = enc || pkR.
	const std::string dhValue = dh(ephemeral.privateKey, recipientPublicKey);
	const std::string& enc = ephemeral.publicKey;
	const std::string sharedSecret = extractAndExpand(dhValue, enc + recipientPublicKey);
	return {enc, keySchedule(sharedSecret, info)};
}


Hpke::Context Hpke::setupBaseRecipient(const std::string& enc, const std::string& recipientPrivateKey, const std::string& info)
{
	// Decap(enc, skR): dh = DH(skR, pkE); kem_context = enc || pk(skR).
	const std::string dhValue = dh(recipientPrivateKey, enc);
	const std::string sharedSecret = extractAndExpand(dhValue, enc + publicKeyOf(recipientPrivateKey));
	return keySchedule(sharedSecret, info);
}


std::pair<std::string, std::string> Hpke::seal(const std::string& recipientPublicKey, const std::string& info,
	const std::string& aad, const std::string& plaintext)
{
	auto setup = setupBaseSender(recipientPublicKey, info);
	return {setup.first, setup.second.seal(aad, plaintext)};
}


std::string Hpke::open(const std::string& enc, const std::string& recipientPrivateKey, const std::string& info,
	const std::string& aad, const std::string& ciphertext)
{
	Context context = setupBaseRecipient(enc, recipientPrivateKey, info);
	return context.open(aad, ciphertext);
}


} // namespace CrossChat
