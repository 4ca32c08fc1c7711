//
// ChatNode.cpp
//
// Library: Chat
//


#include "CrossChat/Chat/ChatNode.h"
#include "CrossChat/Chat/SessionProtocol.h"
#include "ChatSession.h"
#include "CrossChat/TcpConnection.h"
#include "CrossChat/TcpListener.h"
#include "CrossChat/TlsChannel.h"
#include "Poco/Exception.h"
#include "Poco/Logger.h"
#include "Poco/Random.h"
#include "Poco/String.h"
#include "Poco/URI.h"
#include "Poco/UUIDGenerator.h"
#include <algorithm>
#include <deque>
#include <map>
#include <set>
#include <unordered_set>


namespace CrossChat {
namespace Chat {


namespace {


Poco::Logger& logger()
{
	return Poco::Logger::get("CrossChat.Chat");
}


std::int64_t wallClockMs()
{
	return std::chrono::duration_cast<std::chrono::milliseconds>(
		std::chrono::system_clock::now().time_since_epoch()).count();
}


std::string displayName(const PeerInfo& info)
{
	return info.name.empty() ? info.id.shortString() : info.name + " (" + info.id.shortString() + ")";
}


} // namespace


class ChatNode::Impl: public ChatSession::Listener
{
public:
	static constexpr std::size_t SEEN_IDS_PER_PEER = 4096;   ///< Remembered for duplicate detection.
	static constexpr int MAX_PUNCH_ATTEMPTS = 3;              ///< Per upgrade round (as DCUtR).
	static constexpr std::chrono::milliseconds PUNCH_CONNECT_TIMEOUT{3000};  ///< SYNs are retried meanwhile.
	static constexpr std::chrono::milliseconds PUNCH_WINDOW{3000};          ///< Refused punch dials are repeated this long,
	static constexpr std::chrono::milliseconds PUNCH_RETRY_DELAY{5};        ///< this far apart (at most 600 dials).
	static constexpr std::size_t PREDICTION_SOCKETS = 64;    ///< Fresh mappings opened by the endpoint-dependent side.
	static constexpr std::size_t PREDICTION_PROBES = 256;    ///< Ports guessed by the other side.

	struct Outgoing
	{
		std::string id;
		std::int64_t timestampMs;
		std::string text;
		std::uint64_t sentOnSession = 0;   ///< Serial of the session it was last written to.
		std::chrono::steady_clock::time_point sentAt;   ///< When it was last written.
	};

	struct Peer
	{
		PeerInfo info;
		std::uint64_t order = 0;
		ChatSession::Ptr session;          ///< The established session in use.
		ChatSession::Ptr dialSession;      ///< Our connection attempt in progress.
		std::size_t nextAddress = 0;
		std::chrono::milliseconds backoff{0};
		TimerHandle retryTimer;
		bool unreachableReported = false;   ///< The user was told; quiet until a session works again.
		bool relayPending = false;          ///< A relay lookup or tunnel request is in flight.
		bool lookedUp = false;              ///< This round of attempts has asked the relay already.
		std::set<Poco::Net::SocketAddress> relayAddresses;   ///< Learned from the relay: shorter timeout.
		// Upgrading a relayed session to a direct one:
		ChatSession::Ptr upgradeSession;    ///< A direct attempt (known address or hole punch) in progress.
		std::size_t upgradeAddress = 0;     ///< Next known address to try in this upgrade round.
		int punchAttempt = 0;               ///< Hole punches tried in this upgrade round.
		bool punchPending = false;          ///< Waiting for the relay's punch coordination.
		bool upgradeLookedUp = false;       ///< This upgrade round has asked the relay for the peer's addresses.
		std::optional<Relay::PunchPlan> punchPlan;   ///< The punch being dialed, until punchDeadline.
		std::chrono::steady_clock::time_point punchDeadline;
		TimerHandle punchRetry;
		std::vector<ChatSession::Ptr> predictions;   ///< Port-prediction dials in flight (see predictDial()).
		std::string lastPath;               ///< Path of the last session in use, to report every change.
		std::chrono::milliseconds upgradeBackoff{0};
		TimerHandle upgradeTimer;
		std::deque<Outgoing> outbox;
		std::unordered_set<std::string> seen;
		std::deque<std::string> seenOrder;
	};

	Impl(EventLoop& loop, const Identity& identity, ChatNodeConfig config):
		_loop(loop),
		_identity(identity),
		_config(std::move(config))
	{
	}

	~Impl() override
	{
		stop();
	}

	void start()
	{
		_loop.assertInLoopThread();
		if (_listener) return;
		_listener = listen(_config.listenAddress);
		logger().information("chat sessions on port %hu", _listener->address().port());
		if (_config.enableLan)
		{
			_lan = std::make_unique<Discovery::LanDiscovery>(_loop, _identity, _config.lan);
			_lan->setLocalInfo(_config.name, _listener->address().port());
			_lan->setPeerHandler([this](Discovery::LanDiscovery::Change change, const Discovery::LanPeer& peer) {
				onLanPeer(change, peer);
			});
			_lan->start();
		}
		if (!_config.relayUrl.empty()) startRelay();
		if (_config.portMapping) startPortMapping();
		_watchdog = _loop.runEvery(std::chrono::seconds(1), [this] { checkReceipts(); });
		_random.seed();   // from the system's random source: guessed ports must not be predictable
	}

