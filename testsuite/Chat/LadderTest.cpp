//
// LadderTest.cpp
//
// testsuite: tests for Ladder, driven through its Peer with fake sessions, a fake host and a
// manual clock: dial rounds and their order, backoff, the per-peer budgets, upgrade rounds,
// hole-punch coordination and retries, port prediction and its budget. Times are asserted
// exactly on the ManualScheduler; nothing sleeps and nothing touches the network.
//


#include "LadderTest.h"
#include "PeerTestSupport.h"
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <set>
#include <string>
#include <vector>


using namespace CrossChat;
using namespace CrossChat::Chat;
using namespace CrossChat::Test;
using namespace std::chrono_literals;


namespace {


using Phase = Relay::PunchMessage::Phase;
using Relay::NatType;
using Relay::PunchMessage;
using Poco::Net::SocketAddress;

const PeerId SMALL = testId(0x11);
const PeerId LARGE = testId(0x77);

const SocketAddress A_REFLEXIVE("198.51.100.1", 40000);   // SMALL's punch port as the relay sees it
const SocketAddress B_REFLEXIVE("203.0.113.7", 41000);    // LARGE's
constexpr std::uint16_t A_PUNCH_PORT = 40000;
constexpr std::uint16_t B_PUNCH_PORT = 41000;


PunchMessage punch(Phase phase, const PeerId& from, std::int64_t attempt, bool reply, NatType nat,
	std::vector<SocketAddress> addresses = {}, std::optional<SocketAddress> observed = std::nullopt)
	/// A punch message as the relay delivers it (peer = the sender). In an answer the relay adds
	/// the sender's observed address: by default the first candidate (the sender's reflexive).
{
	PunchMessage message;
	message.phase = phase;
	message.peer = from;
	message.attempt = attempt;
	message.reply = reply;
	message.nat = nat;
	if (reply && !observed && !addresses.empty()) observed = addresses.front();
	message.addresses = std::move(addresses);
	message.observed = observed;
	return message;
}


std::size_t connectsSent(const FakeHost& host)
	/// Punch connects we initiated (not replies).
{
	return static_cast<std::size_t>(std::count_if(host.punches.begin(), host.punches.end(), [](const FakeHost::PunchRecord& p) {
		return p.message.phase == Phase::CONNECT && !p.message.reply;
	}));
}


void refuseOpenDials(Side& side, std::size_t& handled)
	/// Every dial not handled yet fails at once (connection refused).
{
	while (handled < side.host.dials.size())
	{
		side.host.dials[handled++].session->refuse();
		side.clock().runPending();
	}
}


} // namespace


// Consent ----------------------------------------------------------------------------------


void LadderTest::testNoDialsForStranger()
{
	Side me(SMALL, LARGE);
	me.punchNode(NatType::ENDPOINT_INDEPENDENT, A_PUNCH_PORT, A_REFLEXIVE);
	// Addresses of every kind, a waiting message, the relay online, a punch with candidates.
	me.peer->addAddress(SocketAddress("198.51.100.10", 7000), AddressSource::USER);
	me.peer->lanFound("stranger", SocketAddress("192.168.1.7", 7001), {SocketAddress("203.0.113.99", 7001)});
	Relay::RelayPeerRecord record;
	record.id = LARGE;
	record.addresses = {SocketAddress("203.0.113.20", 7002)};
	record.observed = SocketAddress("203.0.113.20", 50000);
	me.peer->learnFromRelay(record);
	me.peer->send(testMessage("m1"));
	me.peer->relayChanged(true);
	me.peer->ladder().addressesChanged();
	me.peer->punchReceived(punch(Phase::CONNECT, LARGE, 1, false, NatType::ENDPOINT_INDEPENDENT, {SocketAddress("203.0.113.20", 41000)}));
	CPPUNIT_ASSERT_EQUAL(std::uint64_t(1), me.host.stats.punchesIgnored);

	// It reaches us through the relay and writes to us (so it has consented): still nothing.
	FakeSession::Ptr tunnel = me.incoming(Path::RELAY);
	tunnel->deliverText("hi", "hello");
	tunnel->deliverContact(true);
	CPPUNIT_ASSERT(me.peer->consented());
	me.peer->punchReceived(punch(Phase::CONNECT, LARGE, 2, false, NatType::ENDPOINT_INDEPENDENT, {SocketAddress("203.0.113.20", 41000)}));
	me.peer->punchReceived(punch(Phase::SYNC, LARGE, 2, false, NatType::ENDPOINT_INDEPENDENT));
	me.clock().advance(10min);
	// Its session goes; the message still waits.
	tunnel->closeByPeer();
	me.clock().advance(10min);

	CPPUNIT_ASSERT(me.host.dials.empty());
	CPPUNIT_ASSERT(me.host.lookups.empty());
	CPPUNIT_ASSERT(me.host.tunnels.empty());
	CPPUNIT_ASSERT(me.host.punches.empty());
	CPPUNIT_ASSERT_EQUAL(std::uint64_t(3), me.host.stats.punchesIgnored);
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), me.peer->outbox().size());
}


// Dial rounds ------------------------------------------------------------------------------


void LadderTest::testGroupPeerDialedWhileShared()
{
	// A member of one of our groups (PROTOCOL.md, "Groups": group peers): not a contact, no
	// message waiting, yet the ladder keeps a session to it — until the group no longer joins us.
	Side me(SMALL, LARGE);
	me.peer->lanFound("member", SocketAddress("192.168.1.7", 7001), {SocketAddress("203.0.113.99", 7001)});
	me.clock().advance(1min);
	CPPUNIT_ASSERT(me.host.dials.empty());
	me.peer->setGroupPeer(true);
	CPPUNIT_ASSERT(me.peer->trusted());
	CPPUNIT_ASSERT(me.peer->wantsSession());
	CPPUNIT_ASSERT_EQUAL(Relation::STRANGER, me.peer->relation());
	CPPUNIT_ASSERT(!me.host.dials.empty());
	CPPUNIT_ASSERT(me.host.dials.front().dial.address == SocketAddress("192.168.1.7", 7001));
	// Every dial is refused: the round fails and is retried with backoff.
	std::size_t handled = 0;
	for (int i = 0; i < 20; ++i)
	{
		refuseOpenDials(me, handled);
		me.clock().advance(5s);
	}
	const std::size_t dials = me.host.dials.size();
	CPPUNIT_ASSERT(dials > 2);
	// Leaving the group (or being removed) ends it: no further dial.
	refuseOpenDials(me, handled);
	me.peer->setGroupPeer(false);
	CPPUNIT_ASSERT(!me.peer->trusted());
	CPPUNIT_ASSERT(!me.peer->wantsSession());
	me.clock().advance(10min);
	CPPUNIT_ASSERT_EQUAL(dials, me.host.dials.size());
	// A blocked peer stays blocked, group or not.
	me.peer->setRelation(Relation::BLOCKED);
	me.peer->setGroupPeer(true);
	CPPUNIT_ASSERT(!me.peer->trusted());
	me.clock().advance(10min);
	CPPUNIT_ASSERT_EQUAL(dials, me.host.dials.size());
}


