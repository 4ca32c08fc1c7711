//
// GroupNodeTest.cpp
//
// testsuite: group conversations through ChatNode over loopback: invitations, fan-out over
// real sessions, a member away (stopped) that catches up after a restart from its database.
// All nodes share one EventLoop in the test thread; tests wait for events (runUntil), the
// time limit only turns a hang into a failure.
//


#include "GroupNodeTest.h"
#include "../TestSupport.h"
#include "CrossChat/Chat/ChatNode.h"
#include "CrossChat/EventLoop.h"
#include "CrossChat/Identity.h"
#include "Poco/Exception.h"
#include <fstream>
#include <map>
#include <memory>
#include <sstream>


using namespace CrossChat;
using namespace CrossChat::Chat;
using namespace std::chrono_literals;
using CrossChat::Test::runUntil;
using CrossChat::Test::TempDirectory;


namespace {


ChatNodeConfig config(const std::string& name, const std::string& database = std::string())
{
	ChatNodeConfig config;
	config.name = name;
	config.listenAddress = Poco::Net::SocketAddress("127.0.0.1", 0);
	config.enableLan = false;
	config.portMapping = false;
	config.reconnectMin = 20ms;
	config.reconnectMax = 200ms;
	config.connectTimeout = 2000ms;
	config.databasePath = database;
	return config;
}


struct Member
{
	Member(EventLoop& loop, const std::string& name, const std::string& database = std::string(),
		const Identity& given = Identity::generate()):
		identity(given),
		node(std::make_unique<ChatNode>(loop, identity, config(name, database)))
	{
		attach();
	}

	void attach()
	{
		node->setGroupMessageHandler([this](const GroupMessage& message) { messages.push_back(message); });
		node->setGroupHandler([this](const GroupChange& change) { changes.push_back(change); });
		node->setTransferHandler([this](const TransferInfo& transfer, bool) { transfers[transfer.id] = transfer; });
	}

	TransferState state(const std::string& id) const
	{
		auto it = transfers.find(id);
		return it == transfers.end() ? TransferState::PREPARING : it->second.state;
	}

	bool saw(const std::string& kind) const
	{
		for (const GroupChange& change: changes) if (change.kind == kind) return true;
		return false;
	}

	Identity identity;
	std::unique_ptr<ChatNode> node;
	std::vector<GroupMessage> messages;
	std::vector<GroupChange> changes;
	std::map<std::string, TransferInfo> transfers;   ///< The latest of each transfer.
};


void meet(Member& a, Member& b)
{
	a.node->addPeerAddress(b.identity.peerId(), Poco::Net::SocketAddress("127.0.0.1", b.node->port()));
	b.node->addPeerAddress(a.identity.peerId(), Poco::Net::SocketAddress("127.0.0.1", a.node->port()));
}


std::string readAll(const std::string& path)
{
	std::ifstream in(path, std::ios::binary);
	std::ostringstream text;
	text << in.rdbuf();
	return text.str();
}


std::map<std::string, std::vector<std::uint64_t>> perAuthor(const std::vector<GroupMessage>& history)
	/// Each author's sequence numbers in the order they were delivered.
{
	std::map<std::string, std::vector<std::uint64_t>> result;
	for (const GroupMessage& message: history) result[message.from.toString()].push_back(message.seq);
	return result;
}


} // namespace


