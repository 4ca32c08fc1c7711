//
// GroupServiceTest.cpp
//
// testsuite: tests for GroupService over a fake network of services and a ManualScheduler
// (no sockets, no sleeps). Every message crosses the session catalog (encoded, schema-checked,
// decoded) as it would on a session.
//


#include "GroupServiceTest.h"
#include "../TestSupport.h"
#include "GroupService.h"
#include "CrossChat/Chat/SessionProtocol.h"
#include "CrossChat/FrameCodec.h"
#include "CrossChat/Identity.h"
#include "CrossChat/ManualScheduler.h"
#include "ChatStoreSchema.h"
#include "Poco/Data/Session.h"
#include "Poco/Data/SQLite/SessionImpl.h"
#include <optional>
#include <sys/stat.h>
#include <cppunit/TestAssert.h>
#include <map>
#include <memory>
#include <set>


using namespace CrossChat;
using namespace CrossChat::Chat;


namespace {


class Net;


struct Node: public GroupHost
{
	Node(Net& net, std::string name, std::optional<Identity> given = std::nullopt, const std::string& database = std::string());
	~Node() override
	{
		service.stop();
		store.reset();
		chatStore.reset();
	}

	Scheduler& groupScheduler() override;
	const Identity& groupIdentity() const override { return identity; }
	GroupStore* groupStore() override { return store.get(); }
	bool sendTo(const PeerId& peer, const std::string& name, const Poco::JSON::Object& body) override;
	bool groupConnected(const PeerId& peer) const override;
	Relation groupRelation(const PeerId& peer) const override
	{
		return blocked.count(peer) ? Relation::BLOCKED : contacts.count(peer) ? Relation::CONTACT : Relation::STRANGER;
	}
	std::string groupPeerName(const PeerId& peer) const override { return peer.shortString(); }
	void setGroupPeers(const std::set<PeerId>& peers) override { groupPeers = peers; }
	void makeContact(const PeerId& peer) override { contacts.insert(peer); }
	void groupMessage(const GroupMessage& message) override { received.push_back(message); }
	void groupChanged(const GroupChange& change) override { changes.push_back(change); }

	std::vector<std::string> texts() const
	{
		std::vector<std::string> result;
		for (const GroupMessage& message: received) result.push_back(message.text);
		return result;
	}

	bool changed(const std::string& kind) const
	{
		for (const GroupChange& change: changes) if (change.kind == kind) return true;
		return false;
	}

