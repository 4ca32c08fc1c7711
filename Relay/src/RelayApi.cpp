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
#include "HandleBook.h"
#include "IpRateLimiter.h"
#include "Mailbox.h"
#include "PeerRegistry.h"
#include "PrekeyBook.h"
#include "ProxyProtocol.h"
#include "RelayRequests.h"
#include "RelayStore.h"
#include "RequestAuth.h"
#include "StatusPages.h"
#include "TokenBook.h"
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
constexpr int PAGE_HEALTH_PUBLIC = 3;
constexpr std::int64_t MAX_PREKEY_LIFETIME_MS = 60LL * 86400 * 1000;   ///< A bundle is kept at most this long.


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


void RelayApi::route(const ApiRequest& original, ApiReply& reply)
{
	ApiRequest request = original;
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
		bool full = true;
		if (methodAllowed(request, reply, "GET, HEAD") && admitStatus(request, reply, full))
		{
			if (path == "/metrics" && !full)
			{
				refuseToken(request, reply, HTTPResponse::HTTP_FORBIDDEN, "admin_required", "/metrics needs an admin token on this relay");
				return;
			}
			page(request, reply, path, full);
		}
		return;
	}
	// A tunnel join that presents a callee's token is paid for by the caller (who was rate
	// limited when asking for the tunnel): it never spends the callee's own request budget.
	const bool calleeJoin = rest.compare(0, 9, "/tunnels/") == 0 && rest.size() > 9 && rest.size() <= 9 + 128
		&& _context.tunnels.isCalleeToken(rest.substr(9), _context.now());
	if ((api || path == "/") && !calleeJoin && !admit(request, reply)) return;
	if (path == "/")
	{
		bool full = true;
		if (methodAllowed(request, reply, "GET, HEAD") && admitStatus(request, reply, full))
		{
			if (!full)
			{
				refuseToken(request, reply, HTTPResponse::HTTP_FORBIDDEN, "admin_required", "the status page needs an admin token on this relay");
				return;
			}
			page(request, reply, path, true);
		}
		return;
	}
	if (!api)
	{
		reject(request, reply, HTTPResponse::HTTP_NOT_FOUND, Rejection::NOT_FOUND, "not_found", "no such path");
		return;
	}
	if (!authorize(request, reply)) return;
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
	else if (rest.compare(0, 9, "/prekeys/") == 0 && rest.size() > 9)
	{
		if (methodAllowed(request, reply, "GET")) prekeys(request, reply, rest.substr(9));
	}
	else if (rest == "/handles")
	{
		if (method == Poco::Net::HTTPRequest::HTTP_POST) claimHandle(request, reply);
		else if (method == Poco::Net::HTTPRequest::HTTP_DELETE) releaseHandle(request, reply);
		else methodAllowed(request, reply, "POST, DELETE");
	}
	else if (rest.compare(0, 9, "/handles/") == 0 && rest.size() > 9)
	{
		if (methodAllowed(request, reply, "GET")) lookupHandle(request, reply, rest.substr(9));
	}
	else if (rest.compare(0, 9, "/mailbox/") == 0 && rest.size() > 9)
	{
		if (methodAllowed(request, reply, "POST")) deposit(request, reply, rest.substr(9));
	}
	else
	{
		reject(request, reply, HTTPResponse::HTTP_NOT_FOUND, Rejection::NOT_FOUND, "not_found", "no such path");
	}
}


bool RelayApi::authorize(ApiRequest& request, ApiReply& reply)
	/// relay.access = token: every API call carries a token in force.
{
	if (_context.config.access != RelayAccess::TOKEN || !_context.pTokens) return true;
	const TokenBook::Result result = _context.pTokens->check(request.request.get(RelayProtocol::HEADER_AUTHORIZATION, ""),
		ServerContext::wallMs());
	if (result.status == TokenBook::Status::OK)
	{
		request.token = result.token;
		return true;
	}
	refuseToken(request, reply, HTTPResponse::HTTP_UNAUTHORIZED, TokenBook::statusCode(result.status),
		TokenBook::statusMessage(result.status));
	return false;
}