	void checkReceipts()
		/// Failover: a session whose oldest message has waited receiptTimeout for its receipt
		/// has lost its path (a NAT mapping or a route went away); drop it and dial again.
	{
		const auto now = std::chrono::steady_clock::now();
		std::vector<ChatSession::Ptr> broken;
		for (auto& entry: _peers)
		{
			Peer& peer = entry.second;
			if (!peer.session || !peer.session->established() || peer.outbox.empty()) continue;
			const Outgoing& oldest = peer.outbox.front();
			if (oldest.sentOnSession == peer.session->serial() && now - oldest.sentAt > _config.receiptTimeout)
				broken.push_back(peer.session);
		}
		for (auto& session: broken)
		{
			++_stats.receiptTimeouts;
			logger().warning("no receipt on the %s session with %s for %Ld ms: dropping it", session->path(),
				session->peerId().shortString(), static_cast<Poco::Int64>(_config.receiptTimeout.count()));
			session->abort("no receipt for " + std::to_string(_config.receiptTimeout.count()) + " ms");
		}
	}

	void startRelay()
	{
		Relay::RelayClientConfig config;
		config.url = Poco::URI(_config.relayUrl);
		config.name = _config.name;
		if (_config.relayAnnounceAddresses)
		{
			// The relay replaces the unspecified host by the address it sees us at.
			config.chatPort = _listener->address().port();
			config.addresses.emplace_back(Poco::Net::IPAddress(), config.chatPort);
		}
		config.directory = _config.relayDirectory;
		config.retryMin = _config.relayRetryMin;
		config.retryMax = _config.relayRetryMax;
		_relay = std::make_unique<Relay::RelayClient>(_loop, _identity, config);
		_relay->setStateHandler([this](Relay::RelayClient::State state, const std::string& detail) {
			onRelayState(state, detail);
		});
		// Without hole punching we neither start nor answer punches: peers never get us to dial them.
		if (_config.holePunching) _relay->setPunchHandler([this](const Relay::PunchPlan& plan) { punchDial(plan); });
		_relay->setInviteHandler([this](Relay::RelayTunnel tunnel) {
			++_stats.relayTunnels;
			logger().debug("relay tunnel from %s", tunnel.peer.shortString());
			openTunnelSession(tunnel, false, PeerId());
		});
		_relay->start();
	}

	void startPortMapping()
	{
		PortMapperConfig config;
		config.internalPort = _listener->address().port();
		_portMapper = std::make_unique<PortMapper>(_loop, config);
		_portMapper->setHandler([this](const PortMapping& mapping) {
			if (mapping.active)
				logger().information("chat port mapped on the gateway as %s (%s)", mapping.external.toString(), mapping.protocol);
			else
				logger().debug("no port mapping: %s", mapping.error);
			announceAddresses();
		});
		_portMapper->start();
	}

	void announceAddresses()
		/// What the relay tells peers about us: our chat port at the address it sees us at,
		/// and the gateway's mapped address when there is one.
	{
		if (!_relay || !_config.relayAnnounceAddresses) return;
		std::vector<Poco::Net::SocketAddress> addresses{Poco::Net::SocketAddress(Poco::Net::IPAddress(), _listener->address().port())};
		if (_portMapper && _portMapper->current().active) addresses.push_back(_portMapper->current().external);
		_relay->setAddresses(addresses);
	}

	void onRelayState(Relay::RelayClient::State state, const std::string& detail)
	{
		if (_onRelay) _onRelay(relayStateName(), detail);
		if (state != Relay::RelayClient::State::ONLINE) return;
		// Messages that waited for the relay go out now.
		for (auto& entry: _peers)
		{
			Peer& peer = entry.second;
			if (peer.outbox.empty() || peer.dialSession || peer.relayPending) continue;
			if (peer.session && peer.session->established()) continue;
			peer.backoff = std::chrono::milliseconds(0);
			peer.nextAddress = 0;
			peer.lookedUp = false;
			dial(entry.first);
		}
	}

	std::string relayStateName() const
	{
		if (!_relay) return "none";
		switch (_relay->state())
		{
		case Relay::RelayClient::State::ONLINE: return "online";
		case Relay::RelayClient::State::CONNECTING: return "connecting";
		default: return "offline";
		}
	}

	std::unique_ptr<TcpListener> listen(const Poco::Net::SocketAddress& address)
		/// The IPv4 wildcard means "every address": discovery announces IPv6 link-local
		/// addresses too, so listen dual-stack on [::] where the host has IPv6.
	{
		auto handler = [this](const Poco::Net::StreamSocket& socket) { onAccept(socket); };
		if (address.family() == Poco::Net::SocketAddress::IPv4 && address.host().isWildcard())
		{
			try
			{
				const Poco::Net::SocketAddress any6(Poco::Net::IPAddress::wildcard(Poco::Net::IPAddress::IPv6), address.port());
				return std::make_unique<TcpListener>(_loop, any6, handler);
			}
			catch (const Poco::Exception& exc)
			{
				logger().debug("no dual-stack listener (%s); IPv4 only", exc.displayText());
			}
		}
		return std::make_unique<TcpListener>(_loop, address, handler);
	}

	void stop()
	{
		_portMapper.reset();   // removes the mapping (bounded)
		if (_relay) _relay->stop();
		_relay.reset();
		if (_lan) _lan->stop();
		_lan.reset();
		_listener.reset();
		_watchdog.cancel();
		auto sessions = std::move(_sessions);
		_sessions.clear();
		for (auto& entry: sessions) entry.second->detach();
		for (auto& entry: _peers)
		{
			entry.second.retryTimer.cancel();
			entry.second.upgradeTimer.cancel();
			entry.second.punchRetry.cancel();
			entry.second.upgradeSession.reset();
			entry.second.predictions.clear();
			entry.second.session.reset();
			entry.second.dialSession.reset();
		}
	}

