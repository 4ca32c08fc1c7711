//
// RawTls.h
//
// testsuite: the raw-OpenSSL baseline of Session-benchmark. Blocking sockets, one thread per
// end, OpenSSL's own socket BIO: what a program that uses OpenSSL directly and does nothing
// else costs. Same TLS profile as CrossChat's pinned sessions (TLS 1.3 only, mutual
// authentication with the Identity certificates, no tickets, no session cache) and raw-key
// pinning in the verify callback (the client compares the server's raw Ed25519 key with the
// one it expects; both ends hash the peer's key into its peer ID, as CrossChat does).
// read_ahead is on (one read() per 16 KiB instead of two per record): the stronger baseline.
//


#ifndef CrossChat_Benchmark_RawTls_INCLUDED
#define CrossChat_Benchmark_RawTls_INCLUDED


#include "CrossChat/Identity.h"
#include <openssl/ssl.h>
#include <cstdint>
#include <memory>
#include <string>


namespace CrossChat {
namespace Benchmark {


class RawTlsContext
	/// An SSL_CTX for one end, with the pinning verify callback.
{
public:
	RawTlsContext(const Identity& identity, bool isServer);
	~RawTlsContext();

	RawTlsContext(const RawTlsContext&) = delete;
	RawTlsContext& operator=(const RawTlsContext&) = delete;

	SSL_CTX* get() const;

private:
	SSL_CTX* _pContext;
};


class RawTlsConnection
	/// One blocking TLS connection over a connected socket descriptor (owned, closed at the end).
{
public:
	RawTlsConnection(const RawTlsContext& context, int fd, bool isServer, const std::string& expectedRawKey = std::string());
	~RawTlsConnection();

	RawTlsConnection(const RawTlsConnection&) = delete;
	RawTlsConnection& operator=(const RawTlsConnection&) = delete;

	bool handshake();
		/// SSL_connect / SSL_accept; false if it fails (pinning included).

	const std::string& peerId() const;
		/// The peer's ID bytes (SHA-256 of its SubjectPublicKeyInfo) after the handshake.

	bool writeAll(const char* data, std::size_t size);
	int read(char* buffer, std::size_t size);
		/// SSL_read; <= 0 at the end of the stream or on an error.

	bool readable() const;
		/// True if read() would not wait for the peer: OpenSSL holds bytes already, or the
		/// socket has some (poll with no timeout).

private:
	SSL* _pSsl;
	int _fd;
};


int connectTcp(std::uint16_t port);
	/// A blocking TCP connection to 127.0.0.1:port with TCP_NODELAY; -1 on failure.

int listenTcp(std::uint16_t& port);
	/// A listening socket on 127.0.0.1, port 0; the port chosen is stored in port.

int acceptTcp(int listener);
	/// accept() with TCP_NODELAY; -1 on failure.


} } // namespace CrossChat::Benchmark


#endif // CrossChat_Benchmark_RawTls_INCLUDED
