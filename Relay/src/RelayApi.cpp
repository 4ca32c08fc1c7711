//
// RelayApi.cpp
//
// Library: Relay
//
// Order of checks for every request (docs/PROTOCOL.md, "HTTP rules"): the front has already
// checked the head and body sizes; here come the per-source request rate, the route, the
// signature (signed endpoints), the body, then the action. Nothing here scans the registry:
// lookups are by ID, the directory and the status page come from the registry's bounded
// indexes, and rendered pages are cached for PAGE_CACHE.
//


#include "RelayApi.h"
#include "ControlHub.h"
#include "IpRateLimiter.h"
#include "PeerRegistry.h"
#include "ProxyProtocol.h"
#include "RelayRequests.h"
#include "RequestAuth.h"
#include "StatusPages.h"
#include "TunnelManager.h"
#include "TunnelSession.h"
#include "CrossChat/Relay/RelayProtocol.h"
#include "Poco/JSON/Array.h"
#include "Poco/Net/HTTPResponse.h"
#include "Poco/String.h"
#include "Poco/URI.h"
#include <algorithm>
#include <random>
#include <sstream>


#ifndef CROSSCHAT_RELAY_VERSION
#define CROSSCHAT_RELAY_VERSION "0.0.0"
#endif


namespace CrossChat {
namespace Relay {


namespace {


using Poco::Net::HTTPResponse;

constexpr std::size_t TOKEN_BYTES = 32;
constexpr int PAGE_STATUS = 0;
constexpr int PAGE_HEALTH = 1;
constexpr int PAGE_METRICS = 2;


std::string stringify(const Poco::JSON::Object& object)
{
	std::ostringstream out;
	object.stringify(out);
	return out.str();
}


void json(ApiReply& reply, int status, const Poco::JSON::Object& body)
{
	reply.status = status;
	reply.contentType = "application/json";
	reply.body = stringify(body);
}


std::int64_t ceilSeconds(std::chrono::steady_clock::duration duration)
{
	const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(duration).count();
	return std::max<std::int64_t>(1, (ms + 999) / 1000);
}


bool hasBody(const Poco::Net::HTTPRequest& request)
{
	return request.hasContentLength() && request.getContentLength64() > 0;
}


} // namespace


std::int64_t jitteredSeconds(std::chrono::seconds base)
{
	thread_local std::mt19937_64 generator(std::random_device{}());
	const double factor = std::uniform_real_distribution<double>(0.9, 1.1)(generator);
	return std::max<std::int64_t>(1, static_cast<std::int64_t>(static_cast<double>(base.count()) * factor + 0.5));
}


std::int64_t wallClockMs()
{
	return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}


Poco::JSON::Object::Ptr tunnelLimitsJson(const RelayServerConfig& config, const RelayLimits& limits)
{
	Poco::JSON::Object::Ptr pLimits = new Poco::JSON::Object(Poco::JSON_PRESERVE_KEY_ORDER);
	pLimits->set("tunnel_rate_bps", static_cast<Poco::UInt64>(config.tunnelRateBytesPerSecond));
	pLimits->set("global_rate_bps", static_cast<Poco::UInt64>(config.globalRateBytesPerSecond));
	pLimits->set("max_tunnels", limits.maxTunnels);
	pLimits->set("tunnel_idle_s", static_cast<std::int64_t>(config.tunnelIdleTimeout.count()));
	pLimits->set("tunnel_join_s", static_cast<std::int64_t>(config.tunnelJoinTimeout.count()));
	return pLimits;
}


RelayApi::RelayApi(ServerContext& context, Clock::time_point started):
	_context(context),
	_started(started)
{
}


RelayApi::~RelayApi() = default;


void RelayApi::error(ApiReply& reply, int status, const std::string& code, const std::string& message, std::int64_t retryAfter)
{
	Poco::JSON::Object body(Poco::JSON_PRESERVE_KEY_ORDER);
	body.set("error", code);
	body.set("message", message);
	if (retryAfter > 0) reply.headers.emplace_back("Retry-After", std::to_string(retryAfter));
	json(reply, status, body);
}


void RelayApi::reject(const ApiRequest& request, ApiReply& reply, int status, Rejection reason, const std::string& code,
	const std::string& message, std::int64_t retryAfter)
{
	_context.metrics.reject(reason);
	if (_context.logger.debug() && _context.logAllowed())
	{
		_context.logger.debug("%s %s from %s refused with %d: %s", request.request.getMethod(),
			request.request.getURI().substr(0, 200), request.client.toString(), status, message);
	}
	error(reply, status, code, message, retryAfter);
}


void RelayApi::handle(const ApiRequest& request, ApiReply& reply)
{
	_context.metrics.requests++;
	try
	{
		route(request, reply);
	}
	catch (const BadRequestException& exc)
	{
		reply = ApiReply();
		reject(request, reply, HTTPResponse::HTTP_BAD_REQUEST, Rejection::BAD_REQUEST, "bad_request", exc.message());
	}
	catch (const std::exception& exc)
	{
		if (_context.logAllowed())
			_context.logger.warning("request %s %s failed: %s", request.request.getMethod(), request.request.getURI().substr(0, 200), std::string(exc.what()));
		reply = ApiReply();
		error(reply, HTTPResponse::HTTP_INTERNAL_SERVER_ERROR, "internal", "internal error");
		reply.close = true;
	}
}


bool RelayApi::admit(const ApiRequest& request, ApiReply& reply)
{
	std::chrono::steady_clock::duration retryAfter{};
	if (_context.requestRate.admit(request.source, _context.now(), retryAfter)) return true;
	reject(request, reply, HTTPResponse::HTTP_TOO_MANY_REQUESTS, Rejection::RATE_LIMITED, "rate_limited",
		"too many requests", ceilSeconds(retryAfter));
	return false;
}


void RelayApi::route(const ApiRequest& request, ApiReply& reply)
{
	const std::string& target = request.request.getURI();
	if (target.empty() || target[0] != '/') throw BadRequestException("malformed request URI");
	const std::size_t question = target.find('?');
	std::string path;
	try
	{
		Poco::URI::decode(target.substr(0, question), path);
	}
	catch (const Poco::Exception&)
	{
		throw BadRequestException("malformed request URI");
	}
	const std::string rawQuery = question == std::string::npos ? std::string() : target.substr(question + 1);
	const std::string prefix = RelayProtocol::API_PREFIX;
	const bool api = path.compare(0, prefix.size() + 1, prefix + "/") == 0;
	const std::string rest = api ? path.substr(prefix.size()) : std::string();
	const std::string& method = request.request.getMethod();

	if (path == "/health" || path == "/metrics")
	{
		if (methodAllowed(request, reply, "GET, HEAD")) page(request, reply, path);
		return;
	}
	// A tunnel join that presents a callee's token is paid for by the caller (who was rate
	// limited when asking for the tunnel): it never spends the callee's own request budget.
	const bool calleeJoin = rest.compare(0, 9, "/tunnels/") == 0 && rest.size() > 9 && rest.size() <= 9 + 128
		&& _context.tunnels.isCalleeToken(rest.substr(9), _context.now());
	if ((api || path == "/") && !calleeJoin && !admit(request, reply)) return;
	if (path == "/")
	{
		if (methodAllowed(request, reply, "GET, HEAD")) page(request, reply, path);
		return;
	}
	if (!api)
	{
		reject(request, reply, HTTPResponse::HTTP_NOT_FOUND, Rejection::NOT_FOUND, "not_found", "no such path");
		return;
	}
	if (rest == "/announce")
	{
		if (method == Poco::Net::HTTPRequest::HTTP_POST) announce(request, reply);
		else if (method == Poco::Net::HTTPRequest::HTTP_DELETE) unregister(request, reply);
		else methodAllowed(request, reply, "POST, DELETE");
	}
	else if (rest.compare(0, 7, "/peers/") == 0 && rest.size() > 7)
	{
		if (methodAllowed(request, reply, "GET")) lookup(request, reply, rest.substr(7));
	}
	else if (rest == "/directory")
	{
		if (methodAllowed(request, reply, "GET")) directory(request, reply, rawQuery);
	}
	else if (rest == "/tunnels")
	{
		if (methodAllowed(request, reply, "POST")) openTunnel(request, reply);
	}
	else if (rest.compare(0, 9, "/tunnels/") == 0 && rest.size() > 9)
	{
		if (methodAllowed(request, reply, "GET")) upgradeTunnel(request, reply, rest.substr(9));
	}
	else if (rest == "/control")
	{
		if (methodAllowed(request, reply, "GET")) upgradeControl(request, reply);
	}
	else
	{
		reject(request, reply, HTTPResponse::HTTP_NOT_FOUND, Rejection::NOT_FOUND, "not_found", "no such path");
	}
}


bool RelayApi::methodAllowed(const ApiRequest& request, ApiReply& reply, const char* allowed)
{
	const std::string& method = request.request.getMethod();
	std::istringstream in(allowed);
	std::string item;
	while (std::getline(in, item, ','))
	{
		if (Poco::trim(item) == method) return true;
	}
	reply.headers.emplace_back("Allow", allowed);
	reject(request, reply, HTTPResponse::HTTP_METHOD_NOT_ALLOWED, Rejection::METHOD_NOT_ALLOWED,
		"method_not_allowed", method + " not allowed here");
	return false;
}


std::shared_ptr<const std::string> RelayApi::cachedPage(CachedPage& cache, int which)
{
	const auto now = _context.now();
	{
		std::lock_guard<std::mutex> lock(_cacheMutex);
		if (cache.text && now - cache.rendered < PAGE_CACHE) return cache.text;
	}
	// Rendered outside the lock: two threads may both render once, never more per period.
	std::string text;
	if (which == PAGE_STATUS) text = renderStatusHtml(snapshot(true));
	else if (which == PAGE_HEALTH) text = renderHealthJson(snapshot(false));
	else text = renderMetrics(snapshot(false));
	auto pText = std::make_shared<const std::string>(std::move(text));
	std::lock_guard<std::mutex> lock(_cacheMutex);
	cache.rendered = now;
	cache.text = pText;
	return pText;
}


void RelayApi::page(const ApiRequest& request, ApiReply& reply, const std::string& path)
{
	reply.head = request.request.getMethod() == Poco::Net::HTTPRequest::HTTP_HEAD;
	reply.status = HTTPResponse::HTTP_OK;
	if (path == "/")
	{
		reply.contentType = "text/html; charset=utf-8";
		reply.body = *cachedPage(_status, PAGE_STATUS);
	}
	else if (path == "/health")
	{
		reply.contentType = "application/json";
		reply.body = *cachedPage(_health, PAGE_HEALTH);
	}
	else
	{
		reply.contentType = "text/plain; version=0.0.4; charset=utf-8";
		reply.body = *cachedPage(_metrics, PAGE_METRICS);
	}
}


std::string RelayApi::healthJson()
{
	return *cachedPage(_health, PAGE_HEALTH);
}


std::optional<PublicKey> RelayApi::authenticate(const ApiRequest& request, ApiReply& reply)
{
	const RequestAuth::Result result = _context.auth.verify(request.request, request.request.getMethod(),
		request.request.getURI(), request.body, wallClockMs(), _context.now(), request.source);
	switch (result.status)
	{
	case RequestAuth::Status::OK:
		return result.key;
	case RequestAuth::Status::UNAUTHORIZED:
		reject(request, reply, HTTPResponse::HTTP_UNAUTHORIZED, Rejection::UNAUTHORIZED, "unauthorized", result.reason);
		break;
	case RequestAuth::Status::FORBIDDEN:
		reject(request, reply, HTTPResponse::HTTP_FORBIDDEN, Rejection::FORBIDDEN, "forbidden", result.reason);
		break;
	case RequestAuth::Status::UNAVAILABLE:
		reject(request, reply, HTTPResponse::HTTP_SERVICE_UNAVAILABLE, Rejection::UNAVAILABLE, "busy", result.reason, 5);
		break;
	}
	return std::nullopt;
}


void RelayApi::announce(const ApiRequest& request, ApiReply& reply)
{
	const std::optional<PublicKey> key = authenticate(request, reply);
	if (!key) return;
	const AnnounceRequest announcement = AnnounceRequest::parse(request.body);
	const Poco::Net::SocketAddress& observed = request.client;
	const auto now = _context.now();

	PeerRecord record;
	record.id = key->peerId();
	record.publicKeyRaw = key->raw();
	record.name = announcement.name;
	record.addresses = announcement.resolve(observed);
	record.chatPort = announcement.port;
	record.directory = announcement.directory;
	record.observed = observed;
	record.publishObserved = announcement.asksForObserved();
	record.source = request.source;
	record.lastSeenMs = wallClockMs();
	record.expires = now + _context.config.recordTtl;
	switch (_context.registry.put(record, _context.limits.maxPeers, _context.limits.maxRecordsPerSource))
	{
	case PeerRegistry::PutResult::OK:
		break;
	case PeerRegistry::PutResult::FULL:
		reject(request, reply, HTTPResponse::HTTP_SERVICE_UNAVAILABLE, Rejection::UNAVAILABLE, "busy",
			"the relay holds as many peers as it may", ceilSeconds(_context.config.lookupRetryAfter));
		return;
	case PeerRegistry::PutResult::SOURCE_FULL:
		reject(request, reply, HTTPResponse::HTTP_SERVICE_UNAVAILABLE, Rejection::SOURCE_LIMIT, "busy",
			"this address has announced as many peers as it may", ceilSeconds(_context.config.lookupRetryAfter));
		return;
	}
	_context.metrics.announces.add(1, now);

	Poco::JSON::Object answer(Poco::JSON_PRESERVE_KEY_ORDER);
	answer.set("id", record.id.toString());
	answer.set("observed", observed.toString());
	answer.set("ttl_s", static_cast<std::int64_t>(_context.config.recordTtl.count()));
	answer.set("reannounce_s", jitteredSeconds(_context.config.reannounceAfter));
	Poco::JSON::Array::Ptr pAddresses = new Poco::JSON::Array;
	for (const auto& address: record.addresses) pAddresses->add(address.toString());
	answer.set("addresses", pAddresses);
	json(reply, HTTPResponse::HTTP_OK, answer);
}


void RelayApi::unregister(const ApiRequest& request, ApiReply& reply)
{
	const std::optional<PublicKey> key = authenticate(request, reply);
	if (!key) return;
	_context.registry.remove(key->peerId());
	reply.status = HTTPResponse::HTTP_NO_CONTENT;
}


void RelayApi::lookup(const ApiRequest& request, ApiReply& reply, const std::string& idText)
{
	const std::optional<PeerId> id = PeerId::tryParse(idText);
	if (!id) throw BadRequestException("not a peer ID");
	const auto now = _context.now();
	_context.metrics.lookups.add(1, now);
	const std::optional<PeerRecord> record = _context.registry.find(*id, now);
	const std::optional<ControlHub::Entry> control = _context.hub.find(*id);
	if (!record && !control)
	{
		reject(request, reply, HTTPResponse::HTTP_NOT_FOUND, Rejection::NOT_FOUND, "not_found", "unknown peer",
			jitteredSeconds(_context.config.lookupRetryAfter));
		return;
	}
	Poco::JSON::Object answer(Poco::JSON_PRESERVE_KEY_ORDER);
	answer.set("id", id->toString());
	Poco::JSON::Array::Ptr pAddresses = new Poco::JSON::Array;
	if (record)
	{
		answer.set("name", record->name);
		answer.set("public_key", base64Encode(record->publicKeyRaw));
		for (const auto& address: record->addresses) pAddresses->add(address.toString());
		answer.set("addresses", pAddresses);
		// The peer's public address only if it asked for it to be published (privacy).
		if (record->publishObserved) answer.set("observed", record->observed.toString());
		answer.set("last_seen_ms", record->lastSeenMs);
	}
	else
	{
		// Online without an announce: the key is useful, the address is not handed out.
		answer.set("name", "");
		answer.set("public_key", base64Encode(control->publicKeyRaw));
		answer.set("addresses", pAddresses);
		answer.set("last_seen_ms", wallClockMs());
	}
	answer.set("online", control.has_value());
	json(reply, HTTPResponse::HTTP_OK, answer);
}


std::string RelayApi::renderDirectory(const std::string& rawQuery)
{
	const DirectoryQuery query = DirectoryQuery::parse(rawQuery);
	const DirectoryPage page = _context.registry.directory(query.text, query.offset, query.limit, _context.now());
	Poco::JSON::Array::Ptr pPeers = new Poco::JSON::Array;
	for (const DirectoryEntry& entry: page.entries)
	{
		Poco::JSON::Object::Ptr pPeer = new Poco::JSON::Object(Poco::JSON_PRESERVE_KEY_ORDER);
		pPeer->set("id", entry.id.toString());
		pPeer->set("name", entry.name);
		pPeer->set("online", true);   // the directory lists online peers only
		pPeer->set("last_seen_ms", entry.lastSeenMs);
		pPeers->add(pPeer);
	}
	Poco::JSON::Object answer(Poco::JSON_PRESERVE_KEY_ORDER);
	answer.set("peers", pPeers);
	answer.set("total", static_cast<Poco::UInt64>(page.total));
	answer.set("offset", static_cast<Poco::UInt64>(query.offset));
	answer.set("limit", static_cast<Poco::UInt64>(query.limit));
	return stringify(answer);
}


void RelayApi::directory(const ApiRequest&, ApiReply& reply, const std::string& rawQuery)
{
	if (rawQuery.size() > 1024) throw BadRequestException("query string too long");
	const auto now = _context.now();
	{
		std::lock_guard<std::mutex> lock(_cacheMutex);
		const auto it = _directoryCache.find(rawQuery);
		if (it != _directoryCache.end() && now - it->second->second.rendered < PAGE_CACHE)
		{
			_directoryOrder.splice(_directoryOrder.begin(), _directoryOrder, it->second);
			reply.status = HTTPResponse::HTTP_OK;
			reply.contentType = "application/json";
			reply.body = *it->second->second.text;
			return;
		}
	}
	auto pText = std::make_shared<const std::string>(renderDirectory(rawQuery));   // throws for a bad query
	reply.status = HTTPResponse::HTTP_OK;
	reply.contentType = "application/json";
	reply.body = *pText;
	std::lock_guard<std::mutex> lock(_cacheMutex);
	auto it = _directoryCache.find(rawQuery);
	if (it == _directoryCache.end())
	{
		if (_directoryCache.size() >= DIRECTORY_CACHE_ENTRIES)
		{
			_directoryCache.erase(_directoryOrder.back().first);
			_directoryOrder.pop_back();
		}
		_directoryOrder.emplace_front(rawQuery, CachedPage());
		it = _directoryCache.emplace(rawQuery, _directoryOrder.begin()).first;
	}
	else
	{
		_directoryOrder.splice(_directoryOrder.begin(), _directoryOrder, it->second);
	}
	it->second->second.rendered = now;
	it->second->second.text = pText;
}


void RelayApi::openTunnel(const ApiRequest& request, ApiReply& reply)
{
	const std::optional<PublicKey> key = authenticate(request, reply);
	if (!key) return;
	const TunnelOpenRequest open = TunnelOpenRequest::parse(request.body);
	const PeerId caller = key->peerId();
	if (open.to == caller) throw BadRequestException("cannot open a tunnel to yourself");
	const auto now = _context.now();
	// Invites are charged to the caller's source: its own rate and its own share of tunnels.
	std::chrono::steady_clock::duration retryAfter{};
	if (!_context.tunnelRate.admit(request.source, now, retryAfter))
	{
		reject(request, reply, HTTPResponse::HTTP_TOO_MANY_REQUESTS, Rejection::RATE_LIMITED, "rate_limited",
			"too many tunnel requests", ceilSeconds(retryAfter));
		return;
	}
	if (!_context.hub.online(open.to))
	{
		reject(request, reply, HTTPResponse::HTTP_NOT_FOUND, Rejection::NOT_FOUND, "offline", "the peer is not online",
			jitteredSeconds(_context.config.lookupRetryAfter));
		return;
	}
	const std::string callerToken = randomHex(TOKEN_BYTES);
	const std::string calleeToken = randomHex(TOKEN_BYTES);
	auto pSession = TunnelSession::create(_context, callerToken, calleeToken, request.source);
	const TunnelManager::AddResult added = _context.tunnels.add(pSession, callerToken, calleeToken,
		now + _context.config.tunnelJoinTimeout, _context.limits.maxTunnels, request.source, _context.limits.maxTunnelsPerSource);
	if (added != TunnelManager::AddResult::OK)
	{
		const bool source = added == TunnelManager::AddResult::SOURCE_FULL;
		_context.metrics.reject(source ? Rejection::SOURCE_LIMIT : Rejection::UNAVAILABLE);
		Poco::JSON::Object body(Poco::JSON_PRESERVE_KEY_ORDER);
		body.set("error", "busy");
		body.set("reason", source ? "max_tunnels_per_ip" : "max_tunnels");
		body.set("message", source ? "this address has as many tunnels as it may" : "the relay runs as many tunnels as it may");
		reply.headers.emplace_back("Retry-After", std::to_string(jitteredSeconds(std::chrono::seconds(30))));
		json(reply, HTTPResponse::HTTP_SERVICE_UNAVAILABLE, body);
		return;
	}
	pSession->start();
	const std::optional<PeerRecord> callerRecord = _context.registry.find(caller, now);
	if (!_context.hub.invite(open.to, calleeToken, caller, callerRecord ? callerRecord->name : std::string()))
	{
		pSession->cancel();
		reject(request, reply, HTTPResponse::HTTP_NOT_FOUND, Rejection::NOT_FOUND, "offline", "the peer is not online",
			jitteredSeconds(_context.config.lookupRetryAfter));
		return;
	}
	_context.metrics.tunnelsOpened.add(1, now);
	Poco::JSON::Object answer(Poco::JSON_PRESERVE_KEY_ORDER);
	answer.set("token", callerToken);
	answer.set("expires_s", static_cast<std::int64_t>(_context.config.tunnelJoinTimeout.count()));
	answer.set("limits", tunnelLimitsJson(_context.config, _context.limits));
	json(reply, HTTPResponse::HTTP_CREATED, answer);
}


bool RelayApi::checkUpgrade(const ApiRequest& request, ApiReply& reply, const char* protocol)
{
	if (!request.request.hasToken("Connection", "upgrade") || Poco::icompare(request.request.get("Upgrade", ""), std::string(protocol)) != 0)
	{
		reply.headers.emplace_back("Upgrade", protocol);
		reject(request, reply, HTTPResponse::HTTP_UPGRADE_REQUIRED, Rejection::BAD_REQUEST, "upgrade_required",
			std::string("this endpoint needs Connection: Upgrade and Upgrade: ") + protocol);
		return false;
	}
	if (hasBody(request.request)) throw BadRequestException("an upgrade request has no body");
	if (_context.draining)
	{
		reject(request, reply, HTTPResponse::HTTP_SERVICE_UNAVAILABLE, Rejection::UNAVAILABLE, "going_away",
			"the relay is shutting down", jitteredSeconds(std::chrono::seconds(30)));
		reply.close = true;
		return false;
	}
	return true;
}


void RelayApi::upgradeControl(const ApiRequest& request, ApiReply& reply)
{
	if (!checkUpgrade(request, reply, RelayProtocol::UPGRADE_CONTROL)) return;
	ConnectionBudget::Refusal refusal = ConnectionBudget::Refusal::NONE;
	ConnectionSlot slot = _context.budget.tryReserve(ConnectionKind::CONTROL, request.source, &refusal);
	if (!slot.valid())
	{
		const bool source = refusal == ConnectionBudget::Refusal::SOURCE;
		reject(request, reply, HTTPResponse::HTTP_SERVICE_UNAVAILABLE, source ? Rejection::SOURCE_LIMIT : Rejection::UNAVAILABLE,
			"busy", source ? "too many control connections from this address" : "too many control connections",
			jitteredSeconds(std::chrono::seconds(30)));
		return;
	}
	reply.status = HTTPResponse::HTTP_SWITCHING_PROTOCOLS;
	reply.upgrade = ApiReply::Upgrade::CONTROL;
	reply.headers.emplace_back("Upgrade", RelayProtocol::UPGRADE_CONTROL);
	reply.headers.emplace_back("Connection", "Upgrade");
	reply.slot = std::move(slot);
}


void RelayApi::upgradeTunnel(const ApiRequest& request, ApiReply& reply, const std::string& token)
{
	if (!checkUpgrade(request, reply, RelayProtocol::UPGRADE_TUNNEL)) return;
	int side = 0;
	std::shared_ptr<TunnelSession> pSession = token.size() <= 128 ? _context.tunnels.claim(token, _context.now(), side) : nullptr;
	if (!pSession)
	{
		reject(request, reply, HTTPResponse::HTTP_NOT_FOUND, Rejection::NOT_FOUND, "not_found", "unknown or expired tunnel token");
		return;
	}
	// Both ends of a tunnel count against the caller's source, who asked for it.
	ConnectionBudget::Refusal refusal = ConnectionBudget::Refusal::NONE;
	ConnectionSlot slot = _context.budget.tryReserve(ConnectionKind::TUNNEL, pSession->owner(), &refusal);
	if (!slot.valid())
	{
		pSession->cancel();
		reject(request, reply, HTTPResponse::HTTP_SERVICE_UNAVAILABLE,
			refusal == ConnectionBudget::Refusal::SOURCE ? Rejection::SOURCE_LIMIT : Rejection::UNAVAILABLE, "busy",
			"too many tunnel connections");
		return;
	}
	reply.status = HTTPResponse::HTTP_SWITCHING_PROTOCOLS;
	reply.upgrade = ApiReply::Upgrade::TUNNEL;
	reply.headers.emplace_back("Upgrade", RelayProtocol::UPGRADE_TUNNEL);
	reply.headers.emplace_back("Connection", "Upgrade");
	reply.slot = std::move(slot);
	reply.tunnel = pSession;
	reply.side = side;
}


StatusSnapshot RelayApi::snapshot(bool withPeers) const
{
	const auto now = _context.now();
	const RelayMetrics& metrics = _context.metrics;
	StatusSnapshot s;
	s.version = CROSSCHAT_RELAY_VERSION;
	s.uptimeSeconds = std::chrono::duration_cast<std::chrono::seconds>(now - _started).count();
	s.records = _context.registry.size();
	s.listed = _context.registry.listed();
	s.online = _context.hub.size();
	s.httpConnections = _context.budget.count(ConnectionKind::HTTP);
	s.controlConnections = _context.budget.count(ConnectionKind::CONTROL);
	s.tunnels = _context.tunnels.size();
	s.tunnelConnections = _context.budget.count(ConnectionKind::TUNNEL);
	s.probeConnections = _context.budget.count(ConnectionKind::PROBE);
	s.sources = _context.budget.sources();
	s.replayEntries = _context.auth.cachedNonces();
	s.rateLimitedSources = _context.requestRate.size();
	s.openDescriptors = openDescriptors();
	s.requests = metrics.requests.load();
	s.announcesTotal = metrics.announces.total();
	s.lookupsTotal = metrics.lookups.total();
	s.tunnelsOpenedTotal = metrics.tunnelsOpened.total();
	s.tunnelsJoinedTotal = metrics.tunnelsJoined.load();
	s.tunnelsExpiredTotal = metrics.tunnelsExpired.load();
	s.bytesRelayedTotal = metrics.bytesRelayed.total();
	s.controlAuthenticatedTotal = metrics.controlAuthenticated.load();
	s.controlReplacedTotal = metrics.controlReplaced.load();
	s.invitesSentTotal = metrics.invitesSent.load();
	s.punchesForwardedTotal = metrics.punchesForwarded.load();
	s.probesAnsweredTotal = metrics.probesAnswered.load();
	s.recordsExpiredTotal = metrics.recordsExpired.load();
	s.connectionsAcceptedTotal = metrics.connectionsAccepted.load();
	s.rejectedTotal = metrics.rejectedTotal();
	const std::size_t minutes[3] = {1, 5, 15};
	for (std::size_t i = 0; i < 3; ++i)
	{
		s.announces[i] = metrics.announces.lastMinutes(minutes[i], now);
		s.lookups[i] = metrics.lookups.lastMinutes(minutes[i], now);
		s.tunnelsOpened[i] = metrics.tunnelsOpened.lastMinutes(minutes[i], now);
		s.bytesRelayed[i] = metrics.bytesRelayed.lastMinutes(minutes[i], now);
	}
	for (std::size_t i = 0; i < static_cast<std::size_t>(Rejection::COUNT); ++i)
	{
		const auto reason = static_cast<Rejection>(i);
		s.rejections.emplace_back(RelayMetrics::rejectionName(reason), metrics.rejected(reason));
	}
	if (withPeers)
	{
		// The registry's recent index holds opted-in peers only (the page is public).
		for (PeerRecord& record: _context.registry.recent(PeerRegistry::RECENT_LIMIT, now))
		{
			const bool online = _context.hub.online(record.id);
			s.recent.emplace_back(std::move(record), online);
		}
	}
	s.clientAddresses = _context.trustedProxies.empty() ? "direct" : "proxied";
	s.natTraversal = _context.probePort != 0 && (_context.trustedProxies.empty() || _context.config.proxyProtocol);
	s.draining = _context.draining.load();
	s.pConfig = &_context.config;
	s.pLimits = &_context.limits;
	return s;
}


} } // namespace CrossChat::Relay
