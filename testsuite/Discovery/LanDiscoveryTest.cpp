//
// LanDiscoveryTest.cpp
//
// testsuite: tests for LanDiscovery, on loopback only (127.255.255.255 and unicast): nothing is
// sent to a real interface. The first instance binds port 0, the others share its port.
// No timed assertions: each scenario waits for events; a generous guard only turns a hang into
// a failure naming the step that hung.
//


#include "LanDiscoveryTest.h"
#include "CrossChat/Discovery/Announcement.h"
#include "CrossChat/Discovery/LanDiscovery.h"
#include "CrossChat/EventLoop.h"
#include "CrossChat/Identity.h"
#include "Poco/Exception.h"
#include "Poco/Net/DatagramSocket.h"
#include "Poco/Net/IPAddress.h"
#include "Poco/Net/SocketAddress.h"
#include <algorithm>
#include <chrono>
#include <functional>
#include <iostream>
#include <memory>
#include <string>
#include <vector>


using CrossChat::EventLoop;
using CrossChat::Identity;
using CrossChat::PeerId;
using CrossChat::TimerHandle;
using CrossChat::Discovery::Announcement;
using CrossChat::Discovery::LanDiscovery;
using CrossChat::Discovery::LanDiscoveryConfig;
using CrossChat::Discovery::LanPeer;
using Poco::Net::IPAddress;
using Poco::Net::SocketAddress;
using Change = LanDiscovery::Change;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;


namespace {


class Script
	/// Drives one EventLoop::run() through steps: each step waits until its condition holds
	/// (checked every millisecond on the loop), then runs its action. An exception in an action
	/// or condition (a failed CppUnit assertion too) ends the run and is reported; so does the
	/// hang guard, naming the step it waited in.
{
public:
	explicit Script(EventLoop& loop):
		_loop(loop)
	{
	}

	Script& step(std::string name, std::function<bool()> until, std::function<void()> action = {})
	{
		_steps.push_back(Step{std::move(name), std::move(until), std::move(action)});
		return *this;
	}

	Script& then(std::string name, std::function<void()> action)
	{
		return step(std::move(name), [] { return true; }, std::move(action));
	}

	std::string run(std::chrono::seconds limit = 30s)
		/// Empty if every step completed; else what went wrong.
	{
		TimerHandle poll = _loop.runEvery(1ms, [this] { advance(); });
		TimerHandle guard = _loop.runAfter(limit, [this]
		{
			_failure = "hang guard fired while waiting for step '" + _steps[_next].name + "'";
			_loop.stop();
		});
		_loop.runAfter(0ms, [this] { advance(); }).detach();
		_loop.run();
		return _failure;
	}

private:
	struct Step
	{
		std::string name;
		std::function<bool()> until;
		std::function<void()> action;
	};

	void advance()
	{
		if (!_failure.empty() || _next >= _steps.size()) return;
		try
		{
			while (_next < _steps.size() && _steps[_next].until())
			{
				if (_steps[_next].action) _steps[_next].action();
				++_next;
			}
		}
		catch (const std::exception& exc)
		{
			_failure = "step '" + _steps[_next].name + "' failed: " + exc.what();
			_loop.stop();
			return;
		}
		if (_next == _steps.size()) _loop.stop();
	}

	EventLoop& _loop;
	std::vector<Step> _steps;
	std::size_t _next = 0;
	std::string _failure;
};


struct Event
{
	Change change;
	LanPeer peer;
	Clock::time_point when;
};


LanDiscoveryConfig loopbackConfig(std::uint16_t port)
	/// Loopback broadcast only; no periodic announcements, so only the query/answer path can
	/// explain a discovery.
{
	LanDiscoveryConfig config;
	config.port = port;
	config.useBroadcast = false;
	config.useMulticastV4 = false;
	config.useMulticastV6 = false;
	config.useLoopback = true;
	config.announceInterval = 1h;
	config.interfaceScanInterval = 1h;
	config.maxAnswerDelay = 5ms;
	return config;
}


class Node
	/// One discovery instance with its own identity and a record of its events.
{
public:
	Node(EventLoop& loop, const Identity& id, LanDiscoveryConfig config, const std::string& name, std::uint16_t chatPort):
		identity(id),
		_loop(loop),
		_config(std::move(config)),
		_name(name),
		_chatPort(chatPort)
	{
		create();
	}

	void create()
		/// A new LanDiscovery object (a new process, as far as the network can tell).
	{
		pDiscovery = std::make_unique<LanDiscovery>(_loop, identity, _config);
		pDiscovery->setLocalInfo(_name, _chatPort);
		pDiscovery->setPeerHandler([this](Change change, const LanPeer& peer)
		{
			events.push_back(Event{change, peer, Clock::now()});
			if (onEvent) onEvent(change, peer);
		});
	}

	LanDiscovery& discovery()
	{
		return *pDiscovery;
	}

	std::size_t count(Change change, const PeerId& id) const
	{
		return static_cast<std::size_t>(std::count_if(events.begin(), events.end(),
			[&](const Event& e) { return e.change == change && e.peer.id == id; }));
	}

	bool has(Change change, const PeerId& id) const
	{
		return count(change, id) > 0;
	}

	const Event* last(Change change, const PeerId& id) const
	{
		for (auto it = events.rbegin(); it != events.rend(); ++it)
		{
			if (it->change == change && it->peer.id == id) return &*it;
		}
		return nullptr;
	}

	bool knows(const PeerId& id) const
	{
		const std::vector<LanPeer> peers = pDiscovery->peers();
		return std::any_of(peers.begin(), peers.end(), [&id](const LanPeer& p) { return p.id == id; });
	}

	const Identity identity;
	std::unique_ptr<LanDiscovery> pDiscovery;
	std::vector<Event> events;
	std::function<void(Change, const LanPeer&)> onEvent;

private:
	EventLoop& _loop;
	LanDiscoveryConfig _config;
	std::string _name;
	std::uint16_t _chatPort;
};


class Capture
	/// A plain UDP socket on the loop: records what it receives and sends raw datagrams.
{
public:
	Capture(EventLoop& loop, const SocketAddress& bindAddress):
		_loop(loop),
		_socket(bindAddress)
	{
		_socket.setBlocking(false);
		if (bindAddress.family() == SocketAddress::IPv4) _socket.setBroadcast(true);
		_loop.addSocket(_socket, EventLoop::SOCKET_READABLE, [this](int) { read(); });
	}

	~Capture()
	{
		_loop.removeSocket(_socket);
	}

	SocketAddress address() const
	{
		return _socket.address();
	}

	void send(const std::string& datagram, const SocketAddress& target)
	{
		_socket.sendTo(datagram.data(), static_cast<int>(datagram.size()), target);
	}

	std::vector<std::string> datagrams;

private:
	void read()
	{
		char buffer[4096];
		SocketAddress source;
		int size = 0;
		while ((size = _socket.receiveFrom(buffer, static_cast<int>(sizeof(buffer)), source)) >= 0)
			datagrams.emplace_back(buffer, static_cast<std::size_t>(size));
	}

	EventLoop& _loop;
	Poco::Net::DatagramSocket _socket;
};


std::uint64_t wallClockMs()
{
	return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
		std::chrono::system_clock::now().time_since_epoch()).count());
}


