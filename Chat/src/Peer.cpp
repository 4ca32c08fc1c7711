//
// Peer.cpp
//
// Library: Chat
//


#include "Peer.h"
#include "CrossChat/Chat/SessionProtocol.h"
#include "CrossChat/Text.h"
#include "Poco/Logger.h"
#include <algorithm>


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


bool observed(AddressSource source)
{
	return source == AddressSource::USER || source == AddressSource::LAN_OBSERVED || source == AddressSource::RELAY_OBSERVED;
}


} // namespace


Peer::Peer(PeerHost& host, const PeerId& id):
	_host(host),
	_id(id),
	_lastActivity(host.scheduler().now()),
	_strangerRefill(host.scheduler().now()),
	_ladder(*this)
{
}


Peer::~Peer()
{
	shutdown();
}


void Peer::shutdown()
{
	_ladder.stop();
	_receiptTimer.cancel();
	auto sessions = std::move(_sessions);
	_sessions.clear();
	_current.reset();
	_spares.clear();
	for (auto& entry: sessions) entry.second->detach();
}


// What we know -----------------------------------------------------------------------------


const PeerId& Peer::id() const
{
	return _id;
}


Relation Peer::relation() const
{
	return _relation;
}


void Peer::setRelation(Relation relation)
{
	if (relation == _relation) return;
	const bool wasContact = _relation == Relation::CONTACT;
	_relation = relation;
	if (_current && _current->established() && wasContact != (relation == Relation::CONTACT))
		_current->sendContact(relation == Relation::CONTACT);
	if (relation == Relation::BLOCKED)
	{
		_ladder.stop();
		_outbox.clear();
		_receiptTimer.cancel();
		for (const auto& entry: std::map<std::uint64_t, Session::Ptr>(_sessions)) entry.second->close("blocked");
	}
	changed(ChatNode::PeerChange::UPDATED);
	_ladder.consentChanged();
}


bool Peer::consented() const
{
	return _consented;
}


void Peer::setConsented(bool consented)
{
	if (consented == _consented) return;
	_consented = consented;
	_ladder.consentChanged();
}


bool Peer::groupPeer() const
{
	return _groupPeer;
}


void Peer::setGroupPeer(bool groupPeer)
{
	if (groupPeer == _groupPeer) return;
	_groupPeer = groupPeer;
	_ladder.consentChanged();
}


bool Peer::trusted() const
{
	return _relation == Relation::CONTACT || (_groupPeer && _relation != Relation::BLOCKED);
}


bool Peer::wantsSession() const
{
	return waiting() || (_groupPeer && _relation != Relation::BLOCKED);
}


const std::string& Peer::alias() const
{
	return _alias;
}


void Peer::setAlias(const std::string& alias)
{
	if (alias == _alias) return;
	_alias = alias;
	changed(ChatNode::PeerChange::UPDATED);
}


const std::string& Peer::name() const
{
	return _name;
}


void Peer::setName(const std::string& name)
{
	_name = name;
}


void Peer::restoreContact(Relation relation, const std::string& alias, const std::string& name, std::int64_t lastSeenMs)
{
	_relation = relation;
	_alias = alias;
	_name = name;
	_lastSeenMs = lastSeenMs;
	if (_via.empty()) _via = "contact";
}


std::vector<std::string> Peer::addressTexts() const
{
	std::vector<std::string> texts;
	for (const auto& address: _addresses)
		if (address.source != AddressSource::USER) texts.push_back(address.address.toString());
	return texts;
}


std::string Peer::displayName() const
{
	const std::string& name = _alias.empty() ? _name : _alias;
	return name.empty() ? _id.shortString() : Text::terminalSafe(name, 64) + " (" + _id.shortString() + ")";
}


PeerInfo Peer::info() const
{
	PeerInfo info;
	info.id = _id;
	info.name = _name;
	info.alias = _alias;
	info.relation = _relation;
	info.consented = _consented;
	info.lastSeenMs = _lastSeenMs;
	for (const auto& address: _addresses) info.addresses.push_back(address.address);
	info.via = _via;
	info.online = _online;
	info.connected = _current && _current->established();
	info.path = info.connected ? pathName(_current->path()) : std::string();
	info.pending = _outbox.size();
	return info;
}


