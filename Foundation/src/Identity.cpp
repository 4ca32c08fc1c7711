//
// Identity.cpp
//
// Library: Foundation
// This peer's Ed25519 key pair, its on-disk storage and its self-signed certificate.
//


#include "CrossChat/Identity.h"
#include "OpenSSLError.h"
#include "TlsContextCache.h"
#include "CrossChat/FoundationException.h"
#include "Poco/Environment.h"
#include "Poco/File.h"
#include "Poco/Path.h"
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>


namespace CrossChat {


namespace {


constexpr long CERTIFICATE_VALIDITY_DAYS = 20*365;
constexpr long CERTIFICATE_BACKDATE_SECONDS = 60*60;   // tolerate peers with a slow clock
constexpr std::size_t MAX_KEY_FILE_SIZE = 64*1024;      // an Ed25519 PEM is about 120 bytes


std::string systemError(const std::string& what, const std::string& path, int error)
{
	return what + " " + path + ": " + std::strerror(error);
}


using BioPtr = std::unique_ptr<BIO, decltype(&BIO_free)>;


std::string drain(BIO* pBio)
	/// The bytes written to a memory BIO.
{
	char* pData = nullptr;
	const long length = BIO_get_mem_data(pBio, &pData);
	if (length < 0 || (length > 0 && !pData)) throw CryptoException("cannot read memory BIO", openSSLError());
	return std::string(pData, static_cast<std::size_t>(length));
}


void wipe(std::string& secret)
	/// Overwrites key material before the string's memory is released.
{
	if (!secret.empty()) OPENSSL_cleanse(&secret[0], secret.size());
	secret.clear();
}


class FileDescriptor
	/// Closes a POSIX file descriptor on scope exit.
{
public:
	explicit FileDescriptor(int fd): _fd(fd) {}
	~FileDescriptor() { if (_fd >= 0) ::close(_fd); }
	FileDescriptor(const FileDescriptor&) = delete;
	FileDescriptor& operator=(const FileDescriptor&) = delete;

	int get() const { return _fd; }

	int release()
	{
		const int fd = _fd;
		_fd = -1;
		return fd;
	}

private:
	int _fd;
};


std::shared_ptr<EVP_PKEY> publicPart(EVP_PKEY* pKey)
	/// A key holding only the public half of pKey, so that PublicKey never carries the secret.
{
	unsigned char raw[PublicKey::RAW_SIZE];
	std::size_t length = sizeof(raw);
	if (EVP_PKEY_get_raw_public_key(pKey, raw, &length) != 1 || length != sizeof(raw))
		throw CryptoException("cannot get raw public key", openSSLError());
	EVP_PKEY* pPublic = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, raw, length);
	if (!pPublic) throw CryptoException("cannot copy public key", openSSLError());
	return std::shared_ptr<EVP_PKEY>(pPublic, EVP_PKEY_free);
}


std::shared_ptr<EVP_PKEY> checkedKey(std::shared_ptr<EVP_PKEY> pKey)
	/// pKey, if it is an Ed25519 private key; else throws IdentityException.
{
	if (!pKey) throw IdentityException("null private key");
	if (EVP_PKEY_get_id(pKey.get()) != EVP_PKEY_ED25519)
	{
		const char* type = EVP_PKEY_get0_type_name(pKey.get());
		throw IdentityException("not an Ed25519 key", type ? type : "unknown type");
	}
	std::size_t length = 0;
	if (EVP_PKEY_get_raw_private_key(pKey.get(), nullptr, &length) != 1)
	{
		ERR_clear_error();
		throw IdentityException("the key has no private part");
	}
	return pKey;
}


void addExtension(X509* pCert, int nid, const char* value)
{
	X509V3_CTX ctx;
	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, pCert, pCert, nullptr, nullptr, 0);
	X509_EXTENSION* pExt = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
	if (!pExt) throw CryptoException("cannot make certificate extension", openSSLError());
	const int rc = X509_add_ext(pCert, pExt, -1);
	X509_EXTENSION_free(pExt);
	if (rc != 1) throw CryptoException("cannot add certificate extension", openSSLError());
}


