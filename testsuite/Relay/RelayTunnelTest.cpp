//
// RelayTunnelTest.cpp
//
// testsuite: RelayServer's control channels and forwarding tunnels (HTTP upgrades).
//


#include "RelayTunnelTest.h"
#include "RelayTestSupport.h"
#include "RelayRequests.h"
#include "CrossChat/FrameCodec.h"
#include "CrossChat/Identity.h"
#include "CrossChat/MessageSchema.h"
#include "CrossChat/Relay/RelayProtocol.h"
#include "CrossChat/Relay/RelayServer.h"
#include "Poco/Net/NetException.h"
#include <thread>


using CrossChat::Identity;
using CrossChat::Message;
using CrossChat::Relay::RelayProtocol;
using CrossChat::Relay::RelayServer;
using CrossChat::Relay::RelayServerConfig;
using RelayTest::ControlClient;
using RelayTest::HttpClient;
using RelayTest::HttpResult;


namespace {


const std::string API = RelayProtocol::API_PREFIX;


struct Tunnel
	/// Two joined ends of one tunnel.
{
	Poco::Net::StreamSocket caller;
	Poco::Net::StreamSocket callee;
};


std::string openTunnel(HttpClient& client, const Identity& from, const Identity& to, int expectedStatus = 201)
{
	const HttpResult result = client.request("POST", API + "/tunnels", "{\"to\":\"" + to.peerId().toString() + "\"}", &from);
	CPPUNIT_ASSERT_EQUAL_MESSAGE(result.body, expectedStatus, result.status);
	if (expectedStatus != 201) return std::string();
	const auto pAnswer = result.json();
	CPPUNIT_ASSERT(pAnswer->has("expires_s"));
	CPPUNIT_ASSERT(pAnswer->getObject("limits")->has("tunnel_rate_bps"));
	return pAnswer->getValue<std::string>("token");
}


Poco::Net::StreamSocket join(std::uint16_t port, const std::string& token)
{
	int status = 0;
	Poco::Net::StreamSocket socket = RelayTest::upgrade(port, API + "/tunnels/" + token, RelayProtocol::UPGRADE_TUNNEL, status);
	CPPUNIT_ASSERT_EQUAL(101, status);
	socket.setReceiveTimeout(Poco::Timespan(10, 0));
	return socket;
}


Tunnel establish(std::uint16_t port, HttpClient& client, const Identity& alice, ControlClient& bobControl, const Identity& bob)
{
	const std::string token = openTunnel(client, alice, bob);
	const Message invite = bobControl.expect("invite");
	CPPUNIT_ASSERT_EQUAL(alice.peerId().toString(), invite.body->getValue<std::string>("from"));
	const std::string calleeToken = invite.body->getValue<std::string>("token");
	CPPUNIT_ASSERT(calleeToken != token);
	Tunnel tunnel;
	tunnel.caller = join(port, token);
	tunnel.callee = join(port, calleeToken);
	return tunnel;
}


std::int64_t health(const RelayServer& server, const std::string& field)
{
	return CrossChat::MessageSchema::parseObject(server.healthJson())->getValue<std::int64_t>(field);
}


std::int64_t settledHealth(const RelayServer& server, const std::string& field, std::int64_t expected)
	/// The field once it shows the expected value, or after 5 s whatever it shows: a tunnel is
	/// removed on its own loop, and /health may be served a moment earlier.
{
	const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
	while (health(server, field) != expected && std::chrono::steady_clock::now() < deadline)
		std::this_thread::sleep_for(std::chrono::milliseconds(10));
	return health(server, field);
}


bool nothingArrives(Poco::Net::StreamSocket& socket, std::chrono::milliseconds wait)
{
	socket.setReceiveTimeout(Poco::Timespan(std::chrono::duration_cast<std::chrono::microseconds>(wait).count()));
	char c = 0;
	try
	{
		socket.receiveBytes(&c, 1);
		return false;
	}
	catch (const Poco::TimeoutException&)
	{
		return true;
	}
}


} // namespace