std::string signedAnnouncement(const Identity& identity, const std::string& name, std::uint16_t chatPort,
	std::uint64_t instanceId, std::uint64_t sequence, std::uint64_t timestampMs = wallClockMs(),
	std::vector<IPAddress> addresses = {}, std::uint8_t flags = 0)
{
	Announcement announcement;
	announcement.flags = flags;
	announcement.name = name;
	announcement.chatPort = chatPort;
	announcement.instanceId = instanceId;
	announcement.sequence = sequence;
	announcement.timestampMs = timestampMs;
	announcement.addresses = std::move(addresses);
	return announcement.encode(identity);
}


SocketAddress loopbackBroadcast(std::uint16_t port)
{
	return SocketAddress(IPAddress("127.255.255.255"), port);
}


std::string describe(const Node& node)
{
	std::string text = "events:";
	for (const Event& e: node.events)
	{
		text += e.change == Change::FOUND ? " FOUND " : e.change == Change::UPDATED ? " UPDATED " : " LOST ";
		text += e.peer.id.shortString() + "/" + e.peer.name;
	}
	return text;
}


} // namespace


void LanDiscoveryTest::testThreeInstancesFindEachOther()
{
	EventLoop loop;
	std::unique_ptr<Node> a;
	std::unique_ptr<Node> b;
	std::unique_ptr<Node> c;
	Clock::time_point cStarted;
	std::uint16_t port = 0;
	auto foundAll = [&](const Node& n, const Node& x, const Node& y)
	{
		return n.has(Change::FOUND, x.identity.peerId()) && n.has(Change::FOUND, y.identity.peerId());
	};

	Script script(loop);
	script
		.then("start a", [&]
		{
			a = std::make_unique<Node>(loop, Identity::generate(), loopbackConfig(0), "alice", 1001);
			a->discovery().start();
			port = a->discovery().port();
			CPPUNIT_ASSERT(port != 0);
		})
		.then("start b", [&]
		{
			b = std::make_unique<Node>(loop, Identity::generate(), loopbackConfig(port), "bob", 1002);
			b->discovery().start();
		})
		.step("a and b meet", [&] { return a->has(Change::FOUND, b->identity.peerId()) && b->has(Change::FOUND, a->identity.peerId()); }, [&]
		{
			c = std::make_unique<Node>(loop, Identity::generate(), loopbackConfig(port), "carol", 1003);
			cStarted = Clock::now();
			c->discovery().start();
		})
		.step("all three meet", [&] { return foundAll(*a, *b, *c) && foundAll(*b, *a, *c) && foundAll(*c, *a, *b); });
	const std::string failure = script.run();
	CPPUNIT_ASSERT_MESSAGE(failure, failure.empty());

	Clock::time_point lastFound = cStarted;
	for (const Node* pNode: {a.get(), b.get(), c.get()})
	{
		CPPUNIT_ASSERT_EQUAL_MESSAGE(describe(*pNode), std::size_t(2), pNode->events.size());
		CPPUNIT_ASSERT_EQUAL(std::size_t(2), pNode->pDiscovery->peers().size());
		for (const Node* pOther: {a.get(), b.get(), c.get()})
		{
			if (pOther == pNode) continue;
			CPPUNIT_ASSERT_EQUAL(std::size_t(1), pNode->count(Change::FOUND, pOther->identity.peerId()));
		}
		for (const LanPeer& peer: pNode->pDiscovery->peers())
		{
			CPPUNIT_ASSERT_EQUAL(std::size_t(1), peer.addresses.size());
			CPPUNIT_ASSERT_EQUAL(std::string("127.0.0.1"), peer.addresses[0].host().toString());
			CPPUNIT_ASSERT_EQUAL(peer.source.host().toString(), std::string("127.0.0.1"));
			CPPUNIT_ASSERT(peer.instanceId != 0);
		}
		CPPUNIT_ASSERT(pNode->pDiscovery->stats().droppedOwn >= 1);   // its own loopback broadcast
		CPPUNIT_ASSERT_EQUAL(std::uint64_t(0), pNode->pDiscovery->stats().droppedReplay);
		for (const Event& e: pNode->events) lastFound = std::max(lastFound, e.when);
	}
	const LanPeer carolSeenByAlice = a->last(Change::FOUND, c->identity.peerId())->peer;
	CPPUNIT_ASSERT_EQUAL(std::string("carol"), carolSeenByAlice.name);
	CPPUNIT_ASSERT_EQUAL(std::uint16_t(1003), carolSeenByAlice.addresses[0].port());
	CPPUNIT_ASSERT_EQUAL(c->pDiscovery->instanceId(), carolSeenByAlice.instanceId);
	// Periodic announcements are an hour apart: the answers to the queries did it. Answers
	// are never answered, so carol (who only got answers) sent none.
	CPPUNIT_ASSERT(a->pDiscovery->stats().answersSent >= 2);
	CPPUNIT_ASSERT(b->pDiscovery->stats().answersSent >= 1);
	CPPUNIT_ASSERT_EQUAL(std::uint64_t(0), c->pDiscovery->stats().answersSent);
	std::clog << "\n    [discovery latency: third instance found by and finding both others in "
		<< std::chrono::duration_cast<std::chrono::microseconds>(lastFound - cStarted).count() << " us] ";
}


