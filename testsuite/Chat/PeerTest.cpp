//
// PeerTest.cpp
//
// testsuite: tests for Peer with fake sessions, a fake host and a manual clock: the session
// rules (PROTOCOL.md, "One session per pair"), the outbox on every session, the receipt
// watchdog, refusals, duplicates and consent. No sockets, no sleeps: time moves only when a
// test advances the ManualScheduler.
//


#include "PeerTest.h"
#include "PeerTestSupport.h"
#include "CrossChat/Chat/SessionProtocol.h"
#include <chrono>
#include <set>
#include <string>
#include <vector>


using namespace CrossChat;
using namespace CrossChat::Chat;
using namespace CrossChat::Test;
using namespace std::chrono_literals;


namespace {


using Ids = std::vector<std::string>;
using PeerChange = ChatNode::PeerChange;

const PeerId SMALL = testId(0x11);
const PeerId LARGE = testId(0x77);
const PeerId IMPOSTOR = testId(0x55);


bool noRepeats(const FakeSession& session)
{
	const Ids ids = session.textIds();
	return std::set<std::string>(ids.begin(), ids.end()).size() == ids.size();
}


std::string reason(const std::optional<std::string>& given)
{
	return given ? *given : std::string("<none>");
}


} // namespace


void PeerTest::testDirectBeatsRelay()
{
	Side me(SMALL, LARGE);
	FakeSession::Ptr relay = me.incoming(Path::RELAY);
	CPPUNIT_ASSERT(me.peer->current() == relay);
	CPPUNIT_ASSERT(me.peer->relayed());
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), me.host.countChanges(PeerChange::CONNECTED));

	// Our direct dial gets through while the relayed session runs: the upgrade.
	FakeSession::Ptr direct = me.outgoing(Path::DIRECT);
	CPPUNIT_ASSERT(me.peer->current() == direct);
	CPPUNIT_ASSERT_EQUAL(std::string("upgraded to a direct path"), reason(relay->closedWith()));
	CPPUNIT_ASSERT(!direct->endedByUs());
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), me.host.countChanges(PeerChange::PATH));
	CPPUNIT_ASSERT_EQUAL(std::uint64_t(1), me.host.stats.upgrades);
	me.clock().runPending();
	CPPUNIT_ASSERT(relay->closed());
	CPPUNIT_ASSERT(me.peer->current() == direct);
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), me.peer->sessionCount());
	CPPUNIT_ASSERT_EQUAL(std::size_t(0), me.host.countChanges(PeerChange::DISCONNECTED));

	// A relayed session of ours that comes up late loses against the direct one.
	FakeSession::Ptr late = me.outgoing(Path::RELAY);
	CPPUNIT_ASSERT(me.peer->current() == direct);
	CPPUNIT_ASSERT_EQUAL(std::string("a direct session exists"), reason(late->closedWith()));
	CPPUNIT_ASSERT(!direct->endedByUs());
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), me.host.countChanges(PeerChange::PATH));
	me.clock().runPending();
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), me.peer->sessionCount());
	CPPUNIT_ASSERT(!me.peer->relayed());
}


void PeerTest::testPeerUpgradeIsAPathChange()
{
	// The larger side upgraded: its close of the tunnel overtakes the direct session it dialed
	// (another connection). For us that is a change of path, never a disconnection.
	Side me(SMALL, LARGE);
	FakeSession::Ptr relay = me.incoming(Path::RELAY);
	relay->closeByPeer("closed by the peer: upgraded to a direct path");
	me.clock().runPending();
	CPPUNIT_ASSERT(!me.peer->current());
	CPPUNIT_ASSERT_EQUAL(std::size_t(0), me.host.countChanges(PeerChange::DISCONNECTED));
	FakeSession::Ptr direct = me.incoming(Path::DIRECT);
	CPPUNIT_ASSERT(me.peer->current() == direct);
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), me.host.countChanges(PeerChange::CONNECTED));
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), me.host.countChanges(PeerChange::PATH));
	me.clock().advance(Peer::HANDOVER_GRACE * 2);
	CPPUNIT_ASSERT_EQUAL(std::size_t(0), me.host.countChanges(PeerChange::DISCONNECTED));

	// When the direct session never comes, the grace ends in a disconnection (and the ladder).
	Side other(SMALL, LARGE);
	FakeSession::Ptr tunnel = other.incoming(Path::RELAY);
	tunnel->closeByPeer("closed by the peer: upgraded to a direct path");
	other.clock().advance(Peer::HANDOVER_GRACE - std::chrono::seconds(1));
	CPPUNIT_ASSERT_EQUAL(std::size_t(0), other.host.countChanges(PeerChange::DISCONNECTED));
	other.clock().advance(std::chrono::seconds(2));
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), other.host.countChanges(PeerChange::DISCONNECTED));
	// Any other close is a disconnection at once.
	Side third(SMALL, LARGE);
	third.incoming(Path::RELAY)->closeByPeer("keepalive timeout");
	third.clock().runPending();
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), third.host.countChanges(PeerChange::DISCONNECTED));
}


