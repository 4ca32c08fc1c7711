//
// RelayNatTest.cpp
//
// testsuite: NAT probing and hole-punch coordination. The relay runs in-process on 127.0.0.1
// port 0; RelayClients share one EventLoop in the test thread; raw ControlClients script the
// relay-side checks. Tests wait for events (runUntil); the limits only turn a hang into a
// failure, except in testPunchUnanswered, whose subject is the punch timeout.
//


#include "RelayNatTest.h"
#include "RelayTestSupport.h"
#include "CrossChat/EventLoop.h"
#include "CrossChat/EventLoopThread.h"
#include "CrossChat/Identity.h"
#include "CrossChat/TcpConnection.h"
#include "CrossChat/Relay/RelayClient.h"
#include "CrossChat/Relay/RelayProtocol.h"
#include "CrossChat/Relay/RelayServer.h"
#include "Poco/JSON/Array.h"
#include "Poco/JSON/Parser.h"
#include "Poco/Net/NetException.h"
#include "Poco/Net/ServerSocket.h"
#include "Poco/Net/StreamSocket.h"
#include "Poco/URI.h"
#include <algorithm>
#include <atomic>
#include <future>
#include <mutex>
#include <cstdio>
#include <functional>
#include <memory>
#include <optional>
#include <string>
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


std::string readAll(std::uint16_t port, Poco::Net::SocketAddress* pLocal = nullptr)
	/// Connects to 127.0.0.1:port and reads until the peer closes.
{
	Poco::Net::StreamSocket socket;
	socket.connect(Poco::Net::SocketAddress("127.0.0.1", port), Poco::Timespan(5, 0));
	if (pLocal) *pLocal = socket.address();
	socket.setReceiveTimeout(Poco::Timespan(5, 0));
	std::string data;
	char buffer[512];
	try
	{
		while (true)
		{
			const int n = socket.receiveBytes(buffer, sizeof(buffer));
			if (n <= 0) break;
			data.append(buffer, static_cast<std::size_t>(n));
		}
	}
	catch (const Poco::Net::ConnectionResetException&)
	{
	}
	return data;
}


std::unique_ptr<RelayServer> startRelay(std::optional<std::uint16_t> probePort = std::nullopt)
{
	RelayServerConfig config = RelayTest::testConfig();
	config.eventLoops = 1;
	config.probePort = probePort;
	auto pServer = std::make_unique<RelayServer>(config);
	pServer->start();
	return pServer;
}


Poco::JSON::Object punchBody(const PeerId& to, const std::string& phase, const std::vector<std::string>& addrs = {})
{
	Poco::JSON::Object body;
	body.set("to", to.toString());
	body.set("phase", phase);
	Poco::JSON::Array::Ptr pAddrs = new Poco::JSON::Array;
	for (const auto& address: addrs) pAddrs->add(address);
	body.set("addrs", pAddrs);
	return body;
}


struct Peer
	/// A RelayClient with a fresh identity, recording NAT updates and punch messages.
{
	Identity identity;
	RelayClient client;
	std::vector<NatInfo> natUpdates;
	std::vector<PunchMessage> punches;              ///< Received from peers.
	std::vector<std::string> punchErrors;

	Peer(EventLoop& loop, std::uint16_t port, const std::string& name):
		identity(Identity::generate()),
		client(loop, identity, config(port, name))
	{
		client.setNatHandler([this](const NatInfo& info) { natUpdates.push_back(info); });
		client.setPunchHandler([this](const PunchMessage& message) { punches.push_back(message); });
		client.setPunchErrorHandler([this](const PeerId& peer, const std::string& error) {
			punchErrors.push_back(peer.toString() + ": " + error);
		});
	}

	static RelayClientConfig config(std::uint16_t port, const std::string& name)
	{
		RelayClientConfig config;
		config.url = Poco::URI("http://127.0.0.1:" + std::to_string(port));
		config.name = name;
		config.requestTimeout = 3000ms;
		config.retryMin = 50ms;
		config.retryMax = 400ms;
		return config;
	}

	bool probed() const
	{
		return client.state() == RelayClient::State::ONLINE && client.natInfo().localPort != 0;
	}

	PeerId id() const
	{
		return identity.peerId();
	}
};


} // namespace


