//
// FakeHost.cpp
//
// testsuite: a PeerHost on a ManualScheduler.
//


#include "FakeHost.h"
#include "Peer.h"
#include "Poco/Exception.h"
#include <algorithm>


namespace CrossChat {
namespace Test {


namespace {


const Poco::Net::SocketAddress RELAY_ADDRESS("192.0.2.1", 8080);


} // namespace


FakeHost::FakeHost(const PeerId& self, Chat::ChatNodeConfig config, ManualScheduler* pSharedClock):
	_pOwnClock(pSharedClock ? nullptr : std::make_unique<ManualScheduler>()),
	_clock(pSharedClock ? *pSharedClock : *_pOwnClock),
	_self(self),
	_config(std::move(config))
{
	policy = [this](const Poco::Net::SocketAddress& address) { return _policy.mayDial(address); };
}


FakeHost::~FakeHost() = default;


// Test controls ----------------------------------------------------------------------------


ManualScheduler& FakeHost::clock()
{
	return _clock;
}


Chat::ChatNodeConfig& FakeHost::settings()
{
	return _config;
}


FakeSession::Ptr FakeHost::incoming(Chat::Path path, const Poco::Net::SocketAddress& remote)
{
	return FakeSession::create(_clock, _nextSerial++, false, path, path == Chat::Path::RELAY ? RELAY_ADDRESS : remote, nullptr);
}


FakeSession::Ptr FakeHost::outgoingSession(Chat::Path path, const Poco::Net::SocketAddress& remote)
{
	return FakeSession::create(_clock, _nextSerial++, true, path, path == Chat::Path::RELAY ? RELAY_ADDRESS : remote, nullptr);
}


FakeSession::Ptr FakeHost::completeTunnel(std::size_t index)
{
	TunnelRequest& request = tunnels.at(index);
	if (request.answered) throw Poco::IllegalStateException("tunnel request answered twice");
	request.answered = true;
	FakeSession::Ptr session = FakeSession::create(_clock, _nextSerial++, true, Chat::Path::RELAY, RELAY_ADDRESS, request.pListener);
	request.handler(session, std::string());
	return session;
}


void FakeHost::failTunnel(std::size_t index, const std::string& error)
{
	TunnelRequest& request = tunnels.at(index);
	if (request.answered) throw Poco::IllegalStateException("tunnel request answered twice");
	request.answered = true;
	request.handler(nullptr, error);
}


void FakeHost::answerLookup(std::size_t index, const std::optional<Relay::RelayPeerRecord>& record, const std::string& error)
{
	LookupRequest& request = lookups.at(index);
	if (request.answered) throw Poco::IllegalStateException("lookup answered twice");
	request.answered = true;
	request.handler(record, error);
}


std::size_t FakeHost::dialsBetween(TimePoint from, TimePoint to) const
{
	return static_cast<std::size_t>(std::count_if(dials.begin(), dials.end(), [&](const DialRecord& d) {
		return d.at >= from && d.at < to;
	}));
}


std::size_t FakeHost::aborted(std::size_t fromDial) const
{
	std::size_t count = 0;
	for (std::size_t i = fromDial; i < dials.size(); ++i)
		if (dials[i].session->abortedWith()) ++count;
	return count;
}


std::size_t FakeHost::countChanges(Chat::ChatNode::PeerChange change) const
{
	return static_cast<std::size_t>(std::count_if(changes.begin(), changes.end(), [change](const auto& c) {
		return c.first == change;
	}));
}


// PeerHost ---------------------------------------------------------------------------------


Scheduler& FakeHost::scheduler()
{
	return _clock;
}


const PeerId& FakeHost::selfId() const
{
	return _self;
}


const Chat::ChatNodeConfig& FakeHost::config() const
{
	return _config;
}


Chat::Session::Ptr FakeHost::connect(const PeerId& peer, const Chat::Dial& dial, Chat::Session::Listener& listener)
{
	// As the node: the TLS client is the side that dialed (for a punch, the initiator).
	FakeSession::Ptr session = FakeSession::create(_clock, _nextSerial++, dial.tlsClient, Chat::Path::DIRECT, dial.address, &listener);
	dials.push_back(DialRecord{peer, dial, session, _clock.now()});
	return session;
}


void FakeHost::openTunnel(const PeerId& peer, Chat::Session::Listener& listener, TunnelHandler handler)
{
	tunnels.push_back(TunnelRequest{peer, &listener, std::move(handler), _clock.now(), false});
}


void FakeHost::lookup(const PeerId& peer, LookupHandler handler)
{
	lookups.push_back(LookupRequest{peer, std::move(handler), _clock.now(), false});
	if (autoLookupEnabled)
	{
		const std::size_t index = lookups.size() - 1;
		_clock.post([this, index] { answerLookup(index, autoLookup, autoLookup ? std::string() : "not found"); });
	}
}


bool FakeHost::sendPunch(const Relay::PunchMessage& message)
{
	punches.push_back(PunchRecord{message, _clock.now()});
	if (!relayView.online) return false;
	if (punchHook) punchHook(message);
	return true;
}


Chat::RelayView FakeHost::relay() const
{
	return relayView;
}


std::vector<Poco::Net::SocketAddress> FakeHost::ownCandidates() const
{
	return candidates;
}


bool FakeHost::mayDial(const Poco::Net::SocketAddress& address) const
{
	policyChecks.push_back(address);
	const bool allowed = policy(address);
	if (!allowed) ++stats.dialsDenied;
	return allowed;
}


void FakeHost::serviceMessage(Chat::Peer& peer, const Message& message)
{
	serviceMessages.push_back(message.name);
	if (pService) pService->onMessage(peer, message);
}


void FakeHost::serviceData(Chat::Peer& peer, std::uint8_t type, const std::string& body)
{
	serviceFrames.push_back(type);
	if (pService) pService->onData(peer, type, body);
}


void FakeHost::peerChanged(Chat::ChatNode::PeerChange change, Chat::Peer& peer)
{
	changes.emplace_back(change, peer.info());
	if (pService) pService->onPeerChanged(peer, change);
}


void FakeHost::messageReceived(Chat::Peer&, const Chat::ChatMessage& message)
{
	messages.push_back(message);
}


bool FakeHost::isDuplicate(Chat::Peer&, const std::string& messageId)
{
	return storedIds.count(messageId) != 0;
}


void FakeHost::delivered(const Chat::Peer&, const std::string& messageId)
{
	deliveredIds.push_back(messageId);
}


void FakeHost::refused(const Chat::Peer&, const std::string& messageId, const std::string& code, const std::string& reason)
{
	refusedIds.push_back(Refused{messageId, code, reason});
}


void FakeHost::written(const Chat::Peer&, const std::string& messageId)
{
	writtenIds.push_back(messageId);
}


void FakeHost::peerError(const Chat::Peer&, const std::string& text)
{
	errors.push_back(text);
}


void FakeHost::countStat(std::uint64_t Chat::ChatNodeStats::*counter, std::uint64_t amount)
{
	stats.*counter += amount;
}


} } // namespace CrossChat::Test
