//
// ChatNode.cpp
//
// Library: Chat
//


#include "CrossChat/Chat/ChatNode.h"
#include "CrossChat/Chat/SessionProtocol.h"
#include "AddressPolicy.h"
#include "ChatSession.h"
#include "GroupService.h"
#include "MailDrop.h"
#include "Peer.h"
#include "RelayBook.h"
#include "PeerHost.h"
#include "PeerService.h"
#include "TransferService.h"
#include "CrossChat/Relay/RelayProtocol.h"
#include "CrossChat/TcpConnection.h"
#include "CrossChat/TcpListener.h"
#include "CrossChat/Text.h"
#include "CrossChat/TlsChannel.h"
#include "Poco/Exception.h"
#include "Poco/Logger.h"
#include "Poco/Path.h"
#include "Poco/String.h"
#include "Poco/URI.h"
#include "Poco/UUIDGenerator.h"
#include <algorithm>
#include <map>
#include <set>


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


std::string sourceKey(const Poco::Net::SocketAddress& address)
{
	return AddressPolicy::sourceKey(address.host());
}


} // namespace


const char* relationName(Relation relation)
{
	switch (relation)
	{
	case Relation::CONTACT: return "contact";
	case Relation::BLOCKED: return "blocked";
	default: return "stranger";
	}
}


class ChatNode::Impl: public PeerHost, public Session::Listener, public GroupHost, private TransferService::Node
{
public:
	struct SessionEntry
	{
		std::weak_ptr<Session> session;
		std::string source;        ///< sourceKey() of the remote address ("" for tunnels).
		PeerId tunnelPeer;         ///< For tunnels: who the relay says it is (checked by TLS).
		bool incoming = false;
	};

	struct PeerEntry
	{
		Peer::Ptr peer;
		std::uint64_t order = 0;
	};

	Impl(EventLoop& loop, const Identity& identity, ChatNodeConfig config):
		_loop(loop),
		_identity(identity),
		_config(std::move(config)),
		_transfers(std::make_unique<TransferService>(static_cast<TransferService::Node&>(*this), _config.transfers)),
		_groups(*this)
	{
		_caps.push_back(SessionProtocol::CAP_NICK);
		if (!_config.databasePath.empty())
			_transfers->setDownloadFallback(Poco::Path(_config.databasePath).absolute().parent().append("downloads").toString());
		addService(_groups);
		addService(*_transfers);
	}

	~Impl() override
	{
		stop();
	}

	// Lifecycle -----------------------------------------------------------------------------

	void start()
	{
		_loop.assertInLoopThread();
		if (_listener) return;
		if (!_config.databasePath.empty() && !_store)
		{
			auto store = std::make_unique<ChatStore>(_loop);
			store->open(_config.databasePath);
			_store = std::move(store);
			_groupStore = std::make_unique<GroupStore>(*_store);
			restore();
		}
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
		for (PeerService* pService: _serviceList) pService->start();
	}

	void stop()
	{
		for (PeerService* pService: _serviceList) pService->stop();
		_portMapper.reset();   // removes the mapping (bounded)
		_mailDrop.reset();
		_foreignRelays.clear();
		if (_relay) _relay->stop();
		_relay.reset();
		if (_lan) _lan->stop();
		_lan.reset();
		_listener.reset();
		for (auto& entry: _peers) entry.second.peer->shutdown();
		// What is left ends now: handshakes not handed to a peer yet, and sessions the node
		// closed itself (a blocked peer, ourselves) whose close still lingers for the peer's FIN.
		// (A channel whose session is gone lingers on its own and goes with the loop at the
		// latest: TcpConnection::registerWithLoop().)
		for (auto& entry: _sessions)
		{
			if (auto session = entry.second.session.lock()) session->detach();
		}
		_pending.clear();
		_sessions.clear();
		_groupStore.reset();
		if (_store) _store->close();
		_store.reset();
	}

