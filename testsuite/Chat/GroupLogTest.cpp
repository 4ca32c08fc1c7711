//
// GroupLogTest.cpp
//
// testsuite: tests for GroupLog, a group's signed membership log.
//


#include "GroupLogTest.h"
#include "GroupLog.h"
#include "CrossChat/FoundationException.h"
#include "CrossChat/Identity.h"
#include <cppunit/TestAssert.h>
#include <algorithm>


using namespace CrossChat;
using namespace CrossChat::Chat;


namespace {


GroupEntry addEntry(const Identity& member, const std::string& group)
{
	GroupEntry entry;
	entry.op = GroupOp::ADD;
	entry.target = member.peerId();
	entry.targetKey = member.publicKey().raw();
	entry.join = member.sign(GroupEntry::joinBytes(group, member.peerId()));
	entry.timestampMs = 1000;
	return entry;
}


GroupEntry opEntry(GroupOp op, const PeerId& target, std::uint64_t seq = 0)
{
	GroupEntry entry;
	entry.op = op;
	entry.target = target;
	entry.seq = seq;
	entry.timestampMs = 1000;
	return entry;
}


GroupEntry renameEntry(const std::string& name)
{
	GroupEntry entry;
	entry.op = GroupOp::RENAME;
	entry.name = name;
	return entry;
}


GroupLog withTwoAdmins(const Identity& founder, const Identity& admin1, const Identity& admin2)
	/// A group founded by founder with admin1 and admin2 added and promoted (version 5).
{
	GroupLog log = GroupLog::create(founder, "g", false, 0);
	CPPUNIT_ASSERT(log.append(founder, addEntry(admin1, log.group())));
	CPPUNIT_ASSERT(log.append(founder, addEntry(admin2, log.group())));
	CPPUNIT_ASSERT(log.append(founder, opEntry(GroupOp::PROMOTE, admin1.peerId())));
	CPPUNIT_ASSERT(log.append(founder, opEntry(GroupOp::PROMOTE, admin2.peerId())));
	return log;
}


GroupLog replayed(const GroupLog& log)
	/// A fresh log fed the other's entries, as a member that joins gets them.
{
	GroupLog copy(log.group());
	CPPUNIT_ASSERT(copy.offer(log.entries()) == GroupLog::Offer::ADOPTED);
	return copy;
}


} // namespace


void GroupLogTest::testCreateAndReplay()
{
	const Identity founder = Identity::generate();
	const Identity bob = Identity::generate();
	GroupLog log = GroupLog::create(founder, "friends", false, 1000);
	const std::string GROUP = log.group();
	CPPUNIT_ASSERT_EQUAL(std::uint64_t(1), log.state().version);
	CPPUNIT_ASSERT(log.state().role(founder.peerId()) == GroupRole::FOUNDER);
	CPPUNIT_ASSERT_EQUAL(std::string("friends"), log.state().name);
	CPPUNIT_ASSERT(log.append(founder, addEntry(bob, GROUP)));
	CPPUNIT_ASSERT(log.append(founder, renameEntry("pals")));
	CPPUNIT_ASSERT_EQUAL(std::uint64_t(3), log.state().version);

	const GroupLog copy = replayed(log);
	CPPUNIT_ASSERT(copy.state().head == log.state().head);
	CPPUNIT_ASSERT_EQUAL(std::string("pals"), copy.state().name);
	CPPUNIT_ASSERT(copy.state().isMember(bob.peerId()));
	CPPUNIT_ASSERT_EQUAL(std::uint64_t(2), copy.state().members.at(bob.peerId()).addedVersion);
	// The same entries again change nothing.
	GroupLog again = copy;
	CPPUNIT_ASSERT(again.offer(log.entries()) == GroupLog::Offer::UNCHANGED);
	CPPUNIT_ASSERT_THROW(GroupLog::create(founder, "", false, 0), Poco::InvalidArgumentException);
	CPPUNIT_ASSERT_THROW(GroupLog::create(founder, "bad\x1b[2Jname", false, 0), Poco::InvalidArgumentException);
}