	Net& net;
	std::string name;
	Identity identity;
	std::unique_ptr<ChatStore> chatStore;
	std::unique_ptr<GroupStore> store;
	GroupService service;
	std::set<PeerId> groupPeers;
	std::set<PeerId> contacts;
	std::set<PeerId> blocked;
	std::vector<GroupMessage> received;
	std::vector<GroupChange> changes;
};


class Net
	/// Nodes and the links (sessions) between them; messages cross a link as posted tasks.
{
public:
	Node& add(const std::string& name, std::optional<Identity> identity = std::nullopt, const std::string& database = std::string())
	{
		auto node = std::make_unique<Node>(*this, name, identity, database);
		Node& result = *node;
		nodes.push_back(std::move(node));
		result.service.start();
		return result;
	}

	void link(Node& a, Node& b)
	{
		links.insert(key(a.identity.peerId(), b.identity.peerId()));
		a.service.connected(b.identity.peerId());
		b.service.connected(a.identity.peerId());
		settle();
	}

	void unlink(Node& a, Node& b)
	{
		links.erase(key(a.identity.peerId(), b.identity.peerId()));
	}

	bool linked(const PeerId& a, const PeerId& b) const
	{
		return links.count(key(a, b)) != 0;
	}

	bool send(const PeerId& from, const PeerId& to, const std::string& name, const Poco::JSON::Object& body)
	{
		if (!linked(from, to)) return false;
		// As on a session: schema-checked on the way out, framed, decoded and checked on the way in.
		const std::string bytes = SessionProtocol::catalog().encode(codec, name, body);
		const Frame frame{bytes[3] == 0 ? std::uint8_t(0) : static_cast<std::uint8_t>(bytes[3]), bytes.substr(8)};
		const Message message = SessionProtocol::catalog().decode(frame);
		++frames[name];
		if (dropName == name && dropCount > 0)
		{
			--dropCount;
			return true;   // lost on the way
		}
		scheduler.post([this, from, to, message] {
			if (!linked(from, to)) return;
			for (const auto& node: nodes)
				if (node->identity.peerId() == to) node->service.receive(from, message);
		});
		return true;
	}

	void settle()
	{
		scheduler.runPending();
	}

	void join(Node& admin, Node& member, const std::string& group)
		/// admin invites member, member accepts, over a link between them.
	{
		if (!linked(admin.identity.peerId(), member.identity.peerId())) link(admin, member);
		admin.service.invite(*GroupIds::fromText(group), member.identity.peerId());
		settle();
		member.service.acceptInvitation(*GroupIds::fromText(group));
		settle();
	}

	std::string meshOfThree(Node& founder, Node& second, Node& third)
		/// A group "g" that founder creates, second and third join; all three linked. Its ID (text).
	{
		const std::string group = founder.service.create("g", false);
		join(founder, second, group);
		join(founder, third, group);
		link(second, third);
		return group;
	}

	static std::pair<PeerId, PeerId> key(const PeerId& a, const PeerId& b)
	{
		return a < b ? std::make_pair(a, b) : std::make_pair(b, a);
	}

	ManualScheduler scheduler;
	FrameCodec codec{SessionProtocol::MAX_FRAME_SIZE};
	std::vector<std::unique_ptr<Node>> nodes;
	std::set<std::pair<PeerId, PeerId>> links;
	std::map<std::string, std::size_t> frames;
	std::string dropName;
	std::size_t dropCount = 0;
};


Node::Node(Net& net_, std::string name_, std::optional<Identity> given, const std::string& database):
	net(net_),
	name(std::move(name_)),
	identity(given ? *given : Identity::generate()),
	service(*this)
{
	if (!database.empty())
	{
		chatStore = std::make_unique<ChatStore>(net.scheduler);
		chatStore->open(database);
		store = std::make_unique<GroupStore>(*chatStore);
	}
}


Scheduler& Node::groupScheduler()
{
	return net.scheduler;
}


bool Node::sendTo(const PeerId& peer, const std::string& messageName, const Poco::JSON::Object& body)
{
	return net.send(identity.peerId(), peer, messageName, body);
}


bool Node::groupConnected(const PeerId& peer) const
{
	return net.linked(identity.peerId(), peer);
}


std::string raw(const std::string& group)
{
	return *GroupIds::fromText(group);
}


std::string stateOf(Node& node, const std::string& group)
{
	for (const GroupInfo& info: node.service.groups())
		if (info.id == group) return info.state;
	return "unknown";
}


std::vector<std::string> numbered(const std::string& prefix, int from, int to)
{
	std::vector<std::string> result;
	for (int i = from; i <= to; ++i) result.push_back(prefix + std::to_string(i));
	return result;
}


} // namespace


void GroupServiceTest::testInviteAcceptJoin()
{
	Net net;
	Node& alice = net.add("alice");
	Node& bob = net.add("bob");
	const std::string group = alice.service.create("friends", false);
	CPPUNIT_ASSERT(alice.changed("created"));
	net.join(alice, bob, group);
	CPPUNIT_ASSERT(bob.changed("invited"));
	CPPUNIT_ASSERT(bob.changed("joined"));
	CPPUNIT_ASSERT_EQUAL(std::string("member"), stateOf(bob, group));
	CPPUNIT_ASSERT(alice.changed("added"));
	CPPUNIT_ASSERT(alice.contacts.count(bob.identity.peerId()));
	CPPUNIT_ASSERT(bob.groupPeers.count(alice.identity.peerId()));
	CPPUNIT_ASSERT(alice.groupPeers.count(bob.identity.peerId()));
	const GroupInfo info = bob.service.info(raw(group));
	CPPUNIT_ASSERT_EQUAL(std::size_t(2), info.memberList.size());
	CPPUNIT_ASSERT_EQUAL(std::string("friends"), info.name);
	CPPUNIT_ASSERT_EQUAL(std::uint64_t(2), info.version);

	alice.service.send(raw(group), "hello bob");
	net.settle();
	CPPUNIT_ASSERT(bob.texts() == std::vector<std::string>{"hello bob"});
	bob.service.send(raw(group), "hi alice");
	net.settle();
	CPPUNIT_ASSERT(alice.texts() == std::vector<std::string>{"hi alice"});
	// Only admins invite; a member is not invited twice.
	Node& carol = net.add("carol");
	CPPUNIT_ASSERT_THROW(bob.service.invite(raw(group), carol.identity.peerId()), Poco::IllegalStateException);
	CPPUNIT_ASSERT_THROW(alice.service.invite(raw(group), bob.identity.peerId()), Poco::InvalidArgumentException);
}