std::int64_t Peer::lastSeenMs() const
{
	return _lastSeenMs;
}


Scheduler::TimePoint Peer::lastActivity() const
{
	return _lastActivity;
}


bool Peer::idle() const
{
	return _sessions.empty() && !waiting() && _ladder.attempts() == 0;
}


std::size_t Peer::sessionCount() const
{
	return _sessions.size();
}


void Peer::touch()
{
	_lastActivity = _host.scheduler().now();
	_lastSeenMs = wallClockMs();
}


void Peer::changed(ChatNode::PeerChange change)
{
	_host.peerChanged(change, *this);
}


// Addresses --------------------------------------------------------------------------------


void Peer::lanFound(const std::string& name, const Poco::Net::SocketAddress& source, const std::vector<Poco::Net::SocketAddress>& announced)
{
	const bool wasOnline = _online;
	_online = true;
	_name = name;
	if (_via.empty() || _via == "incoming" || _via == "relay" || _via == "contact") _via = "lan";
	touch();
	// The LAN source is evidence; the rest of the announcement is the peer's word.
	_addresses.erase(std::remove_if(_addresses.begin(), _addresses.end(), [](const PeerAddress& a) {
		return a.source == AddressSource::LAN_OBSERVED || a.source == AddressSource::LAN_ANNOUNCED;
	}), _addresses.end());
	addAddress(source, AddressSource::LAN_OBSERVED);
	for (const auto& address: announced)
		if (!(address == source)) addAddress(address, AddressSource::LAN_ANNOUNCED);
	changed(wasOnline ? ChatNode::PeerChange::UPDATED : ChatNode::PeerChange::FOUND);   // here (again) on the LAN
	_ladder.addressesChanged();
}


void Peer::lanLost()
{
	_online = false;
	changed(ChatNode::PeerChange::LOST);
}


void Peer::addAddress(const Poco::Net::SocketAddress& address, AddressSource source)
{
	if (address.port() == 0 || address.host().isWildcard()) return;
	for (auto& known: _addresses)
	{
		if (known.address == address)
		{
			// Keep the strongest evidence (the lower enumerator).
			if (static_cast<int>(source) < static_cast<int>(known.source)) known.source = source;
			return;
		}
	}
	if (_addresses.size() >= MAX_ADDRESSES)
	{
		// Make room by dropping the weakest evidence, never what our user gave.
		auto weakest = std::max_element(_addresses.begin(), _addresses.end(), [](const PeerAddress& a, const PeerAddress& b) {
			return static_cast<int>(a.source) < static_cast<int>(b.source);
		});
		if (weakest == _addresses.end() || static_cast<int>(weakest->source) <= static_cast<int>(source)) return;
		_addresses.erase(weakest);
	}
	_addresses.push_back(PeerAddress{address, source});
	if ((source == AddressSource::LAN_ANNOUNCED || source == AddressSource::RELAY_ANNOUNCED) && !_host.mayDial(address))
		_host.countStat(&ChatNodeStats::addressesRefused);
	std::stable_sort(_addresses.begin(), _addresses.end(), [](const PeerAddress& a, const PeerAddress& b) {
		return static_cast<int>(a.source) < static_cast<int>(b.source);
	});
}


void Peer::learnFromRelay(const Relay::RelayPeerRecord& record)
{
	const bool isNew = _via.empty() || _via == "static";
	if (record.observed) _relayObservedHost = record.observed->host();
	if (_name.empty() && Text::isValidUtf8(record.name)) _name = record.name;
	std::uint16_t chatPort = 0;
	for (const auto& address: record.addresses)
	{
		if (record.observed && address.host() == record.observed->host()) chatPort = address.port();
		addAddress(address, record.observed && address.host() == record.observed->host()
			? AddressSource::RELAY_OBSERVED : AddressSource::RELAY_ANNOUNCED);
	}
	if (record.observed && chatPort != 0) addAddress(Poco::Net::SocketAddress(record.observed->host(), chatPort), AddressSource::RELAY_OBSERVED);
	if (isNew)
	{
		_via = "relay";
		changed(ChatNode::PeerChange::FOUND);
	}
}