void PeerTest::testPeerDialedRelayReplacesDirect()
{
	// A direct session, then the larger side's end of it dies unnoticed by us (no link: we
	// hear nothing), and the larger side reaches us through a tunnel.
	Side a(SMALL, LARGE);
	Side b(LARGE, SMALL);
	FakeSession::Ptr directA = a.outgoing(Path::DIRECT);
	FakeSession::Ptr directB = b.incoming(Path::DIRECT);
	directB->closeByPeer("keepalive timeout");
	CPPUNIT_ASSERT(!b.peer->current());

	FakeSession::Ptr tunnelB = b.outgoing(Path::RELAY);
	FakeSession::Ptr tunnelA = a.incoming(Path::RELAY);
	tunnelA->link(tunnelB);

	// The peer dials only when it has no working session: its direct path is gone, so is ours.
	CPPUNIT_ASSERT(a.peer->current() == tunnelA);
	CPPUNIT_ASSERT_EQUAL(std::string("the peer lost the direct path"), reason(directA->closedWith()));
	CPPUNIT_ASSERT(!tunnelA->endedByUs());
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), a.host.countChanges(PeerChange::PATH));
	CPPUNIT_ASSERT_EQUAL(std::uint64_t(0), a.host.stats.upgrades);
	a.clock().runPending();
	b.clock().runPending();
	CPPUNIT_ASSERT(directA->closed());
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), a.peer->sessionCount());
	// Both sides now talk over the same tunnel.
	CPPUNIT_ASSERT(a.peer->current() == tunnelA);
	CPPUNIT_ASSERT(b.peer->current() == tunnelB);
	CPPUNIT_ASSERT(!tunnelA->closed());
	CPPUNIT_ASSERT(!tunnelB->closed());
}


void PeerTest::testSameDialerNewerWins()
{
	// Both dialed by the peer (the larger ID), direct: the newer one is used, and the older
	// one is kept until the peer, their dialer, closes the one it does not keep.
	Side me(SMALL, LARGE);
	FakeSession::Ptr first = me.incoming(Path::DIRECT);
	FakeSession::Ptr second = me.incoming(Path::DIRECT);
	CPPUNIT_ASSERT(me.peer->current() == second);
	CPPUNIT_ASSERT(!first->endedByUs());
	CPPUNIT_ASSERT(!second->endedByUs());
	CPPUNIT_ASSERT_EQUAL(std::uint64_t(1), me.host.stats.duplicateSessions);
	CPPUNIT_ASSERT_EQUAL(std::size_t(0), me.host.countChanges(PeerChange::PATH));
	first->closeByPeer("duplicate session");
	me.clock().runPending();
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), me.peer->sessionCount());
	CPPUNIT_ASSERT(me.peer->current() == second);
	CPPUNIT_ASSERT_EQUAL(std::size_t(0), me.host.countChanges(PeerChange::DISCONNECTED));

	// If the peer saw the two arrive the other way round, it closes the newer one: we go on
	// with the older, without a disconnection.
	FakeSession::Ptr third = me.incoming(Path::DIRECT);
	CPPUNIT_ASSERT(me.peer->current() == third);
	third->closeByPeer("duplicate session");
	me.clock().runPending();
	CPPUNIT_ASSERT(me.peer->current() == second);
	CPPUNIT_ASSERT(!second->closed());
	CPPUNIT_ASSERT_EQUAL(std::size_t(0), me.host.countChanges(PeerChange::DISCONNECTED));

	// Both dialed by us (the larger ID here), through the relay: the newer one survives too.
	Side us(LARGE, SMALL);
	FakeSession::Ptr older = us.outgoing(Path::RELAY);
	FakeSession::Ptr newer = us.outgoing(Path::RELAY);
	CPPUNIT_ASSERT(us.peer->current() == newer);
	CPPUNIT_ASSERT_EQUAL(std::string("duplicate session"), reason(older->closedWith()));
	CPPUNIT_ASSERT(!newer->endedByUs());
}


