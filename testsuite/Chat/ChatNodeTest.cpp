//
// ChatNodeTest.cpp
//
// testsuite: tests for ChatNode over loopback. All nodes share one EventLoop in the test
// thread. Tests wait for events (runUntil polls a condition); the time limit only turns a
// hang into a failure and is never what a test asserts.
//


#include "ChatNodeTest.h"
#include "../TestSupport.h"
#include "CrossChat/Chat/ChatNode.h"
#include "CrossChat/EventLoop.h"
#include "CrossChat/Identity.h"
#include "Poco/Exception.h"
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>


using namespace CrossChat;
using namespace CrossChat::Chat;
using namespace std::chrono_literals;


using CrossChat::Test::runUntil;


namespace {


ChatNodeConfig testConfig(const std::string& name)
{
	ChatNodeConfig config;
	config.name = name;
	config.listenAddress = Poco::Net::SocketAddress("127.0.0.1", 0);
	config.enableLan = false;
	config.portMapping = false;   // unit tests talk to loopback only
	config.reconnectMin = 20ms;
	config.reconnectMax = 200ms;
	config.connectTimeout = 2000ms;
	return config;
}


struct Recorder
	/// Collects a node's events.
{
	std::vector<ChatMessage> messages;
	std::vector<std::string> delivered;
	std::vector<std::string> errors;
	std::vector<std::pair<ChatNode::PeerChange, PeerInfo>> peerEvents;

	void attach(ChatNode& node)
	{
		node.setMessageHandler([this](const ChatMessage& m) { messages.push_back(m); });
		node.setDeliveredHandler([this](const std::string& id, const PeerId&) { delivered.push_back(id); });
		node.setErrorHandler([this](const std::string& e) { errors.push_back(e); });
		node.setPeerHandler([this](ChatNode::PeerChange c, const PeerInfo& p) { peerEvents.emplace_back(c, p); });
	}

	bool sawPeer(ChatNode::PeerChange change, const PeerId& id) const
	{
		for (const auto& event: peerEvents)
			if (event.first == change && event.second.id == id) return true;
		return false;
	}
};


}




void ChatNodeTest::testExchangeWithReceipts()
{
	EventLoop loop;
	Identity idA = Identity::generate();
	Identity idB = Identity::generate();
	ChatNode a(loop, idA, testConfig("alice"));
	ChatNode b(loop, idB, testConfig("bob"));
	Recorder ra, rb;
	ra.attach(a);
	rb.attach(b);
	a.start();
	b.start();
	a.addPeerAddress(idB.peerId(), Poco::Net::SocketAddress("127.0.0.1", b.port()));
	b.addPeerAddress(idA.peerId(), Poco::Net::SocketAddress("127.0.0.1", a.port()));

	std::vector<std::string> sentByA{a.send(idB.peerId(), "hello bob"), a.send(idB.peerId(), "second"), a.send(idB.peerId(), "")};
	std::vector<std::string> sentByB{b.send(idA.peerId(), "hi alice ✓ utf-8")};
	CPPUNIT_ASSERT(runUntil(loop, [&] {
		return rb.messages.size() == 3 && ra.messages.size() == 1 && ra.delivered.size() == 3 && rb.delivered.size() == 1;
	}));
	CPPUNIT_ASSERT_EQUAL(std::string("hello bob"), rb.messages[0].text);
	CPPUNIT_ASSERT_EQUAL(std::string("second"), rb.messages[1].text);
	CPPUNIT_ASSERT_EQUAL(std::string(""), rb.messages[2].text);
	CPPUNIT_ASSERT(rb.messages[0].from == idA.peerId());
	CPPUNIT_ASSERT_EQUAL(std::string("alice"), rb.messages[0].name);
	CPPUNIT_ASSERT_EQUAL(std::string("direct"), rb.messages[0].path);
	CPPUNIT_ASSERT_EQUAL(sentByA[0], rb.messages[0].id);
	CPPUNIT_ASSERT(ra.delivered == sentByA);
	CPPUNIT_ASSERT(rb.delivered == sentByB);
	CPPUNIT_ASSERT_EQUAL(std::string("hi alice ✓ utf-8"), ra.messages[0].text);
	CPPUNIT_ASSERT_EQUAL(std::string("bob"), ra.messages[0].name);
	auto infoB = a.peer(idB.peerId());
	CPPUNIT_ASSERT(infoB && infoB->connected && infoB->pending == 0);
	CPPUNIT_ASSERT_EQUAL(std::string("direct"), infoB->path);
	CPPUNIT_ASSERT(ra.sawPeer(ChatNode::PeerChange::CONNECTED, idB.peerId()));
	CPPUNIT_ASSERT_THROW(a.send(idB.peerId(), std::string(16 * 1024 + 1, 'x')), Poco::InvalidArgumentException);
	CPPUNIT_ASSERT(ra.errors.empty());
	CPPUNIT_ASSERT(rb.errors.empty());
}