void GroupServiceTest::testInvitationIsARequest()
{
	Net net;
	Node& alice = net.add("alice");
	Node& bob = net.add("bob");
	const std::string group = alice.service.create("g", false);
	net.link(alice, bob);
	alice.service.invite(raw(group), bob.identity.peerId());
	net.settle();
	// Until bob's user accepts, bob is invited, alice is no group peer of his, nothing is sent.
	CPPUNIT_ASSERT_EQUAL(std::string("invited"), stateOf(bob, group));
	CPPUNIT_ASSERT(bob.groupPeers.empty());
	CPPUNIT_ASSERT_EQUAL(std::size_t(0), net.frames["group_accept"]);
	alice.service.send(raw(group), "not for bob yet");
	net.settle();
	CPPUNIT_ASSERT(bob.received.empty());
	// Declining leaves no trace of membership; a stranger's invitations are bounded.
	bob.service.leave(raw(group));
	CPPUNIT_ASSERT_EQUAL(std::string("left"), stateOf(bob, group));
	CPPUNIT_ASSERT(bob.changed("declined"));
	Node& mallory = net.add("mallory");
	net.link(mallory, bob);
	for (int i = 0; i < 10; ++i)
	{
		const std::string spam = mallory.service.create("spam" + std::to_string(i), false);
		mallory.service.invite(raw(spam), bob.identity.peerId());
	}
	net.settle();
	std::size_t invitations = 0;
	for (const GroupInfo& info: bob.service.groups()) if (info.state == "invited") ++invitations;
	CPPUNIT_ASSERT_EQUAL(GroupService::MAX_INVITATIONS_PER_PEER, invitations);
	CPPUNIT_ASSERT(bob.service.stats().refused >= 6);
}


void GroupServiceTest::testStrangersCannotCrowdOutAContact()
{
	Net net;
	Node& bob = net.add("bob");
	// Strangers fill bob's invitations from strangers (4 each, 64 in all)...
	const std::size_t crowd = GroupService::MAX_INVITATIONS / GroupService::MAX_INVITATIONS_PER_PEER + 1;
	for (std::size_t i = 0; i < crowd; ++i)
	{
		Node& stranger = net.add("stranger" + std::to_string(i));
		net.link(stranger, bob);
		for (std::size_t j = 0; j < GroupService::MAX_INVITATIONS_PER_PEER; ++j)
			stranger.service.invite(raw(stranger.service.create("spam", false)), bob.identity.peerId());
	}
	net.settle();
	std::size_t invitations = 0;
	for (const GroupInfo& info: bob.service.groups()) if (info.state == "invited") ++invitations;
	CPPUNIT_ASSERT_EQUAL(GroupService::MAX_INVITATIONS, invitations);
	// ... and a contact's invitation still reaches him.
	Node& alice = net.add("alice");
	bob.contacts.insert(alice.identity.peerId());
	net.link(alice, bob);
	const std::string group = alice.service.create("friends", false);
	alice.service.invite(raw(group), bob.identity.peerId());
	net.settle();
	CPPUNIT_ASSERT_EQUAL(std::string("invited"), stateOf(bob, group));
}


