//
// ChatRelayTest.cpp
//
// testsuite: ChatNode through an in-process relay (RelayServer on 127.0.0.1, port 0). All
// nodes share one EventLoop in the test thread; the relay runs its own threads. Waits are on
// conditions; the time limit only turns a hang into a failure.
//


#include "ChatRelayTest.h"
#include "CrossChat/Chat/ChatNode.h"
#include "CrossChat/EventLoop.h"
#include "CrossChat/Identity.h"
#include "CrossChat/Relay/RelayServer.h"
#include <algorithm>
#include <functional>
#include <memory>
#include <string>
#include <vector>


using namespace CrossChat;
using namespace CrossChat::Chat;
using namespace std::chrono_literals;


namespace {


bool runUntil(EventLoop& loop, const std::function<bool()>& done, std::chrono::seconds limit = std::chrono::seconds(30))
{
	bool timedOut = false;
	TimerHandle check = loop.runEvery(2ms, [&] { if (done()) loop.stop(); });
	TimerHandle guard = loop.runAfter(limit, [&] { timedOut = true; loop.stop(); });
	if (!done()) loop.run();
	return !timedOut && done();
}


std::unique_ptr<Relay::RelayServer> startRelay(std::uint16_t port = 0)
{
	Relay::RelayServerConfig config;
	config.bind = Poco::Net::SocketAddress("127.0.0.1", port);
	config.eventLoops = 1;
	config.httpThreads = 4;
	config.requestsPerSecondPerIp = 1000;
	auto relay = std::make_unique<Relay::RelayServer>(config);
	relay->start();
	return relay;
}


ChatNodeConfig relayConfig(const std::string& name, std::uint16_t relayPort)
{
	ChatNodeConfig config;
	config.name = name;
	config.listenAddress = Poco::Net::SocketAddress("127.0.0.1", 0);
	config.enableLan = false;
	config.reconnectMin = 20ms;
	config.reconnectMax = 200ms;
	config.relayUrl = "http://127.0.0.1:" + std::to_string(relayPort);
	config.relayRetryMin = 50ms;
	config.relayRetryMax = 300ms;
	return config;
}


struct Recorder
{
	std::vector<ChatMessage> messages;
	std::vector<std::string> delivered;
	std::vector<std::string> errors;
	std::vector<std::string> relayStates;
	std::vector<std::pair<ChatNode::PeerChange, PeerInfo>> peerEvents;

	void attach(ChatNode& node)
	{
		node.setMessageHandler([this](const ChatMessage& m) { messages.push_back(m); });
		node.setDeliveredHandler([this](const std::string& id, const PeerId&) { delivered.push_back(id); });
		node.setErrorHandler([this](const std::string& e) { errors.push_back(e); });
		node.setRelayHandler([this](const std::string& state, const std::string&) { relayStates.push_back(state); });
		node.setPeerHandler([this](ChatNode::PeerChange c, const PeerInfo& p) { peerEvents.emplace_back(c, p); });
	}

	bool sawRelayState(const std::string& state) const
	{
		return std::find(relayStates.begin(), relayStates.end(), state) != relayStates.end();
	}
};


} // namespace


void ChatRelayTest::testTunnelWhenDirectImpossible()
{
	auto relay = startRelay();
	EventLoop loop;
	Identity idA = Identity::generate();
	Identity idB = Identity::generate();
	ChatNodeConfig configB = relayConfig("bob", relay->port());
	configB.relayAnnounceAddresses = false;   // Bob can only be reached through the relay
	ChatNode a(loop, idA, relayConfig("alice", relay->port()));
	ChatNode b(loop, idB, configB);
	Recorder ra, rb;
	ra.attach(a);
	rb.attach(b);
	a.start();
	b.start();
	CPPUNIT_ASSERT(runUntil(loop, [&] { return a.relayState() == "online" && b.relayState() == "online"; }));
	CPPUNIT_ASSERT(a.reflexiveAddress().has_value());
	CPPUNIT_ASSERT_EQUAL(std::string("127.0.0.1"), a.reflexiveAddress()->host().toString());

	// Alice has never seen Bob: only his ID.
	const std::string id = a.send(idB.peerId(), "through the relay");
	CPPUNIT_ASSERT(runUntil(loop, [&] { return ra.delivered.size() == 1 && rb.messages.size() == 1; }));
	CPPUNIT_ASSERT_EQUAL(id, ra.delivered[0]);
	CPPUNIT_ASSERT_EQUAL(std::string("through the relay"), rb.messages[0].text);
	CPPUNIT_ASSERT_EQUAL(std::string("relay"), rb.messages[0].path);
	CPPUNIT_ASSERT_EQUAL(std::string("alice"), rb.messages[0].name);
	auto bobSeenByAlice = a.peer(idB.peerId());
	CPPUNIT_ASSERT(bobSeenByAlice && bobSeenByAlice->connected);
	CPPUNIT_ASSERT_EQUAL(std::string("relay"), bobSeenByAlice->path);
	CPPUNIT_ASSERT_EQUAL(std::string("relay"), bobSeenByAlice->via);
	CPPUNIT_ASSERT(a.stats().relayTunnels >= 1);
	CPPUNIT_ASSERT(b.stats().relayTunnels >= 1);
	CPPUNIT_ASSERT_EQUAL(std::string("relay"), b.peer(idA.peerId())->via);   // invited through the relay

	// And back, over the same session.
	b.send(idA.peerId(), "and back");
	CPPUNIT_ASSERT(runUntil(loop, [&] { return ra.messages.size() == 1 && rb.delivered.size() == 1; }));
	CPPUNIT_ASSERT_EQUAL(std::string("relay"), ra.messages[0].path);
	CPPUNIT_ASSERT_EQUAL(std::string("and back"), ra.messages[0].text);
}