std::shared_ptr<X509> makeCertificate(EVP_PKEY* pKey, const PeerId& peerId)
	/// A self-signed X.509 v3 certificate for pKey, CN = the peer ID.
{
	std::shared_ptr<X509> pCert(X509_new(), X509_free);
	if (!pCert) throw CryptoException("cannot create certificate", openSSLError());
	X509* pX509 = pCert.get();

	if (X509_set_version(pX509, 2) != 1) // v3
		throw CryptoException("cannot set certificate version", openSSLError());

	// A random positive 127-bit serial, as RFC 5280 asks for (at most 20 octets, positive).
	unsigned char serialBytes[16];
	if (RAND_bytes(serialBytes, sizeof(serialBytes)) != 1)
		throw CryptoException("cannot make certificate serial", openSSLError());
	serialBytes[0] &= 0x7F;
	serialBytes[0] |= 0x40;
	std::unique_ptr<BIGNUM, decltype(&BN_free)> pSerial(BN_bin2bn(serialBytes, sizeof(serialBytes), nullptr), BN_free);
	if (!pSerial || !BN_to_ASN1_INTEGER(pSerial.get(), X509_get_serialNumber(pX509)))
		throw CryptoException("cannot set certificate serial", openSSLError());

	if (!X509_gmtime_adj(X509_getm_notBefore(pX509), -CERTIFICATE_BACKDATE_SECONDS) ||
		!X509_time_adj_ex(X509_getm_notAfter(pX509), CERTIFICATE_VALIDITY_DAYS, 0, nullptr))
	{
		throw CryptoException("cannot set certificate validity", openSSLError());
	}

	const std::string commonName = peerId.toString();
	X509_NAME* pName = X509_get_subject_name(pX509);
	if (X509_NAME_add_entry_by_txt(pName, "CN", MBSTRING_ASC,
			reinterpret_cast<const unsigned char*>(commonName.c_str()), -1, -1, 0) != 1 ||
		X509_set_issuer_name(pX509, pName) != 1)
	{
		throw CryptoException("cannot set certificate name", openSSLError());
	}

	if (X509_set_pubkey(pX509, pKey) != 1) throw CryptoException("cannot set certificate key", openSSLError());
	// No keyUsage extension: one without keyCertSign would stop OpenSSL from recognising the
	// certificate as self-signed (X509_check_issued), which TLS verification relies on.
	addExtension(pX509, NID_basic_constraints, "critical,CA:FALSE");
	addExtension(pX509, NID_subject_key_identifier, "hash");

	if (X509_sign(pX509, pKey, nullptr) <= 0) // Ed25519 signs without a separate digest
		throw CryptoException("cannot sign certificate", openSSLError());

	// Encode once now: the first encoding after signing fills a cache inside the X509 object,
	// and later calls from several threads must only read it.
	if (i2d_X509(pX509, nullptr) <= 0) throw CryptoException("cannot encode certificate", openSSLError());
	return pCert;
}