void GroupServiceTest::testFanOutThroughAMember()
{
	// alice - bob - carol: alice and carol never meet; bob hands messages on both ways.
	Net net;
	Node& alice = net.add("alice");
	Node& bob = net.add("bob");
	Node& carol = net.add("carol");
	const std::string group = alice.service.create("chain", false);
	net.join(alice, bob, group);
	net.join(alice, carol, group);
	net.unlink(alice, carol);
	net.link(bob, carol);
	alice.service.send(raw(group), "a1");
	alice.service.send(raw(group), "a2");
	net.settle();
	carol.service.send(raw(group), "c1");
	net.settle();
	CPPUNIT_ASSERT((carol.texts() == std::vector<std::string>{"a1", "a2"}));
	CPPUNIT_ASSERT((alice.texts() == std::vector<std::string>{"c1"}));
	CPPUNIT_ASSERT((bob.texts() == std::vector<std::string>{"a1", "a2", "c1"}));
	CPPUNIT_ASSERT(bob.service.stats().forwarded >= 3);
	// In a full mesh, each member gets one copy from the author and nobody hands it on.
	net.link(alice, carol);
	const std::uint64_t aliceSent = alice.service.stats().forwarded;
	const std::uint64_t bobSent = bob.service.stats().forwarded;
	alice.service.send(raw(group), "a3");
	net.settle();
	CPPUNIT_ASSERT((carol.texts() == std::vector<std::string>{"a1", "a2", "a3"}));
	CPPUNIT_ASSERT_EQUAL(aliceSent + 2, alice.service.stats().forwarded);
	CPPUNIT_ASSERT_EQUAL(bobSent, bob.service.stats().forwarded);
	CPPUNIT_ASSERT_EQUAL(std::uint64_t(0), carol.service.stats().duplicates);
	// A copy that comes again (a second path) is dropped, not delivered twice.
	GroupMessage last = alice.service.history(raw(group), 1, 0).back();
	CPPUNIT_ASSERT_EQUAL(std::string("a3"), last.text);
	net.unlink(bob, carol);
	net.link(bob, carol);
	CPPUNIT_ASSERT_EQUAL(std::size_t(3), carol.received.size());
}


void GroupServiceTest::testOfflineMemberCatchesUp()
{
	Net net;
	Node& alice = net.add("alice");
	Node& bob = net.add("bob");
	Node& carol = net.add("carol");
	const std::string group = net.meshOfThree(alice, bob, carol);
	alice.service.send(raw(group), "before");
	net.settle();
	// carol goes away; both others write.
	net.unlink(alice, carol);
	net.unlink(bob, carol);
	for (int i = 1; i <= 5; ++i) alice.service.send(raw(group), "a" + std::to_string(i));
	for (int i = 1; i <= 3; ++i) bob.service.send(raw(group), "b" + std::to_string(i));
	net.settle();
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), carol.received.size());
	// Back, reaching only bob (say, through the relay): bob fills every gap, alice's too.
	net.link(bob, carol);
	std::vector<std::string> fromAlice;
	std::vector<std::string> fromBob;
	for (const GroupMessage& message: carol.received)
		(message.from == alice.identity.peerId() ? fromAlice : fromBob).push_back(message.text);
	CPPUNIT_ASSERT((fromAlice == std::vector<std::string>{"before", "a1", "a2", "a3", "a4", "a5"}));
	CPPUNIT_ASSERT((fromBob == std::vector<std::string>{"b1", "b2", "b3"}));
	CPPUNIT_ASSERT(carol.service.stats().gapRequests >= 1);
	// Everyone ends with the same messages.
	CPPUNIT_ASSERT_EQUAL(std::size_t(9), carol.service.history(raw(group), 100, 0).size());
	CPPUNIT_ASSERT_EQUAL(std::size_t(9), alice.service.history(raw(group), 100, 0).size());
}


