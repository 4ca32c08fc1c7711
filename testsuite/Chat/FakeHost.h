//
// FakeHost.h
//
// testsuite: a PeerHost on a ManualScheduler that records every request of a Peer (dials,
// tunnels, lookups, punches) and every report, and lets the test answer them later.
//


#ifndef CrossChat_Test_FakeHost_INCLUDED
#define CrossChat_Test_FakeHost_INCLUDED


#include "FakeSession.h"
#include "PeerHost.h"
#include "PeerService.h"
#include "AddressPolicy.h"
#include "CrossChat/ManualScheduler.h"
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>


namespace CrossChat {
namespace Test {


class FakeHost: public Chat::PeerHost
	/// The node as a Peer and its Ladder see it, without sockets:
	///   - connect() records the Dial and returns a FakeSession the test completes
	///     (establish()) or fails (refuse()) whenever it likes;
	///   - openTunnel() and lookup() record the request; the test answers it with
	///     completeTunnel() / failTunnel() / answerLookup() (or, with autoLookup set, every lookup
	///     is answered with it from the loop);
	///   - sendPunch() records the message; relay(), ownCandidates() and the address policy
	///     (mayDial) are plain settable members;
	///   - every report (peerChanged, messageReceived, delivered, refused, written, peerError,
	///     countStat) is recorded, with the time on the manual clock where it matters.
	///
	/// Thread rules: the test's thread only (that of the ManualScheduler).
	/// Ownership: owns its scheduler (unless shared) and the records; holds the fake sessions it
	/// created.
{
public:
	using TimePoint = Scheduler::TimePoint;

	struct DialRecord
	{
		PeerId peer;
		Chat::Dial dial;
		FakeSession::Ptr session;
		TimePoint at;
	};

	struct TunnelRequest
	{
		PeerId peer;
		Chat::Session::Listener* pListener = nullptr;
		TunnelHandler handler;
		TimePoint at;
		bool answered = false;
	};

	struct LookupRequest
	{
		PeerId peer;
		LookupHandler handler;
		TimePoint at;
		bool answered = false;
	};

	struct PunchRecord
	{
		Relay::PunchMessage message;
		TimePoint at;
	};

	struct Refused
	{
		std::string id;
		std::string code;
		std::string reason;
	};

	FakeHost(const PeerId& self, Chat::ChatNodeConfig config = Chat::ChatNodeConfig(), ManualScheduler* pSharedClock = nullptr);
		/// With pSharedClock (which must outlive the host), several hosts share one clock, so
		/// that a test can run both nodes of a pair on one time line; else the host has its own.
	~FakeHost() override;

	FakeHost(const FakeHost&) = delete;
	FakeHost& operator=(const FakeHost&) = delete;

	// Test controls ------------------------------------------------------------------------

	ManualScheduler& clock();
	Chat::ChatNodeConfig& settings();
		/// The configuration the peers read (change it before they use it).

	FakeSession::Ptr incoming(Chat::Path path, const Poco::Net::SocketAddress& remote = Poco::Net::SocketAddress("192.0.2.200", 40000));
		/// A session the peer opened to us (not ours: outgoing() is false), no listener yet.
	FakeSession::Ptr outgoingSession(Chat::Path path, const Poco::Net::SocketAddress& remote = Poco::Net::SocketAddress("192.0.2.201", 40000));
		/// A session we opened (outgoing() is true), no listener yet.

	FakeSession::Ptr completeTunnel(std::size_t index);
		/// Answers tunnel request index with a new relayed FakeSession (TLS client, ours).
	void failTunnel(std::size_t index, const std::string& error);
	void answerLookup(std::size_t index, const std::optional<Relay::RelayPeerRecord>& record, const std::string& error = std::string());

	std::optional<Relay::RelayPeerRecord> autoLookup;
	bool autoLookupEnabled = false;
		/// With it, every lookup is answered from the loop with autoLookup ("not found" if empty).

	Chat::RelayView relayView;
	std::vector<Poco::Net::SocketAddress> candidates;   ///< ownCandidates().
	std::function<bool(const Poco::Net::SocketAddress&)> policy;
		/// mayDial(); by default an AddressPolicy that knows no own network.
	std::set<std::string> storedIds;   ///< isDuplicate() answers true for these (the store's memory).
	std::function<void(const Relay::PunchMessage&)> punchHook;
		/// Called with every punch message sent while the relay is online (see PunchRelay).

	// Records ------------------------------------------------------------------------------

	std::vector<DialRecord> dials;
	std::vector<TunnelRequest> tunnels;
	std::vector<LookupRequest> lookups;
	std::vector<PunchRecord> punches;
	std::vector<std::pair<Chat::ChatNode::PeerChange, Chat::PeerInfo>> changes;
	std::vector<Chat::ChatMessage> messages;
	std::vector<std::string> deliveredIds;
	std::vector<std::string> serviceMessages;   ///< Names of the messages routed to the node's services.
	std::vector<std::uint8_t> serviceFrames;    ///< Types of the binary frames routed to them.
	Chat::PeerService* pService = nullptr;
		/// If set, receives what the node would route to its services (messages, binary frames,
		/// peer changes), as ChatNode does. Not owned.
	std::vector<Refused> refusedIds;
	std::vector<std::string> writtenIds;
	std::vector<std::string> errors;
	mutable std::vector<Poco::Net::SocketAddress> policyChecks;   ///< Every address mayDial() was asked about.
	mutable Chat::ChatNodeStats stats;                            ///< countStat(), and dialsDenied as the node counts it.

	std::size_t dialsBetween(TimePoint from, TimePoint to) const;
		/// Dials recorded at a time in [from, to).
	std::size_t aborted(std::size_t fromDial = 0) const;
		/// Dialed sessions (from index fromDial) that the code under test aborted.
	std::size_t countChanges(Chat::ChatNode::PeerChange change) const;

	// PeerHost -----------------------------------------------------------------------------

	Scheduler& scheduler() override;
	const PeerId& selfId() const override;
	const Chat::ChatNodeConfig& config() const override;
	Chat::Session::Ptr connect(const PeerId& peer, const Chat::Dial& dial, Chat::Session::Listener& listener) override;
	void openTunnel(const PeerId& peer, Chat::Session::Listener& listener, TunnelHandler handler) override;
	void lookup(const PeerId& peer, LookupHandler handler) override;
	bool sendPunch(const Relay::PunchMessage& message) override;
	Chat::RelayView relay() const override;
	std::vector<Poco::Net::SocketAddress> ownCandidates() const override;
	bool mayDial(const Poco::Net::SocketAddress& address) const override;
	void peerChanged(Chat::ChatNode::PeerChange change, Chat::Peer& peer) override;
	void serviceMessage(Chat::Peer& peer, const Message& message) override;
		/// Recorded in serviceMessages (by name), and given to pService.
	void serviceData(Chat::Peer& peer, std::uint8_t type, const std::string& body) override;
		/// Recorded in serviceData (by type), and given to pService.
	void messageReceived(Chat::Peer& peer, const Chat::ChatMessage& message) override;
	bool isDuplicate(Chat::Peer& peer, const std::string& messageId) override;
	void delivered(const Chat::Peer& peer, const std::string& messageId) override;
	void refused(const Chat::Peer& peer, const std::string& messageId, const std::string& code, const std::string& reason) override;
	void written(const Chat::Peer& peer, const std::string& messageId) override;
	void peerError(const Chat::Peer& peer, const std::string& text) override;
	void countStat(std::uint64_t Chat::ChatNodeStats::*counter, std::uint64_t amount) override;

private:
	std::unique_ptr<ManualScheduler> _pOwnClock;
	ManualScheduler& _clock;
	const PeerId _self;
	Chat::ChatNodeConfig _config;
	Chat::AddressPolicy _policy;
	std::uint64_t _nextSerial = 1;
};


} } // namespace CrossChat::Test


#endif // CrossChat_Test_FakeHost_INCLUDED