	Peer& peerFor(const PeerId& id)
	{
		auto it = _peers.find(id);
		if (it == _peers.end())
		{
			it = _peers.emplace(id, Peer()).first;
			it->second.info.id = id;
			it->second.order = _nextOrder++;
		}
		return it->second;
	}

	PeerInfo snapshot(const Peer& peer) const
	{
		PeerInfo info = peer.info;
		info.connected = peer.session && peer.session->established();
		info.path = info.connected ? peer.session->path() : std::string();
		info.pending = peer.outbox.size();
		return info;
	}

	void notifyPeer(PeerChange change, const Peer& peer)
	{
		if (_onPeer) _onPeer(change, snapshot(peer));
	}

	void reportError(const std::string& message)
	{
		logger().warning(message);
		if (_onError) _onError(message);
	}

	// Sessions ----------------------------------------------------------------

	ChatSession::Options sessionOptions(const std::string& path) const
	{
		ChatSession::Options options;
		options.localName = _config.name;
		options.keepaliveInterval = _config.keepaliveInterval;
		options.handshakeTimeout = _config.handshakeTimeout;
		options.path = path;
		return options;
	}

	std::size_t pendingSessions() const
	{
		return static_cast<std::size_t>(std::count_if(_sessions.begin(), _sessions.end(),
			[](const auto& entry) { return !entry.second->established(); }));
	}

	void onAccept(const Poco::Net::StreamSocket& socket)
	{
		if (pendingSessions() >= _config.maxPendingSessions)
		{
			++_stats.sessionsRefused;
			logger().warning("refusing a chat connection from %s: %z handshakes already pending",
				socket.peerAddress().toString(), pendingSessions());
			Poco::Net::StreamSocket(socket).close();
			return;
		}
		auto connection = TcpConnection::adopt(_loop, socket);
		openSession(TlsChannel::server(connection, _identity), false, "direct");
	}

	ChatSession::Ptr openTunnelSession(const Relay::RelayTunnel& tunnel, bool outgoing, const PeerId& expected)
		/// The same TLS session as over direct TCP, inside a relay tunnel.
	{
		TlsChannel::Ptr channel = outgoing
			? TlsChannel::client(tunnel.connection, _identity, expected)
			: TlsChannel::server(tunnel.connection, _identity);
		ChatSession::Ptr session = openSession(channel, outgoing, "relay");
		channel->receiveCiphertext(tunnel.leftover);
		return session;
	}

	ChatSession::Ptr openSession(const TlsChannel::Ptr& channel, bool outgoing, const std::string& path)
	{
		const std::uint64_t serial = _nextSerial++;
		ChatSession::Ptr session = ChatSession::create(channel, outgoing, serial, *this, sessionOptions(path));
		_sessions.emplace(serial, session);
		session->start();
		return session;
	}

	void dial(const PeerId& id)
		/// One step of a round of attempts: each known address directly, then (with a relay) a
		/// lookup whose new addresses are tried directly too, then a relay tunnel. A failed round
		/// is retried after a backoff while messages wait.
	{
		Peer& peer = peerFor(id);
		if (peer.dialSession || peer.relayPending || (peer.session && peer.session->established())) return;
		peer.retryTimer.cancel();
		if (peer.nextAddress < peer.info.addresses.size())
		{
			const Poco::Net::SocketAddress address = peer.info.addresses[peer.nextAddress];
			const auto timeout = peer.relayAddresses.count(address) ? _config.relayAddressTimeout : _config.connectTimeout;
			logger().debug("connecting to %s at %s", displayName(peer.info), address.toString());
			auto connection = TcpConnection::connect(_loop, address, timeout);
			peer.dialSession = openSession(TlsChannel::client(connection, _identity, id), true, "direct");
		}
		else if (_relay && !peer.lookedUp)
		{
			peer.lookedUp = true;
			peer.relayPending = true;
			++_stats.relayLookups;
			_relay->lookup(id, [this, id](const std::optional<Relay::RelayPeerRecord>& record, const std::string& error) {
				Peer& p = peerFor(id);
				p.relayPending = false;
				if (record) learnFromRelay(p, *record);
				else if (!error.empty()) logger().debug("relay lookup of %s failed: %s", id.shortString(), error);
				dial(id);
			});
		}
		else if (_relay)
		{
			peer.relayPending = true;
			_relay->openTunnel(id, [this, id](Relay::RelayTunnel tunnel, const std::string& error) {
				Peer& p = peerFor(id);
				p.relayPending = false;
				if (!tunnel.connection)
				{
					roundFailed(p, error);
					return;
				}
				if (p.session && p.session->established())
				{
					tunnel.connection->close();   // connected some other way meanwhile
					return;
				}
				++_stats.relayTunnels;
				p.dialSession = openTunnelSession(tunnel, true, id);
			});
		}
		else if (peer.info.addresses.empty())
		{
			if (!peer.unreachableReported)
			{
				peer.unreachableReported = true;
				reportError("no known address for " + displayName(peer.info) + " yet; the message waits until the peer is found");
			}
		}
		else
		{
			roundFailed(peer, "no address worked");
		}
	}