void GroupServiceTest::testGapRoundsAreBounded()
{
	Net net;
	Node& alice = net.add("alice");
	Node& bob = net.add("bob");
	const std::string group = alice.service.create("g", false);
	net.join(alice, bob, group);
	net.unlink(alice, bob);
	const int count = 200;
	for (int i = 1; i <= count; ++i) alice.service.send(raw(group), "m" + std::to_string(i));
	net.frames.clear();
	net.link(alice, bob);
	CPPUNIT_ASSERT((bob.texts() == numbered("m", 1, count)));
	// Each round answers at most MAX_ANSWER_MESSAGES: 200 messages take 4 rounds.
	const std::size_t rounds = net.frames["group_want"];
	CPPUNIT_ASSERT(rounds >= (count + GroupService::MAX_ANSWER_MESSAGES - 1) / GroupService::MAX_ANSWER_MESSAGES);
	CPPUNIT_ASSERT(rounds <= 8);
	CPPUNIT_ASSERT_EQUAL(static_cast<std::uint64_t>(count), alice.service.stats().gapAnswers);
}


void GroupServiceTest::testHeldBackUntilPredecessor()
{
	Net net;
	Node& alice = net.add("alice");
	Node& bob = net.add("bob");
	const std::string group = alice.service.create("g", false);
	net.join(alice, bob, group);
	// alice's first message is lost on the way; the second arrives first.
	net.dropName = "group_msg";
	net.dropCount = 1;
	alice.service.send(raw(group), "one");
	alice.service.send(raw(group), "two");
	alice.service.send(raw(group), "three");
	net.settle();
	// bob held two and three back, asked for one, and delivered all in alice's order.
	CPPUNIT_ASSERT((bob.texts() == std::vector<std::string>{"one", "two", "three"}));
	CPPUNIT_ASSERT_EQUAL(std::uint64_t(2), bob.service.stats().held);
	CPPUNIT_ASSERT(bob.service.stats().gapRequests >= 1);
	for (std::size_t i = 0; i < bob.received.size(); ++i) CPPUNIT_ASSERT_EQUAL(std::uint64_t(i + 1), bob.received[i].seq);
}


void GroupServiceTest::testHeldMessagesExpire()
{
	Net net;
	Node& alice = net.add("alice");
	Node& bob = net.add("bob");
	const std::string group = alice.service.create("g", false);
	net.join(alice, bob, group);
	// The gap request is lost too: the held message waits HOLD_TIME, then goes.
	net.dropName = "group_msg";
	net.dropCount = 1;
	alice.service.send(raw(group), "one");
	net.dropName = "group_want";
	net.dropCount = 1;
	alice.service.send(raw(group), "two");
	net.settle();
	CPPUNIT_ASSERT(bob.received.empty());
	CPPUNIT_ASSERT_EQUAL(std::uint64_t(1), bob.service.stats().held);
	// The session goes too (so no anti-entropy round fills the gap meanwhile).
	net.unlink(alice, bob);
	net.scheduler.advance(GroupService::HOLD_TIME + std::chrono::seconds(2));
	CPPUNIT_ASSERT_EQUAL(std::uint64_t(1), bob.service.stats().heldDropped);
	// Only the anti-entropy timers are left (one per service).
	CPPUNIT_ASSERT_EQUAL(net.nodes.size(), net.scheduler.pendingTimers());
	// The next session fills the gap in order.
	net.link(alice, bob);
	CPPUNIT_ASSERT((bob.texts() == std::vector<std::string>{"one", "two"}));
	// A last message lost on the way, with nothing after it to show the gap, comes with the
	// next anti-entropy round.
	net.dropName = "group_msg";
	net.dropCount = 1;
	alice.service.send(raw(group), "three");
	net.settle();
	CPPUNIT_ASSERT_EQUAL(std::size_t(2), bob.received.size());
	net.scheduler.advance(GroupService::SYNC_INTERVAL);
	CPPUNIT_ASSERT((bob.texts() == std::vector<std::string>{"one", "two", "three"}));
}