void LadderTest::testDialRoundOrder()
{
	Side me(SMALL, LARGE);
	me.host.relayView.configured = true;
	me.host.relayView.online = true;
	me.peer->setRelation(Relation::CONTACT);
	const auto& config = me.host.config();

	const SocketAddress user("198.51.100.10", 7000);
	const SocketAddress lanSource("192.168.1.7", 7001);
	const SocketAddress lanAnnounced("[2001:db8::7]:7001");
	const SocketAddress lanPrivate("10.9.9.9", 7001);        // not on one of our networks
	const SocketAddress lanLoopback("127.0.0.1", 7001);
	const SocketAddress relayObserved("203.0.113.20", 7002);
	const SocketAddress relayMapped("198.51.100.99", 7003);
	me.peer->addAddress(user, AddressSource::USER);
	me.peer->lanFound("bob", lanSource, {lanAnnounced, lanPrivate, lanLoopback});
	Relay::RelayPeerRecord record;
	record.id = LARGE;
	record.addresses = {relayObserved, relayMapped};
	record.observed = SocketAddress("203.0.113.20", 51234);
	me.peer->learnFromRelay(record);
	CPPUNIT_ASSERT(me.host.dials.empty());   // nothing waits yet

	me.peer->send(testMessage("m1"));
	// Our user's address, the LAN source, what the relay observed, then what the peer
	// announced and the policy allows.
	struct Expected
	{
		SocketAddress address;
		std::chrono::milliseconds timeout;
	};
	std::vector<Expected> expected{
		{user, config.connectTimeout}, {lanSource, config.connectTimeout}, {relayObserved, config.relayAddressTimeout},
		{lanAnnounced, config.connectTimeout}, {relayMapped, config.relayAddressTimeout}};
	for (std::size_t i = 0; i < expected.size(); ++i)
	{
		const std::string label = "dial " + std::to_string(i);
		CPPUNIT_ASSERT_EQUAL_MESSAGE(label, i + 1, me.host.dials.size());
		const FakeHost::DialRecord& dial = me.host.dials[i];
		CPPUNIT_ASSERT_EQUAL_MESSAGE(label, expected[i].address.toString(), dial.dial.address.toString());
		CPPUNIT_ASSERT_MESSAGE(label, dial.dial.timeout == expected[i].timeout);
		CPPUNIT_ASSERT_MESSAGE(label, dial.dial.localPort == 0 && dial.dial.tlsClient && dial.peer == LARGE);
		CPPUNIT_ASSERT_MESSAGE(label, me.host.lookups.empty() && me.host.tunnels.empty());
		dial.session->refuse();
		me.clock().runPending();
	}
	// Then one lookup; its new addresses are tried directly before the tunnel.
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), me.host.lookups.size());
	CPPUNIT_ASSERT(me.host.lookups[0].peer == LARGE);
	const SocketAddress newObserved("203.0.113.20", 7010);   // the peer restarted on another port
	const SocketAddress newMapped("198.51.100.98", 7004);
	record.addresses = {newObserved, relayMapped, newMapped};
	me.host.answerLookup(0, record);
	for (const SocketAddress& address: {newObserved, newMapped})
	{
		CPPUNIT_ASSERT(!me.host.dials.empty());
		CPPUNIT_ASSERT_EQUAL(address.toString(), me.host.dials.back().dial.address.toString());
		CPPUNIT_ASSERT(me.host.dials.back().dial.timeout == config.relayAddressTimeout);
		me.host.dials.back().session->refuse();
		me.clock().runPending();
	}
	CPPUNIT_ASSERT_EQUAL(std::size_t(7), me.host.dials.size());
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), me.host.lookups.size());
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), me.host.tunnels.size());
	CPPUNIT_ASSERT(me.host.tunnels[0].peer == LARGE);
	// Each address once in the round; the peer's word was checked and never dialed against the policy.
	std::set<std::string> dialed;
	for (const auto& dial: me.host.dials) dialed.insert(dial.dial.address.toString());
	CPPUNIT_ASSERT_EQUAL(me.host.dials.size(), dialed.size());
	CPPUNIT_ASSERT(!dialed.count(lanPrivate.toString()) && !dialed.count(lanLoopback.toString()));
	CPPUNIT_ASSERT(std::find(me.host.policyChecks.begin(), me.host.policyChecks.end(), lanPrivate) != me.host.policyChecks.end());
	CPPUNIT_ASSERT(me.host.stats.dialsDenied > 0);
	CPPUNIT_ASSERT(me.host.errors.empty());

	// The tunnel fails: the user hears it once, the next round starts after reconnectMin.
	me.host.failTunnel(0, "the peer is offline");
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), me.host.errors.size());
	const auto failedAt = me.clock().now();
	me.clock().advance(config.reconnectMin - 1ms);
	CPPUNIT_ASSERT_EQUAL(std::size_t(7), me.host.dials.size());
	me.clock().advance(1ms);
	CPPUNIT_ASSERT_EQUAL(std::size_t(8), me.host.dials.size());
	CPPUNIT_ASSERT(me.host.dials.back().at == failedAt + config.reconnectMin);
	CPPUNIT_ASSERT_EQUAL(user.toString(), me.host.dials.back().dial.address.toString());
	std::size_t handled = 7;
	refuseOpenDials(me, handled);
	CPPUNIT_ASSERT_EQUAL(std::size_t(14), me.host.dials.size());   // the same seven, each once
	CPPUNIT_ASSERT_EQUAL(std::size_t(2), me.host.lookups.size());   // one lookup per round
	me.host.answerLookup(1, std::nullopt, "not found");
	CPPUNIT_ASSERT_EQUAL(std::size_t(2), me.host.tunnels.size());
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), me.host.errors.size());   // once per outage

	// The tunnel works: the message goes through it.
	FakeSession::Ptr tunnel = me.host.completeTunnel(1);
	tunnel->establish(LARGE);
	CPPUNIT_ASSERT(me.peer->current() == tunnel);
	CPPUNIT_ASSERT(me.peer->relayed());
	CPPUNIT_ASSERT(tunnel->textIds() == std::vector<std::string>{"m1"});
	CPPUNIT_ASSERT_EQUAL(std::uint64_t(1), me.host.stats.relayTunnels);
	CPPUNIT_ASSERT(!me.peer->ladder().dialing());
}