	void learnFromRelay(Peer& peer, const Relay::RelayPeerRecord& record)
		/// Adds the addresses a lookup returned; they are tried next in this round.
	{
		const bool isNew = peer.info.via.empty() || peer.info.via == "static";
		for (const auto& address: record.addresses)
		{
			if (address.host().isWildcard() || address.port() == 0) continue;
			if (std::find(peer.info.addresses.begin(), peer.info.addresses.end(), address) != peer.info.addresses.end()) continue;
			peer.info.addresses.push_back(address);
			peer.relayAddresses.insert(address);
		}
		if (peer.info.name.empty()) peer.info.name = record.name;
		if (isNew)
		{
			peer.info.via = "relay";
			notifyPeer(PeerChange::FOUND, peer);
		}
	}

	void roundFailed(Peer& peer, const std::string& why)
	{
		peer.nextAddress = 0;
		peer.lookedUp = false;
		scheduleRetry(peer);
		// Told once per outage: the node keeps retrying quietly while messages wait.
		if (!peer.outbox.empty() && !peer.unreachableReported)
		{
			peer.unreachableReported = true;
			reportError("cannot reach " + displayName(peer.info) + ": " + why + "; "
				+ std::to_string(peer.outbox.size()) + " message(s) wait, retrying in the background");
		}
		else
		{
			logger().information("cannot reach %s: %s; retrying in %Ld ms", displayName(peer.info), why,
				static_cast<Poco::Int64>(peer.backoff.count()));
		}
	}

	void scheduleRetry(Peer& peer)
	{
		if (peer.outbox.empty())
		{
			peer.backoff = std::chrono::milliseconds(0);
			return;
		}
		peer.backoff = peer.backoff.count() == 0 ? _config.reconnectMin : std::min(peer.backoff * 2, _config.reconnectMax);
		const PeerId id = peer.info.id;
		peer.retryTimer = _loop.runAfter(peer.backoff, [this, id] { dial(id); });
	}

	bool dialedBySmallerId(const ChatSession& session) const
	{
		const PeerId& dialer = session.outgoing() ? _identity.peerId() : session.peerId();
		const PeerId& other = session.outgoing() ? session.peerId() : _identity.peerId();
		return dialer < other;
	}

	void onSessionTlsReady(ChatSession& session) override
	{
		if (session.peerId() == _identity.peerId())
			session.close("connected to ourselves");
	}

	void onSessionEstablished(ChatSession& session) override
	{
		Peer& peer = peerFor(session.peerId());
		ChatSession::Ptr pSession = _sessions.at(session.serial());
		if (peer.dialSession == pSession)
		{
			peer.dialSession.reset();
			peer.backoff = std::chrono::milliseconds(0);
		}
		peer.unreachableReported = false;
		peer.nextAddress = 0;
		peer.lookedUp = false;
		if (!session.peerName().empty()) peer.info.name = session.peerName();
		if (peer.info.via.empty())
		{
			// First contact through a session (the peer dialed us): it is news, as a LAN find is.
			peer.info.via = session.outgoing() ? "static" : session.path() == "relay" ? "relay" : "incoming";
			notifyPeer(PeerChange::FOUND, peer);
		}
		++_stats.sessionsOpened;

		if (peer.upgradeSession == pSession)
		{
			peer.upgradeSession.reset();
			if (peer.punchPlan) ++_stats.punchSuccesses;
			peer.punchPlan.reset();
		}
		if (std::find(peer.predictions.begin(), peer.predictions.end(), pSession) != peer.predictions.end())
		{
			++_stats.predictionSuccesses;
			auto others = std::move(peer.predictions);
			peer.predictions.clear();
			for (auto& other: others)
				if (other != pSession) other->abort("another predicted port got through");
		}
		if (peer.session && peer.session != pSession && peer.session->established())
		{
			// Two sessions with one peer. A direct one beats a relayed one (both sides agree).
			// Otherwise both dialed at once (or a reconnect overtook a dying session): both
			// sides keep the session dialed by the smaller ID; between two sessions dialed by
			// the same side, the newer one wins, since the older one is presumably dead.
			const bool newDirect = session.path() == "direct";
			const bool oldDirect = peer.session->path() == "direct";
			const bool sameDialer = peer.session->outgoing() == session.outgoing();
			// A relayed session that the peer dialed while we still hold a direct one means the
			// peer lost the direct path (nobody dials while holding a session): ours is dead too.
			const bool keepNew = newDirect != oldDirect ? newDirect || !session.outgoing()
				: sameDialer || dialedBySmallerId(session);
			if (!keepNew)
			{
				++_stats.duplicateSessions;
				session.close(newDirect == oldDirect ? "duplicate session" : "a direct session exists");
				return;
			}
			ChatSession::Ptr old = peer.session;
			peer.session = pSession;
			if (newDirect != oldDirect)
			{
				if (newDirect) ++_stats.upgrades;
				logger().information("session with %s moves from %s to %s", displayName(peer.info), old->path(), session.path());
				old->close(newDirect ? "upgraded to a direct path" : "the peer lost the direct path");
				notifyPeer(PeerChange::PATH, peer);
			}
			else
			{
				++_stats.duplicateSessions;
				old->close("duplicate session");
			}
		}
		else
		{
			peer.session = pSession;
			notifyPeer(PeerChange::CONNECTED, peer);
			if (!peer.lastPath.empty() && peer.lastPath != session.path()) notifyPeer(PeerChange::PATH, peer);   // e.g. fell back to the relay
		}
		peer.lastPath = session.path();
		// Unacknowledged messages go again on the new session, in order, before any new one.
		flushOutbox(peer);
		if (session.path() == "relay")
		{
			peer.upgradeBackoff = std::chrono::milliseconds(0);
			scheduleUpgrade(peer);
		}
		else
		{
			peer.upgradeTimer.cancel();
			peer.punchAttempt = 0;
		}
	}