void GroupLogTest::testRoles()
{
	const Identity founder = Identity::generate();
	const Identity admin = Identity::generate();
	const Identity member = Identity::generate();
	const Identity other = Identity::generate();
	GroupLog log = GroupLog::create(founder, "g", false, 0);
	const std::string GROUP = log.group();
	CPPUNIT_ASSERT(log.append(founder, addEntry(admin, GROUP)));
	CPPUNIT_ASSERT(log.append(founder, addEntry(member, GROUP)));
	// Only the founder promotes; a plain member adds no one.
	CPPUNIT_ASSERT(!log.append(member, opEntry(GroupOp::PROMOTE, admin.peerId())));
	CPPUNIT_ASSERT(!log.append(member, addEntry(other, GROUP)));
	CPPUNIT_ASSERT(log.append(founder, opEntry(GroupOp::PROMOTE, admin.peerId())));
	CPPUNIT_ASSERT(log.state().isAdmin(admin.peerId()));
	// An admin adds, renames and removes members, but not the founder nor (only the founder) admins.
	CPPUNIT_ASSERT(log.append(admin, addEntry(other, GROUP)));
	CPPUNIT_ASSERT(log.append(admin, renameEntry("renamed")));
	CPPUNIT_ASSERT(!log.append(admin, opEntry(GroupOp::REMOVE, founder.peerId())));
	CPPUNIT_ASSERT(log.append(admin, opEntry(GroupOp::REMOVE, other.peerId(), 7)));
	CPPUNIT_ASSERT(!log.state().isMember(other.peerId()));
	CPPUNIT_ASSERT_EQUAL(std::uint64_t(7), log.state().departed.at(other.peerId()));
	// A member leaves by itself, not for others.
	CPPUNIT_ASSERT(!log.append(member, opEntry(GroupOp::LEAVE, admin.peerId())));
	CPPUNIT_ASSERT(log.append(member, opEntry(GroupOp::LEAVE, member.peerId(), 3)));
	CPPUNIT_ASSERT(!log.state().isMember(member.peerId()));
	CPPUNIT_ASSERT(!log.append(founder, opEntry(GroupOp::PROMOTE, member.peerId())));
	CPPUNIT_ASSERT(log.append(founder, opEntry(GroupOp::REMOVE, admin.peerId())));
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), log.state().members.size());
}


void GroupLogTest::testForgedEntries()
{
	const Identity founder = Identity::generate();
	const Identity bob = Identity::generate();
	const Identity mallory = Identity::generate();
	GroupLog log = GroupLog::create(founder, "g", false, 0);
	const std::string GROUP = log.group();
	GroupLog genuine = log;
	CPPUNIT_ASSERT(genuine.append(founder, addEntry(bob, GROUP)));
	const GroupEntry good = genuine.entries().back();

	auto offered = [&log](const GroupEntry& entry) {
		GroupLog copy = log;
		return copy.offer({entry});
	};
	CPPUNIT_ASSERT(offered(good) == GroupLog::Offer::ADOPTED);
	// A flipped bit in the signature, the target or the version.
	GroupEntry forged = good;
	forged.signature[5] ^= 1;
	CPPUNIT_ASSERT(offered(forged) == GroupLog::Offer::INVALID);
	forged = good;
	forged.target = mallory.peerId();
	CPPUNIT_ASSERT(offered(forged) == GroupLog::Offer::INVALID);
	// Signed by a non-member claiming to be the founder (its own key, the founder's ID).
	forged = addEntry(mallory, GROUP);
	forged.group = GROUP;
	forged.version = 2;
	forged.prev = log.state().head;
	forged.sign(mallory);
	forged.author = founder.peerId();
	CPPUNIT_ASSERT(offered(forged) == GroupLog::Offer::INVALID);
	// Validly signed by a non-member.
	forged.sign(mallory);
	CPPUNIT_ASSERT(offered(forged) == GroupLog::Offer::INVALID);
	// An admin's add without the new member's own join signature.
	GroupEntry noJoin = addEntry(mallory, GROUP);
	noJoin.join = founder.sign(GroupEntry::joinBytes(GROUP, mallory.peerId()));
	GroupLog copy = log;
	CPPUNIT_ASSERT(!copy.append(founder, noJoin));
	// A join signed for another group is not a join for this one.
	GroupEntry otherGroup = addEntry(mallory, std::string(32, '\x07'));
	CPPUNIT_ASSERT(!copy.append(founder, otherGroup));
	// An entry built on another prev.
	forged = good;
	forged.prev = std::string(32, '\x01');
	forged.sign(founder);
	CPPUNIT_ASSERT(offered(forged) == GroupLog::Offer::NEED_EARLIER || offered(forged) == GroupLog::Offer::INVALID);
	CPPUNIT_ASSERT_EQUAL(std::uint64_t(1), log.state().version);
}