std::vector<PeerAddress> Peer::dialableAddresses() const
{
	// What was observed first (whatever the source), then the peer's word.
	std::vector<PeerAddress> result;
	for (const auto& address: _addresses)
		if (observed(address.source)) result.push_back(address);
	if (!trusted()) return result;
	for (const auto& address: _addresses)
		if (!observed(address.source) && _host.mayDial(address.address)) result.push_back(address);
	return result;
}


bool Peer::fromRelay(const Poco::Net::SocketAddress& address) const
{
	return std::any_of(_addresses.begin(), _addresses.end(), [&address](const PeerAddress& a) {
		return a.address == address && (a.source == AddressSource::RELAY_OBSERVED || a.source == AddressSource::RELAY_ANNOUNCED);
	});
}


void Peer::relayObserved(const Poco::Net::IPAddress& host)
{
	_relayObservedHost = host;
}


bool Peer::observedAt(const Poco::Net::IPAddress& host) const
{
	if (_relayObservedHost && *_relayObservedHost == host) return true;
	return std::any_of(_addresses.begin(), _addresses.end(), [&host](const PeerAddress& a) {
		return observed(a.source) && a.address.host() == host;
	});
}


const std::string& Peer::via() const
{
	return _via;
}


// Messages ---------------------------------------------------------------------------------


void Peer::send(Outbox::Entry message)
{
	_outbox.push(std::move(message));
	touch();
	if (_current && _current->established())
		flushOutbox();
	else
		_ladder.wanted();
}


void Peer::restore(std::vector<Outbox::Entry> messages)
{
	for (auto& message: messages)
		if (!_outbox.contains(message.id)) _outbox.push(std::move(message));
	if (_outbox.empty()) return;
	if (_current && _current->established())
		flushOutbox();
	else
		_ladder.wanted();
}


const Outbox& Peer::outbox() const
{
	return _outbox;
}


void Peer::setWaiting(const std::string& service, bool waiting)
{
	if (!waiting)
	{
		_serviceWork.erase(service);
		return;
	}
	if (_serviceWork.insert(service).second && !(_current && _current->established())) _ladder.wanted();
}


bool Peer::waiting() const
{
	return !_outbox.empty() || !_serviceWork.empty();
}


void Peer::flushOutbox()
{
	if (!_current || !_current->established()) return;
	const std::uint64_t serial = _current->serial();
	const auto now = _host.scheduler().now();
	for (const Outbox::Entry* pEntry: _outbox.unwritten(serial))
	{
		const bool first = pEntry->writtenOn == 0;
		const std::string id = pEntry->id;
		_current->sendText(id, pEntry->timestampMs, pEntry->text);
		_outbox.markWritten(id, serial, now);
		_host.countStat(&ChatNodeStats::messagesSent);
		if (first) _host.written(*this, id);
	}
	armReceiptWatchdog();
}


void Peer::armReceiptWatchdog()
	/// Failover: when the oldest message written on the session in use has waited
	/// receiptTimeout for its receipt, the session has lost its path (a NAT mapping or a route
	/// went away): it is dropped and the ladder starts again.
{
	if (!_current) return;
	const auto writtenAt = _outbox.oldestWaiting(_current->serial());
	if (!writtenAt)
	{
		_receiptTimer.cancel();
		return;
	}
	const auto due = *writtenAt + _host.config().receiptTimeout;
	const auto now = _host.scheduler().now();
	std::weak_ptr<Peer> weak = weak_from_this();
	_receiptTimer = _host.scheduler().runAfter(due > now ? due - now : Scheduler::Duration::zero(), [weak] {
		if (auto self = weak.lock()) self->checkReceipts();
	});
}