void LanDiscoveryTest::testReplayIsDropped()
{
	EventLoop loop;
	Capture capture(loop, SocketAddress("127.0.0.1", 0));
	const Identity mallory = Identity::generate();
	std::unique_ptr<Node> a;
	std::unique_ptr<Node> b;
	std::uint16_t port = 0;
	std::uint64_t replays = 0;
	std::uint64_t duplicates = 0;
	auto bStats = [&]() { return b->pDiscovery->stats(); };
	auto alice = [&]() { return a->identity.peerId(); };

	Script script(loop);
	script
		.then("start b, then a (a's datagrams are copied to the capture socket)", [&]
		{
			b = std::make_unique<Node>(loop, Identity::generate(), loopbackConfig(0), "bob", 1002);
			b->discovery().start();
			port = b->discovery().port();
			LanDiscoveryConfig config = loopbackConfig(port);
			config.extraTargets.push_back(capture.address());
			a = std::make_unique<Node>(loop, Identity::generate(), config, "alice", 1001);
			a->discovery().start();
		})
		.step("b finds a; a's query captured", [&] { return b->has(Change::FOUND, alice()) && !capture.datagrams.empty(); }, [&]
		{
			CPPUNIT_ASSERT(Announcement::parse(capture.datagrams[0]).hasFlag(Announcement::FLAG_QUERY));
			a->discovery().setLocalInfo("alice2", 2001);
		})
		.step("b sees the new name", [&] { return b->has(Change::UPDATED, alice()); }, [&]
		{
			replays = bStats().droppedReplay;
			CPPUNIT_ASSERT_EQUAL(std::uint64_t(0), replays);
			capture.send(capture.datagrams.front(), loopbackBroadcast(port));   // the old query again
		})
		.step("b drops the old sequence number", [&] { return bStats().droppedReplay > replays; }, [&]
		{
			duplicates = bStats().droppedDuplicate;
			capture.send(capture.datagrams.back(), loopbackBroadcast(port));    // the newest one again
		})
		.step("b drops the repeated newest datagram", [&] { return bStats().droppedDuplicate > duplicates; }, [&]
		{
			replays = bStats().droppedReplay;
			const std::uint64_t elevenMinutes = 11 * 60 * 1000;
			capture.send(signedAnnouncement(mallory, "old", 1, 7, 1, wallClockMs() - elevenMinutes), loopbackBroadcast(port));
			capture.send(signedAnnouncement(mallory, "future", 1, 8, 1, wallClockMs() + elevenMinutes), loopbackBroadcast(port));
		})
		.step("b drops timestamps far from its clock", [&] { return bStats().droppedReplay >= replays + 2; });
	const std::string failure = script.run();
	CPPUNIT_ASSERT_MESSAGE(failure, failure.empty());

	CPPUNIT_ASSERT_EQUAL_MESSAGE(describe(*b), std::size_t(2), b->events.size());
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), b->count(Change::FOUND, alice()));
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), b->count(Change::UPDATED, alice()));
	CPPUNIT_ASSERT(!b->knows(mallory.peerId()));
	const std::vector<LanPeer> peers = b->pDiscovery->peers();
	CPPUNIT_ASSERT_EQUAL(std::string("alice2"), peers.at(0).name);
	CPPUNIT_ASSERT_EQUAL(std::uint16_t(2001), peers.at(0).addresses.at(0).port());
	CPPUNIT_ASSERT_EQUAL(std::uint64_t(3), bStats().droppedReplay);
	CPPUNIT_ASSERT_EQUAL(std::uint64_t(1), bStats().droppedDuplicate);
}


