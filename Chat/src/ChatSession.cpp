//
// ChatSession.cpp
//
// Library: Chat
//


#include "ChatSession.h"
#include "CrossChat/Chat/SessionProtocol.h"
#include "CrossChat/FoundationException.h"
#include "CrossChat/MessageSchema.h"
#include "CrossChat/Text.h"
#include "Poco/JSON/Array.h"
#include "Poco/Logger.h"


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


ChatSession::Ptr ChatSession::create(const TlsChannel::Ptr& channel, bool outgoing, std::uint64_t serial, Listener* pListener, Options options)
{
	return Ptr(new ChatSession(channel, outgoing, serial, pListener, std::move(options)));
}


ChatSession::ChatSession(const TlsChannel::Ptr& channel, bool outgoing, std::uint64_t serial, Listener* pListener, Options options):
	_channel(channel),
	_pListener(pListener),
	_options(std::move(options)),
	_codec(SessionProtocol::MAX_FRAME_SIZE),
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
	_handshakeTimer = _channel->connection()->loop().runAfter(_options.handshakeTimeout, [weak] {
		if (auto self = weak.lock())
		{
			if (!self->_established) self->_channel->abort("session handshake timed out");
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
	hello.set("caps", pCaps);
	send("hello", hello);
	if (_pListener) _pListener->onSessionTlsReady(*this);
}


void ChatSession::onData(const char* data, std::size_t size)
{
	_lastReceived = std::chrono::steady_clock::now();
	try
	{
		_codec.feed(data, size);
		while (!_closed)
		{
			std::optional<Frame> frame = _codec.next();
			if (!frame) break;
			handle(*frame);
		}
	}
	catch (const Poco::Exception& exc)
	{
		// The stream itself is broken (framing) or the handshake is: no way to go on.
		logger().warning("session with %s: protocol error, closing: %s", _peerId.shortString(), Text::terminalSafe(exc.message(), 200));
		close("protocol error: " + exc.message());
	}
}


void ChatSession::handle(const Frame& frame)
{
	const MessageCatalog& catalog = SessionProtocol::catalog();
	if (!catalog.has(frame.type))
	{
		// A newer peer's message: skipped, so that the protocol can grow (see PROTOCOL.md).
		logger().debug("session with %s: skipping unknown message type %d", _peerId.shortString(), static_cast<int>(frame.type));
		return;
	}
	if (frame.type == catalog.typeOf("hello"))
	{
		handleHello(frame);
		return;
	}
	if (!_established) throw MessageException("message type " + std::to_string(frame.type) + " before hello");
	Message message;
	try
	{
		message = catalog.decode(frame);
	}
	catch (const MessageException& exc)
	{
		skip(frame, exc.message());
		return;
	}
	if (message.name == "text" && !Text::isValidUtf8(message.body->getValue<std::string>("text")))
	{
		++_skipped;
		const std::string id = message.body->getValue<std::string>("id");
		sendRefusal(id, SessionProtocol::REFUSE_INVALID_UTF8, "the text is not valid UTF-8");
		if (_pListener) _pListener->onSessionRefusedInput(*this, id, "the text is not valid UTF-8");
		return;
	}
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


void ChatSession::handleHello(const Frame& frame)
{
	if (_established) throw MessageException("second hello");
	const Message message = SessionProtocol::catalog().decode(frame);   // malformed: the handshake fails
	const std::string name = message.body->getValue<std::string>("name");
	if (!Text::isValidUtf8(name)) throw MessageException("hello: the name is not valid UTF-8");
	_peerName = name;
	_established = true;
	_handshakeTimer.cancel();
	std::weak_ptr<ChatSession> weak = shared_from_this();
	_keepaliveTimer = _channel->connection()->loop().runEvery(_options.keepaliveInterval, [weak] {
		if (auto self = weak.lock()) self->onKeepaliveTick();
	});
	if (_pListener) _pListener->onSessionEstablished(*this);
}


void ChatSession::skip(const Frame& frame, const std::string& problem)
	/// A malformed message after the handshake: a text message with a readable id is refused
	/// (its sender stops resending it); anything else is dropped. The session goes on.
{
	++_skipped;
	std::string id;
	const bool utf8 = Text::isValidUtf8(frame.body);
	if (frame.type == SessionProtocol::catalog().typeOf("text"))
	{
		try
		{
			// A lossy decode is enough to read the id of a text that is not UTF-8.
			const Poco::JSON::Object::Ptr pBody = MessageSchema::parseObject(utf8 ? frame.body : Text::replaceInvalidUtf8(frame.body));
			if (pBody->has("id") && pBody->get("id").isString())
			{
				id = pBody->getValue<std::string>("id");
				if (id.empty() || id.size() > SessionProtocol::MAX_MESSAGE_ID_SIZE || id.find("\xEF\xBF\xBD") != std::string::npos) id.clear();
			}
		}
		catch (const Poco::Exception&)
		{
			// not even JSON: nothing to refuse by id
		}
	}
	const char* code = utf8 ? SessionProtocol::REFUSE_MALFORMED : SessionProtocol::REFUSE_INVALID_UTF8;
	const std::string why = utf8 ? problem : "the message is not valid UTF-8";
	if (_logThrottle.allow(std::chrono::steady_clock::now()))
	{
		logger().warning("session with %s: skipping a malformed message (type %d, %z bytes): %s%s", _peerId.shortString(),
			static_cast<int>(frame.type), frame.body.size(), Text::terminalSafe(why, 200),
			std::string(id.empty() ? "" : "; refused"));
	}
	if (!id.empty()) sendRefusal(id, code, why);
	if (_pListener) _pListener->onSessionRefusedInput(*this, id, why);
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
	_channel->send(SessionProtocol::catalog().encode(_codec, name, body));
}


void ChatSession::sendText(const std::string& id, std::int64_t timestampMs, const std::string& text)
{
	Poco::JSON::Object body;
	body.set("id", id);
	body.set("ts", timestampMs);
	body.set("text", text);
	send("text", body);
}


void ChatSession::sendReceipt(const std::string& id)
{
	Poco::JSON::Object body;
	body.set("id", id);
	send("receipt", body);
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


void ChatSession::close(const std::string& reason)
{
	if (_closed) return;
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
	_handshakeTimer.cancel();
	_keepaliveTimer.cancel();
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
	return _established && !_closed;
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
	return _skipped;
}


} } // namespace CrossChat::Chat
