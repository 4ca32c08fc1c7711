//
// PeerTestSupport.h
//
// testsuite: what PeerTest and LadderTest share: peer IDs of known order, a configuration,
// one side of a simulated pair (a FakeHost and the Peer it holds), and a relay that forwards
// punch messages between two sides through the real control-message codec.
//


#ifndef CrossChat_Test_PeerTestSupport_INCLUDED
#define CrossChat_Test_PeerTestSupport_INCLUDED


#include "FakeHost.h"
#include "FakeSession.h"
#include "Peer.h"
#include "CrossChat/FrameCodec.h"
#include "CrossChat/PeerId.h"
#include "CrossChat/TimerHandle.h"
#include "CrossChat/Relay/ControlMessages.h"
#include "CrossChat/Relay/RelayProtocol.h"
#include "Poco/Exception.h"
#include <cstdint>
#include <memory>
#include <string>
#include <vector>


namespace CrossChat {
namespace Test {


inline PeerId testId(std::uint8_t fill)
	/// An ID whose raw bytes are all fill: testId(1) < testId(2) in the byte order the session
	/// rules and the punch roles use.
{
	PeerId::Bytes bytes;
	bytes.fill(fill);
	return PeerId::fromBytes(bytes);
}


inline Chat::Outbox::Entry testMessage(const std::string& id)
{
	Chat::Outbox::Entry entry;
	entry.id = id;
	entry.timestampMs = 1700000000000;
	entry.text = "text of " + id;
	return entry;
}


struct Side
	/// One node of a simulated pair as far as one peer is concerned: its host (and clock) and
	/// its Peer object for the other node. Destroys the Peer before the host.
{
	Side(const PeerId& selfId, const PeerId& otherId, Chat::ChatNodeConfig config = Chat::ChatNodeConfig(),
		ManualScheduler* pSharedClock = nullptr):
		self(selfId),
		other(otherId),
		host(selfId, std::move(config), pSharedClock),
		peer(std::make_shared<Chat::Peer>(host, otherId))
	{
	}

	~Side()
	{
		peer.reset();
	}

	ManualScheduler& clock()
	{
		return host.clock();
	}

	FakeSession::Ptr incoming(Chat::Path path)
		/// A session the other node opened to us, adopted after TLS and then established.
	{
		return adoptEstablished(host.incoming(path));
	}

	FakeSession::Ptr outgoing(Chat::Path path)
		/// A session we opened (as the ladder's tunnels are), adopted and established.
	{
		return adoptEstablished(host.outgoingSession(path));
	}

	FakeSession::Ptr adoptEstablished(const FakeSession::Ptr& session)
		/// As the node hands a session over: after TLS; then the peer's hello arrives.
	{
		session->tlsReady(other);
		peer->adopt(session);
		session->establish(other);
		return session;
	}

	void consent()
		/// Both chose each other: a contact that has written to us.
	{
		peer->setRelation(Chat::Relation::CONTACT);
		peer->setConsented(true);
	}

	FakeSession::Ptr readyForUpgrade()
		/// A contact that has written to us, reached through a tunnel it opened: the upgrade
		/// rounds start upgradeMin later.
	{
		consent();
		return incoming(Chat::Path::RELAY);
	}

	void punchNode(Relay::NatType nat, std::uint16_t punchPort, const Poco::Net::SocketAddress& reflexive)
		/// Online at the relay with a punch port and a probed NAT; lookups answered "not found".
	{
		host.relayView.configured = true;
		host.relayView.online = true;
		host.relayView.punchPort = punchPort;
		host.relayView.nat = nat;
		host.relayView.reflexive = reflexive;
		host.autoLookupEnabled = true;
	}

	const PeerId self;
	const PeerId other;
	FakeHost host;
	Chat::Peer::Ptr peer;
};


inline Relay::PunchMessage viaRelay(const Relay::PunchMessage& sent, const PeerId& sender,
	const std::optional<Poco::Net::SocketAddress>& senderObserved = std::nullopt)
	/// What the relay makes of a punch message a client sent: encoded as the client does
	/// (schema-checked), then re-encoded with from = sender — and, in an answer or a sync, the
	/// sender's observed address, as the relay adds it — and parsed as the receiving client does.
{
	FrameCodec codec(Relay::RelayProtocol::MAX_BODY_SIZE);
	const std::string toRelay = Relay::encodeControl(codec, sent, Relay::PunchMessage::Direction::TO_RELAY);
	codec.feed(toRelay.data(), toRelay.size());
	const std::optional<Frame> first = codec.next();
	if (!first) throw Poco::IllegalStateException("no frame");
	Relay::PunchMessage forwarded = Relay::PunchMessage::parse(first->body, Relay::PunchMessage::Direction::TO_RELAY);
	forwarded.peer = sender;
	if (sent.reply || sent.phase == Relay::PunchMessage::Phase::SYNC) forwarded.observed = senderObserved;
	const std::string fromRelay = Relay::encodeControl(codec, forwarded, Relay::PunchMessage::Direction::FROM_RELAY);
	codec.feed(fromRelay.data(), fromRelay.size());
	const std::optional<Frame> second = codec.next();
	if (!second) throw Poco::IllegalStateException("no frame");
	return Relay::PunchMessage::parse(second->body, Relay::PunchMessage::Direction::FROM_RELAY);
}


class PunchRelay
	/// The relay between the two sides of a pair on one shared clock: every punch message one
	/// side sends reaches the other side's Peer oneWay later (as the relay forwards it).
	/// Must be destroyed before the sides (its pending deliveries are cancelled then).
{
public:
	PunchRelay(ManualScheduler& clock, Scheduler::Duration oneWay):
		_clock(clock),
		_oneWay(oneWay)
	{
	}

	void join(Side& a, Side& b)
	{
		a.host.punchHook = [this, &a, &b](const Relay::PunchMessage& message) { forward(message, a, b); };
		b.host.punchHook = [this, &a, &b](const Relay::PunchMessage& message) { forward(message, b, a); };
	}

private:
	void forward(const Relay::PunchMessage& message, Side& from, Side& to)
	{
		if (message.peer != to.self) return;
		const Relay::PunchMessage delivered = viaRelay(message, from.self, from.host.relayView.reflexive);
		Side* pTo = &to;
		_deliveries.push_back(_clock.runAfter(_oneWay, [pTo, delivered] { pTo->peer->punchReceived(delivered); }));
	}

	ManualScheduler& _clock;
	const Scheduler::Duration _oneWay;
	std::vector<TimerHandle> _deliveries;
};


struct PunchPair
	/// Two contacts on one clock, each online at the relay with its NAT type, talking through
	/// a tunnel the smaller one opened, with the relay oneWay from each for punch messages.
	/// Both start their upgrade rounds upgradeMin after the tunnel.
{
	PunchPair(Relay::NatType natA, Relay::NatType natB, Scheduler::Duration oneWay,
		const Poco::Net::SocketAddress& reflexiveA, const Poco::Net::SocketAddress& reflexiveB):
		a(testId(0x11), testId(0x77), Chat::ChatNodeConfig(), &clock),
		b(testId(0x77), testId(0x11), Chat::ChatNodeConfig(), &clock),
		relay(clock, oneWay)
	{
		a.punchNode(natA, reflexiveA.port(), reflexiveA);
		b.punchNode(natB, reflexiveB.port(), reflexiveB);
		a.consent();
		b.consent();
		relay.join(a, b);
		tunnelA = a.host.outgoingSession(Chat::Path::RELAY);
		tunnelB = b.host.incoming(Chat::Path::RELAY);
		tunnelA->link(tunnelB);
		a.adoptEstablished(tunnelA);
		b.adoptEstablished(tunnelB);
	}

	ManualScheduler clock;
	Side a;   ///< The smaller ID.
	Side b;
	PunchRelay relay;
	FakeSession::Ptr tunnelA;
	FakeSession::Ptr tunnelB;
};


} } // namespace CrossChat::Test


#endif // CrossChat_Test_PeerTestSupport_INCLUDED