void GroupLogTest::testConflictingVersions()
{
	// Two admins (equal roles) sign version 5 at once, each on its own copy.
	const Identity founder = Identity::generate();
	const Identity admin1 = Identity::generate();
	const Identity admin2 = Identity::generate();
	const Identity carol = Identity::generate();
	const Identity dave = Identity::generate();
	GroupLog base = withTwoAdmins(founder, admin1, admin2);
	const std::string GROUP = base.group();
	GroupLog one = base;
	GroupLog two = base;
	CPPUNIT_ASSERT(one.append(admin1, addEntry(carol, GROUP)));
	CPPUNIT_ASSERT(two.append(admin2, addEntry(dave, GROUP)));
	CPPUNIT_ASSERT(one.state().head != two.state().head);
	const bool oneWins = one.state().head < two.state().head;
	// Each hears of the other's: both end on the same chain, the one with the smaller head.
	GroupLog oneAfter = one;
	GroupLog twoAfter = two;
	const GroupLog::Offer a = oneAfter.offer({two.entries().back()});
	const GroupLog::Offer b = twoAfter.offer({one.entries().back()});
	CPPUNIT_ASSERT(oneAfter.state().head == twoAfter.state().head);
	CPPUNIT_ASSERT(a == (oneWins ? GroupLog::Offer::UNCHANGED : GroupLog::Offer::ADOPTED));
	CPPUNIT_ASSERT(b == (oneWins ? GroupLog::Offer::ADOPTED : GroupLog::Offer::UNCHANGED));
	CPPUNIT_ASSERT_EQUAL(oneWins, oneAfter.state().isMember(carol.peerId()));
	CPPUNIT_ASSERT_EQUAL(!oneWins, oneAfter.state().isMember(dave.peerId()));
	// A third member that hears them in either order agrees.
	GroupLog third = base;
	third.offer({two.entries().back()});
	third.offer({one.entries().back()});
	CPPUNIT_ASSERT(third.state().head == oneAfter.state().head);
	GroupLog fourth = base;
	fourth.offer({one.entries().back()});
	fourth.offer({two.entries().back()});
	CPPUNIT_ASSERT(fourth.state().head == oneAfter.state().head);
}


void GroupLogTest::testLongerChainWins()
{
	const Identity founder = Identity::generate();
	const Identity admin1 = Identity::generate();
	const Identity admin2 = Identity::generate();
	const Identity carol = Identity::generate();
	GroupLog base = withTwoAdmins(founder, admin1, admin2);
	const std::string GROUP = base.group();
	GroupLog shortChain = base;
	GroupLog longChain = base;
	CPPUNIT_ASSERT(shortChain.append(admin1, renameEntry("short")));
	CPPUNIT_ASSERT(longChain.append(admin2, addEntry(carol, GROUP)));
	CPPUNIT_ASSERT(longChain.append(admin2, renameEntry("long")));
	// Between equals the higher version wins, whatever the hashes; the fork's entries are sent
	// from the fork.
	std::vector<GroupEntry> fork(longChain.entries().begin() + 5, longChain.entries().end());
	std::uint64_t firstChanged = 0;
	CPPUNIT_ASSERT(shortChain.offer(fork, &firstChanged) == GroupLog::Offer::ADOPTED);
	CPPUNIT_ASSERT_EQUAL(std::uint64_t(6), firstChanged);
	CPPUNIT_ASSERT_EQUAL(std::string("long"), shortChain.state().name);
	CPPUNIT_ASSERT(longChain.offer({GroupLog(base).entries()}) == GroupLog::Offer::UNCHANGED);
}


