//
// TlsChannelTest.cpp
//
// testsuite: tests for TlsChannel (TLS 1.3 pinned to peer IDs) over loopback (127.0.0.1,
// port 0). No timed assertions: each test waits for events; a generous guard timer only turns
// a hang into a failure.
//


#include "TlsChannelTest.h"
#include "../TestSupport.h"
#include "CrossChat/EventLoop.h"
#include "CrossChat/Identity.h"
#include "CrossChat/PeerId.h"
#include "CrossChat/PublicKey.h"
#include "CrossChat/TcpConnection.h"
#include "CrossChat/TcpListener.h"
#include "CrossChat/TlsChannel.h"
#include "Poco/AutoPtr.h"
#include "Poco/Channel.h"
#include "Poco/Logger.h"
#include "Poco/Message.h"
#include "Poco/Net/ServerSocket.h"
#include "Poco/Net/SocketAddress.h"
#include "Poco/Net/SocketImpl.h"
#include "Poco/Net/StreamSocket.h"
#include "Poco/Timespan.h"
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <random>
#include <string>
#include <vector>


using CrossChat::EventLoop;
using CrossChat::Identity;
using CrossChat::PeerId;
using CrossChat::PublicKey;
using CrossChat::TcpConnection;
using CrossChat::TcpListener;
using CrossChat::TimerHandle;
using CrossChat::TlsChannel;
using Poco::Net::SocketAddress;
using Poco::Net::StreamSocket;
using namespace std::chrono_literals;


using CrossChat::Test::HangGuard;