bool RelayApi::admitStatus(const ApiRequest& request, ApiReply& reply, bool& full)
	/// relay.statusAccess = admin: full pages need an admin token; without any token, /health
	/// is the short public form. A token that is presented must be in force.
{
	full = true;
	if (!_context.config.adminStatus || !_context.pTokens) return true;
	const std::string authorization = request.request.get(RelayProtocol::HEADER_AUTHORIZATION, "");
	const TokenBook::Result result = _context.pTokens->check(authorization, ServerContext::wallMs());
	if (result.status == TokenBook::Status::MISSING)
	{
		full = false;
		return true;
	}
	if (result.status != TokenBook::Status::OK)
	{
		refuseToken(request, reply, HTTPResponse::HTTP_UNAUTHORIZED, TokenBook::statusCode(result.status),
			TokenBook::statusMessage(result.status));
		return false;
	}
	full = result.token->admin;
	return true;
}


void RelayApi::refuseToken(const ApiRequest& request, ApiReply& reply, int status, const char* code, const std::string& message)
{
	// RFC 6750 section 3: the scheme, and for a token that was presented and is no good,
	// error="invalid_token".
	const std::string challenge = std::string("Bearer realm=\"crosschat-relay\"")
		+ (std::string(code) == "token_required" || std::string(code) == "admin_required" ? "" : ", error=\"invalid_token\"");
	reply.headers.emplace_back("WWW-Authenticate", challenge);
	reject(request, reply, status, Rejection::ACCESS, code, message);
}


void RelayApi::quota(const ApiRequest& request, ApiReply& reply, const char* which)
{
	_context.metrics.reject(Rejection::QUOTA);
	Poco::JSON::Object body(Poco::JSON_PRESERVE_KEY_ORDER);
	body.set("error", "quota");
	body.set("reason", which);
	body.set("message", std::string("this access token's quota of ") + which + " is used up");
	if (_context.logger.debug() && _context.logAllowed())
		_context.logger.debug("%s from %s: quota of %s used up", request.request.getMethod(), request.client.toString(), std::string(which));
	json(reply, HTTPResponse::HTTP_FORBIDDEN, body);
}


void RelayApi::storageFailed(ApiReply& reply)
{
	reply = ApiReply();
	error(reply, HTTPResponse::HTTP_INTERNAL_SERVER_ERROR, "storage", "the relay could not store this; try again later");
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
	else if (which == PAGE_HEALTH_PUBLIC) text = renderPublicHealthJson(snapshot(false));
	else text = renderMetrics(snapshot(false));
	auto pText = std::make_shared<const std::string>(std::move(text));
	std::lock_guard<std::mutex> lock(_cacheMutex);
	cache.rendered = now;
	cache.text = pText;
	return pText;
}