void ChatNodeTest::testDiscoveryThenChat()
{
	EventLoop loop;
	Identity idA = Identity::generate();
	Identity idB = Identity::generate();
	ChatNodeConfig configA = testConfig("alice");
	configA.enableLan = true;
	configA.lan.port = 0;
	configA.lan.useBroadcast = false;
	configA.lan.useMulticastV4 = false;
	configA.lan.useMulticastV6 = false;
	configA.lan.useLoopback = true;
	ChatNode a(loop, idA, configA);
	Recorder ra, rb;
	ra.attach(a);
	a.start();
	ChatNodeConfig configB = configA;
	configB.name = "bob";
	configB.lan.port = a.lanPort();
	ChatNode b(loop, idB, configB);
	rb.attach(b);
	b.start();
	CPPUNIT_ASSERT(runUntil(loop, [&] {
		return ra.sawPeer(ChatNode::PeerChange::FOUND, idB.peerId()) && rb.sawPeer(ChatNode::PeerChange::FOUND, idA.peerId());
	}));
	auto infoB = a.peer(idB.peerId());
	CPPUNIT_ASSERT(infoB.has_value());
	CPPUNIT_ASSERT_EQUAL(std::string("bob"), infoB->name);
	CPPUNIT_ASSERT_EQUAL(std::string("lan"), infoB->via);
	CPPUNIT_ASSERT(!infoB->addresses.empty());
	const std::string id = a.send(idB.peerId(), "found you");
	CPPUNIT_ASSERT(runUntil(loop, [&] { return ra.delivered.size() == 1 && rb.messages.size() == 1; }));
	CPPUNIT_ASSERT_EQUAL(id, ra.delivered[0]);
	CPPUNIT_ASSERT_EQUAL(std::string("found you"), rb.messages[0].text);
	b.stop();   // says goodbye
	CPPUNIT_ASSERT(runUntil(loop, [&] { return ra.sawPeer(ChatNode::PeerChange::LOST, idB.peerId()); }));
}


void ChatNodeTest::testImpostorRefused()
{
	EventLoop loop;
	Identity idA = Identity::generate();
	Identity idB = Identity::generate();
	Identity idMallory = Identity::generate();
	ChatNode a(loop, idA, testConfig("alice"));
	ChatNode mallory(loop, idMallory, testConfig("bob"));
	Recorder ra, rm;
	ra.attach(a);
	rm.attach(mallory);
	a.start();
	mallory.start();
	// Alice believes Bob listens where Mallory does.
	a.addPeerAddress(idB.peerId(), Poco::Net::SocketAddress("127.0.0.1", mallory.port()));
	a.send(idB.peerId(), "for bob only");
	CPPUNIT_ASSERT(runUntil(loop, [&] { return !ra.errors.empty(); }));
	CPPUNIT_ASSERT(ra.errors[0].find("expected") != std::string::npos);
	CPPUNIT_ASSERT(rm.messages.empty());
	CPPUNIT_ASSERT(ra.delivered.empty());
	CPPUNIT_ASSERT(a.stats().connectFailures >= 1);
	auto info = a.peer(idB.peerId());
	CPPUNIT_ASSERT(info && !info->connected && info->pending == 1);
}