void GroupServiceTest::testRemovedMemberRefused()
{
	Net net;
	Node& alice = net.add("alice");
	Node& bob = net.add("bob");
	Node& carol = net.add("carol");
	const std::string group = net.meshOfThree(alice, bob, carol);
	carol.service.send(raw(group), "c1");
	net.settle();
	// carol is cut off; alice removes her (after c1); bob hears of it from alice.
	net.unlink(alice, carol);
	net.unlink(bob, carol);
	alice.service.kick(raw(group), carol.identity.peerId());
	net.settle();
	CPPUNIT_ASSERT(bob.changed("removed"));
	CPPUNIT_ASSERT_EQUAL(std::size_t(2), bob.service.info(raw(group)).memberList.size());
	// carol, whose log is old, still writes over a session with bob: bob refuses it.
	CPPUNIT_ASSERT_EQUAL(std::string("member"), stateOf(carol, group));
	net.links.insert(Net::key(bob.identity.peerId(), carol.identity.peerId()));
	const std::uint64_t refused = bob.service.stats().refused;
	carol.service.send(raw(group), "c2 after removal");
	net.settle();
	CPPUNIT_ASSERT((bob.texts() == std::vector<std::string>{"c1"}));
	CPPUNIT_ASSERT((alice.texts() == std::vector<std::string>{"c1"}));
	CPPUNIT_ASSERT(bob.service.stats().refused > refused);
	// When she compares notes, bob sends the former member the log: she learns she is out.
	carol.service.connected(bob.identity.peerId());
	net.settle();
	CPPUNIT_ASSERT_EQUAL(std::string("removed"), stateOf(carol, group));
	CPPUNIT_ASSERT(carol.groupPeers.empty());
	CPPUNIT_ASSERT(!bob.groupPeers.count(carol.identity.peerId()));
	CPPUNIT_ASSERT_THROW(carol.service.send(raw(group), "c3"), Poco::IllegalStateException);
}


void GroupServiceTest::testLeave()
{
	Net net;
	Node& alice = net.add("alice");
	Node& bob = net.add("bob");
	const std::string group = alice.service.create("g", false);
	net.join(alice, bob, group);
	bob.service.send(raw(group), "bye");
	net.settle();
	bob.service.leave(raw(group));
	net.settle();
	CPPUNIT_ASSERT_EQUAL(std::string("left"), stateOf(bob, group));
	CPPUNIT_ASSERT(alice.changed("left"));
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), alice.service.info(raw(group)).memberList.size());
	CPPUNIT_ASSERT(bob.groupPeers.empty());
	CPPUNIT_ASSERT(alice.groupPeers.empty());
	CPPUNIT_ASSERT((alice.texts() == std::vector<std::string>{"bye"}));
	// Invited again, bob rejoins; his sequence goes on (2, not 1 again), so his message counts.
	net.join(alice, bob, group);
	CPPUNIT_ASSERT_EQUAL(std::string("member"), stateOf(bob, group));
	CPPUNIT_ASSERT_EQUAL(std::uint64_t(2), bob.service.send(raw(group), "back").seq);
	net.settle();
	CPPUNIT_ASSERT((alice.texts() == std::vector<std::string>{"bye", "back"}));
}


void GroupServiceTest::testNewMemberSeesFromJoining()
{
	Net net;
	Node& alice = net.add("alice");
	Node& bob = net.add("bob");
	Node& carol = net.add("carol");
	const std::string group = alice.service.create("g", false);
	net.join(alice, bob, group);
	alice.service.send(raw(group), "old a");
	bob.service.send(raw(group), "old b");
	net.settle();
	net.join(alice, carol, group);
	net.link(bob, carol);
	alice.service.send(raw(group), "new a");
	bob.service.send(raw(group), "new b");
	net.settle();
	// bob hears that carol joined; carol hears only that she joined, not the group's past.
	CPPUNIT_ASSERT(bob.changed("added"));
	CPPUNIT_ASSERT(carol.changed("joined"));
	CPPUNIT_ASSERT(!carol.changed("added"));
	// carol gets what was written since she joined, and nothing is held back for the rest.
	CPPUNIT_ASSERT((carol.texts() == std::vector<std::string>{"new a", "new b"}));
	CPPUNIT_ASSERT_EQUAL(std::uint64_t(0), carol.service.stats().held);
	// A later session asks for nothing she may not see.
	net.unlink(bob, carol);
	net.link(bob, carol);
	CPPUNIT_ASSERT_EQUAL(std::size_t(2), carol.received.size());
}