void RelayTunnelTest::testControlAuthentication()
{
	RelayServerConfig config = RelayTest::testConfig();
	config.controlKeepalive = std::chrono::seconds(15);
	RelayServer server(config);
	server.start();
	const Identity identity = Identity::generate();
	ControlClient control(server.port());
	const Message welcome = control.authenticate(identity);
	CPPUNIT_ASSERT_EQUAL(identity.peerId().toString(), welcome.body->getValue<std::string>("id"));
	// Only the client pings, every ping_s; keepalive_s (twice that) keeps clients of the first
	// protocol version (which ping every keepalive_s / 2) at the same period.
	CPPUNIT_ASSERT_EQUAL(15, welcome.body->getValue<int>("ping_s"));
	CPPUNIT_ASSERT_EQUAL(30, welcome.body->getValue<int>("keepalive_s"));
	const auto pLimits = welcome.body->getObject("limits");
	CPPUNIT_ASSERT_EQUAL(static_cast<std::int64_t>(config.tunnelRateBytesPerSecond), pLimits->getValue<std::int64_t>("tunnel_rate_bps"));
	CPPUNIT_ASSERT(pLimits->getValue<int>("max_tunnels") > 0);   // derived from the descriptor limit
	CPPUNIT_ASSERT(pLimits->has("tunnel_idle_s"));

	// Online without an announce: the lookup answers from the control channel.
	HttpClient client(server.port());
	const HttpResult found = client.request("GET", API + "/peers/" + identity.peerId().toString());
	CPPUNIT_ASSERT_EQUAL(200, found.status);
	CPPUNIT_ASSERT_EQUAL(true, found.json()->getValue<bool>("online"));
	CPPUNIT_ASSERT_EQUAL(std::int64_t(1), health(server, "online"));

	// Announced and online.
	CPPUNIT_ASSERT_EQUAL(200, client.announce(identity, R"({"name":"on","port":1})").status);
	CPPUNIT_ASSERT_EQUAL(true, client.request("GET", API + "/peers/" + identity.peerId().toString()).json()->getValue<bool>("online"));

	// Closing the channel takes the peer offline.
	control.socket().close();
	const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
	while (health(server, "online") != 0 && std::chrono::steady_clock::now() < deadline)
		std::this_thread::sleep_for(std::chrono::milliseconds(10));
	CPPUNIT_ASSERT_EQUAL(std::int64_t(0), health(server, "online"));
	CPPUNIT_ASSERT_EQUAL(false, client.request("GET", API + "/peers/" + identity.peerId().toString()).json()->getValue<bool>("online"));
}


void RelayTunnelTest::testControlBadSignature()
{
	RelayServer server(RelayTest::testConfig());
	server.start();
	const Identity identity = Identity::generate();
	const Identity impostor = Identity::generate();
	ControlClient control(server.port());
	Poco::JSON::Object hello;
	hello.set("key", CrossChat::Relay::base64Encode(identity.publicKey().raw()));
	hello.set("version", 1);
	control.send("hello", hello);
	const Message challenge = control.expect("challenge");
	CPPUNIT_ASSERT_EQUAL(std::size_t(64), challenge.body->getValue<std::string>("nonce").size());
	CPPUNIT_ASSERT_EQUAL(std::string("127.0.0.1:"), challenge.body->getValue<std::string>("observed").substr(0, 10));
	Poco::JSON::Object auth;
	auth.set("signature", CrossChat::Relay::base64Encode(impostor.sign(
		RelayProtocol::controlSigningString(challenge.body->getValue<std::string>("nonce")))));
	control.send("auth", auth);
	const Message error = control.expect("error");
	CPPUNIT_ASSERT_EQUAL(std::string("auth_failed"), error.body->getValue<std::string>("code"));
	CPPUNIT_ASSERT(control.waitForClose());
	CPPUNIT_ASSERT_EQUAL(std::int64_t(0), health(server, "online"));
}


void RelayTunnelTest::testControlWithoutHelloTimesOut()
{
	RelayServerConfig config = RelayTest::testConfig();
	config.controlHelloTimeout = std::chrono::seconds(1);
	RelayServer server(config);
	server.start();
	ControlClient control(server.port());
	const auto started = std::chrono::steady_clock::now();
	const Message error = control.expect("error");
	CPPUNIT_ASSERT_EQUAL(std::string("timeout"), error.body->getValue<std::string>("code"));
	CPPUNIT_ASSERT(std::chrono::steady_clock::now() - started >= std::chrono::milliseconds(900));
	CPPUNIT_ASSERT(control.waitForClose());
}