void LadderTest::testBackoff()
{
	ChatNodeConfig config;
	config.reconnectMin = 500ms;
	config.reconnectMax = 4000ms;
	config.maxRoundsPerMinute = 1000;
	config.maxDialsPerMinute = 1000;
	Side me(SMALL, LARGE, config);
	me.peer->setRelation(Relation::CONTACT);
	me.peer->addAddress(SocketAddress("198.51.100.10", 7000), AddressSource::USER);
	const auto t0 = me.clock().now();
	me.peer->send(testMessage("m1"));
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), me.host.dials.size());
	CPPUNIT_ASSERT(me.host.dials[0].at == t0);

	auto expectedAt = t0;
	for (auto pause: {500ms, 1000ms, 2000ms, 4000ms, 4000ms, 4000ms})
	{
		const std::size_t before = me.host.dials.size();
		me.host.dials.back().session->refuse();
		me.clock().runPending();
		CPPUNIT_ASSERT_EQUAL(before, me.host.dials.size());
		me.clock().advanceToNextTimer();
		expectedAt += pause;
		CPPUNIT_ASSERT_EQUAL(before + 1, me.host.dials.size());
		CPPUNIT_ASSERT(me.host.dials.back().at == expectedAt);
	}

	// A session resets the backoff: when it is lost, a round starts at once, then after reconnectMin.
	FakeSession::Ptr session = me.host.dials.back().session;
	session->establish(LARGE);
	CPPUNIT_ASSERT(me.peer->current() == session);
	me.clock().advance(1s);
	session->closeByPeer("gone");
	const auto lostAt = me.clock().now();
	CPPUNIT_ASSERT(me.host.dials.back().at == lostAt);
	me.host.dials.back().session->refuse();
	me.clock().runPending();
	me.clock().advanceToNextTimer();
	CPPUNIT_ASSERT(me.host.dials.back().at == lostAt + config.reconnectMin);
}


void LadderTest::testRoundBudget()
{
	ChatNodeConfig config;
	config.reconnectMin = 100ms;
	config.reconnectMax = 100ms;
	Side me(SMALL, LARGE, config);
	const std::size_t rounds = config.maxRoundsPerMinute;
	CPPUNIT_ASSERT(rounds > 1 && rounds * config.reconnectMax < 1min);
	me.peer->setRelation(Relation::CONTACT);
	me.peer->addAddress(SocketAddress("198.51.100.10", 7000), AddressSource::USER);
	const auto t0 = me.clock().now();
	me.peer->send(testMessage("m1"));
	for (std::size_t k = 1; k < rounds; ++k)
	{
		me.host.dials.back().session->refuse();
		me.clock().runPending();
		me.clock().advanceToNextTimer();
		CPPUNIT_ASSERT_EQUAL(k + 1, me.host.dials.size());
		CPPUNIT_ASSERT(me.host.dials.back().at == t0 + k * config.reconnectMin);
	}
	// The next round would start after reconnectMin; the budget holds it back until a minute
	// after the first round of the window.
	me.host.dials.back().session->refuse();
	me.clock().runPending();
	me.clock().advanceToNextTimer();
	CPPUNIT_ASSERT_EQUAL(rounds, me.host.dials.size());
	CPPUNIT_ASSERT(me.clock().now() == t0 + rounds * config.reconnectMin);
	me.clock().advanceToNextTimer();
	CPPUNIT_ASSERT_EQUAL(rounds + 1, me.host.dials.size());
	CPPUNIT_ASSERT(me.host.dials.back().at == t0 + 1min);
	CPPUNIT_ASSERT_EQUAL(rounds, me.host.dialsBetween(t0, t0 + 1min));
}


void LadderTest::testFlappingPeerBudget()
{
	// Whatever the peer does, we reconnect to it at most maxRoundsPerMinute times a minute:
	// here it opens a session and drops it again, twenty times in a fifth of a second.
	Side me(SMALL, LARGE);
	const std::size_t rounds = me.host.config().maxRoundsPerMinute;
	me.peer->setRelation(Relation::CONTACT);
	me.peer->addAddress(SocketAddress("198.51.100.10", 7000), AddressSource::USER);
	const auto t0 = me.clock().now();
	me.peer->send(testMessage("m1"));
	std::size_t handled = 0;
	refuseOpenDials(me, handled);
	for (int i = 0; i < 20; ++i)
	{
		FakeSession::Ptr session = me.incoming(Path::DIRECT);
		CPPUNIT_ASSERT(me.peer->current() == session);
		session->closeByPeer("flap");
		refuseOpenDials(me, handled);
		me.clock().advance(10ms);
	}
	CPPUNIT_ASSERT_EQUAL(rounds, me.host.dials.size());
	me.clock().advance(t0 + 1min - 1ms - me.clock().now());
	CPPUNIT_ASSERT_EQUAL(rounds, me.host.dials.size());
	me.clock().advance(1ms);
	CPPUNIT_ASSERT_EQUAL(rounds + 1, me.host.dials.size());
	CPPUNIT_ASSERT(me.host.dials.back().at == t0 + 1min);
}


void LadderTest::testDialBudget()
{
	ChatNodeConfig config;
	config.maxDialsPerMinute = 5;
	config.maxRoundsPerMinute = 1000;
	config.reconnectMin = 1s;
	config.reconnectMax = 1s;
	Side me(SMALL, LARGE, config);
	me.peer->setRelation(Relation::CONTACT);
	for (std::uint16_t port: {7000, 7001, 7002})
		me.peer->addAddress(SocketAddress("198.51.100.10", port), AddressSource::USER);
	const auto t0 = me.clock().now();
	me.peer->send(testMessage("m1"));
	std::size_t handled = 0;
	while (me.clock().now() < t0 + 3min)
	{
		refuseOpenDials(me, handled);
		CPPUNIT_ASSERT(me.clock().pendingTimers() > 0);
		me.clock().advanceToNextTimer();
	}
	const auto& dials = me.host.dials;
	CPPUNIT_ASSERT_EQUAL(std::size_t(config.maxDialsPerMinute), me.host.dialsBetween(t0, t0 + 1min));
	CPPUNIT_ASSERT(dials[config.maxDialsPerMinute].at == t0 + 1min);
	for (const auto& dial: dials)
		CPPUNIT_ASSERT(me.host.dialsBetween(dial.at, dial.at + 1min) <= config.maxDialsPerMinute);
	CPPUNIT_ASSERT(dials.size() >= 3 * config.maxDialsPerMinute);   // the budget is used, not starved
	CPPUNIT_ASSERT(me.host.stats.dialsDenied > 0);
}


// Upgrade rounds ---------------------------------------------------------------------------