	// Upgrade: relay -> direct --------------------------------------------------

	bool relayed(const Peer& peer) const
	{
		return peer.session && peer.session->established() && peer.session->path() == "relay";
	}

	void scheduleUpgrade(Peer& peer)
	{
		if (!relayed(peer)) return;
		peer.upgradeBackoff = peer.upgradeBackoff.count() == 0 ? _config.upgradeMin
			: std::min(peer.upgradeBackoff * 2, _config.upgradeMax);
		peer.upgradeAddress = 0;
		peer.punchAttempt = 0;
		peer.upgradeLookedUp = false;
		const PeerId id = peer.info.id;
		peer.upgradeTimer = _loop.runAfter(peer.upgradeBackoff, [this, id] { tryUpgrade(id); });
	}

	void tryUpgrade(const PeerId& id)
		/// One step of an upgrade round: the next known address, then hole punches, then a pause.
	{
		Peer& peer = peerFor(id);
		if (!relayed(peer) || peer.upgradeSession || peer.punchPending || peer.punchPlan || !peer.predictions.empty()) return;
		if (_relay && !peer.upgradeLookedUp && peer.upgradeAddress >= peer.info.addresses.size())
		{
			// A peer that reached us through a tunnel may have addresses we never learned.
			peer.upgradeLookedUp = true;
			peer.punchPending = true;
			++_stats.relayLookups;
			_relay->lookup(id, [this, id](const std::optional<Relay::RelayPeerRecord>& record, const std::string&) {
				Peer& p = peerFor(id);
				p.punchPending = false;
				if (record) learnFromRelay(p, *record);
				tryUpgrade(id);
			});
			return;
		}
		if (peer.upgradeAddress < peer.info.addresses.size())
		{
			const Poco::Net::SocketAddress address = peer.info.addresses[peer.upgradeAddress++];
			logger().debug("upgrade: trying %s at %s directly", displayName(peer.info), address.toString());
			auto connection = TcpConnection::connect(_loop, address, _config.relayAddressTimeout);
			peer.upgradeSession = openSession(TlsChannel::client(connection, _identity, id), true, "direct");
			return;
		}
		// The smaller ID initiates hole punches; the other side answers them (punchDial).
		const bool canPunch = _config.holePunching && _relay && _relay->state() == Relay::RelayClient::State::ONLINE
			&& _relay->punchPort() != 0 && _identity.peerId() < id
			&& _relay->natInfo().mapping != Relay::NatInfo::Mapping::UNKNOWN;   // a relay without probing has no punch either
		if (canPunch && peer.punchAttempt < MAX_PUNCH_ATTEMPTS)
		{
			++peer.punchAttempt;
			++_stats.punchAttempts;
			peer.punchPending = true;
			_relay->startPunch(id, {}, [this, id](const std::optional<Relay::PunchPlan>& plan, const std::string& error) {
				Peer& p = peerFor(id);
				p.punchPending = false;
				if (plan && punchDial(*plan)) return;
				logger().debug("hole punch with %s not possible: %s", id.shortString(), plan ? "both NATs map per destination" : error);
				if (plan) p.punchAttempt = MAX_PUNCH_ATTEMPTS;   // nothing to gain from another attempt this round
				tryUpgrade(id);
			}, peer.punchAttempt);
			return;
		}
		scheduleUpgrade(peer);
	}

	bool punchDial(const Relay::PunchPlan& plan)
		/// TCP simultaneous open: both sides dial each other's reflexive address from the port
		/// their NAT already maps (the relay control channel's). The initiator is the TLS client.
		/// Against an endpoint-dependent NAT, bounded port prediction instead (predictDial()).
		/// Returns false if nothing was dialed.
	{
		if (!_relay || plan.remote.empty() || _relay->punchPort() == 0) return false;
		// Only for a peer we already talk to through the relay: a stranger cannot make us dial
		// an address of its choosing.
		const auto known = _peers.find(plan.peer);
		if (known == _peers.end() || !relayed(known->second)) return false;
		Peer& peer = known->second;
		if (peer.session && peer.session->established() && peer.session->path() == "direct") return false;
		if (!peer.predictions.empty()) return false;   // a prediction is under way already
		if (peer.upgradeSession && !peer.punchPlan)
		{
			// Our own direct try (a known address) must not make us miss the peer's punch, which
			// only works while both sides dial: drop the try, the punch goes first.
			ChatSession::Ptr attempt = std::move(peer.upgradeSession);
			peer.upgradeSession.reset();
			attempt->abort("a hole punch goes first");
		}
		else if (peer.upgradeSession && (peer.punchPlan->attempt != plan.attempt || peer.punchPlan->initiator != plan.initiator))
		{
			return false;   // another punch is being dialed
		}
		const bool weMapPerDestination = _relay->natInfo().mapping == Relay::NatInfo::Mapping::ENDPOINT_DEPENDENT;
		const bool theyMapPerDestination = plan.remoteNat == "edm";
		if (weMapPerDestination && theyMapPerDestination) return false;   // nothing to predict from
		if (weMapPerDestination || theyMapPerDestination)
		{
			predictDial(peer, plan, weMapPerDestination);
			return true;
		}
		if (!peer.punchPlan || peer.punchPlan->attempt != plan.attempt || peer.punchPlan->initiator != plan.initiator)
		{
			// A new punch: SYNs that the other NAT refuses or drops before its own SYN opened
			// the way are retried until the window closes.
			peer.punchPlan = plan;
			peer.punchDeadline = std::chrono::steady_clock::now() + PUNCH_WINDOW;
		}
		const Poco::Net::SocketAddress local(Poco::Net::IPAddress(), _relay->punchPort());
		logger().debug("hole punch %d with %s: dialing %s from port %hu", plan.attempt, plan.peer.shortString(),
			plan.remote.front().toString(), local.port());
		auto connection = TcpConnection::connectFrom(_loop, local, plan.remote.front(), PUNCH_CONNECT_TIMEOUT);
		TlsChannel::Ptr channel = plan.initiator
			? TlsChannel::client(connection, _identity, plan.peer)
			: TlsChannel::server(connection, _identity);
		peer.upgradeSession = openSession(channel, plan.initiator, "direct");
		return true;
	}