namespace {


class CloseCounter
	/// Counts onClose calls and stops the loop two turns after the expected number, so that a
	/// handler that would wrongly run again still gets its chance.
{
public:
	CloseCounter(EventLoop& loop, int expected):
		_loop(loop),
		_open(expected)
	{
	}

	void closed()
	{
		if (--_open == 0)
			_loop.post([this] { _loop.post([this] { _loop.stop(); }); });
	}

private:
	EventLoop& _loop;
	int _open;
};


struct Side
	/// One end of a TLS channel and what happened to it.
{
	TlsChannel::Ptr channel;
	int readyCount = 0;
	PeerId peer;
	std::string keyRaw;
	std::string received;
	int closeCount = 0;
	std::string closeReason;
	std::function<void()> onReady;
	std::function<void()> onData;   ///< Runs after received has grown.

	void attach(const TlsChannel::Ptr& pChannel, CloseCounter& counter)
	{
		channel = pChannel;
		channel->setReadyHandler([this](const PeerId& id, const PublicKey& key) {
			++readyCount;
			peer = id;
			keyRaw = key.raw();
			if (onReady) onReady();
		});
		channel->setDataHandler([this](const char* data, std::size_t size) {
			received.append(data, size);
			if (onData) onData();
		});
		channel->setCloseHandler([this, &counter](const std::string& reason) {
			++closeCount;
			closeReason = reason;
			counter.closed();
		});
	}
};


class TlsTestServer
	/// A TcpListener on 127.0.0.1:0 running a TLS server channel on every connection.
{
public:
	using Setup = std::function<void(Side& side)>;

	TlsTestServer(EventLoop& loop, const Identity& identity, CloseCounter& counter, Setup setup = {}):
		_setup(std::move(setup)),
		_listener(loop, SocketAddress("127.0.0.1", 0), [this, &loop, &identity, &counter](const StreamSocket& socket) {
			sides.push_back(std::make_unique<Side>());
			Side& side = *sides.back();
			side.attach(TlsChannel::server(TcpConnection::adopt(loop, socket), identity), counter);
			if (_setup) _setup(side);
		})
	{
	}

	SocketAddress address() const
	{
		return _listener.address();
	}

	std::vector<std::unique_ptr<Side>> sides;

private:
	Setup _setup;
	TcpListener _listener;
};


class RecordingChannel: public Poco::Channel
	/// Keeps the warnings logged to it.
{
public:
	void log(const Poco::Message& message) override
	{
		if (message.getPriority() <= Poco::Message::PRIO_WARNING) warnings.push_back(message.getText());
	}

	std::vector<std::string> warnings;
};


class LogCapture
	/// Routes a logger to a RecordingChannel for the lifetime of the object.
{
public:
	explicit LogCapture(const std::string& name):
		_logger(Poco::Logger::get(name)),
		_pChannel(new RecordingChannel),
		_pPrevious(_logger.getChannel()),
		_previousLevel(_logger.getLevel())
	{
		_logger.setChannel(_pChannel);
		_logger.setLevel(Poco::Message::PRIO_INFORMATION);
	}

	~LogCapture()
	{
		_logger.setChannel(_pPrevious);
		_logger.setLevel(_previousLevel);
	}

	const std::vector<std::string>& warnings() const
	{
		return _pChannel->warnings;
	}

private:
	Poco::Logger& _logger;
	Poco::AutoPtr<RecordingChannel> _pChannel;
	Poco::AutoPtr<Poco::Channel> _pPrevious;
	int _previousLevel;
};


std::string pattern(std::size_t size)
	/// Bytes that reveal reordering, loss and duplication (period 251, a prime).
{
	std::string data(size, '\0');
	for (std::size_t i = 0; i < size; ++i)
		data[i] = static_cast<char>((i * 7 + i / 251) % 251);
	return data;
}


std::string connectWithTls12(const SocketAddress& address)
	/// A plain blocking OpenSSL client limited to TLS 1.2; returns "connected" or
	/// "refused: <errors>". Runs on a helper thread.
{
	StreamSocket socket;
	socket.connect(address, Poco::Timespan(20, 0));
	socket.setReceiveTimeout(Poco::Timespan(20, 0));
	SSL_CTX* pContext = SSL_CTX_new(TLS_client_method());
	SSL_CTX_set_max_proto_version(pContext, TLS1_2_VERSION);
	SSL_CTX_set_verify(pContext, SSL_VERIFY_NONE, nullptr);
	SSL* pSsl = SSL_new(pContext);
	SSL_set_fd(pSsl, static_cast<int>(socket.impl()->sockfd()));
	const int rc = SSL_connect(pSsl);
	std::string result = "connected";
	if (rc != 1)
	{
		result = "refused:";
		while (const unsigned long code = ERR_get_error())
		{
			char text[256];
			ERR_error_string_n(code, text, sizeof(text));
			result += std::string(" ") + text;
		}
	}
	SSL_free(pSsl);
	SSL_CTX_free(pContext);
	socket.close();
	return result;
}


std::string connectWithEcCertificate(const SocketAddress& address)
	/// A plain blocking OpenSSL TLS 1.3 client presenting a self-signed ECDSA P-256
	/// certificate; returns "connected" or "refused". Runs on a helper thread.
{
	EVP_PKEY* pKey = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
	X509* pCert = X509_new();
	X509_set_version(pCert, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(pCert), 1);
	X509_gmtime_adj(X509_getm_notBefore(pCert), -3600);
	X509_gmtime_adj(X509_getm_notAfter(pCert), 3600);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(pCert), "CN", MBSTRING_ASC,
		reinterpret_cast<const unsigned char*>("ec peer"), -1, -1, 0);
	X509_set_issuer_name(pCert, X509_get_subject_name(pCert));
	X509_set_pubkey(pCert, pKey);
	X509_sign(pCert, pKey, EVP_sha256());
	StreamSocket socket;
	socket.connect(address, Poco::Timespan(20, 0));
	socket.setReceiveTimeout(Poco::Timespan(20, 0));
	SSL_CTX* pContext = SSL_CTX_new(TLS_client_method());
	SSL_CTX_set_min_proto_version(pContext, TLS1_3_VERSION);
	SSL_CTX_use_certificate(pContext, pCert);
	SSL_CTX_use_PrivateKey(pContext, pKey);
	SSL_CTX_set_verify(pContext, SSL_VERIFY_NONE, nullptr);
	SSL* pSsl = SSL_new(pContext);
	SSL_set_fd(pSsl, static_cast<int>(socket.impl()->sockfd()));
	std::string result = "refused";
	if (SSL_connect(pSsl) == 1)
	{
		// In TLS 1.3 the client finishes first; the server's verdict arrives as an alert.
		char byte;
		result = SSL_read(pSsl, &byte, 1) > 0 ? "connected" : "refused";
	}
	SSL_free(pSsl);
	SSL_CTX_free(pContext);
	X509_free(pCert);
	EVP_PKEY_free(pKey);
	ERR_clear_error();
	socket.close();
	return result;
}


struct ReadyPair
	/// A client channel and the server's end, both past the handshake, on one loop.
{
	ReadyPair(EventLoop& loop, const Identity& serverIdentity, const Identity& clientIdentity, CloseCounter& counter):
		server(loop, serverIdentity, counter)
	{
		client.attach(TlsChannel::client(TcpConnection::connect(loop, server.address()), clientIdentity,
			serverIdentity.peerId()), counter);
		CrossChat::Test::runUntil(loop, [this] {
			return client.readyCount == 1 && server.sides.size() == 1 && server.sides.front()->readyCount == 1;
		});
	}

	TlsTestServer server;
	Side client;
};


} // namespace