void RelayTunnelTest::testControlGarbage()
{
	RelayServer server(RelayTest::testConfig());
	server.start();
	{
		ControlClient control(server.port());
		control.sendRaw("this is not a frame at all");
		CPPUNIT_ASSERT_EQUAL(std::string("protocol"), control.expect("error").body->getValue<std::string>("code"));
		CPPUNIT_ASSERT(control.waitForClose());
	}
	{
		// A frame announcing a huge body is refused before it is buffered.
		ControlClient control(server.port());
		control.sendRaw(std::string("CX\x01\x01\x7f\xff\xff\xff", 8));
		CPPUNIT_ASSERT_EQUAL(std::string("protocol"), control.expect("error").body->getValue<std::string>("code"));
		CPPUNIT_ASSERT(control.waitForClose());
	}
	{
		// auth before hello; then a hello with a key that is not a key.
		ControlClient control(server.port());
		Poco::JSON::Object auth;
		auth.set("signature", "AAAA");
		control.send("auth", auth);
		CPPUNIT_ASSERT_EQUAL(std::string("protocol"), control.expect("error").body->getValue<std::string>("code"));
		ControlClient second(server.port());
		Poco::JSON::Object hello;
		hello.set("key", "bm90IGEga2V5");
		hello.set("version", 1);
		second.send("hello", hello);
		CPPUNIT_ASSERT_EQUAL(std::string("protocol"), second.expect("error").body->getValue<std::string>("code"));
	}
	HttpClient client(server.port());
	const std::string metrics = client.request("GET", "/metrics").body;
	CPPUNIT_ASSERT(metrics.find("crosschat_relay_rejected_total{reason=\"control_protocol\"} 4\n") != std::string::npos);
}


void RelayTunnelTest::testControlPingPong()
{
	RelayServer server(RelayTest::testConfig());
	server.start();
	ControlClient control(server.port());
	control.authenticate(Identity::generate());
	Poco::JSON::Object ping;
	ping.set("n", 42);
	control.send("ping", ping);
	CPPUNIT_ASSERT_EQUAL(42, control.expect("pong").body->getValue<int>("n"));
}


void RelayTunnelTest::testControlReplaced()
{
	RelayServer server(RelayTest::testConfig());
	server.start();
	const Identity identity = Identity::generate();
	ControlClient first(server.port());
	first.authenticate(identity);
	ControlClient second(server.port());
	second.authenticate(identity);
	const Message error = first.expect("error");
	CPPUNIT_ASSERT_EQUAL(std::string("replaced"), error.body->getValue<std::string>("code"));
	CPPUNIT_ASSERT(first.waitForClose());
	CPPUNIT_ASSERT_EQUAL(std::int64_t(1), health(server, "online"));

	// The second channel is the live one: it gets the invites.
	const Identity caller = Identity::generate();
	HttpClient client(server.port());
	openTunnel(client, caller, identity);
	CPPUNIT_ASSERT_EQUAL(caller.peerId().toString(), second.expect("invite").body->getValue<std::string>("from"));
}


void RelayTunnelTest::testControlNeedsUpgradeHeaders()
{
	RelayServer server(RelayTest::testConfig());
	server.start();
	HttpClient client(server.port());
	HttpResult result = client.request("GET", API + "/control");
	CPPUNIT_ASSERT_EQUAL(426, result.status);
	CPPUNIT_ASSERT_EQUAL(std::string(RelayProtocol::UPGRADE_CONTROL), result.headers.get("Upgrade"));
	int status = 0;
	std::string body;
	RelayTest::upgrade(server.port(), API + "/control", "websocket", status, &body);
	CPPUNIT_ASSERT_EQUAL(426, status);
	CPPUNIT_ASSERT(body.find("upgrade_required") != std::string::npos);
}


void RelayTunnelTest::testControlConnectionLimit()
{
	RelayServerConfig config = RelayTest::testConfig();
	config.maxControlConnections = 2;
	config.maxControlConnectionsPerIp = 2;   // both from 127.0.0.1
	RelayServer server(config);
	server.start();
	ControlClient first(server.port());
	ControlClient second(server.port());
	int status = 0;
	std::string body;
	RelayTest::upgrade(server.port(), API + "/control", RelayProtocol::UPGRADE_CONTROL, status, &body);
	CPPUNIT_ASSERT_EQUAL(503, status);
	CPPUNIT_ASSERT(body.find("busy") != std::string::npos);
	// Authenticated channels still work.
	first.authenticate(Identity::generate());
}