	void predictDial(Peer& peer, const Relay::PunchPlan& plan, bool weMapPerDestination)
		/// Bounded port prediction ("birthday" approach) when exactly one NAT maps per
		/// destination. That side opens PREDICTION_SOCKETS connections from fresh local ports
		/// to the other's reflexive address, each getting a new random external port; the other
		/// side dials PREDICTION_PROBES guessed ports of its public address from its punch port,
		/// each opening its own NAT for that port. A guessed port that matches one of the new
		/// mappings gives a simultaneous open. All dials time out within PUNCH_CONNECT_TIMEOUT;
		/// the first session to get through wins and the rest are dropped.
	{
		++_stats.predictionAttempts;
		const Poco::Net::SocketAddress target = plan.remote.front();
		std::vector<Poco::Net::SocketAddress> dials;
		if (weMapPerDestination)
		{
			dials.assign(PREDICTION_SOCKETS, target);
		}
		else
		{
			// Ports near the observed one first (sequential allocators), then random ones.
			std::set<std::uint16_t> ports;
			for (int delta = 1; delta <= 8; ++delta)
			{
				if (target.port() + delta <= 65535) ports.insert(static_cast<std::uint16_t>(target.port() + delta));
				if (target.port() - delta >= 1024) ports.insert(static_cast<std::uint16_t>(target.port() - delta));
			}
			while (ports.size() < PREDICTION_PROBES)
				ports.insert(static_cast<std::uint16_t>(1024 + _random.next(65536 - 1024)));
			for (std::uint16_t port: ports) dials.emplace_back(target.host(), port);
		}
		_stats.predictionDials += dials.size();
		logger().information("port prediction with %s: %z dials %s %s", plan.peer.shortString(), dials.size(),
			std::string(weMapPerDestination ? "from fresh ports to" : "to guessed ports of"), target.host().toString());
		const Poco::Net::SocketAddress punchLocal(Poco::Net::IPAddress(), _relay->punchPort());
		for (const auto& address: dials)
		{
			auto connection = weMapPerDestination
				? TcpConnection::connect(_loop, address, PUNCH_CONNECT_TIMEOUT)
				: TcpConnection::connectFrom(_loop, punchLocal, address, PUNCH_CONNECT_TIMEOUT);
			TlsChannel::Ptr channel = plan.initiator
				? TlsChannel::client(connection, _identity, plan.peer)
				: TlsChannel::server(connection, _identity);
			peer.predictions.push_back(openSession(channel, plan.initiator, "direct"));
		}
	}

	void flushOutbox(Peer& peer)
	{
		if (!peer.session || !peer.session->established()) return;
		for (Outgoing& message: peer.outbox)
		{
			if (message.sentOnSession == peer.session->serial()) continue;
			peer.session->sendText(message.id, message.timestampMs, message.text);
			message.sentOnSession = peer.session->serial();
			message.sentAt = std::chrono::steady_clock::now();
			++_stats.messagesSent;
		}
	}

	void onSessionMessage(ChatSession& session, const Message& message) override
	{
		Peer& peer = peerFor(session.peerId());
		const std::string id = message.body->getValue<std::string>("id");
		if (message.name == "text")
		{
			session.sendReceipt(id);
			if (!peer.seen.insert(id).second)
			{
				++_stats.duplicatesDropped;
				return;
			}
			peer.seenOrder.push_back(id);
			if (peer.seenOrder.size() > SEEN_IDS_PER_PEER)
			{
				peer.seen.erase(peer.seenOrder.front());
				peer.seenOrder.pop_front();
			}
			++_stats.messagesReceived;
			ChatMessage received;
			received.id = id;
			received.from = session.peerId();
			received.name = peer.info.name.empty() ? session.peerName() : peer.info.name;
			received.text = message.body->getValue<std::string>("text");
			received.timestampMs = message.body->getValue<Poco::Int64>("ts");
			received.path = session.path();
			if (_onMessage) _onMessage(received);
		}
		else if (message.name == "receipt")
		{
			auto it = std::find_if(peer.outbox.begin(), peer.outbox.end(),
				[&id](const Outgoing& o) { return o.id == id; });
			if (it == peer.outbox.end()) return;   // a receipt for a retransmission
			peer.outbox.erase(it);
			if (_onDelivered) _onDelivered(id, session.peerId());
		}
	}