void GroupServiceTest::testSharedHistory()
{
	Net net;
	Node& alice = net.add("alice");
	Node& bob = net.add("bob");
	const std::string group = alice.service.create("open", true);
	alice.service.send(raw(group), "first");
	alice.service.send(raw(group), "second");
	net.join(alice, bob, group);
	CPPUNIT_ASSERT((bob.texts() == std::vector<std::string>{"first", "second"}));
	CPPUNIT_ASSERT(bob.service.info(raw(group)).shareHistory);
}


void GroupServiceTest::testForgedAndNonMemberMessages()
{
	Net net;
	Node& alice = net.add("alice");
	Node& bob = net.add("bob");
	Node& mallory = net.add("mallory");
	const std::string group = alice.service.create("g", false);
	net.join(alice, bob, group);
	net.link(mallory, bob);
	// mallory writes in alice's name (her own key; then alice's key with a bad signature).
	GroupPost post;
	post.group = raw(group);
	post.seq = 1;
	post.id = "forged";
	post.version = 2;
	post.text = "I am alice";
	post.sign(mallory.identity);
	post.author = alice.identity.peerId();
	const std::uint64_t refused = bob.service.stats().refused;
	net.send(mallory.identity.peerId(), bob.identity.peerId(), "group_msg", post.toJson());
	net.settle();
	post.authorKey = alice.identity.publicKey().raw();
	net.send(mallory.identity.peerId(), bob.identity.peerId(), "group_msg", post.toJson());
	net.settle();
	// A non-member's own message, and a forged copy handed on by a member.
	GroupPost own;
	own.group = raw(group);
	own.seq = 1;
	own.id = "m";
	own.version = 2;
	own.text = "let me in";
	own.sign(mallory.identity);
	net.send(mallory.identity.peerId(), bob.identity.peerId(), "group_msg", own.toJson());
	net.settle();
	net.send(alice.identity.peerId(), bob.identity.peerId(), "group_msg", post.toJson());
	net.settle();
	CPPUNIT_ASSERT(bob.received.empty());
	CPPUNIT_ASSERT(bob.service.stats().refused >= refused + 3);
	// Malformed bodies are refused alone; the group goes on.
	Poco::JSON::Object bad = own.toJson();
	bad.set("akey", std::string(44, '!'));
	net.send(alice.identity.peerId(), bob.identity.peerId(), "group_msg", bad);
	net.settle();
	alice.service.send(raw(group), "real");
	net.settle();
	CPPUNIT_ASSERT((bob.texts() == std::vector<std::string>{"real"}));
}


void GroupServiceTest::testConcurrentAdminsConverge()
{
	Net net;
	Node& alice = net.add("alice");
	Node& bob = net.add("bob");
	Node& carol = net.add("carol");
	const std::string group = alice.service.create("g", false);
	net.join(alice, bob, group);
	net.join(alice, carol, group);
	alice.service.promote(raw(group), bob.identity.peerId());
	net.link(bob, carol);
	// alice and bob sign version 5 at once, without hearing each other.
	net.unlink(alice, bob);
	net.unlink(alice, carol);
	net.unlink(bob, carol);
	alice.service.rename(raw(group), "by alice");
	bob.service.kick(raw(group), carol.identity.peerId());
	net.link(alice, bob);
	net.link(alice, carol);
	net.link(bob, carol);
	net.settle();
	// Everyone ends on the same chain, and neither decision is lost: the loser signs again.
	const GroupInfo a = alice.service.info(raw(group));
	const GroupInfo b = bob.service.info(raw(group));
	CPPUNIT_ASSERT_EQUAL(a.version, b.version);
	CPPUNIT_ASSERT_EQUAL(std::uint64_t(6), a.version);
	CPPUNIT_ASSERT_EQUAL(std::string("by alice"), a.name);
	CPPUNIT_ASSERT_EQUAL(std::size_t(2), a.memberList.size());
	CPPUNIT_ASSERT_EQUAL(std::string("removed"), stateOf(carol, group));
}