void LanDiscoveryTest::testImpersonationImpossible()
{
	EventLoop loop;
	Capture raw(loop, SocketAddress("127.0.0.1", 0));
	const Identity mallory = Identity::generate();
	std::unique_ptr<Node> a;
	std::unique_ptr<Node> b;
	std::uint16_t port = 0;
	std::uint64_t badSignatures = 0;

	Script script(loop);
	script
		.then("start a and b", [&]
		{
			a = std::make_unique<Node>(loop, Identity::generate(), loopbackConfig(0), "alice", 1001);
			a->discovery().start();
			port = a->discovery().port();
			b = std::make_unique<Node>(loop, Identity::generate(), loopbackConfig(port), "bob", 1002);
			b->discovery().start();
		})
		.step("b finds a", [&] { return b->has(Change::FOUND, a->identity.peerId()); }, [&]
		{
			// Mallory claims to be "alice", with her own key: she can only ever be herself.
			raw.send(signedAnnouncement(mallory, "alice", 1001, 99, 1), loopbackBroadcast(port));
		})
		.step("b finds mallory, under her own ID", [&] { return b->has(Change::FOUND, mallory.peerId()); }, [&]
		{
			badSignatures = b->pDiscovery->stats().droppedSignature;
			// Mallory puts alice's key in the datagram: her signature does not verify under it.
			std::string forged = signedAnnouncement(mallory, "alice", 6666, 99, 2);
			forged.replace(7, 32, a->identity.publicKey().raw());
			raw.send(forged, loopbackBroadcast(port));
		})
		.step("b rejects the forged key", [&] { return b->pDiscovery->stats().droppedSignature > badSignatures; });
	const std::string failure = script.run();
	CPPUNIT_ASSERT_MESSAGE(failure, failure.empty());

	const LanPeer& fake = b->last(Change::FOUND, mallory.peerId())->peer;
	CPPUNIT_ASSERT(fake.id == mallory.peerId());
	CPPUNIT_ASSERT(fake.id != a->identity.peerId());
	CPPUNIT_ASSERT_EQUAL(mallory.publicKey().raw(), fake.publicKey);
	CPPUNIT_ASSERT_EQUAL(std::string("alice"), fake.name);
	// alice's own entry is untouched: one FOUND, no UPDATED, still her key and port.
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), b->count(Change::FOUND, a->identity.peerId()));
	CPPUNIT_ASSERT_EQUAL(std::size_t(0), b->count(Change::UPDATED, a->identity.peerId()));
	for (const LanPeer& peer: b->pDiscovery->peers())
	{
		if (peer.id != a->identity.peerId()) continue;
		CPPUNIT_ASSERT_EQUAL(a->identity.publicKey().raw(), peer.publicKey);
		CPPUNIT_ASSERT_EQUAL(std::uint16_t(1001), peer.addresses.at(0).port());
	}
	CPPUNIT_ASSERT_EQUAL(std::size_t(2), b->pDiscovery->peers().size());
}


void LanDiscoveryTest::testGarbageIsMalformed()
{
	EventLoop loop;
	Capture raw(loop, SocketAddress("127.0.0.1", 0));
	const Identity mallory = Identity::generate();
	std::unique_ptr<Node> a;
	std::uint16_t port = 0;
	const std::string valid = signedAnnouncement(mallory, "m", 1, 5, 1);
	std::string version2 = valid;
	version2[4] = 2;
	const std::vector<std::string> garbage{
		"hello",
		std::string(2000, 'x'),                         // oversized
		"CXLD" + std::string(200, '\x01'),
		valid.substr(0, valid.size() - 1),              // truncated
		valid + "!",                                    // trailing byte
		version2,
		std::string(1, '\0')};

	Script script(loop);
	script
		.then("start a, send garbage", [&]
		{
			a = std::make_unique<Node>(loop, Identity::generate(), loopbackConfig(0), "alice", 1001);
			a->discovery().start();
			port = a->discovery().port();
			for (const std::string& datagram: garbage) raw.send(datagram, SocketAddress("127.0.0.1", port));
		})
		.step("all counted as malformed", [&] { return a->pDiscovery->stats().droppedMalformed >= garbage.size(); });
	const std::string failure = script.run();
	CPPUNIT_ASSERT_MESSAGE(failure, failure.empty());

	const auto& stats = a->pDiscovery->stats();
	CPPUNIT_ASSERT_EQUAL(static_cast<std::uint64_t>(garbage.size()), stats.droppedMalformed);
	CPPUNIT_ASSERT_EQUAL(std::uint64_t(0), stats.accepted);
	CPPUNIT_ASSERT_EQUAL(std::uint64_t(0), stats.droppedSignature);
	CPPUNIT_ASSERT(a->pDiscovery->peers().empty());
	CPPUNIT_ASSERT(a->events.empty());
	CPPUNIT_ASSERT_EQUAL(stats.received, stats.droppedMalformed + stats.droppedOwn);
}


