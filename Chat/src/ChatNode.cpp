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

	struct Outgoing
	{
		std::string id;
		std::int64_t timestampMs;
		std::string text;
		std::uint64_t sentOnSession = 0;   ///< Serial of the session it was last written to.
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
		_relay->setInviteHandler([this](Relay::RelayTunnel tunnel) {
			++_stats.relayTunnels;
			logger().debug("relay tunnel from %s", tunnel.peer.shortString());
			openTunnelSession(tunnel, false, PeerId());
		});
		_relay->start();
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
		if (_relay) _relay->stop();
		_relay.reset();
		if (_lan) _lan->stop();
		_lan.reset();
		_listener.reset();
		auto sessions = std::move(_sessions);
		_sessions.clear();
		for (auto& entry: sessions) entry.second->detach();
		for (auto& entry: _peers)
		{
			entry.second.retryTimer.cancel();
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

		if (peer.session && peer.session != pSession && peer.session->established())
		{
			// Both dialed at once (or a reconnect overtook a dying session). Both sides keep the
			// session dialed by the smaller ID; between two sessions dialed by the same side,
			// the newer one wins, since the older one is presumably dead.
			const bool sameDialer = peer.session->outgoing() == session.outgoing();
			const bool keepNew = sameDialer || dialedBySmallerId(session);
			++_stats.duplicateSessions;
			if (!keepNew)
			{
				session.close("duplicate session");
				return;
			}
			ChatSession::Ptr old = peer.session;
			peer.session = pSession;
			old->close("duplicate session");
		}
		else
		{
			peer.session = pSession;
			notifyPeer(PeerChange::CONNECTED, peer);
		}
		flushOutbox(peer);
	}

	void flushOutbox(Peer& peer)
	{
		if (!peer.session || !peer.session->established()) return;
		for (Outgoing& message: peer.outbox)
		{
			if (message.sentOnSession == peer.session->serial()) continue;
			peer.session->sendText(message.id, message.timestampMs, message.text);
			message.sentOnSession = peer.session->serial();
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
		if (!session.tlsReady() && !session.outgoing()) return;   // an incoming attempt that failed

		Peer* pPeer = nullptr;
		for (auto& entry: _peers)
		{
			if (entry.second.dialSession == pSession || entry.second.session == pSession)
			{
				pPeer = &entry.second;
				break;
			}
		}
		if (!pPeer) return;
		Peer& peer = *pPeer;
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
		Outgoing message{Poco::UUIDGenerator::defaultGenerator().createRandom().toString(), wallClockMs(), text};
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
	std::map<PeerId, Peer> _peers;
	std::uint64_t _nextOrder = 0;
	std::map<std::uint64_t, ChatSession::Ptr> _sessions;   ///< Every live session, by serial.
	std::uint64_t _nextSerial = 1;
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
