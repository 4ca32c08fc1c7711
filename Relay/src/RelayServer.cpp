//
// RelayServer.cpp
//
// Library: Relay
//
// Request flow: the HTTPServer's worker thread rate-limits, checks the size, routes and
// answers. Upgrades (control, tunnel) are checked completely before the 101 goes out; then
// the worker detaches the socket and posts it to a RelayLoop, where a ControlSession or a
// TunnelSession adopts it as a non-blocking TcpConnection. Workers never block on a
// long-lived connection.
//


#include "CrossChat/Relay/RelayServer.h"
#include "ControlHub.h"
#include "ControlSession.h"
#include "IpRateLimiter.h"
#include "PeerRegistry.h"
#include "RelayMetrics.h"
#include "RelayRequests.h"
#include "RequestAuth.h"
#include "ServerContext.h"
#include "StatusPages.h"
#include "TokenBucket.h"
#include "TunnelManager.h"
#include "TunnelSession.h"
#include "CrossChat/FoundationException.h"
#include "CrossChat/TcpConnection.h"
#include "CrossChat/TcpListener.h"
#include "CrossChat/Relay/RelayProtocol.h"
#include "Poco/JSON/Array.h"
#include "Poco/JSON/Object.h"
#include "Poco/Logger.h"
#include "Poco/Net/Context.h"
#include "Poco/Net/HTTPRequestHandler.h"
#include "Poco/Net/HTTPRequestHandlerFactory.h"
#include "Poco/Net/HTTPServer.h"
#include "Poco/Net/HTTPServerParams.h"
#include "Poco/Net/HTTPServerRequest.h"
#include "Poco/Net/HTTPServerRequestImpl.h"
#include "Poco/Net/HTTPServerResponse.h"
#include "Poco/Net/NetException.h"
#include "Poco/Net/SecureServerSocket.h"
#include "Poco/Net/TCPServer.h"
#include "Poco/String.h"
#include "Poco/ThreadPool.h"
#include "Poco/URI.h"
#include <algorithm>
#include <limits>
#include <future>
#include <random>
#include <sstream>
#include <sys/resource.h>
#include <vector>


#ifndef CROSSCHAT_RELAY_VERSION
#define CROSSCHAT_RELAY_VERSION "0.0.0"
#endif


namespace CrossChat {
namespace Relay {


namespace {


using Poco::Net::HTTPResponse;
using Poco::Net::HTTPServerRequest;
using Poco::Net::HTTPServerResponse;
using Clock = std::chrono::steady_clock;
using RequestFunction = std::function<void(HTTPServerRequest&, HTTPServerResponse&)>;
using FilterFunction = std::function<bool(const Poco::Net::StreamSocket&)>;


constexpr std::size_t TOKEN_BYTES = 32;
constexpr std::size_t STATUS_PAGE_PEERS = 100;


class RequestHandler: public Poco::Net::HTTPRequestHandler
{
public:
	explicit RequestHandler(const RequestFunction& function):
		_function(function)
	{
	}

	void handleRequest(HTTPServerRequest& request, HTTPServerResponse& response) override
	{
		_function(request, response);
	}

private:
	const RequestFunction& _function;
};


class HandlerFactory: public Poco::Net::HTTPRequestHandlerFactory
{
public:
	explicit HandlerFactory(const RequestFunction& function):
		_function(function)
	{
	}

	Poco::Net::HTTPRequestHandler* createRequestHandler(const HTTPServerRequest&) override
	{
		return new RequestHandler(_function);
	}

private:
	const RequestFunction& _function;
};


class ConnectionFilter: public Poco::Net::TCPServerConnectionFilter
{
public:
	explicit ConnectionFilter(const FilterFunction& function):
		_function(function)
	{
	}

	bool accept(const Poco::Net::StreamSocket& socket) override
	{
		return _function(socket);
	}

private:
	const FilterFunction& _function;
};


std::int64_t wallClockMs()
{
	return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}


std::int64_t jitteredSeconds(std::chrono::seconds base)
	/// base +- 10 %, at least 1.
{
	thread_local std::mt19937_64 generator(std::random_device{}());
	const double factor = std::uniform_real_distribution<double>(0.9, 1.1)(generator);
	return std::max<std::int64_t>(1, static_cast<std::int64_t>(static_cast<double>(base.count()) * factor + 0.5));
}


std::int64_t ceilSeconds(Clock::duration duration)
{
	const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(duration).count();
	return std::max<std::int64_t>(1, (ms + 999) / 1000);
}


bool hasBody(const HTTPServerRequest& request)
{
	return request.getChunkedTransferEncoding() || (request.hasContentLength() && request.getContentLength64() > 0);
}


std::string stringify(const Poco::JSON::Object& object)
{
	std::ostringstream out;
	object.stringify(out);
	return out.str();
}


Poco::JSON::Object::Ptr limitsObject(const RelayServerConfig& config)
{
	Poco::JSON::Object::Ptr pLimits = new Poco::JSON::Object(Poco::JSON_PRESERVE_KEY_ORDER);
	pLimits->set("tunnel_rate_bps", static_cast<Poco::UInt64>(config.tunnelRateBytesPerSecond));
	pLimits->set("global_rate_bps", static_cast<Poco::UInt64>(config.globalRateBytesPerSecond));
	pLimits->set("max_tunnels", config.maxTunnels);
	pLimits->set("tunnel_idle_s", static_cast<std::int64_t>(config.tunnelIdleTimeout.count()));
	pLimits->set("tunnel_join_s", static_cast<std::int64_t>(config.tunnelJoinTimeout.count()));
	return pLimits;
}


} // namespace


class RelayServer::Impl
{
public:
	explicit Impl(RelayServerConfig config);
	~Impl();