void GroupLogTest::testFounderDecisionFinal()
{
	// An admin that is removed builds a long chain on the version before its removal: the
	// founder's entry at the fork point wins whatever the length.
	const Identity founder = Identity::generate();
	const Identity admin = Identity::generate();
	GroupLog base = GroupLog::create(founder, "g", false, 0);
	const std::string GROUP = base.group();
	CPPUNIT_ASSERT(base.append(founder, addEntry(admin, GROUP)));
	CPPUNIT_ASSERT(base.append(founder, opEntry(GroupOp::PROMOTE, admin.peerId())));
	GroupLog honest = base;
	GroupLog hostile = base;
	CPPUNIT_ASSERT(honest.append(founder, opEntry(GroupOp::REMOVE, admin.peerId(), 5)));
	for (int i = 0; i < 20; ++i) CPPUNIT_ASSERT(hostile.append(admin, renameEntry("mine " + std::to_string(i))));
	const std::vector<GroupEntry> fork(hostile.entries().begin() + 3, hostile.entries().end());
	CPPUNIT_ASSERT(honest.offer(fork) == GroupLog::Offer::UNCHANGED);
	CPPUNIT_ASSERT(!honest.state().isMember(admin.peerId()));
	// And a member that saw the hostile chain first moves to the founder's.
	GroupLog member = hostile;
	CPPUNIT_ASSERT(member.offer({honest.entries().back()}) == GroupLog::Offer::ADOPTED);
	CPPUNIT_ASSERT(member.state().head == honest.state().head);
	CPPUNIT_ASSERT_EQUAL(std::string("g"), member.state().name);
}


void GroupLogTest::testForkOrderTotal()
{
	// Three competing chains: one (a) where the founder decides after an admin, one (b) longer
	// by another admin, one (c) longer still by the first admin. Whatever order a member hears
	// them in, it ends on the same chain (a: the founder's entry comes first among the
	// differences that count).
	const Identity founder = Identity::generate();
	const Identity admin1 = Identity::generate();
	const Identity admin2 = Identity::generate();
	GroupLog base = withTwoAdmins(founder, admin1, admin2);
	GroupLog a = base;
	CPPUNIT_ASSERT(a.append(admin1, renameEntry("a1")));
	GroupLog c = a;
	CPPUNIT_ASSERT(a.append(founder, renameEntry("a2")));
	for (int i = 0; i < 3; ++i) CPPUNIT_ASSERT(c.append(admin1, renameEntry("c" + std::to_string(i))));
	GroupLog b = base;
	for (int i = 0; i < 3; ++i) CPPUNIT_ASSERT(b.append(admin2, renameEntry("b" + std::to_string(i))));
	const std::vector<GroupEntry> forks[3] = {
		std::vector<GroupEntry>(a.entries().begin() + 5, a.entries().end()),
		std::vector<GroupEntry>(b.entries().begin() + 5, b.entries().end()),
		std::vector<GroupEntry>(c.entries().begin() + 5, c.entries().end())};
	int order[3] = {0, 1, 2};
	do
	{
		GroupLog member = base;
		for (int i: order) member.offer(forks[i]);
		CPPUNIT_ASSERT(member.state().head == a.state().head);
	}
	while (std::next_permutation(order, order + 3));
	// Between b and c alone (admins only), the longer wins in both orders.
	GroupLog one = b;
	one.offer(forks[2]);
	GroupLog two = c;
	two.offer(forks[1]);
	CPPUNIT_ASSERT(one.state().head == c.state().head);
	CPPUNIT_ASSERT(two.state().head == c.state().head);
}


