//
// RelayFairnessTest.cpp
//
// testsuite: the relay front under misbehaving clients, per-source bounds, proxies, privacy
// and draining.
//


#include "RelayFairnessTest.h"
#include "RelayTestSupport.h"
#include "RelayRequests.h"
#include "CrossChat/Identity.h"
#include "CrossChat/MessageSchema.h"
#include "CrossChat/Relay/RelayProtocol.h"
#include "CrossChat/Relay/RelayServer.h"
#include "Poco/Exception.h"
#include "Poco/Net/HTTPRequest.h"
#include "Poco/Net/HTTPResponse.h"
#include "Poco/Net/NetException.h"
#include "Poco/Net/StreamSocket.h"
#include <future>
#include <sstream>
#include <thread>


using CrossChat::Identity;
using CrossChat::Message;
using CrossChat::Relay::RelayProtocol;
using CrossChat::Relay::RelayServer;
using CrossChat::Relay::RelayServerConfig;
using RelayTest::ControlClient;
using RelayTest::HttpClient;
using RelayTest::HttpResult;
using Headers = std::vector<std::pair<std::string, std::string>>;


namespace {


const std::string API = RelayProtocol::API_PREFIX;


Headers from(const std::string& address)
	/// A request as a trusted proxy on 127.0.0.1 forwards it for address.
{
	return {{"X-Forwarded-For", address}};
}


Poco::Net::StreamSocket connect(std::uint16_t port)
{
	Poco::Net::StreamSocket socket;
	socket.connect(Poco::Net::SocketAddress("127.0.0.1", port), Poco::Timespan(5, 0));
	return socket;
}


std::string readResponseHead(Poco::Net::StreamSocket& socket, Poco::Net::HTTPResponse& response)
	/// Reads one response head byte by byte and its body (Content-Length).
{
	socket.setReceiveTimeout(Poco::Timespan(10, 0));
	std::string head;
	char c = 0;
	while (head.size() < 4 || head.compare(head.size() - 4, 4, "\r\n\r\n") != 0)
	{
		if (socket.receiveBytes(&c, 1) <= 0) CPPUNIT_FAIL("closed while reading a response: " + head);
		head.push_back(c);
	}
	std::istringstream in(head);
	response.read(in);
	return response.hasContentLength() ? RelayTest::receiveExactly(socket, static_cast<std::size_t>(response.getContentLength())) : std::string();
}


std::string proxyHeader()
	/// PROXY v2, TCP over IPv4, 203.0.113.9:4444 -> 192.0.2.1:5000.
{
	std::string header("\r\n\r\n\0\r\nQUIT\n", 12);
	header += std::string("\x21\x11\x00\x0C", 4);
	header += std::string("\xCB\x00\x71\x09\xC0\x00\x02\x01\x11\x5C\x13\x88", 12);
	return header;
}


std::string signedAnnounce(const Identity& identity, const std::string& body)
{
	Poco::Net::HTTPRequest request("POST", API + "/announce", Poco::Net::HTTPMessage::HTTP_1_1);
	request.setContentType("application/json");
	request.setContentLength(static_cast<std::streamsize>(body.size()));
	HttpClient::sign(request, identity, "POST", API + "/announce", body);
	std::ostringstream out;
	request.write(out);
	return out.str() + body;
}


std::optional<Message> receiveNonPing(ControlClient& control, std::chrono::milliseconds timeout = std::chrono::milliseconds(5000))
{
	for (;;)
	{
		std::optional<Message> message = control.receive(timeout);
		if (!message || (message->name != "ping" && message->name != "pong")) return message;
	}
}


} // namespace


void RelayFairnessTest::testPortTaken()
{
	RelayServer first(RelayTest::testConfig());
	first.start();
	RelayServerConfig config = RelayTest::testConfig();
	config.bind = Poco::Net::SocketAddress("127.0.0.1", first.port());
	config.probePort = 0;
	RelayServer second(config);
	try
	{
		second.start();
		CPPUNIT_FAIL("a second relay started on a taken port");
	}
	catch (const Poco::Net::NetException& exc)
	{
		CPPUNIT_ASSERT_MESSAGE(exc.displayText(), exc.message().find("port " + std::to_string(first.port()) + " is taken") != std::string::npos);
	}
	// The first one still serves.
	CPPUNIT_ASSERT_EQUAL(200, HttpClient(first.port()).request("GET", "/health").status);
}


