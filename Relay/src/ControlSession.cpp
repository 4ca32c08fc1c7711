//
// ControlSession.cpp
//
// Library: Relay
//


#include "ControlSession.h"
#include "ControlHub.h"
#include "RelayRequests.h"
#include "CrossChat/Relay/ControlMessages.h"
#include "CrossChat/FoundationException.h"
#include "CrossChat/Relay/RelayProtocol.h"


namespace CrossChat {
namespace Relay {


namespace {


constexpr std::size_t NONCE_BYTES = 32;


} // namespace


ControlSession::ControlSession(ServerContext& context, RelayLoop& relayLoop, ConnectionSlot slot):
	_context(context),
	_relayLoop(relayLoop),
	_slot(std::move(slot)),
	_codec(MAX_FRAME_BODY),
	_lastHeard(context.now()),
	_punchRate(PUNCH_RATE, PUNCH_BURST, context.now())
{
}


ControlSession::~ControlSession()
{
	if (_key && _serial != 0) _context.hub.remove(_key->peerId(), _serial);
}


std::shared_ptr<ControlSession> ControlSession::start(ServerContext& context, RelayLoop& relayLoop,
	const Poco::Net::StreamSocket& socket, ConnectionSlot slot)
{
	std::shared_ptr<ControlSession> pSession(new ControlSession(context, relayLoop, std::move(slot)));
	pSession->_pConnection = TcpConnection::adopt(relayLoop.loop(), socket);
	std::weak_ptr<ControlSession> pWeak = pSession;
	pSession->_pConnection->setDataHandler([pSession](const char* data, std::size_t size)
	{
		pSession->onData(data, size);
	});
	pSession->_pConnection->setCloseHandler([pSession](const std::string&)
	{
		pSession->ended();
	});
	pSession->_helloTimer = relayLoop.loop().runAfter(context.config.controlHelloTimeout, [pWeak]
	{
		auto pSelf = pWeak.lock();
		if (pSelf && pSelf->_state != State::ONLINE && pSelf->_state != State::CLOSED)
			pSelf->fail(Rejection::CONTROL_TIMEOUT, "timeout", "no authentication in time");
	});
	relayLoop.add(pSession);
	context.metrics.controlAccepted++;
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
		if (frame.type == catalog.typeOf(ControlPing::NAME))
			send(ControlPong{ControlPing::parse(frame.body).n});
		else if (frame.type == catalog.typeOf(ControlPong::NAME))
			ControlPong::parse(frame.body);
		else
			throw BadRequestException("unexpected " + catalog.decode(frame).name);
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
	send(ControlChallenge{_nonce, _pConnection->peerAddress()});
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
	_helloTimer.cancel();
	_state = State::ONLINE;
	_serial = _context.hub.nextSerial();
	ControlHub::Entry entry;
	entry.pLoop = &_relayLoop.loop();
	entry.session = shared_from_this();
	entry.publicKeyRaw = _key->raw();
	entry.observed = _pConnection->peerAddress();
	entry.serial = _serial;
	_context.hub.add(_key->peerId(), entry);
	_context.metrics.controlAuthenticated++;

	const RelayServerConfig& config = _context.config;
	Poco::JSON::Object::Ptr pLimits = new Poco::JSON::Object;
	pLimits->set("tunnel_rate_bps", static_cast<Poco::UInt64>(config.tunnelRateBytesPerSecond));
	pLimits->set("global_rate_bps", static_cast<Poco::UInt64>(config.globalRateBytesPerSecond));
	pLimits->set("max_tunnels", config.maxTunnels);
	pLimits->set("tunnel_idle_s", static_cast<std::int64_t>(config.tunnelIdleTimeout.count()));
	pLimits->set("tunnel_join_s", static_cast<std::int64_t>(config.tunnelJoinTimeout.count()));
	ControlWelcome welcome;
	welcome.id = _key->peerId();
	welcome.keepalive = config.controlKeepalive;
	welcome.pLimits = pLimits;
	if (_context.probePort != 0) welcome.probePort = _context.probePort;
	send(welcome);

	std::weak_ptr<ControlSession> pWeak = shared_from_this();
	_keepaliveTimer = _relayLoop.loop().runEvery(config.controlKeepalive, [pWeak]
	{
		if (auto pSelf = pWeak.lock()) pSelf->keepalive();
	});
}


void ControlSession::keepalive()
{
	if (_state != State::ONLINE) return;
	if (_context.now() - _lastHeard >= 3 * _context.config.controlKeepalive)
	{
		_context.metrics.reject(Rejection::CONTROL_TIMEOUT);
		_context.logger.debug("control channel of %s silent for 3 keepalive periods", _key->peerId().toString());
		_state = State::CLOSED;
		_keepaliveTimer.cancel();
		_pConnection->abort("keepalive timeout");
		return;
	}
	send(ControlPing{++_pingCounter});
}


void ControlSession::sendInvite(const std::string& token, const PeerId& from, const std::string& name)
{
	if (_state != State::ONLINE) return;
	send(ControlInvite{token, from, name});
	_context.metrics.invitesSent++;
}


void ControlSession::handlePunch(const Frame& frame)
{
	const PunchMessage punch = PunchMessage::parse(frame.body, PunchMessage::Direction::TO_RELAY);   // malformed: a protocol violation
	const PeerId self = _key->peerId();
	if (!_punchRate.tryTake(1, _context.now()))
	{
		_context.metrics.reject(Rejection::RATE_LIMITED);
		sendPunchError("rate_limited", "too many punch messages", punch.peer);
		return;
	}
	if (punch.peer == self)
	{
		_context.metrics.reject(Rejection::BAD_REQUEST);
		sendPunchError("bad_request", "cannot punch to yourself", punch.peer);
		return;
	}
	if (!_context.hub.punch(punch.peer, self, punch))
	{
		_context.metrics.reject(Rejection::NOT_FOUND);
		sendPunchError("offline", "the peer is not online", punch.peer);
		return;
	}
	_context.metrics.punchesForwarded++;
}


void ControlSession::sendPunchError(const std::string& code, const std::string& message, const PeerId& peer)
{
	send(ControlError{code, message, peer});
}


void ControlSession::sendPunch(const PeerId& from, const PunchMessage& punch)
{
	if (_state != State::ONLINE) return;
	PunchMessage forwarded = punch;
	forwarded.peer = from;
	send(forwarded, PunchMessage::Direction::FROM_RELAY);
}


void ControlSession::replace()
{
	if (_state == State::CLOSED) return;
	_context.metrics.controlReplaced++;
	_serial = 0;   // the hub entry belongs to the new channel now
	send(ControlError{"replaced", "another control channel authenticated with this key", std::nullopt});
	_state = State::CLOSED;
	_helloTimer.cancel();
	_keepaliveTimer.cancel();
	_pConnection->close();
}


void ControlSession::shutdown()
{
	_state = State::CLOSED;
	_helloTimer.cancel();
	_keepaliveTimer.cancel();
	if (_pConnection) _pConnection->abort("relay stopping");
}





void ControlSession::fail(Rejection reason, const std::string& code, const std::string& message)
{
	if (_state == State::CLOSED) return;
	_context.metrics.reject(reason);
	_context.logger.debug("control channel from %s refused: %s (%s)", _pConnection->peerAddress().toString(), code, message);
	try
	{
		send(ControlError{code, message, std::nullopt});
	}
	catch (const Poco::Exception&)
	{
		// The error frame is a courtesy; the channel closes either way.
	}
	_state = State::CLOSED;
	_helloTimer.cancel();
	_keepaliveTimer.cancel();
	if (_key && _serial != 0)
	{
		_context.hub.remove(_key->peerId(), _serial);
		_serial = 0;
	}
	_pConnection->close();
}


void ControlSession::ended()
{
	_state = State::CLOSED;
	_helloTimer.cancel();
	_keepaliveTimer.cancel();
	if (_key && _serial != 0)
	{
		_context.hub.remove(_key->peerId(), _serial);
		_serial = 0;
	}
	_relayLoop.remove(this);
}


} } // namespace CrossChat::Relay
