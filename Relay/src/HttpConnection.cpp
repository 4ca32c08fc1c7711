//
// HttpConnection.cpp
//
// Library: Relay
//


#include "HttpConnection.h"
#include "ControlSession.h"
#include "ProxyProtocol.h"
#include "RelayApi.h"
#include "RelayMetrics.h"
#include "RelayRequests.h"
#include "TunnelSession.h"
#include "Poco/DateTimeFormat.h"
#include "Poco/DateTimeFormatter.h"
#include "Poco/Net/HTTPResponse.h"
#include "Poco/Timestamp.h"
#include <ctime>
#include <sstream>


#ifndef CROSSCHAT_RELAY_VERSION
#define CROSSCHAT_RELAY_VERSION "0.0.0"
#endif


namespace CrossChat {
namespace Relay {


namespace {


using Poco::Net::HTTPResponse;

const char* const SERVER = "crosschat-relay/" CROSSCHAT_RELAY_VERSION;


const std::string& httpDate()
	/// The Date header, formatted once per second per thread.
{
	thread_local std::time_t formattedAt = 0;
	thread_local std::string text;
	const std::time_t now = std::time(nullptr);
	if (now != formattedAt)
	{
		formattedAt = now;
		text = Poco::DateTimeFormatter::format(Poco::Timestamp::fromEpochTime(now), Poco::DateTimeFormat::HTTP_FORMAT);
	}
	return text;
}


bool noBodyStatus(int status)
{
	return status < 200 || status == HTTPResponse::HTTP_NO_CONTENT || status == HTTPResponse::HTTP_NOT_MODIFIED;
}


} // namespace


HttpConnection::HttpConnection(ServerContext& context, RelayLoop& relayLoop, const RelayStream::Ptr& pStream,
	const Poco::Net::SocketAddress& peer, const Poco::Net::SocketAddress& client, AddressOrigin origin,
	bool trustedPeer, ConnectionSlot slot):
	_context(context),
	_relayLoop(relayLoop),
	_pStream(pStream),
	_slot(std::move(slot)),
	_peer(peer),
	_client(client),
	_origin(origin),
	_trustedPeer(trustedPeer),
	_reader(context.config.maxHeaderSize, context.config.maxBodySize, context.config.maxEnvelopeSize)
{
}


HttpConnection::~HttpConnection() = default;


void HttpConnection::start(ServerContext& context, RelayLoop& relayLoop, const RelayStream::Ptr& pStream,
	const Poco::Net::SocketAddress& peer, const Poco::Net::SocketAddress& client, AddressOrigin origin,
	bool trustedPeer, ConnectionSlot slot, const std::string& initialBytes)
{
	std::shared_ptr<HttpConnection> pSelf(new HttpConnection(context, relayLoop, pStream, peer, client, origin, trustedPeer,
		std::move(slot)));
	pSelf->_state = State::IDLE;
	pSelf->_deadline = context.now() + context.config.firstByteTimeout;
	pStream->setHighWaterMark(OUTPUT_LIMIT);
	pStream->setHandlers(
		[pSelf](const char* data, std::size_t size) { pSelf->onData(data, size); },
		[pSelf](const std::string&) { pSelf->onClosed(); },
		[pSelf] { pSelf->onDrain(); });
	relayLoop.add(pSelf);
	if (!initialBytes.empty()) pSelf->onData(initialBytes.data(), initialBytes.size());
}


void HttpConnection::onData(const char* data, std::size_t size)
{
	if (_state == State::CLOSING || _state == State::CLOSED || _state == State::UPGRADED) return;
	if (_state == State::WAITING)
	{
		_buffer.append(data, size);   // read before reading paused; taken after the answer
		return;
	}
	if (_state == State::IDLE && _buffer.empty())
	{
		_state = State::REQUEST;
		_deadline = _context.now() + _context.config.requestTimeout;
	}
	_buffer.append(data, size);
	process();
}


void HttpConnection::onDrain()
{
	if (!_outputPaused) return;
	_outputPaused = false;
	if (_state == State::CLOSING || _state == State::CLOSED || _state == State::UPGRADED || _state == State::WAITING) return;
	_pStream->resumeReading();
	process();
}


void HttpConnection::onClosed()
{
	_state = State::CLOSED;
	_slot.release();
	_relayLoop.remove(this);
}


void HttpConnection::process()
{
	if (_processing) return;   // respond() may drain synchronously; the outer loop carries on
	_processing = true;
	while (!_outputPaused)
	{
		if (_state == State::IDLE)
		{
			if (_buffer.empty()) break;
			_state = State::REQUEST;
			_deadline = _context.now() + _context.config.requestTimeout;
		}
		if (_state == State::REQUEST)
		{
			const HttpRequestReader::Status status = _reader.next(_buffer);
			if (status == HttpRequestReader::Status::NEED_MORE)
			{
				if (_reader.takeContinue()) _pStream->send(std::string("HTTP/1.1 100 Continue\r\n\r\n"));
				break;
			}
			if (status == HttpRequestReader::Status::ERROR)
			{
				fail(_reader.errorStatus(), _reader.errorCode(), _reader.errorMessage());
				break;
			}
			dispatch(_reader.request(), _reader.body());
			continue;
		}
		break;   // CLOSING, UPGRADED, CLOSED
	}
	_processing = false;
}


void HttpConnection::dispatch(const Poco::Net::HTTPRequest& request, const std::string& body)
{
	ApiRequest apiRequest{request, body, _client, _origin, SourceKey(), _pStream->secure(), nullptr};
	if (_trustedPeer && _origin == AddressOrigin::DIRECT && !_context.config.proxyProtocol)
	{
		// A proxy that sends no PROXY header names the client in X-Forwarded-For (per request:
		// a proxy may carry several clients' requests on one connection).
		std::string forwarded;
		for (auto it = request.find("X-Forwarded-For"); it != request.end() && Poco::icompare(it->first, "X-Forwarded-For") == 0; ++it)
		{
			if (!forwarded.empty()) forwarded += ',';
			forwarded += it->second;
		}
		bool found = false;
		const Poco::Net::IPAddress client = _context.trustedProxies.clientFromForwardedFor(forwarded, _peer.host(), found);
		apiRequest.client = Poco::Net::SocketAddress(client, 0);
		apiRequest.origin = found ? AddressOrigin::FORWARDED_FOR : AddressOrigin::HIDDEN;
		if (!found) apiRequest.client = _peer;
	}
	apiRequest.source = SourceKey::of(apiRequest.client.host());
	_requestClient = apiRequest.client;
	_requestOrigin = apiRequest.origin;
	ApiReply reply;
	_context.pApi->handle(apiRequest, reply);
	const bool keepAlive = request.getKeepAlive();
	if (reply.commit)
	{
		const std::optional<bool> outcome = reply.commit->outcome();
		if (!outcome)
		{
			// Answered once the write is durable (or has failed): from the store's thread the
			// outcome is posted to this loop; a connection gone meanwhile is not called.
			_state = State::WAITING;
			_deadline = _context.now() + _context.config.requestTimeout;
			_waitingKeepAlive = keepAlive;
			const std::uint64_t wait = ++_wait;
			CommitTicket::Ptr ticket = reply.commit;
			_waiting = std::move(reply);
			_pStream->pauseReading();
			std::weak_ptr<HttpConnection> weak = shared_from_this();
			EventLoop& loop = _relayLoop.loop();
			ticket->then([weak, wait, &loop](bool ok) {
				loop.post([weak, wait, ok] {
					if (auto self = weak.lock()) self->committed(wait, ok);
				});
			});
			return;
		}
		if (!*outcome)
		{
			_context.metrics.reject(Rejection::STORAGE);
			RelayApi::storageFailed(reply);
		}
	}
	_state = State::IDLE;
	_deadline = _context.now() + _context.config.keepAliveTimeout;
	respond(reply, keepAlive);
}


void HttpConnection::committed(std::uint64_t wait, bool ok)
{
	if (_state != State::WAITING || wait != _wait) return;   // answered already (timeout), or closed
	ApiReply reply = std::move(_waiting);
	_waiting = ApiReply();
	if (!ok)
	{
		_context.metrics.reject(Rejection::STORAGE);
		RelayApi::storageFailed(reply);
	}
	_state = State::IDLE;
	_deadline = _context.now() + _context.config.keepAliveTimeout;
	respond(reply, _waitingKeepAlive);
	if (_state != State::IDLE) return;   // closing
	if (!_outputPaused) _pStream->resumeReading();
	process();   // requests that arrived meanwhile
}


void HttpConnection::respond(ApiReply& reply, bool keepAliveWanted)
{
	const std::string& body = reply.sharedBody ? *reply.sharedBody : reply.body;
	HTTPResponse response(static_cast<HTTPResponse::HTTPStatus>(reply.status));
	for (const auto& header: reply.headers) response.add(header.first, header.second);
	response.set("Server", SERVER);
	response.set("Date", httpDate());
	if (!noBodyStatus(reply.status))
	{
		if (!reply.contentType.empty()) response.setContentType(reply.contentType);
		response.set("Cache-Control", "no-store");
		response.setContentLength64(static_cast<Poco::Int64>(body.size()));
	}
	++_served;
	const bool keepAlive = keepAliveWanted && !reply.close && !_draining && !_context.draining
		&& _served < _context.config.maxKeepAliveRequests;
	if (reply.upgrade == ApiReply::Upgrade::NONE) response.setKeepAlive(keepAlive);
	std::ostringstream out;
	response.write(out);
	// Head and body are two sends, queued together: they leave in one write (one TLS record)
	// at the end of this iteration, and the body (maybe shared) is not copied into the head.
	_pStream->send(out.str());
	if (!reply.head && !noBodyStatus(reply.status) && !body.empty()) _pStream->send(body);
	if (reply.upgrade != ApiReply::Upgrade::NONE)
	{
		handOver(reply);
		return;
	}
	if (!keepAlive)
	{
		closeGracefully();
		return;
	}
	if (_pStream->aboveHighWaterMark())
	{
		_outputPaused = true;
		_pStream->pauseReading();
	}
}


void HttpConnection::handOver(ApiReply& reply)
{
	_state = State::UPGRADED;
	std::string leftover;
	leftover.swap(_buffer);
	const RelayStream::Ptr pStream = _pStream;
	_slot.release();   // the connection now holds a control or tunnel slot instead
	_relayLoop.remove(this);
	if (reply.upgrade == ApiReply::Upgrade::CONTROL)
	{
		const bool addressKnown = _requestOrigin == AddressOrigin::DIRECT || _requestOrigin == AddressOrigin::PROXY_PROTOCOL;
		ControlSession::start(_context, _relayLoop, pStream, std::move(reply.slot), _requestClient, addressKnown, leftover,
			reply.token);
	}
	else
	{
		reply.tunnel->join(reply.side, _relayLoop, pStream, std::move(reply.slot), leftover);
	}
	// The new owner has replaced the stream's handlers: nothing holds this object any more.
}


void HttpConnection::fail(int status, const std::string& code, const std::string& message)
{
	Rejection reason = Rejection::BAD_REQUEST;
	if (status == HTTPResponse::HTTP_REQUEST_ENTITY_TOO_LARGE || status == HTTPResponse::HTTP_REQUEST_HEADER_FIELDS_TOO_LARGE)
		reason = Rejection::TOO_LARGE;
	else if (status == HTTPResponse::HTTP_REQUEST_TIMEOUT)
		reason = Rejection::HTTP_TIMEOUT;
	_context.metrics.reject(reason);
	if (_context.logger.debug() && _context.logAllowed())
		_context.logger.debug("HTTP connection from %s refused with %d: %s", _client.toString(), status, message);
	ApiReply reply;
	RelayApi::error(reply, status, code, message);
	reply.close = true;
	respond(reply, false);
}


void HttpConnection::closeGracefully()
{
	_state = State::CLOSING;
	_buffer.clear();
	_pStream->close();
}


void HttpConnection::shutdown()
{
	_state = State::CLOSED;
	_pStream->abort("relay stopping");
}


void HttpConnection::drain()
{
	_draining = true;
	if (_state == State::IDLE && _buffer.empty()) closeGracefully();
}


void HttpConnection::tick(Clock::time_point now)
{
	if (now < _deadline) return;
	switch (_state)
	{
	case State::IDLE:
		// No request started in time (first byte or keep-alive idle): close without an answer.
		if (_served == 0)
		{
			_context.metrics.reject(Rejection::HTTP_TIMEOUT);
			if (_context.logger.debug() && _context.logAllowed())
				_context.logger.debug("HTTP connection from %s sent no request in time", _peer.toString());
		}
		closeGracefully();
		break;
	case State::REQUEST:
		fail(HTTPResponse::HTTP_REQUEST_TIMEOUT, "timeout", "the request did not arrive in time");
		break;
	case State::WAITING:
	{
		// The database did not take the write in time: the client may try again (its write
		// may still land; an announce or a claim is idempotent, a deposit may then be kept twice
		// and the recipient drops the copy by its message ID).
		++_wait;
		_context.metrics.reject(Rejection::STORAGE);
		ApiReply reply;
		RelayApi::error(reply, HTTPResponse::HTTP_SERVICE_UNAVAILABLE, "busy", "the relay's storage is slow; try again later", 5);
		reply.close = true;
		_state = State::IDLE;
		respond(reply, false);
		break;
	}
	case State::CLOSING:
		// close() lingers for the peer's FIN (bounded by TcpConnection::CLOSE_TIMEOUT).
		break;
	case State::UPGRADED:
	case State::CLOSED:
		break;
	}
}


} } // namespace CrossChat::Relay