void RelayTunnelTest::testTunnelEndToEnd()
{
	RelayServer server(RelayTest::testConfig());
	server.start();
	HttpClient client(server.port());
	const Identity alice = Identity::generate();
	const Identity bob = Identity::generate();
	CPPUNIT_ASSERT_EQUAL(200, client.announce(alice, R"({"name":"alice","port":1})").status);
	ControlClient aliceControl(server.port());
	aliceControl.authenticate(alice);
	ControlClient bobControl(server.port());
	bobControl.authenticate(bob);

	const std::string token = openTunnel(client, alice, bob);
	CPPUNIT_ASSERT_EQUAL(std::size_t(64), token.size());
	const Message invite = bobControl.expect("invite");
	CPPUNIT_ASSERT_EQUAL(alice.peerId().toString(), invite.body->getValue<std::string>("from"));
	CPPUNIT_ASSERT_EQUAL(std::string("alice"), invite.body->getValue<std::string>("name"));
	Tunnel tunnel;
	tunnel.caller = join(server.port(), token);
	tunnel.callee = join(server.port(), invite.body->getValue<std::string>("token"));

	const std::size_t size = 1024 * 1024;
	const std::string fromAlice = RelayTest::randomBytes(size);
	const std::string fromBob = RelayTest::randomBytes(size);
	std::thread aliceWriter([&] { RelayTest::sendAll(tunnel.caller, fromAlice); });
	std::thread bobWriter([&] { RelayTest::sendAll(tunnel.callee, fromBob); });
	std::string atBob;
	std::thread bobReader([&] { atBob = RelayTest::receiveExactly(tunnel.callee, size); });
	const std::string atAlice = RelayTest::receiveExactly(tunnel.caller, size);
	bobReader.join();
	aliceWriter.join();
	bobWriter.join();
	CPPUNIT_ASSERT(atAlice == fromBob);
	CPPUNIT_ASSERT(atBob == fromAlice);
	CPPUNIT_ASSERT_EQUAL(static_cast<std::int64_t>(2 * size), health(server, "bytes_relayed"));
	CPPUNIT_ASSERT_EQUAL(std::int64_t(1), health(server, "tunnels"));

	// Closing one end closes the other.
	tunnel.caller.shutdownSend();
	CPPUNIT_ASSERT(RelayTest::waitForClose(tunnel.callee, std::chrono::milliseconds(5000)));
	CPPUNIT_ASSERT_EQUAL(std::int64_t(0), settledHealth(server, "tunnels", 0));
	CPPUNIT_ASSERT_EQUAL(std::int64_t(1), health(server, "tunnels_opened"));
}


void RelayTunnelTest::testTunnelHoldsEarlyBytes()
{
	RelayServer server(RelayTest::testConfig());
	server.start();
	HttpClient client(server.port());
	const Identity alice = Identity::generate();
	const Identity bob = Identity::generate();
	ControlClient bobControl(server.port());
	bobControl.authenticate(bob);
	const std::string token = openTunnel(client, alice, bob);
	Poco::Net::StreamSocket caller = join(server.port(), token);
	const std::string early = RelayTest::randomBytes(20000);
	RelayTest::sendAll(caller, early);   // before the callee has joined
	Poco::Net::StreamSocket callee = join(server.port(), bobControl.expect("invite").body->getValue<std::string>("token"));
	CPPUNIT_ASSERT(RelayTest::receiveExactly(callee, early.size()) == early);
	RelayTest::sendAll(callee, "pong");
	CPPUNIT_ASSERT_EQUAL(std::string("pong"), RelayTest::receiveExactly(caller, 4));
}


void RelayTunnelTest::testTunnelToOfflinePeer()
{
	RelayServer server(RelayTest::testConfig());
	server.start();
	HttpClient client(server.port());
	const Identity alice = Identity::generate();
	const Identity bob = Identity::generate();
	CPPUNIT_ASSERT_EQUAL(200, client.announce(bob, R"({"name":"bob","port":1})").status);   // announced, not online
	const HttpResult result = client.request("POST", API + "/tunnels", "{\"to\":\"" + bob.peerId().toString() + "\"}", &alice);
	CPPUNIT_ASSERT_EQUAL(404, result.status);
	CPPUNIT_ASSERT_EQUAL(std::string("offline"), result.json()->getValue<std::string>("error"));
	CPPUNIT_ASSERT(result.headers.has("Retry-After"));
	CPPUNIT_ASSERT_EQUAL(401, client.request("POST", API + "/tunnels", "{\"to\":\"" + bob.peerId().toString() + "\"}").status);
	CPPUNIT_ASSERT_EQUAL(400, client.request("POST", API + "/tunnels", "{\"to\":\"" + alice.peerId().toString() + "\"}", &alice).status);
}


