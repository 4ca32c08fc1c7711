//
// RelayClientTest.cpp
//
// testsuite: tests for RelayClient. The relay runs in-process on 127.0.0.1 port 0 (its own
// threads); every client shares one EventLoop in the test thread. A scripted fake relay on the
// same loop produces answers a real relay never sends. Tests wait for events (runUntil polls a
// condition); the time limit only turns a hang into a failure and is never what a test asserts.
//


#include "RelayClientTest.h"
#include "TestCertificates.h"
#include "CrossChat/EventLoop.h"
#include "CrossChat/Identity.h"
#include "CrossChat/TcpConnection.h"
#include "CrossChat/TcpListener.h"
#include "CrossChat/TlsChannel.h"
#include "CrossChat/TlsServerContext.h"
#include "CrossChat/Relay/RelayClient.h"
#include "CrossChat/Relay/RelayServer.h"
#include "CrossChat/FrameCodec.h"
#include "CrossChat/MessageCatalog.h"
#include "CrossChat/Relay/RelayProtocol.h"
#include "Poco/Base64Decoder.h"
#include "Poco/Net/ServerSocket.h"
#include "Poco/String.h"
#include "Poco/URI.h"
#include <functional>
#include <iterator>
#include <sstream>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>


using namespace CrossChat;
using namespace CrossChat::Relay;
using namespace std::chrono_literals;


