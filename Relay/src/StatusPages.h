//
// StatusPages.h
//
// Library: Relay
// Internal header: GET / (HTML), /health (JSON) and /metrics (Prometheus text).
// This is an internal header file, you should not include this.
//


#ifndef CrossChat_Relay_StatusPages_INCLUDED
#define CrossChat_Relay_StatusPages_INCLUDED


#include "PeerRegistry.h"
#include "ServerContext.h"
#include "CrossChat/Relay/RelayServer.h"
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>


namespace CrossChat {
namespace Relay {


struct StatusSnapshot
	/// The numbers all three pages show, gathered once per request.
{
	using Window = std::array<std::uint64_t, 3>;   ///< Last 1, 5 and 15 minutes.

	std::string version;
	std::int64_t uptimeSeconds = 0;
	std::size_t records = 0;
	std::size_t listed = 0;                 ///< Directory entries (online, opted-in).
	std::size_t online = 0;
	unsigned httpConnections = 0;
	unsigned controlConnections = 0;
	std::size_t tunnels = 0;
	unsigned tunnelConnections = 0;
	unsigned probeConnections = 0;
	std::size_t sources = 0;                ///< Sources holding connections.
	std::size_t replayEntries = 0;
	std::size_t rateLimitedSources = 0;
	std::size_t openDescriptors = 0;        ///< Descriptors the process has open (openDescriptors()).
	std::uint64_t requests = 0;
	std::uint64_t connectionsAcceptedTotal = 0;
	std::uint64_t announcesTotal = 0;
	std::uint64_t lookupsTotal = 0;
	std::uint64_t tunnelsOpenedTotal = 0;
	std::uint64_t tunnelsJoinedTotal = 0;
	std::uint64_t tunnelsExpiredTotal = 0;
	std::uint64_t bytesRelayedTotal = 0;
	std::uint64_t controlAuthenticatedTotal = 0;
	std::uint64_t controlReplacedTotal = 0;
	std::uint64_t invitesSentTotal = 0;
	std::uint64_t punchesForwardedTotal = 0;
	std::uint64_t probesAnsweredTotal = 0;
	std::uint64_t recordsExpiredTotal = 0;
	std::uint64_t rejectedTotal = 0;
	Window announces{};
	Window lookups{};
	Window tunnelsOpened{};
	Window bytesRelayed{};
	std::vector<std::pair<std::string, std::uint64_t>> rejections;
	std::vector<std::pair<PeerRecord, bool>> recent;   ///< Records with their online flag.
	std::size_t handles = 0;                ///< Handles held.
	std::size_t prekeyBundles = 0;
	std::size_t mailWaiting = 0;            ///< Envelopes in the mailbox...
	std::uint64_t mailBytes = 0;            ///< ... and their bytes.
	std::size_t tokens = 0;                 ///< Access tokens known (in force or not).
	std::uint64_t mailDepositedTotal = 0;
	std::uint64_t mailDeliveredTotal = 0;
	std::uint64_t mailAcknowledgedTotal = 0;
	std::uint64_t mailExpiredTotal = 0;
	std::uint64_t mailEvictedTotal = 0;
	std::uint64_t handlesClaimedTotal = 0;
	std::uint64_t handlesReleasedTotal = 0;
	std::uint64_t handleLookupsTotal = 0;
	std::uint64_t prekeyLookupsTotal = 0;
	bool persistent = false;                ///< The relay keeps its state in a database.
	std::uint64_t storeCommits = 0;         ///< Database transactions committed (one fsync each).
	std::uint64_t storeWrites = 0;
	std::uint64_t storeFailures = 0;
	std::uint64_t storeLargestGroup = 0;
	std::string clientAddresses;            ///< "direct" or "proxied".
	bool natTraversal = false;              ///< NAT probing and punch coordination offered.
	bool draining = false;
	const RelayServerConfig* pConfig = nullptr;
	const RelayLimits* pLimits = nullptr;
};


std::string htmlEscape(const std::string& text);
	/// Escapes & < > " and ' for HTML text and attribute values.

std::string renderStatusHtml(const StatusSnapshot& snapshot);
std::string renderHealthJson(const StatusSnapshot& snapshot);
std::string renderPublicHealthJson(const StatusSnapshot& snapshot);
	/// {"status", "version"} only: /health without an admin token (relay.statusAccess = admin).
std::string renderMetrics(const StatusSnapshot& snapshot);

std::vector<std::pair<std::string, std::string>> limitRows(const StatusSnapshot& snapshot);
	/// Every limit in force as (setting, value) pairs, for the status page and /health.

std::size_t openDescriptors();
	/// The number of descriptors this process has open (the entries of /proc/self/fd), counted
	/// at most once a second: the pages are not rate-limited, so a request must not cost a walk
	/// over every descriptor. 0 where /proc is not available. Safe to call from any thread.


} } // namespace CrossChat::Relay


#endif // CrossChat_Relay_StatusPages_INCLUDED
