//
// RelayServer.h
//
// Library: Relay
// The relay service: discovery API, control channels, forwarding tunnels, status pages.
//


#ifndef CrossChat_Relay_RelayServer_INCLUDED
#define CrossChat_Relay_RelayServer_INCLUDED


#include "Poco/Net/SocketAddress.h"
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>


namespace CrossChat {
namespace Relay {


enum class RelayAccess
	/// Who may use a relay (relay.access).
{
	OPEN,    ///< Anyone ("open").
	TOKEN    ///< Every API call and control channel needs an access token ("token").
};


struct RelayServerConfig
	/// Every setting of crosschat-relay (relay.* in crosschat-relay.properties), with defaults.
	/// Limits marked "0 = auto" are derived at start from the descriptor limit (see
	/// RelayServer); the effective values are shown on the status page and in /health.
{
	Poco::Net::SocketAddress bind{"0.0.0.0", 5000};
	std::optional<std::uint16_t> probePort;              ///< NAT probe port (same host as bind): unset = bind port + 1
	                                                     ///< (a free port if the bind port is 0), 0 = no probe port.
	unsigned maxProbeConnections = 0;                    ///< Probe connections open at once (0 = auto: 2 % of the budget).
	unsigned maxProbeConnectionsPerIp = 0;               ///< ... per source (0 = auto: 1/16 of that, at least 2).
	std::string tlsCertificateFile;                      ///< PEM; with tlsKeyFile, serve HTTPS.
	std::string tlsKeyFile;

	unsigned eventLoops = 2;                             ///< Threads running the HTTP front, control channels and tunnels.
	unsigned maxHttpConnections = 0;                     ///< HTTP connections open at once (0 = auto: 15 % of the budget).
	unsigned maxHttpConnectionsPerIp = 0;                ///< ... per source (0 = auto: 1/8 of that). Trusted proxies are exempt.
	std::chrono::seconds firstByteTimeout{5};            ///< A new connection must start its first request within this.
	std::chrono::seconds requestTimeout{10};             ///< A whole request (head and body) must arrive within this
	                                                     ///< of its first byte.
	std::chrono::seconds keepAliveTimeout{30};           ///< An idle keep-alive connection is closed after this.
	unsigned maxKeepAliveRequests = 1000;                ///< Requests per keep-alive HTTP connection.
	std::size_t maxHeaderSize = 8192;                    ///< Request line and headers together; larger gets 431.
	std::size_t maxBodySize = 16 * 1024;

	std::chrono::seconds recordTtl{3600};                ///< Announced records expire after this.
	std::chrono::seconds reannounceAfter{1800};          ///< Hint to clients, jittered +-10 %.
	std::chrono::seconds lookupRetryAfter{60};           ///< Retry-After on 404, jittered.
	std::size_t maxPeers = 100000;                       ///< Announced records; announces of new IDs beyond get 503.
	std::size_t maxPeersPerIp = 0;                       ///< Records announced from one source (0 = auto: maxPeers / 64).

	std::chrono::seconds controlKeepalive{25};           ///< Clients ping this often (welcome ping_s); a channel
	                                                     ///< silent for 3 periods is reset. The relay does not ping.
	std::chrono::seconds controlHelloTimeout{10};        ///< A new control channel must authenticate within this.
	unsigned maxControlConnections = 0;                  ///< Control channels (0 = auto: 70 % of the budget).
	unsigned maxControlConnectionsPerIp = 0;             ///< ... per source (0 = auto: 1/8 of that).

	unsigned maxTunnels = 0;                             ///< Tunnels waiting or running (0 = auto: 13 % of the budget / 2).
	unsigned maxTunnelsPerIp = 0;                        ///< ... asked for by one source (0 = auto: 1/8 of that).
	double tunnelsPerSecondPerIp = 2;                    ///< Tunnel requests (so invites) per caller source; burst 5x.
	std::uint64_t tunnelRateBytesPerSecond = 1024 * 1024;     ///< Per tunnel, each direction.
	std::uint64_t globalRateBytesPerSecond = 100 * 1024 * 1024;
	std::chrono::seconds tunnelIdleTimeout{300};
	std::chrono::seconds tunnelJoinTimeout{30};

	double requestsPerSecondPerIp = 20;                  ///< Token bucket per client source; burst = 2x.
	std::size_t replayCacheSize = 4000000;               ///< Request nonces remembered (about 16-32 bytes each).
	std::size_t replayCachePerIp = 0;                    ///< ... per source (0 = auto: what requestsPerSecondPerIp
	                                                     ///< allows in the 130-s window).
	std::size_t maxRateLimitedClients = 100000;          ///< Sources tracked by the rate limiters (the longest idle
	                                                     ///< is evicted when full).

	std::string trustedProxies;                          ///< CIDR list whose PROXY v2 / X-Forwarded-For is believed.
	bool proxyProtocol = false;                          ///< Trusted proxies send a PROXY v2 header (HAProxy
	                                                     ///< send-proxy-v2) on both ports; else X-Forwarded-For.
	std::chrono::seconds drainTimeout{10};               ///< drain(): longest wait for work in progress.
	unsigned descriptorReserve = 64;                     ///< Descriptors kept out of every connection budget.

	// Persistence, private relays, handles and the mailbox.
	std::string dataDir;                                 ///< Where the relay's database (relay.db) lives; created (0700) if
	                                                     ///< missing. Empty or ":memory:": nothing survives a restart
	                                                     ///< (the library's default; crosschat-relay's is a directory).
	RelayAccess access = RelayAccess::OPEN;              ///< TOKEN: "Authorization: Bearer <token>" on every API call,
	                                                     ///< tunnel join and control channel (tokens: crosschat-relay token).
	bool adminStatus = false;                            ///< The status page and /metrics need an admin token, and /health
	                                                     ///< shows only its status without one (relay.statusAccess = admin).
	std::size_t maxHandles = 100000;                     ///< Handles held; claims of new ones beyond get 503.
	std::size_t maxHandlesPerIp = 0;                     ///< ... claimed from one source (0 = auto: maxHandles / 64).
	std::chrono::seconds handleRelease{30 * 86400};      ///< A handle whose owner has not announced (nor connected) for
	                                                     ///< this long is released.
	std::size_t maxEnvelopeSize = 24 * 1024;             ///< Largest mailbox envelope (at most RelayProtocol::MAX_ENVELOPE_SIZE).
	std::chrono::seconds mailboxTtl{7 * 86400};          ///< An envelope not fetched by then is deleted.
	std::uint64_t mailboxMaxBytes = 1024ull * 1024 * 1024;     ///< Envelope bytes held in all.
	std::size_t mailboxPerRecipient = 256;               ///< Envelopes waiting for one peer...
	std::uint64_t mailboxBytesPerRecipient = 4 * 1024 * 1024;  ///< ... and their bytes.
	std::uint64_t mailboxBytesPerIp = 0;                 ///< Bytes waiting that one source deposited (0 = auto: 1/64 of
	                                                     ///< mailboxMaxBytes).
	std::size_t mailboxPerIpPerRecipient = 0;            ///< Envelopes one source may leave for one peer (0 = auto:
	                                                     ///< mailboxPerRecipient / 4): strangers cannot fill a box.

	std::function<std::chrono::steady_clock::time_point()> clock;
		///< Tests only: replaces steady_clock::now() for rate limits, expiry and timeouts checks.
};


class RelayServer
	/// Runs the relay on eventLoops EventLoopThreads and nothing else: one listening socket
	/// (SO_REUSEADDR only, never SO_REUSEPORT, so a second relay on a taken port fails with
	/// "port N is taken") accepted on the first loop, which reserves a place for the connection
	/// in its source's budget before anything is read, then hands it to a loop in turn. There
	/// an HTTP/1.1 state machine (HttpConnection) reads requests with a first-byte timeout, a
	/// whole-request deadline and head/body limits, parses them with Poco's HTTP message
	/// classes and answers from RelayApi; control channels and tunnels are HTTP upgrades that
	/// stay on the loop of their connection. An idle peer costs a socket and a little memory,
	/// not a thread.
	///
	/// Fairness: every connection, control channel, tunnel, NAT-probe slot, announced record,
	/// replay-cache entry and request counts against its source (IPv4 address or IPv6 /64)
	/// below the global bound (RelayLimits); the soft descriptor limit is raised to the hard
	/// limit at start and the connection budgets are derived from it. Behind reverse proxies
	/// (trustedProxies) the client's address comes from a PROXY v2 header or X-Forwarded-For.
	///
	/// HTTPS (tlsCertificateFile, tlsKeyFile): every connection on the main port is TLS with the
	/// relay's X.509 certificate (TlsChannel's X.509 server mode, on the loops): the API, the
	/// pages, control channels and tunnels alike. The relay's TLS is its transport; chat content
	/// stays end-to-end TLS inside tunnels. reloadCertificate() swaps the certificate for new
	/// connections without dropping open ones.
	///
	/// NAT probe port (probePort): a TcpListener on the first event loop; every connection gets
	/// one line {"observed":"ip:port"} (its source address as seen here) and is closed. Probes
	/// share the per-source request rate limit and have their own connection budget.
	///
	/// Thread rules: construct, start(), drain(), stop() and destroy from one controlling thread;
	/// port(), probePort() and healthJson() are safe from any thread once started.
	/// Ownership: owns its threads, sockets and the peer registry.
{
public:
	explicit RelayServer(RelayServerConfig config);
		/// Throws Poco::InvalidArgumentException for a malformed trustedProxies list.
	~RelayServer();
		/// Calls stop().

	RelayServer(const RelayServer&) = delete;
	RelayServer& operator=(const RelayServer&) = delete;

	void start();
		/// Opens the data directory (DataDirectory: one relay per directory) and its database and
		/// loads what it holds, raises the descriptor limit, binds and starts serving. Throws
		/// Poco::Net::NetException ("port N is taken ...") if the address cannot be bound,
		/// DataDirectoryException (or DataDirectoryInUseException) for an unusable or busy data
		/// directory, Poco::Exception naming the file for an unusable database.

	void drain();
		/// Graceful shutdown (SIGTERM): stops accepting, tells every control channel to go away
		/// (error "going_away" with retry_after_s) and closes idle HTTP connections, then waits at
		/// most config.drainTimeout for requests and tunnels in progress, then stop().

	void stop();
		/// Stops accepting, closes every connection, joins the threads. Idempotent.

	void reloadCertificate();
		/// Reads tlsCertificateFile and tlsKeyFile again (kill -HUP): new connections get the
		/// new certificate, open ones keep theirs and are not disturbed. Throws
		/// CrossChat::TlsConfigException (and keeps the old certificate) if the files are not
		/// usable, Poco::IllegalStateException if the relay serves plain HTTP. Safe to call from
		/// any thread while the relay runs.

	std::uint16_t port() const;
		/// The bound port (useful when config.bind has port 0).

	std::uint16_t probePort() const;
		/// The bound NAT probe port; 0 if there is none.

	std::string healthJson() const;
		/// The document served at /health (at most RelayApi::PAGE_CACHE old).

	void flush();
		/// Waits until every write queued to the database so far is committed (nothing to do
		/// without a data directory). For tests and benchmarks.

private:
	class Impl;
	std::unique_ptr<Impl> _pImpl;
};


} } // namespace CrossChat::Relay


#endif // CrossChat_Relay_RelayServer_INCLUDED