void PeerTest::testTieBreakSameOnBothSides()
{
	// X is dialed by the smaller ID, Y by the larger, at once. Whatever order each side
	// sees them established in, both keep X.
	for (Path path: {Path::DIRECT, Path::RELAY})
	{
		for (int order = 0; order < 4; ++order)
		{
			const std::string label = std::string(pathName(path)) + ", order " + std::to_string(order);
			Side a(SMALL, LARGE);
			Side b(LARGE, SMALL);
			FakeSession::Ptr xa = a.host.outgoingSession(path);
			FakeSession::Ptr xb = b.host.incoming(path);
			xa->link(xb);
			FakeSession::Ptr ya = a.host.incoming(path);
			FakeSession::Ptr yb = b.host.outgoingSession(path);
			ya->link(yb);
			for (const auto& s: {xa, ya})
			{
				s->tlsReady(LARGE);
				a.peer->adopt(s);
			}
			for (const auto& s: {xb, yb})
			{
				s->tlsReady(SMALL);
				b.peer->adopt(s);
			}
			const bool aSeesXFirst = (order & 1) != 0;
			const bool bSeesXFirst = (order & 2) != 0;
			(aSeesXFirst ? xa : ya)->establish(LARGE);
			(bSeesXFirst ? xb : yb)->establish(SMALL);
			(aSeesXFirst ? ya : xa)->establish(LARGE);
			(bSeesXFirst ? yb : xb)->establish(SMALL);
			for (int i = 0; i < 2; ++i)
			{
				a.clock().runPending();
				b.clock().runPending();
			}
			CPPUNIT_ASSERT_MESSAGE(label, a.peer->current() == xa);
			CPPUNIT_ASSERT_MESSAGE(label, b.peer->current() == xb);
			CPPUNIT_ASSERT_MESSAGE(label, !xa->closed() && !xb->closed());
			CPPUNIT_ASSERT_MESSAGE(label, ya->closed() && yb->closed());
			CPPUNIT_ASSERT_MESSAGE(label, a.peer->sessionCount() == 1 && b.peer->sessionCount() == 1);
			// The side that saw Y first closed it as the loser; nobody closed X.
			CPPUNIT_ASSERT_MESSAGE(label, !xa->endedByUs() && !xb->endedByUs());
			if (!aSeesXFirst) CPPUNIT_ASSERT_EQUAL_MESSAGE(label, std::string("duplicate session"), reason(ya->closedWith()));
			if (!bSeesXFirst) CPPUNIT_ASSERT_EQUAL_MESSAGE(label, std::string("duplicate session"), reason(yb->closedWith()));
		}
	}
}