void LanDiscoveryTest::testGoodbyeLosesPeer()
{
	EventLoop loop;
	std::unique_ptr<Node> a;
	std::unique_ptr<Node> b;
	Script script(loop);
	script
		.then("start a and b", [&]
		{
			a = std::make_unique<Node>(loop, Identity::generate(), loopbackConfig(0), "alice", 1001);
			a->discovery().start();
			b = std::make_unique<Node>(loop, Identity::generate(), loopbackConfig(a->discovery().port()), "bob", 1002);
			b->discovery().start();
		})
		.step("they meet", [&] { return a->has(Change::FOUND, b->identity.peerId()) && b->has(Change::FOUND, a->identity.peerId()); }, [&]
		{
			b->discovery().stop();
			CPPUNIT_ASSERT(!b->discovery().running());
			CPPUNIT_ASSERT(b->discovery().peers().empty());
			b->discovery().stop();   // idempotent
		})
		.step("a loses b", [&] { return a->has(Change::LOST, b->identity.peerId()); });
	const std::string failure = script.run();
	CPPUNIT_ASSERT_MESSAGE(failure, failure.empty());

	CPPUNIT_ASSERT(a->pDiscovery->peers().empty());
	CPPUNIT_ASSERT_EQUAL_MESSAGE(describe(*a), std::size_t(2), a->events.size());
	CPPUNIT_ASSERT_EQUAL(std::string("bob"), a->last(Change::LOST, b->identity.peerId())->peer.name);
	CPPUNIT_ASSERT(a->pDiscovery->running());
}


void LanDiscoveryTest::testRestartIsUpdate()
{
	EventLoop loop;
	Capture capture(loop, SocketAddress("127.0.0.1", 0));
	std::unique_ptr<Node> a;
	std::unique_ptr<Node> b;
	std::uint64_t oldInstance = 0;
	std::uint64_t replays = 0;
	Clock::time_point crashed;
	auto bob = [&]() { return b->identity.peerId(); };

	Script script(loop);
	script
		.then("start a and b (b sends no goodbye, and copies its datagrams to the capture socket)", [&]
		{
			a = std::make_unique<Node>(loop, Identity::generate(), loopbackConfig(0), "alice", 1001);
			a->discovery().start();
			LanDiscoveryConfig config = loopbackConfig(a->discovery().port());
			config.sendGoodbye = false;
			config.extraTargets.push_back(capture.address());
			b = std::make_unique<Node>(loop, Identity::generate(), config, "bob", 1002);
			b->discovery().start();
		})
		.step("they meet", [&] { return a->has(Change::FOUND, bob()) && b->has(Change::FOUND, a->identity.peerId()); }, [&]
		{
			oldInstance = b->pDiscovery->instanceId();
			b->pDiscovery.reset();   // "crash": no goodbye
			crashed = Clock::now();
		})
		.step("a few ms pass, so that the new instance's clock reads later", [&] { return Clock::now() - crashed > 5ms; }, [&]
		{
			b->create();
			b->discovery().start();
		})
		.step("a sees b restarted", [&] { return a->has(Change::UPDATED, bob()); })
		.step("the restarted b finds a again (a answers a restart)", [&] { return b->events.size() == 2; }, [&]
		{
			replays = a->pDiscovery->stats().droppedReplay;
			capture.send(capture.datagrams.front(), loopbackBroadcast(a->discovery().port()));   // old instance's query
		})
		.step("a drops the old instance's datagram", [&] { return a->pDiscovery->stats().droppedReplay > replays; });
	const std::string failure = script.run();
	CPPUNIT_ASSERT_MESSAGE(failure, failure.empty());

	CPPUNIT_ASSERT_EQUAL_MESSAGE(describe(*a), std::size_t(2), a->events.size());
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), a->count(Change::FOUND, bob()));
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), a->count(Change::UPDATED, bob()));
	const LanPeer& updated = a->last(Change::UPDATED, bob())->peer;
	CPPUNIT_ASSERT(updated.instanceId != oldInstance);
	CPPUNIT_ASSERT_EQUAL(b->pDiscovery->instanceId(), updated.instanceId);
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), a->pDiscovery->peers().size());
	CPPUNIT_ASSERT_EQUAL(b->pDiscovery->instanceId(), a->pDiscovery->peers()[0].instanceId);
	CPPUNIT_ASSERT(b->events[1].change == Change::FOUND);
}


