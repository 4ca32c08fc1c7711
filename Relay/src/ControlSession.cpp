//
// ControlSession.cpp
//
// Library: Relay
//


#include "ControlSession.h"
#include "ControlHub.h"
#include "RelayRequests.h"
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
	challenge.set("observed", _pConnection->peerAddress().toString());
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
	Poco::JSON::Object welcome;
	welcome.set("id", _key->peerId().toString());
	welcome.set("keepalive_s", static_cast<std::int64_t>(config.controlKeepalive.count()));
	welcome.set("limits", pLimits);
	if (_context.probePort != 0) welcome.set("probe_port", static_cast<int>(_context.probePort));
	send("welcome", welcome);

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
	Poco::JSON::Object ping;
	ping.set("n", ++_pingCounter);
	send("ping", ping);
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


void ControlSession::handlePunch(const Frame& frame)
{
	const PunchMessage punch = PunchMessage::parse(frame.body);   // malformed: a protocol violation
	const PeerId self = _key->peerId();
	if (!_punchRate.tryTake(1, _context.now()))
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
	if (!_context.hub.punch(punch.to, self, punch))
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


void ControlSession::sendPunch(const PeerId& from, const PunchMessage& punch)
{
	if (_state != State::ONLINE) return;
	send("punch", punch.forwardBody(from));
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


void ControlSession::send(const std::string& name, const Poco::JSON::Object& body)
{
	_pConnection->send(RelayProtocol::control().encode(_codec, name, body));
}


void ControlSession::fail(Rejection reason, const std::string& code, const std::string& message)
{
	if (_state == State::CLOSED) return;
	_context.metrics.reject(reason);
	_context.logger.debug("control channel from %s refused: %s (%s)", _pConnection->peerAddress().toString(), code, message);
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