void PeerTest::testOutboxFlushedInOrder()
{
	Side me(SMALL, LARGE);
	me.peer->setRelation(Relation::CONTACT);
	for (const char* id: {"m1", "m2", "m3"}) me.peer->send(testMessage(id));
	CPPUNIT_ASSERT_EQUAL(std::size_t(3), me.peer->outbox().size());

	FakeSession::Ptr s1 = me.incoming(Path::RELAY);
	CPPUNIT_ASSERT((s1->textIds() == Ids{"m1", "m2", "m3"}));
	CPPUNIT_ASSERT_EQUAL(std::string("text of m1"), s1->texts().front().text);
	CPPUNIT_ASSERT_EQUAL(std::int64_t(1700000000000), s1->texts().front().timestampMs);
	CPPUNIT_ASSERT(s1->contacts() == std::vector<bool>{true});   // we tell a contact so
	CPPUNIT_ASSERT((me.host.writtenIds == Ids{"m1", "m2", "m3"}));

	// A new message goes out at once, after the others.
	me.peer->send(testMessage("m4"));
	CPPUNIT_ASSERT((s1->textIds() == Ids{"m1", "m2", "m3", "m4"}));
	s1->deliverReceipt("m1");
	CPPUNIT_ASSERT((me.host.deliveredIds == Ids{"m1"}));
	CPPUNIT_ASSERT_EQUAL(std::size_t(3), me.peer->outbox().size());

	// The session is lost: the next one gets what has no receipt, in order.
	s1->closeByPeer("gone");
	CPPUNIT_ASSERT(!me.peer->current());
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), me.host.countChanges(PeerChange::DISCONNECTED));
	FakeSession::Ptr s2 = me.incoming(Path::DIRECT);
	CPPUNIT_ASSERT((s2->textIds() == Ids{"m2", "m3", "m4"}));

	// A newer session replaces it: everything again there, nothing twice on s2.
	FakeSession::Ptr s3 = me.incoming(Path::DIRECT);
	CPPUNIT_ASSERT(me.peer->current() == s3);
	CPPUNIT_ASSERT((s3->textIds() == Ids{"m2", "m3", "m4"}));
	me.peer->send(testMessage("m5"));
	CPPUNIT_ASSERT((s3->textIds() == Ids{"m2", "m3", "m4", "m5"}));
	CPPUNIT_ASSERT((s2->textIds() == Ids{"m2", "m3", "m4"}));
	CPPUNIT_ASSERT(!s2->endedByUs());   // the peer dialed both: it closes the one it does not keep
	s2->closeByPeer("duplicate session");
	me.clock().runPending();
	CPPUNIT_ASSERT(s2->closed());
	CPPUNIT_ASSERT(me.peer->current() == s3);
	CPPUNIT_ASSERT((s3->textIds() == Ids{"m2", "m3", "m4", "m5"}));

	for (const auto& s: {s1, s2, s3}) CPPUNIT_ASSERT(noRepeats(*s));
	CPPUNIT_ASSERT((me.host.writtenIds == Ids{"m1", "m2", "m3", "m4", "m5"}));   // first writes only
	CPPUNIT_ASSERT_EQUAL(std::uint64_t(4 + 3 + 4), me.host.stats.messagesSent);

	// Receipts on the surviving session empty the outbox.
	for (const char* id: {"m2", "m3", "m4", "m5"}) s3->deliverReceipt(id);
	CPPUNIT_ASSERT(me.peer->outbox().empty());
	CPPUNIT_ASSERT((me.host.deliveredIds == Ids{"m1", "m2", "m3", "m4", "m5"}));
}


void PeerTest::testReceiptWatchdog()
{
	Side me(SMALL, LARGE);
	const auto timeout = me.host.config().receiptTimeout;
	me.peer->setRelation(Relation::CONTACT);
	const Poco::Net::SocketAddress address("203.0.113.5", 7000);
	me.peer->addAddress(address, AddressSource::USER);
	FakeSession::Ptr s1 = me.incoming(Path::DIRECT);
	const auto t0 = me.clock().now();
	me.peer->send(testMessage("m1"));
	CPPUNIT_ASSERT((s1->textIds() == Ids{"m1"}));
	CPPUNIT_ASSERT(me.host.dials.empty());

	me.clock().advance(timeout - 1ms);
	CPPUNIT_ASSERT(!s1->endedByUs());
	CPPUNIT_ASSERT(me.peer->current() == s1);
	CPPUNIT_ASSERT(me.host.dials.empty());

	// No receipt within receiptTimeout: the session in use is aborted, a dial round starts.
	me.clock().advance(1ms);
	CPPUNIT_ASSERT(s1->abortedWith().has_value());
	CPPUNIT_ASSERT(!s1->closedWith().has_value());
	CPPUNIT_ASSERT_EQUAL(std::uint64_t(1), me.host.stats.receiptTimeouts);
	CPPUNIT_ASSERT(s1->closed());
	CPPUNIT_ASSERT(!me.peer->current());
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), me.host.countChanges(PeerChange::DISCONNECTED));
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), me.host.dials.size());
	CPPUNIT_ASSERT(me.host.dials[0].at == t0 + timeout);
	CPPUNIT_ASSERT(me.host.dials[0].dial.address == address);

	// The new session gets the message again; its receipt ends the watch.
	FakeSession::Ptr s2 = me.host.dials[0].session;
	s2->establish(LARGE);
	CPPUNIT_ASSERT(me.peer->current() == s2);
	CPPUNIT_ASSERT((s2->textIds() == Ids{"m1"}));
	me.clock().advance(2s);
	s2->deliverReceipt("m1");
	CPPUNIT_ASSERT((me.host.deliveredIds == Ids{"m1"}));
	me.clock().advance(5min);
	CPPUNIT_ASSERT(!s2->endedByUs());   // an idle session is not watched
	CPPUNIT_ASSERT_EQUAL(std::uint64_t(1), me.host.stats.receiptTimeouts);
}