void RelayNatTest::testProbePortAnswersObservedAddress()
{
	auto pServer = startRelay();
	CPPUNIT_ASSERT(pServer->probePort() != 0);
	CPPUNIT_ASSERT(pServer->probePort() != pServer->port());
	Poco::Net::SocketAddress local;
	const std::string answer = readAll(pServer->probePort(), &local);
	CPPUNIT_ASSERT(!answer.empty() && answer.back() == '\n');
	CPPUNIT_ASSERT(answer.size() <= RelayProtocol::PROBE_MAX_LINE);
	const Poco::JSON::Object::Ptr pAnswer = Poco::JSON::Parser().parse(answer).extract<Poco::JSON::Object::Ptr>();
	CPPUNIT_ASSERT_EQUAL(local.toString(), pAnswer->getValue<std::string>("observed"));

	// The welcome tells clients where the probe port is, and /metrics counts probes.
	const Identity identity = Identity::generate();
	RelayTest::ControlClient control(pServer->port());
	const Message welcome = control.authenticate(identity);
	CPPUNIT_ASSERT_EQUAL(static_cast<int>(pServer->probePort()), welcome.body->getValue<int>("probe_port"));
	const std::string metrics = RelayTest::HttpClient(pServer->port()).request("GET", "/metrics").body;
	CPPUNIT_ASSERT(metrics.find("crosschat_relay_probes_answered_total 1\n") != std::string::npos);
}


void RelayNatTest::testProbePortDisabled()
{
	auto pServer = startRelay(std::uint16_t(0));
	CPPUNIT_ASSERT_EQUAL(std::uint16_t(0), pServer->probePort());
	const Identity identity = Identity::generate();
	RelayTest::ControlClient control(pServer->port());
	CPPUNIT_ASSERT(!control.authenticate(identity).body->has("probe_port"));

	// An explicit probe port is bound as given.
	Poco::Net::ServerSocket probe(Poco::Net::SocketAddress("127.0.0.1", 0));
	const std::uint16_t freePort = probe.address().port();
	probe.close();
	auto pExplicit = startRelay(freePort);
	CPPUNIT_ASSERT_EQUAL(freePort, pExplicit->probePort());
}


void RelayNatTest::testProbeRateLimited()
{
	RelayTest::ManualClock clock;   // no refill while the test runs
	RelayServerConfig config = RelayTest::testConfig();
	config.clock = clock.function();
	config.requestsPerSecondPerIp = 1;   // burst 2
	RelayServer server(config);
	server.start();
	CPPUNIT_ASSERT(!readAll(server.probePort()).empty());
	CPPUNIT_ASSERT(!readAll(server.probePort()).empty());
	CPPUNIT_ASSERT(readAll(server.probePort()).empty());   // closed without an answer
	const std::string metrics = RelayTest::HttpClient(server.port()).request("GET", "/metrics").body;
	CPPUNIT_ASSERT(metrics.find("crosschat_relay_probes_answered_total 2\n") != std::string::npos);
}


void RelayNatTest::testRelayForwardsPunch()
{
	auto pServer = startRelay();
	const Identity alice = Identity::generate();
	const Identity bob = Identity::generate();
	RelayTest::ControlClient aliceControl(pServer->port());
	RelayTest::ControlClient bobControl(pServer->port());
	aliceControl.authenticate(alice);
	bobControl.authenticate(bob);

	Poco::JSON::Object punch = punchBody(bob.peerId(), "connect", {"192.0.2.1:4000", "[2001:db8::1]:4001"});
	punch.set("nat", "eim");
	punch.set("attempt", 2);
	aliceControl.send("punch", punch);
	const Message forwarded = bobControl.expect("punch");
	CPPUNIT_ASSERT_EQUAL(alice.peerId().toString(), forwarded.body->getValue<std::string>("from"));
	CPPUNIT_ASSERT(!forwarded.body->has("to"));
	CPPUNIT_ASSERT_EQUAL(std::string("connect"), forwarded.body->getValue<std::string>("phase"));
	CPPUNIT_ASSERT_EQUAL(std::string("eim"), forwarded.body->getValue<std::string>("nat"));
	CPPUNIT_ASSERT_EQUAL(2, forwarded.body->getValue<int>("attempt"));
	const Poco::JSON::Array::Ptr pAddrs = forwarded.body->getArray("addrs");
	CPPUNIT_ASSERT_EQUAL(std::size_t(2), pAddrs->size());
	CPPUNIT_ASSERT_EQUAL(std::string("192.0.2.1:4000"), pAddrs->getElement<std::string>(0));
	CPPUNIT_ASSERT_EQUAL(std::string("[2001:db8::1]:4001"), pAddrs->getElement<std::string>(1));

	// The answer goes back the same way, with the reply flag.
	Poco::JSON::Object answer = punchBody(alice.peerId(), "connect", {"198.51.100.2:5000"});
	answer.set("reply", true);
	bobControl.send("punch", answer);
	const Message back = aliceControl.expect("punch");
	CPPUNIT_ASSERT_EQUAL(bob.peerId().toString(), back.body->getValue<std::string>("from"));
	CPPUNIT_ASSERT(back.body->getValue<bool>("reply"));
	CPPUNIT_ASSERT_EQUAL(std::string("unknown"), back.body->getValue<std::string>("nat"));
	CPPUNIT_ASSERT_EQUAL(1, back.body->getValue<int>("attempt"));
	const std::string metrics = RelayTest::HttpClient(pServer->port()).request("GET", "/metrics").body;
	CPPUNIT_ASSERT(metrics.find("crosschat_relay_punches_forwarded_total 2\n") != std::string::npos);
}


