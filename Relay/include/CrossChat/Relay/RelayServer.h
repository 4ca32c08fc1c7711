//
// RelayServer.h
//
// Library: Relay
// The relay service: discovery API, control channels, forwarding tunnels, status pages.
//


#ifndef CrossChat_Relay_RelayServer_INCLUDED
#define CrossChat_Relay_RelayServer_INCLUDED


#include "Poco/Net/SocketAddress.h"
#include "Poco/Net/ServerSocket.h"
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>


namespace CrossChat {
namespace Relay {


struct RelayServerConfig
	/// Every setting of crosschat-relay (relay.* in crosschat-relay.properties), with defaults.
{
	Poco::Net::SocketAddress bind{"0.0.0.0", 5000};
	std::optional<std::uint16_t> probePort;              ///< NAT probe port (same host as bind): unset = bind port + 1
	                                                     ///< (a free port if the bind port is 0), 0 = no probe port.
	unsigned maxProbeConnections = 256;                  ///< Concurrent probe connections (answer being written or lingering).
	std::string tlsCertificateFile;                      ///< PEM; with tlsKeyFile, serve HTTPS.
	std::string tlsKeyFile;
	unsigned httpThreads = 32;                           ///< Poco HTTPServer worker threads (short requests only; a
	                                                     ///< keep-alive connection holds one while it is open).
	unsigned maxQueuedRequests = 256;
	unsigned maxKeepAliveRequests = 100;                 ///< Requests per keep-alive HTTP connection.
	unsigned maxHttpConnections = 1024;                  ///< Concurrent plain HTTP connections.
	std::chrono::seconds requestTimeout{10};             ///< Slow or idle HTTP clients are cut off.
	unsigned eventLoops = 2;                             ///< Threads holding control channels and tunnels.
	std::chrono::seconds recordTtl{3600};                ///< Announced records expire after this.
	std::chrono::seconds reannounceAfter{1800};          ///< Hint to clients, jittered +-10 %.
	std::chrono::seconds lookupRetryAfter{60};           ///< Retry-After on 404, jittered.
	std::chrono::seconds controlKeepalive{20};           ///< Ping period on control channels; 3 silent periods close one.
	std::chrono::seconds controlHelloTimeout{10};        ///< A new control channel must authenticate within this.
	unsigned maxControlConnections = 20000;
	unsigned maxTunnels = 1000;
	std::uint64_t tunnelRateBytesPerSecond = 1024 * 1024;     ///< Per tunnel, each direction.
	std::uint64_t globalRateBytesPerSecond = 100 * 1024 * 1024;
	std::chrono::seconds tunnelIdleTimeout{300};
	std::chrono::seconds tunnelJoinTimeout{30};
	double requestsPerSecondPerIp = 20;                  ///< Token bucket per client IP; burst = 2x.
	std::size_t maxBodySize = 16 * 1024;
	std::size_t maxPeers = 100000;                       ///< Announced records; announces of new IDs beyond get 503.
	std::size_t replayCacheSize = 100000;                ///< Remembered request nonces; when full, signed requests get 503.
	std::size_t maxRateLimitedClients = 100000;          ///< Client addresses tracked by the request rate limiter.
	std::function<std::chrono::steady_clock::time_point()> clock;
		///< Tests only: replaces steady_clock::now() for rate limits, expiry and timeouts checks.
};


class RelayServer
	/// Runs the relay: a Poco::Net::HTTPServer for the API and pages, plus eventLoops
	/// EventLoopThreads that own every long-lived connection (control channels and tunnels
	/// arrive as HTTP upgrades; the worker thread answers 101 and hands the socket to a loop,
	/// so an idle peer costs a socket and a little memory, not a thread). Measured: about
	/// 2.3 KB of resident memory per idle authenticated control channel (2,000 and 5,000
	/// channels on loopback, VmRSS of the relay process before and after; kernel socket
	/// buffers not included).
	///
	/// NAT probe port (probePort): a TcpListener on the first event loop; every connection gets
	/// one line {"observed":"ip:port"} (its source address as seen here) and is closed. Probes
	/// share the per-IP request rate limit; refused ones are closed without an answer.
	///
	/// Limits: per-IP request rate (429), body size (413), header size (Poco 1.11 fixes 100
	/// fields, 256-byte names, 8 KiB values, 16 KiB URIs), requestTimeout for slow or idle
	/// clients, maxHttpConnections plus maxQueuedRequests, and new connections are refused
	/// above 80 % of RLIMIT_NOFILE. Every refusal is logged at debug level (logger
	/// "CrossChat.Relay") and counted in /metrics.
	///
	/// With TLS (tlsCertificateFile and tlsKeyFile) the API and pages are served over HTTPS;
	/// control channels and tunnels are then refused with 501, because Poco 1.11's
	/// SecureStreamSocket cannot run on a non-blocking event loop (see NETWORK-NOTES.md).
	///
	/// Thread rules: construct, start(), stop() and destroy from one controlling thread;
	/// port() and stats accessors are safe from any thread.
	/// Ownership: owns its threads, sockets and the peer registry.
{
public:
	explicit RelayServer(RelayServerConfig config);
	~RelayServer();
		/// Calls stop().

	RelayServer(const RelayServer&) = delete;
	RelayServer& operator=(const RelayServer&) = delete;

	void start();
		/// Binds and starts serving. Throws Poco::Net::NetException if the address cannot be bound.

	void stop();
		/// Stops accepting, closes every connection, joins the threads. Idempotent.

	std::uint16_t port() const;
		/// The bound port (useful when config.bind has port 0).

	std::uint16_t probePort() const;
		/// The bound NAT probe port; 0 if there is none.

	std::string healthJson() const;
		/// The document served at /health.

private:
	class Impl;
	std::unique_ptr<Impl> _pImpl;
};


} } // namespace CrossChat::Relay


#endif // CrossChat_Relay_RelayServer_INCLUDED