void LadderTest::testUpgradeRounds()
{
	ChatNodeConfig config;
	config.upgradeMin = 1s;
	config.upgradeMax = 8s;
	Side me(SMALL, LARGE, config);
	me.host.relayView.configured = true;
	me.host.relayView.online = true;   // NAT type unknown: no punches, addresses and lookups only
	me.host.autoLookupEnabled = true;
	const SocketAddress address("198.51.100.10", 7000);
	me.peer->addAddress(address, AddressSource::USER);
	FakeSession::Ptr tunnel = me.readyForUpgrade();
	const auto t0 = me.clock().now();
	me.clock().advance(config.upgradeMin - 1ms);
	CPPUNIT_ASSERT(me.host.dials.empty());
	CPPUNIT_ASSERT(me.host.lookups.empty());
	me.clock().advance(1ms);
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), me.host.dials.size());
	CPPUNIT_ASSERT(me.host.dials[0].at == t0 + config.upgradeMin);
	CPPUNIT_ASSERT_EQUAL(address.toString(), me.host.dials[0].dial.address.toString());
	CPPUNIT_ASSERT(me.host.dials[0].dial.timeout == config.relayAddressTimeout);
	CPPUNIT_ASSERT(me.host.dials[0].dial.tlsClient);

	// Pauses double from upgradeMin to upgradeMax: rounds at 1, 3, 7, 15, 23, 31 s.
	auto expectedAt = t0 + config.upgradeMin;
	std::size_t round = 1;
	for (auto pause: {2s, 4s, 8s, 8s, 8s})
	{
		me.host.dials.back().session->refuse();
		me.clock().runPending();
		CPPUNIT_ASSERT_EQUAL(round, me.host.lookups.size());   // each round asks the relay once
		me.clock().advanceToNextTimer();
		expectedAt += pause;
		++round;
		CPPUNIT_ASSERT_EQUAL(round, me.host.dials.size());
		CPPUNIT_ASSERT(me.host.dials.back().at == expectedAt);
	}
	CPPUNIT_ASSERT(me.host.punches.empty());

	// This one gets through: the session is direct and the rounds end.
	FakeSession::Ptr direct = me.host.dials.back().session;
	direct->establish(LARGE);
	CPPUNIT_ASSERT(me.peer->current() == direct);
	CPPUNIT_ASSERT_EQUAL(std::string("upgraded to a direct path"), tunnel->closedWith().value_or("<none>"));
	CPPUNIT_ASSERT_EQUAL(std::uint64_t(1), me.host.stats.upgrades);
	me.clock().advance(10min);
	CPPUNIT_ASSERT_EQUAL(round, me.host.dials.size());
	CPPUNIT_ASSERT_EQUAL(round - 1, me.host.lookups.size());   // the last round needed none
}


void LadderTest::testNoUpgradeWithoutConsent()
{
	const SocketAddress address("198.51.100.10", 7000);
	auto prepare = [&address](Side& side) {
		side.host.relayView.configured = true;
		side.host.relayView.online = true;
		side.host.autoLookupEnabled = true;
		side.peer->addAddress(address, AddressSource::USER);
	};
	// A contact that has not written to us.
	Side contact(SMALL, LARGE);
	prepare(contact);
	contact.peer->setRelation(Relation::CONTACT);
	FakeSession::Ptr tunnel = contact.incoming(Path::RELAY);
	// A stranger that has.
	Side stranger(SMALL, LARGE);
	prepare(stranger);
	FakeSession::Ptr strangerTunnel = stranger.incoming(Path::RELAY);
	strangerTunnel->deliverText("hi", "hello");
	CPPUNIT_ASSERT(stranger.peer->consented());
	// Both chose each other, but the session is direct already.
	Side direct(SMALL, LARGE);
	prepare(direct);
	direct.consent();
	direct.incoming(Path::DIRECT);

	for (Side* pSide: {&contact, &stranger, &direct})
	{
		pSide->clock().advance(5min);
		CPPUNIT_ASSERT(pSide->host.dials.empty());
		CPPUNIT_ASSERT(pSide->host.lookups.empty());
		CPPUNIT_ASSERT(pSide->host.punches.empty());
	}

	// The contact writes to us: the first round starts at once.
	const auto consentAt = contact.clock().now();
	tunnel->deliverContact(true);
	contact.clock().advance(0ms);
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), contact.host.dials.size());
	CPPUNIT_ASSERT(contact.host.dials[0].at == consentAt);
}


// Hole punching ----------------------------------------------------------------------------


void LadderTest::testPunchInitiator()
{
	Side a(SMALL, LARGE);
	a.punchNode(NatType::ENDPOINT_INDEPENDENT, A_PUNCH_PORT, A_REFLEXIVE);
	const SocketAddress mapped("198.51.100.1", 7000);
	a.host.candidates = {A_REFLEXIVE, mapped};   // the reflexive one again: offered once
	a.readyForUpgrade();
	const auto t0 = a.clock().now();
	a.clock().advance(a.host.config().upgradeMin);
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), a.host.lookups.size());
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), a.host.punches.size());
	const FakeHost::PunchRecord connect = a.host.punches[0];
	CPPUNIT_ASSERT(connect.at == t0 + a.host.config().upgradeMin);
	CPPUNIT_ASSERT(connect.message.phase == Phase::CONNECT);
	CPPUNIT_ASSERT(!connect.message.reply);
	CPPUNIT_ASSERT_EQUAL(std::int64_t(1), connect.message.attempt);
	CPPUNIT_ASSERT(connect.message.peer == LARGE);
	CPPUNIT_ASSERT(connect.message.nat == NatType::ENDPOINT_INDEPENDENT);
	CPPUNIT_ASSERT((connect.message.addresses == std::vector<SocketAddress>{A_REFLEXIVE, mapped}));
	CPPUNIT_ASSERT_EQUAL(std::uint64_t(1), a.host.stats.punchAttempts);
	viaRelay(connect.message, SMALL);   // what we send passes the relay's schema

	// The reply after one round trip: sync at once, dial half a round trip later.
	const auto rtt = 81ms;
	a.clock().advance(rtt);
	a.peer->punchReceived(punch(Phase::CONNECT, LARGE, 1, true, NatType::ENDPOINT_INDEPENDENT, {B_REFLEXIVE}));
	const auto replyAt = a.clock().now();
	CPPUNIT_ASSERT_EQUAL(std::size_t(2), a.host.punches.size());
	const FakeHost::PunchRecord sync = a.host.punches[1];
	CPPUNIT_ASSERT(sync.message.phase == Phase::SYNC);
	CPPUNIT_ASSERT_EQUAL(std::int64_t(1), sync.message.attempt);
	CPPUNIT_ASSERT(sync.message.addresses.empty());
	CPPUNIT_ASSERT(sync.at == replyAt);
	const Scheduler::Duration half = Scheduler::Duration(rtt) / 2;
	a.clock().advance(half - Scheduler::Duration(1));
	CPPUNIT_ASSERT(a.host.dials.empty());
	a.clock().advance(Scheduler::Duration(1));
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), a.host.dials.size());
	const FakeHost::DialRecord& dial = a.host.dials[0];
	CPPUNIT_ASSERT(dial.at == replyAt + half);
	CPPUNIT_ASSERT_EQUAL(B_REFLEXIVE.toString(), dial.dial.address.toString());
	CPPUNIT_ASSERT_EQUAL(A_PUNCH_PORT, dial.dial.localPort);
	CPPUNIT_ASSERT(dial.dial.tlsClient);   // the initiator is the TLS client
	CPPUNIT_ASSERT(dial.dial.timeout == Ladder::PUNCH_CONNECT_TIMEOUT);
	// A late second reply changes nothing.
	a.peer->punchReceived(punch(Phase::CONNECT, LARGE, 1, true, NatType::ENDPOINT_INDEPENDENT, {B_REFLEXIVE}));
	a.clock().advance(1s);
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), a.host.dials.size());
	CPPUNIT_ASSERT_EQUAL(std::size_t(2), a.host.punches.size());
}