void ChatRelayTest::testDirectAfterLookup()
{
	auto relay = startRelay();
	EventLoop loop;
	Identity idA = Identity::generate();
	Identity idB = Identity::generate();
	ChatNode a(loop, idA, relayConfig("alice", relay->port()));
	ChatNode b(loop, idB, relayConfig("bob", relay->port()));
	Recorder ra, rb;
	ra.attach(a);
	rb.attach(b);
	a.start();
	b.start();
	CPPUNIT_ASSERT(runUntil(loop, [&] { return a.relayState() == "online" && b.relayState() == "online"; }));
	// Bob announced his chat port; the relay filled in the address it saw him at, which
	// Alice can reach directly: no tunnel needed.
	a.send(idB.peerId(), "direct after lookup");
	CPPUNIT_ASSERT(runUntil(loop, [&] { return ra.delivered.size() == 1 && rb.messages.size() == 1; }));
	CPPUNIT_ASSERT_EQUAL(std::string("direct"), rb.messages[0].path);
	CPPUNIT_ASSERT_EQUAL(std::string("relay"), a.peer(idB.peerId())->via);
	CPPUNIT_ASSERT(a.stats().relayLookups >= 1);
	CPPUNIT_ASSERT_EQUAL(std::uint64_t(0), a.stats().relayTunnels);
}


void ChatRelayTest::testRelayRestartDeliversQueuedOnce()
{
	auto relay = startRelay();
	const std::uint16_t port = relay->port();
	EventLoop loop;
	Identity idA = Identity::generate();
	Identity idB = Identity::generate();
	ChatNodeConfig configB = relayConfig("bob", port);
	configB.relayAnnounceAddresses = false;
	ChatNode a(loop, idA, relayConfig("alice", port));
	ChatNode b(loop, idB, configB);
	Recorder ra, rb;
	ra.attach(a);
	rb.attach(b);
	a.start();
	b.start();
	CPPUNIT_ASSERT(runUntil(loop, [&] { return a.relayState() == "online" && b.relayState() == "online"; }));

	relay->stop();
	relay.reset();
	CPPUNIT_ASSERT(runUntil(loop, [&] { return a.relayState() == "offline" && b.relayState() == "offline"; }));
	const std::string id = a.send(idB.peerId(), "sent while the relay was down");
	// Alice tries (lookup and tunnel fail) and waits.
	CPPUNIT_ASSERT(runUntil(loop, [&] { return a.stats().relayLookups >= 1 && !ra.errors.empty(); }));
	CPPUNIT_ASSERT(rb.messages.empty());

	relay = startRelay(port);   // same address: the clients find it again on their own
	CPPUNIT_ASSERT(runUntil(loop, [&] { return ra.delivered.size() == 1 && rb.messages.size() == 1; }));
	CPPUNIT_ASSERT_EQUAL(id, ra.delivered[0]);
	CPPUNIT_ASSERT_EQUAL(std::string("sent while the relay was down"), rb.messages[0].text);
	CPPUNIT_ASSERT(a.relayState() == "online");
	// Once: give any duplicate a chance to show up, then count again.
	bool settled = false;
	TimerHandle settle = loop.runAfter(300ms, [&] { settled = true; });
	CPPUNIT_ASSERT(runUntil(loop, [&] { return settled; }));
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), rb.messages.size());
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), ra.delivered.size());
}


void ChatRelayTest::testUnreachableRelayKeepsLanChat()
{
	// A port nobody listens on: bind and release one.
	std::uint16_t deadPort;
	{
		auto relay = startRelay();
		deadPort = relay->port();
	}
	EventLoop loop;
	Identity idA = Identity::generate();
	Identity idB = Identity::generate();
	ChatNode a(loop, idA, relayConfig("alice", deadPort));
	ChatNode b(loop, idB, relayConfig("bob", deadPort));
	Recorder ra, rb;
	ra.attach(a);
	rb.attach(b);
	a.start();
	b.start();
	CPPUNIT_ASSERT(runUntil(loop, [&] { return ra.sawRelayState("offline"); }));
	CPPUNIT_ASSERT_EQUAL(std::string("offline"), a.relayState());
	// Peers known directly still chat.
	a.addPeerAddress(idB.peerId(), Poco::Net::SocketAddress("127.0.0.1", b.port()));
	a.send(idB.peerId(), "no relay needed");
	CPPUNIT_ASSERT(runUntil(loop, [&] { return ra.delivered.size() == 1; }));
	CPPUNIT_ASSERT_EQUAL(std::string("direct"), rb.messages.at(0).path);
}