void Peer::checkReceipts()
{
	if (!_current) return;
	const auto writtenAt = _outbox.oldestWaiting(_current->serial());
	if (!writtenAt) return;
	const auto waited = _host.scheduler().now() - *writtenAt;
	if (waited < _host.config().receiptTimeout)
	{
		armReceiptWatchdog();
		return;
	}
	_host.countStat(&ChatNodeStats::receiptTimeouts);
	logger().warning("no receipt on the %s session with %s for %Ld ms: dropping it", std::string(pathName(_current->path())),
		displayName(), static_cast<Poco::Int64>(_host.config().receiptTimeout.count()));
	Session::Ptr session = _current;
	session->abort("no receipt for " + std::to_string(_host.config().receiptTimeout.count()) + " ms");
}


bool Peer::seen(const std::string& id)
{
	if (_seen.count(id)) return true;
	_seen.insert(id);
	_seenOrder.push_back(id);
	const std::size_t limit = _relation == Relation::CONTACT ? SEEN_IDS_CONTACT : SEEN_IDS_STRANGER;
	while (_seenOrder.size() > limit)
	{
		_seen.erase(_seenOrder.front());
		_seenOrder.pop_front();
	}
	return false;
}


bool Peer::strangerAllowance()
	/// A stranger's messages: a burst, then one per STRANGER_MESSAGE_PERIOD.
{
	const auto now = _host.scheduler().now();
	const double refill = std::chrono::duration<double>(now - _strangerRefill) / STRANGER_MESSAGE_PERIOD;
	_strangerRefill = now;
	_strangerTokens = std::min<double>(STRANGER_MESSAGE_BURST, _strangerTokens + refill);
	if (_strangerTokens < 1) return false;
	_strangerTokens -= 1;
	return true;
}


void Peer::onText(Session& session, const Message& message)
{
	const std::string id = message.body->getValue<std::string>("id");
	if (_relation == Relation::BLOCKED)
	{
		_host.countStat(&ChatNodeStats::inputRefused);
		session.sendRefusal(id, SessionProtocol::REFUSE_BLOCKED, "the receiver does not take messages from you");
		return;
	}
	if (_seen.count(id) || _host.isDuplicate(*this, id))
	{
		session.sendReceipt(id);
		_host.countStat(&ChatNodeStats::duplicatesDropped);
		return;
	}
	if (_relation == Relation::STRANGER && !strangerAllowance())
	{
		// Not remembered, so that it can be sent again later and taken then (and so that
		// refused ids do not push taken ones out of the duplicate filter).
		_host.countStat(&ChatNodeStats::inputRefused);
		session.sendRefusal(id, SessionProtocol::REFUSE_BUSY, "too many messages; try again later");
		if (_logThrottle.allow(_host.scheduler().now()))
			logger().information("refusing a message from %s: stranger over its message rate", displayName());
		return;
	}
	seen(id);
	ChatMessage received;
	received.id = id;
	received.from = _id;
	received.name = _name.empty() ? session.peerName() : _name;
	received.text = message.body->getValue<std::string>("text");
	received.timestampMs = message.body->getValue<Poco::Int64>("ts");
	received.path = pathName(session.path());
	received.request = _relation == Relation::STRANGER;
	// Stored (when the node keeps history) before the receipt, so a receipt means "kept".
	_host.messageReceived(*this, received);
	session.sendReceipt(id);
	_host.countStat(&ChatNodeStats::messagesReceived);
	if (!_consented) setConsented(true);   // a peer writes only to its contacts
}


void Peer::onReceipt(const Message& message)
{
	const std::string id = message.body->getValue<std::string>("id");
	if (!_outbox.acknowledge(id)) return;   // a receipt for a retransmission
	armReceiptWatchdog();
	_host.delivered(*this, id);
}


void Peer::onRefuse(const Message& message)
{
	const std::string id = message.body->getValue<std::string>("id");
	if (!_outbox.refuse(id)) return;
	const std::string code = message.body->getValue<std::string>("code");
	const std::string reason = message.body->optValue<std::string>("reason", "");
	_host.countStat(&ChatNodeStats::messagesRefused);
	armReceiptWatchdog();
	_host.refused(*this, id, code, reason);
}


// Sessions ---------------------------------------------------------------------------------


void Peer::keep(const Session::Ptr& session)
{
	_sessions[session->serial()] = session;
	session->setListener(this);
}