void RelayApi::page(const ApiRequest& request, ApiReply& reply, const std::string& path, bool full)
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
		reply.body = full ? *cachedPage(_health, PAGE_HEALTH) : *cachedPage(_healthPublic, PAGE_HEALTH_PUBLIC);
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
	const std::int64_t nowMs = wallClockMs();

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
	record.token = request.token ? request.token->id : std::string();
	record.lastSeenMs = nowMs;
	record.expiresMs = nowMs + std::chrono::duration_cast<std::chrono::milliseconds>(_context.config.recordTtl).count();
	record.expires = now + _context.config.recordTtl;
	PeerRegistry::PutLimits limits;
	limits.maxRecords = _context.limits.maxPeers;
	limits.maxPerSource = _context.limits.maxRecordsPerSource;
	limits.maxPerToken = request.token ? static_cast<std::size_t>(request.token->maxPeers) : 0;
	std::vector<CommitTicket::Ptr> tickets{CommitTicket::create()};
	switch (_context.registry.put(record, limits, tickets.front()))
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
	case PeerRegistry::PutResult::TOKEN_FULL:
		quota(request, reply, "peers");
		return;
	}
	_context.metrics.announces.add(1, now);
	if (_context.pHandles) _context.pHandles->renew(record.id, nowMs);

	std::size_t prekeysKept = 0;
	if (announcement.prekeys && _context.pPrekeys)
	{
		// Pre-keys outlive the record (days, not an hour): that is what lets mail reach a peer
		// that has been offline for long. Expired ones are dropped; the bundle lasts until its
		// last pre-key expires, at most MAX_PREKEY_LIFETIME_MS from now.
		PrekeyBundle bundle;
		bundle.id = record.id;
		bundle.publicKeyRaw = record.publicKeyRaw;
		bundle.source = request.source;
		for (const Prekey& prekey: *announcement.prekeys)
		{
			if (prekey.expiresMs <= nowMs) continue;
			bundle.prekeys.push_back(prekey);
			bundle.expiresMs = std::max(bundle.expiresMs, std::min(prekey.expiresMs, nowMs + MAX_PREKEY_LIFETIME_MS));
		}
		auto ticket = CommitTicket::create();
		const PrekeyBook::PutResult kept = _context.pPrekeys->put(bundle, _context.limits.maxPeers,
			_context.limits.maxRecordsPerSource, ticket);
		if (kept == PrekeyBook::PutResult::OK)
		{
			tickets.push_back(ticket);
			prekeysKept = bundle.prekeys.size();
		}
		else
		{
			_context.metrics.reject(kept == PrekeyBook::PutResult::SOURCE_FULL ? Rejection::SOURCE_LIMIT : Rejection::UNAVAILABLE);
		}
	}

	Poco::JSON::Object answer(Poco::JSON_PRESERVE_KEY_ORDER);
	answer.set("id", record.id.toString());
	answer.set("observed", observed.toString());
	answer.set("ttl_s", static_cast<std::int64_t>(_context.config.recordTtl.count()));
	answer.set("reannounce_s", jitteredSeconds(_context.config.reannounceAfter));
	Poco::JSON::Array::Ptr pAddresses = new Poco::JSON::Array;
	for (const auto& address: record.addresses) pAddresses->add(address.toString());
	answer.set("addresses", pAddresses);
	if (announcement.prekeys) answer.set("prekeys", static_cast<Poco::UInt64>(prekeysKept));
	if (_context.pHandles)
	{
		const std::optional<std::string> handle = _context.pHandles->handleOf(record.id, nowMs);
		if (handle) answer.set("handle", *handle);
	}
	json(reply, HTTPResponse::HTTP_OK, answer);
	// Answered once the record (and the pre-keys) would survive a crash of the relay.
	reply.commit = CommitTicket::all(tickets);
}


void RelayApi::prekeys(const ApiRequest& request, ApiReply& reply, const std::string& idText)
{
	const std::optional<PeerId> id = PeerId::tryParse(idText);
	if (!id) throw BadRequestException("not a peer ID");
	_context.metrics.prekeyLookups++;
	const std::optional<PrekeyBundle> bundle = _context.pPrekeys ? _context.pPrekeys->find(*id, wallClockMs()) : std::nullopt;
	if (!bundle)
	{
		reject(request, reply, HTTPResponse::HTTP_NOT_FOUND, Rejection::NOT_FOUND, "not_found", "no pre-keys for this peer",
			jitteredSeconds(_context.config.lookupRetryAfter));
		return;
	}
	Poco::JSON::Object answer(Poco::JSON_PRESERVE_KEY_ORDER);
	answer.set("id", id->toString());
	answer.set("public_key", base64Encode(bundle->publicKeyRaw));
	answer.set("prekeys", Prekey::listToJson(bundle->prekeys));
	json(reply, HTTPResponse::HTTP_OK, answer);
}