namespace {


bool runUntil(EventLoop& loop, const std::function<bool()>& done, std::chrono::seconds limit = std::chrono::seconds(20))
	/// Runs the loop until done() holds; false if the limit passed first.
{
	bool timedOut = false;
	TimerHandle check = loop.runEvery(2ms, [&] { if (done()) loop.stop(); });
	TimerHandle guard = loop.runAfter(limit, [&] { timedOut = true; loop.stop(); });
	if (!done()) loop.run();
	return !timedOut && done();
}


bool contains(const std::string& text, const std::string& part)
{
	return text.find(part) != std::string::npos;
}


std::unique_ptr<RelayServer> startRelay(std::uint16_t port = 0)
{
	RelayServerConfig config;
	config.bind = Poco::Net::SocketAddress("127.0.0.1", port);
	config.eventLoops = 1;
	config.requestsPerSecondPerIp = 10000;   // every test client is 127.0.0.1
	if (port != 0) config.probePort = 0;   // not port + 1: any test's client may hold that port by now
	auto pServer = std::make_unique<RelayServer>(config);
	pServer->start();
	return pServer;
}


RelayClientConfig clientConfig(const std::string& url, const std::string& name)
{
	RelayClientConfig config;
	config.url = Poco::URI(url);
	config.name = name;
	config.requestTimeout = 3000ms;
	config.retryMin = 50ms;
	config.retryMax = 400ms;
	return config;
}


std::string relayUrl(std::uint16_t port)
{
	return "http://127.0.0.1:" + std::to_string(port);
}


struct Peer
	/// A RelayClient with a fresh identity that records its state changes and invitations.
{
	Identity identity;
	RelayClient client;
	std::vector<std::pair<RelayClient::State, std::string>> states;
	std::vector<RelayTunnel> invites;

	Peer(EventLoop& loop, const std::string& url, const std::string& name, std::uint16_t chatPort = 0):
		identity(Identity::generate()),
		client(loop, identity, withPort(clientConfig(url, name), chatPort))
	{
		client.setStateHandler([this](RelayClient::State state, const std::string& detail) {
			states.emplace_back(state, detail);
		});
		client.setInviteHandler([this](RelayTunnel tunnel) {
			invites.push_back(std::move(tunnel));
		});
	}

	static RelayClientConfig withPort(RelayClientConfig config, std::uint16_t chatPort)
	{
		config.chatPort = chatPort;
		return config;
	}

	bool online() const
	{
		return client.state() == RelayClient::State::ONLINE;
	}

	std::size_t count(RelayClient::State state) const
	{
		std::size_t n = 0;
		for (const auto& change: states)
		{
			if (change.first == state) ++n;
		}
		return n;
	}

	const PeerId& id() const
	{
		return identity.peerId();
	}
};


struct LookupResult
{
	bool done = false;
	std::optional<RelayPeerRecord> record;
	std::string error;
};


LookupResult lookup(EventLoop& loop, RelayClient& client, const PeerId& peer)
	/// One lookup, waited for.
{
	auto pResult = std::make_shared<LookupResult>();
	client.lookup(peer, [pResult](const std::optional<RelayPeerRecord>& record, const std::string& error) {
		pResult->done = true;
		pResult->record = record;
		pResult->error = error;
	});
	CPPUNIT_ASSERT(runUntil(loop, [&] { return pResult->done; }));
	return *pResult;
}


bool lookupUntil(EventLoop& loop, RelayClient& client, const PeerId& peer, const std::function<bool(const LookupResult&)>& wanted)
	/// Repeats the lookup until an answer satisfies wanted (the relay applies announces asynchronously).
{
	for (int attempt = 0; attempt < 200; ++attempt)
	{
		if (wanted(lookup(loop, client, peer))) return true;
		bool pause = false;
		TimerHandle timer = loop.runAfter(20ms, [&] { pause = true; });
		runUntil(loop, [&] { return pause; });
	}
	return false;
}


struct Pipe
	/// Collects what a tunnel delivers, leftover bytes first.
{
	CrossChat::ByteStream::Ptr connection;
	std::string received;
	bool closed = false;

	void attach(RelayTunnel& tunnel, const std::string& greeting)
	{
		connection = tunnel.connection;
		received = tunnel.leftover;
		connection->setDataHandler([this](const char* data, std::size_t size) { received.append(data, size); });
		connection->setCloseHandler([this](const std::string&) { closed = true; });
		connection->send(greeting);
	}

	~Pipe()
	{
		if (connection) connection->abort("test over");
	}
};


std::string payload(const std::string& tag, std::size_t size)
{
	std::string text = tag + ":";
	while (text.size() < size) text += static_cast<char>('a' + text.size() % 26);
	return text;
}


class FakeRelay
	/// A scripted HTTP server on the test loop: the responder maps (request head, body) to the raw
	/// bytes to answer with ("" = never answer). A 101 answer keeps the connection open and hands
	/// it to the upgrade handler if one is set, else echoes whatever arrives afterwards; any other
	/// answer is followed by close(). With a TlsServerContext it serves HTTPS (TlsChannel in X.509
	/// mode) as https://localhost:<port>.
{
public:
	using Responder = std::function<std::string(const std::string& head, const std::string& body)>;
	using UpgradeHandler = std::function<void(const ByteStream::Ptr& connection)>;

	FakeRelay(EventLoop& loop, Responder responder, TlsServerContext::Ptr pTls = nullptr):
		_loop(loop),
		_responder(std::move(responder)),
		_pTls(std::move(pTls)),
		_listener(loop, Poco::Net::SocketAddress("127.0.0.1", 0), [this](const Poco::Net::StreamSocket& socket) { accept(socket); })
	{
	}

	~FakeRelay()
	{
		for (auto& pConnection: _connections) pConnection->abort("test over");
	}

	std::string url() const
	{
		return _pTls ? "https://localhost:" + std::to_string(_listener.address().port()) : relayUrl(_listener.address().port());
	}

	std::size_t accepted() const
	{
		return _connections.size();
	}

	void setUpgradeHandler(UpgradeHandler handler)
	{
		_onUpgrade = std::move(handler);
	}

private:
	struct Request
	{
		std::string buffer;
		bool answered = false;
		bool echo = false;
	};

	void accept(const Poco::Net::StreamSocket& socket)
	{
		ByteStream::Ptr pConnection = TcpConnection::adopt(_loop, socket);
		if (_pTls) pConnection = TlsChannel::server(pConnection, _pTls);
		_connections.push_back(pConnection);
		auto pRequest = std::make_shared<Request>();
		std::weak_ptr<ByteStream> weak = pConnection;
		pConnection->setDataHandler([this, pRequest, weak](const char* data, std::size_t size) {
			auto pConn = weak.lock();
			if (!pConn) return;
			if (pRequest->echo)
			{
				pConn->send(data, size);
				return;
			}
			if (pRequest->answered) return;
			pRequest->buffer.append(data, size);
			const std::string::size_type end = pRequest->buffer.find("\r\n\r\n");
			if (end == std::string::npos) return;
			const std::string head = pRequest->buffer.substr(0, end + 2);
			std::size_t length = 0;
			const std::string lower = Poco::toLower(head);
			const std::string::size_type at = lower.find("content-length:");
			if (at != std::string::npos) length = std::stoul(head.substr(at + 15));
			if (pRequest->buffer.size() < end + 4 + length) return;
			pRequest->answered = true;
			const std::string answer = _responder(head, pRequest->buffer.substr(end + 4, length));
			if (answer.empty()) return;
			pConn->send(answer);
			if (answer.compare(0, 12, "HTTP/1.1 101") != 0)
				pConn->close();
			else if (_onUpgrade)
				_onUpgrade(pConn);
			else
				pRequest->echo = true;
		});
	}

	EventLoop& _loop;
	Responder _responder;
	TlsServerContext::Ptr _pTls;
	UpgradeHandler _onUpgrade;
	TcpListener _listener;
	std::vector<ByteStream::Ptr> _connections;
};


std::string base64Decode(const std::string& text)
{
	std::istringstream in(text);
	Poco::Base64Decoder decoder(in);
	return std::string(std::istreambuf_iterator<char>(decoder), std::istreambuf_iterator<char>());
}


std::string httpAnswer(const std::string& status, const std::string& body)
{
	return "HTTP/1.1 " + status + "\r\nContent-Type: application/json\r\nContent-Length: "
		+ std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
}


} // namespace


void RelayClientTest::testAnnounceGoesOnline()
{
	EventLoop loop;
	auto pRelay = startRelay();
	Peer alice(loop, relayUrl(pRelay->port()), "alice", 4001);
	CPPUNIT_ASSERT(alice.client.state() == RelayClient::State::OFFLINE);
	alice.client.start();
	CPPUNIT_ASSERT(runUntil(loop, [&] { return alice.online(); }));
	CPPUNIT_ASSERT(!alice.states.empty());
	CPPUNIT_ASSERT(alice.states.front().first == RelayClient::State::CONNECTING);
	CPPUNIT_ASSERT(alice.states.back().first == RelayClient::State::ONLINE);
	CPPUNIT_ASSERT(contains(alice.client.stateDetail(), relayUrl(pRelay->port())));
	CPPUNIT_ASSERT_EQUAL(std::size_t(0), alice.count(RelayClient::State::OFFLINE));

	// The reflexive address as the relay saw us.
	const auto reflexive = alice.client.reflexiveAddress();
	CPPUNIT_ASSERT(reflexive.has_value());
	CPPUNIT_ASSERT_EQUAL(std::string("127.0.0.1"), reflexive->host().toString());
	CPPUNIT_ASSERT(reflexive->port() != 0);
}