std::string readKeyFile(const std::string& keyFile)
	/// The contents of keyFile, after checking that only its owner can read or write it.
{
	// O_NOFOLLOW: a symbolic link in place of the key could point anywhere; it is refused.
	FileDescriptor fd(::open(keyFile.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
	if (fd.get() < 0 && errno == ELOOP)
		throw IdentityException("key file " + keyFile + " is a symbolic link; refusing to use it");
	if (fd.get() < 0) throw IdentityException(systemError("cannot open key file", keyFile, errno));

	struct stat st;
	if (::fstat(fd.get(), &st) != 0) throw IdentityException(systemError("cannot stat key file", keyFile, errno));
	if (!S_ISREG(st.st_mode)) throw IdentityException("key file " + keyFile + " is not a regular file");
	if (st.st_uid != ::geteuid())
	{
		throw IdentityException("key file " + keyFile + " belongs to user ID " + std::to_string(st.st_uid) +
			", not to you (user ID " + std::to_string(::geteuid()) + "); refusing to use it");
	}
	if ((st.st_mode & 077) != 0)
	{
		char mode[8];
		std::snprintf(mode, sizeof(mode), "%04o", static_cast<unsigned>(st.st_mode & 07777));
		throw IdentityException("key file " + keyFile + " has mode " + mode +
			" and is accessible by others; refusing to use it. Run: chmod 600 " + keyFile);
	}
	if (static_cast<std::size_t>(st.st_size) > MAX_KEY_FILE_SIZE)
		throw IdentityException("key file " + keyFile + " is too large to be a key");

	std::string contents;
	char buffer[4096];
	for (;;)
	{
		const ssize_t n = ::read(fd.get(), buffer, sizeof(buffer));
		if (n < 0 && errno == EINTR) continue;
		if (n < 0)
		{
			const int error = errno;
			wipe(contents);
			OPENSSL_cleanse(buffer, sizeof(buffer));
			throw IdentityException(systemError("cannot read key file", keyFile, error));
		}
		if (n == 0) break;
		contents.append(buffer, static_cast<std::size_t>(n));
		if (contents.size() > MAX_KEY_FILE_SIZE)
		{
			wipe(contents);
			OPENSSL_cleanse(buffer, sizeof(buffer));
			throw IdentityException("key file " + keyFile + " is too large to be a key");
		}
	}
	OPENSSL_cleanse(buffer, sizeof(buffer));
	return contents;
}


int noPassword(char*, int, int, void*)
	/// A PEM password callback that never prompts: an encrypted key file is refused, not asked about.
{
	return -1;
}


std::string writeTemporary(const std::string& keyFile, std::string& pem)
	/// Writes pem (wiping it) to a new mode-0600 file next to keyFile, synced to disk, and returns its path.
{
	std::string tempPath = keyFile + ".tmp-XXXXXX";
	// mkstemp() opens with O_CREAT | O_EXCL and mode 0600, whatever the umask.
	FileDescriptor fd(::mkstemp(&tempPath[0]));
	if (fd.get() < 0)
	{
		const int error = errno;
		wipe(pem);
		throw IdentityException(systemError("cannot create temporary key file next to", keyFile, error));
	}
	auto fail = [&](const char* what)
	{
		const int error = errno;
		wipe(pem);
		::unlink(tempPath.c_str());
		throw IdentityException(systemError(what, tempPath, error));
	};
	if (::fchmod(fd.get(), 0600) != 0) fail("cannot set mode of");
	std::size_t written = 0;
	while (written < pem.size())
	{
		const ssize_t n = ::write(fd.get(), pem.data() + written, pem.size() - written);
		if (n < 0 && errno == EINTR) continue;
		if (n < 0) fail("cannot write");
		written += static_cast<std::size_t>(n);
	}
	wipe(pem);
	if (::fsync(fd.get()) != 0) fail("cannot sync");
	if (::close(fd.release()) != 0) fail("cannot close");
	return tempPath;
}


void syncDirectory(const std::string& keyFile)
	/// Makes a rename in keyFile's directory durable. Best effort: some file systems refuse it.
{
	const std::string dir = Poco::Path(keyFile).parent().toString();
	FileDescriptor fd(::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
	if (fd.get() >= 0) ::fsync(fd.get());
}


} // namespace


Identity::Identity(std::shared_ptr<evp_pkey_st> pKey):
	_pKey(checkedKey(std::move(pKey))),
	_publicKey(publicPart(_pKey.get())),
	_pTlsContexts(std::make_shared<TlsContextCache>())
{
	_pCert = makeCertificate(_pKey.get(), _publicKey.peerId());
}


Identity Identity::generate()
{
	EVP_PKEY* pKey = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
	if (!pKey) throw IdentityException("cannot generate Ed25519 key", openSSLError());
	return Identity(std::shared_ptr<EVP_PKEY>(pKey, EVP_PKEY_free));
}


Identity Identity::loadOrCreate(const std::string& dataDir)
{
	if (dataDir.empty()) throw IdentityException("empty data directory");
	Poco::Path dirPath(dataDir);
	dirPath.makeDirectory();
	const std::string dir = dirPath.toString();
	const std::string keyFile = Poco::Path(dirPath, KEY_FILE_NAME).toString();

	Poco::File dirFile(dir);
	if (!dirFile.exists())
	{
		try
		{
			Poco::Path parent(dirPath.parent());
			if (parent.depth() > 0 || parent.isAbsolute()) Poco::File(parent).createDirectories();
		}
		catch (Poco::Exception& exc)
		{
			throw IdentityException("cannot create data directory " + dir, exc.displayText());
		}
		if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
			throw IdentityException(systemError("cannot create data directory", dir, errno));
		// mkdir() applies the umask; the data directory must be exactly owner-only.
		if (::chmod(dir.c_str(), 0700) != 0)
			throw IdentityException(systemError("cannot set mode of data directory", dir, errno));
	}
	else if (!dirFile.isDirectory())
	{
		throw IdentityException("data directory " + dir + " is not a directory");
	}

	if (Poco::File(keyFile).exists()) return load(keyFile);

	Identity identity = generate();
	std::string pem = identity.privateKeyPem();
	const std::string tempPath = writeTemporary(keyFile, pem);
	// link() publishes the key only if no other process created one meanwhile; then that one wins.
	if (::link(tempPath.c_str(), keyFile.c_str()) != 0)
	{
		const int error = errno;
		::unlink(tempPath.c_str());
		if (error == EEXIST) return load(keyFile);
		throw IdentityException(systemError("cannot create key file", keyFile, error));
	}
	::unlink(tempPath.c_str());
	syncDirectory(keyFile);
	return identity;
}


Identity Identity::load(const std::string& keyFile)
{
	std::string contents = readKeyFile(keyFile);
	if (contents.size() > static_cast<std::size_t>(INT_MAX)) throw IdentityException("key file too large");
	BioPtr pBio(BIO_new_mem_buf(contents.data(), static_cast<int>(contents.size())), BIO_free);
	if (!pBio)
	{
		wipe(contents);
		throw IdentityException("cannot read key file " + keyFile, openSSLError());
	}
	EVP_PKEY* pKey = PEM_read_bio_PrivateKey(pBio.get(), nullptr, noPassword, nullptr);
	pBio.reset();
	wipe(contents);
	if (!pKey) throw IdentityException("key file " + keyFile + " holds no readable private key", openSSLError());
	return Identity(std::shared_ptr<EVP_PKEY>(pKey, EVP_PKEY_free));
}


void Identity::save(const std::string& keyFile) const
{
	std::string pem = privateKeyPem();
	const std::string tempPath = writeTemporary(keyFile, pem);
	if (::rename(tempPath.c_str(), keyFile.c_str()) != 0)
	{
		const int error = errno;
		::unlink(tempPath.c_str());
		throw IdentityException(systemError("cannot replace key file", keyFile, error));
	}
	syncDirectory(keyFile);
}


std::string Identity::defaultDataDir()
{
	std::string xdg = Poco::Environment::get("XDG_DATA_HOME", "");
	if (!xdg.empty() && xdg[0] == '/')
	{
		while (xdg.size() > 1 && xdg.back() == '/') xdg.pop_back();
		return (xdg == "/" ? std::string() : xdg) + "/crosschat";
	}
	// $HOME first, as the XDG spec says; Poco::Path::home() prefers the password database.
	const std::string home = Poco::Environment::get("HOME", "");
	Poco::Path path(!home.empty() && home[0] == '/' ? home : Poco::Path::home());
	path.makeDirectory();
	path.pushDirectory(".local");
	path.pushDirectory("share");
	path.setFileName("crosschat");
	return path.toString();
}


const PeerId& Identity::peerId() const
{
	return _publicKey.peerId();
}


const PublicKey& Identity::publicKey() const
{
	return _publicKey;
}


std::string Identity::sign(const std::string& data) const
{
	std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> pCtx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
	if (!pCtx) throw CryptoException("cannot create digest context", openSSLError());
	if (EVP_DigestSignInit(pCtx.get(), nullptr, nullptr, nullptr, _pKey.get()) != 1)
		throw CryptoException("cannot start signing", openSSLError());
	std::string signature(PublicKey::SIGNATURE_SIZE, '\0');
	std::size_t length = signature.size();
	if (EVP_DigestSign(pCtx.get(), reinterpret_cast<unsigned char*>(&signature[0]), &length,
			reinterpret_cast<const unsigned char*>(data.data()), data.size()) != 1 ||
		length != PublicKey::SIGNATURE_SIZE)
	{
		throw CryptoException("cannot sign", openSSLError());
	}
	return signature;
}


std::string Identity::certificatePem() const
{
	BioPtr pBio(BIO_new(BIO_s_mem()), BIO_free);
	if (!pBio || PEM_write_bio_X509(pBio.get(), _pCert.get()) != 1)
		throw CryptoException("cannot encode certificate", openSSLError());
	return drain(pBio.get());
}


std::string Identity::privateKeyPem() const
{
	// A secure-heap BIO is wiped when freed.
	BioPtr pBio(BIO_new(BIO_s_secmem()), BIO_free);
	if (!pBio || PEM_write_bio_PrivateKey(pBio.get(), _pKey.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1)
		throw CryptoException("cannot encode private key", openSSLError());
	return drain(pBio.get());
}


evp_pkey_st* Identity::keyHandle() const
{
	return _pKey.get();
}


x509_st* Identity::certificateHandle() const
{
	return _pCert.get();
}


} // namespace CrossChat