void LanDiscoveryTest::testExpiry()
{
	EventLoop loop;
	Capture raw(loop, SocketAddress("127.0.0.1", 0));
	const Identity mallory = Identity::generate();
	std::unique_ptr<Node> a;
	std::unique_ptr<Node> b;
	std::uint16_t port = 0;
	Clock::time_point bFound;
	bool lostTooEarly = false;
	auto fastConfig = [](std::uint16_t p)
	{
		LanDiscoveryConfig config = loopbackConfig(p);
		config.announceInterval = 100ms;
		config.expiryIntervals = 3;
		config.sendGoodbye = false;
		return config;
	};

	Script script(loop);
	script
		.then("start a; mallory announces once and never again", [&]
		{
			a = std::make_unique<Node>(loop, Identity::generate(), fastConfig(0), "alice", 1001);
			a->discovery().start();
			port = a->discovery().port();
			raw.send(signedAnnouncement(mallory, "once", 1, 1, 1), loopbackBroadcast(port));
		})
		.step("a finds mallory", [&] { return a->has(Change::FOUND, mallory.peerId()); })
		.step("a loses mallory after 3 silent intervals", [&] { return a->has(Change::LOST, mallory.peerId()); }, [&]
		{
			b = std::make_unique<Node>(loop, Identity::generate(), fastConfig(port), "bob", 1002);
			b->discovery().start();
		})
		.step("a finds b", [&] { return a->has(Change::FOUND, b->identity.peerId()); }, [&] { bFound = Clock::now(); })
		.step("b's periodic announcements keep it present for twice the expiry time", [&] { return Clock::now() - bFound > 600ms; }, [&]
		{
			lostTooEarly = a->has(Change::LOST, b->identity.peerId());
			b->pDiscovery.reset();   // gone without a goodbye
		})
		.step("a loses b by expiry", [&] { return a->has(Change::LOST, b->identity.peerId()); });
	const std::string failure = script.run();
	CPPUNIT_ASSERT_MESSAGE(failure, failure.empty());

	CPPUNIT_ASSERT_MESSAGE(describe(*a), !lostTooEarly);
	CPPUNIT_ASSERT_EQUAL_MESSAGE(describe(*a), std::size_t(4), a->events.size());
	CPPUNIT_ASSERT(a->pDiscovery->peers().empty());
	CPPUNIT_ASSERT(a->pDiscovery->stats().accepted >= 4);   // several periodic announcements from b
}


void LanDiscoveryTest::testFloodIsRateLimited()
{
	EventLoop loop;
	Capture flooder(loop, SocketAddress("127.0.0.1", 0));
	std::unique_ptr<Node> a;
	std::unique_ptr<Node> b;
	std::uint16_t port = 0;
	std::uint64_t flooded = 0;
	TimerHandle flood;

	Script script(loop);
	script
		.then("start a; flood it from one source", [&]
		{
			a = std::make_unique<Node>(loop, Identity::generate(), loopbackConfig(0), "alice", 1001);
			a->discovery().start();
			port = a->discovery().port();
			flood = loop.runEvery(2ms, [&]
			{
				for (int i = 0; i < 10; ++i, ++flooded) flooder.send("flood " + std::to_string(flooded), loopbackBroadcast(port));
			});
		})
		.step("a starts dropping the flood", [&] { return a->pDiscovery->stats().droppedRateLimited > 0; }, [&]
		{
			b = std::make_unique<Node>(loop, Identity::generate(), loopbackConfig(port), "bob", 1002);
			b->discovery().start();
		})
		.step("a and b still meet", [&] { return a->has(Change::FOUND, b->identity.peerId()) && b->has(Change::FOUND, a->identity.peerId()); }, [&]
		{
			flood.cancel();
		});
	const std::string failure = script.run();
	CPPUNIT_ASSERT_MESSAGE(failure, failure.empty());

	const auto& stats = a->pDiscovery->stats();
	CPPUNIT_ASSERT(stats.droppedRateLimited > 0);
	// What got past the bucket was parsed (and found malformed); the rest was never parsed.
	CPPUNIT_ASSERT(stats.droppedMalformed > 0);
	CPPUNIT_ASSERT(stats.droppedMalformed + stats.droppedRateLimited <= flooded);
	std::clog << "\n    [flood: " << flooded << " sent, " << stats.droppedRateLimited << " rate-limited, "
		<< stats.droppedMalformed << " parsed] ";
}