void RelayClientTest::testLookupOnlinePeer()
{
	EventLoop loop;
	auto pRelay = startRelay();
	Peer alice(loop, relayUrl(pRelay->port()), "alice");
	Peer bob(loop, relayUrl(pRelay->port()), "bob", 4242);
	alice.client.start();
	bob.client.start();
	CPPUNIT_ASSERT(runUntil(loop, [&] { return alice.online() && bob.online(); }));

	const LookupResult result = lookup(loop, alice.client, bob.id());
	CPPUNIT_ASSERT_EQUAL(std::string(), result.error);
	CPPUNIT_ASSERT(result.record.has_value());
	CPPUNIT_ASSERT(result.record->id == bob.id());
	CPPUNIT_ASSERT_EQUAL(std::string("bob"), result.record->name);
	CPPUNIT_ASSERT(result.record->online);
	CPPUNIT_ASSERT(result.record->lastSeenMs > 0);
	// No announced address: the relay filled the observed host with the chat port.
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), result.record->addresses.size());
	CPPUNIT_ASSERT_EQUAL(std::string("127.0.0.1:4242"), result.record->addresses.front().toString());
	CPPUNIT_ASSERT(result.record->observed.has_value());
	CPPUNIT_ASSERT_EQUAL(std::string("127.0.0.1"), result.record->observed->host().toString());
}


void RelayClientTest::testLookupUnknownPeer()
{
	EventLoop loop;
	auto pRelay = startRelay();
	Peer alice(loop, relayUrl(pRelay->port()), "alice");
	// Lookups need no start().
	const LookupResult result = lookup(loop, alice.client, Identity::generate().peerId());
	CPPUNIT_ASSERT_EQUAL(std::string(), result.error);
	CPPUNIT_ASSERT(!result.record.has_value());
}


void RelayClientTest::testChatPortChangeReannounces()
{
	EventLoop loop;
	auto pRelay = startRelay();
	Peer alice(loop, relayUrl(pRelay->port()), "alice");
	Peer bob(loop, relayUrl(pRelay->port()), "bob");
	alice.client.start();
	CPPUNIT_ASSERT(runUntil(loop, [&] { return alice.online(); }));
	const LookupResult before = lookup(loop, bob.client, alice.id());
	CPPUNIT_ASSERT(before.record.has_value());
	CPPUNIT_ASSERT(before.record->addresses.empty());

	alice.client.setChatPort(5151);
	alice.client.setAddresses({Poco::Net::SocketAddress("192.0.2.7", 6161)});
	CPPUNIT_ASSERT(lookupUntil(loop, bob.client, alice.id(), [](const LookupResult& result) {
		if (!result.record) return false;
		std::vector<std::string> addresses;
		for (const auto& address: result.record->addresses) addresses.push_back(address.toString());
		return addresses == std::vector<std::string>{"192.0.2.7:6161"};
	}));
	CPPUNIT_ASSERT(alice.online());
}


void RelayClientTest::testTunnelBothWays()
{
	EventLoop loop;
	auto pRelay = startRelay();
	Peer alice(loop, relayUrl(pRelay->port()), "alice");
	Peer bob(loop, relayUrl(pRelay->port()), "bob");
	alice.client.start();
	bob.client.start();
	CPPUNIT_ASSERT(runUntil(loop, [&] { return alice.online() && bob.online(); }));

	const std::string fromAlice = payload("alice", 100 * 1024);
	const std::string fromBob = payload("bob", 70 * 1024);
	Pipe alicePipe;
	Pipe bobPipe;
	std::string tunnelError;
	bool opened = false;
	PeerId calleeSeen;
	// Both ends send at once from their handlers, so tunnel bytes can arrive with a 101.
	bob.client.setInviteHandler([&](RelayTunnel tunnel) {
		bob.invites.push_back(tunnel);
		bobPipe.attach(tunnel, fromBob);
	});
	alice.client.openTunnel(bob.id(), [&](RelayTunnel tunnel, const std::string& error) {
		opened = true;
		tunnelError = error;
		calleeSeen = tunnel.peer;
		if (tunnel.connection) alicePipe.attach(tunnel, fromAlice);
	});
	CPPUNIT_ASSERT(runUntil(loop, [&] { return opened; }));
	CPPUNIT_ASSERT_EQUAL(std::string(), tunnelError);
	CPPUNIT_ASSERT(alicePipe.connection);
	CPPUNIT_ASSERT(calleeSeen == bob.id());

	CPPUNIT_ASSERT(runUntil(loop, [&] {
		return alicePipe.received.size() >= fromBob.size() && bobPipe.received.size() >= fromAlice.size();
	}));
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), bob.invites.size());
	CPPUNIT_ASSERT(bob.invites.front().peer == alice.id());
	CPPUNIT_ASSERT_EQUAL(std::string("alice"), bob.invites.front().peerName);
	CPPUNIT_ASSERT(alicePipe.received == fromBob);
	CPPUNIT_ASSERT(bobPipe.received == fromAlice);

	// Closing one end closes the other.
	alicePipe.connection->close();
	CPPUNIT_ASSERT(runUntil(loop, [&] { return bobPipe.closed; }));
	CPPUNIT_ASSERT(alice.online() && bob.online());
}