void TlsChannelTest::testHandshakePinsPeerIds()
{
	const Identity serverIdentity = Identity::generate();
	const Identity clientIdentity = Identity::generate();
	const std::string big = pattern(1024 * 1024);
	EventLoop loop;
	HangGuard guard(loop);
	CloseCounter counter(loop, 2);
	TlsTestServer server(loop, serverIdentity, counter, [](Side& side) {
		side.onReady = [&side] { side.channel->send("welcome"); };
		side.onData = [&side] {
			side.channel->send(side.received);   // echo what came in this call
			side.received.clear();
		};
	});

	Side client;
	const std::string expected = "welcome" + std::string("ping") + big;
	client.attach(TlsChannel::client(TcpConnection::connect(loop, server.address()), clientIdentity,
		serverIdentity.peerId()), counter);
	client.onReady = [&] {
		client.channel->send("ping");
		client.channel->send(big);
	};
	client.onData = [&] {
		if (client.received.size() >= expected.size()) client.channel->close();
	};
	CPPUNIT_ASSERT(!client.channel->ready());
	CPPUNIT_ASSERT(!client.channel->peerId());
	loop.run();

	CPPUNIT_ASSERT(!guard.fired());
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), server.sides.size());
	Side& serverSide = *server.sides.front();
	CPPUNIT_ASSERT_EQUAL(1, client.readyCount);
	CPPUNIT_ASSERT_EQUAL(1, serverSide.readyCount);
	CPPUNIT_ASSERT(client.peer == serverIdentity.peerId());
	CPPUNIT_ASSERT(serverSide.peer == clientIdentity.peerId());
	CPPUNIT_ASSERT(*client.channel->peerId() == serverIdentity.peerId());
	CPPUNIT_ASSERT(*serverSide.channel->peerId() == clientIdentity.peerId());
	CPPUNIT_ASSERT(client.keyRaw == serverIdentity.publicKey().raw());
	CPPUNIT_ASSERT(serverSide.keyRaw == clientIdentity.publicKey().raw());
	CPPUNIT_ASSERT_EQUAL(expected.size(), client.received.size());
	CPPUNIT_ASSERT(client.received == expected);
	CPPUNIT_ASSERT_EQUAL(1, client.closeCount);
	CPPUNIT_ASSERT_EQUAL(std::string(), client.closeReason);
	CPPUNIT_ASSERT_EQUAL(1, serverSide.closeCount);
	CPPUNIT_ASSERT_EQUAL(std::string(), serverSide.closeReason);
	CPPUNIT_ASSERT(!client.channel->ready());
}


void TlsChannelTest::testCiphertextReadBeforeAttach()
{
	// As after an HTTP upgrade: the first bytes of the TLS stream (the ClientHello) were read
	// by someone else before the server channel took over the connection.
	const Identity serverIdentity = Identity::generate();
	const Identity clientIdentity = Identity::generate();
	EventLoop loop;
	HangGuard guard(loop);
	CloseCounter counter(loop, 2);
	Side serverSide;
	serverSide.onData = [&] { if (serverSide.received == "hello through") serverSide.channel->close(); };
	TcpConnection::Ptr raw;
	TcpListener listener(loop, SocketAddress("127.0.0.1", 0), [&](const StreamSocket& socket) {
		raw = TcpConnection::adopt(loop, socket);
		raw->setDataHandler([&](const char* data, std::size_t size) {
			const std::string early(data, size);
			serverSide.attach(TlsChannel::server(raw, serverIdentity), counter);   // takes over the handlers
			serverSide.channel->receiveCiphertext(early);
		});
	});
	Side client;
	client.attach(TlsChannel::client(TcpConnection::connect(loop, listener.address()), clientIdentity,
		serverIdentity.peerId()), counter);
	client.onReady = [&] { client.channel->send("hello through"); };
	loop.run();
	CPPUNIT_ASSERT(!guard.fired());
	CPPUNIT_ASSERT_EQUAL(1, serverSide.readyCount);
	CPPUNIT_ASSERT(serverSide.peer == clientIdentity.peerId());
	CPPUNIT_ASSERT_EQUAL(std::string("hello through"), serverSide.received);
	CPPUNIT_ASSERT_EQUAL(std::string(), client.closeReason);
}


