//
// PublicKey.cpp
//
// Library: Foundation
// An Ed25519 public key: verifies signatures and names its PeerId.
//


#include "CrossChat/PublicKey.h"
#include "OpenSSLError.h"
#include "CrossChat/FoundationException.h"
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <climits>
#include <cstring>


namespace CrossChat {


namespace {


std::shared_ptr<EVP_PKEY> adopt(EVP_PKEY* pKey, const char* what)
	/// Takes ownership of pKey; throws CryptoException (with the OpenSSL errors) if it is null.
{
	if (!pKey) throw CryptoException(what, openSSLError());
	return std::shared_ptr<EVP_PKEY>(pKey, EVP_PKEY_free);
}


} // namespace


constexpr std::uint8_t PublicKey::SPKI_PREFIX[SPKI_PREFIX_SIZE];


PublicKey PublicKey::fromRaw(const std::string& raw)
{
	if (raw.size() != RAW_SIZE)
	{
		throw CryptoException("Ed25519 public key has " + std::to_string(raw.size()) + " bytes, expected " +
			std::to_string(RAW_SIZE));
	}
	const auto* pRaw = reinterpret_cast<const std::uint8_t*>(raw.data());
	EVP_PKEY* pKey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, pRaw, RAW_SIZE);
	return PublicKey(adopt(pKey, "cannot read raw Ed25519 public key"), pRaw);
}


PublicKey PublicKey::fromDer(const std::string& spkiDer)
{
	// An Ed25519 SubjectPublicKeyInfo has exactly one DER encoding: the prefix, then the key.
	if (spkiDer.size() == DER_SIZE && std::memcmp(spkiDer.data(), SPKI_PREFIX, SPKI_PREFIX_SIZE) == 0)
		return fromRaw(spkiDer.substr(SPKI_PREFIX_SIZE));
	// Anything else goes through OpenSSL's decoder, which names what is wrong with it.
	if (spkiDer.empty() || spkiDer.size() > static_cast<std::size_t>(LONG_MAX))
		throw CryptoException("cannot read DER public key", "wrong length " + std::to_string(spkiDer.size()));
	const unsigned char* p = reinterpret_cast<const unsigned char*>(spkiDer.data());
	const unsigned char* pEnd = p + spkiDer.size();
	std::shared_ptr<EVP_PKEY> pKey = adopt(d2i_PUBKEY(nullptr, &p, static_cast<long>(spkiDer.size())),
		"cannot read DER public key");
	if (p != pEnd) throw CryptoException("cannot read DER public key", "trailing bytes after the key");
	return PublicKey(pKey);
}


PublicKey PublicKey::fromPem(const std::string& pem)
{
	if (pem.size() > static_cast<std::size_t>(INT_MAX)) throw CryptoException("PEM public key too large");
	std::unique_ptr<BIO, decltype(&BIO_free)> pBio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), BIO_free);
	if (!pBio) throw CryptoException("cannot read PEM public key", openSSLError());
	return PublicKey(adopt(PEM_read_bio_PUBKEY(pBio.get(), nullptr, nullptr, nullptr), "cannot read PEM public key"));
}


PublicKey::PublicKey(std::shared_ptr<evp_pkey_st> pKey):
	_pKey(std::move(pKey))
{
	if (!_pKey) throw CryptoException("null public key");
	if (EVP_PKEY_get_id(_pKey.get()) != EVP_PKEY_ED25519)
	{
		const char* type = EVP_PKEY_get0_type_name(_pKey.get());
		throw CryptoException("not an Ed25519 key", type ? type : "unknown type");
	}
	std::size_t length = _raw.size();
	if (EVP_PKEY_get_raw_public_key(_pKey.get(), _raw.data(), &length) != 1 || length != RAW_SIZE)
		throw CryptoException("cannot get raw public key", openSSLError());
	_peerId = peerIdOfRaw(_raw.data());
}


PublicKey::PublicKey(std::shared_ptr<evp_pkey_st> pKey, const std::uint8_t* raw):
	_pKey(std::move(pKey)),
	_peerId(peerIdOfRaw(raw))
{
	std::memcpy(_raw.data(), raw, RAW_SIZE);
}


std::string PublicKey::raw() const
{
	return std::string(reinterpret_cast<const char*>(_raw.data()), _raw.size());
}


const std::array<std::uint8_t, PublicKey::RAW_SIZE>& PublicKey::rawBytes() const
{
	return _raw;
}


std::string PublicKey::der() const
{
	std::string result(reinterpret_cast<const char*>(SPKI_PREFIX), SPKI_PREFIX_SIZE);
	result.append(reinterpret_cast<const char*>(_raw.data()), _raw.size());
	return result;
}


const PeerId& PublicKey::peerId() const
{
	return _peerId;
}


PeerId PublicKey::peerIdOfRaw(const std::uint8_t* raw)
{
	std::uint8_t der[DER_SIZE];
	std::memcpy(der, SPKI_PREFIX, SPKI_PREFIX_SIZE);
	std::memcpy(der + SPKI_PREFIX_SIZE, raw, RAW_SIZE);
	return PeerId::fromPublicKeyDer(der, sizeof(der));
}


bool PublicKey::verify(const std::string& data, const std::string& signature) const
{
	if (signature.size() != SIGNATURE_SIZE) return false;
	std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> pCtx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
	if (!pCtx) throw CryptoException("cannot create digest context", openSSLError());
	if (EVP_DigestVerifyInit(pCtx.get(), nullptr, nullptr, nullptr, _pKey.get()) != 1)
		throw CryptoException("cannot start signature verification", openSSLError());
	const int rc = EVP_DigestVerify(pCtx.get(),
		reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
		reinterpret_cast<const unsigned char*>(data.data()), data.size());
	if (rc != 1)
	{
		// A bad signature leaves an entry in the error queue; it is an answer, not an error.
		ERR_clear_error();
		return false;
	}
	return true;
}


evp_pkey_st* PublicKey::handle() const
{
	return _pKey.get();
}


} // namespace CrossChat