void RelayClientTest::testTunnelToOfflinePeer()
{
	EventLoop loop;
	auto pRelay = startRelay();
	Peer alice(loop, relayUrl(pRelay->port()), "alice");
	alice.client.start();
	CPPUNIT_ASSERT(runUntil(loop, [&] { return alice.online(); }));
	bool done = false;
	std::string error;
	CrossChat::ByteStream::Ptr pTunnel;
	const PeerId nobody = Identity::generate().peerId();
	alice.client.openTunnel(nobody, [&](RelayTunnel tunnel, const std::string& failure) {
		done = true;
		error = failure;
		pTunnel = tunnel.connection;
	});
	CPPUNIT_ASSERT(runUntil(loop, [&] { return done; }));
	CPPUNIT_ASSERT(!pTunnel);
	CPPUNIT_ASSERT_MESSAGE(error, contains(error, "not connected to relay"));
	CPPUNIT_ASSERT_MESSAGE(error, contains(error, nobody.shortString()));
}


void RelayClientTest::testStopUnregisters()
{
	EventLoop loop;
	auto pRelay = startRelay();
	Peer alice(loop, relayUrl(pRelay->port()), "alice");
	Peer bob(loop, relayUrl(pRelay->port()), "bob");
	alice.client.start();
	CPPUNIT_ASSERT(runUntil(loop, [&] { return alice.online(); }));
	CPPUNIT_ASSERT(lookup(loop, bob.client, alice.id()).record.has_value());
	const std::size_t changes = alice.states.size();

	alice.client.stop();
	alice.client.stop();   // idempotent
	CPPUNIT_ASSERT(alice.client.state() == RelayClient::State::OFFLINE);
	CPPUNIT_ASSERT(lookupUntil(loop, bob.client, alice.id(), [](const LookupResult& result) {
		return result.error.empty() && !result.record;
	}));
	CPPUNIT_ASSERT_EQUAL(changes, alice.states.size());   // no callback after stop()
}


void RelayClientTest::testNoCallbackAfterStop()
{
	EventLoop loop;
	auto pRelay = startRelay();
	Peer bob(loop, relayUrl(pRelay->port()), "bob");
	bool aliceCalled = false;
	bool carolCalled = false;
	{
		auto pAlice = std::make_unique<Peer>(loop, relayUrl(pRelay->port()), "alice");
		pAlice->client.start();
		pAlice->client.lookup(bob.id(), [&](const std::optional<RelayPeerRecord>&, const std::string&) { aliceCalled = true; });
		pAlice->client.openTunnel(bob.id(), [&](RelayTunnel, const std::string&) { aliceCalled = true; });
		Peer carol(loop, relayUrl(pRelay->port()), "carol");
		carol.client.lookup(bob.id(), [&](const std::optional<RelayPeerRecord>&, const std::string&) { carolCalled = true; });
		carol.client.stop();
		// alice is destroyed with everything in flight.
	}
	// bob's lookup is answered after the ones alice and carol sent would have been.
	const LookupResult result = lookup(loop, bob.client, bob.id());
	CPPUNIT_ASSERT(result.error.empty());
	CPPUNIT_ASSERT(!aliceCalled);
	CPPUNIT_ASSERT(!carolCalled);

	// A lookup after stop() fails without touching the network, and is reported later.
	bob.client.stop();
	bool reported = false;
	bob.client.lookup(bob.id(), [&](const std::optional<RelayPeerRecord>&, const std::string&) { reported = true; });
	CPPUNIT_ASSERT(!reported);
	bool later = false;
	loop.post([&] { later = true; });   // runs after anything the lookup could have posted
	CPPUNIT_ASSERT(runUntil(loop, [&] { return later; }));
	CPPUNIT_ASSERT(!reported);   // stopped: not even the error is delivered
}


void RelayClientTest::testRelayRestart()
{
	EventLoop loop;
	auto pRelay = startRelay();
	const std::uint16_t port = pRelay->port();
	Peer alice(loop, relayUrl(port), "alice", 4100);
	Peer bob(loop, relayUrl(port), "bob");
	alice.client.start();
	CPPUNIT_ASSERT(runUntil(loop, [&] { return alice.online(); }));

	pRelay->stop();
	pRelay.reset();
	CPPUNIT_ASSERT(runUntil(loop, [&] { return alice.client.state() == RelayClient::State::OFFLINE; }));
	const std::string detail = alice.client.stateDetail();
	CPPUNIT_ASSERT_MESSAGE(detail, contains(detail, relayUrl(port)));
	CPPUNIT_ASSERT_MESSAGE(detail, contains(detail, "retrying in"));
	// It keeps retrying while the relay is down.
	CPPUNIT_ASSERT(runUntil(loop, [&] { return alice.count(RelayClient::State::OFFLINE) >= 3; }));
	CPPUNIT_ASSERT_MESSAGE(alice.client.stateDetail(), contains(alice.client.stateDetail(), "unreachable"));

	// The same port again: the client re-announces and reconnects on its own.
	pRelay = startRelay(port);
	CPPUNIT_ASSERT(runUntil(loop, [&] { return alice.online(); }));
	CPPUNIT_ASSERT_EQUAL(std::size_t(2), alice.count(RelayClient::State::ONLINE));
	const LookupResult result = lookup(loop, bob.client, alice.id());
	CPPUNIT_ASSERT(result.record.has_value());
	CPPUNIT_ASSERT(result.record->online);
	CPPUNIT_ASSERT_EQUAL(std::string("127.0.0.1:4100"), result.record->addresses.at(0).toString());
}