	void restore()
		/// Contacts and the outbox as the last run left them.
	{
		for (const Contact& contact: _store->contacts())
		{
			Peer::Ptr peer = std::make_shared<Peer>(*this, contact.peer);
			_peers.emplace(contact.peer, PeerEntry{peer, _nextOrder++});
			peer->restoreContact(contact.relation, contact.alias, contact.name, contact.lastSeenMs);
			for (const std::string& text: contact.addresses)
			{
				try
				{
					// The peer's word, as far as we can tell now: the address policy decides.
					peer->addAddress(Poco::Net::SocketAddress(text), AddressSource::RELAY_ANNOUNCED);
				}
				catch (const Poco::Exception&)
				{
					// not an address (the store keeps what was given); skipped
				}
			}
		}
		std::map<PeerId, std::vector<Outbox::Entry>> waiting;
		for (const StoredMessage& message: _store->pending())
			waiting[message.peer].push_back(Outbox::Entry{message.id, message.timestampMs, message.text, 0, {}});
		for (auto& entry: waiting)
		{
			Peer::Ptr peer = contactFor(entry.first);
			logger().information("%z message(s) for %s waited since the last run", entry.second.size(), peer->displayName());
			peer->restore(std::move(entry.second));
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

	void startRelay()
	{
		Relay::RelayClientConfig config;
		config.url = Poco::URI(_config.relayUrl);
		config.caFile = _config.relayCaFile;
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
		config.accessToken = _config.relayToken;
		_relay = std::make_unique<Relay::RelayClient>(_loop, _identity, config);
		if (_config.relayMailbox) startMailDrop();
		_relay->setStateHandler([this](Relay::RelayClient::State state, const std::string& detail) {
			onRelayState(state, detail);
		});
		_relay->setPunchHandler([this](const Relay::PunchMessage& message) {
			// Only a peer we know can be a contact; a punch never creates one.
			auto it = _peers.find(message.peer);
			if (it == _peers.end())
			{
				++_stats.punchesIgnored;
				return;
			}
			Peer::Ptr peer = it->second.peer;
			peer->punchReceived(message);
		});
		_relay->setPunchErrorHandler([this](const PeerId& id, const std::string& error) {
			auto it = _peers.find(id);
			if (it != _peers.end()) it->second.peer->punchFailed(error);
		});
		_relay->setInviteFilter([this](const PeerId& from) { return acceptInvite(from); });
		_relay->setInviteHandler([this](Relay::RelayTunnel tunnel) { onInvite(std::move(tunnel)); });
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
		/// What the relay publishes about us, if we publish at all: our chat port at the
		/// address it sees us at, and the gateway's mapped address when there is one.
	{
		if (!_relay || !_config.relayAnnounceAddresses) return;
		std::vector<Poco::Net::SocketAddress> addresses{Poco::Net::SocketAddress(Poco::Net::IPAddress(), _listener->address().port())};
		if (_portMapper && _portMapper->current().active) addresses.push_back(_portMapper->current().external);
		_relay->setAddresses(addresses);
	}

	void onRelayState(Relay::RelayClient::State state, const std::string& detail)
	{
		if (_onRelay) _onRelay(relayStateName(), detail);
		const bool online = state == Relay::RelayClient::State::ONLINE;
		for (const Peer::Ptr& peer: snapshotPeers()) peer->relayChanged(online);
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

	std::vector<Peer::Ptr> snapshotPeers() const
		/// The peers now, safe to iterate while handlers change the table.
	{
		std::vector<Peer::Ptr> peers;
		for (const auto& entry: _peers) peers.push_back(entry.second.peer);
		return peers;
	}

	// Peers ---------------------------------------------------------------------------------

	Peer* findPeer(const PeerId& id) const
	{
		auto it = _peers.find(id);
		return it == _peers.end() ? nullptr : it->second.peer.get();
	}

	Peer::Ptr peerFor(const PeerId& id)
		/// The peer, created if new; a new stranger may evict the least recently active idle
		/// stranger (maxStrangers). Null if no room can be made.
	{
		auto it = _peers.find(id);
		if (it != _peers.end()) return it->second.peer;
		if (strangerCount() >= _config.maxStrangers && !evictStranger()) return nullptr;
		Peer::Ptr peer = std::make_shared<Peer>(*this, id);
		_peers.emplace(id, PeerEntry{peer, _nextOrder++});
		return peer;
	}

	std::size_t strangerCount() const
	{
		return static_cast<std::size_t>(std::count_if(_peers.begin(), _peers.end(), [](const auto& entry) {
			return entry.second.peer->relation() == Relation::STRANGER && !entry.second.peer->groupPeer();
		}));
	}

	bool evictStranger()
	{
		auto victim = _peers.end();
		for (auto it = _peers.begin(); it != _peers.end(); ++it)
		{
			const Peer& peer = *it->second.peer;
			if (peer.relation() != Relation::STRANGER || peer.groupPeer() || !peer.idle()) continue;
			if (victim == _peers.end() || peer.lastActivity() < victim->second.peer->lastActivity()) victim = it;
		}
		if (victim == _peers.end())
		{
			if (_refusalLog.allow(_loop.now()))
				logger().warning("%z strangers with live sessions: refusing another (%Lu similar suppressed)", strangerCount(),
					static_cast<Poco::UInt64>(_refusalLog.takeSuppressed()));
			return false;
		}
		Peer::Ptr peer = victim->second.peer;
		_peers.erase(victim);
		peer->shutdown();
		++_stats.strangersEvicted;
		return true;
	}

	// Sessions ------------------------------------------------------------------------------

	ChatSession::Options sessionOptions(Path path) const
	{
		ChatSession::Options options;
		options.localName = _config.name;
		options.keepaliveInterval = _config.keepaliveInterval;
		options.handshakeTimeout = _config.handshakeTimeout;
		options.path = path;
		options.caps = _caps;
		return options;
	}

	ChatSession::Ptr openSession(const TlsChannel::Ptr& channel, bool outgoing, Path path, Session::Listener& listener,
		const std::string& source, bool incoming)
	{
		const std::uint64_t serial = _nextSerial++;
		ChatSession::Ptr session = ChatSession::create(channel, outgoing, serial, &listener, sessionOptions(path));
		_sessions[serial] = SessionEntry{session, source, PeerId(), incoming};
		session->start();
		return session;
	}

	void pruneSessions()
	{
		for (auto it = _sessions.begin(); it != _sessions.end();)
		{
			auto session = it->second.session.lock();
			it = (!session || session->closed()) ? _sessions.erase(it) : std::next(it);
		}
	}

	struct Counts
	{
		std::size_t incoming = 0;        ///< Incoming sessions, established or not.
		std::size_t pending = 0;         ///< Incoming sessions not established yet.
		std::size_t fromSource = 0;
		std::size_t pendingFromSource = 0;
	};

	Counts count(const std::string& source)
	{
		pruneSessions();
		Counts counts;
		for (const auto& entry: _sessions)
		{
			if (!entry.second.incoming) continue;
			auto session = entry.second.session.lock();
			const bool pending = !session->established();
			++counts.incoming;
			if (pending) ++counts.pending;
			if (!source.empty() && entry.second.source == source)
			{
				++counts.fromSource;
				if (pending) ++counts.pendingFromSource;
			}
		}
		return counts;
	}

	bool admit(const std::string& source, const std::string& what)
		/// The caps on incoming sessions, checked before any work is done for one.
	{
		const Counts counts = count(source);
		std::string refusal;
		if (counts.incoming >= _config.maxSessions)
			refusal = std::to_string(counts.incoming) + " sessions already";
		else if (counts.pending >= _config.maxPendingSessions)
			refusal = std::to_string(counts.pending) + " handshakes already pending";
		else if (!source.empty() && counts.pendingFromSource >= _config.maxPendingPerAddress)
			refusal = std::to_string(counts.pendingFromSource) + " handshakes pending from " + source;
		else if (!source.empty() && counts.fromSource >= _config.maxSessionsPerAddress)
			refusal = std::to_string(counts.fromSource) + " sessions from " + source;
		if (refusal.empty()) return true;
		if (!source.empty() && counts.fromSource >= _config.maxSessionsPerAddress) ++_stats.sessionsRefusedPerAddress;
		else if (!source.empty() && counts.pendingFromSource >= _config.maxPendingPerAddress) ++_stats.sessionsRefusedPerAddress;
		++_stats.sessionsRefused;
		if (_refusalLog.allow(_loop.now()))
			logger().warning("refusing %s: %s (%Lu similar suppressed)", what, refusal, static_cast<Poco::UInt64>(_refusalLog.takeSuppressed()));
		return false;
	}

	void onAccept(const Poco::Net::StreamSocket& socket)
	{
		Poco::Net::SocketAddress remote;
		try
		{
			remote = socket.peerAddress();
		}
		catch (const Poco::Exception&)
		{
			Poco::Net::StreamSocket(socket).close();
			return;
		}
		const std::string source = sourceKey(remote);
		if (!admit(source, "a chat connection from " + remote.toString()))
		{
			Poco::Net::StreamSocket(socket).close();
			return;
		}
		auto connection = TcpConnection::adopt(_loop, socket);
		ChatSession::Ptr session = openSession(TlsChannel::server(connection, _identity), false, Path::DIRECT, *this, source, true);
		_pending[session->serial()] = session;
	}

	bool acceptInvite(const PeerId& from)
		/// Whether to join a relay tunnel a peer opened to us at all.
	{
		if (from == _identity.peerId()) return false;
		const Peer* pPeer = findPeer(from);
		if (pPeer && pPeer->relation() == Relation::BLOCKED) return false;
		std::size_t fromPeer = 0;
		pruneSessions();
		for (const auto& entry: _sessions)
			if (entry.second.tunnelPeer == from) ++fromPeer;
		if (pPeer) fromPeer += pPeer->sessionCount();
		if (fromPeer >= MAX_SESSIONS_PER_PEER)
		{
			++_stats.sessionsRefused;
			return false;
		}
		// A contact's tunnel is not held to the global caps: strangers' tunnels (keys are free,
		// and every tunnel comes from the relay's address) could fill them and lock the user's
		// contacts out. The relay names the caller; TLS checks it (onSessionTlsReady()).
		if (pPeer && pPeer->relation() == Relation::CONTACT) return true;
		return admit("", "a relay tunnel from " + from.shortString());
	}

	void onInvite(Relay::RelayTunnel tunnel)
	{
		++_stats.relayTunnels;
		logger().debug("relay tunnel from %s", tunnel.peer.shortString());
		TlsChannel::Ptr channel = TlsChannel::server(tunnel.connection, _identity);
		ChatSession::Ptr session = openSession(channel, false, Path::RELAY, *this, "", true);
		_sessions[session->serial()].tunnelPeer = tunnel.peer;
		_pending[session->serial()] = session;
		channel->receiveCiphertext(tunnel.leftover);
	}

	// Session::Listener for incoming sessions until their peer is known ---------------------

	void onSessionTlsReady(Session& session) override
	{
		auto it = _pending.find(session.serial());
		if (it == _pending.end()) return;
		Session::Ptr pSession = it->second;
		_pending.erase(it);
		const PeerId& id = session.peerId();
		if (id == _identity.peerId())
		{
			session.close("connected to ourselves");
			return;
		}
		const auto entry = _sessions.find(session.serial());
		if (entry != _sessions.end() && !entry->second.tunnelPeer.isNull() && entry->second.tunnelPeer != id)
		{
			logger().warning("a relay tunnel announced as %s presented the key of %s: closing it",
				entry->second.tunnelPeer.shortString(), id.shortString());
			session.abort("the relay named another peer");
			return;
		}
		const Peer* pKnown = findPeer(id);
		if (pKnown && pKnown->relation() == Relation::BLOCKED)
		{
			++_stats.sessionsRefused;
			session.close("blocked");
			return;
		}
		Peer::Ptr peer = peerFor(id);
		if (!peer)
		{
			session.abort("too many strangers");
			return;
		}
		peer->adopt(pSession);
	}

	void onSessionEstablished(Session&) override
	{
	}

	void onSessionMessage(Session&, const Message&) override
	{
	}

	void onSessionRefusedInput(Session&, const std::string&, const std::string&) override
	{
	}

	void onSessionClosed(Session& session, const std::string&) override
	{
		_pending.erase(session.serial());
	}

	// PeerHost ------------------------------------------------------------------------------

	Scheduler& scheduler() override
	{
		return _loop;
	}

	const PeerId& selfId() const override
	{
		return _identity.peerId();
	}

	const ChatNodeConfig& config() const override
	{
		return _config;
	}

	Session::Ptr connect(const PeerId& peer, const Dial& dial, Session::Listener& listener) override
	{
		TcpConnection::Ptr connection = dial.localPort == 0
			? TcpConnection::connect(_loop, dial.address, dial.timeout)
			: TcpConnection::connectFrom(_loop, Poco::Net::SocketAddress(Poco::Net::IPAddress(dial.address.family()), dial.localPort),
				dial.address, dial.timeout);
		TlsChannel::Ptr channel = dial.tlsClient ? TlsChannel::client(connection, _identity, peer) : TlsChannel::server(connection, _identity);
		return openSession(channel, dial.tlsClient, Path::DIRECT, listener, sourceKey(dial.address), false);
	}

	void openTunnel(const PeerId& peer, Session::Listener& listener, TunnelHandler handler) override
	{
		if (!_relay)
		{
			_loop.post([handler] { handler(nullptr, "no relay"); });
			return;
		}
		Session::Listener* pListener = &listener;
		std::weak_ptr<bool> alive = _alive;
		_relay->openTunnel(peer, [this, alive, peer, pListener, handler](Relay::RelayTunnel tunnel, const std::string& error) {
			if (alive.expired()) return;
			if (!tunnel.connection)
			{
				handler(nullptr, error);
				return;
			}
			TlsChannel::Ptr channel = TlsChannel::client(tunnel.connection, _identity, peer);
			ChatSession::Ptr session = openSession(channel, true, Path::RELAY, *pListener, "", false);
			channel->receiveCiphertext(tunnel.leftover);
			handler(session, std::string());
		});
	}

	void lookup(const PeerId& peer, LookupHandler handler) override
	{
		if (!_relay)
		{
			_loop.post([handler] { handler(std::nullopt, "no relay"); });
			return;
		}
		_relay->lookup(peer, handler);
	}

	bool sendPunch(const Relay::PunchMessage& message) override
	{
		return _relay && _relay->sendPunch(message);
	}

	RelayView relay() const override
	{
		RelayView view;
		if (!_relay) return view;
		view.configured = true;
		view.online = _relay->state() == Relay::RelayClient::State::ONLINE;
		view.punchPort = _relay->punchPort();
		const Relay::NatInfo nat = _relay->natInfo();
		view.nat = nat.mapping;
		view.reflexive = nat.reflexive;
		return view;
	}

	std::vector<Poco::Net::SocketAddress> ownCandidates() const override
	{
		std::vector<Poco::Net::SocketAddress> candidates;
		if (_relay && _listener)
		{
			const Relay::NatInfo nat = _relay->natInfo();
			if (nat.mapping == Relay::NatType::NONE && nat.reflexive)
				candidates.emplace_back(nat.reflexive->host(), _listener->address().port());
		}
		if (_portMapper && _portMapper->current().active) candidates.push_back(_portMapper->current().external);
		return candidates;
	}

	bool mayDial(const Poco::Net::SocketAddress& address) const override
	{
		return _policy.mayDial(address, _loop.now());
	}

	void rename(const std::string& name)
	{
		if (name == _config.name) return;
		if (_lan && _listener) _lan->setLocalInfo(name, _listener->address().port());   // checks the name first
		_config.name = name;   // the hello of every session from now on
		if (_relay) _relay->setName(name);
		for (auto& entry: _peers) entry.second.peer->announceName(name);
	}

	void serviceMessage(Peer& peer, const Message& message) override
	{
		auto it = _services.find(message.name);
		if (it != _services.end()) it->second->onMessage(peer, message);
	}

	void serviceData(Peer& peer, std::uint8_t type, const std::string& body) override
	{
		auto it = _dataServices.find(type);
		if (it != _dataServices.end()) it->second->onData(peer, type, body);
	}

	void addService(PeerService& service)
	{
		for (const std::string& name: service.messages()) _services[name] = &service;
		for (std::uint8_t type: service.dataTypes()) _dataServices[type] = &service;
		for (const std::string& cap: service.caps()) _caps.push_back(cap);
		_serviceList.push_back(&service);
	}

	void peerChanged(ChatNode::PeerChange change, Peer& peer) override
	{
		for (PeerService* pService: _serviceList) pService->onPeerChanged(peer, change);
		if (_store && peer.relation() != Relation::STRANGER)
		{
			if (change == ChatNode::PeerChange::CONNECTED || change == ChatNode::PeerChange::PATH)
			{
				const PeerInfo info = peer.info();
				_store->touch(peer.id(), info.lastSeenMs, info.path);
				if (!info.name.empty()) _store->setName(peer.id(), info.name);
			}
			else if (change == ChatNode::PeerChange::UPDATED && !peer.name().empty())
			{
				_store->setName(peer.id(), peer.name());   // for example renamed with message 9
			}
			if (change == ChatNode::PeerChange::FOUND || change == ChatNode::PeerChange::UPDATED)
				_store->setAddresses(peer.id(), peer.addressTexts());
		}
		if (_onPeer) _onPeer(change, peer.info());
	}

	void messageReceived(Peer& peer, const ChatMessage& message) override
	{
		// Kept durably before the peer sends the receipt: a receipt means "kept".
		if (_store && !_store->storeIncoming(peer.id(), message.id, message.text, message.timestampMs, message.path)) return;
		if (_onMessage) _onMessage(message);
	}

	bool isDuplicate(Peer& peer, const std::string& messageId) override
	{
		return _store && _store->message(peer.id(), MessageDirection::INCOMING, messageId).has_value();
	}

	void delivered(const Peer& peer, const std::string& messageId) override
	{
		if (_store)
		{
			const std::optional<Path> path = peer.currentPath();
			_store->markDelivered(peer.id(), messageId, path ? pathName(*path) : "");
		}
		if (_onDelivered) _onDelivered(messageId, peer.id());
	}

	void refused(const Peer& peer, const std::string& messageId, const std::string& code, const std::string& reason) override
	{
		logger().warning("%s refused message %s: %s (%s)", peer.displayName(), messageId, Text::terminalSafe(code, 32),
			Text::terminalSafe(reason, 200));
		if (_store) _store->markRefused(peer.id(), messageId, reason.empty() ? code : code + ": " + reason);
		if (_onRefused) _onRefused(messageId, peer.id(), code, reason);
	}

	void written(const Peer& peer, const std::string& messageId) override
	{
		if (_store) _store->markSent(peer.id(), messageId);
	}

	void peerError(const Peer&, const std::string& text) override
	{
		reportError(text);
	}

	void countStat(std::uint64_t ChatNodeStats::*counter, std::uint64_t amount) override
	{
		_stats.*counter += amount;
	}

	void reportError(const std::string& message)
	{
		logger().warning(message);
		if (_onError) _onError(message);
	}

	// GroupHost -----------------------------------------------------------------------------

	Scheduler& groupScheduler() override
	{
		return _loop;
	}

	const Identity& groupIdentity() const override
	{
		return _identity;
	}

	GroupStore* groupStore() override
	{
		return _groupStore.get();
	}

	bool sendTo(const PeerId& id, const std::string& name, const Poco::JSON::Object& body) override
	{
		Peer* pPeer = findPeer(id);
		if (!pPeer || !pPeer->supports(GroupService::CAPABILITY)) return false;
		return pPeer->sendMessage(name, body);
	}

	bool groupConnected(const PeerId& id) const override
	{
		const Peer* pPeer = findPeer(id);
		return pPeer && pPeer->supports(GroupService::CAPABILITY);
	}

	Relation groupRelation(const PeerId& id) const override
	{
		const Peer* pPeer = findPeer(id);
		if (pPeer) return pPeer->relation();
		if (_store)
			if (auto contact = _store->contact(id)) return contact->relation;
		return Relation::STRANGER;
	}

	std::string groupPeerName(const PeerId& id) const override
	{
		if (id == _identity.peerId()) return Text::terminalSafe(_config.name.empty() ? id.shortString() : _config.name, 64);
		const Peer* pPeer = findPeer(id);
		if (!pPeer) return id.shortString();
		const std::string& name = pPeer->alias().empty() ? pPeer->name() : pPeer->alias();
		return name.empty() ? id.shortString() : Text::terminalSafe(name, 64);
	}

	void setGroupPeers(const std::set<PeerId>& peers) override
	{
		for (const PeerId& id: _groupPeers)
		{
			if (peers.count(id)) continue;
			if (Peer* pPeer = findPeer(id)) pPeer->setGroupPeer(false);
		}
		_groupPeers = peers;
		for (const PeerId& id: peers)
		{
			Peer::Ptr peer = _peers.count(id) ? _peers.at(id).peer : nullptr;
			if (!peer)
			{
				// A group peer is not a stranger: it does not count against maxStrangers.
				peer = std::make_shared<Peer>(*this, id);
				_peers.emplace(id, PeerEntry{peer, _nextOrder++});
			}
			peer->setGroupPeer(true);
		}
	}

	void makeContact(const PeerId& id) override
	{
		contactFor(id);
	}

	void groupMessage(const GroupMessage& message) override
	{
		if (_onGroupMessage) _onGroupMessage(message);
	}

	void groupChanged(const GroupChange& change) override
	{
		if (_onGroup) _onGroup(change);
	}

	std::string groupKey(const std::string& text) const
		/// The raw ID of a group's text form.
	{
		auto raw = GroupIds::fromText(text);
		if (!raw) throw Poco::InvalidArgumentException("not a group ID (64 hex digits): " + Text::terminalSafe(text, 80));
		return *raw;
	}

	// Discovery -----------------------------------------------------------------------------

	void onLanPeer(Discovery::LanDiscovery::Change change, const Discovery::LanPeer& lanPeer)
	{
		if (change == Discovery::LanDiscovery::Change::LOST)
		{
			if (Peer* pPeer = findPeer(lanPeer.id)) pPeer->lanLost();
			return;
		}
		Peer::Ptr peer = peerFor(lanPeer.id);
		if (!peer) return;
		std::vector<Poco::Net::SocketAddress> announced;
		Poco::Net::SocketAddress source;
		for (const auto& address: lanPeer.addresses)
		{
			if (address.host() == lanPeer.source.host() && source.port() == 0)
				source = address;
			else
				announced.push_back(address);
		}
		const std::string name = Text::isValidUtf8(lanPeer.name) ? lanPeer.name : Text::replaceInvalidUtf8(lanPeer.name);
		peer->lanFound(name, source, announced);
	}

	// API -----------------------------------------------------------------------------------

	std::string send(const PeerId& to, const std::string& text)
	{
		if (text.size() > SessionProtocol::MAX_TEXT_SIZE)
		{
			throw Poco::InvalidArgumentException("message of " + std::to_string(text.size())
				+ " bytes exceeds the limit of " + std::to_string(SessionProtocol::MAX_TEXT_SIZE));
		}
		const std::size_t bad = Text::invalidUtf8Offset(text);
		if (bad != std::string::npos)
			throw Poco::InvalidArgumentException("the message is not valid UTF-8 (byte " + std::to_string(bad + 1) + ")");
		if (to == _identity.peerId()) throw Poco::InvalidArgumentException("cannot send a message to yourself");
		Peer::Ptr peer = contactFor(to);
		if (peer->relation() == Relation::BLOCKED)
			throw Poco::InvalidArgumentException(peer->displayName() + " is blocked; /accept it first");
		Outbox::Entry message;
		message.id = Poco::UUIDGenerator::defaultGenerator().createRandom().toString();
		message.timestampMs = wallClockMs();
		message.text = text;
		// Durable before the caller hears "sent": it survives /quit, kill -9 and a reboot.
		if (_store) _store->queueOutgoing(to, message.id, text, message.timestampMs);
		peer->send(message);
		return message.id;
	}

	Peer::Ptr contactFor(const PeerId& id)
		/// The peer as a contact (writing to a peer or accepting it makes it one).
	{
		Peer::Ptr peer = _peers.count(id) ? _peers.at(id).peer : nullptr;
		if (!peer)
		{
			peer = std::make_shared<Peer>(*this, id);
			_peers.emplace(id, PeerEntry{peer, _nextOrder++});
		}
		if (peer->relation() == Relation::STRANGER)
		{
			if (_store) _store->setRelation(id, Relation::CONTACT);
			peer->setRelation(Relation::CONTACT);
		}
		return peer;
	}

	void accept(const PeerId& id)
	{
		if (id == _identity.peerId()) throw Poco::InvalidArgumentException("cannot accept yourself");
		Peer::Ptr peer = contactFor(id);
		if (peer->relation() == Relation::BLOCKED)
		{
			if (_store) _store->setRelation(id, Relation::CONTACT);
			peer->setRelation(Relation::CONTACT);
		}
	}

	void block(const PeerId& id)
	{
		if (id == _identity.peerId()) throw Poco::InvalidArgumentException("cannot block yourself");
		Peer::Ptr peer = contactFor(id);
		if (_store)
		{
			_store->transaction([&] {
				for (const StoredMessage& message: _store->pending(id)) _store->markRefused(id, message.id, "you blocked the peer");
				_store->setRelation(id, Relation::BLOCKED);
			});
		}
		peer->setRelation(Relation::BLOCKED);
	}

	void setAlias(const PeerId& id, const std::string& alias)
	{
		if (alias.size() > SessionProtocol::MAX_NAME_SIZE)
			throw Poco::InvalidArgumentException("an alias has at most " + std::to_string(SessionProtocol::MAX_NAME_SIZE) + " bytes");
		if (!Text::isValidUtf8(alias) || Text::terminalSafe(alias) != alias)
			throw Poco::InvalidArgumentException("an alias must be UTF-8 text without control characters");
		Peer::Ptr peer = peerFor(id);
		if (!peer) throw Poco::IllegalStateException("too many strangers to add another");
		if (_store) _store->setAlias(id, alias);   // an alias makes the peer one the store keeps
		peer->setAlias(alias);
	}

	void addPeerAddress(const PeerId& id, const Poco::Net::SocketAddress& address, const std::string&)
	{
		Peer::Ptr peer = peerFor(id);
		if (!peer) return;
		peer->addAddress(address, AddressSource::USER);
		peer->ladder().addressesChanged();
	}

	std::vector<const PeerEntry*> ordered() const
	{
		std::vector<const PeerEntry*> entries;
		for (const auto& entry: _peers) entries.push_back(&entry.second);
		std::sort(entries.begin(), entries.end(), [](const PeerEntry* a, const PeerEntry* b) { return a->order < b->order; });
		return entries;
	}

	std::vector<PeerInfo> peers() const
	{
		std::vector<PeerInfo> result;
		for (const PeerEntry* pEntry: ordered()) result.push_back(pEntry->peer->info());
		return result;
	}

	std::vector<PeerInfo> contacts() const
	{
		std::vector<PeerInfo> result;
		for (const PeerEntry* pEntry: ordered())
			if (pEntry->peer->relation() != Relation::STRANGER) result.push_back(pEntry->peer->info());
		std::sort(result.begin(), result.end(), [](const PeerInfo& a, const PeerInfo& b) {
			const std::string& nameA = a.alias.empty() ? a.name : a.alias;
			const std::string& nameB = b.alias.empty() ? b.name : b.alias;
			return Poco::icompare(nameA, nameB) < 0;
		});
		return result;
	}

	std::vector<PeerId> resolve(const std::string& query) const
	{
		if (auto id = PeerId::tryParse(query)) return {*id};
		std::vector<PeerId> byPrefix;
		std::vector<PeerId> byAlias;
		std::vector<PeerId> byName;
		for (const PeerEntry* pEntry: ordered())
		{
			const Peer& peer = *pEntry->peer;
			if (PeerId::isPrefixOf(query, peer.id())) byPrefix.push_back(peer.id());
			if (!peer.alias().empty() && Poco::icompare(peer.alias(), query) == 0) byAlias.push_back(peer.id());
			if (!peer.name().empty() && Poco::icompare(peer.name(), query) == 0) byName.push_back(peer.id());
		}
		if (!byPrefix.empty()) return byPrefix;
		if (!byAlias.empty()) return byAlias;
		return byName;
	}

	std::size_t pendingMessages() const
	{
		if (_store) return _store->pendingCount();
		std::size_t total = 0;
		for (const auto& entry: _peers) total += entry.second.peer->outbox().size();
		return total;
	}

	// TransferService::Node ---------------------------------------------------------------

	Scheduler& transferScheduler() override
	{
		return _loop;
	}

	Peer* transferPeer(const PeerId& id) override
	{
		return findPeer(id);
	}

	ChatStore* transferStore() override
	{
		return _store.get();
	}

	bool transferGroupMember(const std::string& group, const PeerId& peer) override
	{
		const auto raw = GroupIds::fromText(group);
		return raw && _groups.shares(*raw, peer);
	}

	// The relay mailbox ----------------------------------------------------------------------

	std::string relayKey() const
		/// The configured relay as the store names it: "host:port".
	{
		const Poco::URI url(_config.relayUrl);
		return Poco::toLower(url.getHost()) + ":" + std::to_string(url.getPort());
	}

	void startMailDrop()
	{
		MailDrop::Hooks hooks;
		hooks.waiting = [this](const PeerId& id) {
			std::vector<Outbox::Entry> entries;
			if (const Peer* pPeer = findPeer(id)) entries.assign(pPeer->outbox().entries().begin(), pPeer->outbox().entries().end());
			return entries;
		};
		hooks.text = [this](const OpenedEnvelope& envelope) { return mailText(envelope); };
		hooks.receipt = [this](const PeerId& sender, const std::string& messageId) { mailReceipt(sender, messageId); };
		hooks.deposited = [this](const PeerId& peer, const std::string& messageId) {
			if (_onDeposited) _onDeposited(messageId, peer);
		};
		_mailDrop = std::make_unique<MailDrop>(_loop, _identity, *_relay, relayKey(), _store.get(), std::move(hooks));
		_mailDrop->start();   // before the relay's first announce: it carries the pre-keys
	}

	void peerUnreachable(Peer& peer) override
	{
		// Only for contacts (strangers get no deposits), and only while messages wait.
		if (_mailDrop && peer.relation() == Relation::CONTACT && !peer.outbox().empty()) _mailDrop->depositFor(peer.id());
	}

	MailDrop::Verdict mailText(const OpenedEnvelope& envelope)
		/// A text from our mailbox: kept once (the store's received IDs drop what a session
		/// brought already), then its receipt goes back on a session if there is one, else
		/// (to a contact) through the sender's mailbox.
	{
		const Peer* pKnown = findPeer(envelope.sender);
		if (pKnown && pKnown->relation() == Relation::BLOCKED) return MailDrop::Verdict::DROPPED;
		Peer::Ptr peer = peerFor(envelope.sender);
		if (!peer) return MailDrop::Verdict::RETRY;   // no room for another stranger now: the relay keeps it
		const Peer::MailResult result = peer->takeMail(envelope.content.messageId, envelope.content.timestampMs,
			envelope.content.text);
		if (result == Peer::MailResult::BLOCKED) return MailDrop::Verdict::DROPPED;
		const Session::Ptr& session = peer->current();
		if (session && session->established())
			session->sendReceipt(envelope.content.messageId);
		else if (peer->relation() == Relation::CONTACT && _mailDrop)
			_mailDrop->receiptFor(envelope.sender, envelope.content.messageId);
		return MailDrop::Verdict::KEPT;
	}

	void mailReceipt(const PeerId& sender, const std::string& messageId)
	{
		Peer* pPeer = findPeer(sender);
		if (!pPeer || !pPeer->acknowledgeByMail(messageId)) return;   // unknown, or delivered already
		if (_store) _store->markDelivered(sender, messageId, "mailbox");
		if (_onDelivered) _onDelivered(messageId, sender);
	}

	// Handles -------------------------------------------------------------------------------

	struct HandleTarget
	{
		std::string handle;
		std::string relay;                   ///< "host:port"
		Relay::RelayClient* pClient = nullptr;
		std::uint64_t foreign = 0;           ///< Its key in _foreignRelays, or 0 for ours.
	};

	HandleTarget handleTarget(const std::string& spec)
	{
		const auto parsed = ChatNode::parseHandleSpec(spec);
		if (!parsed) throw Poco::InvalidArgumentException("'" + Text::terminalSafe(spec, 80) + "' is not a handle (3 to 32 characters: "
			"a letter first, then letters, digits, - or _; optionally @relay)");
		HandleTarget target;
		target.handle = parsed->first;
		const Poco::URI ours(_config.relayUrl.empty() ? std::string("http://localhost") : _config.relayUrl);
		std::string host = parsed->second;   // "name", "name:port", "[v6]" or "[v6]:port"
		std::string port;
		const std::size_t close = host.find(']');
		const std::size_t colon = host.find(':', close == std::string::npos ? 0 : close);
		if (colon != std::string::npos && (close != std::string::npos || host.find(':', colon + 1) == std::string::npos))
		{
			port = host.substr(colon + 1);
			host = host.substr(0, colon);
		}
		if (!host.empty() && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
		if (!port.empty() && (port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos || std::stoul(port) > 65535))
			throw Poco::InvalidArgumentException("bad relay port in '" + Text::terminalSafe(spec, 80) + "'");
		const bool sameHost = host.empty() || Poco::icompare(host, ours.getHost()) == 0;
		if (sameHost && (port.empty() || port == std::to_string(ours.getPort())))
		{
			if (!_relay) throw Poco::IllegalStateException("no relay is configured (--relay) to ask for handle " + target.handle);
			target.relay = relayKey();
			target.pClient = _relay.get();
			return target;
		}
		Relay::RelayClientConfig config;
		const bool ipv6 = host.find(':') != std::string::npos;
		config.url = Poco::URI(ours.getScheme() + "://" + (ipv6 ? "[" + host + "]" : host) + (port.empty() ? std::string() : ":" + port));
		if (config.url.getHost().empty()) throw Poco::InvalidArgumentException("no relay host in '" + Text::terminalSafe(spec, 80) + "'");
		target.relay = Poco::toLower(config.url.getHost()) + ":" + std::to_string(config.url.getPort());
		target.foreign = _nextForeign++;
		auto client = std::make_unique<Relay::RelayClient>(_loop, _identity, config);
		target.pClient = client.get();
		_foreignRelays.emplace(target.foreign, std::move(client));
		return target;
	}

	void releaseForeign(std::uint64_t key)
		/// Later, not from inside the client's own callback.
	{
		if (key == 0) return;
		std::weak_ptr<bool> alive = _alive;
		_loop.post([this, alive, key] {
			if (!alive.expired()) _foreignRelays.erase(key);
		});
	}

	std::optional<HandlePin> findPin(const std::string& handle, const std::string& relay)
	{
		if (_store) return RelayBook(*_store).pin(handle, relay);
		const auto it = _memoryPins.find(handle + "@" + relay);
		if (it == _memoryPins.end()) return std::nullopt;
		return it->second;
	}

	void savePin(const std::string& handle, const std::string& relay, const PeerId& id)
	{
		const std::int64_t now = wallClockMs();
		if (_store)
		{
			RelayBook(*_store).setPin(handle, relay, id, now);
			return;
		}
		_memoryPins[handle + "@" + relay] = HandlePin{handle, relay, id, now, now};
	}

	void lookupHandle(const std::string& spec, HandleHandler done)
	{
		const HandleTarget target = handleTarget(spec);
		std::weak_ptr<bool> alive = _alive;
		target.pClient->lookupHandle(target.handle, [this, alive, target, done](const std::optional<Relay::RelayHandle>& found,
			const std::string& error) {
			if (alive.expired()) return;
			releaseForeign(target.foreign);
			HandleAnswer answer;
			answer.handle = target.handle;
			answer.relay = target.relay;
			answer.error = error;
			const std::optional<HandlePin> pin = error.empty() ? findPin(target.handle, target.relay) : std::nullopt;
			if (pin) answer.pinned = pin->peer;
			if (found)
			{
				answer.id = found->id;
				if (!pin)
				{
					savePin(target.handle, target.relay, found->id);
					answer.firstUse = true;
				}
				else if (pin->peer != found->id)
				{
					answer.keyChanged = true;
					logger().warning("handle %s@%s now names %s, but was pinned to %s: not taken", target.handle, target.relay,
						found->id.toString(), pin->peer.toString());
				}
				else if (_store)
				{
					RelayBook(*_store).confirmPin(target.handle, target.relay, wallClockMs());
				}
			}
			if (done) done(answer);
		});
	}

	bool unpinHandle(const std::string& spec)
	{
		const auto parsed = ChatNode::parseHandleSpec(spec);
		if (!parsed) throw Poco::InvalidArgumentException("'" + Text::terminalSafe(spec, 80) + "' is not a handle");
		const HandleTarget target = handleTarget(spec);
		releaseForeign(target.foreign);
		if (_store) return RelayBook(*_store).forgetPin(target.handle, target.relay);
		return _memoryPins.erase(target.handle + "@" + target.relay) > 0;
	}

	static constexpr std::size_t MAX_SESSIONS_PER_PEER = 4;   ///< Incoming sessions (tunnels) with one peer at once.

	EventLoop& _loop;
	const Identity& _identity;
	ChatNodeConfig _config;
	std::shared_ptr<bool> _alive = std::make_shared<bool>(true);
	std::unique_ptr<TcpListener> _listener;
	std::unique_ptr<Discovery::LanDiscovery> _lan;
	std::unique_ptr<Relay::RelayClient> _relay;
	std::unique_ptr<PortMapper> _portMapper;
	std::unique_ptr<ChatStore> _store;
	std::unique_ptr<GroupStore> _groupStore;             ///< The group tables of _store.
	std::unique_ptr<MailDrop> _mailDrop;                 ///< With a relay (and relayMailbox).
	std::map<std::string, HandlePin> _memoryPins;        ///< Without a store: "handle@relay" -> pin.
	std::map<std::uint64_t, std::unique_ptr<Relay::RelayClient>> _foreignRelays;   ///< Handle lookups at other relays.
	std::uint64_t _nextForeign = 1;
	DepositedHandler _onDeposited;
	std::map<PeerId, PeerEntry> _peers;
	std::uint64_t _nextOrder = 0;
	std::map<std::uint64_t, SessionEntry> _sessions;     ///< Every session the node opened, by serial.
	std::map<std::uint64_t, Session::Ptr> _pending;      ///< Incoming sessions whose peer is not known yet.
	std::map<std::string, PeerService*> _services;       ///< By the session message names they handle.
	std::map<std::uint8_t, PeerService*> _dataServices;  ///< By the binary frame types they handle.
	std::vector<PeerService*> _serviceList;              ///< In the order added (owned below the node's members).
	std::vector<std::string> _caps;                      ///< Announced in hello.
	std::uint64_t _nextSerial = 1;
	mutable AddressPolicy _policy;
	LogThrottle _refusalLog;
	mutable ChatNodeStats _stats;
	PeerHandler _onPeer;
	MessageHandler _onMessage;
	DeliveredHandler _onDelivered;
	RefusedHandler _onRefused;
	ErrorHandler _onError;
	RelayHandler _onRelay;
	std::unique_ptr<TransferService> _transfers;         ///< A service: stopped by stop(), before the peers.
	GroupMessageHandler _onGroupMessage;
	GroupHandler _onGroup;
	std::set<PeerId> _groupPeers;                        ///< Peers we share a group with (GroupService).
	GroupService _groups;                                ///< Last: destroyed first, after stop().
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


void ChatNode::setRefusedHandler(RefusedHandler handler)
{
	_pImpl->_loop.assertInLoopThread();
	_pImpl->_onRefused = std::move(handler);
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


void ChatNode::accept(const PeerId& peer)
{
	_pImpl->_loop.assertInLoopThread();
	_pImpl->accept(peer);
}


void ChatNode::block(const PeerId& peer)
{
	_pImpl->_loop.assertInLoopThread();
	_pImpl->block(peer);
}


void ChatNode::setAlias(const PeerId& peer, const std::string& alias)
{
	_pImpl->_loop.assertInLoopThread();
	_pImpl->setAlias(peer, alias);
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


std::vector<PeerInfo> ChatNode::contacts() const
{
	_pImpl->_loop.assertInLoopThread();
	return _pImpl->contacts();
}


std::optional<PeerInfo> ChatNode::peer(const PeerId& id) const
{
	_pImpl->_loop.assertInLoopThread();
	const Peer* pPeer = _pImpl->findPeer(id);
	if (!pPeer) return std::nullopt;
	return pPeer->info();
}


std::vector<PeerId> ChatNode::resolve(const std::string& query) const
{
	_pImpl->_loop.assertInLoopThread();
	return _pImpl->resolve(query);
}


std::size_t ChatNode::pendingMessages() const
{
	_pImpl->_loop.assertInLoopThread();
	return _pImpl->pendingMessages();
}


bool ChatNode::durable() const
{
	_pImpl->_loop.assertInLoopThread();
	return _pImpl->_store != nullptr;
}


std::vector<StoredMessage> ChatNode::history(const PeerId& peer, std::size_t count, std::int64_t beforeSequence) const
{
	_pImpl->_loop.assertInLoopThread();
	if (!_pImpl->_store) throw Poco::IllegalStateException("this node keeps no history (no database)");
	return _pImpl->_store->history(peer, count, beforeSequence);
}


std::vector<SearchResult> ChatNode::search(const std::string& words, std::size_t limit) const
{
	_pImpl->_loop.assertInLoopThread();
	if (!_pImpl->_store) throw Poco::IllegalStateException("this node keeps no history (no database)");
	return _pImpl->_store->search(words, limit);
}


const PeerId& ChatNode::id() const
{
	return _pImpl->_identity.peerId();
}


const std::string& ChatNode::name() const
{
	return _pImpl->_config.name;
}


void ChatNode::setName(const std::string& name)
{
	_pImpl->_loop.assertInLoopThread();
	if (name.empty() || name.size() > SessionProtocol::MAX_NAME_SIZE || !Text::isValidUtf8(name))
		throw Poco::InvalidArgumentException("a name is 1 to " + std::to_string(SessionProtocol::MAX_NAME_SIZE)
			+ " bytes of UTF-8");
	_pImpl->rename(name);
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
	if (_pImpl->_mailDrop)
	{
		const MailDropStats& mail = _pImpl->_mailDrop->stats();
		_pImpl->_stats.mailDeposited = mail.deposited;
		_pImpl->_stats.mailReceived = mail.received;
		_pImpl->_stats.mailRefused = mail.refused;
	}
	return _pImpl->_stats;
}


std::size_t ChatNode::sessionCount() const
{
	_pImpl->_loop.assertInLoopThread();
	_pImpl->pruneSessions();
	return _pImpl->_sessions.size();
}


std::size_t ChatNode::peerCount() const
{
	_pImpl->_loop.assertInLoopThread();
	return _pImpl->_peers.size();
}


// File transfers ---------------------------------------------------------------------------


void ChatNode::setTransferHandler(TransferHandler handler)
{
	_pImpl->_loop.assertInLoopThread();
	_pImpl->_transfers->setHandler(std::move(handler));
}


std::string ChatNode::sendFile(const PeerId& to, const std::string& path)
{
	_pImpl->_loop.assertInLoopThread();
	if (to == _pImpl->_identity.peerId()) throw Poco::InvalidArgumentException("cannot send a file to yourself");
	const Peer* pKnown = _pImpl->findPeer(to);
	if (pKnown && pKnown->relation() == Relation::BLOCKED)
		throw Poco::InvalidArgumentException(pKnown->displayName() + " is blocked; /accept it first");
	_pImpl->contactFor(to);
	return _pImpl->_transfers->sendFile(to, path);
}


std::vector<std::string> ChatNode::sendFileToGroup(const std::string& group, const std::string& path)
{
	_pImpl->_loop.assertInLoopThread();
	const std::string key = _pImpl->groupKey(group);
	std::vector<PeerId> members;
	for (const PeerId& member: _pImpl->_groups.otherMembers(key))
	{
		const Peer* pPeer = _pImpl->findPeer(member);
		if (!pPeer || pPeer->relation() != Relation::BLOCKED) members.push_back(member);   // not to those we blocked
	}
	return _pImpl->_transfers->shareFile(members, path, GroupIds::toText(key));
}


TransferInfo ChatNode::acceptFile(const std::string& id)
{
	_pImpl->_loop.assertInLoopThread();
	if (const auto peer = _pImpl->_transfers->peerOf(id))
	{
		// Taking a stranger's file accepts the stranger, as a reply would (before its transfer is
		// stored: a stranger's rows are subject to the store's stranger limits); a group's file
		// from a member comes from a peer we already connect to for the group.
		const Peer* pPeer = _pImpl->findPeer(*peer);
		const std::vector<TransferInfo> found = _pImpl->_transfers->find(id);
		const bool fromMember = found.size() == 1 && !found.front().group.empty()
			&& _pImpl->transferGroupMember(found.front().group, *peer);
		if (pPeer && pPeer->relation() == Relation::STRANGER && !fromMember) _pImpl->accept(*peer);
	}
	return _pImpl->_transfers->accept(id);
}


TransferInfo ChatNode::rejectFile(const std::string& id)
{
	_pImpl->_loop.assertInLoopThread();
	return _pImpl->_transfers->reject(id);
}


TransferInfo ChatNode::cancelFile(const std::string& id)
{
	_pImpl->_loop.assertInLoopThread();
	return _pImpl->_transfers->cancel(id);
}


std::vector<TransferInfo> ChatNode::transfers() const
{
	_pImpl->_loop.assertInLoopThread();
	return _pImpl->_transfers->transfers();
}


std::vector<TransferInfo> ChatNode::findTransfers(const std::string& idPrefix) const
{
	_pImpl->_loop.assertInLoopThread();
	return _pImpl->_transfers->find(idPrefix);
}


void ChatNode::setAutoAccept(const PeerId& peer, std::uint64_t maxBytes)
{
	_pImpl->_loop.assertInLoopThread();
	if (peer == _pImpl->_identity.peerId()) throw Poco::InvalidArgumentException("cannot auto-accept files from yourself");
	if (maxBytes > 0) _pImpl->accept(peer);   // an auto-accept setting is for a contact
	_pImpl->_transfers->setAutoAccept(peer, maxBytes);
}


std::uint64_t ChatNode::autoAccept(const PeerId& peer) const
{
	_pImpl->_loop.assertInLoopThread();
	return _pImpl->_transfers->autoAccept(peer);
}


std::string ChatNode::downloadDirectory() const
{
	_pImpl->_loop.assertInLoopThread();
	return _pImpl->_transfers->downloadDirectory();
}


const TransferStats& ChatNode::transferStats() const
{
	return _pImpl->_transfers->stats();
}


// Groups ----------------------------------------------------------------------------------


void ChatNode::setGroupMessageHandler(GroupMessageHandler handler)
{
	_pImpl->_loop.assertInLoopThread();
	_pImpl->_onGroupMessage = std::move(handler);
}


void ChatNode::setGroupHandler(GroupHandler handler)
{
	_pImpl->_loop.assertInLoopThread();
	_pImpl->_onGroup = std::move(handler);
}


std::string ChatNode::createGroup(const std::string& name, bool shareHistory)
{
	_pImpl->_loop.assertInLoopThread();
	return _pImpl->_groups.create(name, shareHistory);
}


void ChatNode::inviteToGroup(const std::string& group, const PeerId& peer)
{
	_pImpl->_loop.assertInLoopThread();
	_pImpl->_groups.invite(_pImpl->groupKey(group), peer);
}


void ChatNode::acceptGroupInvitation(const std::string& group)
{
	_pImpl->_loop.assertInLoopThread();
	_pImpl->_groups.acceptInvitation(_pImpl->groupKey(group));
}


void ChatNode::leaveGroup(const std::string& group)
{
	_pImpl->_loop.assertInLoopThread();
	_pImpl->_groups.leave(_pImpl->groupKey(group));
}


void ChatNode::kickFromGroup(const std::string& group, const PeerId& peer)
{
	_pImpl->_loop.assertInLoopThread();
	_pImpl->_groups.kick(_pImpl->groupKey(group), peer);
}


void ChatNode::promoteInGroup(const std::string& group, const PeerId& peer)
{
	_pImpl->_loop.assertInLoopThread();
	_pImpl->_groups.promote(_pImpl->groupKey(group), peer);
}


void ChatNode::renameGroup(const std::string& group, const std::string& name)
{
	_pImpl->_loop.assertInLoopThread();
	_pImpl->_groups.rename(_pImpl->groupKey(group), name);
}


GroupMessage ChatNode::sendToGroup(const std::string& group, const std::string& text)
{
	_pImpl->_loop.assertInLoopThread();
	return _pImpl->_groups.send(_pImpl->groupKey(group), text);
}


std::vector<GroupInfo> ChatNode::groups() const
{
	_pImpl->_loop.assertInLoopThread();
	return _pImpl->_groups.groups();
}


GroupInfo ChatNode::groupMembers(const std::string& group) const
{
	_pImpl->_loop.assertInLoopThread();
	return _pImpl->_groups.info(_pImpl->groupKey(group));
}


std::vector<GroupMessage> ChatNode::groupHistory(const std::string& group, std::size_t count, std::int64_t beforeSequence) const
{
	_pImpl->_loop.assertInLoopThread();
	return _pImpl->_groups.history(_pImpl->groupKey(group), count, beforeSequence);
}


std::vector<std::string> ChatNode::resolveGroup(const std::string& query) const
{
	_pImpl->_loop.assertInLoopThread();
	std::vector<std::string> result;
	for (const std::string& raw: _pImpl->_groups.resolve(query)) result.push_back(GroupIds::toText(raw));
	return result;
}


GroupStats ChatNode::groupStats() const
{
	_pImpl->_loop.assertInLoopThread();
	return _pImpl->_groups.stats();
}


void ChatNode::setDepositedHandler(DepositedHandler handler)
{
	_pImpl->_loop.assertInLoopThread();
	_pImpl->_onDeposited = std::move(handler);
}


std::optional<std::pair<std::string, std::string>> ChatNode::parseHandleSpec(const std::string& spec)
{
	const std::size_t at = spec.find('@');
	const std::string handle = Poco::toLower(spec.substr(0, at));
	if (!Relay::RelayProtocol::isValidHandle(handle)) return std::nullopt;
	std::string relay;
	if (at != std::string::npos)
	{
		relay = spec.substr(at + 1);
		if (relay.empty() || relay.size() > 255) return std::nullopt;
		for (const char c: relay)
		{
			const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-'
				|| c == ':' || c == '[' || c == ']';
			if (!ok) return std::nullopt;
		}
	}
	return std::make_pair(handle, relay);
}


void ChatNode::claimHandle(const std::string& handle, std::function<void(const std::string& error)> done)
{
	_pImpl->_loop.assertInLoopThread();
	const auto parsed = parseHandleSpec(handle);
	if (!parsed || !parsed->second.empty())
		throw Poco::InvalidArgumentException("'" + Text::terminalSafe(handle, 80) + "' is not a handle (3 to 32 characters: a letter "
			"first, then letters, digits, - or _)");
	if (!_pImpl->_relay) throw Poco::IllegalStateException("no relay is configured (--relay) to claim a handle on");
	std::weak_ptr<bool> alive = _pImpl->_alive;
	_pImpl->_relay->claimHandle(parsed->first, [alive, done](const std::optional<Relay::RelayHandle>&, const std::string& error) {
		if (!alive.expired() && done) done(error);
	});
}


void ChatNode::releaseHandle(std::function<void(const std::string& error)> done)
{
	_pImpl->_loop.assertInLoopThread();
	if (!_pImpl->_relay) throw Poco::IllegalStateException("no relay is configured (--relay)");
	std::weak_ptr<bool> alive = _pImpl->_alive;
	_pImpl->_relay->releaseHandle([alive, done](const std::string& error) {
		if (!alive.expired() && done) done(error);
	});
}


void ChatNode::lookupHandle(const std::string& spec, HandleHandler done)
{
	_pImpl->_loop.assertInLoopThread();
	_pImpl->lookupHandle(spec, std::move(done));
}


bool ChatNode::unpinHandle(const std::string& spec)
{
	_pImpl->_loop.assertInLoopThread();
	return _pImpl->unpinHandle(spec);
}


std::string ChatNode::relayRefusal() const
{
	_pImpl->_loop.assertInLoopThread();
	return _pImpl->_relay ? _pImpl->_relay->refusal() : std::string();
}


} } // namespace CrossChat::Chat