void TlsChannelTest::testDataQueuedBeforeReady()
{
	const Identity serverIdentity = Identity::generate();
	const Identity clientIdentity = Identity::generate();
	EventLoop loop;
	HangGuard guard(loop);
	CloseCounter counter(loop, 2);
	TlsTestServer server(loop, serverIdentity, counter, [](Side& side) {
		side.channel->send("early server");   // before the client's hello has arrived
		side.onData = [&side] {
			if (side.received == "early client") side.channel->close();
		};
	});

	Side client;
	client.attach(TlsChannel::client(TcpConnection::connect(loop, server.address()), clientIdentity,
		serverIdentity.peerId()), counter);
	client.channel->send("early ");   // before the TCP connect has finished
	client.channel->send("client");
	loop.run();

	CPPUNIT_ASSERT(!guard.fired());
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), server.sides.size());
	Side& serverSide = *server.sides.front();
	CPPUNIT_ASSERT_EQUAL(1, client.readyCount);
	CPPUNIT_ASSERT_EQUAL(1, serverSide.readyCount);
	CPPUNIT_ASSERT_EQUAL(std::string("early client"), serverSide.received);
	CPPUNIT_ASSERT_EQUAL(std::string("early server"), client.received);
	CPPUNIT_ASSERT_EQUAL(std::string(), client.closeReason);
	CPPUNIT_ASSERT_EQUAL(std::string(), serverSide.closeReason);
	CPPUNIT_ASSERT_EQUAL(1, client.closeCount);
	CPPUNIT_ASSERT_EQUAL(1, serverSide.closeCount);
}


void TlsChannelTest::testCloseBeforeReadySendsQueuedData()
{
	const Identity serverIdentity = Identity::generate();
	const Identity clientIdentity = Identity::generate();
	EventLoop loop;
	HangGuard guard(loop);
	CloseCounter counter(loop, 2);
	TlsTestServer server(loop, serverIdentity, counter);

	Side client;
	client.attach(TlsChannel::client(TcpConnection::connect(loop, server.address()), clientIdentity,
		serverIdentity.peerId()), counter);
	client.channel->send("queued");
	client.channel->close();
	client.channel->send("ignored after close");
	loop.run();

	CPPUNIT_ASSERT(!guard.fired());
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), server.sides.size());
	Side& serverSide = *server.sides.front();
	CPPUNIT_ASSERT_EQUAL(1, serverSide.readyCount);
	CPPUNIT_ASSERT_EQUAL(std::string("queued"), serverSide.received);
	CPPUNIT_ASSERT_EQUAL(std::string(), serverSide.closeReason);
	CPPUNIT_ASSERT_EQUAL(std::string(), client.closeReason);
	CPPUNIT_ASSERT_EQUAL(1, client.closeCount);
	CPPUNIT_ASSERT_EQUAL(1, serverSide.closeCount);
}


void TlsChannelTest::testWrongExpectedPeerRefused()
{
	const Identity serverIdentity = Identity::generate();
	const Identity clientIdentity = Identity::generate();
	const Identity otherIdentity = Identity::generate();
	LogCapture log("CrossChat.Tls");
	EventLoop loop;
	HangGuard guard(loop);
	CloseCounter counter(loop, 2);
	TlsTestServer server(loop, serverIdentity, counter);

	Side client;
	client.attach(TlsChannel::client(TcpConnection::connect(loop, server.address()), clientIdentity,
		otherIdentity.peerId()), counter);
	client.channel->send("must never be sent");
	loop.run();

	CPPUNIT_ASSERT(!guard.fired());
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), server.sides.size());
	Side& serverSide = *server.sides.front();
	CPPUNIT_ASSERT_EQUAL(0, client.readyCount);
	CPPUNIT_ASSERT_EQUAL(0, serverSide.readyCount);
	CPPUNIT_ASSERT(serverSide.received.empty());
	CPPUNIT_ASSERT(!client.channel->peerId());
	CPPUNIT_ASSERT_EQUAL(1, client.closeCount);
	const std::string wanted = "peer presented key of " + serverIdentity.peerId().shortString()
		+ ", expected " + otherIdentity.peerId().shortString();
	CPPUNIT_ASSERT_EQUAL(wanted, client.closeReason);
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), log.warnings().size());
	CPPUNIT_ASSERT(log.warnings().front().find(wanted) != std::string::npos);
	CPPUNIT_ASSERT_EQUAL(1, serverSide.closeCount);
	CPPUNIT_ASSERT(!serverSide.closeReason.empty());
}