void PeerTest::testReceiptWatchdogFollowsOldest()
{
	Side me(SMALL, LARGE);
	const auto timeout = me.host.config().receiptTimeout;
	me.peer->setRelation(Relation::CONTACT);
	FakeSession::Ptr s1 = me.incoming(Path::DIRECT);
	const auto t0 = me.clock().now();
	me.peer->send(testMessage("m1"));
	me.clock().advance(3s);
	me.peer->send(testMessage("m2"));
	me.clock().advance(2s);
	s1->deliverReceipt("m1");
	// m2, written at t0 + 3 s, is the oldest waiting now.
	me.clock().advance(t0 + 3s + timeout - 1ms - me.clock().now());
	CPPUNIT_ASSERT(!s1->endedByUs());
	me.clock().advance(1ms);
	CPPUNIT_ASSERT(s1->abortedWith().has_value());
	CPPUNIT_ASSERT_EQUAL(std::uint64_t(1), me.host.stats.receiptTimeouts);
}


void PeerTest::testRefusalEndsDelivery()
{
	Side me(SMALL, LARGE);
	const auto timeout = me.host.config().receiptTimeout;
	me.peer->setRelation(Relation::CONTACT);
	FakeSession::Ptr s1 = me.incoming(Path::DIRECT);
	const auto t0 = me.clock().now();
	me.peer->send(testMessage("m1"));
	me.clock().advance(4s);
	me.peer->send(testMessage("m2"));
	me.clock().advance(1s);

	s1->deliverRefusal("m1", SessionProtocol::REFUSE_INVALID_UTF8, "the text is not valid UTF-8");
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), me.host.refusedIds.size());
	CPPUNIT_ASSERT_EQUAL(std::string("m1"), me.host.refusedIds[0].id);
	CPPUNIT_ASSERT_EQUAL(std::string(SessionProtocol::REFUSE_INVALID_UTF8), me.host.refusedIds[0].code);
	CPPUNIT_ASSERT_EQUAL(std::string("the text is not valid UTF-8"), me.host.refusedIds[0].reason);
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), me.peer->outbox().size());
	CPPUNIT_ASSERT_EQUAL(std::string("m2"), me.peer->outbox().entries().front().id);
	CPPUNIT_ASSERT_EQUAL(std::uint64_t(1), me.host.stats.messagesRefused);

	// Refusals and receipts for ids not (or no longer) waiting change nothing.
	s1->deliverRefusal("unknown", SessionProtocol::REFUSE_BUSY, "later");
	s1->deliverReceipt("m1");
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), me.host.refusedIds.size());
	CPPUNIT_ASSERT(me.host.deliveredIds.empty());
	CPPUNIT_ASSERT_EQUAL(std::uint64_t(1), me.host.stats.messagesRefused);

	// The watchdog moved on to m2: m1's deadline passes, m2's aborts.
	me.clock().advance(t0 + 4s + timeout - 1ms - me.clock().now());
	CPPUNIT_ASSERT(!s1->endedByUs());
	me.clock().advance(1ms);
	CPPUNIT_ASSERT(s1->abortedWith().has_value());

	// The next session gets only m2.
	FakeSession::Ptr s2 = me.incoming(Path::RELAY);
	CPPUNIT_ASSERT((s2->textIds() == Ids{"m2"}));
}


void PeerTest::testDuplicatesDeliveredOnce()
{
	Side me(SMALL, LARGE);
	me.peer->setRelation(Relation::CONTACT);
	FakeSession::Ptr s1 = me.incoming(Path::RELAY);
	s1->deliverText("x", "hello");
	s1->deliverText("x", "hello");
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), me.host.messages.size());
	CPPUNIT_ASSERT((s1->receipts() == Ids{"x", "x"}));   // every copy is acknowledged
	CPPUNIT_ASSERT_EQUAL(std::uint64_t(1), me.host.stats.duplicatesDropped);
	CPPUNIT_ASSERT_EQUAL(std::uint64_t(1), me.host.stats.messagesReceived);
	const ChatMessage& message = me.host.messages[0];
	CPPUNIT_ASSERT_EQUAL(std::string("x"), message.id);
	CPPUNIT_ASSERT(message.from == LARGE);
	CPPUNIT_ASSERT_EQUAL(std::string("hello"), message.text);
	CPPUNIT_ASSERT_EQUAL(std::string("relay"), message.path);
	CPPUNIT_ASSERT(!message.request);

	// A retransmission on the next session, and an id the store already has.
	s1->closeByPeer();
	FakeSession::Ptr s2 = me.incoming(Path::DIRECT);
	s2->deliverText("x", "hello");
	me.host.storedIds.insert("stored");
	s2->deliverText("stored", "from before a restart");
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), me.host.messages.size());
	CPPUNIT_ASSERT((s2->receipts() == Ids{"x", "stored"}));
	CPPUNIT_ASSERT_EQUAL(std::uint64_t(3), me.host.stats.duplicatesDropped);
	s2->deliverText("y", "new");
	CPPUNIT_ASSERT_EQUAL(std::size_t(2), me.host.messages.size());
	CPPUNIT_ASSERT_EQUAL(std::string("direct"), me.host.messages[1].path);
}