void LadderTest::testPunchResponder()
{
	Side b(LARGE, SMALL);
	b.punchNode(NatType::ENDPOINT_INDEPENDENT, B_PUNCH_PORT, B_REFLEXIVE);
	b.readyForUpgrade();
	b.clock().advance(100ms);   // before its own first upgrade round
	b.peer->punchReceived(punch(Phase::CONNECT, SMALL, 1, false, NatType::ENDPOINT_INDEPENDENT, {A_REFLEXIVE}));
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), b.host.punches.size());
	const FakeHost::PunchRecord answer = b.host.punches[0];
	CPPUNIT_ASSERT(answer.message.phase == Phase::CONNECT);
	CPPUNIT_ASSERT(answer.message.reply);
	CPPUNIT_ASSERT_EQUAL(std::int64_t(1), answer.message.attempt);
	CPPUNIT_ASSERT(answer.message.peer == SMALL);
	CPPUNIT_ASSERT(answer.message.nat == NatType::ENDPOINT_INDEPENDENT);
	CPPUNIT_ASSERT((answer.message.addresses == std::vector<SocketAddress>{B_REFLEXIVE}));
	CPPUNIT_ASSERT(answer.at == b.clock().now());
	CPPUNIT_ASSERT(b.host.dials.empty());

	// A sync for another attempt is not ours; the right one makes us dial at once.
	b.clock().advance(30ms);
	b.peer->punchReceived(punch(Phase::SYNC, SMALL, 2, false, NatType::ENDPOINT_INDEPENDENT));
	CPPUNIT_ASSERT(b.host.dials.empty());
	b.peer->punchReceived(punch(Phase::SYNC, SMALL, 1, false, NatType::ENDPOINT_INDEPENDENT));
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), b.host.dials.size());
	const FakeHost::DialRecord& dial = b.host.dials[0];
	CPPUNIT_ASSERT(dial.at == b.clock().now());
	CPPUNIT_ASSERT_EQUAL(A_REFLEXIVE.toString(), dial.dial.address.toString());
	CPPUNIT_ASSERT_EQUAL(B_PUNCH_PORT, dial.dial.localPort);
	CPPUNIT_ASSERT(!dial.dial.tlsClient);   // the responder is the TLS server
	CPPUNIT_ASSERT(dial.dial.timeout == Ladder::PUNCH_CONNECT_TIMEOUT);
}


void LadderTest::testPunchBothStartAtOnce()
{
	// Two nodes on one clock, the relay 40 ms from each: both start their first upgrade
	// round at the same moment, but only the smaller ID starts punches (one round of attempts
	// per pair); a connect from the larger ID (as another implementation may send) while the
	// smaller waits for its answer is ignored: the larger answers the smaller's.
	const auto oneWay = 40ms;
	PunchPair pair(NatType::ENDPOINT_INDEPENDENT, NatType::ENDPOINT_INDEPENDENT, oneWay, A_REFLEXIVE, B_REFLEXIVE);
	ManualScheduler& clock = pair.clock;
	Side& a = pair.a;
	Side& b = pair.b;
	CPPUNIT_ASSERT(a.self == SMALL && b.self == LARGE);
	const auto start = clock.now() + a.host.config().upgradeMin;

	clock.advance(a.host.config().upgradeMin);
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), connectsSent(a.host));
	CPPUNIT_ASSERT_EQUAL(std::size_t(0), connectsSent(b.host));
	a.peer->punchReceived(punch(Phase::CONNECT, LARGE, 1, false, NatType::ENDPOINT_INDEPENDENT, {B_REFLEXIVE}));
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), a.host.punches.size());   // not answered: a stays initiator
	// The larger ID answers the smaller's connect.
	clock.advance(oneWay);
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), a.host.punches.size());
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), b.host.punches.size());
	CPPUNIT_ASSERT(b.host.punches[0].message.reply);
	CPPUNIT_ASSERT_EQUAL(std::int64_t(1), b.host.punches[0].message.attempt);
	// The answer reaches the initiator one round trip after its connect: sync, and both
	// dial when the sync reaches the responder.
	clock.advance(oneWay);
	CPPUNIT_ASSERT_EQUAL(std::size_t(2), a.host.punches.size());
	CPPUNIT_ASSERT(a.host.punches[1].message.phase == Phase::SYNC);
	CPPUNIT_ASSERT(a.host.dials.empty() && b.host.dials.empty());
	clock.advance(oneWay - 1ms);
	CPPUNIT_ASSERT(a.host.dials.empty() && b.host.dials.empty());
	clock.advance(1ms);
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), a.host.dials.size());
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), b.host.dials.size());
	CPPUNIT_ASSERT(a.host.dials[0].at == start + 3 * oneWay);
	CPPUNIT_ASSERT(b.host.dials[0].at == start + 3 * oneWay);
	// Exactly one TLS client: the initiator.
	CPPUNIT_ASSERT(a.host.dials[0].dial.tlsClient);
	CPPUNIT_ASSERT(!b.host.dials[0].dial.tlsClient);
	CPPUNIT_ASSERT_EQUAL(B_REFLEXIVE.toString(), a.host.dials[0].dial.address.toString());
	CPPUNIT_ASSERT_EQUAL(A_REFLEXIVE.toString(), b.host.dials[0].dial.address.toString());
	CPPUNIT_ASSERT_EQUAL(A_PUNCH_PORT, a.host.dials[0].dial.localPort);
	CPPUNIT_ASSERT_EQUAL(B_PUNCH_PORT, b.host.dials[0].dial.localPort);

	// The simultaneous open is one connection: both sides go direct on it.
	FakeSession::Ptr directA = a.host.dials[0].session;
	FakeSession::Ptr directB = b.host.dials[0].session;
	directA->link(directB);
	directA->establish(LARGE);
	directB->establish(SMALL);
	clock.runPending();
	CPPUNIT_ASSERT(a.peer->current() == directA);
	CPPUNIT_ASSERT(b.peer->current() == directB);
	CPPUNIT_ASSERT(pair.tunnelA->closed() && pair.tunnelB->closed());
	CPPUNIT_ASSERT_EQUAL(std::string("upgraded to a direct path"), pair.tunnelA->closedWith().value_or("<none>"));
	CPPUNIT_ASSERT_EQUAL(std::uint64_t(1), a.host.stats.punchSuccesses);
	CPPUNIT_ASSERT_EQUAL(std::uint64_t(1), b.host.stats.punchSuccesses);
	const std::size_t punchesA = a.host.punches.size();
	const std::size_t punchesB = b.host.punches.size();
	clock.advance(10min);
	CPPUNIT_ASSERT_EQUAL(punchesA, a.host.punches.size());
	CPPUNIT_ASSERT_EQUAL(punchesB, b.host.punches.size());
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), a.host.dials.size());
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), b.host.dials.size());
}


