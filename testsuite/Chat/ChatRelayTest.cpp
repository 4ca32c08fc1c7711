//
// ChatRelayTest.cpp
//
// testsuite: ChatNode through an in-process relay (RelayServer on 127.0.0.1, port 0). All
// nodes share one EventLoop in the test thread; the relay runs its own threads. Waits are on
// conditions; the time limit only turns a hang into a failure.
//


#include "ChatRelayTest.h"
#include "../TestSupport.h"
#include "CrossChat/Chat/ChatNode.h"
#include "CrossChat/EventLoop.h"
#include "CrossChat/EventLoopThread.h"
#include "CrossChat/Identity.h"
#include "CrossChat/Relay/RelayServer.h"
#include "CrossChat/Relay/RelayTokens.h"
#include "Poco/File.h"
#include "Poco/FileStream.h"
#include "Poco/Path.h"
#include "Poco/StreamCopier.h"
#include <algorithm>
#include <functional>
#include <future>
#include <memory>
#include <string>
#include <vector>


using namespace CrossChat;
using namespace CrossChat::Chat;
using namespace std::chrono_literals;


using CrossChat::Test::runUntil;
using CrossChat::Test::TempDirectory;


namespace {


std::unique_ptr<Relay::RelayServer> startRelay(std::uint16_t port = 0, const std::string& dataDir = std::string(),
	Relay::RelayAccess access = Relay::RelayAccess::OPEN)
{
	Relay::RelayServerConfig config;
	config.bind = Poco::Net::SocketAddress("127.0.0.1", port);
	config.dataDir = dataDir;
	config.access = access;
	config.eventLoops = 1;
	config.requestsPerSecondPerIp = 1000;
	if (port != 0) config.probePort = 0;   // not port + 1: any test's client may hold that port by now
	auto relay = std::make_unique<Relay::RelayServer>(config);
	try
	{
		relay->start();
	}
	catch (const Poco::Exception& exc)
	{
		CPPUNIT_FAIL("the relay does not start on port " + std::to_string(port) + ": " + exc.displayText());
	}
	return relay;
}


ChatNodeConfig relayConfig(const std::string& name, std::uint16_t relayPort)
{
	ChatNodeConfig config;
	config.name = name;
	config.listenAddress = Poco::Net::SocketAddress("127.0.0.1", 0);
	config.enableLan = false;
	config.portMapping = false;   // unit tests talk to loopback only
	config.reconnectMin = 20ms;
	config.reconnectMax = 200ms;
	config.relayUrl = "http://127.0.0.1:" + std::to_string(relayPort);
	config.relayRetryMin = 50ms;
	config.relayRetryMax = 300ms;
	config.upgradeMin = 50ms;
	config.upgradeMax = 200ms;
	config.relayAnnounceAddresses = true;   // tests that need a peer reachable through the relay only say so
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


std::string fileBytes(const std::string& path)
	/// The file's bytes; empty if it does not exist.
{
	if (!Poco::File(path).exists()) return std::string();
	Poco::FileInputStream in(path);
	std::string bytes;
	Poco::StreamCopier::copyToString(in, bytes);
	return bytes;
}


bool settle(EventLoop& loop, std::chrono::milliseconds pause)
	/// Lets the loop run for pause (to give a wrong duplicate a chance to show up).
{
	bool settled = false;
	TimerHandle timer = loop.runAfter(pause, [&] { settled = true; });
	return runUntil(loop, [&] { return settled; });
}


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

	// And back. Bob's reply makes the two contacts of each other, so the ladder may upgrade
	// the session (a hole punch on loopback) before or after this message: either path is right.
	b.send(idA.peerId(), "and back");
	CPPUNIT_ASSERT(runUntil(loop, [&] { return ra.messages.size() == 1 && rb.delivered.size() == 1; }));
	CPPUNIT_ASSERT(ra.messages[0].path == "relay" || ra.messages[0].path == "direct");
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


void ChatRelayTest::testUpgradeToDirectKeepsOrder()
{
	auto relay = startRelay();
	EventLoop loop;
	Identity idA = Identity::generate();
	Identity idB = Identity::generate();
	ChatNodeConfig configA = relayConfig("alice", relay->port());
	configA.holePunching = false;   // only the known-address upgrade here
	ChatNodeConfig configB = relayConfig("bob", relay->port());
	configB.relayAnnounceAddresses = false;
	configB.holePunching = false;
	ChatNode a(loop, idA, configA);
	ChatNode b(loop, idB, configB);
	Recorder ra, rb;
	ra.attach(a);
	rb.attach(b);
	a.start();
	b.start();
	CPPUNIT_ASSERT(runUntil(loop, [&] { return a.relayState() == "online" && b.relayState() == "online"; }));
	a.send(idB.peerId(), "m0");
	CPPUNIT_ASSERT(runUntil(loop, [&] { return ra.delivered.size() == 1; }));
	CPPUNIT_ASSERT_EQUAL(std::string("relay"), a.peer(idB.peerId())->path);
	// Upgrades happen only between peers that are contacts of each other.
	CPPUNIT_ASSERT(rb.messages.at(0).request);
	b.accept(idA.peerId());
	CPPUNIT_ASSERT(runUntil(loop, [&] { return a.peer(idB.peerId())->consented; }));

	// Bob becomes reachable directly; messages keep flowing while the path changes.
	a.addPeerAddress(idB.peerId(), Poco::Net::SocketAddress("127.0.0.1", b.port()));
	for (int i = 1; i <= 30; ++i) a.send(idB.peerId(), "m" + std::to_string(i));
	CPPUNIT_ASSERT(runUntil(loop, [&] {
		auto info = a.peer(idB.peerId());
		return info->path == "direct" && ra.delivered.size() == 31;
	}));
	bool sawPath = false;
	for (const auto& event: ra.peerEvents)
		sawPath = sawPath || (event.first == ChatNode::PeerChange::PATH && event.second.path == "direct");
	CPPUNIT_ASSERT(sawPath);
	CPPUNIT_ASSERT(a.stats().upgrades >= 1);
	// Every message once, in the order sent.
	CPPUNIT_ASSERT_EQUAL(std::size_t(31), rb.messages.size());
	for (int i = 0; i <= 30; ++i) CPPUNIT_ASSERT_EQUAL("m" + std::to_string(i), rb.messages[static_cast<std::size_t>(i)].text);
	// The relayed session is gone; the direct one carries on.
	CPPUNIT_ASSERT(runUntil(loop, [&] { return a.sessionCount() == 1 && b.sessionCount() == 1; }));
	a.send(idB.peerId(), "after");
	CPPUNIT_ASSERT(runUntil(loop, [&] { return rb.messages.size() == 32; }));
	CPPUNIT_ASSERT_EQUAL(std::string("direct"), rb.messages.back().path);
}


void ChatRelayTest::testHolePunchUpgrade()
{
	// Neither side announces an address: only the relay tunnel, then a hole punch through the
	// ports both already use toward the relay (TCP simultaneous open on loopback). Bob runs on
	// his own loop thread: on one shared loop, a loopback SYN is refused before the other
	// side's connect() runs, so the two dials never cross.
	auto relay = startRelay();
	EventLoop loop;
	EventLoopThread bobThread("bob");
	EventLoop& bobLoop = bobThread.loop();
	auto onBob = [&bobLoop](auto fn) {
		std::packaged_task<decltype(fn())()> task(fn);
		auto result = task.get_future();
		bobLoop.post([&task] { task(); });
		return result.get();
	};
	Identity idA = Identity::generate();
	Identity idB = Identity::generate();
	ChatNodeConfig configA = relayConfig("alice", relay->port());
	ChatNodeConfig configB = relayConfig("bob", relay->port());
	configA.relayAnnounceAddresses = false;
	configB.relayAnnounceAddresses = false;
	ChatNode a(loop, idA, configA);
	Recorder ra;
	ra.attach(a);
	a.start();
	std::unique_ptr<ChatNode> b;
	std::vector<std::string> bobReceived;   // touched on Bob's loop only
	struct OnBobsLoop
		/// Bob's node is destroyed on his loop thread, also when an assertion fails.
	{
		std::function<void()> cleanup;
		~OnBobsLoop() { cleanup(); }
	} bobCleanup{[&] { onBob([&] { b.reset(); return 0; }); }};
	onBob([&] {
		b = std::make_unique<ChatNode>(bobLoop, idB, configB);
		b->setMessageHandler([&bobReceived](const ChatMessage& m) { bobReceived.push_back(m.path + ":" + m.text); });
		b->start();
		return 0;
	});
	auto bobState = [&] { return onBob([&] { return b->relayState(); }); };
	CPPUNIT_ASSERT(runUntil(loop, [&] { return a.relayState() == "online" && bobState() == "online"; }));
	a.send(idB.peerId(), "first");
	CPPUNIT_ASSERT(runUntil(loop, [&] { return onBob([&] { return bobReceived.size(); }) == 1; }));
	// Bob answers: now the two are contacts of each other, and the ladder may punch.
	onBob([&] { return b->send(idA.peerId(), "hi alice"); });
	CPPUNIT_ASSERT(runUntil(loop, [&] {
		auto info = a.peer(idB.peerId());
		return info && info->path == "direct";
	}));
	// The punch exchange ran, and a direct session it produced replaced the tunnel: on loopback
	// both sides have no NAT, so the direct session is the simultaneous open or a connection to
	// the other's listener (a candidate of the punch), whichever the session rules keep.
	const std::uint64_t punches = a.stats().punchAttempts + onBob([&] { return b->stats().punchAttempts; });
	const std::uint64_t upgrades = a.stats().upgrades + onBob([&] { return b->stats().upgrades; });
	CPPUNIT_ASSERT(punches >= 1);
	CPPUNIT_ASSERT(upgrades >= 1);
	a.send(idB.peerId(), "second");
	CPPUNIT_ASSERT(runUntil(loop, [&] { return onBob([&] { return bobReceived.size(); }) == 2; }));
	const auto received = onBob([&] { return bobReceived; });
	CPPUNIT_ASSERT_EQUAL(std::string("first"), received[0].substr(received[0].find(':') + 1));
	CPPUNIT_ASSERT_EQUAL(std::string("direct:second"), received[1]);
}


void ChatRelayTest::testContactTunnelPastStrangers()
{
	// Strangers' tunnels (keys are free; every tunnel comes from the relay's address) fill
	// Bob's sessions; a tunnel from a contact of his is still taken.
	auto relay = startRelay();
	EventLoop loop;
	Identity idB = Identity::generate();
	Identity idC = Identity::generate();
	ChatNodeConfig configB = relayConfig("bob", relay->port());
	configB.relayAnnounceAddresses = false;   // reachable through the relay only
	configB.maxSessions = 2;
	ChatNode b(loop, idB, configB);
	Recorder rb;
	rb.attach(b);
	b.start();
	b.accept(idC.peerId());
	// Declared before the nodes that refer to them (identities, handlers), so they outlive them.
	const std::vector<Identity> strangerIds{Identity::generate(), Identity::generate(), Identity::generate()};
	std::vector<Recorder> recorders(strangerIds.size());
	std::vector<std::unique_ptr<ChatNode>> strangers;
	for (std::size_t i = 0; i < strangerIds.size(); ++i)
	{
		strangers.push_back(std::make_unique<ChatNode>(loop, strangerIds[i], relayConfig("stranger" + std::to_string(i), relay->port())));
		recorders[i].attach(*strangers.back());
		strangers.back()->start();
	}
	ChatNode c(loop, idC, relayConfig("carol", relay->port()));
	Recorder rc;
	rc.attach(c);
	c.start();
	CPPUNIT_ASSERT(runUntil(loop, [&] {
		return b.relayState() == "online" && c.relayState() == "online"
			&& std::all_of(strangers.begin(), strangers.end(), [](const auto& s) { return s->relayState() == "online"; });
	}));
	// Two strangers take both of Bob's sessions (and keep them); a third is refused.
	strangers[0]->send(idB.peerId(), "one");
	strangers[1]->send(idB.peerId(), "two");
	CPPUNIT_ASSERT(runUntil(loop, [&] { return recorders[0].delivered.size() == 1 && recorders[1].delivered.size() == 1; }));
	strangers[2]->send(idB.peerId(), "three");
	CPPUNIT_ASSERT(runUntil(loop, [&] { return b.stats().sessionsRefused >= 1; }));
	CPPUNIT_ASSERT(recorders[2].delivered.empty());
	// Carol, whom Bob accepted, gets through.
	c.send(idB.peerId(), "from a contact");
	CPPUNIT_ASSERT(runUntil(loop, [&] { return rc.delivered.size() == 1; }));
	CPPUNIT_ASSERT_EQUAL(std::string("from a contact"), rb.messages.back().text);
	CPPUNIT_ASSERT(!rb.messages.back().request);
	CPPUNIT_ASSERT_EQUAL(std::string("relay"), rb.messages.back().path);
}


void ChatRelayTest::testMailboxNeverOnlineTogether()
{
	// Alice and Bob are never online at the same time; the relay restarts in between. The
	// relay keeps sealed envelopes only: its database never holds the text.
	TempDirectory dir;
	const std::string relayDir = dir.path("relay");
	auto relay = startRelay(0, relayDir);
	const std::uint16_t port = relay->port();
	EventLoop loop;
	Identity idA = Identity::generate();
	Identity idB = Identity::generate();
	ChatNodeConfig configA = relayConfig("alice", port);
	configA.databasePath = dir.path("alice.db");
	configA.relayAnnounceAddresses = false;
	ChatNodeConfig configB = relayConfig("bob", port);
	configB.databasePath = dir.path("bob.db");
	configB.relayAnnounceAddresses = false;

	// Bob once: his pre-keys reach the relay with his announce; Alice is his contact.
	{
		ChatNode b(loop, idB, configB);
		b.start();
		CPPUNIT_ASSERT(runUntil(loop, [&] { return b.relayState() == "online"; }));
		b.accept(idA.peerId());
		b.stop();
	}
	// Alice writes while Bob is away: the messages wait in her outbox and in his mailbox.
	std::string id1, id2;
	{
		ChatNode a(loop, idA, configA);
		Recorder ra;
		ra.attach(a);
		std::vector<std::string> deposited;
		a.setDepositedHandler([&](const std::string& id, const PeerId& to) {
			CPPUNIT_ASSERT(to == idB.peerId());
			deposited.push_back(id);
		});
		a.start();
		CPPUNIT_ASSERT(runUntil(loop, [&] { return a.relayState() == "online"; }));
		id1 = a.send(idB.peerId(), "the plaintext that no relay may keep");
		id2 = a.send(idB.peerId(), "and a second one");
		CPPUNIT_ASSERT(runUntil(loop, [&] { return deposited.size() == 2; }));
		CPPUNIT_ASSERT_EQUAL(id1, deposited[0]);
		CPPUNIT_ASSERT_EQUAL(id2, deposited[1]);
		CPPUNIT_ASSERT_EQUAL(std::uint64_t(2), a.stats().mailDeposited);
		CPPUNIT_ASSERT(ra.delivered.empty());
		CPPUNIT_ASSERT_EQUAL(std::size_t(2), a.pendingMessages());
		// Another failed round deposits nothing twice.
		const std::uint64_t rounds = a.stats().relayLookups;
		CPPUNIT_ASSERT(runUntil(loop, [&] { return a.stats().relayLookups > rounds + 1; }));
		CPPUNIT_ASSERT_EQUAL(std::uint64_t(2), a.stats().mailDeposited);
		a.stop();
	}
	// The relay goes away and comes back with what it acknowledged.
	relay->stop();
	relay.reset();
	relay = startRelay(port, relayDir);

	// Bob comes back: both messages, once each, from the mailbox; his receipts go to hers.
	{
		ChatNode b(loop, idB, configB);
		Recorder rb;
		rb.attach(b);
		b.start();
		CPPUNIT_ASSERT(runUntil(loop, [&] { return rb.messages.size() == 2 && b.stats().mailDeposited == 2; }));
		CPPUNIT_ASSERT_EQUAL(id1, rb.messages[0].id);
		CPPUNIT_ASSERT_EQUAL(std::string("the plaintext that no relay may keep"), rb.messages[0].text);
		CPPUNIT_ASSERT_EQUAL(std::string("mailbox"), rb.messages[0].path);
		CPPUNIT_ASSERT(rb.messages[0].from == idA.peerId());
		CPPUNIT_ASSERT_EQUAL(id2, rb.messages[1].id);
		CPPUNIT_ASSERT_EQUAL(std::string("mailbox"), rb.messages[1].path);
		CPPUNIT_ASSERT_EQUAL(std::uint64_t(2), b.stats().mailReceived);
		const auto history = b.history(idA.peerId(), 10);
		CPPUNIT_ASSERT_EQUAL(std::size_t(2), history.size());
		b.stop();
	}
	// Bob again: the relay deleted what he acknowledged, nothing comes twice.
	{
		ChatNode b(loop, idB, configB);
		Recorder rb;
		rb.attach(b);
		b.start();
		CPPUNIT_ASSERT(runUntil(loop, [&] { return b.relayState() == "online"; }));
		CPPUNIT_ASSERT(settle(loop, 300ms));
		CPPUNIT_ASSERT(rb.messages.empty());
		CPPUNIT_ASSERT_EQUAL(std::uint64_t(0), b.stats().mailReceived);
		b.stop();
	}
	// Alice comes back: Bob's receipts wait in her mailbox; both messages are delivered.
	{
		ChatNode a(loop, idA, configA);
		Recorder ra;
		ra.attach(a);
		a.start();
		CPPUNIT_ASSERT(runUntil(loop, [&] { return ra.delivered.size() == 2; }));
		CPPUNIT_ASSERT(std::find(ra.delivered.begin(), ra.delivered.end(), id1) != ra.delivered.end());
		CPPUNIT_ASSERT(std::find(ra.delivered.begin(), ra.delivered.end(), id2) != ra.delivered.end());
		CPPUNIT_ASSERT_EQUAL(std::size_t(0), a.pendingMessages());
		CPPUNIT_ASSERT(ra.messages.empty());   // receipts are not messages
		a.stop();
	}
	relay->stop();
	relay.reset();
	const std::string database = fileBytes(Poco::Path(Poco::Path(relayDir).makeDirectory(), "relay.db").toString())
		+ fileBytes(Poco::Path(Poco::Path(relayDir).makeDirectory(), "relay.db-wal").toString());
	CPPUNIT_ASSERT(!database.empty());
	CPPUNIT_ASSERT(database.find("plaintext that no relay") == std::string::npos);
	CPPUNIT_ASSERT(database.find("a second one") == std::string::npos);
}


void ChatRelayTest::testMailboxDuplicateOfSessionDropped()
{
	// Bob comes back while Alice is online: her message reaches him from his mailbox and on a
	// session; he shows it once, and she sees it delivered once.
	TempDirectory dir;
	auto relay = startRelay();
	EventLoop loop;
	Identity idA = Identity::generate();
	Identity idB = Identity::generate();
	ChatNodeConfig configB = relayConfig("bob", relay->port());
	configB.relayAnnounceAddresses = false;
	configB.databasePath = dir.path("bob.db");
	ChatNodeConfig configA = relayConfig("alice", relay->port());
	configA.relayAnnounceAddresses = false;
	{
		ChatNode b(loop, idB, configB);
		b.start();
		CPPUNIT_ASSERT(runUntil(loop, [&] { return b.relayState() == "online"; }));
		b.accept(idA.peerId());
		b.stop();
	}
	ChatNode a(loop, idA, configA);
	Recorder ra;
	ra.attach(a);
	std::size_t deposits = 0;
	a.setDepositedHandler([&](const std::string&, const PeerId&) { ++deposits; });
	a.start();
	CPPUNIT_ASSERT(runUntil(loop, [&] { return a.relayState() == "online"; }));
	const std::string id = a.send(idB.peerId(), "once only");
	CPPUNIT_ASSERT(runUntil(loop, [&] { return deposits == 1; }));

	ChatNode b(loop, idB, configB);
	Recorder rb;
	rb.attach(b);
	b.start();
	CPPUNIT_ASSERT(runUntil(loop, [&] { return b.stats().mailReceived == 1 && rb.messages.size() == 1 && ra.delivered.size() == 1; }));
	CPPUNIT_ASSERT(settle(loop, 300ms));
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), rb.messages.size());
	CPPUNIT_ASSERT_EQUAL(id, rb.messages[0].id);
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), ra.delivered.size());
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), b.history(idA.peerId(), 10).size());
}