void PeerTest::testStrangerRequestsAndBurst()
{
	Side me(SMALL, LARGE);
	CPPUNIT_ASSERT(me.peer->relation() == Relation::STRANGER);
	FakeSession::Ptr s = me.incoming(Path::RELAY);
	const int burst = Peer::STRANGER_MESSAGE_BURST;
	for (int i = 0; i < burst; ++i) s->deliverText("s" + std::to_string(i), "hi");
	CPPUNIT_ASSERT_EQUAL(std::size_t(burst), me.host.messages.size());
	for (const ChatMessage& message: me.host.messages) CPPUNIT_ASSERT(message.request);
	CPPUNIT_ASSERT_EQUAL(std::size_t(burst), s->receipts().size());

	// Beyond the burst: refused "busy", not delivered, not acknowledged.
	s->deliverText("over", "hi");
	CPPUNIT_ASSERT_EQUAL(std::size_t(burst), me.host.messages.size());
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), s->refusals().size());
	CPPUNIT_ASSERT_EQUAL(std::string("over"), s->refusals()[0].id);
	CPPUNIT_ASSERT_EQUAL(std::string(SessionProtocol::REFUSE_BUSY), s->refusals()[0].code);
	CPPUNIT_ASSERT_EQUAL(std::size_t(burst), s->receipts().size());
	CPPUNIT_ASSERT_EQUAL(std::uint64_t(1), me.host.stats.inputRefused);

	// Half a period later still nothing; a whole period gives one more (the refused one, sent again).
	const std::chrono::milliseconds half = std::chrono::milliseconds(Peer::STRANGER_MESSAGE_PERIOD) / 2;
	me.clock().advance(half);
	s->deliverText("over", "hi");
	CPPUNIT_ASSERT_EQUAL(std::size_t(2), s->refusals().size());
	me.clock().advance(half);
	s->deliverText("over", "hi");
	CPPUNIT_ASSERT_EQUAL(std::size_t(burst + 1), me.host.messages.size());
	CPPUNIT_ASSERT_EQUAL(std::string("over"), me.host.messages.back().id);
	s->deliverText("over2", "hi");
	CPPUNIT_ASSERT_EQUAL(std::size_t(3), s->refusals().size());

	// Accepted as a contact: no limit, no request.
	me.peer->setRelation(Relation::CONTACT);
	for (int i = 0; i < 3 * burst; ++i) s->deliverText("c" + std::to_string(i), "hi");
	CPPUNIT_ASSERT_EQUAL(std::size_t(4 * burst + 1), me.host.messages.size());
	CPPUNIT_ASSERT(!me.host.messages.back().request);
	CPPUNIT_ASSERT_EQUAL(std::size_t(3), s->refusals().size());
}


void PeerTest::testStrangerRefusalsKeepDuplicateFilter()
{
	// Messages refused "busy" must not push what was delivered out of the duplicate filter:
	// a retransmission of a delivered message is then taken as new.
	Side me(SMALL, LARGE);
	FakeSession::Ptr s = me.incoming(Path::RELAY);
	const int burst = Peer::STRANGER_MESSAGE_BURST;
	s->deliverText("first", "hi");
	for (int i = 1; i < burst; ++i) s->deliverText("fill" + std::to_string(i), "hi");
	CPPUNIT_ASSERT_EQUAL(std::size_t(burst), me.host.messages.size());
	const std::size_t junk = Peer::SEEN_IDS_STRANGER + 10;
	for (std::size_t i = 0; i < junk; ++i) s->deliverText("junk" + std::to_string(i), "hi");
	CPPUNIT_ASSERT_EQUAL(junk, s->refusals().size());
	me.clock().advance(2 * Peer::STRANGER_MESSAGE_PERIOD);
	s->deliverText("first", "hi");
	CPPUNIT_ASSERT_EQUAL(std::size_t(burst), me.host.messages.size());
	CPPUNIT_ASSERT_EQUAL(std::string("first"), s->receipts().back());
}