void LadderTest::testStrangerPunchIgnored()
{
	const PunchMessage connect = punch(Phase::CONNECT, SMALL, 1, false, NatType::ENDPOINT_INDEPENDENT, {A_REFLEXIVE});
	const PunchMessage sync = punch(Phase::SYNC, SMALL, 1, false, NatType::ENDPOINT_INDEPENDENT);
	// A stranger (that has written to us).
	Side stranger(LARGE, SMALL);
	stranger.punchNode(NatType::ENDPOINT_INDEPENDENT, B_PUNCH_PORT, B_REFLEXIVE);
	stranger.incoming(Path::RELAY)->deliverText("hi", "hello");
	stranger.peer->punchReceived(connect);
	stranger.peer->punchReceived(sync);
	// A contact that has not written to us.
	Side contact(LARGE, SMALL);
	contact.punchNode(NatType::ENDPOINT_INDEPENDENT, B_PUNCH_PORT, B_REFLEXIVE);
	contact.peer->setRelation(Relation::CONTACT);
	contact.incoming(Path::RELAY);
	contact.peer->punchReceived(connect);
	contact.peer->punchReceived(sync);
	for (Side* pSide: {&stranger, &contact})
	{
		CPPUNIT_ASSERT(pSide->host.punches.empty());
		CPPUNIT_ASSERT(pSide->host.dials.empty());
		CPPUNIT_ASSERT_EQUAL(std::uint64_t(2), pSide->host.stats.punchesIgnored);
	}
}


void LadderTest::testPunchRetries()
{
	Side a(SMALL, LARGE);
	a.punchNode(NatType::ENDPOINT_INDEPENDENT, A_PUNCH_PORT, A_REFLEXIVE);
	a.readyForUpgrade();
	a.clock().advance(a.host.config().upgradeMin);
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), connectsSent(a.host));

	// Attempt 1: every punch dial is refused at once (the peer's SYN has not opened its NAT).
	a.peer->punchReceived(punch(Phase::CONNECT, LARGE, 1, true, NatType::ENDPOINT_INDEPENDENT, {B_REFLEXIVE}));
	a.clock().advance(0ms);   // half a zero round trip
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), a.host.dials.size());
	const auto d1 = a.host.dials[0].at;
	for (std::size_t k = 1; k < std::size_t(Ladder::MAX_PUNCH_DIALS); ++k)
	{
		a.host.dials.back().session->refuse();
		a.clock().runPending();
		a.clock().advance(Ladder::PUNCH_RETRY_DELAY - 1ms);
		CPPUNIT_ASSERT_EQUAL(k, a.host.dials.size());
		a.clock().advance(1ms);
		CPPUNIT_ASSERT_EQUAL(k + 1, a.host.dials.size());
		CPPUNIT_ASSERT(a.host.dials.back().at == d1 + k * Ladder::PUNCH_RETRY_DELAY);
	}
	// The last one allowed is refused too: attempt 2 starts at once.
	a.host.dials.back().session->refuse();
	a.clock().runPending();
	CPPUNIT_ASSERT_EQUAL(std::size_t(Ladder::MAX_PUNCH_DIALS), a.host.dials.size());
	CPPUNIT_ASSERT_EQUAL(std::size_t(2), connectsSent(a.host));
	CPPUNIT_ASSERT_EQUAL(std::int64_t(2), a.host.punches.back().message.attempt);
	CPPUNIT_ASSERT(a.host.punches.back().at == d1 + (Ladder::MAX_PUNCH_DIALS - 1) * Ladder::PUNCH_RETRY_DELAY);
	for (const auto& dial: a.host.dials)
	{
		CPPUNIT_ASSERT_EQUAL(B_REFLEXIVE.toString(), dial.dial.address.toString());
		CPPUNIT_ASSERT_EQUAL(A_PUNCH_PORT, dial.dial.localPort);
		CPPUNIT_ASSERT(dial.dial.tlsClient);
		CPPUNIT_ASSERT(dial.dial.timeout == Ladder::PUNCH_CONNECT_TIMEOUT);
	}

	// Attempt 2: each dial is refused 50 ms after it started; the window ends the retries.
	a.peer->punchReceived(punch(Phase::CONNECT, LARGE, 2, true, NatType::ENDPOINT_INDEPENDENT, {B_REFLEXIVE}));
	a.clock().advance(0ms);
	const std::size_t first2 = a.host.dials.size() - 1;
	const auto d2 = a.host.dials[first2].at;
	for (;;)
	{
		const std::size_t before = a.host.dials.size();
		a.clock().advance(50ms);
		a.host.dials.back().session->refuse();
		a.clock().runPending();
		a.clock().advance(Ladder::PUNCH_RETRY_DELAY);
		if (a.host.dials.size() == before) break;
		CPPUNIT_ASSERT(a.host.dials.size() < first2 + Ladder::MAX_PUNCH_DIALS);
	}
	const std::size_t dials2 = a.host.dials.size() - first2;
	// Dial k starts at d2 + 60k ms; it is repeated if refused (at +50 ms) inside the window.
	const std::size_t expected2 = std::size_t((Ladder::PUNCH_WINDOW - 50ms) / 60ms) + 2;
	CPPUNIT_ASSERT_EQUAL(expected2, dials2);
	CPPUNIT_ASSERT(a.host.dials.back().at <= d2 + Ladder::PUNCH_WINDOW);
	CPPUNIT_ASSERT_EQUAL(std::size_t(3), connectsSent(a.host));
	const auto connect3 = a.host.punches.back().at;
	CPPUNIT_ASSERT(connect3 == a.host.dials.back().at + 50ms);

	// Attempt 3 is never answered: after PUNCH_TIMEOUT the round is over (MAX_PUNCH_ATTEMPTS);
	// the next one starts after the pause, with attempt 1.
	const auto nextRound = connect3 + Ladder::PUNCH_TIMEOUT + 2 * a.host.config().upgradeMin;
	a.clock().advance(nextRound - 1ms - a.clock().now());
	CPPUNIT_ASSERT_EQUAL(std::size_t(3), connectsSent(a.host));
	a.clock().advance(1ms);
	CPPUNIT_ASSERT_EQUAL(std::size_t(4), connectsSent(a.host));
	CPPUNIT_ASSERT_EQUAL(std::int64_t(1), a.host.punches.back().message.attempt);
	CPPUNIT_ASSERT(a.host.punches.back().at == nextRound);
	CPPUNIT_ASSERT_EQUAL(std::uint64_t(4), a.host.stats.punchAttempts);
}


void LadderTest::testPunchDialPastTlsNotRepeated()
{
	Side a(SMALL, LARGE);
	a.punchNode(NatType::ENDPOINT_INDEPENDENT, A_PUNCH_PORT, A_REFLEXIVE);
	a.readyForUpgrade();
	a.clock().advance(a.host.config().upgradeMin);
	a.peer->punchReceived(punch(Phase::CONNECT, LARGE, 1, true, NatType::ENDPOINT_INDEPENDENT, {B_REFLEXIVE}));
	a.clock().advance(0ms);
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), a.host.dials.size());
	// The connection got through to TLS, then ended: nothing to repeat; the next attempt.
	FakeSession::Ptr dial = a.host.dials[0].session;
	dial->tlsReady(LARGE);
	dial->closeByPeer("handshake failed");
	a.clock().advance(Ladder::PUNCH_WINDOW);
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), a.host.dials.size());
	CPPUNIT_ASSERT_EQUAL(std::size_t(2), connectsSent(a.host));
}