void GroupServiceTest::testAuthorRateBounded()
{
	Net net;
	Node& alice = net.add("alice");
	Node& bob = net.add("bob");
	const std::string group = alice.service.create("g", false);
	net.join(alice, bob, group);
	// alice writes far beyond the burst at once: bob takes AUTHOR_BURST now, the rest later,
	// through the gap exchange, in order.
	const int count = GroupService::AUTHOR_BURST + 300;
	for (int i = 1; i <= count; ++i) alice.service.send(raw(group), "m" + std::to_string(i));
	net.settle();
	CPPUNIT_ASSERT(bob.received.size() >= static_cast<std::size_t>(GroupService::AUTHOR_BURST));
	CPPUNIT_ASSERT(bob.received.size() < static_cast<std::size_t>(count));
	CPPUNIT_ASSERT(bob.service.stats().refused >= 1);
	for (int second = 0; second < 40 && bob.received.size() < static_cast<std::size_t>(count); ++second)
		net.scheduler.advance(GroupService::SYNC_INTERVAL);
	CPPUNIT_ASSERT((bob.texts() == numbered("m", 1, count)));
}


void GroupServiceTest::testRestartKeepsGroups()
{
	const CrossChat::Test::TempDirectory temp;
	const std::string& dir = temp.directory();
	const std::string db = dir + "/alice.db";
	const Identity aliceId = Identity::generate();
	std::string group;
	{
		Net net;
		Node& alice = net.add("alice", aliceId, db);
		Node& bob = net.add("bob");
		group = alice.service.create("durable", false);
		net.join(alice, bob, group);
		alice.service.send(raw(group), "a1");
		bob.service.send(raw(group), "b1");
		net.settle();
		alice.service.send(raw(group), "a2");
		net.settle();
		CPPUNIT_ASSERT_EQUAL(std::size_t(3), alice.service.history(raw(group), 10, 0).size());
	}
	{
		// alice comes back: the group, its log, its history and her sequence are there.
		Net net;
		Node& alice = net.add("alice", aliceId, db);
		const GroupInfo info = alice.service.info(raw(group));
		CPPUNIT_ASSERT_EQUAL(std::string("member"), info.state);
		CPPUNIT_ASSERT_EQUAL(std::string("founder"), info.role);
		CPPUNIT_ASSERT_EQUAL(std::size_t(2), info.memberList.size());
		const std::vector<GroupMessage> history = alice.service.history(raw(group), 10, 0);
		CPPUNIT_ASSERT_EQUAL(std::size_t(3), history.size());
		CPPUNIT_ASSERT_EQUAL(std::string("a1"), history[0].text);
		CPPUNIT_ASSERT(history[0].own);
		CPPUNIT_ASSERT_EQUAL(std::string("b1"), history[1].text);
		CPPUNIT_ASSERT_EQUAL(std::string("a2"), history[2].text);
		CPPUNIT_ASSERT(history[1].sequence < history[2].sequence);
		CPPUNIT_ASSERT_EQUAL(std::size_t(1), alice.service.history(raw(group), 10, history[1].sequence).size());
		CPPUNIT_ASSERT_EQUAL(std::uint64_t(3), alice.service.send(raw(group), "a3").seq);
		CPPUNIT_ASSERT(alice.groupPeers.size() == 1);
	}
	// A database of schema version 1 (before groups) is migrated, its contents kept.
	const std::string old = dir + "/old.db";
	{
		Poco::Data::Session session(new Poco::Data::SQLite::SessionImpl(old));
		ChatStoreSchema::configure(session, old);
		std::vector<ChatStoreSchema::Migration> first(ChatStoreSchema::migrations().begin(), ChatStoreSchema::migrations().begin() + 1);
		CPPUNIT_ASSERT_EQUAL(1, ChatStoreSchema::migrate(session, first, old));
	}
	CPPUNIT_ASSERT_EQUAL(0, ::chmod(old.c_str(), 0600));
	{
		ManualScheduler loop;
		ChatStore store(loop);
		store.open(old);
		CPPUNIT_ASSERT(store.schemaVersion() >= 2);
		GroupStore groups(store);
		CPPUNIT_ASSERT(groups.groups().empty());
		CPPUNIT_ASSERT_EQUAL(std::string("ok"), store.check());
	}
}