void LanDiscoveryTest::testFakeKeysFromOneHostDoNotCrowdOut()
	/// A host announcing many throwaway keys (each validly signed) fills only its own
	/// maxPeersPerSource entries: a real peer from another host is still found, and stays.
{
	EventLoop loop;
	Capture flooder(loop, SocketAddress("127.0.0.2", 0));   // another host, as far as a's table can tell
	std::unique_ptr<Node> a;
	std::unique_ptr<Node> b;
	std::uint16_t port = 0;
	std::vector<Identity> fakes;
	for (int i = 0; i < 40; ++i) fakes.push_back(Identity::generate());
	std::size_t sent = 0;
	TimerHandle flood;

	Script script(loop);
	script
		.then("start a; announce 40 fresh keys from 127.0.0.2", [&]
		{
			LanDiscoveryConfig config = loopbackConfig(0);
			config.perSourceRate = 0;   // not the rate limit: the per-host cap is under test
			a = std::make_unique<Node>(loop, Identity::generate(), config, "alice", 1001);
			a->discovery().start();
			port = a->discovery().port();
			flood = loop.runEvery(1ms, [&]
			{
				if (sent < fakes.size())
				{
					flooder.send(signedAnnouncement(fakes[sent], "fake" + std::to_string(sent), 2000, 1, 1), loopbackBroadcast(port));
					++sent;
				}
			});
		})
		.step("the flood is in", [&] { return a->pDiscovery->stats().accepted >= fakes.size(); }, [&]
		{
			b = std::make_unique<Node>(loop, Identity::generate(), loopbackConfig(port), "bob", 1002);
			b->discovery().start();
		})
		.step("a finds b", [&] { return a->has(Change::FOUND, b->identity.peerId()); });
	const std::string failure = script.run();
	CPPUNIT_ASSERT_MESSAGE(failure, failure.empty());

	const LanDiscoveryConfig defaults;
	std::size_t fakesPresent = 0;
	for (const LanPeer& peer: a->discovery().peers())
		if (peer.source.host() == Poco::Net::IPAddress("127.0.0.2")) ++fakesPresent;
	CPPUNIT_ASSERT_EQUAL(static_cast<std::size_t>(defaults.maxPeersPerSource), fakesPresent);
	CPPUNIT_ASSERT_EQUAL(static_cast<std::uint64_t>(fakes.size() - defaults.maxPeersPerSource),
		a->pDiscovery->stats().evictedPerSource);
	// Every eviction was reported: the fakes seen LOST are exactly those no longer present.
	std::size_t lost = 0;
	for (const Identity& fake: fakes) lost += a->count(Change::LOST, fake.peerId());
	CPPUNIT_ASSERT_EQUAL(fakes.size() - defaults.maxPeersPerSource, lost);
	CPPUNIT_ASSERT(!a->has(Change::LOST, b->identity.peerId()));
}


void LanDiscoveryTest::testAnswersAreLimited()
{
	EventLoop loop;
	Capture querier(loop, SocketAddress("127.0.0.1", 0));
	Capture replier(loop, SocketAddress("127.0.0.1", 0));
	Capture last(loop, SocketAddress("127.0.0.1", 0));
	const Identity mallory = Identity::generate();
	const Identity nina = Identity::generate();
	const Identity oscar = Identity::generate();
	std::unique_ptr<Node> a;
	std::uint16_t port = 0;

	Script script(loop);
	script
		.then("start a (answers without delay, so they leave in the order they were decided)", [&]
		{
			LanDiscoveryConfig config = loopbackConfig(0);
			config.maxAnswerDelay = 0ms;
			a = std::make_unique<Node>(loop, Identity::generate(), config, "alice", 1001);
			a->discovery().start();
			port = a->discovery().port();
			const SocketAddress target("127.0.0.1", port);
			querier.send(signedAnnouncement(mallory, "m", 1, 1, 1, wallClockMs(), {}, Announcement::FLAG_QUERY), target);
			querier.send(signedAnnouncement(mallory, "m", 1, 1, 2, wallClockMs(), {}, Announcement::FLAG_QUERY), target);
			replier.send(signedAnnouncement(nina, "n", 1, 1, 1, wallClockMs(), {}, Announcement::FLAG_REPLY), target);
		})
		.step("a has accepted all three", [&] { return a->pDiscovery->stats().accepted == 3; }, [&]
		{
			last.send(signedAnnouncement(oscar, "o", 1, 1, 1, wallClockMs(), {}, Announcement::FLAG_QUERY),
				SocketAddress("127.0.0.1", port));
		})
		.step("the answer to a later query arrives", [&] { return !last.datagrams.empty(); });
	const std::string failure = script.run();
	CPPUNIT_ASSERT_MESSAGE(failure, failure.empty());

	// Two queries from one source within 500 ms: one answer. A reply (even from a new peer): none.
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), querier.datagrams.size());
	CPPUNIT_ASSERT(Announcement::parse(querier.datagrams[0]).hasFlag(Announcement::FLAG_REPLY));
	CPPUNIT_ASSERT(!Announcement::parse(querier.datagrams[0]).hasFlag(Announcement::FLAG_QUERY));
	CPPUNIT_ASSERT(replier.datagrams.empty());
	CPPUNIT_ASSERT_EQUAL(std::uint64_t(2), a->pDiscovery->stats().answersSent);
	CPPUNIT_ASSERT(a->has(Change::FOUND, nina.peerId()));
}