// Port prediction --------------------------------------------------------------------------


void LadderTest::testPredictionGuessingSide()
{
	// The peer's NAT maps per destination (edm), ours does not: we guess its ports.
	Side a(SMALL, LARGE);
	a.punchNode(NatType::ENDPOINT_INDEPENDENT, A_PUNCH_PORT, A_REFLEXIVE);
	a.readyForUpgrade();
	a.clock().advance(a.host.config().upgradeMin);
	const SocketAddress target("203.0.113.50", 30000);
	std::set<std::uint16_t> guessed;
	for (std::int64_t attempt = 1; attempt <= Ladder::MAX_PUNCH_ATTEMPTS; ++attempt)
	{
		const std::string label = "attempt " + std::to_string(attempt);
		CPPUNIT_ASSERT_EQUAL_MESSAGE(label, std::size_t(attempt), connectsSent(a.host));
		CPPUNIT_ASSERT_EQUAL_MESSAGE(label, attempt, a.host.punches.back().message.attempt);
		const auto connectAt = a.host.punches.back().at;
		a.clock().advance(100ms);
		a.peer->punchReceived(punch(Phase::CONNECT, LARGE, attempt, true, NatType::ENDPOINT_DEPENDENT, {target}));
		const std::size_t before = a.host.dials.size();
		a.clock().advance(50ms);
		CPPUNIT_ASSERT_EQUAL_MESSAGE(label, before + Ladder::PREDICTION_PROBES, a.host.dials.size());
		std::size_t near = 0;
		for (std::size_t i = before; i < a.host.dials.size(); ++i)
		{
			const FakeHost::DialRecord& dial = a.host.dials[i];
			CPPUNIT_ASSERT_MESSAGE(label, dial.dial.address.host() == target.host());
			CPPUNIT_ASSERT_MESSAGE(label, dial.dial.localPort == A_PUNCH_PORT);
			CPPUNIT_ASSERT_MESSAGE(label, dial.dial.tlsClient);
			CPPUNIT_ASSERT_MESSAGE(label, dial.dial.timeout == Ladder::PREDICTION_LIFETIME);
			CPPUNIT_ASSERT_MESSAGE(label, dial.at == connectAt + 150ms);
			const std::uint16_t port = dial.dial.address.port();
			CPPUNIT_ASSERT_MESSAGE(label, port >= 1024);
			CPPUNIT_ASSERT_MESSAGE(label + ": port " + std::to_string(port) + " guessed twice", guessed.insert(port).second);
			if (std::abs(int(port) - int(target.port())) <= 8) ++near;
		}
		if (attempt == 1) CPPUNIT_ASSERT_EQUAL(std::size_t(16), near);   // sequential allocators first
		CPPUNIT_ASSERT_EQUAL_MESSAGE(label, std::uint64_t(attempt), a.host.stats.predictionAttempts);
		CPPUNIT_ASSERT_EQUAL_MESSAGE(label, std::uint64_t(attempt) * Ladder::PREDICTION_PROBES, a.host.stats.predictionDials);
		if (attempt == Ladder::MAX_PUNCH_ATTEMPTS) break;
		// The next attempt PREDICTION_INTERVAL after this one, while these dials still live.
		const auto batchAt = a.clock().now();
		a.clock().advance(Ladder::PREDICTION_INTERVAL - 1ms);
		CPPUNIT_ASSERT_EQUAL_MESSAGE(label, std::size_t(attempt), connectsSent(a.host));
		a.clock().advance(1ms);
		CPPUNIT_ASSERT_EQUAL_MESSAGE(label, std::size_t(attempt + 1), connectsSent(a.host));
		CPPUNIT_ASSERT_MESSAGE(label, a.host.punches.back().at == batchAt + Ladder::PREDICTION_INTERVAL);
	}
	// No fourth attempt in this round.
	a.clock().advance(2 * Ladder::PREDICTION_INTERVAL);
	CPPUNIT_ASSERT_EQUAL(std::size_t(Ladder::MAX_PUNCH_ATTEMPTS), connectsSent(a.host));
	CPPUNIT_ASSERT_EQUAL(std::size_t(Ladder::MAX_PUNCH_ATTEMPTS) * Ladder::PREDICTION_PROBES, a.host.dials.size());
	CPPUNIT_ASSERT_EQUAL(a.host.dials.size(), guessed.size());

	// Their lifetime ends: the round is over, the next one after the pause.
	std::size_t handled = 0;
	refuseOpenDials(a, handled);
	const auto endedAt = a.clock().now();
	CPPUNIT_ASSERT_EQUAL(std::size_t(Ladder::MAX_PUNCH_ATTEMPTS), connectsSent(a.host));
	a.clock().advance(2 * a.host.config().upgradeMin);
	CPPUNIT_ASSERT_EQUAL(std::size_t(Ladder::MAX_PUNCH_ATTEMPTS) + 1, connectsSent(a.host));
	CPPUNIT_ASSERT_EQUAL(std::int64_t(1), a.host.punches.back().message.attempt);
	CPPUNIT_ASSERT(a.host.punches.back().at == endedAt + 2 * a.host.config().upgradeMin);
}


void LadderTest::testPredictionMappingSide()
{
	// We map per destination (edm), the peer does not: fresh mappings toward its punch address.
	Side b(LARGE, SMALL);
	b.punchNode(NatType::ENDPOINT_DEPENDENT, B_PUNCH_PORT, B_REFLEXIVE);
	b.readyForUpgrade();
	for (std::int64_t attempt = 1; attempt <= Ladder::MAX_PUNCH_ATTEMPTS; ++attempt)
	{
		const std::string label = "attempt " + std::to_string(attempt);
		b.clock().advance(10ms);
		b.peer->punchReceived(punch(Phase::CONNECT, SMALL, attempt, false, NatType::ENDPOINT_INDEPENDENT, {A_REFLEXIVE}));
		CPPUNIT_ASSERT_MESSAGE(label, b.host.punches.back().message.reply);
		CPPUNIT_ASSERT_MESSAGE(label, b.host.punches.back().message.nat == NatType::ENDPOINT_DEPENDENT);
		CPPUNIT_ASSERT_EQUAL_MESSAGE(label, attempt, b.host.punches.back().message.attempt);
		b.clock().advance(10ms);
		const std::size_t before = b.host.dials.size();
		b.peer->punchReceived(punch(Phase::SYNC, SMALL, attempt, false, NatType::ENDPOINT_INDEPENDENT, {}, A_REFLEXIVE));
		CPPUNIT_ASSERT_EQUAL_MESSAGE(label, before + Ladder::PREDICTION_SOCKETS, b.host.dials.size());
		for (std::size_t i = before; i < b.host.dials.size(); ++i)
		{
			const FakeHost::DialRecord& dial = b.host.dials[i];
			CPPUNIT_ASSERT_EQUAL_MESSAGE(label, A_REFLEXIVE.toString(), dial.dial.address.toString());
			CPPUNIT_ASSERT_MESSAGE(label, dial.dial.localPort == 0);   // a new mapping each
			CPPUNIT_ASSERT_MESSAGE(label, !dial.dial.tlsClient);
			CPPUNIT_ASSERT_MESSAGE(label, dial.dial.timeout == Ladder::PREDICTION_LIFETIME);
		}
		CPPUNIT_ASSERT_EQUAL_MESSAGE(label, std::uint64_t(attempt), b.host.stats.predictionAttempts);
		b.clock().advance(Ladder::PREDICTION_INTERVAL);
	}
	CPPUNIT_ASSERT_EQUAL(std::size_t(Ladder::MAX_PUNCH_ATTEMPTS) * Ladder::PREDICTION_SOCKETS, b.host.dials.size());
	CPPUNIT_ASSERT_EQUAL(std::size_t(0), connectsSent(b.host));   // it answered, never initiated
}