void TlsChannelTest::testTls12ClientRefused()
{
	const Identity serverIdentity = Identity::generate();
	EventLoop loop;
	HangGuard guard(loop);
	CloseCounter counter(loop, 1);
	TlsTestServer server(loop, serverIdentity, counter);
	std::future<std::string> outcome = std::async(std::launch::async, connectWithTls12, server.address());
	loop.run();
	const std::string result = outcome.get();

	CPPUNIT_ASSERT(!guard.fired());
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), server.sides.size());
	Side& serverSide = *server.sides.front();
	CPPUNIT_ASSERT_EQUAL(0, serverSide.readyCount);
	CPPUNIT_ASSERT_EQUAL(1, serverSide.closeCount);
	CPPUNIT_ASSERT(serverSide.closeReason.find("TLS handshake failed") != std::string::npos);
	CPPUNIT_ASSERT(result.rfind("refused:", 0) == 0);
}


void TlsChannelTest::testNonEd25519PeerRefused()
{
	// Only Ed25519 keys name peers: a client with any other certificate is refused by the
	// server's pinning, which never consults a chain or a CA.
	const Identity serverIdentity = Identity::generate();
	LogCapture log("CrossChat.Tls");
	EventLoop loop;
	HangGuard guard(loop);
	CloseCounter counter(loop, 1);
	TlsTestServer server(loop, serverIdentity, counter);
	std::future<std::string> outcome = std::async(std::launch::async, connectWithEcCertificate, server.address());
	loop.run();
	CPPUNIT_ASSERT(!guard.fired());
	CPPUNIT_ASSERT_EQUAL(std::string("refused"), outcome.get());
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), server.sides.size());
	Side& serverSide = *server.sides.front();
	CPPUNIT_ASSERT_EQUAL(0, serverSide.readyCount);
	CPPUNIT_ASSERT_EQUAL(std::string("peer certificate key is not Ed25519"), serverSide.closeReason);
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), log.warnings().size());
}


void TlsChannelTest::testGarbageRejected()
{
	const Identity serverIdentity = Identity::generate();
	EventLoop loop;
	HangGuard guard(loop);
	CloseCounter counter(loop, 4);
	TlsTestServer server(loop, serverIdentity, counter);

	// Plain text, and a TLS handshake record header followed by random bytes.
	std::string record("\x16\x03\x01\x00\x40", 5);
	std::mt19937 random(20240601);
	for (int i = 0; i < 0x40; ++i) record += static_cast<char>(random() & 0xff);
	const std::vector<std::string> garbage{"GET / HTTP/1.1\r\nHost: crosschat\r\n\r\n", record};
	std::vector<std::string> clientReasons;
	std::vector<TcpConnection::Ptr> clients;
	for (const std::string& bytes: garbage)
	{
		auto client = TcpConnection::connect(loop, server.address());
		client->setConnectHandler([client, bytes] { client->send(bytes); });   // cycle broken on close
		client->setCloseHandler([&](const std::string& reason) {
			clientReasons.push_back(reason);
			counter.closed();
		});
		clients.push_back(client);
	}
	loop.run();

	CPPUNIT_ASSERT(!guard.fired());
	CPPUNIT_ASSERT_EQUAL(std::size_t(2), clientReasons.size());
	CPPUNIT_ASSERT_EQUAL(std::size_t(2), server.sides.size());
	for (const auto& pSide: server.sides)
	{
		CPPUNIT_ASSERT_EQUAL(0, pSide->readyCount);
		CPPUNIT_ASSERT_EQUAL(1, pSide->closeCount);
		CPPUNIT_ASSERT(pSide->closeReason.find("TLS handshake failed") != std::string::npos);
	}
}


void TlsChannelTest::testOrderlyCloseByServer()
{
	const Identity serverIdentity = Identity::generate();
	const Identity clientIdentity = Identity::generate();
	EventLoop loop;
	HangGuard guard(loop);
	CloseCounter counter(loop, 2);
	TlsTestServer server(loop, serverIdentity, counter, [](Side& side) {
		side.onReady = [&side] {
			side.channel->send("bye");
			side.channel->close();
			side.channel->send("ignored after close");
		};
	});

	Side client;
	client.attach(TlsChannel::client(TcpConnection::connect(loop, server.address()), clientIdentity,
		serverIdentity.peerId()), counter);
	loop.run();

	CPPUNIT_ASSERT(!guard.fired());
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), server.sides.size());
	Side& serverSide = *server.sides.front();
	CPPUNIT_ASSERT_EQUAL(1, client.readyCount);
	CPPUNIT_ASSERT_EQUAL(std::string("bye"), client.received);
	CPPUNIT_ASSERT_EQUAL(1, client.closeCount);
	CPPUNIT_ASSERT_EQUAL(std::string(), client.closeReason);
	CPPUNIT_ASSERT_EQUAL(1, serverSide.closeCount);
	CPPUNIT_ASSERT_EQUAL(std::string(), serverSide.closeReason);
}