void RelayFairnessTest::testSlowClientsAreCutOff()
{
	RelayTest::ManualClock clock;
	RelayServerConfig config = RelayTest::testConfig();
	config.clock = clock.function();
	config.firstByteTimeout = std::chrono::seconds(5);
	config.requestTimeout = std::chrono::seconds(10);
	RelayServer server(config);
	server.start();
	Poco::Net::StreamSocket silent = connect(server.port());
	Poco::Net::StreamSocket slow = connect(server.port());
	RelayTest::sendAll(slow, "GET /health HTTP/1.1\r\nHost: relay\r\n");   // a head that never ends
	HttpClient client(server.port());
	CPPUNIT_ASSERT_EQUAL(200, client.request("GET", "/health").status);
	clock.advance(std::chrono::seconds(6));
	// The silent connection is closed without an answer at the next tick (about a second).
	CPPUNIT_ASSERT(RelayTest::waitForClose(silent, std::chrono::milliseconds(5000)));
	// The slow one sent its first byte in time, so it has until its whole-request deadline, 10 s
	// after that byte (which the relay may have read before or after the 6-s step: by 16 s);
	// sending a header line every few seconds does not extend it.
	RelayTest::sendAll(slow, "X-Slow: 1\r\n");
	clock.advance(std::chrono::seconds(5));
	RelayTest::sendAll(slow, "X-Slow: 2\r\n");
	clock.advance(std::chrono::seconds(6));
	Poco::Net::HTTPResponse response;
	const std::string body = readResponseHead(slow, response);
	CPPUNIT_ASSERT_EQUAL(408, static_cast<int>(response.getStatus()));
	CPPUNIT_ASSERT(body.find("timeout") != std::string::npos);
	CPPUNIT_ASSERT(RelayTest::waitForClose(slow, std::chrono::milliseconds(5000)));
	const HttpResult metrics = client.request("GET", "/metrics");
	CPPUNIT_ASSERT(metrics.body.find("crosschat_relay_rejected_total{reason=\"http_timeout\"} 2") != std::string::npos);
}


void RelayFairnessTest::testPerSourceConnectionCap()
{
	RelayServerConfig config = RelayTest::testConfig();
	config.maxHttpConnectionsPerIp = 3;
	RelayServer server(config);
	server.start();
	std::vector<Poco::Net::StreamSocket> idle;
	for (int i = 0; i < 3; ++i) idle.push_back(connect(server.port()));
	// The fourth from the same source is refused before anything is read: the reset may
	// already arrive while connect() waits for the socket to become writable.
	try
	{
		Poco::Net::StreamSocket refused = connect(server.port());
		RelayTest::sendAll(refused, "GET /health HTTP/1.1\r\n\r\n");
		CPPUNIT_ASSERT(RelayTest::waitForClose(refused, std::chrono::milliseconds(5000)));
	}
	catch (const Poco::Net::NetException&)
	{
		// Reset already (the relay refuses with SO_LINGER 0): refused either way.
	}
	// Idle sockets go: the source has room again (once the relay's loop has seen the close).
	idle.clear();
	auto request = [&server](const std::string& path)
	{
		const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
		for (;;)
		{
			try
			{
				return HttpClient(server.port()).request("GET", path);
			}
			catch (const Poco::Exception&)
			{
				if (std::chrono::steady_clock::now() > deadline) throw;
				std::this_thread::sleep_for(std::chrono::milliseconds(20));
			}
		}
	};
	CPPUNIT_ASSERT_EQUAL(200, request("/health").status);
	const std::string metrics = request("/metrics").body;
	const std::string counter = "crosschat_relay_rejected_total{reason=\"source_limit\"} ";
	const std::size_t at = metrics.find(counter);
	CPPUNIT_ASSERT(at != std::string::npos);
	CPPUNIT_ASSERT(std::stoi(metrics.substr(at + counter.size())) >= 1);
}


