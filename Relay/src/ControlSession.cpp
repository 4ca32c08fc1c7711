//
// ControlSession.cpp
//
// Library: Relay
//


#include "ControlSession.h"
#include "ControlHub.h"
#include "RelayApi.h"
#include "RelayRequests.h"
#include "CrossChat/FoundationException.h"
#include "CrossChat/Relay/RelayProtocol.h"
#include <algorithm>


namespace CrossChat {
namespace Relay {


namespace {


constexpr std::size_t NONCE_BYTES = 32;


} // namespace


ControlSession::ControlSession(ServerContext& context, RelayLoop& relayLoop, const RelayStream::Ptr& pStream,
	ConnectionSlot slot, const Poco::Net::SocketAddress& observed, bool addressKnown):
	_context(context),
	_relayLoop(relayLoop),
	_pStream(pStream),
	_slot(std::move(slot)),
	_observed(observed),
	_addressKnown(addressKnown),
	_codec(MAX_FRAME_BODY),
	_started(context.now()),
	_lastHeard(_started),
	_punchRate(PUNCH_RATE, PUNCH_BURST, _started)
{
}


ControlSession::~ControlSession()
{
	try
	{
		leaveHub();
	}
	catch (...)
	{
		// Destructors never throw.
	}
}


std::shared_ptr<ControlSession> ControlSession::start(ServerContext& context, RelayLoop& relayLoop,
	const RelayStream::Ptr& pStream, ConnectionSlot slot, const Poco::Net::SocketAddress& observed,
	bool addressKnown, const std::string& leftover)
{
	std::shared_ptr<ControlSession> pSession(new ControlSession(context, relayLoop, pStream, std::move(slot), observed, addressKnown));
	pStream->setHighWaterMark(TcpConnection::DEFAULT_HIGH_WATER_MARK);
	pStream->setHandlers(
		[pSession](const char* data, std::size_t size) { pSession->onData(data, size); },
		[pSession](const std::string&) { pSession->ended(); },
		nullptr);
	relayLoop.add(pSession);
	context.metrics.controlAccepted++;
	if (!leftover.empty()) pSession->onData(leftover.data(), leftover.size());
	return pSession;
}


void ControlSession::onData(const char* data, std::size_t size)
{
	if (_state == State::CLOSED) return;
	_lastHeard = _context.now();
	try
	{
		_codec.feed(data, size);
		while (_state != State::CLOSED)
		{
			std::optional<Frame> frame = _codec.next();
			if (!frame) break;
			handle(*frame);
		}
	}
	catch (const Poco::Exception& exc)
	{
		fail(Rejection::CONTROL_PROTOCOL, "protocol", exc.message().empty() ? exc.displayText() : exc.message());
	}
}


void ControlSession::handle(const Frame& frame)
{
	const MessageCatalog& catalog = RelayProtocol::control();
	switch (_state)
	{
	case State::AWAIT_HELLO:
		if (frame.type != catalog.typeOf("hello")) throw BadRequestException("expected hello");
		handleHello(frame);
		break;
	case State::AWAIT_AUTH:
		if (frame.type != catalog.typeOf("auth")) throw BadRequestException("expected auth");
		handleAuth(frame);
		break;
	case State::ONLINE:
	{
		if (frame.type == catalog.typeOf("punch"))
		{
			handlePunch(frame);
			break;
		}
		const Message message = catalog.decode(frame);
		if (message.name == "ping")
		{
			Poco::JSON::Object pong;
			pong.set("n", message.body->getValue<std::int64_t>("n"));
			send("pong", pong);
		}
		else if (message.name != "pong")
		{
			throw BadRequestException("unexpected " + message.name);
		}
		break;
	}
	case State::CLOSED:
		break;
	}
}


void ControlSession::handleHello(const Frame& frame)
{
	const ControlHello hello = ControlHello::parse(frame.body);
	if (hello.version != RelayProtocol::VERSION)
	{
		fail(Rejection::CONTROL_PROTOCOL, "version", "unsupported version " + std::to_string(hello.version));
		return;
	}
	_key = hello.key;
	_nonce = randomHex(NONCE_BYTES);
	Poco::JSON::Object challenge;
	challenge.set("nonce", _nonce);
	// The client's reflexive address, only when the relay really sees it (not a proxy's).
	if (_addressKnown) challenge.set("observed", _observed.toString());
	send("challenge", challenge);
	_state = State::AWAIT_AUTH;
}


void ControlSession::handleAuth(const Frame& frame)
{
	const ControlAuth auth = ControlAuth::parse(frame.body);
	if (!_key->verify(RelayProtocol::controlSigningString(_nonce), auth.signature))
	{
		fail(Rejection::CONTROL_PROTOCOL, "auth_failed", "bad signature");
		return;
	}
	_state = State::ONLINE;
	_serial = _context.hub.nextSerial();
	ControlHub::Entry entry;
	entry.pLoop = &_relayLoop.loop();
	entry.session = shared_from_this();
	entry.publicKeyRaw = _key->raw();
	entry.observed = _observed;
	entry.serial = _serial;
	_context.hub.add(_key->peerId(), entry);
	_context.metrics.controlAuthenticated++;

	const RelayServerConfig& config = _context.config;
	Poco::JSON::Object welcome;
	welcome.set("id", _key->peerId().toString());
	welcome.set("ping_s", static_cast<std::int64_t>(config.controlKeepalive.count()));
	welcome.set("keepalive_s", static_cast<std::int64_t>(2 * config.controlKeepalive.count()));
	welcome.set("limits", tunnelLimitsJson(config, _context.limits));
	const bool natTraversal = _addressKnown && _context.probePort != 0;
	welcome.set("nat_traversal", natTraversal);
	if (natTraversal) welcome.set("probe_port", static_cast<int>(_context.probePort));
	send("welcome", welcome);
}


void ControlSession::tick(Clock::time_point now)
{
	switch (_state)
	{
	case State::AWAIT_HELLO:
	case State::AWAIT_AUTH:
		if (now - _started >= _context.config.controlHelloTimeout)
			fail(Rejection::CONTROL_TIMEOUT, "timeout", "no authentication in time");
		break;
	case State::ONLINE:
		if (now - _lastHeard >= SILENT_PERIODS * _context.config.controlKeepalive)
		{
			_context.metrics.reject(Rejection::CONTROL_TIMEOUT);
			if (_context.logger.debug())
				_context.logger.debug("control channel of %s silent for %u keepalive periods", _key->peerId().toString(), SILENT_PERIODS);
			_state = State::CLOSED;
			leaveHub();
			_pStream->abort("keepalive timeout");
		}
		break;
	case State::CLOSED:
		break;
	}
}


void ControlSession::sendInvite(const std::string& token, const PeerId& from, const std::string& name)
{
	if (_state != State::ONLINE) return;
	Poco::JSON::Object invite;
	invite.set("token", token);
	invite.set("from", from.toString());
	if (!name.empty()) invite.set("name", name);
	send("invite", invite);
	_context.metrics.invitesSent++;
}


ControlSession::PunchPartner* ControlSession::findPartner(const PeerId& peer)
{
	const auto it = std::find_if(_punchPartners.begin(), _punchPartners.end(), [&peer](const PunchPartner& p) { return p.peer == peer; });
	return it == _punchPartners.end() ? nullptr : &*it;
}


ControlSession::PunchPartner& ControlSession::partner(const PeerId& peer)
{
	if (PunchPartner* pPartner = findPartner(peer)) return *pPartner;
	if (_punchPartners.size() >= MAX_PUNCH_PARTNERS)
	{
		// Forget the partner heard from longest ago.
		const auto oldest = std::min_element(_punchPartners.begin(), _punchPartners.end(), [](const PunchPartner& a, const PunchPartner& b)
		{
			return std::max(a.offered, a.answered) < std::max(b.offered, b.answered);
		});
		_punchPartners.erase(oldest);
	}
	_punchPartners.push_back(PunchPartner{peer, {}, {}});
	return _punchPartners.back();
}


void ControlSession::handlePunch(const Frame& frame)
{
	const PunchMessage punch = PunchMessage::parse(frame.body);   // malformed: a protocol violation
	const PeerId self = _key->peerId();
	const auto now = _context.now();
	if (!_punchRate.tryTake(1, now))
	{
		_context.metrics.reject(Rejection::RATE_LIMITED);
		sendPunchError("rate_limited", "too many punch messages", punch.to);
		return;
	}
	if (punch.to == self)
	{
		_context.metrics.reject(Rejection::BAD_REQUEST);
		sendPunchError("bad_request", "cannot punch to yourself", punch.to);
		return;
	}
	if (!_addressKnown)
	{
		_context.metrics.reject(Rejection::UNAVAILABLE);
		sendPunchError("unavailable", "the relay cannot see your address (it is behind a proxy): use a tunnel", punch.to);
		return;
	}
	// Privacy: an answer goes only to whoever asked, a sync only to whoever answered.
	const PunchPartner* pPartner = findPartner(punch.to);
	const bool isAnswer = punch.phase == "connect" && punch.reply;
	if (isAnswer && (!pPartner || now - pPartner->offered > PUNCH_WINDOW))
	{
		_context.metrics.reject(Rejection::FORBIDDEN);
		sendPunchError("no_punch", "that peer has not asked to punch with you", punch.to);
		return;
	}
	if (punch.phase == "sync" && (!pPartner || now - pPartner->answered > PUNCH_WINDOW))
	{
		_context.metrics.reject(Rejection::FORBIDDEN);
		sendPunchError("no_punch", "that peer has not answered your punch", punch.to);
		return;
	}
	if (!_context.hub.punch(punch.to, self, punch, _observed))
	{
		_context.metrics.reject(Rejection::NOT_FOUND);
		sendPunchError("offline", "the peer is not online", punch.to);
		return;
	}
	_context.metrics.punchesForwarded++;
}


void ControlSession::sendPunchError(const std::string& code, const std::string& message, const PeerId& peer)
{
	Poco::JSON::Object error;
	error.set("code", code);
	error.set("message", message);
	error.set("peer", peer.toString());
	send("error", error);
}


void ControlSession::sendPunch(const PeerId& from, const PunchMessage& punch, const Poco::Net::SocketAddress& observed)
{
	if (_state != State::ONLINE) return;
	const auto now = _context.now();
	Poco::JSON::Object body = punch.forwardBody(from);
	if (punch.phase == "connect" && !punch.reply)
	{
		partner(from).offered = now;   // from asks us: we may answer within the window
	}
	else
	{
		// An answer (to our connect) or a sync (after our answer): both sides take part, so
		// each learns the other's address as the relay sees it.
		if (punch.phase == "connect") partner(from).answered = now;
		body.set("observed", observed.toString());
	}
	send("punch", body);
}


void ControlSession::replace()
{
	if (_state == State::CLOSED) return;
	_context.metrics.controlReplaced++;
	_serial = 0;   // the hub entry belongs to the new channel now
	Poco::JSON::Object error;
	error.set("code", "replaced");
	error.set("message", "another control channel authenticated with this key");
	send("error", error);
	_state = State::CLOSED;
	_pStream->close();
}


void ControlSession::drain()
{
	if (_state == State::CLOSED) return;
	Poco::JSON::Object error;
	error.set("code", "going_away");
	error.set("message", "the relay is shutting down; reconnect later or use another relay");
	error.set("retry_after_s", jitteredSeconds(std::chrono::seconds(60)));
	send("error", error);
	_state = State::CLOSED;
	leaveHub();
	_pStream->close();
}


void ControlSession::shutdown()
{
	_state = State::CLOSED;
	leaveHub();
	if (_pStream) _pStream->abort("relay stopping");
}


void ControlSession::send(const std::string& name, const Poco::JSON::Object& body)
{
	_pStream->send(RelayProtocol::control().encode(_codec, name, body));
}


void ControlSession::fail(Rejection reason, const std::string& code, const std::string& message)
{
	if (_state == State::CLOSED) return;
	_context.metrics.reject(reason);
	if (_context.logger.debug() && _context.logAllowed())
		_context.logger.debug("control channel from %s refused: %s (%s)", _observed.toString(), code, message);
	Poco::JSON::Object error;
	error.set("code", code);
	error.set("message", message.substr(0, 512));
	try
	{
		send("error", error);
	}
	catch (const Poco::Exception&)
	{
		// The error frame is a courtesy; the channel closes either way.
	}
	_state = State::CLOSED;
	leaveHub();
	_pStream->close();
}


void ControlSession::leaveHub()
{
	if (_key && _serial != 0)
	{
		_context.hub.remove(_key->peerId(), _serial);
		_serial = 0;
	}
}


void ControlSession::ended()
{
	_state = State::CLOSED;
	leaveHub();
	_slot.release();
	_relayLoop.remove(this);
}


} } // namespace CrossChat::Relay
