//
// ServerContext.h
//
// Library: Relay
// Internal header: what the relay server's parts share (settings, limits derived at start,
// clock, counters, registries) and the per-loop bookkeeping of live sessions.
// This is an internal header file, you should not include this.
//


#ifndef CrossChat_Relay_ServerContext_INCLUDED
#define CrossChat_Relay_ServerContext_INCLUDED


#include "ConnectionBudget.h"
#include "CrossChat/EventLoopThread.h"
#include "CrossChat/TimerHandle.h"
#include "CrossChat/TlsServerContext.h"
#include "CrossChat/Relay/RelayServer.h"
#include "Poco/Logger.h"
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>


namespace CrossChat {
namespace Relay {


class ControlHub;
class HandleBook;
class IpRateLimiter;
class Mailbox;
class PeerRegistry;
class PrekeyBook;
class RelayStore;
class TokenBook;
class RelayApi;
class RelayMetrics;
class RequestAuth;
class SharedTokenBucket;
class TrustedProxies;
class TunnelManager;


class LoopSession
	/// A connection-owning object living on one RelayLoop: an HTTP connection, a control
	/// channel, a tunnel end.
{
public:
	using Clock = std::chrono::steady_clock;

	virtual ~LoopSession();

	virtual void shutdown() = 0;
		/// Closes everything at once (server stop). Called on the loop thread.

	virtual void drain();
		/// The relay is going away: finish what is in progress, take nothing new. Default:
		/// nothing. Called on the loop thread.

	virtual void tick(Clock::time_point now);
		/// Called about once per RelayLoop::TICK on the loop thread, for timeouts. Default: nothing.
};


class RelayLoop
	/// One event-loop thread and the sessions living on it (so stop() can close them and
	/// one periodic timer per loop can check every session's timeouts, instead of a timer per
	/// session).
	///
	/// Thread rules: loop() and post through it from any thread; add()/remove()/shutdownAll()/
	/// drainAll()/sessions() must be called from the loop thread.
{
public:
	static constexpr std::chrono::milliseconds TICK{1000};

	RelayLoop(const std::string& name, std::function<LoopSession::Clock::time_point()> clock);

	EventLoop& loop();
	void add(const std::shared_ptr<LoopSession>& pSession);
	void remove(const LoopSession* pSession);
	void shutdownAll();
	void drainAll();
	std::size_t sessions() const;
	void stop();
		/// Stops and joins the thread (from the controlling thread).

private:
	void tickAll();

	EventLoopThread _thread;
	std::function<LoopSession::Clock::time_point()> _clock;
	std::unordered_map<const LoopSession*, std::weak_ptr<LoopSession>> _sessions;
	std::vector<std::shared_ptr<LoopSession>> _added;       ///< Added during tickAll().
	std::vector<const LoopSession*> _removed;                ///< Removed during tickAll().
	bool _ticking = false;
	TimerHandle _tickTimer;
};


struct RelayLimits
	/// The bounds in force, derived at start from the settings and the descriptor limit
	/// (RLIMIT_NOFILE, whose soft limit the relay raises to the hard limit first).
{
	std::size_t descriptorLimit = 0;        ///< The soft limit after raising it.
	std::size_t descriptorBudget = 0;       ///< What connections may use (the limit less a reserve).
	ConnectionBudget::Limits connections;   ///< Per kind: in all and per source.
	unsigned maxTunnels = 0;                ///< Tunnels waiting or running.
	unsigned maxTunnelsPerSource = 0;       ///< Tunnels a caller's source may have waiting or running.
	std::size_t maxPeers = 0;
	std::size_t maxRecordsPerSource = 0;
	std::size_t replayCapacity = 0;
	std::size_t replayPerSource = 0;
	std::size_t maxRateLimitedSources = 0;
	std::size_t maxHandlesPerSource = 0;
	std::uint64_t mailboxBytesPerSource = 0;
	std::size_t mailboxPerSourcePerRecipient = 0;
};


enum class AddressOrigin
	/// Where the relay learnt a client's address.
{
	DIRECT,           ///< The TCP peer (not a trusted proxy): address and port are real.
	PROXY_PROTOCOL,   ///< A trusted proxy's PROXY v2 header: address and port are real.
	FORWARDED_FOR,    ///< A trusted proxy's X-Forwarded-For: the address is real, the port is not.
	HIDDEN            ///< A trusted proxy that named no client: only the proxy's address is known.
};


struct ServerContext
	/// Shared by the HTTP front, the API and the sessions. Every referenced object outlives the
	/// loops.
	///
	/// Thread rules: the referenced objects are thread-safe; config and limits are immutable
	/// once the loops run; draining is atomic.
{
	using Clock = std::chrono::steady_clock;

	ServerContext(const RelayServerConfig& config, const RelayLimits& limits, RelayMetrics& metrics, ControlHub& hub,
		TunnelManager& tunnels, PeerRegistry& registry, SharedTokenBucket& globalRate, ConnectionBudget& budget,
		RequestAuth& auth, IpRateLimiter& requestRate, IpRateLimiter& tunnelRate, const TrustedProxies& trustedProxies,
		Poco::Logger& logger);

	const RelayServerConfig& config;
	const RelayLimits& limits;
	RelayMetrics& metrics;
	ControlHub& hub;
	TunnelManager& tunnels;
	PeerRegistry& registry;
	SharedTokenBucket& globalRate;
	ConnectionBudget& budget;
	RequestAuth& auth;
	IpRateLimiter& requestRate;
	IpRateLimiter& tunnelRate;
	const TrustedProxies& trustedProxies;
	Poco::Logger& logger;
	std::uint16_t probePort = 0;          ///< The NAT probe port (0: none); set before any session starts.
	RelayApi* pApi = nullptr;             ///< Set before the front accepts.
	RelayStore* pStore = nullptr;         ///< The database, or null (memory only); set before the front accepts.
	TokenBook* pTokens = nullptr;         ///< Set before the front accepts, like the three below.
	HandleBook* pHandles = nullptr;
	PrekeyBook* pPrekeys = nullptr;
	Mailbox* pMailbox = nullptr;
	TlsServerContext::Ptr pTls;           ///< The relay's certificate (HTTPS), or null; set before the front accepts.
	std::atomic<bool> draining{false};    ///< SIGTERM: finish, take nothing new.

	Clock::time_point now() const;
		/// config.clock if set, else the steady clock.

	static std::int64_t wallMs();
		/// The wall clock, ms since the epoch (what the database keeps).

	bool logAllowed();
		/// At most LOG_RATE lines per second about untrusted input (burst LOG_BURST), so a flood
		/// of bad requests cannot flood the log; every refusal is still counted.

	static constexpr double LOG_RATE = 10;
	static constexpr double LOG_BURST = 50;

private:
	std::mutex _logMutex;
	double _logTokens = LOG_BURST;
	Clock::time_point _logLast{};
};


std::string randomHex(std::size_t bytes);
	/// bytes random bytes (OpenSSL RAND_bytes) in lower-case hex. Throws CryptoException.

const char* addressOriginName(AddressOrigin origin);
	/// "direct", "proxy_protocol", "forwarded_for", "hidden".


} } // namespace CrossChat::Relay


#endif // CrossChat_Relay_ServerContext_INCLUDED