void RelayClientTest::testUnreachableRelay()
{
	EventLoop loop;
	std::uint16_t port = 0;
	{
		Poco::Net::ServerSocket probe(Poco::Net::SocketAddress("127.0.0.1", 0));
		port = probe.address().port();
	}   // closed again: nothing listens there
	Peer alice(loop, relayUrl(port), "alice");
	alice.client.start();
	CPPUNIT_ASSERT(runUntil(loop, [&] { return alice.count(RelayClient::State::OFFLINE) >= 2; }));
	const std::string detail = alice.client.stateDetail();
	CPPUNIT_ASSERT_MESSAGE(detail, contains(detail, "relay " + relayUrl(port) + " unreachable"));
	CPPUNIT_ASSERT_MESSAGE(detail, contains(detail, "refused"));
	CPPUNIT_ASSERT_MESSAGE(detail, contains(detail, "retrying in"));
	CPPUNIT_ASSERT(!alice.online());

	const LookupResult result = lookup(loop, alice.client, alice.id());
	CPPUNIT_ASSERT(!result.record);
	CPPUNIT_ASSERT_MESSAGE(result.error, contains(result.error, relayUrl(port)));
}


void RelayClientTest::testHttpsTunnelCarriesNestedTls()
{
	// An https:// relay (a scripted one serving TLS with a test CA's certificate for localhost):
	// the lookup and the tunnel go over TLS verified against --relay-ca, and the tunnel is the
	// plaintext of that TLS, so the chat's pinned TLS runs inside it: two layers.
	Test::TestCertificates certificates;
	const auto authority = certificates.makeAuthority("relay");
	const auto server = certificates.makeServer(authority, "relay");
	EventLoop loop;
	const Identity bob = Identity::generate();
	const std::string token = "00112233445566778899aabbccddeeff";
	std::vector<std::string> requests;
	FakeRelay relay(loop, [&](const std::string& head, const std::string&) -> std::string {
		requests.push_back(head.substr(0, head.find("\r\n")));
		if (head.compare(0, 18, "GET /api/v1/peers/") == 0)
			return httpAnswer("404 Not Found", "{\"error\":\"not_found\"}");
		if (head.compare(0, 22, "POST /api/v1/tunnels H") == 0)
			return httpAnswer("201 Created", "{\"token\":\"" + token + "\",\"expires_s\":30}");
		if (head.compare(0, 20 + token.size(), "GET /api/v1/tunnels/" + token) == 0)
			return "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: crosschat-tunnel/1\r\n\r\n";
		return httpAnswer("400 Bad Request", "{\"error\":\"bad_request\"}");
	}, TlsServerContext::fromFiles(server.chainFile, server.keyFile));
	// Bob's end of the tunnel, on the relay side of the fake: a pinned TLS server over the
	// relay's TLS stream.
	TlsChannel::Ptr bobSide;
	std::string bobReceived;
	bool bobClosed = false;
	relay.setUpgradeHandler([&](const ByteStream::Ptr& pStream) {
		bobSide = TlsChannel::server(pStream, bob);
		bobSide->setCloseHandler([&](const std::string&) { bobClosed = true; });
		bobSide->setDataHandler([&](const char* data, std::size_t size) {
			bobReceived.append(data, size);
			if (bobReceived == "hello bob") bobSide->send("hello alice");
		});
	});

	RelayClientConfig config = clientConfig(relay.url(), "alice");
	config.caFile = authority.certificateFile;
	const Identity alice = Identity::generate();
	RelayClient client(loop, alice, config);

	const LookupResult unknown = lookup(loop, client, bob.peerId());
	CPPUNIT_ASSERT_EQUAL(std::string(), unknown.error);
	CPPUNIT_ASSERT(!unknown.record);

	bool done = false;
	std::string error;
	RelayTunnel tunnel;
	client.openTunnel(bob.peerId(), [&](RelayTunnel joined, const std::string& failure) {
		done = true;
		error = failure;
		tunnel = std::move(joined);
	});
	CPPUNIT_ASSERT(runUntil(loop, [&] { return done; }));
	CPPUNIT_ASSERT_EQUAL(std::string(), error);
	CPPUNIT_ASSERT(tunnel.connection);
	// The tunnel is the relay's TLS channel, verified for localhost.
	const auto relayTls = std::dynamic_pointer_cast<TlsChannel>(tunnel.connection);
	CPPUNIT_ASSERT(relayTls);
	CPPUNIT_ASSERT_MESSAGE(relayTls->peerCertificateSubject(), contains(relayTls->peerCertificateSubject(), "CN=localhost"));
	CPPUNIT_ASSERT(tunnel.connection->connected());

	const TlsChannel::Ptr chat = TlsChannel::client(tunnel.connection, alice, bob.peerId());
	std::string aliceReceived;
	std::optional<std::string> chatClosed;
	chat->setDataHandler([&](const char* data, std::size_t size) { aliceReceived.append(data, size); });
	chat->setCloseHandler([&](const std::string& reason) { chatClosed = reason; });
	chat->receiveCiphertext(tunnel.leftover);
	chat->send("hello bob");
	CPPUNIT_ASSERT(runUntil(loop, [&] { return aliceReceived == "hello alice"; }));
	CPPUNIT_ASSERT(*chat->peerId() == bob.peerId());
	CPPUNIT_ASSERT(*bobSide->peerId() == alice.peerId());
	CPPUNIT_ASSERT_EQUAL(std::string("hello bob"), bobReceived);
	// Three requests, each over its own verified TLS connection.
	CPPUNIT_ASSERT_EQUAL(std::size_t(3), requests.size());
	CPPUNIT_ASSERT_EQUAL(std::size_t(3), relay.accepted());
	CPPUNIT_ASSERT(contains(requests[0], "GET /api/v1/peers/" + bob.peerId().toString()));
	CPPUNIT_ASSERT(contains(requests[1], "POST /api/v1/tunnels"));
	CPPUNIT_ASSERT(contains(requests[2], "GET /api/v1/tunnels/" + token));
	// An orderly close goes down through both layers; Bob sees it.
	chat->close();
	CPPUNIT_ASSERT(runUntil(loop, [&] { return chatClosed && bobClosed; }));
	CPPUNIT_ASSERT_EQUAL(std::string(), *chatClosed);
	client.stop();
}