void Peer::adopt(const Session::Ptr& session)
{
	keep(session);
	touch();
	if (session->established()) onSessionEstablished(*session);
}


Session::Ptr Peer::open(const Dial& dial)
{
	Session::Ptr session = _host.connect(_id, dial, *this);
	keep(session);
	return session;
}


void Peer::openTunnel(std::function<void(const Session::Ptr& session, const std::string& error)> done)
{
	std::weak_ptr<Peer> weak = weak_from_this();
	_host.openTunnel(_id, *this, [weak, done](const Session::Ptr& session, const std::string& error) {
		auto self = weak.lock();
		if (!self)
		{
			if (session) session->detach();
			return;
		}
		if (session) self->keep(session);
		done(session, error);
	});
}


bool Peer::sendMessage(const std::string& name, const Poco::JSON::Object& body)
{
	if (!_current || !_current->established()) return false;
	_current->sendMessage(name, body);
	return true;
}


bool Peer::sendData(std::uint8_t type, const std::string& body)
{
	if (!_current || !_current->established()) return false;
	_current->sendData(type, body);
	return true;
}


bool Peer::supports(const std::string& capability) const
{
	return _current && _current->established() && _current->peerSupports(capability);
}


const Session::Ptr& Peer::current() const
{
	return _current;
}


std::optional<Path> Peer::currentPath() const
{
	if (_current && _current->established()) return _current->path();
	return std::nullopt;
}


bool Peer::relayed() const
{
	return currentPath() == Path::RELAY;
}


void Peer::relayChanged(bool online)
{
	_ladder.relayChanged(online);
}


void Peer::punchReceived(const Relay::PunchMessage& message)
{
	_ladder.punchReceived(message);
}


void Peer::punchFailed(const std::string& error)
{
	_ladder.punchFailed(error);
}


Ladder& Peer::ladder()
{
	return _ladder;
}


PeerHost& Peer::host()
{
	return _host;
}


void Peer::reportUnreachable(const std::string& why)
{
	_host.peerUnreachable(*this);
	if (_outbox.empty() || _unreachableReported)
	{
		logger().information("cannot reach %s: %s; retrying in the background", displayName(), why);
		return;
	}
	_unreachableReported = true;
	_host.peerError(*this, "cannot reach " + displayName() + ": " + why + "; "
		+ std::to_string(_outbox.size()) + " message(s) wait, retrying in the background");
}


// The relay's mailbox ----------------------------------------------------------------------


Peer::MailResult Peer::takeMail(const std::string& id, std::int64_t timestampMs, const std::string& text)
{
	if (_relation == Relation::BLOCKED)
	{
		_host.countStat(&ChatNodeStats::inputRefused);
		return MailResult::BLOCKED;
	}
	if (_seen.count(id) || _host.isDuplicate(*this, id))
	{
		_host.countStat(&ChatNodeStats::duplicatesDropped);
		return MailResult::DUPLICATE;
	}
	seen(id);
	touch();
	ChatMessage received;
	received.id = id;
	received.from = _id;
	received.name = _name;
	received.text = text;
	received.timestampMs = timestampMs;
	received.path = "mailbox";
	received.request = _relation == Relation::STRANGER;
	_host.messageReceived(*this, received);
	_host.countStat(&ChatNodeStats::messagesReceived);
	if (!_consented) setConsented(true);   // a peer writes only to its contacts
	return MailResult::KEPT;
}


bool Peer::acknowledgeByMail(const std::string& id)
{
	if (!_outbox.acknowledge(id)) return false;
	armReceiptWatchdog();
	return true;
}


bool Peer::dialedBySmallerId(const Session& session) const
{
	const PeerId& self = _host.selfId();
	const PeerId& dialer = session.outgoing() ? self : _id;
	const PeerId& other = session.outgoing() ? _id : self;
	return dialer < other;
}


void Peer::onSessionTlsReady(Session& session)
{
	if (session.peerId() != _id)
	{
		// A TLS server side of a punch learns the key only now: it must be this peer's.
		logger().warning("a session meant for %s presented the key of %s: closing it", displayName(), session.peerId().shortString());
		session.abort("unexpected peer");
	}
}


