//
// ControlSession.cpp
//
// Library: Relay
//


#include "ControlSession.h"
#include "ControlHub.h"
#include "HandleBook.h"
#include "Mailbox.h"
#include "TokenBook.h"
#include "RelayApi.h"
#include "RelayRequests.h"
#include "CrossChat/FoundationException.h"
#include "CrossChat/Relay/ControlMessages.h"
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
	bool addressKnown, const std::string& leftover, std::shared_ptr<const AccessToken> token)
{
	std::shared_ptr<ControlSession> pSession(new ControlSession(context, relayLoop, pStream, std::move(slot), observed, addressKnown));
	pSession->_token = std::move(token);
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
		if (frame.type == catalog.typeOf(ControlMailAck::NAME))
			handleMailAck(frame);
		else if (frame.type == catalog.typeOf(ControlMailFetch::NAME))
			handleMailFetch(frame);
		else if (frame.type == catalog.typeOf(ControlPing::NAME))
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
	// The client's reflexive address, only when the relay really sees it (not a proxy's).
	ControlChallenge challenge;
	challenge.nonce = _nonce;
	if (_addressKnown) challenge.observed = _observed;
	send(challenge);
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
	entry.token = _token ? _token->id : std::string();
	if (!_context.hub.add(_key->peerId(), entry, _token ? static_cast<std::size_t>(_token->maxPeers) : 0))
	{
		_serial = 0;
		fail(Rejection::QUOTA, "quota", "this access token's quota of peers online is used up");
		return;
	}
	_context.metrics.controlAuthenticated++;
	if (_context.pHandles) _context.pHandles->renew(_key->peerId(), ServerContext::wallMs());

	const RelayServerConfig& config = _context.config;
	ControlWelcome welcome;
	welcome.id = _key->peerId();
	welcome.pingInterval = config.controlKeepalive;
	welcome.keepalive = 2 * config.controlKeepalive;   // clients of the first version ping every keepalive / 2
	welcome.pLimits = tunnelLimitsJson(config, _context.limits);
	welcome.natTraversal = _addressKnown && _context.probePort != 0;
	if (*welcome.natTraversal) welcome.probePort = _context.probePort;
	if (_context.pMailbox) welcome.mailbox = true;
	send(welcome);
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


FrameCodec& ControlSession::sendCodec()
{
	static FrameCodec codec(RelayProtocol::CLIENT_CONTROL_FRAME);
	return codec;
}


void ControlSession::sendInvite(const std::string& token, const PeerId& from, const std::string& name)
{
	if (_state != State::ONLINE) return;
	send(ControlInvite{token, from, name});
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
	const PunchMessage punch = PunchMessage::parse(frame.body, PunchMessage::Direction::TO_RELAY);   // malformed: a protocol violation
	const PeerId self = _key->peerId();
	const auto now = _context.now();
	if (!_punchRate.tryTake(1, now))
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
	if (!_addressKnown)
	{
		_context.metrics.reject(Rejection::UNAVAILABLE);
		sendPunchError("unavailable", "the relay cannot see your address (it is behind a proxy): use a tunnel", punch.peer);
		return;
	}
	// Privacy: an answer goes only to whoever asked, a sync only to whoever answered.
	const PunchPartner* pPartner = findPartner(punch.peer);
	const bool isAnswer = punch.phase == PunchMessage::Phase::CONNECT && punch.reply;
	if (isAnswer && (!pPartner || now - pPartner->offered > PUNCH_WINDOW))
	{
		_context.metrics.reject(Rejection::FORBIDDEN);
		sendPunchError("no_punch", "that peer has not asked to punch with you", punch.peer);
		return;
	}
	if (punch.phase == PunchMessage::Phase::SYNC && (!pPartner || now - pPartner->answered > PUNCH_WINDOW))
	{
		_context.metrics.reject(Rejection::FORBIDDEN);
		sendPunchError("no_punch", "that peer has not answered your punch", punch.peer);
		return;
	}
	if (!_context.hub.punch(punch.peer, self, punch, _observed))
	{
		_context.metrics.reject(Rejection::NOT_FOUND);
		sendPunchError("offline", "the peer is not online", punch.peer);
		return;
	}
	_context.metrics.punchesForwarded++;
}


void ControlSession::sendPunchError(const std::string& code, const std::string& message, const PeerId& peer)
{
	send(ControlError{code, message, peer, std::nullopt});
}


void ControlSession::sendPunch(const PeerId& from, const PunchMessage& punch, const Poco::Net::SocketAddress& observed)
{
	if (_state != State::ONLINE) return;
	const auto now = _context.now();
	PunchMessage forwarded = punch;
	forwarded.peer = from;
	if (punch.phase == PunchMessage::Phase::CONNECT && !punch.reply)
	{
		partner(from).offered = now;   // from asks us: we may answer within the window
	}
	else
	{
		// An answer (to our connect) or a sync (after our answer): both sides take part, so
		// each learns the other's address as the relay sees it.
		if (punch.phase == PunchMessage::Phase::CONNECT) partner(from).answered = now;
		forwarded.observed = observed;
	}
	send(forwarded, PunchMessage::Direction::FROM_RELAY);
}


void ControlSession::replace()
{
	if (_state == State::CLOSED) return;
	_context.metrics.controlReplaced++;
	_serial = 0;   // the hub entry belongs to the new channel now
	send(ControlError{"replaced", "another control channel authenticated with this key", std::nullopt, std::nullopt});
	_state = State::CLOSED;
	_pStream->close();
}


void ControlSession::tokenEnded()
{
	if (_state == State::CLOSED) return;
	_context.metrics.reject(Rejection::ACCESS);
	send(ControlError{"token_revoked", "the access token of this channel has been revoked or has expired", std::nullopt, std::nullopt});
	_state = State::CLOSED;
	leaveHub();
	_pStream->close();
}


void ControlSession::handleMailFetch(const Frame& frame)
{
	const ControlMailFetch fetch = ControlMailFetch::parse(frame.body);
	_mailSubscribed = true;
	_mailWindow = static_cast<std::size_t>(fetch.window);
	pumpMail();
}


void ControlSession::handleMailAck(const Frame& frame)
{
	const ControlMailAck ack = ControlMailAck::parse(frame.body);
	const std::optional<std::string> id = Mailbox::parseHexId(ack.id);
	if (!id || !_context.pMailbox) return;
	_mailInFlight.erase(*id);
	// Only the recipient's own envelopes: an ID of someone else's acknowledges nothing.
	if (_context.pMailbox->acknowledge(_key->peerId(), *id)) _context.metrics.mailAcknowledged++;
	pumpMail();
}


void ControlSession::mailArrived()
{
	pumpMail();
}


void ControlSession::pumpMail()
	/// Sends the oldest envelopes not in flight, up to the window. One that cannot be read (being
	/// acknowledged, expired) is left for the next round: every acknowledgement and every new
	/// deposit pumps again.
{
	if (_state != State::ONLINE || !_mailSubscribed || !_context.pMailbox) return;
	if (_mailInFlight.size() >= _mailWindow) return;
	const std::int64_t nowMs = ServerContext::wallMs();
	for (const MailItem& item: _context.pMailbox->pending(_key->peerId(), _mailWindow - _mailInFlight.size(), _mailInFlight, nowMs))
	{
		const std::optional<std::string> envelope = _context.pMailbox->envelope(item);
		if (!envelope) continue;
		send(ControlMail{Mailbox::hexId(item.id), item.depositedMs, *envelope});
		_mailInFlight.insert(item.id);
		_context.metrics.mailDelivered++;
	}
}


void ControlSession::drain()
{
	if (_state == State::CLOSED) return;
	send(ControlError{"going_away", "the relay is shutting down; reconnect later or use another relay", std::nullopt,
		std::chrono::seconds(jitteredSeconds(std::chrono::seconds(60)))});
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


void ControlSession::fail(Rejection reason, const std::string& code, const std::string& message)
{
	if (_state == State::CLOSED) return;
	_context.metrics.reject(reason);
	if (_context.logger.debug() && _context.logAllowed())
		_context.logger.debug("control channel from %s refused: %s (%s)", _observed.toString(), code, message);
	try
	{
		send(ControlError{code, message, std::nullopt, std::nullopt});
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