void RelayApi::claimHandle(const ApiRequest& request, ApiReply& reply)
{
	const std::optional<PublicKey> key = authenticate(request, reply);
	if (!key) return;
	const HandleClaimRequest claim = HandleClaimRequest::parse(request.body);
	const std::int64_t nowMs = wallClockMs();
	const std::int64_t skew = std::chrono::duration_cast<std::chrono::milliseconds>(RelayProtocol::MAX_CLOCK_SKEW).count();
	if (claim.timestampMs < nowMs - skew || claim.timestampMs > nowMs + skew)
		throw BadRequestException("field 'ts': the claim must be made within a minute of the relay's clock");
	if (!key->verify(RelayProtocol::handleSigningString(claim.handle, claim.timestampMs), claim.signature))
	{
		reject(request, reply, HTTPResponse::HTTP_UNAUTHORIZED, Rejection::UNAUTHORIZED, "unauthorized", "bad claim signature");
		return;
	}
	if (!_context.pHandles)
	{
		reject(request, reply, HTTPResponse::HTTP_NOT_FOUND, Rejection::NOT_FOUND, "not_found", "this relay keeps no handles");
		return;
	}
	HandleRecord record;
	record.handle = claim.handle;
	record.id = key->peerId();
	record.publicKeyRaw = key->raw();
	record.claimTs = claim.timestampMs;
	record.claimSignature = claim.signature;
	record.claimedMs = nowMs;
	record.renewedMs = nowMs;
	record.source = request.source;
	record.token = request.token ? request.token->id : std::string();
	auto ticket = CommitTicket::create();
	switch (_context.pHandles->claim(record, _context.config.maxHandles, _context.limits.maxHandlesPerSource, ticket))
	{
	case HandleBook::ClaimResult::OK:
		break;
	case HandleBook::ClaimResult::TAKEN:
		reject(request, reply, HTTPResponse::HTTP_CONFLICT, Rejection::CONFLICT, "handle_taken", "another peer holds this handle");
		return;
	case HandleBook::ClaimResult::FULL:
		reject(request, reply, HTTPResponse::HTTP_SERVICE_UNAVAILABLE, Rejection::UNAVAILABLE, "busy",
			"the relay holds as many handles as it may", ceilSeconds(_context.config.lookupRetryAfter));
		return;
	case HandleBook::ClaimResult::SOURCE_FULL:
		reject(request, reply, HTTPResponse::HTTP_SERVICE_UNAVAILABLE, Rejection::SOURCE_LIMIT, "busy",
			"this address has claimed as many handles as it may", ceilSeconds(_context.config.lookupRetryAfter));
		return;
	}
	_context.metrics.handlesClaimed++;
	Poco::JSON::Object answer(Poco::JSON_PRESERVE_KEY_ORDER);
	answer.set("handle", record.handle);
	answer.set("id", record.id.toString());
	answer.set("release_s", static_cast<std::int64_t>(_context.config.handleRelease.count()));
	json(reply, HTTPResponse::HTTP_OK, answer);
	reply.commit = ticket;
}


void RelayApi::releaseHandle(const ApiRequest& request, ApiReply& reply)
{
	const std::optional<PublicKey> key = authenticate(request, reply);
	if (!key) return;
	if (_context.pHandles && _context.pHandles->release(key->peerId())) _context.metrics.handlesReleased++;
	reply.status = HTTPResponse::HTTP_NO_CONTENT;
}


void RelayApi::lookupHandle(const ApiRequest& request, ApiReply& reply, const std::string& handle)
{
	if (!RelayProtocol::isValidHandle(handle)) throw BadRequestException("not a handle");
	_context.metrics.handleLookups++;
	const std::optional<HandleRecord> record = _context.pHandles ? _context.pHandles->find(handle, wallClockMs()) : std::nullopt;
	if (!record)
	{
		reject(request, reply, HTTPResponse::HTTP_NOT_FOUND, Rejection::NOT_FOUND, "not_found", "nobody holds this handle");
		return;
	}
	// The binding and its proof, nothing else: no address, no name, no online state.
	Poco::JSON::Object answer(Poco::JSON_PRESERVE_KEY_ORDER);
	answer.set("handle", record->handle);
	answer.set("id", record->id.toString());
	answer.set("public_key", base64Encode(record->publicKeyRaw));
	answer.set("ts", record->claimTs);
	answer.set("signature", base64Encode(record->claimSignature));
	json(reply, HTTPResponse::HTTP_OK, answer);
}