void ChatNodeTest::testSimultaneousDialKeepsOneSession()
{
	EventLoop loop;
	Identity idA = Identity::generate();
	Identity idB = Identity::generate();
	ChatNode a(loop, idA, testConfig("alice"));
	ChatNode b(loop, idB, testConfig("bob"));
	Recorder ra, rb;
	ra.attach(a);
	rb.attach(b);
	a.start();
	b.start();
	a.addPeerAddress(idB.peerId(), Poco::Net::SocketAddress("127.0.0.1", b.port()));
	b.addPeerAddress(idA.peerId(), Poco::Net::SocketAddress("127.0.0.1", a.port()));
	// Both dial before either side has accepted anything.
	for (int i = 0; i < 5; ++i)
	{
		a.send(idB.peerId(), "a" + std::to_string(i));
		b.send(idA.peerId(), "b" + std::to_string(i));
	}
	CPPUNIT_ASSERT(runUntil(loop, [&] {
		return ra.delivered.size() == 5 && rb.delivered.size() == 5 && a.sessionCount() == 1 && b.sessionCount() == 1;
	}));
	CPPUNIT_ASSERT(a.stats().duplicateSessions >= 1);
	CPPUNIT_ASSERT(b.stats().duplicateSessions >= 1);
	// Each message exactly once and in order, although some went over both sessions.
	CPPUNIT_ASSERT_EQUAL(std::size_t(5), rb.messages.size());
	CPPUNIT_ASSERT_EQUAL(std::size_t(5), ra.messages.size());
	for (int i = 0; i < 5; ++i)
	{
		CPPUNIT_ASSERT_EQUAL("a" + std::to_string(i), rb.messages[i].text);
		CPPUNIT_ASSERT_EQUAL("b" + std::to_string(i), ra.messages[i].text);
	}
	// The survivor still works.
	a.send(idB.peerId(), "after");
	CPPUNIT_ASSERT(runUntil(loop, [&] { return rb.messages.size() == 6; }));
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), a.sessionCount());
}


void ChatNodeTest::testRestartResumesWithoutLossOrDuplicates()
{
	EventLoop loop;
	Identity idA = Identity::generate();
	Identity idB = Identity::generate();
	ChatNode a(loop, idA, testConfig("alice"));
	Recorder ra, rb1, rb2;
	ra.attach(a);
	a.start();
	auto b = std::make_unique<ChatNode>(loop, idB, testConfig("bob"));
	rb1.attach(*b);
	b->start();
	const std::uint16_t portB = b->port();
	a.addPeerAddress(idB.peerId(), Poco::Net::SocketAddress("127.0.0.1", portB));
	a.send(idB.peerId(), "before");
	CPPUNIT_ASSERT(runUntil(loop, [&] { return ra.delivered.size() == 1; }));
	b.reset();   // Bob's process goes away
	CPPUNIT_ASSERT(runUntil(loop, [&] { return ra.sawPeer(ChatNode::PeerChange::DISCONNECTED, idB.peerId()); }));
	std::vector<std::string> queued;
	for (int i = 0; i < 3; ++i) queued.push_back(a.send(idB.peerId(), "queued " + std::to_string(i)));
	// Let Alice fail at least once against the closed port before Bob returns.
	CPPUNIT_ASSERT(runUntil(loop, [&] { return a.stats().connectFailures >= 1; }));
	ChatNodeConfig config = testConfig("bob");
	config.listenAddress = Poco::Net::SocketAddress("127.0.0.1", portB);
	b = std::make_unique<ChatNode>(loop, idB, config);
	rb2.attach(*b);
	b->start();
	CPPUNIT_ASSERT(runUntil(loop, [&] { return ra.delivered.size() == 4 && rb2.messages.size() == 3; }));
	for (int i = 0; i < 3; ++i) CPPUNIT_ASSERT_EQUAL("queued " + std::to_string(i), rb2.messages[i].text);
	CPPUNIT_ASSERT(std::vector<std::string>(ra.delivered.begin() + 1, ra.delivered.end()) == queued);
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), rb1.messages.size());
	CPPUNIT_ASSERT(a.peer(idB.peerId())->pending == 0);
}