void GroupNodeTest::testThreeMembersOneAway()
{
	const TempDirectory temp;   // private: the store insists
	const std::string& dir = temp.directory();
	EventLoop loop;
	Member alice(loop, "alice", dir + "/alice.db");
	Member bob(loop, "bob", dir + "/bob.db");
	Member carol(loop, "carol", dir + "/carol.db");
	alice.node->start();
	bob.node->start();
	carol.node->start();
	meet(alice, bob);
	meet(alice, carol);
	meet(bob, carol);

	const std::string group = alice.node->createGroup("trio");
	alice.node->inviteToGroup(group, bob.identity.peerId());
	alice.node->inviteToGroup(group, carol.identity.peerId());
	CPPUNIT_ASSERT(runUntil(loop, [&] { return bob.saw("invited") && carol.saw("invited"); }));
	// An invitation is only a request: nothing joins until the user accepts.
	CPPUNIT_ASSERT_EQUAL(std::string("invited"), bob.node->groups().front().state);
	bob.node->acceptGroupInvitation(group);
	carol.node->acceptGroupInvitation(group);
	CPPUNIT_ASSERT(runUntil(loop, [&] {
		return bob.saw("joined") && carol.saw("joined") && bob.node->groupMembers(group).members == 3
			&& carol.node->groupMembers(group).members == 3;
	}));

	alice.node->sendToGroup(group, "hello both");
	bob.node->sendToGroup(group, "hi");
	CPPUNIT_ASSERT(runUntil(loop, [&] { return carol.messages.size() == 2 && bob.messages.size() == 1 && alice.messages.size() == 1; }));
	CPPUNIT_ASSERT_EQUAL(group, carol.messages.front().group);

	// carol goes away; alice and bob go on.
	const Identity carolId = carol.identity;
	carol.node->stop();
	carol.node.reset();
	for (int i = 1; i <= 5; ++i) alice.node->sendToGroup(group, "a" + std::to_string(i));
	for (int i = 1; i <= 4; ++i) bob.node->sendToGroup(group, "b" + std::to_string(i));
	CPPUNIT_ASSERT(runUntil(loop, [&] { return bob.messages.size() == 6 && alice.messages.size() == 5; }));

	// carol is back (a new process on her database) and catches up.
	Member back(loop, "carol", dir + "/carol.db", carolId);
	back.node->start();
	meet(alice, back);
	meet(bob, back);
	CPPUNIT_ASSERT(runUntil(loop, [&] { return back.node->groupHistory(group, 100).size() == 11; }));
	const auto a = perAuthor(alice.node->groupHistory(group, 100));
	const auto b = perAuthor(bob.node->groupHistory(group, 100));
	const auto c = perAuthor(back.node->groupHistory(group, 100));
	CPPUNIT_ASSERT(a == b);
	CPPUNIT_ASSERT(a == c);
	CPPUNIT_ASSERT((c.at(alice.identity.peerId().toString()) == std::vector<std::uint64_t>{1, 2, 3, 4, 5, 6}));
	CPPUNIT_ASSERT((c.at(bob.identity.peerId().toString()) == std::vector<std::uint64_t>{1, 2, 3, 4, 5}));
	// Group peers are not contacts: carol never wrote to bob.
	const auto bobSeen = back.node->peer(bob.identity.peerId());
	CPPUNIT_ASSERT(bobSeen && bobSeen->relation == Relation::STRANGER);
	back.node->stop();
	alice.node->stop();
	bob.node->stop();
}


void GroupNodeTest::testApiErrors()
{
	EventLoop loop;
	Member alice(loop, "alice");
	alice.node->start();
	CPPUNIT_ASSERT_THROW(alice.node->createGroup(""), Poco::InvalidArgumentException);
	CPPUNIT_ASSERT_THROW(alice.node->createGroup(std::string(65, 'x')), Poco::InvalidArgumentException);
	CPPUNIT_ASSERT_THROW(alice.node->sendToGroup("nothex", "x"), Poco::InvalidArgumentException);
	CPPUNIT_ASSERT_THROW(alice.node->sendToGroup(std::string(64, 'a'), "x"), Poco::NotFoundException);
	const std::string group = alice.node->createGroup("solo");
	CPPUNIT_ASSERT_EQUAL(std::size_t(64), group.size());
	CPPUNIT_ASSERT_THROW(alice.node->sendToGroup(group, std::string(16 * 1024 + 1, 'x')), Poco::InvalidArgumentException);
	CPPUNIT_ASSERT_THROW(alice.node->sendToGroup(group, "caf\xe9"), Poco::InvalidArgumentException);
	CPPUNIT_ASSERT_THROW(alice.node->inviteToGroup(group, alice.identity.peerId()), Poco::InvalidArgumentException);
	CPPUNIT_ASSERT_EQUAL(std::uint64_t(1), alice.node->sendToGroup(group, "note to self").seq);
	CPPUNIT_ASSERT((alice.node->resolveGroup("solo") == std::vector<std::string>{group}));
	CPPUNIT_ASSERT((alice.node->resolveGroup(group.substr(0, 6)) == std::vector<std::string>{group}));
	CPPUNIT_ASSERT(alice.node->resolveGroup("other").empty());
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), alice.node->groupHistory(group, 10).size());
	alice.node->leaveGroup(group);
	CPPUNIT_ASSERT_EQUAL(std::string("left"), alice.node->groups().front().state);
	CPPUNIT_ASSERT_THROW(alice.node->sendToGroup(group, "x"), Poco::IllegalStateException);
	alice.node->stop();
}