void ChatRelayTest::testPrivateRelayToken()
{
	// relay.access = token: no token and a revoked one are refused for good (no retries), a
	// valid one works, and a token revoked while in use ends its channel.
	TempDirectory dir;
	const std::string relayDir = dir.path("relay");
	std::string good, gone;
	{
		Relay::RelayTokens tokens(relayDir);
		good = tokens.add("alice", false, 0, Relay::RelayTokenQuota());
		gone = tokens.add("old", false, 0, Relay::RelayTokenQuota());
		CPPUNIT_ASSERT_EQUAL(std::size_t(1), tokens.revoke("old"));
		CPPUNIT_ASSERT_EQUAL(std::size_t(0), tokens.revoke("old"));
		CPPUNIT_ASSERT_EQUAL(std::size_t(2), tokens.list().size());
	}
	auto relay = startRelay(0, relayDir, Relay::RelayAccess::TOKEN);
	EventLoop loop;
	const std::vector<std::pair<std::string, std::string>> refused = {{"", "token_required"}, {gone, "token_revoked"},
		{"cxrt_" + std::string(43, 'A'), "token_invalid"}};
	for (const auto& [token, code]: refused)
	{
		ChatNodeConfig config = relayConfig("nobody", relay->port());
		config.relayToken = token;
		Identity id = Identity::generate();
		ChatNode node(loop, id, config);
		Recorder recorder;
		recorder.attach(node);
		node.start();
		CPPUNIT_ASSERT(runUntil(loop, [&] { return !node.relayRefusal().empty(); }));
		CPPUNIT_ASSERT_EQUAL(code, node.relayRefusal());
		CPPUNIT_ASSERT_EQUAL(std::string("offline"), node.relayState());
		const std::size_t states = recorder.relayStates.size();
		CPPUNIT_ASSERT(settle(loop, 400ms));   // retryMin is 50 ms: a retry would show up
		CPPUNIT_ASSERT_EQUAL(states, recorder.relayStates.size());
		CPPUNIT_ASSERT(!recorder.sawRelayState("online"));
	}
	ChatNodeConfig config = relayConfig("alice", relay->port());
	config.relayToken = good;
	Identity id = Identity::generate();
	ChatNode node(loop, id, config);
	node.start();
	CPPUNIT_ASSERT(runUntil(loop, [&] { return node.relayState() == "online"; }));
	CPPUNIT_ASSERT(node.relayRefusal().empty());

	// The operator revokes it while the relay runs: the channel ends, the client stops.
	Relay::RelayTokens(relayDir).revoke("alice");
	CPPUNIT_ASSERT(runUntil(loop, [&] { return node.relayRefusal() == "token_revoked"; }));
	CPPUNIT_ASSERT_EQUAL(std::string("offline"), node.relayState());
}