void RelayApi::deposit(const ApiRequest& request, ApiReply& reply, const std::string& idText)
{
	const std::optional<PeerId> recipient = PeerId::tryParse(idText);
	if (!recipient || recipient->isNull()) throw BadRequestException("not a peer ID");
	const EnvelopeHeader header = EnvelopeHeader::parse(request.body, _context.config.maxEnvelopeSize);
	if (header.recipient != *recipient) throw BadRequestException("the envelope is sealed for another peer");
	if (!_context.pMailbox)
	{
		reject(request, reply, HTTPResponse::HTTP_NOT_FOUND, Rejection::NOT_FOUND, "not_found", "this relay keeps no mailbox");
		return;
	}
	const std::int64_t nowMs = wallClockMs();
	auto ticket = CommitTicket::create();
	std::string id;
	const Mailbox::DepositResult result = _context.pMailbox->deposit(*recipient, request.body, request.source,
		request.token ? request.token->id : std::string(), request.token ? request.token->maxMailboxBytes : 0, nowMs, ticket, id);
	switch (result)
	{
	case Mailbox::DepositResult::OK:
		break;
	case Mailbox::DepositResult::TOKEN_FULL:
		quota(request, reply, "mailbox");
		return;
	default:
	{
		const bool source = result == Mailbox::DepositResult::SOURCE_FULL;
		_context.metrics.reject(source ? Rejection::SOURCE_LIMIT : Rejection::UNAVAILABLE);
		Poco::JSON::Object body(Poco::JSON_PRESERVE_KEY_ORDER);
		body.set("error", "busy");
		body.set("reason", result == Mailbox::DepositResult::FULL ? "mailbox_full"
			: source ? "mailbox_source_full" : "mailbox_recipient_full");
		body.set("message", result == Mailbox::DepositResult::FULL ? "the relay's mailbox is full"
			: source ? "this address has left as much mail as it may" : "the recipient's mailbox is full");
		reply.headers.emplace_back("Retry-After", std::to_string(jitteredSeconds(std::chrono::seconds(300))));
		json(reply, HTTPResponse::HTTP_SERVICE_UNAVAILABLE, body);
		return;
	}
	}
	_context.metrics.mailDeposited++;
	Poco::JSON::Object answer(Poco::JSON_PRESERVE_KEY_ORDER);
	answer.set("id", Mailbox::hexId(id));
	answer.set("expires_s", static_cast<std::int64_t>(_context.config.mailboxTtl.count()));
	json(reply, HTTPResponse::HTTP_CREATED, answer);
	reply.commit = ticket;   // the sender may forget it only once the relay will not
}


void RelayApi::unregister(const ApiRequest& request, ApiReply& reply)
{
	const std::optional<PublicKey> key = authenticate(request, reply);
	if (!key) return;
	_context.registry.remove(key->peerId());
	reply.status = HTTPResponse::HTTP_NO_CONTENT;
}


std::string RelayApi::renderLookup(const PeerRecord& record, bool online)
{
	Poco::JSON::Object answer(Poco::JSON_PRESERVE_KEY_ORDER);
	answer.set("id", record.id.toString());
	answer.set("name", record.name);
	answer.set("public_key", base64Encode(record.publicKeyRaw));
	Poco::JSON::Array::Ptr pAddresses = new Poco::JSON::Array;
	for (const auto& address: record.addresses) pAddresses->add(address.toString());
	answer.set("addresses", pAddresses);
	// The peer's public address only if it asked for it to be published (privacy).
	if (record.publishObserved) answer.set("observed", record.observed.toString());
	answer.set("last_seen_ms", record.lastSeenMs);
	answer.set("online", online);
	return stringify(answer);
}