void GroupNodeTest::testFileToGroup()
{
	const TempDirectory temp;   // private: the store insists
	const std::string& dir = temp.directory();
	EventLoop loop;
	Member alice(loop, "alice", dir + "/alice.db");
	Member bob(loop, "bob", dir + "/bob.db");
	Member carol(loop, "carol", dir + "/carol.db");
	for (Member* pMember: {&alice, &bob, &carol}) pMember->node->start();
	meet(alice, bob);
	meet(alice, carol);
	meet(bob, carol);
	const std::string group = alice.node->createGroup("files");
	for (Member* pMember: {&bob, &carol}) alice.node->inviteToGroup(group, pMember->identity.peerId());
	CPPUNIT_ASSERT(runUntil(loop, [&] { return bob.saw("invited") && carol.saw("invited"); }));
	for (Member* pMember: {&bob, &carol}) pMember->node->acceptGroupInvitation(group);
	CPPUNIT_ASSERT(runUntil(loop, [&] {
		return bob.node->groupMembers(group).members == 3 && carol.node->groupMembers(group).members == 3
			&& alice.node->groupMembers(group).members == 3;
	}));

	// carol is away when bob, who is not her contact, shares a file with the group.
	const Identity carolId = carol.identity;
	carol.node->stop();
	carol.node.reset();
	const std::string file = dir + "/notes.bin";
	std::string contents(700 * 1024, '\0');
	for (std::size_t i = 0; i < contents.size(); ++i) contents[i] = static_cast<char>((i * 131) ^ (i >> 9));
	std::ofstream(file, std::ios::binary) << contents;
	const std::vector<std::string> ids = bob.node->sendFileToGroup(group, file);
	CPPUNIT_ASSERT_EQUAL(std::size_t(2), ids.size());
	CPPUNIT_ASSERT(runUntil(loop, [&] { return alice.state(ids[0]) == TransferState::OFFERED || alice.state(ids[1]) == TransferState::OFFERED; }));
	CPPUNIT_ASSERT_EQUAL(std::uint64_t(1), bob.node->transferStats().filesHashed);
	const std::string forAlice = alice.state(ids[0]) == TransferState::OFFERED ? ids[0] : ids[1];
	const std::string forCarol = forAlice == ids[0] ? ids[1] : ids[0];
	CPPUNIT_ASSERT_EQUAL(group, alice.transfers[forAlice].group);
	CPPUNIT_ASSERT(!alice.transfers[forAlice].request);
	alice.node->acceptFile(forAlice);
	CPPUNIT_ASSERT(runUntil(loop, [&] { return alice.state(forAlice) == TransferState::COMPLETE; }));
	CPPUNIT_ASSERT(readAll(alice.transfers[forAlice].localPath) == contents);
	CPPUNIT_ASSERT_EQUAL(TransferState::OFFERED, bob.state(forCarol));

	// carol is back (from her database): the offer waited for her; taking it makes bob no contact.
	Member back(loop, "carol", dir + "/carol.db", carolId);
	back.node->start();
	meet(alice, back);
	meet(bob, back);
	CPPUNIT_ASSERT(runUntil(loop, [&] { return back.state(forCarol) == TransferState::OFFERED; }));
	CPPUNIT_ASSERT_EQUAL(group, back.transfers[forCarol].group);
	CPPUNIT_ASSERT(!back.transfers[forCarol].request);
	back.node->acceptFile(forCarol);
	CPPUNIT_ASSERT(runUntil(loop, [&] { return back.state(forCarol) == TransferState::COMPLETE && bob.state(forCarol) == TransferState::COMPLETE; }));
	CPPUNIT_ASSERT(readAll(back.transfers[forCarol].localPath) == contents);
	const auto bobSeen = back.node->peer(bob.identity.peerId());
	CPPUNIT_ASSERT(bobSeen && bobSeen->relation == Relation::STRANGER);
	CPPUNIT_ASSERT_EQUAL(std::uint64_t(1), bob.node->transferStats().filesHashed);

	// A member bob blocked is left out.
	bob.node->block(carolId.peerId());
	const std::vector<std::string> again = bob.node->sendFileToGroup(group, file);
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), again.size());
	CPPUNIT_ASSERT(runUntil(loop, [&] { return alice.state(again[0]) == TransferState::OFFERED; }));

	// Not a member: no group file.
	Member dave(loop, "dave");
	dave.node->start();
	CPPUNIT_ASSERT_THROW(dave.node->sendFileToGroup(group, file), Poco::NotFoundException);
	const std::string solo = dave.node->createGroup("solo");
	CPPUNIT_ASSERT_THROW(dave.node->sendFileToGroup(solo, file), Poco::InvalidArgumentException);   // no other member
	CPPUNIT_ASSERT_THROW(dave.node->sendFileToGroup("nothex", file), Poco::InvalidArgumentException);
	dave.node->stop();
	back.node->stop();
	alice.node->stop();
	bob.node->stop();
}