void ChatRelayTest::testHandlesPinned()
{
	// A handle is claimed, found and pinned on first use; released and claimed by another key,
	// the lookup reports the change and keeps the pin; unpinned, the next lookup pins anew.
	TempDirectory dir;
	auto relay = startRelay(0, dir.path("relay"));
	EventLoop loop;
	Identity idA = Identity::generate();
	Identity idB = Identity::generate();
	Identity idC = Identity::generate();
	ChatNodeConfig configA = relayConfig("alice", relay->port());
	configA.databasePath = dir.path("alice.db");
	ChatNode a(loop, idA, configA);
	ChatNode b(loop, idB, relayConfig("bob", relay->port()));
	ChatNode c(loop, idC, relayConfig("carol", relay->port()));
	a.start();
	b.start();
	c.start();
	CPPUNIT_ASSERT(runUntil(loop, [&] { return a.relayState() == "online" && b.relayState() == "online" && c.relayState() == "online"; }));
	CPPUNIT_ASSERT_THROW(b.claimHandle("x", nullptr), Poco::InvalidArgumentException);
	CPPUNIT_ASSERT_THROW(b.claimHandle("9lives", nullptr), Poco::InvalidArgumentException);
	CPPUNIT_ASSERT(!ChatNode::parseHandleSpec("bob bob"));
	CPPUNIT_ASSERT(ChatNode::parseHandleSpec("Bob@relay.example:5000")->first == "bob");

	auto claim = [&](ChatNode& node, const std::string& handle) {
		std::optional<std::string> result;
		node.claimHandle(handle, [&](const std::string& error) { result = error; });
		CPPUNIT_ASSERT(runUntil(loop, [&] { return result.has_value(); }));
		return *result;
	};
	auto lookup = [&](const std::string& spec) {
		std::optional<ChatNode::HandleAnswer> result;
		a.lookupHandle(spec, [&](const ChatNode::HandleAnswer& answer) { result = answer; });
		CPPUNIT_ASSERT(runUntil(loop, [&] { return result.has_value(); }));
		return *result;
	};
	CPPUNIT_ASSERT_EQUAL(std::string(), claim(b, "Bob"));
	CPPUNIT_ASSERT(!claim(c, "bob").empty());   // first come, first served

	ChatNode::HandleAnswer first = lookup("bob");
	CPPUNIT_ASSERT(first.error.empty());
	CPPUNIT_ASSERT(first.id && *first.id == idB.peerId());
	CPPUNIT_ASSERT(first.firstUse);
	CPPUNIT_ASSERT_EQUAL(std::string("127.0.0.1:") + std::to_string(relay->port()), first.relay);
	// The same relay named explicitly is the same pin.
	ChatNode::HandleAnswer again = lookup("bob@127.0.0.1:" + std::to_string(relay->port()));
	CPPUNIT_ASSERT(!again.firstUse && !again.keyChanged && again.pinned && *again.pinned == idB.peerId());
	CPPUNIT_ASSERT(!lookup("nobody").id);

	// Bob lets it go, Carol takes it: Alice is warned and keeps Bob's ID.
	std::optional<std::string> released;
	b.releaseHandle([&](const std::string& error) { released = error; });
	CPPUNIT_ASSERT(runUntil(loop, [&] { return released.has_value(); }));
	CPPUNIT_ASSERT_EQUAL(std::string(), *released);
	CPPUNIT_ASSERT_EQUAL(std::string(), claim(c, "bob"));
	ChatNode::HandleAnswer changed = lookup("bob");
	CPPUNIT_ASSERT(changed.keyChanged);
	CPPUNIT_ASSERT(changed.id && *changed.id == idC.peerId());
	CPPUNIT_ASSERT(changed.pinned && *changed.pinned == idB.peerId());
	CPPUNIT_ASSERT(lookup("bob").keyChanged);   // still: the pin is not replaced

	CPPUNIT_ASSERT(a.unpinHandle("bob"));
	ChatNode::HandleAnswer repinned = lookup("bob");
	CPPUNIT_ASSERT(repinned.firstUse && !repinned.keyChanged && *repinned.id == idC.peerId());
}