void RelayApi::lookup(const ApiRequest& request, ApiReply& reply, const std::string& idText)
{
	const std::optional<PeerId> id = PeerId::tryParse(idText);
	if (!id) throw BadRequestException("not a peer ID");
	const auto now = _context.now();
	_context.metrics.lookups.add(1, now);
	const bool online = _context.hub.online(*id);
	PeerLookup found = _context.registry.lookup(*id, online, now);
	if (found.found)
	{
		// Everything in this answer comes from the record and online: rendered once per
		// version of the record and online state, kept with the record, shared from then on.
		if (!found.answer)
		{
			found.answer = std::make_shared<const std::string>(renderLookup(*found.record, online));
			_context.registry.keepAnswer(*id, found.version, online, found.answer);
		}
		reply.status = HTTPResponse::HTTP_OK;
		reply.contentType = "application/json";
		reply.sharedBody = std::move(found.answer);
		return;
	}
	const std::optional<ControlHub::Entry> control = online ? _context.hub.find(*id) : std::nullopt;
	if (!control)
	{
		reject(request, reply, HTTPResponse::HTTP_NOT_FOUND, Rejection::NOT_FOUND, "not_found", "unknown peer",
			jitteredSeconds(_context.config.lookupRetryAfter));
		return;
	}
	// Online without an announce: the key is useful, the address is not handed out. Its
	// last_seen_ms is now, so this answer is rendered per request, never kept.
	Poco::JSON::Object answer(Poco::JSON_PRESERVE_KEY_ORDER);
	answer.set("id", id->toString());
	answer.set("name", "");
	answer.set("public_key", base64Encode(control->publicKeyRaw));
	answer.set("addresses", Poco::JSON::Array::Ptr(new Poco::JSON::Array));
	answer.set("last_seen_ms", wallClockMs());
	answer.set("online", true);
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
		now + _context.config.tunnelJoinTimeout, _context.limits.maxTunnels, request.source, _context.limits.maxTunnelsPerSource,
		request.token ? request.token->id : std::string(), request.token ? static_cast<std::size_t>(request.token->maxTunnels) : 0);
	if (added == TunnelManager::AddResult::TOKEN_FULL)
	{
		quota(request, reply, "tunnels");
		return;
	}
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
	reply.token = request.token;
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
	s.handles = _context.pHandles ? _context.pHandles->size() : 0;
	s.prekeyBundles = _context.pPrekeys ? _context.pPrekeys->size() : 0;
	s.mailWaiting = _context.pMailbox ? _context.pMailbox->size() : 0;
	s.mailBytes = _context.pMailbox ? _context.pMailbox->bytes() : 0;
	s.tokens = _context.pTokens ? _context.pTokens->size() : 0;
	s.mailDepositedTotal = metrics.mailDeposited.load();
	s.mailDeliveredTotal = metrics.mailDelivered.load();
	s.mailAcknowledgedTotal = metrics.mailAcknowledged.load();
	s.mailExpiredTotal = metrics.mailExpired.load();
	s.mailEvictedTotal = _context.pMailbox ? _context.pMailbox->evicted() : 0;
	s.handlesClaimedTotal = metrics.handlesClaimed.load();
	s.handlesReleasedTotal = metrics.handlesReleased.load();
	s.handleLookupsTotal = metrics.handleLookups.load();
	s.prekeyLookupsTotal = metrics.prekeyLookups.load();
	if (_context.pStore)
	{
		const RelayStore::Stats stats = _context.pStore->stats();
		s.persistent = true;
		s.storeCommits = stats.commits;
		s.storeWrites = stats.writes;
		s.storeFailures = stats.failures;
		s.storeLargestGroup = stats.largestGroup;
	}
	s.clientAddresses = _context.trustedProxies.empty() ? "direct" : "proxied";
	s.natTraversal = _context.probePort != 0 && (_context.trustedProxies.empty() || _context.config.proxyProtocol);
	s.draining = _context.draining.load();
	s.pConfig = &_context.config;
	s.pLimits = &_context.limits;
	return s;
}


} } // namespace CrossChat::Relay