void TlsChannelTest::testTruncationReported()
{
	// The server closes TCP under the channel, without close_notify.
	const Identity serverIdentity = Identity::generate();
	const Identity clientIdentity = Identity::generate();
	EventLoop loop;
	HangGuard guard(loop);
	CloseCounter counter(loop, 2);
	TlsTestServer server(loop, serverIdentity, counter, [](Side& side) {
		side.onReady = [&side] { side.channel->connection()->close(); };
	});

	Side client;
	client.attach(TlsChannel::client(TcpConnection::connect(loop, server.address()), clientIdentity,
		serverIdentity.peerId()), counter);
	loop.run();

	CPPUNIT_ASSERT(!guard.fired());
	CPPUNIT_ASSERT_EQUAL(1, client.readyCount);
	CPPUNIT_ASSERT_EQUAL(1, client.closeCount);
	CPPUNIT_ASSERT(client.closeReason.find("close_notify") != std::string::npos);
}


void TlsChannelTest::testNestedChannels()
{
	// TLS inside TLS, as the chat's session inside a tunnel of a relay reached over HTTPS: the
	// inner channels run over the outer channels' plaintext (TlsChannel is a ByteStream). The
	// server pauses its inner channel's reading for a while in the middle of a 1 MiB transfer;
	// everything arrives, in order, and an orderly close goes through both layers.
	const Identity outerServer = Identity::generate();
	const Identity outerClient = Identity::generate();
	const Identity innerServer = Identity::generate();
	const Identity innerClient = Identity::generate();
	const std::string big = pattern(1024 * 1024);
	EventLoop loop;
	HangGuard guard(loop);
	CloseCounter counter(loop, 2);

	Side serverSide;
	TlsChannel::Ptr serverOuter;
	bool paused = false;
	bool resumed = false;
	bool deliveredWhilePaused = false;
	TimerHandle resumeTimer;
	TcpListener listener(loop, SocketAddress("127.0.0.1", 0), [&](const StreamSocket& socket) {
		serverOuter = TlsChannel::server(TcpConnection::adopt(loop, socket), outerServer);
		serverSide.attach(TlsChannel::server(serverOuter, innerServer), counter);
		serverSide.onData = [&] {
			if (paused && !resumed) deliveredWhilePaused = true;
			if (!paused && serverSide.received.size() >= big.size() / 2)
			{
				paused = true;
				serverSide.channel->pauseReading();
				resumeTimer = loop.runAfter(50ms, [&] {
					resumed = true;
					serverSide.channel->resumeReading();
				});
			}
			if (serverSide.received.size() == big.size()) serverSide.channel->send("got it all");
		};
	});

	Side client;
	int connectCount = 0;
	const TcpConnection::Ptr tcp = TcpConnection::connect(loop, listener.address());
	const TlsChannel::Ptr clientOuter = TlsChannel::client(tcp, outerClient, outerServer.peerId());
	client.attach(TlsChannel::client(clientOuter, innerClient, innerServer.peerId()), counter);
	client.channel->setConnectHandler([&] {
		++connectCount;
		CPPUNIT_ASSERT(client.channel->connected());
		CPPUNIT_ASSERT(clientOuter->connected());
		client.channel->send(big.data(), big.size());
	});
	client.onData = [&] { if (client.received == "got it all") client.channel->close(); };
	CPPUNIT_ASSERT(!client.channel->connected());
	loop.run();

	CPPUNIT_ASSERT(!guard.fired());
	CPPUNIT_ASSERT_EQUAL(1, connectCount);
	CPPUNIT_ASSERT(paused && resumed);
	CPPUNIT_ASSERT(!deliveredWhilePaused);
	CPPUNIT_ASSERT_EQUAL(1, client.readyCount);
	CPPUNIT_ASSERT_EQUAL(1, serverSide.readyCount);
	CPPUNIT_ASSERT(client.peer == innerServer.peerId());        // each layer pinned to its own key
	CPPUNIT_ASSERT(serverSide.peer == innerClient.peerId());
	CPPUNIT_ASSERT(*clientOuter->peerId() == outerServer.peerId());
	CPPUNIT_ASSERT(*serverOuter->peerId() == outerClient.peerId());
	CPPUNIT_ASSERT(serverSide.received == big);
	CPPUNIT_ASSERT_EQUAL(std::string("got it all"), client.received);
	CPPUNIT_ASSERT_EQUAL(std::string(), client.closeReason);
	CPPUNIT_ASSERT_EQUAL(std::string(), serverSide.closeReason);
	CPPUNIT_ASSERT(client.channel->closed());
	CPPUNIT_ASSERT(clientOuter->closed());
	CPPUNIT_ASSERT(client.channel->peerAddress() == tcp->peerAddress());
}