void RelayNatTest::testRelayPunchErrors()
{
	auto pServer = startRelay();
	const Identity alice = Identity::generate();
	RelayTest::ControlClient aliceControl(pServer->port());
	aliceControl.authenticate(alice);

	// Offline target: an error naming the peer, and the channel stays open.
	const PeerId nobody = Identity::generate().peerId();
	aliceControl.send("punch", punchBody(nobody, "connect"));
	const Message offline = aliceControl.expect("error");
	CPPUNIT_ASSERT_EQUAL(std::string("offline"), offline.body->getValue<std::string>("code"));
	CPPUNIT_ASSERT_EQUAL(nobody.toString(), offline.body->getValue<std::string>("peer"));
	Poco::JSON::Object ping;
	ping.set("n", 7);
	aliceControl.send("ping", ping);
	CPPUNIT_ASSERT_EQUAL(7, aliceControl.expect("pong").body->getValue<int>("n"));

	// Rate limit: 10 per second with a burst of 20.
	int limited = 0;
	for (int i = 0; i < 30; ++i) aliceControl.send("punch", punchBody(nobody, "sync"));
	for (int i = 0; i < 30; ++i)
	{
		const Message error = aliceControl.expect("error");
		if (error.body->getValue<std::string>("code") == "rate_limited") ++limited;
	}
	CPPUNIT_ASSERT(limited >= 5);

	// A malformed punch is a protocol violation: error, then the channel closes.
	RelayTest::ControlClient other(pServer->port());
	other.authenticate(Identity::generate());
	other.send("punch", punchBody(alice.peerId(), "connect", {"example.com:80"}));
	CPPUNIT_ASSERT_EQUAL(std::string("protocol"), other.expect("error").body->getValue<std::string>("code"));
	CPPUNIT_ASSERT(other.waitForClose());
}


void RelayNatTest::testNatClassification()
{
	using Mapping = NatType;
	using Address = Poco::Net::SocketAddress;
	const Address local("192.168.1.10", 40000);
	CPPUNIT_ASSERT(NatInfo::classify(local, std::nullopt, std::nullopt) == Mapping::UNKNOWN);
	CPPUNIT_ASSERT(NatInfo::classify(Address("203.0.113.5", 40000), Address("203.0.113.5", 40000), std::nullopt) == Mapping::NONE);
	CPPUNIT_ASSERT(NatInfo::classify(local, Address("203.0.113.5", 40000), std::nullopt) == Mapping::UNKNOWN);
	CPPUNIT_ASSERT(NatInfo::classify(local, Address("203.0.113.5", 40000), Address("203.0.113.5", 40000)) == Mapping::ENDPOINT_INDEPENDENT);
	CPPUNIT_ASSERT(NatInfo::classify(local, Address("203.0.113.5", 40000), Address("203.0.113.5", 40001)) == Mapping::ENDPOINT_DEPENDENT);
	CPPUNIT_ASSERT(NatInfo::classify(local, Address("203.0.113.5", 40000), Address("203.0.113.6", 40000)) == Mapping::ENDPOINT_DEPENDENT);
	CPPUNIT_ASSERT(NatInfo::classify(Address("203.0.113.5", 1), Address("[::ffff:203.0.113.5]:2"), std::nullopt) == Mapping::NONE);
	for (NatType type: {NatType::UNKNOWN, NatType::NONE, NatType::ENDPOINT_INDEPENDENT, NatType::ENDPOINT_DEPENDENT})
		CPPUNIT_ASSERT(parseNatType(natTypeName(type)) == type);
	CPPUNIT_ASSERT_EQUAL(std::string("eim"), std::string(natTypeName(Mapping::ENDPOINT_INDEPENDENT)));
	CPPUNIT_ASSERT_EQUAL(std::string("edm"), std::string(natTypeName(Mapping::ENDPOINT_DEPENDENT)));
	CPPUNIT_ASSERT(!parseNatType("symmetric"));
}