void RelayClientTest::testHttpsVerificationFailures()
{
	Test::TestCertificates certificates;
	const auto authority = certificates.makeAuthority("relay");
	const auto stranger = certificates.makeAuthority("stranger");
	const auto localhost = certificates.makeServer(authority, "localhost");
	Test::TestCertificates::ServerSpec otherName;
	otherName.commonName = "relay.test";
	otherName.dnsNames = {"relay.test"};
	otherName.ipAddresses = {};
	const auto elsewhere = certificates.makeServer(authority, "elsewhere", otherName);
	Test::TestCertificates::ServerSpec expired;
	expired.validFrom = std::chrono::hours(-48);
	expired.validUntil = std::chrono::hours(-24);
	const auto old = certificates.makeServer(authority, "expired", expired);
	EventLoop loop;
	const auto answer = [](const std::string&, const std::string&) {
		return httpAnswer("404 Not Found", "{\"error\":\"not_found\"}");
	};
	FakeRelay goodRelay(loop, answer, TlsServerContext::fromFiles(localhost.chainFile, localhost.keyFile));
	FakeRelay wrongName(loop, answer, TlsServerContext::fromFiles(elsewhere.chainFile, elsewhere.keyFile));
	FakeRelay expiredRelay(loop, answer, TlsServerContext::fromFiles(old.chainFile, old.keyFile));
	const PeerId someone = Identity::generate().peerId();

	// errorWith(url, caFile): the error of one lookup.
	const auto errorWith = [&](const std::string& url, const std::string& caFile) {
		RelayClientConfig config = clientConfig(url, "alice");
		config.caFile = caFile;
		RelayClient client(loop, Identity::generate(), config);
		return lookup(loop, client, someone).error;
	};
	std::string error = errorWith(goodRelay.url(), authority.certificateFile);
	CPPUNIT_ASSERT_EQUAL(std::string(), error);   // the control case: trusted, right name

	error = errorWith(goodRelay.url(), stranger.certificateFile);
	CPPUNIT_ASSERT_MESSAGE(error, contains(error, goodRelay.url()));
	CPPUNIT_ASSERT_MESSAGE(error, contains(error, "TLS certificate verification failed for localhost"));
	CPPUNIT_ASSERT_MESSAGE(error, contains(error, "self-signed certificate in certificate chain (CA certificate at depth 1 CN=relay"));

	// Without --relay-ca the system trust store decides, and it does not know the test CA (the
	// relay sends its chain with the CA, so OpenSSL names that self-signed CA).
	error = errorWith(goodRelay.url(), "");
	CPPUNIT_ASSERT_MESSAGE(error, contains(error, "TLS certificate verification failed for localhost"));
	CPPUNIT_ASSERT_MESSAGE(error, contains(error, "self-signed certificate in certificate chain (CA certificate at depth 1 CN=relay"));

	error = errorWith(wrongName.url(), authority.certificateFile);
	CPPUNIT_ASSERT_MESSAGE(error, contains(error, "TLS certificate verification failed for localhost"));
	CPPUNIT_ASSERT_MESSAGE(error, contains(error, "the certificate is for DNS:relay.test"));

	error = errorWith(expiredRelay.url(), authority.certificateFile);
	CPPUNIT_ASSERT_MESSAGE(error, contains(error, "TLS certificate verification failed for localhost"));
	CPPUNIT_ASSERT_MESSAGE(error, contains(error, "certificate has expired"));

	// The connection cycle reports it as an offline state naming the relay, host and reason,
	// and keeps retrying (a renewed certificate is picked up by the next attempt).
	{
		RelayClientConfig config = clientConfig(wrongName.url(), "alice");
		config.caFile = authority.certificateFile;
		RelayClient client(loop, Identity::generate(), config);
		std::vector<std::string> details;
		client.setStateHandler([&](RelayClient::State state, const std::string& detail) {
			if (state == RelayClient::State::OFFLINE) details.push_back(detail);
		});
		client.start();
		CPPUNIT_ASSERT(runUntil(loop, [&] { return details.size() >= 2; }));
		CPPUNIT_ASSERT_MESSAGE(details[0], contains(details[0], "relay " + wrongName.url()));
		CPPUNIT_ASSERT_MESSAGE(details[0], contains(details[0], "TLS certificate verification failed for localhost"));
		CPPUNIT_ASSERT_MESSAGE(details[0], contains(details[0], "DNS:relay.test"));
		CPPUNIT_ASSERT_MESSAGE(details[0], contains(details[0], "retrying in"));
		CPPUNIT_ASSERT(client.state() != RelayClient::State::ONLINE);
	}

	// Trust anchors that cannot be loaded, or a CA file with an http:// relay: a configuration
	// error, reported once, without retries.
	const std::string missing = certificates.directory() + "/no-such-ca.pem";
	const std::string notPem = certificates.writeFile("not-a-certificate.pem", "hello\n");
	for (const auto& pair: std::vector<std::pair<std::string, std::string>>{
		{goodRelay.url(), missing}, {goodRelay.url(), notPem}, {relayUrl(1), authority.certificateFile}})
	{
		RelayClientConfig config = clientConfig(pair.first, "alice");
		config.caFile = pair.second;
		RelayClient client(loop, Identity::generate(), config);
		std::vector<std::string> details;
		client.setStateHandler([&](RelayClient::State, const std::string& detail) { details.push_back(detail); });
		client.start();
		bool pause = false;
		TimerHandle timer = loop.runAfter(300ms, [&] { pause = true; });   // retries would come after 50 ms
		runUntil(loop, [&] { return pause; });
		CPPUNIT_ASSERT_EQUAL(std::size_t(1), details.size());
		CPPUNIT_ASSERT(client.state() == RelayClient::State::OFFLINE);
		CPPUNIT_ASSERT_MESSAGE(details[0], contains(details[0], pair.second));
		const LookupResult result = lookup(loop, client, someone);
		CPPUNIT_ASSERT_MESSAGE(result.error, contains(result.error, pair.second));
	}
	// Only the three lookups with usable trust anchors connected; the configuration errors never did.
	CPPUNIT_ASSERT_EQUAL(std::size_t(3), goodRelay.accepted());
}