void RelayTunnelTest::testTunnelUnknownAndReusedToken()
{
	RelayServer server(RelayTest::testConfig());
	server.start();
	int status = 0;
	std::string body;
	RelayTest::upgrade(server.port(), API + "/tunnels/" + std::string(64, 'a'), RelayProtocol::UPGRADE_TUNNEL, status, &body);
	CPPUNIT_ASSERT_EQUAL(404, status);
	CPPUNIT_ASSERT(body.find("not_found") != std::string::npos);

	HttpClient client(server.port());
	const Identity alice = Identity::generate();
	const Identity bob = Identity::generate();
	ControlClient bobControl(server.port());
	bobControl.authenticate(bob);
	const std::string token = openTunnel(client, alice, bob);
	Poco::Net::StreamSocket first = join(server.port(), token);
	RelayTest::upgrade(server.port(), API + "/tunnels/" + token, RelayProtocol::UPGRADE_TUNNEL, status);
	CPPUNIT_ASSERT_EQUAL(404, status);
}


void RelayTunnelTest::testTunnelLimit()
{
	RelayServerConfig config = RelayTest::testConfig();
	config.maxTunnels = 1;
	RelayServer server(config);
	server.start();
	HttpClient client(server.port());
	const Identity alice = Identity::generate();
	const Identity bob = Identity::generate();
	ControlClient bobControl(server.port());
	bobControl.authenticate(bob);
	openTunnel(client, alice, bob);
	const HttpResult refused = client.request("POST", API + "/tunnels", "{\"to\":\"" + bob.peerId().toString() + "\"}", &alice);
	CPPUNIT_ASSERT_EQUAL(503, refused.status);
	CPPUNIT_ASSERT_EQUAL(std::string("busy"), refused.json()->getValue<std::string>("error"));
	CPPUNIT_ASSERT_EQUAL(std::string("max_tunnels"), refused.json()->getValue<std::string>("reason"));
}


void RelayTunnelTest::testTunnelRateLimit()
{
	// 64 KiB/s with a burst of 128 KiB: 256 KiB cannot arrive in less than 2 s. A lower bound on
	// the duration only, so a slow machine cannot make this test fail.
	RelayServerConfig config = RelayTest::testConfig();
	config.tunnelRateBytesPerSecond = 64 * 1024;
	RelayServer server(config);
	server.start();
	HttpClient client(server.port());
	const Identity alice = Identity::generate();
	const Identity bob = Identity::generate();
	ControlClient bobControl(server.port());
	bobControl.authenticate(bob);
	Tunnel tunnel = establish(server.port(), client, alice, bobControl, bob);
	const std::string data = RelayTest::randomBytes(256 * 1024);
	const auto started = std::chrono::steady_clock::now();
	std::thread writer([&] { RelayTest::sendAll(tunnel.caller, data); });
	const std::string received = RelayTest::receiveExactly(tunnel.callee, data.size());
	const auto elapsed = std::chrono::steady_clock::now() - started;
	writer.join();
	CPPUNIT_ASSERT(received == data);
	CPPUNIT_ASSERT(elapsed >= std::chrono::milliseconds(1900));
}