	void onSessionClosed(ChatSession& session, const std::string& reason) override
	{
		auto it = _sessions.find(session.serial());
		if (it == _sessions.end()) return;
		ChatSession::Ptr pSession = it->second;
		_sessions.erase(it);

		Peer* pPeer = nullptr;
		for (auto& entry: _peers)
		{
			Peer& candidate = entry.second;
			if (candidate.dialSession == pSession || candidate.session == pSession || candidate.upgradeSession == pSession
				|| std::find(candidate.predictions.begin(), candidate.predictions.end(), pSession) != candidate.predictions.end())
			{
				pPeer = &candidate;
				break;
			}
		}
		if (!pPeer) return;
		Peer& peer = *pPeer;
		auto prediction = std::find(peer.predictions.begin(), peer.predictions.end(), pSession);
		if (prediction != peer.predictions.end())
		{
			peer.predictions.erase(prediction);
			if (peer.predictions.empty() && !(peer.session && peer.session->path() == "direct"))
			{
				const PeerId id = peer.info.id;
				_loop.post([this, id] { tryUpgrade(id); });
			}
			return;
		}
		if (peer.upgradeSession == pSession)
		{
			peer.upgradeSession.reset();
			const PeerId id = peer.info.id;
			if (peer.punchPlan && !session.tlsReady() && std::chrono::steady_clock::now() < peer.punchDeadline)
			{
				const Relay::PunchPlan plan = *peer.punchPlan;
				peer.punchRetry = _loop.runAfter(PUNCH_RETRY_DELAY, [this, plan] { punchDial(plan); });
				return;
			}
			peer.punchPlan.reset();
			logger().debug("upgrade attempt with %s failed: %s", displayName(peer.info), reason);
			_loop.post([this, id] { tryUpgrade(id); });
			return;
		}
		if (peer.dialSession == pSession)
		{
			peer.dialSession.reset();
			++_stats.connectFailures;
			const std::string why = reason.empty() ? "closed during the handshake" : reason;
			logger().debug("connection to %s (%s) failed: %s", displayName(peer.info), session.path(), why);
			if (session.path() == "relay")
			{
				roundFailed(peer, "relay tunnel: " + why);
				return;
			}
			++peer.nextAddress;
			if (peer.nextAddress < peer.info.addresses.size() || _relay)
			{
				const PeerId id = peer.info.id;
				_loop.post([this, id] { dial(id); });
				return;
			}
			roundFailed(peer, why);
		}
		if (peer.session == pSession)
		{
			peer.session.reset();
			logger().information("session with %s closed%s", displayName(peer.info), reason.empty() ? std::string() : ": " + reason);
			notifyPeer(PeerChange::DISCONNECTED, peer);
			if (!peer.outbox.empty()) dial(peer.info.id);
		}
	}

	// Discovery ---------------------------------------------------------------

	void onLanPeer(Discovery::LanDiscovery::Change change, const Discovery::LanPeer& lanPeer)
	{
		Peer& peer = peerFor(lanPeer.id);
		if (change == Discovery::LanDiscovery::Change::LOST)
		{
			peer.info.online = false;
			notifyPeer(PeerChange::LOST, peer);
			return;
		}
		const bool wasOnline = peer.info.online;
		peer.info.name = lanPeer.name;
		peer.info.addresses = lanPeer.addresses;
		peer.info.via = "lan";
		peer.info.online = true;
		peer.nextAddress = 0;
		notifyPeer(wasOnline ? PeerChange::UPDATED : PeerChange::FOUND, peer);
		if (!peer.outbox.empty() && !peer.dialSession && !(peer.session && peer.session->established()))
		{
			peer.backoff = std::chrono::milliseconds(0);
			dial(peer.info.id);
		}
	}

	// API ---------------------------------------------------------------------

	std::string send(const PeerId& to, const std::string& text)
	{
		if (text.size() > SessionProtocol::MAX_TEXT_SIZE)
		{
			throw Poco::InvalidArgumentException("message of " + std::to_string(text.size())
				+ " bytes exceeds the limit of " + std::to_string(SessionProtocol::MAX_TEXT_SIZE));
		}
		if (to == _identity.peerId()) throw Poco::InvalidArgumentException("cannot send a message to yourself");
		Peer& peer = peerFor(to);
		Outgoing message{Poco::UUIDGenerator::defaultGenerator().createRandom().toString(), wallClockMs(), text, 0, {}};
		peer.outbox.push_back(message);
		if (peer.session && peer.session->established())
		{
			flushOutbox(peer);
		}
		else if (!peer.dialSession)
		{
			peer.backoff = std::chrono::milliseconds(0);
			dial(to);
		}
		return message.id;
	}

	void addPeerAddress(const PeerId& id, const Poco::Net::SocketAddress& address, const std::string& via)
	{
		Peer& peer = peerFor(id);
		if (std::find(peer.info.addresses.begin(), peer.info.addresses.end(), address) == peer.info.addresses.end())
			peer.info.addresses.push_back(address);
		if (peer.info.via.empty() || peer.info.via == "incoming") peer.info.via = via;
		if (!peer.outbox.empty() && !peer.dialSession && !(peer.session && peer.session->established()))
			dial(id);
	}

	std::vector<PeerInfo> peers() const
	{
		std::vector<const Peer*> ordered;
		for (const auto& entry: _peers) ordered.push_back(&entry.second);
		std::sort(ordered.begin(), ordered.end(), [](const Peer* a, const Peer* b) { return a->order < b->order; });
		std::vector<PeerInfo> result;
		for (const Peer* pPeer: ordered) result.push_back(snapshot(*pPeer));
		return result;
	}

