//
// Ladder.cpp
//
// Library: Chat
//


#include "Ladder.h"
#include "AddressPolicy.h"
#include "Peer.h"
#include "CrossChat/Relay/RelayProtocol.h"
#include "Poco/Logger.h"
#include <algorithm>


namespace CrossChat {
namespace Chat {


namespace {


Poco::Logger& logger()
{
	return Poco::Logger::get("CrossChat.Chat");
}


constexpr std::chrono::minutes BUDGET_WINDOW{1};


void forgetOld(std::deque<Scheduler::TimePoint>& times, Scheduler::TimePoint now)
{
	while (!times.empty() && now - times.front() >= BUDGET_WINDOW) times.pop_front();
}


template <class Duration>
Poco::Int64 ms(Duration duration)
{
	return static_cast<Poco::Int64>(std::chrono::duration_cast<std::chrono::milliseconds>(duration).count());
}


} // namespace


Ladder::Ladder(Peer& peer):
	_peer(peer)
{
	_random.seed();   // from the system's random source: guessed ports must not be predictable
}


Ladder::~Ladder()
{
	stop();
}


Scheduler& Ladder::scheduler()
{
	return _peer.host().scheduler();
}


bool Ladder::contact() const
	/// A contact, or a group peer (PROTOCOL.md, "Groups": members may connect for the group).
{
	return _peer.trusted();
}


bool Ladder::mayUpgrade() const
	/// Upgrades toward a contact that has written to us: both sides have chosen each other.
{
	return contact() && (_peer.consented() || _peer.groupPeer()) && _peer.relayed();
}


void Ladder::stop()
{
	_retryTimer.cancel();
	_upgradeTimer.cancel();
	_planRetry.cancel();
	_nextPrediction.cancel();
	_outgoing.reset();
	_incoming.reset();
	_plan.reset();
	_round = false;
	_upgradeRound = false;
	_relayPending = false;
	_upgradeLookup = false;
	dropAttempts(nullptr);
}


bool Ladder::dialing() const
{
	return _round;
}


std::size_t Ladder::attempts() const
{
	return (_dial ? 1 : 0) + (_upgrade ? 1 : 0) + _punches.size() + _predictions.size();
}


bool Ladder::owns(const Session& session) const
{
	auto same = [&session](const Session::Ptr& p) { return p.get() == &session; };
	return same(_dial) || same(_upgrade) || std::any_of(_punches.begin(), _punches.end(), same)
		|| std::any_of(_predictions.begin(), _predictions.end(), same);
}


void Ladder::forget(const Session& session)
{
	auto same = [&session](const Session::Ptr& p) { return p.get() == &session; };
	if (same(_dial)) _dial.reset();
	if (same(_upgrade)) _upgrade.reset();
	_punches.erase(std::remove_if(_punches.begin(), _punches.end(), same), _punches.end());
	_predictions.erase(std::remove_if(_predictions.begin(), _predictions.end(), same), _predictions.end());
}


void Ladder::dropAttempts(const Session* pKeep)
	/// Aborts every attempt of ours but pKeep (they report back later; forgotten now).
{
	std::vector<Session::Ptr> all;
	if (_dial) all.push_back(_dial);
	if (_upgrade) all.push_back(_upgrade);
	all.insert(all.end(), _punches.begin(), _punches.end());
	all.insert(all.end(), _predictions.begin(), _predictions.end());
	_dial.reset();
	_upgrade.reset();
	_punches.clear();
	_predictions.clear();
	// An attempt past TLS may be established on the other side already: aborting it there
	// would cost the peer its session. It is left to the session rules (Peer::takeSession()).
	for (auto& session: all)
		if (session.get() != pKeep && !session->tlsReady()) session->abort("another attempt got through");
}


bool Ladder::spendDial()
	/// The per-peer budget of direct dials.
{
	const auto now = scheduler().now();
	forgetOld(_dials, now);
	if (_dials.size() >= _peer.host().config().maxDialsPerMinute)
	{
		_peer.host().countStat(&ChatNodeStats::dialsDenied);
		return false;
	}
	_dials.push_back(now);
	return true;
}


bool Ladder::spendPlan()
	/// The per-peer budget of punch and prediction attempts, ours and those the peer's punch
	/// messages ask for (a contact turned hostile must not make us dial at will).
{
	const auto now = scheduler().now();
	forgetOld(_plans, now);
	if (_plans.size() >= static_cast<std::size_t>(MAX_PUNCH_ATTEMPTS) * _peer.host().config().maxRoundsPerMinute)
	{
		_peer.host().countStat(&ChatNodeStats::dialsDenied);
		return false;
	}
	_plans.push_back(now);
	return true;
}


std::vector<Poco::Net::SocketAddress> Ladder::dialableCandidates(const std::vector<Poco::Net::SocketAddress>& candidates) const
	/// A punch message's candidates are the peer's word. Dialed are those on a host where we have
	/// seen the peer (Peer::observedAt(): the relay saw it there, or its LAN announcement came
	/// from there), and others only if the address policy allows them (never loopback, or a
	/// private network that is not ours, ...) and they are public: a hole punch or a port
	/// prediction aims at a NAT's outside, so a contact's punch cannot turn into a port scan of
	/// our own host or LAN.
{
	std::vector<Poco::Net::SocketAddress> result;
	for (const auto& address: candidates)
	{
		if (_peer.observedAt(address.host())
			|| (_peer.host().mayDial(address) && !AddressPolicy::isRestricted(address.host())))
			result.push_back(address);
		else
			logger().debug("punch from %s: not dialing its candidate %s (address policy)", _peer.id().shortString(), address.toString());
	}
	return result;
}


// Dial rounds ------------------------------------------------------------------------------


void Ladder::wanted()
{
	if (!contact() || !_peer.wantsSession() || _peer.currentPath()) return;
	if (_round || _retryTimer.active()) return;
	const auto now = scheduler().now();
	forgetOld(_roundStarts, now);
	if (_roundStarts.size() >= _peer.host().config().maxRoundsPerMinute)
	{
		// Nothing a peer does makes us reconnect more than a few times a minute.
		const auto wait = BUDGET_WINDOW - (now - _roundStarts.front());
		logger().debug("reconnects to %s paused for %Ld ms (budget of %u rounds per minute)", _peer.displayName(),
			ms(wait), _peer.host().config().maxRoundsPerMinute);
		_retryTimer = scheduler().runAfter(wait, [this] { wanted(); });
		return;
	}
	_roundStarts.push_back(now);
	_round = true;
	_tried.clear();
	_lookedUp = false;
	dialStep();
}


void Ladder::dialStep()
	/// One step of a dial round: the next dialable address, then a relay lookup (its new
	/// addresses are tried the same way), then a relay tunnel.
{
	if (!_round || _dial || _relayPending) return;
	if (_peer.currentPath())
	{
		_round = false;
		return;
	}
	PeerHost& host = _peer.host();
	const std::vector<PeerAddress> addresses = _peer.dialableAddresses();
	for (const PeerAddress& candidate: addresses)
	{
		// Tracked by address: the list grows and is re-sorted as addresses are learned.
		if (std::find(_tried.begin(), _tried.end(), candidate.address) != _tried.end()) continue;
		_tried.push_back(candidate.address);
		if (!spendDial()) break;
		Dial dial;
		dial.address = candidate.address;
		const bool viaRelay = candidate.source == AddressSource::RELAY_OBSERVED || candidate.source == AddressSource::RELAY_ANNOUNCED;
		dial.timeout = viaRelay ? host.config().relayAddressTimeout : host.config().connectTimeout;
		logger().debug("connecting to %s at %s", _peer.displayName(), dial.address.toString());
		_dial = _peer.open(dial);
		return;
	}
	if (!host.relay().configured)
	{
		roundFailed(addresses.empty() ? "no known address yet; the message waits until the peer is found" : "no address worked");
		return;
	}
	if (!_lookedUp)
	{
		_lookedUp = true;
		_relayPending = true;
		host.countStat(&ChatNodeStats::relayLookups);
		std::weak_ptr<Peer> weak = _peer.weak_from_this();
		host.lookup(_peer.id(), [weak](const std::optional<Relay::RelayPeerRecord>& record, const std::string& error) {
			auto pPeer = weak.lock();
			if (!pPeer) return;
			Ladder& self = pPeer->ladder();
			self._relayPending = false;
			if (record) pPeer->learnFromRelay(*record);
			else if (!error.empty()) logger().debug("relay lookup of %s failed: %s", pPeer->id().shortString(), error);
			self.dialStep();
		});
		return;
	}
	_relayPending = true;
	std::weak_ptr<Peer> weak = _peer.weak_from_this();
	_peer.openTunnel([weak](const Session::Ptr& session, const std::string& error) {
		auto pPeer = weak.lock();
		if (!pPeer) return;
		Ladder& self = pPeer->ladder();
		self._relayPending = false;
		if (!session)
		{
			self.roundFailed("relay tunnel: " + error);
			return;
		}
		if (!self._round || pPeer->currentPath())
		{
			session->close("connected some other way meanwhile");
			return;
		}
		pPeer->host().countStat(&ChatNodeStats::relayTunnels);
		self._dial = session;
	});
}


void Ladder::roundFailed(const std::string& why)
{
	std::string text = why;
	if (!_lastFailure.empty() && why.find(_lastFailure) == std::string::npos) text += " (last attempt: " + _lastFailure + ")";
	_lastFailure.clear();
	_round = false;
	_tried.clear();
	_lookedUp = false;
	_peer.reportUnreachable(text);
	scheduleRetry();
}


void Ladder::scheduleRetry()
{
	if (!contact() || !_peer.wantsSession())
	{
		_backoff = std::chrono::milliseconds(0);
		return;
	}
	const ChatNodeConfig& config = _peer.host().config();
	_backoff = _backoff.count() == 0 ? config.reconnectMin : std::min(_backoff * 2, config.reconnectMax);
	_retryTimer = scheduler().runAfter(_backoff, [this] { wanted(); });
}


void Ladder::established()
{
	_round = false;
	_retryTimer.cancel();
	_backoff = std::chrono::milliseconds(0);
	// Our own dial may still complete: the session rules then keep one of the two, the same
	// one on both sides.
	if (_peer.relayed())
	{
		_upgradeBackoff = std::chrono::milliseconds(0);
		scheduleUpgrade();
	}
	else
	{
		_upgradeTimer.cancel();
		_upgradeRound = false;
		_outgoing.reset();
		_incoming.reset();
		_plan.reset();
		_planRetry.cancel();
		_nextPrediction.cancel();
		dropAttempts(nullptr);
	}
}


void Ladder::lost()
{
	_upgradeTimer.cancel();
	_upgradeRound = false;
	wanted();
}


void Ladder::attemptEstablished(const Session& session)
{
	const bool prediction = std::any_of(_predictions.begin(), _predictions.end(), [&session](const Session::Ptr& p) { return p.get() == &session; });
	const bool punch = std::any_of(_punches.begin(), _punches.end(), [&session](const Session::Ptr& p) { return p.get() == &session; });
	if (prediction) _peer.host().countStat(&ChatNodeStats::predictionSuccesses);
	if (punch) _peer.host().countStat(&ChatNodeStats::punchSuccesses);
	forget(session);
	if (session.path() == Path::DIRECT)
	{
		_plan.reset();
		_planRetry.cancel();
		_nextPrediction.cancel();
		_outgoing.reset();
		_incoming.reset();
		dropAttempts(&session);
	}
}


void Ladder::attemptEnded(const Session& session, const std::string& reason)
{
	const bool wasDial = _dial.get() == &session;
	const bool wasUpgrade = _upgrade.get() == &session;
	const bool wasPunch = std::any_of(_punches.begin(), _punches.end(), [&session](const Session::Ptr& p) { return p.get() == &session; });
	forget(session);
	PeerHost& host = _peer.host();
	if (wasDial)
	{
		host.countStat(&ChatNodeStats::connectFailures);
		const std::string why = reason.empty() ? "closed during the handshake" : reason;
		_lastFailure = why;
		logger().debug("connection to %s (%s) failed: %s", _peer.displayName(), std::string(pathName(session.path())), why);
		if (session.path() == Path::RELAY)
		{
			roundFailed("relay tunnel: " + why);
			return;
		}
		std::weak_ptr<Peer> weak = _peer.weak_from_this();
		scheduler().post([weak] { if (auto p = weak.lock()) p->ladder().dialStep(); });
		return;
	}
	if (wasUpgrade)
	{
		logger().debug("upgrade attempt with %s failed: %s", _peer.displayName(), reason);
		std::weak_ptr<Peer> weak = _peer.weak_from_this();
		scheduler().post([weak] { if (auto p = weak.lock()) p->ladder().upgradeStep(); });
		return;
	}
	if (wasPunch)
	{
		if (_plan && !session.tlsReady() && scheduler().now() < _planDeadline && _planDials < MAX_PUNCH_DIALS)
		{
			// Refused before the peer's own SYN opened its side: dial again while the window lasts.
			std::weak_ptr<Peer> weak = _peer.weak_from_this();
			_planRetry = scheduler().runAfter(PUNCH_RETRY_DELAY, [weak] { if (auto p = weak.lock()) p->ladder().punchDial(); });
			return;
		}
		if (_punches.empty() && !_planRetry.active() && _predictions.empty() && !_nextPrediction.active())
		{
			_plan.reset();
			punchAttemptFailed("no simultaneous open");
		}
		return;
	}
	// A prediction dial: the round goes on when the last one is gone and no attempt is pending.
	if (!_punches.empty()) return;
	if (_predictions.empty() && !_nextPrediction.active())
		punchAttemptFailed("no predicted port matched");
}


void Ladder::consentChanged()
{
	if (!contact())
	{
		stop();
		return;
	}
	wanted();
	if (mayUpgrade() && !_upgradeRound && !upgradeBusy())
	{
		// Both sides have chosen each other just now: try for a direct path at once.
		_upgradeBackoff = std::chrono::milliseconds(0);
		scheduleUpgrade(true);
	}
}


void Ladder::relayChanged(bool online)
{
	if (!online)
	{
		if (_outgoing) punchAttemptFailed("the relay went offline");
		_incoming.reset();
		return;
	}
	if (contact() && _peer.wantsSession() && !_peer.currentPath() && !_round)
	{
		// Messages that waited for the relay go out now.
		_retryTimer.cancel();
		_backoff = std::chrono::milliseconds(0);
		wanted();
	}
}


void Ladder::addressesChanged()
{
	if (!contact() || !_peer.wantsSession() || _peer.currentPath()) return;
	if (_round)
	{
		if (!_dial && !_relayPending) dialStep();
		return;
	}
	_retryTimer.cancel();
	_backoff = std::chrono::milliseconds(0);
	wanted();
}


// Upgrade rounds ---------------------------------------------------------------------------


void Ladder::scheduleUpgrade(bool now)
{
	if (!mayUpgrade()) return;
	const ChatNodeConfig& config = _peer.host().config();
	_upgradeBackoff = _upgradeBackoff.count() == 0 ? config.upgradeMin : std::min(_upgradeBackoff * 2, config.upgradeMax);
	_upgradeRound = false;
	std::weak_ptr<Peer> weak = _peer.weak_from_this();
	_upgradeTimer = scheduler().runAfter(now ? Scheduler::Duration::zero() : Scheduler::Duration(_upgradeBackoff), [weak] {
		auto pPeer = weak.lock();
		if (!pPeer) return;
		Ladder& self = pPeer->ladder();
		self._upgradeRound = true;
		self._upgradeTried.clear();
		self._upgradeLookedUp = false;
		self._punchAttempts = 0;
		// Guesses still being dialed (in a round of the peer's that we answer) stay guessed.
		if (self._predictions.empty()) self._guessed.clear();
		self.upgradeStep();
	});
}


bool Ladder::upgradeBusy() const
{
	return _upgrade || _upgradeLookup || _outgoing || _incoming || _plan || !_punches.empty() || !_predictions.empty()
		|| _nextPrediction.active();
}


void Ladder::upgradeStep()
	/// One step of an upgrade round: the next known address, a lookup, hole punches, a pause.
{
	if (!_upgradeRound) return;
	if (!mayUpgrade())
	{
		_upgradeRound = false;
		return;
	}
	if (upgradeBusy()) return;
	PeerHost& host = _peer.host();
	const std::vector<PeerAddress> addresses = _peer.dialableAddresses();
	for (const PeerAddress& candidate: addresses)
	{
		if (std::find(_upgradeTried.begin(), _upgradeTried.end(), candidate.address) != _upgradeTried.end()) continue;
		_upgradeTried.push_back(candidate.address);
		if (!spendDial()) break;
		Dial dial;
		dial.address = candidate.address;
		dial.timeout = host.config().relayAddressTimeout;
		logger().debug("upgrade: trying %s at %s directly", _peer.displayName(), dial.address.toString());
		_upgrade = _peer.open(dial);
		return;
	}
	if (host.relay().configured && !_upgradeLookedUp)
	{
		// A peer that reached us through a tunnel may have addresses we never learned.
		_upgradeLookedUp = true;
		_upgradeLookup = true;
		host.countStat(&ChatNodeStats::relayLookups);
		std::weak_ptr<Peer> weak = _peer.weak_from_this();
		host.lookup(_peer.id(), [weak](const std::optional<Relay::RelayPeerRecord>& record, const std::string&) {
			auto pPeer = weak.lock();
			if (!pPeer) return;
			Ladder& self = pPeer->ladder();
			self._upgradeLookup = false;
			if (record) pPeer->learnFromRelay(*record);
			self.upgradeStep();
		});
		return;
	}
	if (canPunch() && _punchAttempts < MAX_PUNCH_ATTEMPTS)
	{
		startPunch();
		return;
	}
	_upgradeRound = false;
	scheduleUpgrade();
}


// Hole punching ----------------------------------------------------------------------------


bool Ladder::canPunch() const
	/// A punch is started by the side with the smaller peer ID (the other answers: one round
	/// of attempts at a time per pair, within the budget). It needs the relay's control channel
	/// (its port is what our NAT maps) and a known NAT type (a relay without a probe port gives
	/// neither), a contact that has written to us, and the option.
{
	const RelayView relay = _peer.host().relay();
	const bool bothMapPerDestination = relay.nat == Relay::NatType::ENDPOINT_DEPENDENT
		&& _remoteNat == Relay::NatType::ENDPOINT_DEPENDENT;   // nothing to punch or predict from
	return _peer.host().config().holePunching && relay.online && relay.punchPort != 0 && _peer.host().selfId() < _peer.id()
		&& relay.nat != Relay::NatType::UNKNOWN && !bothMapPerDestination && mayUpgrade();
}


std::vector<Poco::Net::SocketAddress> Ladder::ourCandidates() const
	/// Our reflexive punch address first, then the host's extra candidates; at most 16.
{
	std::vector<Poco::Net::SocketAddress> result;
	const RelayView relay = _peer.host().relay();
	if (relay.reflexive) result.push_back(*relay.reflexive);
	for (const auto& address: _peer.host().ownCandidates())
	{
		if (result.size() >= Relay::RelayProtocol::PUNCH_MAX_ADDRESSES) break;
		if (std::find(result.begin(), result.end(), address) == result.end()) result.push_back(address);
	}
	return result;
}


void Ladder::sendPunch(Relay::PunchMessage::Phase phase, std::int64_t attempt, bool reply, bool withCandidates)
{
	Relay::PunchMessage message;
	message.peer = _peer.id();
	message.phase = phase;
	message.attempt = attempt;
	message.reply = reply;
	message.nat = _peer.host().relay().nat;
	if (withCandidates) message.addresses = ourCandidates();
	_peer.host().sendPunch(message);
}


void Ladder::startPunch()
	/// Initiator: connect with our candidates, time the round trip until the peer's connect
	/// reply, then sync and dial after half of it (punchReplied()).
{
	++_punchAttempts;
	_peer.host().countStat(&ChatNodeStats::punchAttempts);
	OutgoingPunch punch;
	punch.attempt = _punchAttempts;
	punch.sent = scheduler().now();
	std::weak_ptr<Peer> weak = _peer.weak_from_this();
	const std::int64_t attempt = punch.attempt;
	punch.timer = scheduler().runAfter(PUNCH_TIMEOUT, [weak, attempt] {
		auto pPeer = weak.lock();
		if (!pPeer) return;
		Ladder& self = pPeer->ladder();
		if (self._outgoing && self._outgoing->attempt == attempt && !self._outgoing->synced)
			self.punchAttemptFailed("the peer did not answer the punch within " + std::to_string(PUNCH_TIMEOUT.count()) + " ms");
	});
	_outgoing = std::move(punch);
	sendPunch(Relay::PunchMessage::Phase::CONNECT, attempt, false, true);
}


void Ladder::punchReceived(const Relay::PunchMessage& message)
{
	if (!contact() || !(_peer.consented() || _peer.groupPeer()))
	{
		// A stranger's word is no reason to dial anything.
		_peer.host().countStat(&ChatNodeStats::punchesIgnored);
		logger().debug("ignoring a punch from %s: not a contact that has written to us", _peer.id().shortString());
		return;
	}
	if (_peer.currentPath() == Path::DIRECT || !_peer.host().config().holePunching) return;
	if (message.phase == Relay::PunchMessage::Phase::CONNECT) _remoteNat = message.nat;
	// The relay adds the sender's observed address to an answer and a sync it forwards: what
	// it saw, not the peer's word (PROTOCOL.md, "Hole punching").
	if (message.observed) _peer.relayObserved(message.observed->host());
	if (message.phase == Relay::PunchMessage::Phase::SYNC)
	{
		if (_incoming && _incoming->plan.attempt == message.attempt)
		{
			const PunchPlan plan = _incoming->plan;
			_incoming.reset();
			dialPlan(plan);
		}
		return;
	}
	if (message.reply)
	{
		if (_outgoing && !_outgoing->synced && _outgoing->attempt == message.attempt) punchReplied(message);
		return;   // else a late answer to a punch we gave up on
	}
	if (_outgoing && !_outgoing->synced)
	{
		// Both started at once: the smaller ID stays initiator, the other answers.
		if (!(message.peer < _peer.host().selfId())) return;
		_outgoing.reset();
	}
	const RelayView relay = _peer.host().relay();
	if (!relay.online || relay.punchPort == 0) return;   // nothing we could dial from: let it time out
	answerPunch(message);
}


void Ladder::answerPunch(const Relay::PunchMessage& message)
	/// Responder: connect reply with our candidates, then wait for the sync.
{
	if (_plan || !_punches.empty())
	{
		// A new attempt replaces the simultaneous open still being dialed.
		_plan.reset();
		_planRetry.cancel();
		for (auto& session: std::vector<Session::Ptr>(_punches)) session->abort("a newer punch");
		_punches.clear();
	}
	IncomingPunch incoming;
	incoming.plan.remote = message.addresses;
	incoming.plan.remoteNat = message.nat;
	incoming.plan.initiator = false;
	incoming.plan.attempt = message.attempt;
	std::weak_ptr<Peer> weak = _peer.weak_from_this();
	const std::int64_t attempt = message.attempt;
	incoming.timer = scheduler().runAfter(PUNCH_TIMEOUT, [weak, attempt] {
		auto pPeer = weak.lock();
		if (!pPeer) return;
		Ladder& self = pPeer->ladder();
		if (self._incoming && self._incoming->plan.attempt == attempt)
		{
			self._incoming.reset();
			logger().debug("punch from %s: no sync within %Ld ms", pPeer->id().shortString(), static_cast<Poco::Int64>(PUNCH_TIMEOUT.count()));
			self.upgradeStep();
		}
	});
	_incoming = std::move(incoming);
	sendPunch(Relay::PunchMessage::Phase::CONNECT, attempt, true, true);
}


void Ladder::punchReplied(const Relay::PunchMessage& message)
	/// Initiator: the peer's connect reply arrived; sync now, dial after half the round trip.
{
	const auto rtt = scheduler().now() - _outgoing->sent;
	_outgoing->synced = true;
	PunchPlan plan;
	plan.remote = message.addresses;
	plan.remoteNat = message.nat;
	plan.initiator = true;
	plan.attempt = _outgoing->attempt;
	sendPunch(Relay::PunchMessage::Phase::SYNC, plan.attempt, false, false);
	std::weak_ptr<Peer> weak = _peer.weak_from_this();
	_outgoing->timer = scheduler().runAfter(rtt / 2, [weak, plan] {
		auto pPeer = weak.lock();
		if (!pPeer) return;
		Ladder& self = pPeer->ladder();
		if (!self._outgoing || self._outgoing->attempt != plan.attempt) return;
		self._outgoing.reset();
		self.dialPlan(plan);
	});
}


void Ladder::punchFailed(const std::string& error)
	/// The relay could not forward our punch message (the peer is offline there, ...).
{
	if (_outgoing) punchAttemptFailed(error);
	_incoming.reset();
}


void Ladder::punchAttemptFailed(const std::string& why)
{
	logger().debug("hole punch with %s: %s", _peer.id().shortString(), why);
	_outgoing.reset();
	if (_upgradeRound) upgradeStep();
}


void Ladder::dialPlan(const PunchPlan& candidatePlan)
	/// Both sides dial now. Against an endpoint-dependent NAT, bounded port prediction.
{
	const RelayView relay = _peer.host().relay();
	PunchPlan plan = candidatePlan;
	// The first candidate is the peer's punch address (its NAT's mapping of its punch port);
	// the others are listeners (no NAT, or a gateway mapping), reached by a plain connect.
	plan.remote.clear();
	std::vector<Poco::Net::SocketAddress> listeners;
	for (const auto& address: dialableCandidates(candidatePlan.remote))
	{
		if (!candidatePlan.remote.empty() && address == candidatePlan.remote.front())
			plan.remote.push_back(address);
		else
			listeners.push_back(address);
	}
	if (relay.punchPort == 0 || (plan.remote.empty() && listeners.empty()))
	{
		punchAttemptFailed("nothing to dial");
		return;
	}
	if (!spendPlan())
	{
		_punchAttempts = MAX_PUNCH_ATTEMPTS;   // this round is over too
		punchAttemptFailed("punch budget spent (" + std::to_string(MAX_PUNCH_ATTEMPTS * _peer.host().config().maxRoundsPerMinute)
			+ " attempts per minute)");
		return;
	}
	for (const auto& address: listeners)
	{
		Dial dial;
		dial.address = address;
		dial.timeout = PUNCH_CONNECT_TIMEOUT;
		logger().debug("hole punch %Ld with %s: connecting to its listener %s", static_cast<Poco::Int64>(plan.attempt),
			_peer.id().shortString(), address.toString());
		_punches.push_back(_peer.open(dial));
	}
	if (plan.remote.empty())
	{
		_plan = plan;   // the listeners' outcome ends the attempt
		_planDeadline = scheduler().now();
		return;
	}
	const bool weMapPerDestination = relay.nat == Relay::NatType::ENDPOINT_DEPENDENT;
	const bool theyMapPerDestination = plan.remoteNat == Relay::NatType::ENDPOINT_DEPENDENT;
	if (weMapPerDestination && theyMapPerDestination)
	{
		// Nothing to predict from: no more attempts this round.
		_punchAttempts = MAX_PUNCH_ATTEMPTS;
		punchAttemptFailed("both NATs map per destination");
		return;
	}
	if (weMapPerDestination || theyMapPerDestination)
	{
		// Hundreds of dials to one host: only to the host the relay saw the peer at, never to
		// an address the peer merely named (a hostile contact must not aim them at a third party).
		if (!_peer.observedAt(plan.remote.front().host()))
		{
			_punchAttempts = MAX_PUNCH_ATTEMPTS;
			punchAttemptFailed("no port prediction toward " + plan.remote.front().host().toString()
				+ ": the relay has not observed the peer there");
			return;
		}
		predict(plan, weMapPerDestination);
		return;
	}
	_plan = plan;
	_planDeadline = scheduler().now() + PUNCH_WINDOW;
	_planDials = 0;
	punchDial();
}


void Ladder::punchDial()
	/// TCP simultaneous open: from the punch port (the one the peer's NAT saw) to each of the
	/// peer's candidates; the initiator is the TLS client. Refused dials come back through
	/// attemptEnded() and are repeated until the window closes.
{
	if (!_plan) return;
	const RelayView relay = _peer.host().relay();
	if (relay.punchPort == 0) return;
	for (const auto& remote: _plan->remote)
	{
		if (_planDials >= MAX_PUNCH_DIALS) break;
		const bool dialedAlready = std::any_of(_punches.begin(), _punches.end(), [&remote](const Session::Ptr& s) {
			return !s->closed() && s->remoteAddress() == remote;
		});
		if (dialedAlready) continue;
		++_planDials;
		Dial dial;
		dial.address = remote;
		dial.timeout = PUNCH_CONNECT_TIMEOUT;
		dial.localPort = relay.punchPort;
		dial.tlsClient = _plan->initiator;
		logger().debug("hole punch %Ld with %s: dialing %s from port %hu", static_cast<Poco::Int64>(_plan->attempt),
			_peer.id().shortString(), remote.toString(), relay.punchPort);
		_punches.push_back(_peer.open(dial));
	}
	if (_punches.empty())
	{
		_plan.reset();
		punchAttemptFailed("punch dial budget spent");
	}
}


void Ladder::predict(const PunchPlan& plan, bool weMapPerDestination)
	/// Bounded port prediction ("birthday" approach) when exactly one NAT maps per destination.
	/// That side opens PREDICTION_SOCKETS connections from fresh local ports to the other's
	/// reflexive address, each getting a new random external port; the other side dials
	/// PREDICTION_PROBES guessed ports of its public address from its punch port, each opening
	/// its own NAT for that port. A guessed port that matches a live mapping gives a
	/// simultaneous open. Every dial lives PREDICTION_LIFETIME, longer than a round's attempts
	/// take, so the mappings and guesses of earlier attempts still count in later ones: after
	/// k attempts k*64 mappings meet k*256 guesses (about 1 - exp(-0.25 k^2) success for a
	/// NAT choosing among 64,512 ports: 22 %, 64 %, 90 %), for the same number of sockets per
	/// attempt. Guesses are not repeated within a round.
{
	PeerHost& host = _peer.host();
	host.countStat(&ChatNodeStats::predictionAttempts);
	const Poco::Net::SocketAddress target = plan.remote.front();
	std::vector<Poco::Net::SocketAddress> dials;
	if (weMapPerDestination)
	{
		dials.assign(PREDICTION_SOCKETS, target);
	}
	else
	{
		// Ports near the observed one first (sequential allocators), then random ones.
		std::vector<std::uint16_t> ports;
		auto add = [&](int port) {
			if (port < 1024 || port > 65535 || ports.size() >= PREDICTION_PROBES) return;
			if (_guessed.insert(static_cast<std::uint16_t>(port)).second) ports.push_back(static_cast<std::uint16_t>(port));
		};
		for (int delta = 1; delta <= 8; ++delta)
		{
			add(target.port() + delta);
			add(target.port() - delta);
		}
		for (int tries = 0; ports.size() < PREDICTION_PROBES && tries < 100000; ++tries)
			add(1024 + static_cast<int>(_random.next(65536 - 1024)));
		for (std::uint16_t port: ports) dials.emplace_back(target.host(), port);
	}
	host.countStat(&ChatNodeStats::predictionDials, dials.size());
	const RelayView relay = host.relay();
	logger().information("port prediction %Ld with %s: %z dials %s %s", static_cast<Poco::Int64>(plan.attempt),
		_peer.id().shortString(), dials.size(), std::string(weMapPerDestination ? "from fresh ports to" : "to guessed ports of"),
		target.host().toString());
	for (const auto& address: dials)
	{
		Dial dial;
		dial.address = address;
		dial.timeout = PREDICTION_LIFETIME;
		dial.localPort = weMapPerDestination ? 0 : relay.punchPort;
		dial.tlsClient = plan.initiator;
		_predictions.push_back(_peer.open(dial));
	}
	if (plan.initiator && _punchAttempts < MAX_PUNCH_ATTEMPTS)
	{
		// The next attempt of this round while these dials still live.
		std::weak_ptr<Peer> weak = _peer.weak_from_this();
		_nextPrediction = scheduler().runAfter(PREDICTION_INTERVAL, [weak] {
			auto pPeer = weak.lock();
			if (!pPeer) return;
			Ladder& self = pPeer->ladder();
			if (self._upgradeRound && self.canPunch() && !self._outgoing && self._punchAttempts < MAX_PUNCH_ATTEMPTS)
				self.startPunch();
		});
	}
}


} } // namespace CrossChat::Chat