	void start();
	void stop();
	std::uint16_t port() const;
	std::uint16_t probePort() const;
	std::string healthJson() const;

private:
	void startProbe();
	void answerProbe(const Poco::Net::StreamSocket& socket);
	void handle(HTTPServerRequest& request, HTTPServerResponse& response);
	void route(HTTPServerRequest& request, HTTPServerResponse& response);
	bool acceptConnection(const Poco::Net::StreamSocket& socket);

	void announce(HTTPServerRequest& request, HTTPServerResponse& response, const std::string& pathAndQuery);
	void unregister(HTTPServerRequest& request, HTTPServerResponse& response, const std::string& pathAndQuery);
	void lookup(HTTPServerRequest& request, HTTPServerResponse& response, const std::string& idText);
	void directory(HTTPServerRequest& request, HTTPServerResponse& response, const Poco::URI& uri);
	void openTunnel(HTTPServerRequest& request, HTTPServerResponse& response, const std::string& pathAndQuery);
	void upgradeControl(HTTPServerRequest& request, HTTPServerResponse& response);
	void upgradeTunnel(HTTPServerRequest& request, HTTPServerResponse& response, const std::string& token);

	bool readBody(HTTPServerRequest& request, HTTPServerResponse& response, std::string& body);
	std::optional<PublicKey> authenticate(HTTPServerRequest& request, HTTPServerResponse& response,
		const std::string& pathAndQuery, const std::string& body);
	bool checkUpgrade(HTTPServerRequest& request, HTTPServerResponse& response, const char* protocol);
	Poco::Net::StreamSocket switchProtocols(HTTPServerRequest& request, HTTPServerResponse& response, const char* protocol);
	bool methodAllowed(HTTPServerRequest& request, HTTPServerResponse& response, const std::string& allowed);

	void sendJson(HTTPServerResponse& response, HTTPResponse::HTTPStatus status, const Poco::JSON::Object& body);
	void sendText(HTTPServerResponse& response, HTTPResponse::HTTPStatus status, const std::string& contentType,
		const std::string& text, bool head = false);
	void reject(HTTPServerRequest& request, HTTPServerResponse& response, HTTPResponse::HTTPStatus status,
		Rejection reason, const std::string& code, const std::string& message, std::int64_t retryAfter = 0);

	Poco::JSON::Object::Ptr recordJson(const PeerRecord& record, bool online) const;
	StatusSnapshot snapshot(bool withPeers) const;
	RelayLoop& nextLoop();
	void sweep();

	const RelayServerConfig _config;
	Poco::Logger& _logger;
	const Clock::time_point _started;
	RelayMetrics _metrics;
	ControlHub _hub;
	TunnelManager _tunnels;
	std::unique_ptr<PeerRegistry> _pRegistry;
	SharedTokenBucket _globalRate;
	std::atomic<unsigned> _controlConnections{0};
	std::atomic<unsigned> _tunnelConnections{0};
	std::atomic<unsigned> _probeConnections{0};
	ServerContext _context;
	RequestAuth _auth;
	IpRateLimiter _rateLimiter;
	RequestFunction _requestFunction;
	FilterFunction _filterFunction;
	std::vector<std::unique_ptr<RelayLoop>> _loops;
	std::atomic<std::size_t> _nextLoop{0};
	TimerHandle _sweepTimer;
	std::unique_ptr<TcpListener> _pProbeListener;   ///< Lives on _loops.front(), created and destroyed there.
	std::unique_ptr<Poco::ThreadPool> _pThreadPool;
	std::unique_ptr<Poco::Net::HTTPServer> _pServer;
	std::uint16_t _port = 0;
	bool _tls = false;
	bool _running = false;
	std::size_t _descriptorBudget = 0;
};


RelayServer::Impl::Impl(RelayServerConfig config):
	_config(std::move(config)),
	_logger(Poco::Logger::get("CrossChat.Relay")),
	_started(_config.clock ? _config.clock() : Clock::now()),
	_metrics(_started),
	_pRegistry(new MemoryPeerRegistry),
	_globalRate(static_cast<double>(_config.globalRateBytesPerSecond), 2.0 * static_cast<double>(_config.globalRateBytesPerSecond), _started),
	_context{_config, _metrics, _hub, _tunnels, *_pRegistry, _globalRate, _controlConnections, _tunnelConnections, _logger},
	_auth(_config.replayCacheSize),
	_rateLimiter(_config.requestsPerSecondPerIp, _config.maxRateLimitedClients)
{
	_requestFunction = [this](HTTPServerRequest& request, HTTPServerResponse& response) { handle(request, response); };
	_filterFunction = [this](const Poco::Net::StreamSocket& socket) { return acceptConnection(socket); };
}


RelayServer::Impl::~Impl()
{
	try
	{
		stop();
	}
	catch (...)
	{
		// Destructors never throw.
	}
}


void RelayServer::Impl::start()
{
	if (_running) return;
	Poco::Net::ServerSocket socket;
	if (!_config.tlsCertificateFile.empty() && !_config.tlsKeyFile.empty())
	{
		Poco::Net::Context::Ptr pContext = new Poco::Net::Context(Poco::Net::Context::TLS_SERVER_USE,
			_config.tlsKeyFile, _config.tlsCertificateFile, "", Poco::Net::Context::VERIFY_NONE);
		pContext->disableProtocols(Poco::Net::Context::PROTO_SSLV2 | Poco::Net::Context::PROTO_SSLV3
			| Poco::Net::Context::PROTO_TLSV1 | Poco::Net::Context::PROTO_TLSV1_1);
		socket = Poco::Net::SecureServerSocket(_config.bind, 256, pContext);
		_tls = true;
	}
	else
	{
		socket = Poco::Net::ServerSocket(_config.bind, 256);
	}
	_port = socket.address().port();

	rlimit limit{};
	_descriptorBudget = 1024;
	if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY)
		_descriptorBudget = static_cast<std::size_t>(limit.rlim_cur) * 8 / 10;
	else if (limit.rlim_cur == RLIM_INFINITY)
		_descriptorBudget = 1u << 30;