	std::vector<PeerId> resolve(const std::string& query) const
	{
		if (auto id = PeerId::tryParse(query)) return {*id};
		std::vector<PeerId> byName;
		std::vector<PeerId> byPrefix;
		for (const auto& entry: _peers)
		{
			if (!entry.second.info.name.empty() && Poco::icompare(entry.second.info.name, query) == 0)
				byName.push_back(entry.first);
			else if (PeerId::isPrefixOf(query, entry.first))
				byPrefix.push_back(entry.first);
		}
		return byName.empty() ? byPrefix : byName;
	}

	EventLoop& _loop;
	const Identity& _identity;
	ChatNodeConfig _config;
	std::unique_ptr<TcpListener> _listener;
	std::unique_ptr<Discovery::LanDiscovery> _lan;
	std::unique_ptr<Relay::RelayClient> _relay;
	std::unique_ptr<PortMapper> _portMapper;
	std::map<PeerId, Peer> _peers;
	std::uint64_t _nextOrder = 0;
	std::map<std::uint64_t, ChatSession::Ptr> _sessions;   ///< Every live session, by serial.
	std::uint64_t _nextSerial = 1;
	TimerHandle _watchdog;
	Poco::Random _random;
	ChatNodeStats _stats;
	PeerHandler _onPeer;
	MessageHandler _onMessage;
	DeliveredHandler _onDelivered;
	ErrorHandler _onError;
	RelayHandler _onRelay;
};


ChatNode::ChatNode(EventLoop& loop, const Identity& identity, ChatNodeConfig config):
	_pImpl(std::make_unique<Impl>(loop, identity, std::move(config)))
{
	loop.assertInLoopThread();
}


ChatNode::~ChatNode() = default;


void ChatNode::setPeerHandler(PeerHandler handler)
{
	_pImpl->_loop.assertInLoopThread();
	_pImpl->_onPeer = std::move(handler);
}


void ChatNode::setMessageHandler(MessageHandler handler)
{
	_pImpl->_loop.assertInLoopThread();
	_pImpl->_onMessage = std::move(handler);
}


void ChatNode::setDeliveredHandler(DeliveredHandler handler)
{
	_pImpl->_loop.assertInLoopThread();
	_pImpl->_onDelivered = std::move(handler);
}


void ChatNode::setErrorHandler(ErrorHandler handler)
{
	_pImpl->_loop.assertInLoopThread();
	_pImpl->_onError = std::move(handler);
}


void ChatNode::setRelayHandler(RelayHandler handler)
{
	_pImpl->_loop.assertInLoopThread();
	_pImpl->_onRelay = std::move(handler);
}


std::string ChatNode::relayState() const
{
	_pImpl->_loop.assertInLoopThread();
	return _pImpl->relayStateName();
}


PortMapping ChatNode::portMapping() const
{
	_pImpl->_loop.assertInLoopThread();
	if (!_pImpl->_portMapper)
	{
		PortMapping none;
		none.error = _pImpl->_config.portMapping ? "not started" : "port mapping is off";
		return none;
	}
	return _pImpl->_portMapper->current();
}


Relay::NatInfo ChatNode::natInfo() const
{
	_pImpl->_loop.assertInLoopThread();
	return _pImpl->_relay ? _pImpl->_relay->natInfo() : Relay::NatInfo();
}


std::optional<Poco::Net::SocketAddress> ChatNode::reflexiveAddress() const
{
	_pImpl->_loop.assertInLoopThread();
	if (!_pImpl->_relay) return std::nullopt;
	return _pImpl->_relay->reflexiveAddress();
}


void ChatNode::start()
{
	_pImpl->start();
}


void ChatNode::stop()
{
	_pImpl->_loop.assertInLoopThread();
	_pImpl->stop();
}


std::string ChatNode::send(const PeerId& to, const std::string& text)
{
	_pImpl->_loop.assertInLoopThread();
	return _pImpl->send(to, text);
}


void ChatNode::addPeerAddress(const PeerId& peer, const Poco::Net::SocketAddress& address, const std::string& via)
{
	_pImpl->_loop.assertInLoopThread();
	_pImpl->addPeerAddress(peer, address, via);
}


std::vector<PeerInfo> ChatNode::peers() const
{
	_pImpl->_loop.assertInLoopThread();
	return _pImpl->peers();
}


std::optional<PeerInfo> ChatNode::peer(const PeerId& id) const
{
	_pImpl->_loop.assertInLoopThread();
	auto it = _pImpl->_peers.find(id);
	if (it == _pImpl->_peers.end()) return std::nullopt;
	return _pImpl->snapshot(it->second);
}


std::vector<PeerId> ChatNode::resolve(const std::string& query) const
{
	_pImpl->_loop.assertInLoopThread();
	return _pImpl->resolve(query);
}


const PeerId& ChatNode::id() const
{
	return _pImpl->_identity.peerId();
}


const std::string& ChatNode::name() const
{
	return _pImpl->_config.name;
}


std::uint16_t ChatNode::port() const
{
	_pImpl->_loop.assertInLoopThread();
	return _pImpl->_listener ? _pImpl->_listener->address().port() : 0;
}


std::uint16_t ChatNode::lanPort() const
{
	_pImpl->_loop.assertInLoopThread();
	return _pImpl->_lan ? _pImpl->_lan->port() : 0;
}


const ChatNodeStats& ChatNode::stats() const
{
	return _pImpl->_stats;
}


std::size_t ChatNode::sessionCount() const
{
	_pImpl->_loop.assertInLoopThread();
	return _pImpl->_sessions.size();
}


} } // namespace CrossChat::Chat
