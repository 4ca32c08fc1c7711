//
// RawTls.cpp
//
// testsuite: the raw-OpenSSL baseline of Session-benchmark.
//


#include "RawTls.h"
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cstring>
#include <stdexcept>


namespace CrossChat {
namespace Benchmark {


namespace {


struct Pin
	/// What the verify callback reads and writes; reached through SSL_get_app_data().
{
	std::string expectedRaw;   ///< Client: the server's raw key. Empty on the server.
	std::string peerId;        ///< SHA-256 of the peer's SubjectPublicKeyInfo.
};


const unsigned char ED25519_SPKI_PREFIX[12] = {0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00};


int verifyCallback(int preverifyOk, X509_STORE_CTX* pStore)
{
	if (X509_STORE_CTX_get_error_depth(pStore) != 0) return preverifyOk;
	auto* pSsl = static_cast<SSL*>(X509_STORE_CTX_get_ex_data(pStore, SSL_get_ex_data_X509_STORE_CTX_idx()));
	auto* pPin = static_cast<Pin*>(SSL_get_app_data(pSsl));
	EVP_PKEY* pKey = X509_get0_pubkey(X509_STORE_CTX_get_current_cert(pStore));
	unsigned char spki[sizeof(ED25519_SPKI_PREFIX) + 32];
	std::size_t length = 32;
	if (!pKey || EVP_PKEY_get_id(pKey) != EVP_PKEY_ED25519
		|| EVP_PKEY_get_raw_public_key(pKey, spki + sizeof(ED25519_SPKI_PREFIX), &length) != 1 || length != 32)
		return 0;
	if (!pPin->expectedRaw.empty()
		&& std::memcmp(pPin->expectedRaw.data(), spki + sizeof(ED25519_SPKI_PREFIX), 32) != 0)
		return 0;
	std::memcpy(spki, ED25519_SPKI_PREFIX, sizeof(ED25519_SPKI_PREFIX));
	unsigned char digest[32];
	unsigned int digestLength = 0;
	if (EVP_Digest(spki, sizeof(spki), digest, &digestLength, EVP_sha256(), nullptr) != 1) return 0;
	pPin->peerId.assign(reinterpret_cast<const char*>(digest), digestLength);
	return 1;
}


} // namespace


RawTlsContext::RawTlsContext(const Identity& identity, bool isServer):
	_pContext(SSL_CTX_new(isServer ? TLS_server_method() : TLS_client_method()))
{
	if (!_pContext
		|| SSL_CTX_set_min_proto_version(_pContext, TLS1_3_VERSION) != 1
		|| SSL_CTX_set_max_proto_version(_pContext, TLS1_3_VERSION) != 1
		|| SSL_CTX_set_num_tickets(_pContext, 0) != 1
		|| SSL_CTX_use_certificate(_pContext, identity.certificateHandle()) != 1
		|| SSL_CTX_use_PrivateKey(_pContext, identity.keyHandle()) != 1)
		throw std::runtime_error("raw TLS context setup failed");
	SSL_CTX_set_options(_pContext, SSL_OP_NO_TICKET);
	SSL_CTX_set_session_cache_mode(_pContext, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_read_ahead(_pContext, 1);
	SSL_CTX_set_verify(_pContext, SSL_VERIFY_PEER | (isServer ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0), verifyCallback);
}


RawTlsContext::~RawTlsContext()
{
	SSL_CTX_free(_pContext);
}


SSL_CTX* RawTlsContext::get() const
{
	return _pContext;
}


RawTlsConnection::RawTlsConnection(const RawTlsContext& context, int fd, bool isServer, const std::string& expectedRawKey):
	_pSsl(SSL_new(context.get())),
	_fd(fd)
{
	auto* pPin = new Pin;
	pPin->expectedRaw = expectedRawKey;
	SSL_set_app_data(_pSsl, pPin);
	SSL_set_fd(_pSsl, fd);
	if (isServer)
		SSL_set_accept_state(_pSsl);
	else
		SSL_set_connect_state(_pSsl);
}


RawTlsConnection::~RawTlsConnection()
{
	delete static_cast<Pin*>(SSL_get_app_data(_pSsl));
	SSL_free(_pSsl);
	::close(_fd);
	ERR_clear_error();
}


bool RawTlsConnection::handshake()
{
	return SSL_do_handshake(_pSsl) == 1;
}


const std::string& RawTlsConnection::peerId() const
{
	return static_cast<Pin*>(SSL_get_app_data(_pSsl))->peerId;
}


bool RawTlsConnection::writeAll(const char* data, std::size_t size)
{
	std::size_t written = 0;
	if (size > 0 && SSL_write_ex(_pSsl, data, size, &written) != 1) return false;
	return written == size;
}


int RawTlsConnection::read(char* buffer, std::size_t size)
{
	return SSL_read(_pSsl, buffer, static_cast<int>(size));
}


bool RawTlsConnection::readable() const
{
	if (SSL_has_pending(_pSsl)) return true;
	pollfd pfd{};
	pfd.fd = _fd;
	pfd.events = POLLIN;
	return ::poll(&pfd, 1, 0) > 0;
}


int connectTcp(std::uint16_t port)
{
	const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) return -1;
	sockaddr_in address{};
	address.sin_family = AF_INET;
	address.sin_port = htons(port);
	address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0)
	{
		::close(fd);
		return -1;
	}
	const int one = 1;
	::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}


int listenTcp(std::uint16_t& port)
{
	const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	sockaddr_in address{};
	address.sin_family = AF_INET;
	address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t length = sizeof(address);
	if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 || ::listen(fd, 128) != 0
		|| ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0)
		throw std::runtime_error("raw TLS: cannot listen");
	port = ntohs(address.sin_port);
	return fd;
}


int acceptTcp(int listener)
{
	const int fd = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
	if (fd < 0) return -1;
	const int one = 1;
	::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}


} } // namespace CrossChat::Benchmark