void GroupLogTest::testDeepForkRefused()
{
	const Identity founder = Identity::generate();
	const Identity admin1 = Identity::generate();
	const Identity admin2 = Identity::generate();
	GroupLog base = withTwoAdmins(founder, admin1, admin2);
	GroupLog ours = base;
	GroupLog theirs = base;
	for (std::size_t i = 0; i < GroupLog::MAX_FORK_DEPTH + 2; ++i)
		CPPUNIT_ASSERT(ours.append(admin1, renameEntry("ours " + std::to_string(i))));
	for (std::size_t i = 0; i < GroupLog::MAX_FORK_DEPTH + 10; ++i)
		CPPUNIT_ASSERT(theirs.append(admin2, renameEntry("theirs " + std::to_string(i))));
	// Longer, between equals, but forking further back than MAX_FORK_DEPTH: old decisions stay.
	std::vector<GroupEntry> fork(theirs.entries().begin() + 5, theirs.entries().end());
	const std::string before = ours.state().head;
	for (std::size_t i = 0; i < fork.size(); i += 48)
	{
		std::vector<GroupEntry> page(fork.begin() + static_cast<std::ptrdiff_t>(i),
			fork.begin() + static_cast<std::ptrdiff_t>(std::min(fork.size(), i + 48)));
		CPPUNIT_ASSERT(ours.offer(page) != GroupLog::Offer::ADOPTED);
	}
	CPPUNIT_ASSERT(ours.state().head == before);
}


void GroupLogTest::testGroupIdBoundToFounder()
{
	const Identity founder = Identity::generate();
	const Identity mallory = Identity::generate();
	GroupLog log = GroupLog::create(founder, "g", false, 0);
	CPPUNIT_ASSERT(log.group() == GroupIds::derive(founder.peerId(), log.entries().front().nonce));
	CPPUNIT_ASSERT(log.group() != GroupLog::create(founder, "g", false, 0).group());
	// Someone else founding "the same" group: a CREATE for this ID signed by another key.
	GroupEntry fake = log.entries().front();
	fake.sign(mallory);
	fake.target = mallory.peerId();
	fake.sign(mallory);
	GroupLog copy(log.group());
	CPPUNIT_ASSERT(copy.offer({fake}) == GroupLog::Offer::INVALID);
	// Nor can it replace the founder's chain by a longer one of its own.
	GroupLog own = GroupLog::create(mallory, "g", false, 0);
	CPPUNIT_ASSERT(own.group() != log.group());
	GroupLog other(log.group());
	CPPUNIT_ASSERT(other.offer(own.entries()) == GroupLog::Offer::INVALID);
}


void GroupLogTest::testRemovedMember()
{
	const Identity founder = Identity::generate();
	const Identity admin = Identity::generate();
	GroupLog log = GroupLog::create(founder, "g", false, 0);
	const std::string GROUP = log.group();
	CPPUNIT_ASSERT(log.append(founder, addEntry(admin, GROUP)));
	CPPUNIT_ASSERT(log.append(founder, opEntry(GroupOp::PROMOTE, admin.peerId())));
	GroupLog stale = log;
	CPPUNIT_ASSERT(log.append(founder, opEntry(GroupOp::REMOVE, admin.peerId(), 12)));
	CPPUNIT_ASSERT(log.append(founder, renameEntry("after")));
	// The removed admin signs on the chain it knew (version 4, like the removal): the longer
	// chain with the removal wins everywhere.
	CPPUNIT_ASSERT(stale.append(admin, renameEntry("hijacked")));
	GroupLog copy = log;
	CPPUNIT_ASSERT(copy.offer({stale.entries().back()}) == GroupLog::Offer::UNCHANGED);
	CPPUNIT_ASSERT(stale.offer(std::vector<GroupEntry>(log.entries().begin() + 3, log.entries().end())) == GroupLog::Offer::ADOPTED);
	CPPUNIT_ASSERT_EQUAL(std::string("after"), stale.state().name);
	// On top of the removal, its entries are refused.
	GroupEntry late = renameEntry("again");
	late.group = GROUP;
	late.version = copy.state().version + 1;
	late.prev = copy.state().head;
	late.sign(admin);
	CPPUNIT_ASSERT(copy.offer({late}) == GroupLog::Offer::INVALID);
	CPPUNIT_ASSERT(!copy.append(admin, renameEntry("again")));
	CPPUNIT_ASSERT(!copy.state().isMember(admin.peerId()));
	CPPUNIT_ASSERT_EQUAL(std::uint64_t(12), copy.state().departed.at(admin.peerId()));
	// Re-added later, it is a member again from that version on.
	CPPUNIT_ASSERT(copy.append(founder, addEntry(admin, GROUP)));
	CPPUNIT_ASSERT(copy.state().isMember(admin.peerId()));
	CPPUNIT_ASSERT_EQUAL(copy.state().version, copy.state().members.at(admin.peerId()).addedVersion);
	CPPUNIT_ASSERT(copy.state().departed.count(admin.peerId()) == 0);
}