void RelayNatTest::testNatInfoOnLoopback()
{
	auto pServer = startRelay();
	EventLoop loop;
	Peer alice(loop, pServer->port(), "alice");
	CPPUNIT_ASSERT_EQUAL(std::uint16_t(0), alice.client.punchPort());
	alice.client.start();
	CPPUNIT_ASSERT(runUntil(loop, [&] { return !alice.natUpdates.empty(); }));
	const NatInfo info = alice.client.natInfo();
	CPPUNIT_ASSERT(info == alice.natUpdates.back());
	CPPUNIT_ASSERT(info.mapping == NatType::NONE);   // 127.0.0.1 is our own address
	CPPUNIT_ASSERT(info.reflexive && info.probeReflexive);
	CPPUNIT_ASSERT(alice.client.punchPort() != 0);
	CPPUNIT_ASSERT_EQUAL(alice.client.punchPort(), info.localPort);
	CPPUNIT_ASSERT_EQUAL(info.localPort, info.reflexive->port());        // control channel from the punch port
	CPPUNIT_ASSERT_EQUAL(info.localPort, info.probeReflexive->port());   // and the probe from the same port
	CPPUNIT_ASSERT_EQUAL(std::string("127.0.0.1"), info.reflexive->host().toString());

	// Losing the relay empties the information; reconnecting probes again.
	const std::uint16_t relayPort = pServer->port();
	const std::uint16_t probePort = pServer->probePort();
	pServer->stop();
	CPPUNIT_ASSERT(runUntil(loop, [&] { return alice.client.natInfo().localPort == 0; }));
	CPPUNIT_ASSERT(alice.natUpdates.back().mapping == NatType::UNKNOWN);
	CPPUNIT_ASSERT_EQUAL(std::uint16_t(0), alice.client.punchPort());
	RelayServerConfig config = RelayTest::testConfig();
	config.bind = Poco::Net::SocketAddress("127.0.0.1", relayPort);
	config.probePort = probePort;
	RelayServer restarted(config);
	restarted.start();
	const std::size_t updates = alice.natUpdates.size();
	CPPUNIT_ASSERT(runUntil(loop, [&] { return alice.natUpdates.size() > updates && alice.probed(); }));
	CPPUNIT_ASSERT(alice.client.natInfo().mapping == NatType::NONE);
	CPPUNIT_ASSERT_EQUAL(alice.client.punchPort(), alice.client.natInfo().probeReflexive->port());
}


void RelayNatTest::testNatInfoWithoutProbePort()
{
	auto pServer = startRelay(std::uint16_t(0));
	EventLoop loop;
	Peer alice(loop, pServer->port(), "alice");
	alice.client.start();
	CPPUNIT_ASSERT(runUntil(loop, [&] { return !alice.natUpdates.empty(); }));
	const NatInfo info = alice.client.natInfo();
	CPPUNIT_ASSERT(!info.probeReflexive);
	CPPUNIT_ASSERT(info.reflexive);
	CPPUNIT_ASSERT(info.mapping == NatType::NONE);   // decided by the control channel alone
}


