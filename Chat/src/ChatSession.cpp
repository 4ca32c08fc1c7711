//
// ChatSession.cpp
//
// Library: Chat
//


#include "ChatSession.h"
#include "CrossChat/Chat/SessionProtocol.h"
#include "CrossChat/FoundationException.h"
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


ChatSession::Ptr ChatSession::create(const TlsChannel::Ptr& channel, bool outgoing, std::uint64_t serial, Listener& listener, Options options)
{
	return Ptr(new ChatSession(channel, outgoing, serial, listener, std::move(options)));
}


ChatSession::ChatSession(const TlsChannel::Ptr& channel, bool outgoing, std::uint64_t serial, Listener& listener, Options options):
	_channel(channel),
	_pListener(&listener),
	_options(std::move(options)),
	_codec(SessionProtocol::MAX_FRAME_SIZE),
	_outgoing(outgoing),
	_serial(serial),
	_lastReceived(std::chrono::steady_clock::now())
{
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


void ChatSession::onTlsReady(const PeerId& peer)
{
	_tlsReady = true;
	_peerId = peer;
	Poco::JSON::Object hello;
	hello.set("version", SessionProtocol::VERSION);
	hello.set("name", _options.localName);
	hello.set("caps", Poco::JSON::Array());
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
			if (!SessionProtocol::catalog().has(frame->type))
			{
				// A newer peer's message: skipped, so that the protocol can grow (see PROTOCOL.md).
				logger().debug("session with %s: skipping unknown message type %d", _peerId.shortString(), static_cast<int>(frame->type));
				continue;
			}
			handle(SessionProtocol::catalog().decode(*frame));
		}
	}
	catch (const Poco::Exception& exc)
	{
		logger().warning("session with %s: protocol error, closing: %s", _peerId.shortString(), exc.message());
		close("protocol error: " + exc.message());
	}
}


void ChatSession::handle(const Message& message)
{
	if (message.name == "hello")
	{
		if (_established) throw MessageException("second hello");
		_peerName = message.body->getValue<std::string>("name");
		_established = true;
		_handshakeTimer.cancel();
		std::weak_ptr<ChatSession> weak = shared_from_this();
		_keepaliveTimer = _channel->connection()->loop().runEvery(_options.keepaliveInterval, [weak] {
			if (auto self = weak.lock()) self->onKeepaliveTick();
		});
		if (_pListener) _pListener->onSessionEstablished(*this);
	}
	else if (!_established)
	{
		throw MessageException("'" + message.name + "' before hello");
	}
	else if (message.name == "ping")
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
		logger().debug("session with %s closed by the peer: %s", _peerId.shortString(), reason);
		_channel->close();
	}
	else if (_pListener)
	{
		_pListener->onSessionMessage(*this, message);
	}
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


void ChatSession::close(const std::string& reason)
{
	if (_closed) return;
	if (_tlsReady)
	{
		Poco::JSON::Object body;
		body.set("reason", reason.substr(0, 256));
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


const std::string& ChatSession::path() const
{
	return _options.path;
}


Poco::Net::SocketAddress ChatSession::remoteAddress() const
{
	return _channel->connection()->peerAddress();
}


} } // namespace CrossChat::Chat