void GroupLogTest::testNeedEarlierAndValidPrefix()
{
	const Identity founder = Identity::generate();
	const Identity bob = Identity::generate();
	const Identity carol = Identity::generate();
	GroupLog log = GroupLog::create(founder, "g", false, 0);
	const std::string GROUP = log.group();
	CPPUNIT_ASSERT(log.append(founder, addEntry(bob, GROUP)));
	CPPUNIT_ASSERT(log.append(founder, addEntry(carol, GROUP)));
	GroupLog empty(GROUP);
	std::vector<GroupEntry> tail(log.entries().begin() + 1, log.entries().end());
	CPPUNIT_ASSERT(empty.offer(tail) == GroupLog::Offer::NEED_EARLIER);
	CPPUNIT_ASSERT(empty.empty());
	// A segment whose last entry is forged: the valid part is taken.
	std::vector<GroupEntry> segment = log.entries();
	segment.back().signature[0] ^= 1;
	CPPUNIT_ASSERT(empty.offer(segment) == GroupLog::Offer::ADOPTED);
	CPPUNIT_ASSERT_EQUAL(std::uint64_t(2), empty.state().version);
	CPPUNIT_ASSERT(!empty.error().empty());
	CPPUNIT_ASSERT(!empty.state().isMember(carol.peerId()));
}


void GroupLogTest::testJsonRoundTrip()
{
	const Identity founder = Identity::generate();
	const Identity bob = Identity::generate();
	GroupLog log = GroupLog::create(founder, "caf\xc3\xa9", true, 5);
	const std::string GROUP = log.group();
	CPPUNIT_ASSERT(log.append(founder, addEntry(bob, GROUP)));
	CPPUNIT_ASSERT(log.append(founder, opEntry(GroupOp::REMOVE, bob.peerId(), 9)));
	std::vector<GroupEntry> parsed;
	for (const GroupEntry& entry: log.entries())
	{
		GroupEntry copy = GroupEntry::fromJson(*entry.toJson());
		copy.group = GROUP;
		CPPUNIT_ASSERT(copy.hash() == entry.hash());
		parsed.push_back(copy);
	}
	GroupLog other(GROUP);
	CPPUNIT_ASSERT(other.offer(parsed) == GroupLog::Offer::ADOPTED);
	CPPUNIT_ASSERT(other.state().shareHistory);
	Poco::JSON::Object::Ptr bad = log.entries()[1].toJson();
	bad->set("akey", "not base64!");
	CPPUNIT_ASSERT_THROW(GroupEntry::fromJson(*bad), MessageException);
	bad = log.entries()[1].toJson();
	bad->set("op", "explode");
	CPPUNIT_ASSERT_THROW(GroupEntry::fromJson(*bad), MessageException);
	bad = log.entries()[1].toJson();
	bad->set("v", 1);
	CPPUNIT_ASSERT_THROW(GroupEntry::fromJson(*bad), MessageException);
}


void GroupLogTest::testGroupIds()
{
	const std::string id = GroupIds::nonce();
	CPPUNIT_ASSERT_EQUAL(std::size_t(32), id.size());
	CPPUNIT_ASSERT(id != GroupIds::nonce());
	const std::string text = GroupIds::toText(id);
	CPPUNIT_ASSERT_EQUAL(std::size_t(64), text.size());
	CPPUNIT_ASSERT(GroupIds::fromText(text) == id);
	std::string upper = text;
	for (char& c: upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
	CPPUNIT_ASSERT(GroupIds::fromText(upper) == id);
	CPPUNIT_ASSERT(!GroupIds::fromText(text.substr(1)));
	CPPUNIT_ASSERT(!GroupIds::fromText(text.substr(1) + "g"));
}