void LanDiscoveryTest::testHandlerMayStopOrDestroy()
{
	EventLoop loop;
	std::unique_ptr<Node> a;
	std::unique_ptr<Node> b;
	std::unique_ptr<Node> c;
	std::unique_ptr<Node> d;
	std::uint16_t port = 0;
	bool cDestroyed = false;

	Script script(loop);
	script
		.then("start b; a stops itself from its handler", [&]
		{
			b = std::make_unique<Node>(loop, Identity::generate(), loopbackConfig(0), "bob", 1002);
			b->discovery().start();
			port = b->discovery().port();
			a = std::make_unique<Node>(loop, Identity::generate(), loopbackConfig(port), "alice", 1001);
			a->onEvent = [&](Change, const LanPeer&) { a->discovery().stop(); };
			a->discovery().start();
		})
		.step("a stopped inside its handler", [&] { return !a->events.empty() && !a->discovery().running(); }, [&]
		{
			c = std::make_unique<Node>(loop, Identity::generate(), loopbackConfig(port), "carol", 1003);
			c->onEvent = [&](Change, const LanPeer&)
			{
				c->pDiscovery.reset();
				cDestroyed = true;
			};
			c->discovery().start();
		})
		.step("c destroyed itself inside its handler", [&] { return cDestroyed; }, [&]
		{
			d = std::make_unique<Node>(loop, Identity::generate(), loopbackConfig(port), "dave", 1004);
			d->onEvent = [](Change, const LanPeer&) { throw Poco::IllegalStateException("handler fails"); };
			d->discovery().start();
		})
		.step("d's throwing handler does not stop discovery", [&] { return d->discovery().peers().size() == 1 && b->knows(d->identity.peerId()); });
	const std::string failure = script.run();
	CPPUNIT_ASSERT_MESSAGE(failure, failure.empty());

	CPPUNIT_ASSERT_EQUAL(std::size_t(1), a->events.size());
	CPPUNIT_ASSERT(!c->pDiscovery);
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), c->events.size());
	CPPUNIT_ASSERT(d->discovery().running());
	CPPUNIT_ASSERT_EQUAL(std::uint64_t(0), loop.handlerErrors());
}


void LanDiscoveryTest::testIpv6Unicast()
{
	EventLoop loop;
	std::unique_ptr<Capture> pRaw;
	try
	{
		pRaw = std::make_unique<Capture>(loop, SocketAddress("::1", 0));
	}
	catch (const Poco::Exception& exc)
	{
		std::clog << "\n    [SKIPPED: no IPv6 loopback: " << exc.displayText() << "] ";
		return;
	}
	Capture& raw = *pRaw;
	const Identity mallory = Identity::generate();
	std::unique_ptr<Node> a;

	Script script(loop);
	script
		.then("start a with the IPv6 capture socket as extra target", [&]
		{
			LanDiscoveryConfig config = loopbackConfig(0);
			config.extraTargets.push_back(raw.address());
			a = std::make_unique<Node>(loop, Identity::generate(), config, "alice", 1001);
			a->discovery().start();
		})
		.step("a's query arrives over IPv6", [&] { return !raw.datagrams.empty(); }, [&]
		{
			const Announcement query = Announcement::parse(raw.datagrams[0]);
			CPPUNIT_ASSERT(query.peerId == a->identity.peerId());
			CPPUNIT_ASSERT(query.hasFlag(Announcement::FLAG_QUERY));
			const bool announcesV6 = std::any_of(query.addresses.begin(), query.addresses.end(),
				[](const IPAddress& address) { return address.family() == IPAddress::IPv6 && address.isWildcard(); });
			CPPUNIT_ASSERT(announcesV6);
			raw.send(signedAnnouncement(mallory, "six", 7000, 1, 1, wallClockMs(), {IPAddress("::")}),
				SocketAddress("::1", a->discovery().port()));
		})
		.step("a finds mallory and answers her over IPv6", [&] { return a->has(Change::FOUND, mallory.peerId()) && raw.datagrams.size() >= 2; });
	const std::string failure = script.run();
	CPPUNIT_ASSERT_MESSAGE(failure, failure.empty());

	const LanPeer& peer = a->last(Change::FOUND, mallory.peerId())->peer;
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), peer.addresses.size());
	CPPUNIT_ASSERT_EQUAL(std::string("[::1]:7000"), peer.addresses[0].toString());
	const Announcement answer = Announcement::parse(raw.datagrams.back());
	CPPUNIT_ASSERT(answer.hasFlag(Announcement::FLAG_REPLY));
	CPPUNIT_ASSERT(answer.peerId == a->identity.peerId());
	CPPUNIT_ASSERT(answer.sequence > Announcement::parse(raw.datagrams[0]).sequence);
}


void LanDiscoveryTest::testLocalInfoValidated()
{
	EventLoop loop;
	const Identity identity = Identity::generate();
	LanDiscovery discovery(loop, identity, loopbackConfig(0));
	CPPUNIT_ASSERT_THROW(discovery.setLocalInfo(std::string(65, 'n'), 1), Poco::InvalidArgumentException);
	CPPUNIT_ASSERT_THROW(discovery.setLocalInfo("bell\a", 1), Poco::InvalidArgumentException);
	CPPUNIT_ASSERT_NO_THROW(discovery.setLocalInfo(std::string(64, 'n'), 1));
	CPPUNIT_ASSERT(!discovery.running());
	CPPUNIT_ASSERT_EQUAL(std::uint16_t(0), discovery.port());
	discovery.stop();   // stop before start does nothing
	const std::uint64_t first = discovery.instanceId();
	discovery.start();
	CPPUNIT_ASSERT(discovery.running());
	CPPUNIT_ASSERT(discovery.port() != 0);
	CPPUNIT_ASSERT_EQUAL(first, discovery.instanceId());
	discovery.stop();
	discovery.start();   // a second start is a new instance
	CPPUNIT_ASSERT(discovery.instanceId() != first);
	discovery.stop();
	CPPUNIT_ASSERT(discovery.stats().sent >= 4);   // two queries and two goodbyes to 127.255.255.255
}