void PeerTest::testBlockedRefused()
{
	Side me(SMALL, LARGE);
	me.peer->setRelation(Relation::CONTACT);
	me.peer->addAddress(Poco::Net::SocketAddress("203.0.113.5", 7000), AddressSource::USER);
	FakeSession::Ptr s = me.incoming(Path::DIRECT);
	me.peer->send(testMessage("m1"));
	CPPUNIT_ASSERT((s->textIds() == Ids{"m1"}));

	me.peer->setRelation(Relation::BLOCKED);
	CPPUNIT_ASSERT(me.peer->outbox().empty());
	CPPUNIT_ASSERT((s->contacts() == std::vector<bool>{true, false}));
	// Its sessions are closed (the node refuses new ones at TLS)...
	CPPUNIT_ASSERT_EQUAL(std::string("blocked"), reason(s->closedWith()));
	me.clock().runPending();
	// ...and a session that still reaches the peer gets every message refused.
	s = me.incoming(Path::DIRECT);
	s->deliverText("b1", "hi");
	CPPUNIT_ASSERT(me.host.messages.empty());
	CPPUNIT_ASSERT(s->receipts().empty());
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), s->refusals().size());
	CPPUNIT_ASSERT_EQUAL(std::string("b1"), s->refusals()[0].id);
	CPPUNIT_ASSERT_EQUAL(std::string(SessionProtocol::REFUSE_BLOCKED), s->refusals()[0].code);
	CPPUNIT_ASSERT_EQUAL(std::uint64_t(1), me.host.stats.inputRefused);
	s->deliverReceipt("m1");
	CPPUNIT_ASSERT(me.host.deliveredIds.empty());

	// Nothing is watched or dialed for it, even when its session goes.
	me.clock().advance(1min);
	CPPUNIT_ASSERT(!s->endedByUs());
	s->closeByPeer();
	me.peer->ladder().addressesChanged();
	me.clock().advance(1min);
	CPPUNIT_ASSERT(me.host.dials.empty());
}


void PeerTest::testContactMessageSetsConsent()
{
	Side me(SMALL, LARGE);
	FakeSession::Ptr s = me.incoming(Path::DIRECT);
	CPPUNIT_ASSERT(!me.peer->consented());
	s->deliverContact(true);
	CPPUNIT_ASSERT(me.peer->consented());
	CPPUNIT_ASSERT(me.peer->info().consented);
	s->deliverContact(false);
	CPPUNIT_ASSERT(!me.peer->consented());
	// A peer writes only to its contacts: its message says as much.
	s->deliverText("t1", "hello");
	CPPUNIT_ASSERT(me.peer->consented());
	// Our side of it: accepting the peer tells it, once.
	CPPUNIT_ASSERT(s->contacts().empty());
	me.peer->setRelation(Relation::CONTACT);
	me.peer->setRelation(Relation::CONTACT);
	CPPUNIT_ASSERT(s->contacts() == std::vector<bool>{true});
}


void PeerTest::testTlsForAnotherPeerAborted()
{
	Side me(SMALL, LARGE);
	me.peer->setRelation(Relation::CONTACT);
	me.peer->addAddress(Poco::Net::SocketAddress("203.0.113.5", 7000), AddressSource::USER);
	me.peer->send(testMessage("m1"));
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), me.host.dials.size());
	FakeSession::Ptr session = me.host.dials[0].session;
	session->tlsReady(IMPOSTOR);
	CPPUNIT_ASSERT_EQUAL(std::string("unexpected peer"), reason(session->abortedWith()));
	me.clock().runPending();
	CPPUNIT_ASSERT(session->closed());
	CPPUNIT_ASSERT(!me.peer->current());
	CPPUNIT_ASSERT(session->texts().empty());
	CPPUNIT_ASSERT_EQUAL(std::size_t(0), me.host.countChanges(PeerChange::CONNECTED));
	CPPUNIT_ASSERT_EQUAL(std::uint64_t(1), me.host.stats.connectFailures);
	CPPUNIT_ASSERT_EQUAL(std::size_t(0), me.peer->sessionCount());
}
