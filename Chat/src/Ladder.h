//
// Ladder.h
//
// Library: Chat
// Private: NAT traversal for one peer — the dial ladder, upgrade rounds, hole punching and
// port prediction, in one place.
// This is an internal header file, it is not installed; do not include it from outside Chat/src.
//


#ifndef CrossChat_Chat_Ladder_INCLUDED
#define CrossChat_Chat_Ladder_INCLUDED


#include "Session.h"
#include "CrossChat/Relay/ControlMessages.h"
#include "CrossChat/Scheduler.h"
#include "CrossChat/TimerHandle.h"
#include "Poco/Net/SocketAddress.h"
#include "Poco/Random.h"
#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <set>
#include <string>
#include <vector>


namespace CrossChat {
namespace Chat {


class Peer;


class Ladder
	/// How one peer is reached, and how a relayed conversation goes direct (PROTOCOL.md, "The
	/// connection ladder"):
	///
	///   dial round   (while messages or a service's work wait and no session is up; contacts only)
	///                each dialable address directly (connectTimeout; relayAddressTimeout for
	///                addresses the relay gave), then a relay lookup whose new addresses are
	///                tried the same way, then a relay tunnel; a failed round is repeated after a
	///                backoff (reconnectMin doubling to reconnectMax).
	///   upgrade round (while the session in use is relayed; a contact that has written to us)
	///                known addresses directly, a lookup, then up to MAX_PUNCH_ATTEMPTS hole
	///                punches coordinated through the relay (DCUtR-like: connect, reply, sync
	///                after the round trip, both dial at once); the pause between rounds doubles
	///                from upgradeMin to upgradeMax.
	///   hole punch   TCP simultaneous open from the relay control channel's port to the peer's
	///                candidates, refused dials repeated until the punch window closes; when
	///                exactly one side's NAT maps per destination, bounded port prediction
	///                instead (see predict()).
	///
	/// Budgets (per peer): direct dials (dial and upgrade rounds) at most
	/// ChatNodeConfig::maxDialsPerMinute in any minute; dial rounds at most
	/// ChatNodeConfig::maxRoundsPerMinute (so nothing a peer sends makes us reconnect in a loop);
	/// per punch attempt at most MAX_PUNCH_DIALS dials; per prediction attempt PREDICTION_SOCKETS
	/// fresh mappings or PREDICTION_PROBES guessed ports; MAX_PUNCH_ATTEMPTS attempts per round;
	/// attempts dialed (ours and those the peer's punch messages ask for) at most
	/// MAX_PUNCH_ATTEMPTS * ChatNodeConfig::maxRoundsPerMinute in any minute.
	///
	/// Consent: nothing here runs for a peer that is not a contact, and punches from a peer that
	/// is not a contact are ignored. Addresses come only from Peer::dialableAddresses() (the
	/// address policy) and, in a punch, from a contact, filtered by the same address policy
	/// (PeerHost::mayDial()) and to public addresses; time only from the host's Scheduler.
	///
	/// Thread rules: loop thread only. Ownership: a member of its Peer; holds its attempts'
	/// sessions (the Peer is their Listener and routes their outcome here); timers are members.
{
public:
	static constexpr int MAX_PUNCH_ATTEMPTS = 3;                        ///< Per upgrade round (as DCUtR).
	static constexpr std::chrono::milliseconds PUNCH_TIMEOUT{5000};     ///< Wait for the peer's next punch message.
	static constexpr std::chrono::milliseconds PUNCH_CONNECT_TIMEOUT{3000};  ///< SYNs are retried meanwhile.
	static constexpr std::chrono::milliseconds PUNCH_WINDOW{3000};      ///< Refused punch dials are repeated this long,
	static constexpr std::chrono::milliseconds PUNCH_RETRY_DELAY{10};   ///< this far apart,
	static constexpr int MAX_PUNCH_DIALS = 100;                         ///< at most this often per attempt.
	static constexpr std::size_t PREDICTION_SOCKETS = 64;    ///< Fresh mappings per attempt (endpoint-dependent side).
	static constexpr std::size_t PREDICTION_PROBES = 256;    ///< Guessed ports per attempt (the other side).
	static constexpr std::chrono::milliseconds PREDICTION_LIFETIME{9000};   ///< A prediction dial lives this long, so the
	                                                                        ///< attempts of a round add up (see predict()).
	static constexpr std::chrono::milliseconds PREDICTION_INTERVAL{2000};   ///< Between the attempts of a round.

	explicit Ladder(Peer& peer);
	~Ladder();

	Ladder(const Ladder&) = delete;
	Ladder& operator=(const Ladder&) = delete;

	void wanted();
		/// The peer needs a session (Peer::wantsSession(): messages or a service's work wait, or
		/// it is a group peer): starts a dial round unless one runs or a session is up.
	void established();
		/// A session came up and is the one in use (ours or the peer's): the dial round ends;
		/// a relayed one starts upgrade rounds, a direct one ends them.
	void lost();
		/// The session in use closed.
	bool owns(const Session& session) const;
	void attemptEstablished(const Session& session);
		/// One of our attempts is established: the ladder lets go of it (the Peer decides
		/// whether it becomes the session in use) and drops its competitors.
	void attemptEnded(const Session& session, const std::string& reason);
		/// One of our attempts closed before being established: the next rung.
	void consentChanged();
		/// The relation or the peer's consent changed: a contact with waiting messages gets a
		/// dial round, a relayed contact that has written to us an upgrade round now.
	void punchReceived(const Relay::PunchMessage& message);
	void punchFailed(const std::string& error);
	void relayChanged(bool online);
	void addressesChanged();
	void stop();
		/// Drops every attempt and timer.

	bool dialing() const;
		/// A dial round is under way.
	std::size_t attempts() const;
		/// Sessions of ours in flight (dial, upgrade, punch, prediction).

private:
	struct PunchPlan
	{
		std::vector<Poco::Net::SocketAddress> remote;
		Relay::NatType remoteNat = Relay::NatType::UNKNOWN;
		bool initiator = false;
		std::int64_t attempt = 1;
	};

	struct OutgoingPunch
	{
		std::int64_t attempt = 1;
		Scheduler::TimePoint sent;
		bool synced = false;
		TimerHandle timer;
	};

	struct IncomingPunch
	{
		PunchPlan plan;
		TimerHandle timer;
	};

	Scheduler& scheduler();
	bool contact() const;
	bool mayUpgrade() const;
	bool spendDial();
	bool spendPlan();
	std::vector<Poco::Net::SocketAddress> dialableCandidates(const std::vector<Poco::Net::SocketAddress>& candidates) const;
	void dialStep();
	void roundFailed(const std::string& why);
	void scheduleRetry();
	void scheduleUpgrade(bool now = false);
	void upgradeStep();
	bool upgradeBusy() const;
	bool canPunch() const;
	std::vector<Poco::Net::SocketAddress> ourCandidates() const;
	void startPunch();
	void sendPunch(Relay::PunchMessage::Phase phase, std::int64_t attempt, bool reply, bool withCandidates);
	void answerPunch(const Relay::PunchMessage& message);
	void punchReplied(const Relay::PunchMessage& message);
	void punchAttemptFailed(const std::string& why);
	void dialPlan(const PunchPlan& plan);
	void punchDial();
	void predict(const PunchPlan& plan, bool weMapPerDestination);
	void dropAttempts(const Session* pKeep);
	void forget(const Session& session);

	Peer& _peer;
	Poco::Random _random;

	// Dial round
	bool _round = false;
	std::vector<Poco::Net::SocketAddress> _tried;      ///< Addresses dialed in this round.
	bool _lookedUp = false;
	bool _relayPending = false;
	Session::Ptr _dial;
	std::string _lastFailure;                        ///< Why the last dial of this round failed.
	std::chrono::milliseconds _backoff{0};
	TimerHandle _retryTimer;
	std::deque<Scheduler::TimePoint> _roundStarts;   ///< Within the last minute.
	std::deque<Scheduler::TimePoint> _dials;         ///< Direct dials within the last minute.
	std::deque<Scheduler::TimePoint> _plans;         ///< Punch and prediction attempts dialed within the last minute.

	// Upgrade round
	TimerHandle _upgradeTimer;
	std::chrono::milliseconds _upgradeBackoff{0};
	bool _upgradeRound = false;
	std::vector<Poco::Net::SocketAddress> _upgradeTried;   ///< Addresses dialed in this upgrade round.
	bool _upgradeLookedUp = false;
	bool _upgradeLookup = false;
	Session::Ptr _upgrade;
	int _punchAttempts = 0;
	Relay::NatType _remoteNat = Relay::NatType::UNKNOWN;   ///< From the peer's last punch message.

	// Hole punching and prediction
	std::optional<OutgoingPunch> _outgoing;
	std::optional<IncomingPunch> _incoming;
	std::optional<PunchPlan> _plan;          ///< The simultaneous open being dialed.
	Scheduler::TimePoint _planDeadline;
	int _planDials = 0;
	TimerHandle _planRetry;
	std::vector<Session::Ptr> _punches;      ///< Simultaneous-open dials in flight.
	std::vector<Session::Ptr> _predictions;  ///< Prediction dials in flight.
	std::set<std::uint16_t> _guessed;        ///< Ports guessed in this round.
	TimerHandle _nextPrediction;
};


} } // namespace CrossChat::Chat


#endif // CrossChat_Chat_Ladder_INCLUDED
