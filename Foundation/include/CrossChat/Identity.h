//
// Identity.h
//
// Library: Foundation
// This peer's Ed25519 key pair, its on-disk storage and its self-signed certificate.
//


#ifndef CrossChat_Foundation_Identity_INCLUDED
#define CrossChat_Foundation_Identity_INCLUDED


#include "CrossChat/PeerId.h"
#include "CrossChat/PublicKey.h"
#include <memory>
#include <string>


struct evp_pkey_st;
struct x509_st;


namespace CrossChat {


struct TlsContextCache;


class Identity
	/// The local peer's private key (Ed25519, OpenSSL 3), its PublicKey and PeerId, and a
	/// self-signed X.509 certificate used to present the key in TLS.
	///
	/// Storage: loadOrCreate(dir) keeps the key as PKCS#8 PEM in <dir>/identity.pem. The data
	/// directory is created with mode 0700 and the key file written with mode 0600 (atomically,
	/// through a temporary file). Like ssh, a key file that its group or others can read or
	/// write, that belongs to another user, or that is a symbolic link is refused with
	/// IdentityException.
	///
	/// Thread rules: immutable after construction; sign() and the accessors are safe from any
	/// thread. (Copies share the TLS contexts TlsChannel builds for the key on first use.)
{
public:
	static constexpr const char* KEY_FILE_NAME = "identity.pem";

	static Identity generate();
		/// Makes a new random key pair.

	static Identity loadOrCreate(const std::string& dataDir);
		/// Loads <dataDir>/identity.pem, or creates the directory and a new key if there is none.

	static Identity load(const std::string& keyFile);
		/// Loads a PKCS#8 PEM private key. Throws IdentityException if the file is missing,
		/// unreadable, readable or writable by group/others, owned by another user, a symbolic
		/// link, or not an Ed25519 key.

	void save(const std::string& keyFile) const;
		/// Writes the private key as PKCS#8 PEM with mode 0600, replacing the file atomically.

	static std::string defaultDataDir();
		/// $XDG_DATA_HOME/crosschat if XDG_DATA_HOME is set and absolute, else
		/// $HOME/.local/share/crosschat.

	const PeerId& peerId() const;
	const PublicKey& publicKey() const;

	std::string sign(const std::string& data) const;
		/// The 64-byte Ed25519 signature of data.

	std::string certificatePem() const;
		/// A self-signed X.509 v3 certificate for the key (CN = peer ID, long validity), made once
		/// per Identity object. Peers pin the key, not the certificate.

	std::string privateKeyPem() const;
		/// The private key as PKCS#8 PEM. Handle with care.

	evp_pkey_st* keyHandle() const;
		/// The OpenSSL private key, for TLS code. Does not transfer ownership.

	x509_st* certificateHandle() const;
		/// The OpenSSL certificate, for TLS code. Does not transfer ownership.

private:
	friend class TlsChannel;

	explicit Identity(std::shared_ptr<evp_pkey_st> pKey);

	std::shared_ptr<evp_pkey_st> _pKey;
	std::shared_ptr<x509_st> _pCert;
	PublicKey _publicKey;
	std::shared_ptr<TlsContextCache> _pTlsContexts;   ///< TlsChannel's SSL_CTX objects for this key.
};


} // namespace CrossChat


#endif // CrossChat_Foundation_Identity_INCLUDED