void RelayClientTest::testTunnelLeftoverBytes()
{
	EventLoop loop;
	const PeerId bob = Identity::generate().peerId();
	const std::string token = "0123456789abcdef0123456789abcdef";
	std::string tunnelRequest;
	std::string createBody;
	FakeRelay relay(loop, [&](const std::string& head, const std::string& body) -> std::string {
		if (head.compare(0, 22, "POST /api/v1/tunnels H") == 0)
		{
			createBody = body;
			return httpAnswer("201 Created", "{\"token\":\"" + token + "\",\"expires_s\":30}");
		}
		if (head.compare(0, 20 + token.size(), "GET /api/v1/tunnels/" + token) == 0)
		{
			tunnelRequest = head;
			// The 101 and the peer's first bytes in one segment.
			return "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: crosschat-tunnel/1\r\n\r\nEARLY-BYTES";
		}
		return httpAnswer("400 Bad Request", "{\"error\":\"bad_request\"}");
	});
	Peer alice(loop, relay.url(), "alice");
	bool done = false;
	std::string error;
	Pipe pipe;
	std::string leftover;
	alice.client.openTunnel(bob, [&](RelayTunnel tunnel, const std::string& failure) {
		done = true;
		error = failure;
		leftover = tunnel.leftover;
		if (tunnel.connection) pipe.attach(tunnel, "ping");
	});
	CPPUNIT_ASSERT(runUntil(loop, [&] { return done; }));
	CPPUNIT_ASSERT_EQUAL(std::string(), error);
	CPPUNIT_ASSERT_EQUAL(std::string("EARLY-BYTES"), leftover);
	// The request was signed and named the callee.
	CPPUNIT_ASSERT(contains(createBody, bob.toString()));
	CPPUNIT_ASSERT(contains(tunnelRequest, "Upgrade: crosschat-tunnel/1"));
	// Later bytes follow the leftover on the connection (the fake relay echoes).
	CPPUNIT_ASSERT(runUntil(loop, [&] { return pipe.received.size() >= 15; }));
	CPPUNIT_ASSERT_EQUAL(std::string("EARLY-BYTESping"), pipe.received);
}


void RelayClientTest::testBadResponses()
{
	EventLoop loop;
	const PeerId chunked = Identity::generate().peerId();
	const PeerId noLength = Identity::generate().peerId();
	const PeerId huge = Identity::generate().peerId();
	const PeerId other = Identity::generate().peerId();
	const PeerId garbage = Identity::generate().peerId();
	const PeerId silent = Identity::generate().peerId();
	const PeerId busy = Identity::generate().peerId();
	auto isFor = [](const std::string& head, const PeerId& id) { return contains(head, id.toString()); };
	FakeRelay relay(loop, [&](const std::string& head, const std::string& body) -> std::string {
		if (isFor(head, chunked))
			return "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n";
		if (isFor(head, noLength))
			return "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n{}";
		if (isFor(head, huge))
			return "HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n{}";
		if (isFor(head, other))
			return httpAnswer("200 OK", "{\"id\":\"" + garbage.toString() + "\",\"online\":true}");
		if (isFor(head, garbage))
			return httpAnswer("200 OK", "{\"id\": [1, 2");
		if (isFor(head, silent))
			return std::string();
		if (contains(body, busy.toString()))
			return httpAnswer("503 Service Unavailable", "{\"error\":\"busy\",\"reason\":\"too many tunnels (1000)\"}");
		return httpAnswer("500 Internal Server Error", "{\"error\":\"internal\",\"message\":\"unexpected\"}");
	});
	RelayClientConfig config = clientConfig(relay.url(), "alice");
	config.requestTimeout = 500ms;
	RelayClient client(loop, Identity::generate(), config);

	auto errorOf = [&](const PeerId& peer) {
		const LookupResult result = lookup(loop, client, peer);
		CPPUNIT_ASSERT(!result.record);
		return result.error;
	};
	std::string error = errorOf(chunked);
	CPPUNIT_ASSERT_MESSAGE(error, contains(error, "chunked"));
	error = errorOf(noLength);
	CPPUNIT_ASSERT_MESSAGE(error, contains(error, "Content-Length"));
	error = errorOf(huge);
	CPPUNIT_ASSERT_MESSAGE(error, contains(error, "too large"));
	error = errorOf(other);
	CPPUNIT_ASSERT_MESSAGE(error, contains(error, "another peer"));
	error = errorOf(garbage);
	CPPUNIT_ASSERT_MESSAGE(error, contains(error, "invalid lookup answer"));
	error = errorOf(silent);
	CPPUNIT_ASSERT_MESSAGE(error, contains(error, "no response within 500 ms"));
	error = errorOf(Identity::generate().peerId());
	CPPUNIT_ASSERT_MESSAGE(error, contains(error, "500 Internal Server Error: unexpected"));

	bool done = false;
	CrossChat::ByteStream::Ptr pTunnel;
	client.openTunnel(busy, [&](RelayTunnel tunnel, const std::string& failure) {
		done = true;
		error = failure;
		pTunnel = tunnel.connection;
	});
	CPPUNIT_ASSERT(runUntil(loop, [&] { return done; }));
	CPPUNIT_ASSERT(!pTunnel);
	CPPUNIT_ASSERT_MESSAGE(error, contains(error, "refused the tunnel: too many tunnels (1000)"));
}


