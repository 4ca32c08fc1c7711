//
// ChatSession.cpp
//
// Library: Chat
//


#include "ChatSession.h"
#include "CrossChat/Chat/SessionProtocol.h"
#include "CrossChat/FoundationException.h"
#include "CrossChat/MessageSchema.h"
#include "CrossChat/TcpConnection.h"
#include "CrossChat/Text.h"
#include "Poco/JSON/Array.h"
#include "Poco/Logger.h"
#include <algorithm>


namespace CrossChat {
namespace Chat {


namespace {


Poco::Logger& logger()
{
	return Poco::Logger::get("CrossChat.Chat");
}


} // namespace


const char* pathName(Path path)
{
	return path == Path::RELAY ? "relay" : "direct";
}


void Session::Listener::onSessionText(Session& session, std::string_view id, std::int64_t timestampMs, std::string_view text)
{
	Message message;
	message.type = SessionProtocol::catalog().typeOf("text");
	message.name = "text";
	message.body = new Poco::JSON::Object;
	message.body->set("id", std::string(id));
	message.body->set("ts", timestampMs);
	message.body->set("text", std::string(text));
	onSessionMessage(session, message);
}


void Session::Listener::onSessionReceipt(Session& session, std::string_view id)
{
	Message message;
	message.type = SessionProtocol::catalog().typeOf("receipt");
	message.name = "receipt";
	message.body = new Poco::JSON::Object;
	message.body->set("id", std::string(id));
	onSessionMessage(session, message);
}


ChatSession::Ptr ChatSession::create(const TlsChannel::Ptr& channel, bool outgoing, std::uint64_t serial, Listener* pListener, Options options)
{
	return Ptr(new ChatSession(channel, outgoing, serial, pListener, std::move(options)));
}


ChatSession::ChatSession(const TlsChannel::Ptr& channel, bool outgoing, std::uint64_t serial, Listener* pListener, Options options):
	_channel(channel),
	_pListener(pListener),
	_options(std::move(options)),
	_codec(SessionProtocol::MAX_FRAME_SIZE),
	_reader(*this),
	_outgoing(outgoing),
	_serial(serial),
	_lastReceived(std::chrono::steady_clock::now())
{
	try
	{
		_remote = _channel->connection()->peerAddress();
	}
	catch (const Poco::Exception&)
	{
		// not connected yet (an outgoing connection): set when TLS is up
	}
}


void ChatSession::start()
{
	std::weak_ptr<ChatSession> weak = shared_from_this();
	_channel->setReadyHandler([weak](const PeerId& peer, const PublicKey&) {
		if (auto self = weak.lock()) self->onTlsReady(peer);
	});
	_channel->setDataHandler([weak](const char* data, std::size_t size) {
		if (auto self = weak.lock()) self->onData(data, size);
	});
	_channel->setCloseHandler([weak](const std::string& reason) {
		if (auto self = weak.lock()) self->onClosed(reason);
	});
	// Bulk data (file transfers) waits for the connection to drain past DRAIN_MARK, so chat
	// frames never queue behind more than that much of it in our output buffer. The mark is
	// the TCP connection's at the bottom of the stack (under a relay tunnel reached over
	// https there is the relay's TlsChannel in between); its drain comes up through every
	// TlsChannel to ours.
	ByteStream* pStream = _channel->connection().get();
	for (int depth = 0; depth < 4; ++depth)
	{
		auto* pTls = dynamic_cast<TlsChannel*>(pStream);
		if (!pTls) break;
		pStream = pTls->connection().get();
	}
	if (auto* pTcp = dynamic_cast<TcpConnection*>(pStream)) pTcp->setHighWaterMark(DRAIN_MARK);
	_channel->setDrainHandler([weak] {
		auto self = weak.lock();
		if (!self || self->_closed || !self->_onDrain) return;
		DrainHandler handler = self->_onDrain;
		handler();
	});
	_handshakeTimer = _channel->connection()->loop().runAfter(_options.handshakeTimeout, [weak] {
		if (auto self = weak.lock())
		{
			if (!self->_reader.established()) self->_channel->abort("session handshake timed out");
		}
	});
}


void ChatSession::setListener(Listener* pListener)
{
	_pListener = pListener;
}


void ChatSession::onTlsReady(const PeerId& peer)
{
	_tlsReady = true;
	_peerId = peer;
	try
	{
		_remote = _channel->connection()->peerAddress();
	}
	catch (const Poco::Exception&)
	{
	}
	Poco::JSON::Object hello;
	hello.set("version", SessionProtocol::VERSION);
	hello.set("name", _options.localName);
	Poco::JSON::Array::Ptr pCaps = new Poco::JSON::Array;
	pCaps->add(std::string("refuse"));
	pCaps->add(std::string("contact"));
	if (_options.binaryText) pCaps->add(std::string(SessionProtocol::CAP_BINARY_TEXT));
	for (const std::string& cap: _options.caps) pCaps->add(cap);
	hello.set("caps", pCaps);
	send("hello", hello);
	if (_pListener) _pListener->onSessionTlsReady(*this);
}


void ChatSession::onData(const char* data, std::size_t size)
{
	_lastReceived = std::chrono::steady_clock::now();
	try
	{
		_reader.feed(data, size);
	}
	catch (const Poco::Exception& exc)
	{
		// The stream itself is broken (framing) or the handshake is: no way to go on.
		logger().warning("session with %s: protocol error, closing: %s", _peerId.shortString(), Text::terminalSafe(exc.message(), 200));
		close("protocol error: " + exc.message());
	}
}


void ChatSession::onHello(const std::string& name, const std::vector<std::string>& caps)
{
	_peerName = name;
	_peerCaps = caps;
	_binaryText = _options.binaryText && peerSupports(SessionProtocol::CAP_BINARY_TEXT);
	_handshakeTimer.cancel();
	std::weak_ptr<ChatSession> weak = shared_from_this();
	_keepaliveTimer = _channel->connection()->loop().runEvery(_options.keepaliveInterval, [weak] {
		if (auto self = weak.lock()) self->onKeepaliveTick();
	});
	if (_pListener) _pListener->onSessionEstablished(*this);
}


void ChatSession::onMessage(const Message& message)
{
	if (message.name == "ping")
	{
		Poco::JSON::Object pong;
		pong.set("n", message.body->getValue<Poco::Int64>("n"));
		send("pong", pong);
	}
	else if (message.name == "pong")
	{
		// Any received frame already refreshed _lastReceived.
	}
	else if (message.name == "close")
	{
		const std::string reason = message.body->optValue<std::string>("reason", "");
		logger().debug("session with %s closed by the peer: %s", _peerId.shortString(), Text::terminalSafe(reason, 256));
		_channel->close();
	}
	else if (_pListener)
	{
		_pListener->onSessionMessage(*this, message);
	}
}


void ChatSession::onRefused(const std::string& messageId, const char* code, const std::string& problem)
	/// A malformed message after the handshake: refused by id if it has a readable one (its
	/// sender stops resending it), else dropped. The session goes on.
{
	if (_logThrottle.allow(std::chrono::steady_clock::now()))
	{
		logger().warning("session with %s: skipping a malformed message: %s%s", _peerId.shortString(),
			Text::terminalSafe(problem, 200), std::string(messageId.empty() ? "" : "; refused"));
	}
	if (!messageId.empty()) sendRefusal(messageId, code, problem);
	if (_pListener) _pListener->onSessionRefusedInput(*this, messageId, problem);
}


void ChatSession::onText(std::string_view id, std::int64_t timestampMs, std::string_view text)
{
	if (_pListener) _pListener->onSessionText(*this, id, timestampMs, text);
}


void ChatSession::onReceipt(std::string_view id)
{
	if (_pListener) _pListener->onSessionReceipt(*this, id);
}


void ChatSession::onBinary(const Frame& frame)
{
	if (_pListener) _pListener->onSessionData(*this, frame.type, frame.body);
}


bool ChatSession::stopped() const
{
	return _closed;
}


void ChatSession::onKeepaliveTick()
{
	if (_closed) return;
	if (std::chrono::steady_clock::now() - _lastReceived > 3 * _options.keepaliveInterval)
	{
		_channel->abort("keepalive timeout: no data from the peer for " + std::to_string(3 * _options.keepaliveInterval.count()) + " ms");
		return;
	}
	Poco::JSON::Object ping;
	ping.set("n", ++_pingCounter);
	send("ping", ping);
}


void ChatSession::send(const std::string& name, const Poco::JSON::Object& body)
{
	if (_closed) return;
	flushPending();   // binary frames gathered before this message leave before it
	_channel->send(SessionProtocol::catalog().encode(_codec, name, body));
}


void ChatSession::sendText(const std::string& id, std::int64_t timestampMs, const std::string& text)
{
	if (_binaryText)
	{
		if (_closed) return;
		// Gathered with the iteration's other binary frames and handed to the channel at once
		// (a large batch straight from here into SSL_write, without a copy into its queue).
		SessionProtocol::encodeText(_codec, _pending, id, timestampMs, text);
		if (_pending.size() >= TlsChannel::COALESCE_LIMIT)
			flushPending();
		else
			scheduleFlush();
		return;
	}
	Poco::JSON::Object body;
	body.set("id", id);
	body.set("ts", timestampMs);
	body.set("text", text);
	send("text", body);
}


void ChatSession::sendReceipt(std::string_view id)
{
	if (_binaryText)
	{
		if (_closed) return;
		SessionProtocol::appendReceiptId(_receiptEntries, id);
		if (++_receiptCount == SessionProtocol::MAX_RECEIPTS_PER_FRAME)
			flushPending();
		else
			scheduleFlush();
		return;
	}
	Poco::JSON::Object body;
	body.set("id", std::string(id));
	send("receipt", body);
}


void ChatSession::scheduleFlush()
{
	if (_flushQueued) return;
	if (!_pFlush)
	{
		std::weak_ptr<ChatSession> weak = shared_from_this();
		_pFlush = std::make_shared<const EventLoop::Task>([weak] {
			if (auto self = weak.lock())
			{
				self->_flushQueued = false;
				self->flushPending();
			}
		});
	}
	_flushQueued = true;
	_channel->connection()->loop().runAtIterationEnd(_pFlush);
}


void ChatSession::flushPending()
{
	if (_receiptCount > 0)
	{
		SessionProtocol::encodeReceipts(_codec, _pending, _receiptCount, _receiptEntries);
		_receiptEntries.clear();
		_receiptCount = 0;
	}
	if (_pending.empty()) return;
	if (!_closed) _channel->send(_pending.data(), _pending.size());
	_pending.clear();
}


void ChatSession::sendRefusal(const std::string& id, const std::string& code, const std::string& reason)
{
	Poco::JSON::Object body;
	body.set("id", id);
	body.set("code", code);
	std::string safe = reason.substr(0, 256);
	if (!Text::isValidUtf8(safe)) safe = Text::terminalSafe(reason, 200);
	body.set("reason", safe);
	send("refuse", body);
}


void ChatSession::sendContact(bool accepted)
{
	Poco::JSON::Object body;
	body.set("accepted", accepted);
	send("contact", body);
}


void ChatSession::sendMessage(const std::string& name, const Poco::JSON::Object& body)
{
	send(name, body);
}


void ChatSession::sendData(std::uint8_t type, const std::string& body)
{
	if (_closed) return;
	std::string frame;
	frame.reserve(FrameCodec::HEADER_SIZE + body.size());
	_codec.encodeTo(frame, type, body);
	flushPending();
	_channel->send(frame);
}


std::size_t ChatSession::unsentBytes() const
{
	return _channel->connection()->bufferedAmount();
}


void ChatSession::setDrainHandler(DrainHandler handler)
{
	if (!_closed) _onDrain = std::move(handler);
}


bool ChatSession::peerSupports(const std::string& capability) const
{
	return std::find(_peerCaps.begin(), _peerCaps.end(), capability) != _peerCaps.end();
}


void ChatSession::close(const std::string& reason)
{
	if (_closed) return;
	flushPending();   // the texts and receipts gathered in this iteration still go out
	if (_tlsReady)
	{
		Poco::JSON::Object body;
		std::string safe = reason.substr(0, 256);
		if (!Text::isValidUtf8(safe)) safe = Text::terminalSafe(reason, 200);
		body.set("reason", safe);
		send("close", body);
	}
	_channel->close();
}


void ChatSession::abort(const std::string& reason)
{
	if (!_closed) _channel->abort(reason);
}


void ChatSession::detach()
{
	_pListener = nullptr;
	if (!_closed) _channel->abort("shutting down");
}


void ChatSession::onClosed(const std::string& reason)
{
	if (_closed) return;
	_closed = true;
	flushPending();   // closed: drops them
	_handshakeTimer.cancel();
	_keepaliveTimer.cancel();
	_onDrain = nullptr;
	if (_pListener) _pListener->onSessionClosed(*this, reason);
}


bool ChatSession::outgoing() const
{
	return _outgoing;
}


bool ChatSession::tlsReady() const
{
	return _tlsReady;
}


bool ChatSession::established() const
{
	return _reader.established() && !_closed;
}


bool ChatSession::closed() const
{
	return _closed;
}


std::uint64_t ChatSession::serial() const
{
	return _serial;
}


const PeerId& ChatSession::peerId() const
{
	return _peerId;
}


const std::string& ChatSession::peerName() const
{
	return _peerName;
}


Path ChatSession::path() const
{
	return _options.path;
}


Poco::Net::SocketAddress ChatSession::remoteAddress() const
{
	return _remote;
}


std::uint64_t ChatSession::skippedMessages() const
{
	return _reader.skipped();
}


bool ChatSession::binaryText() const
{
	return _binaryText;
}


} } // namespace CrossChat::Chat