void TlsChannelTest::testSendsCoalescedIntoOneRecord()
{
	// 100 messages sent in one iteration are encrypted together (one SSL_write, one record of
	// 1,000 bytes instead of 100 records with 22 bytes of overhead each) and leave in one write.
	const Identity serverIdentity = Identity::generate();
	const Identity clientIdentity = Identity::generate();
	EventLoop loop;
	CloseCounter counter(loop, 2);
	ReadyPair pair(loop, serverIdentity, clientIdentity, counter);
	CPPUNIT_ASSERT(pair.client.channel->ready());
	const TcpConnection::Ptr connection = std::dynamic_pointer_cast<TcpConnection>(pair.client.channel->connection());
	CPPUNIT_ASSERT(connection);
	std::string expected;
	for (int i = 0; i < 100; ++i) expected += "msg " + std::to_string(100 + i) + ";";   // 10 bytes each
	std::uint64_t bytesBefore = 0;
	std::uint64_t writesBefore = 0;
	std::uint64_t bytesAfter = 0;
	std::uint64_t writesAfter = 0;
	std::size_t queuedInIteration = 0;
	loop.post([&] {
		bytesBefore = connection->bytesSent();
		writesBefore = connection->writeCount();
		for (int i = 0; i < 100; ++i) pair.client.channel->send("msg " + std::to_string(100 + i) + ";");
		queuedInIteration = pair.client.channel->bufferedAmount();
		loop.post([&] {
			bytesAfter = connection->bytesSent();
			writesAfter = connection->writeCount();
		});
	});
	Side& serverSide = *pair.server.sides.front();
	CPPUNIT_ASSERT(CrossChat::Test::runUntil(loop, [&] { return serverSide.received.size() == expected.size(); }));
	CPPUNIT_ASSERT_EQUAL(expected, serverSide.received);
	CPPUNIT_ASSERT_EQUAL(expected.size(), queuedInIteration);
	CPPUNIT_ASSERT_EQUAL(writesBefore + 1, writesAfter);
	// One TLS 1.3 record: 5-byte header, content type byte and 16-byte tag around 1,000 bytes.
	CPPUNIT_ASSERT_EQUAL(std::uint64_t(expected.size() + 22), bytesAfter - bytesBefore);
	pair.client.channel->close();
	CPPUNIT_ASSERT(CrossChat::Test::runUntil(loop, [&] { return pair.client.closeCount == 1 && serverSide.closeCount == 1; }));
	CPPUNIT_ASSERT_EQUAL(std::string(), serverSide.closeReason);
}


void TlsChannelTest::testLoneMessageNotDelayed()
{
	// A single message is on the wire by the next iteration, and an answer sent from the data
	// handler too: coalescing waits for nothing but the end of the iteration.
	const Identity serverIdentity = Identity::generate();
	const Identity clientIdentity = Identity::generate();
	EventLoop loop;
	CloseCounter counter(loop, 2);
	ReadyPair pair(loop, serverIdentity, clientIdentity, counter);
	Side& serverSide = *pair.server.sides.front();
	std::size_t clientQueuedNext = 1;
	std::size_t serverQueuedAfterAnswer = 1;
	serverSide.onData = [&] {
		if (serverSide.received != "ping") return;
		serverSide.channel->send("pong");
		// Tasks posted from a socket handler run later in the same iteration: check in the next.
		loop.post([&] { loop.post([&] { serverQueuedAfterAnswer = serverSide.channel->bufferedAmount(); }); });
	};
	loop.post([&] {
		pair.client.channel->send("ping");
		loop.post([&] { clientQueuedNext = pair.client.channel->bufferedAmount(); });
	});
	CPPUNIT_ASSERT(CrossChat::Test::runUntil(loop, [&] { return pair.client.received == "pong"; }));
	CPPUNIT_ASSERT_EQUAL(std::size_t(0), clientQueuedNext);
	CPPUNIT_ASSERT_EQUAL(std::size_t(0), serverQueuedAfterAnswer);
	pair.client.channel->close();   // an open channel and its connection hold each other
	CPPUNIT_ASSERT(CrossChat::Test::runUntil(loop, [&] { return pair.client.closeCount == 1 && serverSide.closeCount == 1; }));
}