void ChatNodeTest::testQueuedUntilPeerFound()
{
	EventLoop loop;
	Identity idA = Identity::generate();
	Identity idB = Identity::generate();
	ChatNode a(loop, idA, testConfig("alice"));
	ChatNode b(loop, idB, testConfig("bob"));
	Recorder ra, rb;
	ra.attach(a);
	rb.attach(b);
	a.start();
	b.start();
	// No address known yet: the message waits in the outbox.
	const std::string id = a.send(idB.peerId(), "patience");
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), a.peer(idB.peerId())->pending);
	CPPUNIT_ASSERT(!ra.errors.empty());
	a.addPeerAddress(idB.peerId(), Poco::Net::SocketAddress("127.0.0.1", b.port()));
	CPPUNIT_ASSERT(runUntil(loop, [&] { return ra.delivered.size() == 1; }));
	CPPUNIT_ASSERT_EQUAL(id, ra.delivered[0]);
	CPPUNIT_ASSERT_EQUAL(std::string("patience"), rb.messages.at(0).text);
}


void ChatNodeTest::testResolve()
{
	EventLoop loop;
	Identity idA = Identity::generate();
	Identity idB = Identity::generate();
	Identity idC = Identity::generate();
	ChatNode a(loop, idA, testConfig("alice"));
	a.addPeerAddress(idB.peerId(), Poco::Net::SocketAddress("127.0.0.1", 1));
	a.addPeerAddress(idC.peerId(), Poco::Net::SocketAddress("127.0.0.1", 2));
	auto full = a.resolve(idB.peerId().toString());
	CPPUNIT_ASSERT(full.size() == 1 && full[0] == idB.peerId());
	auto prefix = a.resolve(idC.peerId().toString().substr(0, 7));
	CPPUNIT_ASSERT(prefix.size() == 1 && prefix[0] == idC.peerId());
	CPPUNIT_ASSERT(a.resolve("nobody").empty());
	CPPUNIT_ASSERT(a.resolve("").empty());
}


void ChatNodeTest::testRename()
{
	EventLoop loop;
	Identity idA = Identity::generate();
	Identity idB = Identity::generate();
	ChatNode a(loop, idA, testConfig("alice"));
	ChatNode b(loop, idB, testConfig("bob"));
	Recorder ra, rb;
	ra.attach(a);
	rb.attach(b);
	a.start();
	b.start();
	a.addPeerAddress(idB.peerId(), Poco::Net::SocketAddress("127.0.0.1", b.port()));
	a.send(idB.peerId(), "hello bob");
	CPPUNIT_ASSERT(runUntil(loop, [&] { return rb.messages.size() == 1; }));
	CPPUNIT_ASSERT_EQUAL(std::string("alice"), b.peer(idA.peerId())->name);

	// Invalid names change nothing.
	CPPUNIT_ASSERT_THROW(a.setName(""), Poco::InvalidArgumentException);
	CPPUNIT_ASSERT_THROW(a.setName(std::string(65, 'x')), Poco::InvalidArgumentException);
	CPPUNIT_ASSERT_THROW(a.setName("caf\xe9"), Poco::InvalidArgumentException);
	CPPUNIT_ASSERT_EQUAL(std::string("alice"), a.name());

	// The connected peer is told at once (message 9), without a new session.
	const auto opened = a.stats().sessionsOpened;
	a.setName("Alicia \xc3\xa9");
	CPPUNIT_ASSERT_EQUAL(std::string("Alicia \xc3\xa9"), a.name());
	CPPUNIT_ASSERT(runUntil(loop, [&] {
		for (const auto& event: rb.peerEvents)
			if (event.first == ChatNode::PeerChange::UPDATED && event.second.name == "Alicia \xc3\xa9") return true;
		return false;
	}));
	CPPUNIT_ASSERT_EQUAL(std::string("Alicia \xc3\xa9"), b.peer(idA.peerId())->name);
	a.send(idB.peerId(), "still me");
	CPPUNIT_ASSERT(runUntil(loop, [&] { return rb.messages.size() == 2; }));
	CPPUNIT_ASSERT_EQUAL(std::string("Alicia \xc3\xa9"), rb.messages[1].name);
	CPPUNIT_ASSERT_EQUAL(opened, a.stats().sessionsOpened);
}