void RelayFairnessTest::testPipelinedRequests()
{
	RelayServer server(RelayTest::testConfig());
	server.start();
	Poco::Net::StreamSocket socket = connect(server.port());
	const Identity unknown = Identity::generate();
	RelayTest::sendAll(socket, "GET /health HTTP/1.1\r\nHost: a\r\n\r\nGET " + API + "/peers/" + unknown.peerId().toString()
		+ " HTTP/1.1\r\nHost: a\r\n\r\nGET /metrics HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
	Poco::Net::HTTPResponse first;
	CPPUNIT_ASSERT(readResponseHead(socket, first).find("\"status\":\"ok\"") != std::string::npos);
	CPPUNIT_ASSERT_EQUAL(200, static_cast<int>(first.getStatus()));
	CPPUNIT_ASSERT(first.getKeepAlive());
	Poco::Net::HTTPResponse second;
	readResponseHead(socket, second);
	CPPUNIT_ASSERT_EQUAL(404, static_cast<int>(second.getStatus()));
	Poco::Net::HTTPResponse third;
	CPPUNIT_ASSERT(readResponseHead(socket, third).find("crosschat_relay_requests_total") != std::string::npos);
	CPPUNIT_ASSERT(!third.getKeepAlive());
	CPPUNIT_ASSERT(RelayTest::waitForClose(socket, std::chrono::milliseconds(5000)));
}


void RelayFairnessTest::testForwardedFor()
{
	RelayServerConfig config = RelayTest::testConfig();
	config.trustedProxies = "127.0.0.0/8";
	config.requestsPerSecondPerIp = 1;   // burst 2
	RelayServer server(config);
	server.start();
	HttpClient client(server.port());
	const Identity identity = Identity::generate();
	const HttpResult announced = client.request("POST", API + "/announce", R"({"port":4001})", &identity,
		RelayTest::SignOptions(), from("198.51.100.66, 198.51.100.7"));
	CPPUNIT_ASSERT_EQUAL_MESSAGE(announced.body, 200, announced.status);
	// The proxy's client (rightmost untrusted), without a port: X-Forwarded-For has none.
	CPPUNIT_ASSERT_EQUAL(std::string("198.51.100.7:0"), announced.json()->getValue<std::string>("observed"));
	CPPUNIT_ASSERT_EQUAL(std::string("198.51.100.7:4001"), announced.json()->getArray("addresses")->getElement<std::string>(0));
	// Rate limits count per forwarded client: 198.51.100.7 has used one of its two.
	const std::string path = API + "/peers/" + identity.peerId().toString();
	CPPUNIT_ASSERT_EQUAL(200, client.request("GET", path, "", nullptr, RelayTest::SignOptions(), from("198.51.100.7")).status);
	CPPUNIT_ASSERT_EQUAL(429, client.request("GET", path, "", nullptr, RelayTest::SignOptions(), from("198.51.100.7")).status);
	CPPUNIT_ASSERT_EQUAL(200, client.request("GET", path, "", nullptr, RelayTest::SignOptions(), from("198.51.100.8")).status);
	// /health says that client addresses come through proxies and NAT traversal is off
	// (X-Forwarded-For has no ports).
	const auto pHealth = client.request("GET", "/health").json();
	CPPUNIT_ASSERT_EQUAL(std::string("proxied"), pHealth->getValue<std::string>("client_addresses"));
	CPPUNIT_ASSERT_EQUAL(false, pHealth->getValue<bool>("nat_traversal"));
	// A control channel through the proxy: no observed address, no probe port, no punching.
	ControlClient control(server.port(), from("198.51.100.9"));
	const Identity peer = Identity::generate();
	Poco::JSON::Object hello;
	hello.set("key", CrossChat::Relay::base64Encode(peer.publicKey().raw()));
	hello.set("version", 1);
	control.send("hello", hello);
	const Message challenge = control.expect("challenge");
	CPPUNIT_ASSERT(!challenge.body->has("observed"));
	Poco::JSON::Object auth;
	auth.set("signature", CrossChat::Relay::base64Encode(peer.sign(RelayProtocol::controlSigningString(challenge.body->getValue<std::string>("nonce")))));
	control.send("auth", auth);
	const Message welcome = control.expect("welcome");
	CPPUNIT_ASSERT_EQUAL(false, welcome.body->getValue<bool>("nat_traversal"));
	CPPUNIT_ASSERT(!welcome.body->has("probe_port"));
}


void RelayFairnessTest::testUntrustedForwardedForIgnored()
{
	RelayServer server(RelayTest::testConfig());
	server.start();
	HttpClient client(server.port());
	const Identity identity = Identity::generate();
	const HttpResult announced = client.request("POST", API + "/announce", R"({"port":4001})", &identity,
		RelayTest::SignOptions(), from("198.51.100.7"));
	CPPUNIT_ASSERT_EQUAL(200, announced.status);
	CPPUNIT_ASSERT_EQUAL(std::string("127.0.0.1:"), announced.json()->getValue<std::string>("observed").substr(0, 10));
	const auto pHealth = client.request("GET", "/health").json();
	CPPUNIT_ASSERT_EQUAL(std::string("direct"), pHealth->getValue<std::string>("client_addresses"));
	CPPUNIT_ASSERT_EQUAL(true, pHealth->getValue<bool>("nat_traversal"));
}


void RelayFairnessTest::testProxyProtocol()
{
	RelayServerConfig config = RelayTest::testConfig();
	config.trustedProxies = "127.0.0.1";
	config.proxyProtocol = true;
	RelayServer server(config);
	server.start();
	const Identity identity = Identity::generate();
	Poco::Net::StreamSocket socket = connect(server.port());
	RelayTest::sendAll(socket, proxyHeader() + signedAnnounce(identity, R"({"port":4001})"));
	Poco::Net::HTTPResponse response;
	const std::string body = readResponseHead(socket, response);
	CPPUNIT_ASSERT_EQUAL_MESSAGE(body, 200, static_cast<int>(response.getStatus()));
	CPPUNIT_ASSERT_EQUAL(std::string("203.0.113.9:4444"), CrossChat::MessageSchema::parseObject(body)->getValue<std::string>("observed"));
	// The NAT probe port takes the header too.
	Poco::Net::StreamSocket probe;
	probe.connect(Poco::Net::SocketAddress("127.0.0.1", server.probePort()), Poco::Timespan(5, 0));
	RelayTest::sendAll(probe, proxyHeader());
	probe.setReceiveTimeout(Poco::Timespan(5, 0));
	std::string line;
	char c = 0;
	while (line.size() < 128 && probe.receiveBytes(&c, 1) == 1 && c != '\n') line.push_back(c);
	CPPUNIT_ASSERT_EQUAL(std::string("{\"observed\":\"203.0.113.9:4444\"}"), line);
	// Without the header the trusted proxy's connection is refused.
	Poco::Net::StreamSocket bare = connect(server.port());
	RelayTest::sendAll(bare, "GET /health HTTP/1.1\r\n\r\n");
	CPPUNIT_ASSERT(RelayTest::waitForClose(bare, std::chrono::milliseconds(5000)));
}


void RelayFairnessTest::testObservedOnlyWhenPublished()
{
	RelayServer server(RelayTest::testConfig());
	server.start();
	HttpClient client(server.port());
	auto lookup = [&client](const Identity& identity) { return client.request("GET", API + "/peers/" + identity.peerId().toString()).json(); };
	// Asks for the address the relay sees ("0.0.0.0"): published.
	const Identity open = Identity::generate();
	CPPUNIT_ASSERT_EQUAL(200, client.announce(open, R"({"addresses":["0.0.0.0:4001"]})").status);
	CPPUNIT_ASSERT(lookup(open)->has("observed"));
	// Only a private address of its own, or nothing: the public address is not handed out.
	const Identity lan = Identity::generate();
	CPPUNIT_ASSERT_EQUAL(200, client.announce(lan, R"({"addresses":["10.0.0.5:4001"]})").status);
	CPPUNIT_ASSERT(!lookup(lan)->has("observed"));
	CPPUNIT_ASSERT_EQUAL(std::string("10.0.0.5:4001"), lookup(lan)->getArray("addresses")->getElement<std::string>(0));
	const Identity tunnelOnly = Identity::generate();
	CPPUNIT_ASSERT_EQUAL(200, client.announce(tunnelOnly, R"({"name":"t"})").status);
	CPPUNIT_ASSERT(!lookup(tunnelOnly)->has("observed"));
	CPPUNIT_ASSERT_EQUAL(std::size_t(0), lookup(tunnelOnly)->getArray("addresses")->size());
	// Online without an announce: the key, never the address.
	const Identity controlOnly = Identity::generate();
	ControlClient control(server.port());
	control.authenticate(controlOnly);
	const auto pOnline = lookup(controlOnly);
	CPPUNIT_ASSERT(pOnline->getValue<bool>("online"));
	CPPUNIT_ASSERT(!pOnline->has("observed"));
	CPPUNIT_ASSERT(pOnline->has("public_key"));
}


void RelayFairnessTest::testRecordsPerSource()
{
	RelayServerConfig config = RelayTest::testConfig();
	config.maxPeersPerIp = 2;
	RelayServer server(config);
	server.start();
	HttpClient client(server.port());
	const Identity one = Identity::generate();
	CPPUNIT_ASSERT_EQUAL(200, client.announce(one, "{}").status);
	CPPUNIT_ASSERT_EQUAL(200, client.announce(Identity::generate(), "{}").status);
	const HttpResult refused = client.announce(Identity::generate(), "{}");
	CPPUNIT_ASSERT_EQUAL(503, refused.status);
	CPPUNIT_ASSERT(refused.headers.has("Retry-After"));
	CPPUNIT_ASSERT_EQUAL(200, client.announce(one, R"({"name":"again"})").status);   // re-announcing still works
}


void RelayFairnessTest::testInviteNotChargedToCallee()
{
	RelayServerConfig config = RelayTest::testConfig();
	config.trustedProxies = "127.0.0.1";
	config.requestsPerSecondPerIp = 1;   // burst 2
	RelayServer server(config);
	server.start();
	HttpClient client(server.port());
	const Identity alice = Identity::generate();
	const Identity bob = Identity::generate();
	ControlClient bobControl(server.port(), from("198.51.100.2"));   // one request of bob's two
	bobControl.authenticate(bob);
	// Bob's source spends its last request, and then has none.
	CPPUNIT_ASSERT_EQUAL(200, client.request("GET", "/", "", nullptr, RelayTest::SignOptions(), from("198.51.100.2")).status);
	CPPUNIT_ASSERT_EQUAL(429, client.request("GET", "/", "", nullptr, RelayTest::SignOptions(), from("198.51.100.2")).status);
	// Alice asks for a tunnel to bob; bob can still join: the caller pays for the invite.
	const HttpResult opened = client.request("POST", API + "/tunnels", "{\"to\":\"" + bob.peerId().toString() + "\"}", &alice,
		RelayTest::SignOptions(), from("198.51.100.1"));
	CPPUNIT_ASSERT_EQUAL_MESSAGE(opened.body, 201, opened.status);
	const std::optional<Message> invite = receiveNonPing(bobControl);
	CPPUNIT_ASSERT(invite && invite->name == "invite");
	int status = 0;
	Poco::Net::StreamSocket bobEnd = RelayTest::upgrade(server.port(), API + "/tunnels/" + invite->body->getValue<std::string>("token"),
		RelayProtocol::UPGRADE_TUNNEL, status, nullptr, from("198.51.100.2"));
	CPPUNIT_ASSERT_EQUAL(101, status);
	// A wrong token from bob's source is still rate limited.
	RelayTest::upgrade(server.port(), API + "/tunnels/" + std::string(64, 'a'), RelayProtocol::UPGRADE_TUNNEL, status, nullptr, from("198.51.100.2"));
	CPPUNIT_ASSERT_EQUAL(429, status);
}


void RelayFairnessTest::testTunnelRequestRate()
{
	RelayTest::ManualClock clock;   // stands still: no token refills during the test
	RelayServerConfig config = RelayTest::testConfig();
	config.clock = clock.function();
	config.tunnelsPerSecondPerIp = 1;   // burst 5
	RelayServer server(config);
	server.start();
	HttpClient client(server.port());
	const Identity alice = Identity::generate();
	const Identity bob = Identity::generate();
	ControlClient bobControl(server.port());
	bobControl.authenticate(bob);
	const std::string body = "{\"to\":\"" + bob.peerId().toString() + "\"}";
	int created = 0;
	int limited = 0;
	for (int i = 0; i < 7; ++i)
	{
		const int status = client.request("POST", API + "/tunnels", body, &alice).status;
		if (status == 201) ++created;
		if (status == 429) ++limited;
	}
	CPPUNIT_ASSERT_EQUAL(5, created);   // the burst
	CPPUNIT_ASSERT_EQUAL(2, limited);
	// Charged to the caller's source only: bob (same address here, but not asking) is not
	// involved, and after a second alice may ask again.
	clock.advance(std::chrono::seconds(1));
	CPPUNIT_ASSERT_EQUAL(201, client.request("POST", API + "/tunnels", body, &alice).status);
}


void RelayFairnessTest::testPunchPrivacy()
{
	RelayServer server(RelayTest::testConfig());
	server.start();
	const Identity alice = Identity::generate();
	const Identity bob = Identity::generate();
	ControlClient aliceControl(server.port());
	aliceControl.authenticate(alice);
	ControlClient bobControl(server.port());
	bobControl.authenticate(bob);
	auto punch = [](const Identity& to, const std::string& phase, bool reply)
	{
		Poco::JSON::Object body;
		body.set("to", to.peerId().toString());
		body.set("phase", phase);
		Poco::JSON::Array::Ptr pAddresses = new Poco::JSON::Array;
		if (phase == "connect") pAddresses->add("192.0.2.50:4000");
		body.set("addrs", pAddresses);
		body.set("attempt", 1);
		if (reply) body.set("reply", true);
		return body;
	};
	// An answer nobody asked for, and a sync without an answer, are refused (the channel stays).
	bobControl.send("punch", punch(alice, "connect", true));
	std::optional<Message> error = receiveNonPing(bobControl);
	CPPUNIT_ASSERT(error && error->name == "error");
	CPPUNIT_ASSERT_EQUAL(std::string("no_punch"), error->body->getValue<std::string>("code"));
	aliceControl.send("punch", punch(bob, "sync", false));
	error = receiveNonPing(aliceControl);
	CPPUNIT_ASSERT(error && error->body->getValue<std::string>("code") == "no_punch");
	// A real punch: the first connect carries only what alice chose to send...
	aliceControl.send("punch", punch(bob, "connect", false));
	std::optional<Message> forwarded = receiveNonPing(bobControl);
	CPPUNIT_ASSERT(forwarded && forwarded->name == "punch");
	CPPUNIT_ASSERT(!forwarded->body->has("observed"));
	// ...the answer and the sync, inside a punch both take part in, carry the relay-seen address.
	bobControl.send("punch", punch(alice, "connect", true));
	forwarded = receiveNonPing(aliceControl);
	CPPUNIT_ASSERT(forwarded && forwarded->name == "punch");
	CPPUNIT_ASSERT_EQUAL(std::string("127.0.0.1:"), forwarded->body->getValue<std::string>("observed").substr(0, 10));
	aliceControl.send("punch", punch(bob, "sync", false));
	forwarded = receiveNonPing(bobControl);
	CPPUNIT_ASSERT(forwarded && forwarded->body->getValue<std::string>("phase") == "sync");
	CPPUNIT_ASSERT(forwarded->body->has("observed"));
}


void RelayFairnessTest::testDrain()
{
	RelayServerConfig config = RelayTest::testConfig();
	config.drainTimeout = std::chrono::seconds(5);
	RelayServer server(config);
	server.start();
	const Identity identity = Identity::generate();
	ControlClient control(server.port());
	control.authenticate(identity);
	Poco::Net::StreamSocket idle = connect(server.port());
	std::future<void> drained = std::async(std::launch::async, [&server] { server.drain(); });
	const std::optional<Message> goingAway = receiveNonPing(control);
	CPPUNIT_ASSERT(goingAway && goingAway->name == "error");
	CPPUNIT_ASSERT_EQUAL(std::string("going_away"), goingAway->body->getValue<std::string>("code"));
	CPPUNIT_ASSERT(goingAway->body->getValue<int>("retry_after_s") > 0);
	CPPUNIT_ASSERT(control.waitForClose());
	CPPUNIT_ASSERT(RelayTest::waitForClose(idle, std::chrono::milliseconds(5000)));
	drained.get();
	Poco::Net::StreamSocket refused;
	CPPUNIT_ASSERT_THROW(refused.connect(Poco::Net::SocketAddress("127.0.0.1", server.port()), Poco::Timespan(2, 0)), Poco::Exception);
}
