//
// FakeSession.cpp
//
// testsuite: a Session without sockets or TLS.
//


#include "FakeSession.h"
#include <algorithm>
#include <sstream>
#include "CrossChat/Chat/SessionProtocol.h"
#include "CrossChat/FrameCodec.h"
#include "Poco/Exception.h"


namespace CrossChat {
namespace Test {


FakeSession::Ptr FakeSession::create(ManualScheduler& scheduler, std::uint64_t serial, bool outgoing, Chat::Path path,
	const Poco::Net::SocketAddress& remote, Listener* pListener)
{
	return Ptr(new FakeSession(scheduler, serial, outgoing, path, remote, pListener));
}


FakeSession::FakeSession(ManualScheduler& scheduler, std::uint64_t serial, bool outgoing, Chat::Path path,
	const Poco::Net::SocketAddress& remote, Listener* pListener):
	_scheduler(scheduler),
	_serial(serial),
	_outgoing(outgoing),
	_path(path),
	_remote(remote),
	_pListener(pListener)
{
}


// Driven by the test -----------------------------------------------------------------------


void FakeSession::tlsReady(const PeerId& presented)
{
	if (_closed) throw Poco::IllegalStateException("tlsReady() on a closed fake session");
	if (_tlsReady) return;
	_tlsReady = true;
	_peerId = presented;
	if (_pListener) _pListener->onSessionTlsReady(*this);
}


void FakeSession::establish(const PeerId& presented, const std::string& name)
{
	if (_closed) throw Poco::IllegalStateException("establish() on a closed fake session");
	tlsReady(presented);
	if (_closed || _ending) return;   // the listener refused the key
	_peerName = name;
	_established = true;
	if (_pListener) _pListener->onSessionEstablished(*this);
}


void FakeSession::deliver(const std::string& name, const Poco::JSON::Object& body)
{
	if (!established()) throw Poco::IllegalStateException("a message on a fake session that is not established");
	// Through the real catalog both ways: only what a real session would pass on arrives.
	const MessageCatalog& catalog = Chat::SessionProtocol::catalog();
	FrameCodec codec(Chat::SessionProtocol::MAX_FRAME_SIZE);
	const std::string wire = catalog.encode(codec, name, body);
	codec.feed(wire.data(), wire.size());
	const std::optional<Frame> frame = codec.next();
	if (!frame) throw Poco::IllegalStateException("the codec returned no frame");
	const Message message = catalog.decode(*frame);
	if (_pListener) _pListener->onSessionMessage(*this, message);
}


void FakeSession::deliverText(const std::string& id, const std::string& text, std::int64_t timestampMs)
{
	Poco::JSON::Object body;
	body.set("id", id);
	body.set("ts", timestampMs);
	body.set("text", text);
	deliver("text", body);
}


void FakeSession::deliverReceipt(const std::string& id)
{
	Poco::JSON::Object body;
	body.set("id", id);
	deliver("receipt", body);
}


void FakeSession::deliverRefusal(const std::string& id, const std::string& code, const std::string& reason)
{
	Poco::JSON::Object body;
	body.set("id", id);
	body.set("code", code);
	body.set("reason", reason);
	deliver("refuse", body);
}


void FakeSession::deliverContact(bool accepted)
{
	Poco::JSON::Object body;
	body.set("accepted", accepted);
	deliver("contact", body);
}


void FakeSession::refuse(const std::string& reason)
{
	ended(reason);
}


void FakeSession::closeByPeer(const std::string& reason)
{
	ended(reason);
}


void FakeSession::forwardTo(const Ptr& mirror)
{
	_forward = mirror;
}


void FakeSession::deliverData(std::uint8_t type, const std::string& body)
{
	if (!established()) throw Poco::IllegalStateException("data on a fake session that is not established");
	if (_pListener) _pListener->onSessionData(*this, type, body);
}


void FakeSession::deliverMessage(const std::string& name, const Poco::JSON::Object& body)
{
	deliver(name, body);
}


void FakeSession::setUnsent(std::size_t bytes)
{
	_unsent = bytes;
}


void FakeSession::drain()
{
	_unsent = 0;
	if (_onDrain && !_closed)
	{
		DrainHandler handler = _onDrain;
		handler();
	}
}


void FakeSession::sendData(std::uint8_t type, const std::string& body)
{
	if (_closed) return;
	if (!Chat::SessionProtocol::isBinary(type)) throw Poco::InvalidArgumentException("sendData() of a JSON message type");
	_data.emplace_back(type, body);
	if (auto mirror = _forward.lock())
	{
		std::string wire = body;
		if (dataHook) dataHook(type, wire);
		std::weak_ptr<FakeSession> weak = mirror;
		_scheduler.post([weak, type, wire] {
			auto target = weak.lock();
			if (target && target->established()) target->deliverData(type, wire);
		});
	}
}


std::size_t FakeSession::unsentBytes() const
{
	return _unsent;
}


void FakeSession::setDrainHandler(DrainHandler handler)
{
	_onDrain = std::move(handler);
}


const std::vector<std::pair<std::uint8_t, std::string>>& FakeSession::dataSent() const
{
	return _data;
}


void FakeSession::link(const Ptr& mirror)
{
	_mirror = mirror;
	mirror->_mirror = shared_from_this();
}


void FakeSession::ended(const std::string& reason)
{
	if (_closed) return;
	_closed = true;
	Ptr self = shared_from_this();   // the listener may drop its last reference
	if (_pListener) _pListener->onSessionClosed(*this, reason);
	if (Ptr mirror = _mirror.lock()) mirror->endLater(reason.empty() ? "closed by the other end" : reason);
}


void FakeSession::endLater(const std::string& reason)
	/// As a real session: the end is reported from the loop, never from inside the call.
{
	if (_closed || _ending) return;
	_ending = true;
	std::weak_ptr<FakeSession> weak = shared_from_this();
	_scheduler.post([weak, reason] {
		if (Ptr self = weak.lock()) self->ended(reason);
	});
}


// Recorded ---------------------------------------------------------------------------------


const std::vector<FakeSession::Text>& FakeSession::texts() const
{
	return _texts;
}


std::vector<std::string> FakeSession::textIds() const
{
	std::vector<std::string> ids;
	for (const Text& text: _texts) ids.push_back(text.id);
	return ids;
}


const std::vector<std::string>& FakeSession::receipts() const
{
	return _receipts;
}


const std::vector<FakeSession::Refusal>& FakeSession::refusals() const
{
	return _refusals;
}


const std::vector<bool>& FakeSession::contacts() const
{
	return _contacts;
}


const std::optional<std::string>& FakeSession::closedWith() const
{
	return _closedWith;
}


const std::optional<std::string>& FakeSession::abortedWith() const
{
	return _abortedWith;
}


bool FakeSession::endedByUs() const
{
	return _closedWith || _abortedWith || _detached;
}


bool FakeSession::detached() const
{
	return _detached;
}


Chat::Session::Listener* FakeSession::listener() const
{
	return _pListener;
}


// Session ----------------------------------------------------------------------------------


void FakeSession::setListener(Listener* pListener)
{
	_pListener = pListener;
}


void FakeSession::sendText(const std::string& id, std::int64_t timestampMs, const std::string& text)
{
	if (!_established || _closed) throw Poco::IllegalStateException("sendText() on a fake session that is not established");
	_texts.push_back(Text{id, timestampMs, text});
}


void FakeSession::sendReceipt(std::string_view id)
{
	_receipts.emplace_back(id);
}


void FakeSession::sendRefusal(const std::string& id, const std::string& code, const std::string& reason)
{
	_refusals.push_back(Refusal{id, code, reason});
}


void FakeSession::sendContact(bool accepted)
{
	_contacts.push_back(accepted);
}


void FakeSession::sendMessage(const std::string& name, const Poco::JSON::Object& body)
{
	if (_closed) return;
	Chat::SessionProtocol::catalog().typeOf(name);   // throws for an undeclared message, as the real session does
	std::ostringstream json;
	body.stringify(json);
	_messages.emplace_back(name, json.str());
	if (auto mirror = _forward.lock())
	{
		// Encoded and decoded through the real catalog, as the network would carry it.
		const MessageCatalog& catalog = Chat::SessionProtocol::catalog();
		FrameCodec codec(Chat::SessionProtocol::MAX_FRAME_SIZE);
		const std::string wire = catalog.encode(codec, name, body);
		std::weak_ptr<FakeSession> weak = mirror;
		_scheduler.post([weak, wire] {
			auto target = weak.lock();
			if (!target || !target->established()) return;
			FrameCodec decoder(Chat::SessionProtocol::MAX_FRAME_SIZE);
			decoder.feed(wire.data(), wire.size());
			const std::optional<Frame> frame = decoder.next();
			if (frame && target->_pListener)
				target->_pListener->onSessionMessage(*target, Chat::SessionProtocol::catalog().decode(*frame));
		});
	}
}


bool FakeSession::peerSupports(const std::string& capability) const
{
	return std::find(_peerCaps.begin(), _peerCaps.end(), capability) != _peerCaps.end();
}


void FakeSession::setPeerCaps(std::vector<std::string> caps)
{
	_peerCaps = std::move(caps);
}


const std::vector<std::pair<std::string, std::string>>& FakeSession::messagesSent() const
{
	return _messages;
}


void FakeSession::close(const std::string& reason)
{
	if (_closed) return;
	if (!_closedWith && !_abortedWith) _closedWith = reason;
	endLater(reason);
}


void FakeSession::abort(const std::string& reason)
{
	if (_closed) return;
	if (!_closedWith && !_abortedWith) _abortedWith = reason;
	endLater(reason);
}


void FakeSession::detach()
{
	_pListener = nullptr;
	_detached = true;
	if (!_closed) endLater("shutting down");
}


bool FakeSession::outgoing() const
{
	return _outgoing;
}


bool FakeSession::tlsReady() const
{
	return _tlsReady;
}


bool FakeSession::established() const
{
	return _established && !_closed;
}


bool FakeSession::closed() const
{
	return _closed;
}


std::uint64_t FakeSession::serial() const
{
	return _serial;
}


const PeerId& FakeSession::peerId() const
{
	return _peerId;
}


const std::string& FakeSession::peerName() const
{
	return _peerName;
}


Chat::Path FakeSession::path() const
{
	return _path;
}


Poco::Net::SocketAddress FakeSession::remoteAddress() const
{
	return _remote;
}


} } // namespace CrossChat::Test