void Peer::onSessionEstablished(Session& session)
{
	auto it = _sessions.find(session.serial());
	if (it == _sessions.end()) return;
	Session::Ptr pSession = it->second;
	touch();
	if (!session.peerName().empty() && Text::isValidUtf8(session.peerName())) _name = session.peerName();
	if (_via.empty())
	{
		// First contact through a session (the peer dialed us): it is news, as a LAN find is.
		_via = session.outgoing() ? "static" : session.path() == Path::RELAY ? "relay" : "incoming";
		changed(ChatNode::PeerChange::FOUND);
	}
	_host.countStat(&ChatNodeStats::sessionsOpened);
	if (_ladder.owns(session)) _ladder.attemptEstablished(session);
	takeSession(pSession);
}


void Peer::takeSession(const Session::Ptr& pSession)
	/// The session rules (PROTOCOL.md, "One session per pair"): with two established sessions,
	/// (1) a direct one beats a relayed one — except that a relayed session the peer dialed
	/// while we hold a direct one replaces it (the peer dials only when it has no working
	/// session: its direct path is gone, so ours is dead too); (2) on the same path, between two
	/// sessions dialed by different sides the one dialed by the smaller ID wins; (3) between two
	/// dialed by the same side, the newer wins — as the dialer sees it: the dialer closes the
	/// older one; the other side keeps both (the newer in use) until the dialer's close arrives,
	/// so the two sides never keep different sessions when they saw two arrive in another order.
{
	Session& session = *pSession;
	if (_current && _current != pSession && _current->established())
	{
		const bool newDirect = session.path() == Path::DIRECT;
		const bool oldDirect = _current->path() == Path::DIRECT;
		const bool sameDialer = _current->outgoing() == session.outgoing();
		if (newDirect != oldDirect)
		{
			if (!newDirect && session.outgoing())
			{
				_host.countStat(&ChatNodeStats::duplicateSessions);
				session.close("a direct session exists");
				return;
			}
			if (newDirect) _host.countStat(&ChatNodeStats::upgrades);
			logger().information("session with %s moves from %s to %s", displayName(), std::string(pathName(_current->path())),
				std::string(pathName(session.path())));
			replaceCurrent(pSession, newDirect ? UPGRADE_REASON : "the peer lost the direct path");
			changed(ChatNode::PeerChange::PATH);
		}
		else if (sameDialer && !session.outgoing())
		{
			// The peer dialed both: it closes the one it does not keep; meanwhile the newer is in use.
			_host.countStat(&ChatNodeStats::duplicateSessions);
			_spares.push_back(_current);
			_current = pSession;
		}
		else if (sameDialer || dialedBySmallerId(session))
		{
			_host.countStat(&ChatNodeStats::duplicateSessions);
			replaceCurrent(pSession, "duplicate session");
		}
		else
		{
			_host.countStat(&ChatNodeStats::duplicateSessions);
			session.close("duplicate session");
			return;
		}
	}
	else
	{
		_current = pSession;
		_unreachableReported = false;
		if (_relation == Relation::CONTACT) _current->sendContact(true);
		if (_handoverTimer.active())
		{
			_handoverTimer.cancel();   // the session the peer moved to: a change of path only
			if (_lastPath && *_lastPath != session.path()) changed(ChatNode::PeerChange::PATH);
		}
		else
		{
			changed(ChatNode::PeerChange::CONNECTED);
			if (_lastPath && *_lastPath != session.path()) changed(ChatNode::PeerChange::PATH);   // e.g. fell back to the relay
		}
	}
	_lastPath = session.path();
	// Unacknowledged messages go again on the new session, in order, before any new one.
	flushOutbox();
	_ladder.established();
}


void Peer::replaceCurrent(const Session::Ptr& session, const char* reason)
	/// session becomes the one in use; the old one and every spare are closed.
{
	Session::Ptr old = _current;
	auto spares = std::move(_spares);
	_spares.clear();
	_current = session;
	if (old) old->close(reason);
	for (auto& spare: spares)
		if (spare != session) spare->close(reason);
}