void RelayClientTest::testControlChannelKeepalive()
{
	EventLoop loop;
	Peer* pAlice = nullptr;
	FakeRelay relay(loop, [&](const std::string& head, const std::string&) -> std::string {
		if (head.compare(0, 27, "POST /api/v1/announce HTTP/") == 0)
			return httpAnswer("200 OK", "{\"id\":\"" + pAlice->id().toString()
				+ "\",\"observed\":\"198.51.100.9:4000\",\"ttl_s\":60,\"reannounce_s\":30}");
		if (head.compare(0, 24, "GET /api/v1/control HTTP") == 0 && contains(head, "Upgrade: crosschat-control/1"))
			return "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: crosschat-control/1\r\n\r\n";
		return httpAnswer("404 Not Found", "{\"error\":\"not_found\"}");
	});
	// The fake relay's control side: a correct handshake, one ping, then silence.
	const std::string nonce(32, 'n');
	bool keyMatched = false;
	bool signatureValid = false;
	std::int64_t pongNumber = -1;
	int clientPings = 0;
	auto pCodec = std::make_shared<FrameCodec>();
	relay.setUpgradeHandler([&, pCodec](const ByteStream::Ptr& pConnection) {
		std::weak_ptr<ByteStream> weak = pConnection;
		pConnection->setDataHandler([&, pCodec, weak](const char* data, std::size_t size) {
			auto pConn = weak.lock();
			const MessageCatalog& catalog = RelayProtocol::control();
			pCodec->feed(data, size);
			while (auto frame = pCodec->next())
			{
				const Message message = catalog.decode(*frame);
				if (message.name == "hello")
				{
					keyMatched = base64Decode(message.body->getValue<std::string>("key")) == pAlice->identity.publicKey().raw();
					Poco::JSON::Object challenge;
					challenge.set("nonce", nonce);
					challenge.set("observed", "198.51.100.9:4001");
					pConn->send(catalog.encode(*pCodec, "challenge", challenge));
				}
				else if (message.name == "auth")
				{
					signatureValid = pAlice->identity.publicKey().verify(RelayProtocol::controlSigningString(nonce),
						base64Decode(message.body->getValue<std::string>("signature")));
					Poco::JSON::Object welcome;
					welcome.set("id", pAlice->id().toString());
					welcome.set("keepalive_s", 1);
					Poco::JSON::Object ping;
					ping.set("n", 7);
					// Both frames in one segment.
					pConn->send(catalog.encode(*pCodec, "welcome", welcome) + catalog.encode(*pCodec, "ping", ping));
				}
				else if (message.name == "pong")
				{
					pongNumber = message.body->getValue<std::int64_t>("n");
				}
				else if (message.name == "ping")
				{
					++clientPings;   // and no answer
				}
			}
		});
	});
	Peer alice(loop, relay.url(), "alice");
	pAlice = &alice;
	alice.client.start();
	CPPUNIT_ASSERT(runUntil(loop, [&] { return alice.online(); }));
	const auto onlineAt = EventLoop::Clock::now();
	CPPUNIT_ASSERT(keyMatched);
	CPPUNIT_ASSERT(signatureValid);
	// The challenge's observed address came last.
	CPPUNIT_ASSERT_EQUAL(std::string("198.51.100.9:4001"), alice.client.reflexiveAddress().value().toString());
	CPPUNIT_ASSERT(runUntil(loop, [&] { return pongNumber == 7; }));

	// No byte from the relay for 3 keepalive periods: the channel is dead.
	CPPUNIT_ASSERT(runUntil(loop, [&] { return alice.client.state() != RelayClient::State::ONLINE; }));
	CPPUNIT_ASSERT_MESSAGE(alice.client.stateDetail(), EventLoop::Clock::now() - onlineAt >= 2900ms);   // 3 s after the welcome, seen up to 2 ms late
	CPPUNIT_ASSERT(clientPings >= 3);   // one every keepalive_s / 2
	const auto& offline = alice.states.back();
	CPPUNIT_ASSERT(offline.first == RelayClient::State::OFFLINE);
	CPPUNIT_ASSERT_MESSAGE(offline.second, contains(offline.second, "silent on the control channel"));
	CPPUNIT_ASSERT_MESSAGE(offline.second, contains(offline.second, relay.url()));
}