void RelayNatTest::testPunchMessagesThroughClients()
{
	auto pServer = startRelay();
	EventLoop loop;
	Peer alice(loop, pServer->port(), "alice");
	Peer bob(loop, pServer->port(), "bob");
	PunchMessage connect;
	connect.peer = bob.id();
	CPPUNIT_ASSERT(!alice.client.sendPunch(connect));   // not online: nothing sent
	alice.client.start();
	bob.client.start();
	CPPUNIT_ASSERT(runUntil(loop, [&] { return alice.probed() && bob.probed(); }));

	connect.addresses = {*alice.client.natInfo().reflexive, Poco::Net::SocketAddress("192.0.2.8", 4444)};
	connect.nat = NatType::ENDPOINT_INDEPENDENT;
	connect.attempt = 2;
	CPPUNIT_ASSERT(alice.client.sendPunch(connect));
	CPPUNIT_ASSERT(runUntil(loop, [&] { return !bob.punches.empty(); }));
	const PunchMessage received = bob.punches.front();
	CPPUNIT_ASSERT(received.peer == alice.id());   // the sender, as the relay vouches
	CPPUNIT_ASSERT(received.phase == PunchMessage::Phase::CONNECT);
	CPPUNIT_ASSERT(received.nat == NatType::ENDPOINT_INDEPENDENT);
	CPPUNIT_ASSERT_EQUAL(std::int64_t(2), received.attempt);
	CPPUNIT_ASSERT(!received.reply);
	CPPUNIT_ASSERT(received.addresses == connect.addresses);

	// The relay forwards an answer only to whoever asked, and a sync only to whoever answered
	// (privacy: each side's address, which the relay adds, only inside a punch both take part in).
	PunchMessage answer;
	answer.peer = alice.id();
	answer.reply = true;
	answer.addresses = {*bob.client.natInfo().reflexive};
	CPPUNIT_ASSERT(bob.client.sendPunch(answer));
	CPPUNIT_ASSERT(runUntil(loop, [&] { return !alice.punches.empty(); }));
	CPPUNIT_ASSERT(alice.punches.front().peer == bob.id());
	CPPUNIT_ASSERT(alice.punches.front().phase == PunchMessage::Phase::CONNECT);
	CPPUNIT_ASSERT(alice.punches.front().reply);
	CPPUNIT_ASSERT(alice.punches.front().observed.has_value());   // bob as the relay sees him
	PunchMessage sync;
	sync.peer = bob.id();
	sync.phase = PunchMessage::Phase::SYNC;
	sync.attempt = 2;
	CPPUNIT_ASSERT(alice.client.sendPunch(sync));
	CPPUNIT_ASSERT(runUntil(loop, [&] { return bob.punches.size() == 2; }));
	CPPUNIT_ASSERT(bob.punches.back().phase == PunchMessage::Phase::SYNC);
	CPPUNIT_ASSERT(bob.punches.back().observed.has_value());
	CPPUNIT_ASSERT(alice.punchErrors.empty() && bob.punchErrors.empty());
	// A sync nobody answered is refused.
	CPPUNIT_ASSERT(bob.client.sendPunch(PunchMessage{PunchMessage::Phase::SYNC, alice.id(), {}, NatType::UNKNOWN, 1, false, std::nullopt}));
	CPPUNIT_ASSERT(runUntil(loop, [&] { return !bob.punchErrors.empty(); }));
	CPPUNIT_ASSERT(bob.client.state() == RelayClient::State::ONLINE);

	// A punch to a peer that is not online comes back as a punch error; the channel stays up.
	PunchMessage lost;
	lost.peer = Identity::generate().peerId();
	CPPUNIT_ASSERT(alice.client.sendPunch(lost));
	CPPUNIT_ASSERT(runUntil(loop, [&] { return !alice.punchErrors.empty(); }));
	CPPUNIT_ASSERT(alice.punchErrors.front().find(lost.peer.toString() + ": ") == 0);
	CPPUNIT_ASSERT(alice.punchErrors.front().find("is not connected to relay") != std::string::npos);
	CPPUNIT_ASSERT(alice.client.state() == RelayClient::State::ONLINE);

	// Losing the relay: sendPunch refuses at once.
	pServer->stop();
	CPPUNIT_ASSERT(runUntil(loop, [&] { return alice.client.state() != RelayClient::State::ONLINE; }));
	CPPUNIT_ASSERT(!alice.client.sendPunch(connect));
}


