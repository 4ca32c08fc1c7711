//
// RelayApi.h
//
// Library: Relay
// Internal header: the relay's HTTP API and pages, as functions from a parsed request to an
// answer, called by the HTTP front on the event loops.
// This is an internal header file, you should not include this.
//


#ifndef CrossChat_Relay_RelayApi_INCLUDED
#define CrossChat_Relay_RelayApi_INCLUDED


#include "CommitTicket.h"
#include "ConnectionBudget.h"
#include "RelayMetrics.h"
#include "ServerContext.h"
#include "SourceKey.h"
#include "CrossChat/PeerId.h"
#include "CrossChat/PublicKey.h"
#include "Poco/JSON/Object.h"
#include "Poco/Net/HTTPRequest.h"
#include "Poco/Net/SocketAddress.h"
#include <chrono>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>


namespace CrossChat {
namespace Relay {


class TunnelSession;
struct AccessToken;
struct PeerRecord;
struct StatusSnapshot;


struct ApiRequest
	/// One complete request as the HTTP front hands it over.
{
	const Poco::Net::HTTPRequest& request;
	const std::string& body;
	Poco::Net::SocketAddress client;   ///< The real client (PROXY v2 / X-Forwarded-For applied); port 0 if unknown.
	AddressOrigin origin = AddressOrigin::DIRECT;
	SourceKey source;                  ///< SourceKey of client: what per-source limits count.
	bool secure = false;               ///< Arrived over TLS.
	std::shared_ptr<const AccessToken> token;   ///< The access token in force it carries (set by RelayApi).
};


struct ApiReply
	/// What to answer. An upgrade reply (status 101) carries what the front needs to hand the
	/// connection over: the reserved connection slot, and for a tunnel its session and side.
{
	enum class Upgrade
	{
		NONE,
		CONTROL,
		TUNNEL
	};

	int status = 200;
	std::string contentType;                           ///< Empty: no body.
	std::string body;
	std::shared_ptr<const std::string> sharedBody;     ///< If set, the body instead of body: an answer
	                                                   ///< rendered once and shared (lookups), not copied.
	std::vector<std::pair<std::string, std::string>> headers;
	bool close = false;                                ///< Close the connection after this answer.
	bool head = false;                                 ///< HEAD: headers only (Content-Length of the body).
	Upgrade upgrade = Upgrade::NONE;
	ConnectionSlot slot;
	std::shared_ptr<TunnelSession> tunnel;
	int side = 0;
	std::shared_ptr<const AccessToken> token;   ///< CONTROL: the access token the channel was opened with.
	CommitTicket::Ptr commit;                   ///< Answer only once this completes: true as built, false
	                                            ///< with 500 "storage" (the write did not reach the disk).
};


class RelayApi
	/// Routes a request and builds the answer (docs/PROTOCOL.md, "Relay"): rate limit, route,
	/// signature, body, action. Status pages, /health, /metrics and directory pages are cached
	/// for PAGE_CACHE (rendered at most once per period, whatever the request rate); the
	/// directory cache holds at most DIRECTORY_CACHE_ENTRIES queries. A lookup's 200 answer is
	/// rendered once per version of the record and online state and kept with the record in the
	/// PeerRegistry (PeerRegistry::keepAnswer(): at most two per record, dropped when the record
	/// is replaced, removed or expires); an online peer without a record is rendered per request
	/// (its last_seen_ms is the current time).
	///
	/// Thread rules: handle() and the page functions are safe to call from any thread. A kept
	/// lookup answer is an immutable std::shared_ptr<const std::string>, published and read
	/// under the registry's lock; the loops share it without copying it.
	/// Ownership: does not own the context.
{
public:
	using Clock = std::chrono::steady_clock;
	static constexpr std::chrono::milliseconds PAGE_CACHE{1000};
	static constexpr std::size_t DIRECTORY_CACHE_ENTRIES = 256;

	RelayApi(ServerContext& context, Clock::time_point started);
	~RelayApi();

	void handle(const ApiRequest& request, ApiReply& reply);
		/// Never throws for bad input: every refusal is an answer (and a counter).

	std::string healthJson();
	StatusSnapshot snapshot(bool withPeers) const;

	static void storageFailed(ApiReply& reply);
		/// Replaces reply by 500 "storage": what it acknowledged is not durable.

	static void error(ApiReply& reply, int status, const std::string& code, const std::string& message,
		std::int64_t retryAfter = 0);
		/// A JSON error answer {"error": code, "message": message}.

	static std::string renderLookup(const PeerRecord& record, bool online);
		/// The body of GET /api/v1/peers/<id> for an announced record (docs/PROTOCOL.md).

private:
	struct CachedPage
	{
		Clock::time_point rendered{};
		std::shared_ptr<const std::string> text;
	};

	void route(const ApiRequest& request, ApiReply& reply);
	bool admit(const ApiRequest& request, ApiReply& reply);
	bool authorize(ApiRequest& request, ApiReply& reply);
	bool admitStatus(const ApiRequest& request, ApiReply& reply, bool& full);
	void refuseToken(const ApiRequest& request, ApiReply& reply, int status, const char* code, const std::string& message);
	void page(const ApiRequest& request, ApiReply& reply, const std::string& path, bool full);
	void prekeys(const ApiRequest& request, ApiReply& reply, const std::string& idText);
	void claimHandle(const ApiRequest& request, ApiReply& reply);
	void releaseHandle(const ApiRequest& request, ApiReply& reply);
	void lookupHandle(const ApiRequest& request, ApiReply& reply, const std::string& handle);
	void deposit(const ApiRequest& request, ApiReply& reply, const std::string& idText);
	void quota(const ApiRequest& request, ApiReply& reply, const char* which);
	void announce(const ApiRequest& request, ApiReply& reply);
	void unregister(const ApiRequest& request, ApiReply& reply);
	void lookup(const ApiRequest& request, ApiReply& reply, const std::string& idText);
	void directory(const ApiRequest& request, ApiReply& reply, const std::string& rawQuery);
	void openTunnel(const ApiRequest& request, ApiReply& reply);
	void upgradeControl(const ApiRequest& request, ApiReply& reply);
	void upgradeTunnel(const ApiRequest& request, ApiReply& reply, const std::string& token);
	bool checkUpgrade(const ApiRequest& request, ApiReply& reply, const char* protocol);
	bool methodAllowed(const ApiRequest& request, ApiReply& reply, const char* allowed);
	std::optional<PublicKey> authenticate(const ApiRequest& request, ApiReply& reply);
	void reject(const ApiRequest& request, ApiReply& reply, int status, Rejection reason, const std::string& code,
		const std::string& message, std::int64_t retryAfter = 0);
	std::shared_ptr<const std::string> cachedPage(CachedPage& cache, int which);
	std::string renderDirectory(const std::string& rawQuery);

	ServerContext& _context;
	const Clock::time_point _started;
	std::mutex _cacheMutex;
	CachedPage _status;
	CachedPage _health;
	CachedPage _healthPublic;   ///< /health without an admin token when relay.statusAccess = admin.
	CachedPage _metrics;
	using DirectoryList = std::list<std::pair<std::string, CachedPage>>;   ///< Most recently used first.
	DirectoryList _directoryOrder;
	std::unordered_map<std::string, DirectoryList::iterator> _directoryCache;
};


std::int64_t jitteredSeconds(std::chrono::seconds base);
	/// base +- 10 %, at least 1.

std::int64_t wallClockMs();
	/// Milliseconds since the Unix epoch.

Poco::JSON::Object::Ptr tunnelLimitsJson(const RelayServerConfig& config, const RelayLimits& limits);
	/// The "limits" object of welcome and POST /tunnels.


} } // namespace CrossChat::Relay


#endif // CrossChat_Relay_RelayApi_INCLUDED