void Peer::onSessionMessage(Session& session, const Message& message)
{
	if (_sessions.count(session.serial()) == 0 || !session.established()) return;
	touch();
	if (message.name == "text")
		onText(session, message);
	else if (message.name == "receipt")
		onReceipt(message);
	else if (message.name == "refuse")
		onRefuse(message);
	else if (message.name == "contact")
		setConsented(message.body->getValue<bool>("accepted"));
	else if (message.name == "name")
		onName(message.body->getValue<std::string>("name"));
	else
		_host.serviceMessage(*this, message);
}


void Peer::onSessionData(Session& session, std::uint8_t type, const std::string& body)
{
	if (_sessions.count(session.serial()) == 0 || !session.established()) return;
	touch();
	_host.serviceData(*this, type, body);
}


void Peer::onName(const std::string& name)
	/// The peer renamed itself (/nick). Bounded like a log line: a peer that renames itself
	/// in a loop costs a few events a minute, not a store write per frame.
{
	if (name == _name || name.empty()) return;
	if (!_renameThrottle.allow(_host.scheduler().now())) return;
	_name = name;
	changed(ChatNode::PeerChange::UPDATED);
}


void Peer::announceName(const std::string& name)
{
	if (!supports(SessionProtocol::CAP_NICK)) return;   // it learns the name from the next hello
	Poco::JSON::Object body;
	body.set("name", name);
	sendMessage("name", body);
}


void Peer::onSessionRefusedInput(Session&, const std::string& messageId, const std::string& problem)
{
	_host.countStat(&ChatNodeStats::inputRefused);
	if (_logThrottle.allow(_host.scheduler().now()))
	{
		logger().warning("skipped a malformed message from %s%s: %s (%Lu similar suppressed)", displayName(),
			messageId.empty() ? std::string() : " (refused " + Text::quoted(messageId, 64) + ")",
			Text::terminalSafe(problem, 200), static_cast<Poco::UInt64>(_logThrottle.takeSuppressed()));
	}
}


void Peer::onSessionClosed(Session& session, const std::string& reason)
{
	auto it = _sessions.find(session.serial());
	if (it == _sessions.end()) return;
	Session::Ptr pSession = it->second;
	_sessions.erase(it);
	pSession->setListener(nullptr);
	if (_ladder.owns(session))
	{
		_ladder.attemptEnded(session, reason);
		return;
	}
	_spares.erase(std::remove(_spares.begin(), _spares.end(), pSession), _spares.end());
	if (_current == pSession)
	{
		_current.reset();
		_receiptTimer.cancel();
		while (!_spares.empty())
		{
			// The peer dialed another session we kept: it is the one the peer kept.
			Session::Ptr spare = _spares.back();
			_spares.pop_back();
			if (!spare->established()) continue;
			_current = spare;
			_lastPath = spare->path();
			logger().debug("session with %s: going on with the other session the peer dialed", displayName());
			flushOutbox();
			_ladder.established();
			return;
		}
		if (reason.find(UPGRADE_REASON) != std::string::npos)
		{
			// The peer moved to a direct session that has not reached us yet (another
			// connection: its close may overtake the new session's hello). For a short while
			// this is a change of path, not a disconnection.
			logger().debug("session with %s: the peer moved to a direct path; waiting for it", displayName());
			std::weak_ptr<Peer> weak = weak_from_this();
			_handoverTimer = _host.scheduler().runAfter(HANDOVER_GRACE, [weak] {
				if (auto self = weak.lock()) self->handoverFailed();
			});
			return;
		}
		logger().information("session with %s closed%s", displayName(), reason.empty() ? std::string() : ": " + Text::terminalSafe(reason, 200));
		changed(ChatNode::PeerChange::DISCONNECTED);
		_ladder.lost();
	}
}


void Peer::handoverFailed()
{
	if (_current) return;
	logger().information("session with %s closed: the direct session the peer moved to never arrived", displayName());
	changed(ChatNode::PeerChange::DISCONNECTED);
	_ladder.lost();
}


} } // namespace CrossChat::Chat