void RelayNatTest::testSimultaneousOpenOnLoopback()
	/// Each side dials the other's reflexive address from its punch port on its own thread,
	/// again after every refusal, as a ChatNode would: with no listener anywhere, only a TCP
	/// simultaneous open can connect them. On loopback a SYN that finds no SYN_SENT socket is
	/// refused within microseconds, so the two dialers need their own threads to overlap.
{
	auto pServer = startRelay();
	EventLoop loop;
	Peer alice(loop, pServer->port(), "alice");
	Peer bob(loop, pServer->port(), "bob");
	alice.client.start();
	bob.client.start();
	CPPUNIT_ASSERT(runUntil(loop, [&] { return alice.probed() && bob.probed(); }));

	class Dialer
		/// Dials remote from 0.0.0.0:localPort on its own loop until connected or the deadline.
	{
	public:
		explicit Dialer(std::uint16_t port):
			_localPort(port),
			_thread("Dialer")
		{
		}

		~Dialer()
		{
			std::promise<void> done;
			_thread.loop().post([this, &done] {
				if (_pConnection)
				{
					_pConnection->setConnectHandler(nullptr);
					_pConnection->setDataHandler(nullptr);
					_pConnection->setCloseHandler(nullptr);
					_pConnection->abort("test over");
				}
				done.set_value();
			});
			done.get_future().wait();
			_thread.stop();
		}

		void start(const Poco::Net::SocketAddress& remote, std::chrono::steady_clock::time_point deadline)
		{
			_thread.loop().post([this, remote, deadline] { dial(remote, deadline); });
		}

		std::atomic<bool> connected{false};
		std::atomic<int> attempts{0};
		std::atomic<std::uint16_t> localPort{0};
		std::atomic<std::uint16_t> remotePort{0};
		std::mutex mutex;
		std::string received;

	private:
		void dial(const Poco::Net::SocketAddress& remote, std::chrono::steady_clock::time_point deadline)
		{
			if (connected || std::chrono::steady_clock::now() > deadline) return;
			++attempts;
			_pConnection = TcpConnection::connectFrom(_thread.loop(), Poco::Net::SocketAddress("0.0.0.0", _localPort), remote, 1000ms);
			_pConnection->setConnectHandler([this] {
				localPort = _pConnection->localAddress().port();
				remotePort = _pConnection->peerAddress().port();
				connected = true;
				_pConnection->send("hello from " + std::to_string(_localPort));
			});
			_pConnection->setDataHandler([this](const char* data, std::size_t size) {
				std::lock_guard<std::mutex> lock(mutex);
				received.append(data, size);
			});
			_pConnection->setCloseHandler([this, remote, deadline](const std::string&) {
				if (!connected) dial(remote, deadline);
			});
		}

		const std::uint16_t _localPort;
		EventLoopThread _thread;
		TcpConnection::Ptr _pConnection;
	};

	Dialer aliceDialer(alice.client.punchPort());
	Dialer bobDialer(bob.client.punchPort());
	bool bobDialing = false;
	bool aliceDialing = false;
	const auto deadline = std::chrono::steady_clock::now() + 5s;
	// The simplest coordination: alice sends her reflexive address, bob dials it and answers
	// with his, alice dials that (the chat node's ladder adds the round-trip timing).
	bob.client.setPunchHandler([&](const PunchMessage& message) {
		bobDialing = true;
		bobDialer.start(message.addresses.front(), deadline);
		PunchMessage reply;
		reply.peer = message.peer;
		reply.reply = true;
		reply.addresses = {*bob.client.natInfo().reflexive};
		bob.client.sendPunch(reply);
	});
	alice.client.setPunchHandler([&](const PunchMessage& message) {
		aliceDialing = true;
		aliceDialer.start(message.addresses.front(), deadline);
	});
	PunchMessage connect;
	connect.peer = bob.id();
	connect.addresses = {*alice.client.natInfo().reflexive};
	CPPUNIT_ASSERT(alice.client.sendPunch(connect));
	const std::string toAlice = "hello from " + std::to_string(bob.client.punchPort());
	const std::string toBob = "hello from " + std::to_string(alice.client.punchPort());
	auto received = [](Dialer& dialer) {
		std::lock_guard<std::mutex> lock(dialer.mutex);
		return dialer.received;
	};
	CPPUNIT_ASSERT(runUntil(loop, [&] {
		return received(aliceDialer).size() >= toAlice.size() && received(bobDialer).size() >= toBob.size();
	}, 10s));
	CPPUNIT_ASSERT(aliceDialing && bobDialing);
	CPPUNIT_ASSERT_EQUAL(toAlice, received(aliceDialer));
	CPPUNIT_ASSERT_EQUAL(toBob, received(bobDialer));
	// One TCP connection between the two punch ports.
	CPPUNIT_ASSERT_EQUAL(alice.client.punchPort(), aliceDialer.localPort.load());
	CPPUNIT_ASSERT_EQUAL(bob.client.punchPort(), aliceDialer.remotePort.load());
	CPPUNIT_ASSERT_EQUAL(bob.client.punchPort(), bobDialer.localPort.load());
	CPPUNIT_ASSERT_EQUAL(alice.client.punchPort(), bobDialer.remotePort.load());
	std::printf(" [simultaneous open after %d + %d connect attempts] ", aliceDialer.attempts.load(), bobDialer.attempts.load());
}