void LadderTest::testPredictionGuessingResponder()
{
	// The peer maps per destination and initiates; we answer and guess its ports. Our own
	// upgrade round comes due between its attempts: the guesses of its round are still
	// being dialed and must not be repeated (same local port, same destination).
	Side b(LARGE, SMALL);
	b.punchNode(NatType::ENDPOINT_INDEPENDENT, B_PUNCH_PORT, B_REFLEXIVE);
	b.readyForUpgrade();
	const auto t0 = b.clock().now();
	const SocketAddress target("198.51.100.60", 30000);
	std::set<std::uint16_t> guessed;
	for (std::int64_t attempt = 1; attempt <= Ladder::MAX_PUNCH_ATTEMPTS; ++attempt)
	{
		const std::string label = "attempt " + std::to_string(attempt);
		b.clock().advance(10ms);
		b.peer->punchReceived(punch(Phase::CONNECT, SMALL, attempt, false, NatType::ENDPOINT_DEPENDENT, {target}));
		b.clock().advance(10ms);
		const std::size_t before = b.host.dials.size();
		b.peer->punchReceived(punch(Phase::SYNC, SMALL, attempt, false, NatType::ENDPOINT_DEPENDENT, {}, target));
		CPPUNIT_ASSERT_EQUAL_MESSAGE(label, before + Ladder::PREDICTION_PROBES, b.host.dials.size());
		for (std::size_t i = before; i < b.host.dials.size(); ++i)
		{
			const FakeHost::DialRecord& dial = b.host.dials[i];
			CPPUNIT_ASSERT_MESSAGE(label, dial.dial.address.host() == target.host());
			CPPUNIT_ASSERT_MESSAGE(label, dial.dial.localPort == B_PUNCH_PORT);
			CPPUNIT_ASSERT_MESSAGE(label, !dial.dial.tlsClient);
			const std::uint16_t port = dial.dial.address.port();
			CPPUNIT_ASSERT_MESSAGE(label + ": port " + std::to_string(port) + " guessed twice", guessed.insert(port).second);
		}
		b.clock().advance(Ladder::PREDICTION_INTERVAL);
	}
	// Our own first upgrade round was due meanwhile, and all the dials were still alive.
	CPPUNIT_ASSERT(b.clock().now() > t0 + b.host.config().upgradeMin);
	CPPUNIT_ASSERT(b.clock().now() < b.host.dials.front().at + Ladder::PREDICTION_LIFETIME);
	CPPUNIT_ASSERT_EQUAL(std::size_t(0), b.host.aborted());
	CPPUNIT_ASSERT_EQUAL(std::size_t(0), connectsSent(b.host));
}


void LadderTest::testBothEndpointDependentNoPunch()
{
	PunchPair pair(NatType::ENDPOINT_DEPENDENT, NatType::ENDPOINT_DEPENDENT, 40ms, A_REFLEXIVE, B_REFLEXIVE);
	ManualScheduler& clock = pair.clock;
	Side& a = pair.a;
	Side& b = pair.b;
	// The first exchange teaches each side the other's NAT type...
	clock.advance(a.host.config().upgradeMin + 1s);
	CPPUNIT_ASSERT(connectsSent(a.host) + connectsSent(b.host) >= 1);
	const std::size_t punchesA = a.host.punches.size();
	const std::size_t punchesB = b.host.punches.size();
	// ...after which neither punches nor predicts: nothing to predict from.
	clock.advance(10min);
	CPPUNIT_ASSERT(a.host.dials.empty());
	CPPUNIT_ASSERT(b.host.dials.empty());
	CPPUNIT_ASSERT_EQUAL(punchesA, a.host.punches.size());
	CPPUNIT_ASSERT_EQUAL(punchesB, b.host.punches.size());
	CPPUNIT_ASSERT_EQUAL(std::uint64_t(0), a.host.stats.predictionAttempts + b.host.stats.predictionAttempts);
	CPPUNIT_ASSERT(a.host.lookups.size() > 3);   // the upgrade rounds go on (addresses, lookups)
}


void LadderTest::testDirectAttemptDropsOthers()
{
	Side a(SMALL, LARGE);
	a.punchNode(NatType::ENDPOINT_INDEPENDENT, A_PUNCH_PORT, A_REFLEXIVE);
	FakeSession::Ptr tunnel = a.readyForUpgrade();
	a.clock().advance(a.host.config().upgradeMin);
	a.peer->punchReceived(punch(Phase::CONNECT, LARGE, 1, true, NatType::ENDPOINT_DEPENDENT, {SocketAddress("203.0.113.50", 30000)}));
	a.clock().advance(0ms);
	CPPUNIT_ASSERT_EQUAL(Ladder::PREDICTION_PROBES, a.host.dials.size());
	FakeSession::Ptr pastTls = a.host.dials[10].session;
	pastTls->tlsReady(LARGE);
	FakeSession::Ptr winner = a.host.dials[5].session;
	winner->establish(LARGE);

	CPPUNIT_ASSERT(a.peer->current() == winner);
	CPPUNIT_ASSERT_EQUAL(std::string("upgraded to a direct path"), tunnel->closedWith().value_or("<none>"));
	CPPUNIT_ASSERT(!pastTls->endedByUs());   // it may be established on the other side already
	CPPUNIT_ASSERT(!winner->endedByUs());
	CPPUNIT_ASSERT_EQUAL(Ladder::PREDICTION_PROBES - 2, a.host.aborted());
	CPPUNIT_ASSERT_EQUAL(std::uint64_t(1), a.host.stats.predictionSuccesses);
	CPPUNIT_ASSERT_EQUAL(std::uint64_t(1), a.host.stats.upgrades);
	a.clock().runPending();
	CPPUNIT_ASSERT_EQUAL(std::size_t(2), a.peer->sessionCount());   // the winner and the one past TLS
	CPPUNIT_ASSERT_EQUAL(std::size_t(0), a.peer->ladder().attempts());
	// No further attempt: the prediction timer went with the others.
	const std::size_t punches = a.host.punches.size();
	a.clock().advance(3 * Ladder::PREDICTION_INTERVAL);
	CPPUNIT_ASSERT_EQUAL(punches, a.host.punches.size());
	CPPUNIT_ASSERT_EQUAL(Ladder::PREDICTION_PROBES, a.host.dials.size());
}