	const unsigned loops = std::max(1u, _config.eventLoops);
	for (unsigned i = 0; i < loops; ++i)
		_loops.push_back(std::make_unique<RelayLoop>("RelayLoop" + std::to_string(i)));

	const auto sweepPeriod = std::clamp<std::chrono::milliseconds>(
		std::chrono::duration_cast<std::chrono::milliseconds>(_config.recordTtl) / 2,
		std::chrono::milliseconds(1000), std::chrono::milliseconds(60000));
	_sweepTimer = _loops.front()->loop().runEvery(sweepPeriod, [this] { sweep(); });
	try
	{
		startProbe();
	}
	catch (...)
	{
		_sweepTimer.cancel();
		for (const auto& pLoop: _loops) pLoop->stop();
		_loops.clear();
		throw;
	}

	Poco::Net::HTTPServerParams::Ptr pParams = new Poco::Net::HTTPServerParams;
	pParams->setMaxThreads(static_cast<int>(std::max(1u, _config.httpThreads)));
	pParams->setMaxQueued(static_cast<int>(_config.maxQueuedRequests));
	pParams->setKeepAlive(true);
	pParams->setMaxKeepAliveRequests(static_cast<int>(_config.maxKeepAliveRequests));
	pParams->setTimeout(Poco::Timespan(static_cast<long>(_config.requestTimeout.count()), 0));
	pParams->setKeepAliveTimeout(Poco::Timespan(static_cast<long>(_config.requestTimeout.count()), 0));
	pParams->setSoftwareVersion(std::string("crosschat-relay/") + CROSSCHAT_RELAY_VERSION);
	_pThreadPool = std::make_unique<Poco::ThreadPool>(1, static_cast<int>(std::max(1u, _config.httpThreads)) + 2);
	_pServer = std::make_unique<Poco::Net::HTTPServer>(new HandlerFactory(_requestFunction), *_pThreadPool, socket, pParams);
	_pServer->setConnectionFilter(new ConnectionFilter(_filterFunction));
	_pServer->start();
	_running = true;
	_logger.information("relay listening on port %hu (%s), %u event loops", _port, std::string(_tls ? "https" : "http"), loops);
	if (_context.probePort != 0) _logger.information("NAT probe port %hu", _context.probePort);
}


void RelayServer::Impl::stop()
{
	if (!_running) return;
	_running = false;
	_pServer->stopAll(true);
	_pThreadPool->joinAll();
	_pServer.reset();
	_sweepTimer.cancel();
	for (const auto& pLoop: _loops)
	{
		std::promise<void> done;
		RelayLoop* pRelayLoop = pLoop.get();
		pLoop->loop().post([this, pRelayLoop, &done]
		{
			if (pRelayLoop == _loops.front().get()) _pProbeListener.reset();
			pRelayLoop->shutdownAll();
			done.set_value();
		});
		done.get_future().wait();
	}
	for (const auto& pLoop: _loops) pLoop->stop();
	_loops.clear();
	_tunnels.clear();
	_pThreadPool.reset();
}


std::uint16_t RelayServer::Impl::port() const
{
	return _port;
}


std::uint16_t RelayServer::Impl::probePort() const
{
	return _context.probePort;
}


void RelayServer::Impl::startProbe()
	/// Binds the probe listener on the first loop (TcpListener lives on its loop thread).
{
	std::uint16_t port = 0;
	if (_config.probePort)
	{
		if (*_config.probePort == 0) return;
		port = *_config.probePort;
	}
	else if (_config.bind.port() != 0)
	{
		if (_config.bind.port() == 65535) return;
		port = static_cast<std::uint16_t>(_config.bind.port() + 1);
	}
	const Poco::Net::SocketAddress address(_config.bind.host(), port);
	std::promise<void> bound;
	RelayLoop& relayLoop = *_loops.front();
	relayLoop.loop().post([this, &relayLoop, &bound, address]
	{
		try
		{
			_pProbeListener = std::make_unique<TcpListener>(relayLoop.loop(), address,
				[this](const Poco::Net::StreamSocket& socket) { answerProbe(socket); });
			_context.probePort = _pProbeListener->address().port();
			bound.set_value();
		}
		catch (...)
		{
			bound.set_exception(std::current_exception());
		}
	});
	bound.get_future().get();
}


void RelayServer::Impl::answerProbe(const Poco::Net::StreamSocket& socket)
	/// On the first loop: one line with the observed address, then a graceful close.
{
	Poco::Net::SocketAddress observed;
	try
	{
		observed = socket.peerAddress();
	}
	catch (const Poco::Exception&)
	{
		return;   // the peer is already gone
	}
	Clock::duration retryAfter{};
	if (!_rateLimiter.admit(observed.host(), _context.now(), retryAfter))
	{
		_metrics.reject(Rejection::RATE_LIMITED);
		_logger.debug("probe from %s refused: rate limited", observed.toString());
		return;   // the accepted socket closes when it goes out of scope
	}
	// Not counting HTTP connections here: _pServer belongs to the controlling thread.
	const std::size_t total = _controlConnections.load() + _tunnelConnections.load() + _probeConnections.load();
	ConnectionSlot slot = total < _descriptorBudget
		? ConnectionSlot::tryReserve(_probeConnections, _config.maxProbeConnections) : ConnectionSlot();
	if (!slot.valid())
	{
		_metrics.reject(Rejection::CONNECTION_LIMIT);
		_logger.debug("probe from %s refused: %z probe connections", observed.toString(), static_cast<std::size_t>(_probeConnections.load()));
		return;
	}
	const TcpConnection::Ptr pConnection = TcpConnection::adopt(_loops.front()->loop(), socket);
	auto pSlot = std::make_shared<ConnectionSlot>(std::move(slot));
	pConnection->setCloseHandler([pSlot](const std::string&) {});   // holds the slot until the connection ends
	pConnection->send("{\"observed\":\"" + observed.toString() + "\"}\n");
	pConnection->close();
	_metrics.probesAnswered++;
}


RelayLoop& RelayServer::Impl::nextLoop()
{
	return *_loops[_nextLoop.fetch_add(1) % _loops.size()];
}


void RelayServer::Impl::sweep()
{
	const auto now = _context.now();
	const std::size_t expired = _pRegistry->sweep(now);
	_metrics.recordsExpired += expired;
	_rateLimiter.sweep(now);
	if (expired > 0) _logger.debug("%z peer records expired", expired);
}


bool RelayServer::Impl::acceptConnection(const Poco::Net::StreamSocket& socket)
{
	if (!_pServer) return false;
	const std::size_t http = static_cast<std::size_t>(_pServer->currentConnections() + _pServer->queuedConnections());
	const std::size_t total = http + _controlConnections.load() + _tunnelConnections.load();
	if (http >= _config.maxHttpConnections || total >= _descriptorBudget)
	{
		_metrics.reject(Rejection::CONNECTION_LIMIT);
		try
		{
			_logger.debug("connection from %s refused: %z HTTP connections, %z in all", socket.peerAddress().toString(), http, total);
		}
		catch (const Poco::Exception&)
		{
			// The peer is already gone.
		}
		return false;
	}
	return true;
}


void RelayServer::Impl::handle(HTTPServerRequest& request, HTTPServerResponse& response)
{
	_metrics.requests++;
	try
	{
		route(request, response);
	}
	catch (const BadRequestException& exc)
	{
		if (!response.sent()) reject(request, response, HTTPResponse::HTTP_BAD_REQUEST, Rejection::BAD_REQUEST, "bad_request", exc.message());
	}
	catch (const Poco::Exception& exc)
	{
		_logger.warning("request %s %s failed: %s", request.getMethod(), request.getURI(), exc.displayText());
		if (!response.sent())
		{
			response.setKeepAlive(false);
			Poco::JSON::Object error;
			error.set("error", "internal");
			error.set("message", "internal error");
			sendJson(response, HTTPResponse::HTTP_INTERNAL_SERVER_ERROR, error);
		}
	}
	catch (const std::exception& exc)
	{
		_logger.warning("request %s %s failed: %s", request.getMethod(), request.getURI(), std::string(exc.what()));
		if (!response.sent())
		{
			response.setKeepAlive(false);
			Poco::JSON::Object error;
			error.set("error", "internal");
			sendJson(response, HTTPResponse::HTTP_INTERNAL_SERVER_ERROR, error);
		}
	}
}


void RelayServer::Impl::route(HTTPServerRequest& request, HTTPServerResponse& response)
{
	const std::string& pathAndQuery = request.getURI();
	Poco::URI uri;
	try
	{
		uri = Poco::URI(pathAndQuery);
	}
	catch (const Poco::Exception&)
	{
		throw BadRequestException("malformed request URI");
	}
	const std::string path = uri.getPath();
	const std::string prefix = RelayProtocol::API_PREFIX;
	const bool api = path.compare(0, prefix.size() + 1, prefix + "/") == 0;

	if (api || path == "/")
	{
		Clock::duration retryAfter{};
		if (!_rateLimiter.admit(request.clientAddress().host(), _context.now(), retryAfter))
		{
			reject(request, response, HTTPResponse::HTTP_TOO_MANY_REQUESTS, Rejection::RATE_LIMITED,
				"rate_limited", "too many requests", ceilSeconds(retryAfter));
			return;
		}
	}
	if (hasBody(request) && request.hasContentLength()
		&& request.getContentLength64() > static_cast<Poco::Int64>(_config.maxBodySize))
	{
		reject(request, response, HTTPResponse::HTTP_REQUEST_ENTITY_TOO_LARGE, Rejection::TOO_LARGE,
			"too_large", "body larger than " + std::to_string(_config.maxBodySize) + " bytes");
		return;
	}

	const std::string& method = request.getMethod();
	const bool head = method == Poco::Net::HTTPRequest::HTTP_HEAD;
	if (path == "/" || path == "/health" || path == "/metrics")
	{
		if (!methodAllowed(request, response, "GET, HEAD")) return;
		if (path == "/")
			sendText(response, HTTPResponse::HTTP_OK, "text/html; charset=utf-8", renderStatusHtml(snapshot(true)), head);
		else if (path == "/health")
			sendText(response, HTTPResponse::HTTP_OK, "application/json", renderHealthJson(snapshot(false)), head);
		else
			sendText(response, HTTPResponse::HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", renderMetrics(snapshot(false)), head);
		return;
	}
	if (!api)
	{
		reject(request, response, HTTPResponse::HTTP_NOT_FOUND, Rejection::NOT_FOUND, "not_found", "no such path");
		return;
	}
	const std::string rest = path.substr(prefix.size());
	if (rest == "/announce")
	{
		if (method == Poco::Net::HTTPRequest::HTTP_POST) announce(request, response, pathAndQuery);
		else if (method == Poco::Net::HTTPRequest::HTTP_DELETE) unregister(request, response, pathAndQuery);
		else methodAllowed(request, response, "POST, DELETE");
	}
	else if (rest.compare(0, 7, "/peers/") == 0 && rest.size() > 7)
	{
		if (methodAllowed(request, response, "GET")) lookup(request, response, rest.substr(7));
	}
	else if (rest == "/directory")
	{
		if (methodAllowed(request, response, "GET")) directory(request, response, uri);
	}
	else if (rest == "/tunnels")
	{
		if (methodAllowed(request, response, "POST")) openTunnel(request, response, pathAndQuery);
	}
	else if (rest.compare(0, 9, "/tunnels/") == 0 && rest.size() > 9)
	{
		if (methodAllowed(request, response, "GET")) upgradeTunnel(request, response, rest.substr(9));
	}
	else if (rest == "/control")
	{
		if (methodAllowed(request, response, "GET")) upgradeControl(request, response);
	}
	else
	{
		reject(request, response, HTTPResponse::HTTP_NOT_FOUND, Rejection::NOT_FOUND, "not_found", "no such path");
	}
}


bool RelayServer::Impl::methodAllowed(HTTPServerRequest& request, HTTPServerResponse& response, const std::string& allowed)
{
	const std::string& method = request.getMethod();
	std::vector<std::string> methods;
	std::istringstream in(allowed);
	std::string item;
	while (std::getline(in, item, ',')) methods.push_back(Poco::trim(item));
	if (std::find(methods.begin(), methods.end(), method) != methods.end()) return true;
	response.set("Allow", allowed);
	reject(request, response, HTTPResponse::HTTP_METHOD_NOT_ALLOWED, Rejection::METHOD_NOT_ALLOWED,
		"method_not_allowed", method + " not allowed here");
	return false;
}


bool RelayServer::Impl::readBody(HTTPServerRequest& request, HTTPServerResponse& response, std::string& body)
{
	body.clear();
	if (!hasBody(request)) return true;
	std::istream& in = request.stream();
	char buffer[4096];
	while (in)
	{
		in.read(buffer, sizeof(buffer));
		body.append(buffer, static_cast<std::size_t>(in.gcount()));
		if (body.size() > _config.maxBodySize)
		{
			reject(request, response, HTTPResponse::HTTP_REQUEST_ENTITY_TOO_LARGE, Rejection::TOO_LARGE,
				"too_large", "body larger than " + std::to_string(_config.maxBodySize) + " bytes");
			return false;
		}
	}
	if (in.bad()) throw BadRequestException("could not read the request body");
	return true;
}


std::optional<PublicKey> RelayServer::Impl::authenticate(HTTPServerRequest& request, HTTPServerResponse& response,
	const std::string& pathAndQuery, const std::string& body)
{
	const RequestAuth::Result result = _auth.verify(request, request.getMethod(), pathAndQuery, body, wallClockMs(), _context.now());
	switch (result.status)
	{
	case RequestAuth::Status::OK:
		return result.key;
	case RequestAuth::Status::UNAUTHORIZED:
		reject(request, response, HTTPResponse::HTTP_UNAUTHORIZED, Rejection::UNAUTHORIZED, "unauthorized", result.reason);
		break;
	case RequestAuth::Status::FORBIDDEN:
		reject(request, response, HTTPResponse::HTTP_FORBIDDEN, Rejection::FORBIDDEN, "forbidden", result.reason);
		break;
	case RequestAuth::Status::UNAVAILABLE:
		reject(request, response, HTTPResponse::HTTP_SERVICE_UNAVAILABLE, Rejection::UNAVAILABLE, "busy", result.reason, 5);
		break;
	}
	return std::nullopt;
}


void RelayServer::Impl::announce(HTTPServerRequest& request, HTTPServerResponse& response, const std::string& pathAndQuery)
{
	std::string body;
	if (!readBody(request, response, body)) return;
	const std::optional<PublicKey> key = authenticate(request, response, pathAndQuery, body);
	if (!key) return;
	const AnnounceRequest announcement = AnnounceRequest::parse(body);
	const Poco::Net::SocketAddress observed = request.clientAddress();
	const auto now = _context.now();

	PeerRecord record;
	record.id = key->peerId();
	record.publicKeyRaw = key->raw();
	record.name = announcement.name;
	record.addresses = announcement.resolve(observed);
	record.chatPort = announcement.port;
	record.directory = announcement.directory;
	record.observed = observed;
	record.lastSeenMs = wallClockMs();
	record.expires = now + _config.recordTtl;
	if (!_pRegistry->put(record, _config.maxPeers))
	{
		reject(request, response, HTTPResponse::HTTP_SERVICE_UNAVAILABLE, Rejection::UNAVAILABLE, "busy",
			"the relay holds as many peers as it may", ceilSeconds(_config.lookupRetryAfter));
		return;
	}
	_metrics.announces.add(1, now);

	Poco::JSON::Object answer(Poco::JSON_PRESERVE_KEY_ORDER);
	answer.set("id", record.id.toString());
	answer.set("observed", observed.toString());
	answer.set("ttl_s", static_cast<std::int64_t>(_config.recordTtl.count()));
	answer.set("reannounce_s", jitteredSeconds(_config.reannounceAfter));
	Poco::JSON::Array::Ptr pAddresses = new Poco::JSON::Array;
	for (const auto& address: record.addresses) pAddresses->add(address.toString());
	answer.set("addresses", pAddresses);
	sendJson(response, HTTPResponse::HTTP_OK, answer);
}


void RelayServer::Impl::unregister(HTTPServerRequest& request, HTTPServerResponse& response, const std::string& pathAndQuery)
{
	std::string body;
	if (!readBody(request, response, body)) return;
	const std::optional<PublicKey> key = authenticate(request, response, pathAndQuery, body);
	if (!key) return;
	_pRegistry->remove(key->peerId());
	response.setStatusAndReason(HTTPResponse::HTTP_NO_CONTENT);
	response.setContentLength(0);
	response.send();
}


Poco::JSON::Object::Ptr RelayServer::Impl::recordJson(const PeerRecord& record, bool online) const
{
	Poco::JSON::Object::Ptr pObject = new Poco::JSON::Object(Poco::JSON_PRESERVE_KEY_ORDER);
	pObject->set("id", record.id.toString());
	pObject->set("name", record.name);
	pObject->set("public_key", base64Encode(record.publicKeyRaw));
	Poco::JSON::Array::Ptr pAddresses = new Poco::JSON::Array;
	for (const auto& address: record.addresses) pAddresses->add(address.toString());
	pObject->set("addresses", pAddresses);
	pObject->set("observed", record.observed.toString());
	pObject->set("last_seen_ms", record.lastSeenMs);
	pObject->set("online", online);
	return pObject;
}


void RelayServer::Impl::lookup(HTTPServerRequest& request, HTTPServerResponse& response, const std::string& idText)
{
	const std::optional<PeerId> id = PeerId::tryParse(idText);
	if (!id) throw BadRequestException("not a peer ID");
	const auto now = _context.now();
	_metrics.lookups.add(1, now);
	const std::optional<PeerRecord> record = _pRegistry->find(*id, now);
	const std::optional<ControlHub::Entry> control = _hub.find(*id);
	if (record)
	{
		sendJson(response, HTTPResponse::HTTP_OK, *recordJson(*record, control.has_value()));
		return;
	}
	if (control)
	{
		// Online without an announce: what the control channel tells us is still useful.
		PeerRecord synthetic;
		synthetic.id = *id;
		synthetic.publicKeyRaw = control->publicKeyRaw;
		synthetic.observed = control->observed;
		synthetic.lastSeenMs = wallClockMs();
		sendJson(response, HTTPResponse::HTTP_OK, *recordJson(synthetic, true));
		return;
	}
	reject(request, response, HTTPResponse::HTTP_NOT_FOUND, Rejection::NOT_FOUND, "not_found", "unknown peer",
		jitteredSeconds(_config.lookupRetryAfter));
}


void RelayServer::Impl::directory(HTTPServerRequest&, HTTPServerResponse& response, const Poco::URI& uri)
{
	const DirectoryQuery query = DirectoryQuery::parse(uri.getRawQuery());
	// The directory lists online peers only: the registry knows who opted in, the hub who
	// is connected; filtered here so that the registry never calls into the hub.
	const DirectoryPage all = _pRegistry->directory(query.text, 0, std::numeric_limits<std::size_t>::max(), _context.now());
	DirectoryPage page;
	for (const PeerRecord& record: all.records)
	{
		if (!_hub.online(record.id)) continue;
		if (page.total++ >= query.offset && page.records.size() < query.limit) page.records.push_back(record);
	}
	Poco::JSON::Array::Ptr pPeers = new Poco::JSON::Array;
	for (const PeerRecord& record: page.records)
	{
		Poco::JSON::Object::Ptr pPeer = new Poco::JSON::Object(Poco::JSON_PRESERVE_KEY_ORDER);
		pPeer->set("id", record.id.toString());
		pPeer->set("name", record.name);
		pPeer->set("online", _hub.online(record.id));
		pPeer->set("last_seen_ms", record.lastSeenMs);
		pPeers->add(pPeer);
	}
	Poco::JSON::Object answer(Poco::JSON_PRESERVE_KEY_ORDER);
	answer.set("peers", pPeers);
	answer.set("total", static_cast<Poco::UInt64>(page.total));
	answer.set("offset", static_cast<Poco::UInt64>(query.offset));
	answer.set("limit", static_cast<Poco::UInt64>(query.limit));
	sendJson(response, HTTPResponse::HTTP_OK, answer);
}


void RelayServer::Impl::openTunnel(HTTPServerRequest& request, HTTPServerResponse& response, const std::string& pathAndQuery)
{
	std::string body;
	if (!readBody(request, response, body)) return;
	const std::optional<PublicKey> key = authenticate(request, response, pathAndQuery, body);
	if (!key) return;
	const TunnelOpenRequest open = TunnelOpenRequest::parse(body);
	const PeerId caller = key->peerId();
	if (open.to == caller) throw BadRequestException("cannot open a tunnel to yourself");
	if (!_hub.online(open.to))
	{
		reject(request, response, HTTPResponse::HTTP_NOT_FOUND, Rejection::NOT_FOUND, "offline", "the peer is not online",
			jitteredSeconds(_config.lookupRetryAfter));
		return;
	}
	const auto now = _context.now();
	const std::string callerToken = randomHex(TOKEN_BYTES);
	const std::string calleeToken = randomHex(TOKEN_BYTES);
	RelayLoop& relayLoop = nextLoop();
	auto pSession = std::make_shared<TunnelSession>(_context, relayLoop, callerToken, calleeToken);
	if (!_tunnels.add(pSession, callerToken, calleeToken, now + _config.tunnelJoinTimeout, _config.maxTunnels))
	{
		Poco::JSON::Object error;
		error.set("error", "busy");
		error.set("reason", "max_tunnels");
		error.set("message", "the relay runs as many tunnels as it may");
		_metrics.reject(Rejection::UNAVAILABLE);
		_logger.debug("tunnel from %s refused: max tunnels", caller.toString());
		response.set("Retry-After", std::to_string(jitteredSeconds(std::chrono::seconds(30))));
		sendJson(response, HTTPResponse::HTTP_SERVICE_UNAVAILABLE, error);
		return;
	}
	relayLoop.loop().post([pSession] { pSession->start(); });
	const std::optional<PeerRecord> callerRecord = _pRegistry->find(caller, now);
	if (!_hub.invite(open.to, calleeToken, caller, callerRecord ? callerRecord->name : std::string()))
	{
		relayLoop.loop().post([pSession] { pSession->shutdown(); });
		reject(request, response, HTTPResponse::HTTP_NOT_FOUND, Rejection::NOT_FOUND, "offline", "the peer is not online",
			jitteredSeconds(_config.lookupRetryAfter));
		return;
	}
	_metrics.tunnelsOpened.add(1, now);
	Poco::JSON::Object answer(Poco::JSON_PRESERVE_KEY_ORDER);
	answer.set("token", callerToken);
	answer.set("expires_s", static_cast<std::int64_t>(_config.tunnelJoinTimeout.count()));
	answer.set("limits", limitsObject(_config));
	sendJson(response, HTTPResponse::HTTP_CREATED, answer);
}


bool RelayServer::Impl::checkUpgrade(HTTPServerRequest& request, HTTPServerResponse& response, const char* protocol)
{
	if (_tls)
	{
		reject(request, response, HTTPResponse::HTTP_NOT_IMPLEMENTED, Rejection::UNAVAILABLE, "not_implemented",
			"control channels and tunnels need the relay's plain HTTP port in this version");
		return false;
	}
	if (!request.hasToken("Connection", "upgrade") || Poco::icompare(request.get("Upgrade", ""), std::string(protocol)) != 0)
	{
		response.set("Upgrade", protocol);
		reject(request, response, HTTPResponse::HTTP_UPGRADE_REQUIRED, Rejection::BAD_REQUEST, "upgrade_required",
			std::string("this endpoint needs Connection: Upgrade and Upgrade: ") + protocol);
		return false;
	}
	if (hasBody(request)) throw BadRequestException("an upgrade request has no body");
	return true;
}


Poco::Net::StreamSocket RelayServer::Impl::switchProtocols(HTTPServerRequest& request, HTTPServerResponse& response, const char* protocol)
{
	response.setStatusAndReason(HTTPResponse::HTTP_SWITCHING_PROTOCOLS);
	response.set("Upgrade", protocol);
	response.set("Connection", "Upgrade");
	response.setContentLength(HTTPResponse::UNKNOWN_CONTENT_LENGTH);
	response.send().flush();
	// As Poco's WebSocket does: take the raw socket away from the HTTP session. The client
	// sends nothing after the upgrade request until it has read this 101 (RelayProtocol), so
	// the session's read buffer holds no bytes of the new protocol.
	return static_cast<Poco::Net::HTTPServerRequestImpl&>(request).detachSocket();
}


void RelayServer::Impl::upgradeControl(HTTPServerRequest& request, HTTPServerResponse& response)
{
	if (!checkUpgrade(request, response, RelayProtocol::UPGRADE_CONTROL)) return;
	ConnectionSlot slot = ConnectionSlot::tryReserve(_controlConnections, _config.maxControlConnections);
	if (!slot.valid())
	{
		reject(request, response, HTTPResponse::HTTP_SERVICE_UNAVAILABLE, Rejection::UNAVAILABLE, "busy",
			"too many control connections", jitteredSeconds(std::chrono::seconds(30)));
		return;
	}
	const Poco::Net::StreamSocket socket = switchProtocols(request, response, RelayProtocol::UPGRADE_CONTROL);
	RelayLoop& relayLoop = nextLoop();
	auto pSlot = std::make_shared<ConnectionSlot>(std::move(slot));
	ServerContext& context = _context;
	relayLoop.loop().post([&context, &relayLoop, socket, pSlot]
	{
		ControlSession::start(context, relayLoop, socket, std::move(*pSlot));
	});
}


void RelayServer::Impl::upgradeTunnel(HTTPServerRequest& request, HTTPServerResponse& response, const std::string& token)
{
	if (!checkUpgrade(request, response, RelayProtocol::UPGRADE_TUNNEL)) return;
	int side = 0;
	std::shared_ptr<TunnelSession> pSession = token.size() <= 128 ? _tunnels.claim(token, _context.now(), side) : nullptr;
	if (!pSession)
	{
		reject(request, response, HTTPResponse::HTTP_NOT_FOUND, Rejection::NOT_FOUND, "not_found", "unknown or expired tunnel token");
		return;
	}
	ConnectionSlot slot = ConnectionSlot::tryReserve(_tunnelConnections, 2 * _config.maxTunnels);
	if (!slot.valid())
	{
		reject(request, response, HTTPResponse::HTTP_SERVICE_UNAVAILABLE, Rejection::UNAVAILABLE, "busy", "too many tunnel connections");
		return;
	}
	const Poco::Net::StreamSocket socket = switchProtocols(request, response, RelayProtocol::UPGRADE_TUNNEL);
	auto pSlot = std::make_shared<ConnectionSlot>(std::move(slot));
	pSession->relayLoop().loop().post([pSession, side, socket, pSlot]
	{
		pSession->join(side, socket, std::move(*pSlot));
	});
}


void RelayServer::Impl::sendJson(HTTPServerResponse& response, HTTPResponse::HTTPStatus status, const Poco::JSON::Object& body)
{
	sendText(response, status, "application/json", stringify(body));
}


void RelayServer::Impl::sendText(HTTPServerResponse& response, HTTPResponse::HTTPStatus status,
	const std::string& contentType, const std::string& text, bool head)
{
	response.setStatusAndReason(status);
	response.setContentType(contentType);
	response.set("Cache-Control", "no-store");
	response.setContentLength(static_cast<std::streamsize>(text.size()));
	std::ostream& out = response.send();
	if (!head) out << text;
	out.flush();
}


void RelayServer::Impl::reject(HTTPServerRequest& request, HTTPServerResponse& response, HTTPResponse::HTTPStatus status,
	Rejection reason, const std::string& code, const std::string& message, std::int64_t retryAfter)
{
	_metrics.reject(reason);
	if (_logger.debug())
	{
		_logger.debug("%s %s from %s refused with %d: %s", request.getMethod(), request.getURI().substr(0, 200),
			request.clientAddress().toString(), static_cast<int>(status), message);
	}
	// A body we have not read would be taken for the next request: close instead.
	if (hasBody(request) && reason != Rejection::BAD_REQUEST && reason != Rejection::UNAUTHORIZED
		&& reason != Rejection::FORBIDDEN)
	{
		response.setKeepAlive(false);
	}
	if (status == HTTPResponse::HTTP_REQUEST_ENTITY_TOO_LARGE) response.setKeepAlive(false);
	if (retryAfter > 0) response.set("Retry-After", std::to_string(retryAfter));
	Poco::JSON::Object error(Poco::JSON_PRESERVE_KEY_ORDER);
	error.set("error", code);
	error.set("message", message);
	sendJson(response, status, error);
}


StatusSnapshot RelayServer::Impl::snapshot(bool withPeers) const
{
	const auto now = _context.now();
	StatusSnapshot s;
	s.version = CROSSCHAT_RELAY_VERSION;
	s.uptimeSeconds = std::chrono::duration_cast<std::chrono::seconds>(now - _started).count();
	s.records = _pRegistry->size();
	s.online = _hub.size();
	s.controlConnections = _controlConnections.load();
	s.tunnels = _tunnels.size();
	s.tunnelConnections = _tunnelConnections.load();
	s.requests = _metrics.requests.load();
	s.announcesTotal = _metrics.announces.total();
	s.lookupsTotal = _metrics.lookups.total();
	s.tunnelsOpenedTotal = _metrics.tunnelsOpened.total();
	s.tunnelsJoinedTotal = _metrics.tunnelsJoined.load();
	s.tunnelsExpiredTotal = _metrics.tunnelsExpired.load();
	s.bytesRelayedTotal = _metrics.bytesRelayed.total();
	s.controlAuthenticatedTotal = _metrics.controlAuthenticated.load();
	s.controlReplacedTotal = _metrics.controlReplaced.load();
	s.invitesSentTotal = _metrics.invitesSent.load();
	s.punchesForwardedTotal = _metrics.punchesForwarded.load();
	s.probesAnsweredTotal = _metrics.probesAnswered.load();
	s.recordsExpiredTotal = _metrics.recordsExpired.load();
	s.rejectedTotal = _metrics.rejectedTotal();
	const std::size_t minutes[3] = {1, 5, 15};
	for (std::size_t i = 0; i < 3; ++i)
	{
		s.announces[i] = _metrics.announces.lastMinutes(minutes[i], now);
		s.lookups[i] = _metrics.lookups.lastMinutes(minutes[i], now);
		s.tunnelsOpened[i] = _metrics.tunnelsOpened.lastMinutes(minutes[i], now);
		s.bytesRelayed[i] = _metrics.bytesRelayed.lastMinutes(minutes[i], now);
	}
	for (std::size_t i = 0; i < static_cast<std::size_t>(Rejection::COUNT); ++i)
	{
		const auto reason = static_cast<Rejection>(i);
		s.rejections.emplace_back(RelayMetrics::rejectionName(reason), _metrics.rejected(reason));
	}
	if (withPeers)
	{
		for (PeerRecord& record: _pRegistry->recent(STATUS_PAGE_PEERS, now))
		{
			if (!record.directory) continue;   // the page is public: only peers that opted in are named
			const bool online = _hub.online(record.id);
			s.recent.emplace_back(std::move(record), online);
		}
	}
	s.pConfig = &_config;
	return s;
}


std::string RelayServer::Impl::healthJson() const
{
	return renderHealthJson(snapshot(false));
}


RelayServer::RelayServer(RelayServerConfig config):
	_pImpl(new Impl(std::move(config)))
{
}


RelayServer::~RelayServer() = default;


void RelayServer::start()
{
	_pImpl->start();
}


void RelayServer::stop()
{
	_pImpl->stop();
}


std::uint16_t RelayServer::port() const
{
	return _pImpl->port();
}


std::uint16_t RelayServer::probePort() const
{
	return _pImpl->probePort();
}


std::string RelayServer::healthJson() const
{
	return _pImpl->healthJson();
}


} } // namespace CrossChat::Relay