void TlsChannelTest::testBackpressureCountsQueuedPlaintext()
{
	// bufferedAmount() includes plaintext not yet encrypted; a sender that waits for the
	// channel's drain handler (forwarded from the connection's) moves 8 MiB without unbounded
	// buffering, in order.
	const Identity serverIdentity = Identity::generate();
	const Identity clientIdentity = Identity::generate();
	EventLoop loop;
	CloseCounter counter(loop, 2);
	ReadyPair pair(loop, serverIdentity, clientIdentity, counter);
	Side& serverSide = *pair.server.sides.front();
	constexpr std::size_t TOTAL = 8 * 1024 * 1024;
	constexpr std::size_t HIGH_WATER_MARK = 256 * 1024;
	const std::string payload = pattern(TOTAL);
	const TcpConnection::Ptr connection = std::dynamic_pointer_cast<TcpConnection>(pair.client.channel->connection());
	CPPUNIT_ASSERT(connection);
	connection->setHighWaterMark(HIGH_WATER_MARK);
	std::size_t offset = 0;
	std::size_t maxBuffered = 0;
	int drains = 0;
	std::function<void()> pump = [&] {
		while (offset < TOTAL && !pair.client.channel->aboveHighWaterMark())
		{
			const std::size_t size = std::min<std::size_t>(1000, TOTAL - offset);
			pair.client.channel->send(payload.data() + offset, size);
			offset += size;
			maxBuffered = std::max(maxBuffered, pair.client.channel->bufferedAmount());
		}
	};
	pair.client.channel->setDrainHandler([&] {   // forwarded from the connection's
		++drains;
		pump();
	});
	std::size_t queuedPlaintext = 0;
	loop.post([&] {
		pair.client.channel->send("x");
		queuedPlaintext = pair.client.channel->bufferedAmount();   // plaintext, not yet encrypted
		offset = 1;
		pump();
	});
	CPPUNIT_ASSERT(CrossChat::Test::runUntil(loop, [&] { return serverSide.received.size() >= TOTAL; }));
	CPPUNIT_ASSERT(serverSide.received.size() == TOTAL);
	CPPUNIT_ASSERT(serverSide.received == "x" + payload.substr(1));
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), queuedPlaintext);
	CPPUNIT_ASSERT(drains > 0);
	CPPUNIT_ASSERT(maxBuffered < HIGH_WATER_MARK + 2 * TlsChannel::COALESCE_LIMIT);
	pair.client.channel->setDrainHandler(nullptr);
	pair.client.channel->close();   // an open channel and its connection hold each other
	CPPUNIT_ASSERT(CrossChat::Test::runUntil(loop, [&] { return pair.client.closeCount == 1 && serverSide.closeCount == 1; }));
	CPPUNIT_ASSERT_EQUAL(std::string(), serverSide.closeReason);
}


void TlsChannelTest::testLingeringChannelGoesWithItsLoop()
{
	// A channel closed gracefully lingers until the peer's FIN (or TcpConnection::CLOSE_TIMEOUT):
	// its connection's handlers own it, and it owns its connection. If its loop is destroyed
	// meanwhile, both must go with the loop, not live on as a cycle.
	const Identity identity = Identity::generate();
	Poco::Net::ServerSocket listener(SocketAddress("127.0.0.1", 0));
	StreamSocket silent(listener.address());   // connects, and never sends, reads or closes
	std::weak_ptr<TlsChannel> weakChannel;
	std::weak_ptr<TcpConnection> weakConnection;
	{
		EventLoop loop;
		HangGuard guard(loop);
		TcpConnection::Ptr connection = TcpConnection::adopt(loop, listener.acceptConnection());
		TlsChannel::Ptr channel = TlsChannel::server(connection, identity);
		weakChannel = channel;
		weakConnection = connection;
		channel->close();
		TimerHandle settle = loop.runAfter(50ms, [&] { loop.stop(); });
		loop.run();
		CPPUNIT_ASSERT(!guard.fired());
		CPPUNIT_ASSERT(channel->closed());
		channel.reset();
		connection.reset();
		CPPUNIT_ASSERT(!weakChannel.expired());   // lingering for the FIN that never comes
	}
	CPPUNIT_ASSERT(weakChannel.expired());
	CPPUNIT_ASSERT(weakConnection.expired());
}