void RelayTunnelTest::testTunnelRatesArePerTunnel()
{
	// syncthing#10072: "per-session" limits that were one shared limiter. With the clock frozen
	// no bucket refills, so each tunnel can pass exactly its burst (2 x rate). If the buckets
	// were shared, the second tunnel would get nothing after the first took the burst.
	RelayTest::ManualClock clock;
	RelayServerConfig config = RelayTest::testConfig();
	config.clock = clock.function();
	config.tunnelRateBytesPerSecond = 32 * 1024;
	RelayServer server(config);
	server.start();
	HttpClient client(server.port());
	const Identity alice = Identity::generate();
	const Identity bob = Identity::generate();
	ControlClient bobControl(server.port());
	bobControl.authenticate(bob);
	Tunnel first = establish(server.port(), client, alice, bobControl, bob);
	Tunnel second = establish(server.port(), client, alice, bobControl, bob);

	const std::size_t burst = 64 * 1024;
	const std::string data1 = RelayTest::randomBytes(burst + 32 * 1024);
	const std::string data2 = RelayTest::randomBytes(burst + 32 * 1024);
	RelayTest::sendAll(first.caller, data1);
	CPPUNIT_ASSERT(RelayTest::receiveExactly(first.callee, burst) == data1.substr(0, burst));
	CPPUNIT_ASSERT(nothingArrives(first.callee, std::chrono::milliseconds(300)));
	RelayTest::sendAll(second.caller, data2);
	CPPUNIT_ASSERT(RelayTest::receiveExactly(second.callee, burst) == data2.substr(0, burst));
	CPPUNIT_ASSERT(nothingArrives(second.callee, std::chrono::milliseconds(300)));
	CPPUNIT_ASSERT_EQUAL(static_cast<std::int64_t>(2 * burst), health(server, "bytes_relayed"));

	// One second later each tunnel may pass one more second's worth: both finish.
	clock.advance(std::chrono::seconds(1));
	first.callee.setReceiveTimeout(Poco::Timespan(10, 0));
	second.callee.setReceiveTimeout(Poco::Timespan(10, 0));
	CPPUNIT_ASSERT(RelayTest::receiveExactly(first.callee, 32 * 1024) == data1.substr(burst));
	CPPUNIT_ASSERT(RelayTest::receiveExactly(second.callee, 32 * 1024) == data2.substr(burst));
	// The relay counts a chunk after writing it, so the count may trail the receiver a little.
	const auto expected = static_cast<std::int64_t>(data1.size() + data2.size());
	const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
	while (health(server, "bytes_relayed") != expected && std::chrono::steady_clock::now() < deadline)
		std::this_thread::sleep_for(std::chrono::milliseconds(10));
	CPPUNIT_ASSERT_EQUAL(expected, health(server, "bytes_relayed"));
}


void RelayTunnelTest::testTunnelIdleTimeout()
{
	RelayServerConfig config = RelayTest::testConfig();
	config.tunnelIdleTimeout = std::chrono::seconds(1);
	RelayServer server(config);
	server.start();
	HttpClient client(server.port());
	const Identity alice = Identity::generate();
	const Identity bob = Identity::generate();
	ControlClient bobControl(server.port());
	bobControl.authenticate(bob);
	Tunnel tunnel = establish(server.port(), client, alice, bobControl, bob);
	RelayTest::sendAll(tunnel.caller, "hi");
	CPPUNIT_ASSERT_EQUAL(std::string("hi"), RelayTest::receiveExactly(tunnel.callee, 2));
	const auto started = std::chrono::steady_clock::now();
	CPPUNIT_ASSERT(RelayTest::waitForClose(tunnel.caller, std::chrono::milliseconds(6000)));
	CPPUNIT_ASSERT(RelayTest::waitForClose(tunnel.callee, std::chrono::milliseconds(6000)));
	CPPUNIT_ASSERT(std::chrono::steady_clock::now() - started >= std::chrono::milliseconds(700));
}


void RelayTunnelTest::testTunnelJoinTimeout()
{
	RelayServerConfig config = RelayTest::testConfig();
	config.tunnelJoinTimeout = std::chrono::seconds(1);
	RelayServer server(config);
	server.start();
	HttpClient client(server.port());
	const Identity alice = Identity::generate();
	const Identity bob = Identity::generate();
	ControlClient bobControl(server.port());
	bobControl.authenticate(bob);
	const std::string token = openTunnel(client, alice, bob);
	const std::string calleeToken = bobControl.expect("invite").body->getValue<std::string>("token");
	Poco::Net::StreamSocket caller = join(server.port(), token);
	CPPUNIT_ASSERT(RelayTest::waitForClose(caller, std::chrono::milliseconds(6000)));
	int status = 0;
	RelayTest::upgrade(server.port(), API + "/tunnels/" + calleeToken, RelayProtocol::UPGRADE_TUNNEL, status);
	CPPUNIT_ASSERT_EQUAL(404, status);
	CPPUNIT_ASSERT_EQUAL(std::int64_t(0), settledHealth(server, "tunnels", 0));
}
