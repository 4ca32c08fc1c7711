//
// StatusPages.cpp
//
// Library: Relay
//


#include "StatusPages.h"
#include "Poco/JSON/Object.h"
#include <dirent.h>
#include <chrono>
#include <mutex>
#include <sstream>


namespace CrossChat {
namespace Relay {


namespace {


std::string formatDuration(std::int64_t seconds)
{
	std::ostringstream out;
	const std::int64_t days = seconds / 86400;
	if (days > 0) out << days << "d ";
	out << (seconds % 86400) / 3600 << "h " << (seconds % 3600) / 60 << "m " << seconds % 60 << "s";
	return out.str();
}


std::string formatBytes(std::uint64_t bytes)
{
	std::ostringstream out;
	if (bytes >= 1024ull * 1024 * 1024) out << bytes / (1024ull * 1024 * 1024) << " GiB";
	else if (bytes >= 1024ull * 1024) out << bytes / (1024ull * 1024) << " MiB";
	else if (bytes >= 1024) out << bytes / 1024 << " KiB";
	else out << bytes << " B";
	return out.str();
}


void windowRow(std::ostringstream& out, const char* label, const StatusSnapshot::Window& window, std::uint64_t total, bool bytes)
{
	out << "<tr><th>" << label << "</th>";
	for (std::uint64_t value: window) out << "<td>" << (bytes ? formatBytes(value) : std::to_string(value)) << "</td>";
	out << "<td>" << (bytes ? formatBytes(total) : std::to_string(total)) << "</td></tr>\n";
}


void metric(std::ostringstream& out, const char* name, const char* type, const char* help, std::uint64_t value)
{
	out << "# HELP " << name << ' ' << help << "\n# TYPE " << name << ' ' << type << '\n' << name << ' ' << value << '\n';
}


} // namespace


std::vector<std::pair<std::string, std::string>> limitRows(const StatusSnapshot& s)
{
	const RelayServerConfig& c = *s.pConfig;
	const RelayLimits& l = *s.pLimits;
	const auto total = [&l](ConnectionKind kind) { return std::to_string(l.connections.total[static_cast<std::size_t>(kind)]); };
	const auto perSource = [&l](ConnectionKind kind) { return std::to_string(l.connections.perSource[static_cast<std::size_t>(kind)]); };
	const auto seconds = [](std::chrono::seconds value) { return std::to_string(value.count()); };
	std::ostringstream rate;
	rate << c.requestsPerSecondPerIp;
	std::ostringstream tunnelRate;
	tunnelRate << c.tunnelsPerSecondPerIp;
	return {
		{"descriptorLimit", std::to_string(l.descriptorLimit)},
		{"descriptorBudget", std::to_string(l.descriptorBudget)},
		{"eventLoops", std::to_string(std::max(1u, c.eventLoops))},
		{"maxHttpConnections", total(ConnectionKind::HTTP)},
		{"maxHttpConnectionsPerIp", perSource(ConnectionKind::HTTP)},
		{"firstByteTimeoutSeconds", seconds(c.firstByteTimeout)},
		{"requestTimeoutSeconds", seconds(c.requestTimeout)},
		{"keepAliveTimeoutSeconds", seconds(c.keepAliveTimeout)},
		{"maxKeepAliveRequests", std::to_string(c.maxKeepAliveRequests)},
		{"maxHeaderSize", std::to_string(c.maxHeaderSize)},
		{"maxBodySize", std::to_string(c.maxBodySize)},
		{"requestsPerSecondPerIp", rate.str()},
		{"maxRateLimitedClients", std::to_string(l.maxRateLimitedSources)},
		{"replayCacheSize", std::to_string(l.replayCapacity)},
		{"replayCachePerIp", std::to_string(l.replayPerSource)},
		{"maxPeers", std::to_string(l.maxPeers)},
		{"maxPeersPerIp", std::to_string(l.maxRecordsPerSource)},
		{"recordTtlSeconds", seconds(c.recordTtl)},
		{"maxControlConnections", total(ConnectionKind::CONTROL)},
		{"maxControlConnectionsPerIp", perSource(ConnectionKind::CONTROL)},
		{"controlKeepaliveSeconds", seconds(c.controlKeepalive)},
		{"controlHelloTimeoutSeconds", seconds(c.controlHelloTimeout)},
		{"maxTunnels", std::to_string(l.maxTunnels)},
		{"maxTunnelsPerIp", std::to_string(l.maxTunnelsPerSource)},
		{"tunnelsPerSecondPerIp", tunnelRate.str()},
		{"tunnelRateBytesPerSecond", std::to_string(c.tunnelRateBytesPerSecond)},
		{"globalRateBytesPerSecond", std::to_string(c.globalRateBytesPerSecond)},
		{"tunnelIdleTimeoutSeconds", seconds(c.tunnelIdleTimeout)},
		{"tunnelJoinTimeoutSeconds", seconds(c.tunnelJoinTimeout)},
		{"maxProbeConnections", total(ConnectionKind::PROBE)},
		{"maxProbeConnectionsPerIp", perSource(ConnectionKind::PROBE)},
		{"drainTimeoutSeconds", seconds(c.drainTimeout)},
		{"dataDir", c.dataDir.empty() || c.dataDir == ":memory:" ? std::string(":memory:") : c.dataDir},
		{"access", c.access == RelayAccess::TOKEN ? "token" : "open"},
		{"statusAccess", c.adminStatus ? "admin" : "open"},
		{"maxHandles", std::to_string(c.maxHandles)},
		{"maxHandlesPerIp", std::to_string(l.maxHandlesPerSource)},
		{"handleReleaseSeconds", seconds(c.handleRelease)},
		{"maxEnvelopeSize", std::to_string(c.maxEnvelopeSize)},
		{"mailboxTtlSeconds", seconds(c.mailboxTtl)},
		{"mailboxMaxBytes", std::to_string(c.mailboxMaxBytes)},
		{"mailboxPerRecipient", std::to_string(c.mailboxPerRecipient)},
		{"mailboxBytesPerRecipient", std::to_string(c.mailboxBytesPerRecipient)},
		{"mailboxBytesPerIp", std::to_string(l.mailboxBytesPerSource)},
		{"mailboxPerIpPerRecipient", std::to_string(l.mailboxPerSourcePerRecipient)},
	};
}


std::size_t openDescriptors()
{
	using Clock = std::chrono::steady_clock;
	static std::mutex mutex;
	static Clock::time_point counted;
	static std::size_t count = 0;
	std::lock_guard<std::mutex> lock(mutex);
	const Clock::time_point now = Clock::now();
	if (count != 0 && now - counted < std::chrono::seconds(1)) return count;
	std::size_t entries = 0;
	if (DIR* pDir = ::opendir("/proc/self/fd"))
	{
		while (const dirent* pEntry = ::readdir(pDir))
		{
			if (pEntry->d_name[0] != '.') ++entries;
		}
		::closedir(pDir);
		if (entries > 0) --entries;   // the directory stream's own descriptor
	}
	count = entries;
	counted = now;
	return count;
}


std::string htmlEscape(const std::string& text)
{
	std::string result;
	result.reserve(text.size());
	for (char c: text)
	{
		switch (c)
		{
		case '&': result += "&amp;"; break;
		case '<': result += "&lt;"; break;
		case '>': result += "&gt;"; break;
		case '"': result += "&quot;"; break;
		case '\'': result += "&#39;"; break;
		default: result += c;
		}
	}
	return result;
}


std::string renderStatusHtml(const StatusSnapshot& s)
{
	std::ostringstream out;
	out << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
		"<meta http-equiv=\"refresh\" content=\"30\"><title>CrossChat relay</title>"
		"<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin-bottom:1.5em}"
		"td,th{border:1px solid #ccc;padding:4px 10px;text-align:left}code{font-size:90%}</style></head><body>\n"
		<< "<h1>CrossChat relay</h1>\n"
		<< "<table><tr><th>Version</th><td>" << htmlEscape(s.version) << "</td></tr>"
		<< "<tr><th>Uptime</th><td>" << formatDuration(s.uptimeSeconds) << "</td></tr></table>\n"
		<< "<h2>Peers</h2>\n<table>"
		<< "<tr><th>Online (control channel)</th><td>" << s.online << "</td></tr>"
		<< "<tr><th>Announced records</th><td>" << s.records << "</td></tr>"
		<< "<tr><th>In the directory</th><td>" << s.listed << "</td></tr>"
		<< "<tr><th>HTTP connections</th><td>" << s.httpConnections << "</td></tr>"
		<< "<tr><th>Control connections</th><td>" << s.controlConnections << "</td></tr>"
		<< "<tr><th>Tunnels</th><td>" << s.tunnels << "</td></tr>"
		<< "<tr><th>Sources connected</th><td>" << s.sources << "</td></tr>"
		<< "<tr><th>Handles</th><td>" << s.handles << "</td></tr>"
		<< "<tr><th>Pre-key bundles</th><td>" << s.prekeyBundles << "</td></tr>"
		<< "<tr><th>Mailbox</th><td>" << s.mailWaiting << " envelopes, " << formatBytes(s.mailBytes) << "</td></tr>"
		<< "<tr><th>Storage</th><td>" << (s.persistent ? "database (" + std::to_string(s.storeCommits) + " commits)" : std::string("memory only"))
		<< "</td></tr></table>\n"
		<< "<h2>Recent activity</h2>\n<table><tr><th></th><th>1 min</th><th>5 min</th><th>15 min</th><th>total</th></tr>\n";
	windowRow(out, "Announces", s.announces, s.announcesTotal, false);
	windowRow(out, "Lookups", s.lookups, s.lookupsTotal, false);
	windowRow(out, "Tunnels opened", s.tunnelsOpened, s.tunnelsOpenedTotal, false);
	windowRow(out, "Bytes relayed", s.bytesRelayed, s.bytesRelayedTotal, true);
	out << "</table>\n<h2>Limits</h2>\n<p>Settings <code>relay.*</code> (crosschat-relay.properties); values in force.</p>\n"
		<< "<table><tr><th>Setting</th><th>Value</th></tr>\n";
	for (const auto& row: limitRows(s))
		out << "<tr><td><code>relay." << htmlEscape(row.first) << "</code></td><td>" << htmlEscape(row.second) << "</td></tr>\n";
	out << "</table>\n<p>Client addresses: " << htmlEscape(s.clientAddresses) << "; NAT traversal: "
		<< (s.natTraversal ? "offered" : "not offered") << (s.draining ? "; draining" : "") << "</p>\n"
		<< "<h2>Recently seen peers</h2>\n";
	if (s.recent.empty())
	{
		out << "<p>None.</p>\n";
	}
	else
	{
		out << "<table><tr><th>Name</th><th>ID</th><th>Online</th></tr>\n";
		for (const auto& entry: s.recent)
		{
			out << "<tr><td>" << htmlEscape(entry.first.name) << "</td><td><code>" << htmlEscape(entry.first.id.toString())
				<< "</code></td><td>" << (entry.second ? "yes" : "no") << "</td></tr>\n";
		}
		out << "</table>\n";
		out << "<p>(the most recent announces of peers listed in the directory; " << s.records << " records in all)</p>\n";
	}
	out << "<p><a href=\"/health\">/health</a> &middot; <a href=\"/metrics\">/metrics</a></p>\n</body></html>\n";
	return out.str();
}


std::string renderHealthJson(const StatusSnapshot& s)
{
	Poco::JSON::Object health(Poco::JSON_PRESERVE_KEY_ORDER);
	health.set("status", s.draining ? "draining" : "ok");
	health.set("version", s.version);
	health.set("uptime_s", s.uptimeSeconds);
	health.set("peers", static_cast<Poco::UInt64>(s.records));
	health.set("online", static_cast<Poco::UInt64>(s.online));
	health.set("control_connections", s.controlConnections);
	health.set("tunnels", static_cast<Poco::UInt64>(s.tunnels));
	health.set("bytes_relayed", static_cast<Poco::UInt64>(s.bytesRelayedTotal));
	health.set("announces", static_cast<Poco::UInt64>(s.announcesTotal));
	health.set("lookups", static_cast<Poco::UInt64>(s.lookupsTotal));
	health.set("tunnels_opened", static_cast<Poco::UInt64>(s.tunnelsOpenedTotal));
	health.set("requests", static_cast<Poco::UInt64>(s.requests));
	health.set("rejected", static_cast<Poco::UInt64>(s.rejectedTotal));
	Poco::JSON::Object::Ptr pMinute = new Poco::JSON::Object(Poco::JSON_PRESERVE_KEY_ORDER);
	pMinute->set("announces", static_cast<Poco::UInt64>(s.announces[0]));
	pMinute->set("lookups", static_cast<Poco::UInt64>(s.lookups[0]));
	pMinute->set("tunnels_opened", static_cast<Poco::UInt64>(s.tunnelsOpened[0]));
	pMinute->set("bytes_relayed", static_cast<Poco::UInt64>(s.bytesRelayed[0]));
	health.set("last_minute", pMinute);
	health.set("client_addresses", s.clientAddresses);
	health.set("nat_traversal", s.natTraversal);
	health.set("http_connections", s.httpConnections);
	health.set("tunnel_connections", s.tunnelConnections);
	health.set("probe_connections", s.probeConnections);
	health.set("directory", static_cast<Poco::UInt64>(s.listed));
	health.set("replay_entries", static_cast<Poco::UInt64>(s.replayEntries));
	health.set("handles", static_cast<Poco::UInt64>(s.handles));
	health.set("prekey_bundles", static_cast<Poco::UInt64>(s.prekeyBundles));
	health.set("mail_waiting", static_cast<Poco::UInt64>(s.mailWaiting));
	health.set("mail_bytes", static_cast<Poco::UInt64>(s.mailBytes));
	health.set("persistent", s.persistent);
	Poco::JSON::Object::Ptr pLimits = new Poco::JSON::Object(Poco::JSON_PRESERVE_KEY_ORDER);
	for (const auto& row: limitRows(s)) pLimits->set(row.first, row.second);
	health.set("limits", pLimits);
	std::ostringstream out;
	health.stringify(out);
	return out.str();
}


std::string renderPublicHealthJson(const StatusSnapshot& s)
{
	Poco::JSON::Object health(Poco::JSON_PRESERVE_KEY_ORDER);
	health.set("status", s.draining ? "draining" : "ok");
	health.set("version", s.version);
	std::ostringstream out;
	health.stringify(out);
	return out.str();
}


std::string renderMetrics(const StatusSnapshot& s)
{
	std::ostringstream out;
	metric(out, "crosschat_relay_requests_total", "counter", "HTTP requests received.", s.requests);
	metric(out, "crosschat_relay_announces_total", "counter", "Accepted announces.", s.announcesTotal);
	metric(out, "crosschat_relay_lookups_total", "counter", "Peer lookups.", s.lookupsTotal);
	metric(out, "crosschat_relay_tunnels_opened_total", "counter", "Tunnels created.", s.tunnelsOpenedTotal);
	metric(out, "crosschat_relay_tunnels_joined_total", "counter", "Tunnels both ends joined.", s.tunnelsJoinedTotal);
	metric(out, "crosschat_relay_tunnels_expired_total", "counter", "Tunnels not joined in time.", s.tunnelsExpiredTotal);
	metric(out, "crosschat_relay_bytes_relayed_total", "counter", "Bytes copied through tunnels (both directions).", s.bytesRelayedTotal);
	metric(out, "crosschat_relay_control_authenticated_total", "counter", "Control channels authenticated.", s.controlAuthenticatedTotal);
	metric(out, "crosschat_relay_control_replaced_total", "counter", "Control channels replaced by a newer one.", s.controlReplacedTotal);
	metric(out, "crosschat_relay_invites_sent_total", "counter", "Tunnel invitations sent.", s.invitesSentTotal);
	metric(out, "crosschat_relay_punches_forwarded_total", "counter", "Hole-punch messages forwarded between peers.", s.punchesForwardedTotal);
	metric(out, "crosschat_relay_probes_answered_total", "counter", "NAT probe connections answered.", s.probesAnsweredTotal);
	metric(out, "crosschat_relay_records_expired_total", "counter", "Peer records expired.", s.recordsExpiredTotal);
	metric(out, "crosschat_relay_mail_deposited_total", "counter", "Mailbox envelopes accepted.", s.mailDepositedTotal);
	metric(out, "crosschat_relay_mail_delivered_total", "counter", "Mailbox envelopes sent to their recipients (again after a reconnect).", s.mailDeliveredTotal);
	metric(out, "crosschat_relay_mail_acknowledged_total", "counter", "Mailbox envelopes acknowledged and deleted.", s.mailAcknowledgedTotal);
	metric(out, "crosschat_relay_mail_expired_total", "counter", "Mailbox envelopes deleted unfetched at their TTL.", s.mailExpiredTotal);
	metric(out, "crosschat_relay_mail_evicted_total", "counter", "Mailbox envelopes evicted from a full box for a depositor holding less of it.", s.mailEvictedTotal);
	metric(out, "crosschat_relay_handles_claimed_total", "counter", "Handle claims accepted.", s.handlesClaimedTotal);
	metric(out, "crosschat_relay_handles_released_total", "counter", "Handles released (by their owners or by absence).", s.handlesReleasedTotal);
	metric(out, "crosschat_relay_handle_lookups_total", "counter", "Handle lookups.", s.handleLookupsTotal);
	metric(out, "crosschat_relay_prekey_lookups_total", "counter", "Pre-key bundle lookups.", s.prekeyLookupsTotal);
	metric(out, "crosschat_relay_store_commits_total", "counter", "Database transactions committed (one fsync each).", s.storeCommits);
	metric(out, "crosschat_relay_store_writes_total", "counter", "Database writes committed.", s.storeWrites);
	metric(out, "crosschat_relay_store_failures_total", "counter", "Database writes that failed.", s.storeFailures);
	out << "# HELP crosschat_relay_rejected_total Refused requests and connections by reason.\n"
		<< "# TYPE crosschat_relay_rejected_total counter\n";
	for (const auto& entry: s.rejections)
		out << "crosschat_relay_rejected_total{reason=\"" << entry.first << "\"} " << entry.second << '\n';
	metric(out, "crosschat_relay_connections_accepted_total", "counter", "TCP connections accepted on the main port.", s.connectionsAcceptedTotal);
	metric(out, "crosschat_relay_peers", "gauge", "Announced peer records.", s.records);
	metric(out, "crosschat_relay_directory_peers", "gauge", "Online peers listed in the directory.", s.listed);
	metric(out, "crosschat_relay_http_connections", "gauge", "Open HTTP connections.", s.httpConnections);
	metric(out, "crosschat_relay_probe_connections", "gauge", "Open NAT probe connections.", s.probeConnections);
	metric(out, "crosschat_relay_sources", "gauge", "Client sources (IPv4 addresses, IPv6 /64) holding connections.", s.sources);
	metric(out, "crosschat_relay_replay_entries", "gauge", "Nonces in the replay cache.", s.replayEntries);
	metric(out, "crosschat_relay_rate_limited_sources", "gauge", "Sources tracked by the request rate limiter.", s.rateLimitedSources);
	if (s.pLimits)
	{
		metric(out, "crosschat_relay_descriptor_limit", "gauge", "The descriptor limit in force (RLIMIT_NOFILE).", s.pLimits->descriptorLimit);
		metric(out, "crosschat_relay_max_http_connections", "gauge", "HTTP connection limit.", s.pLimits->connections.total[static_cast<std::size_t>(ConnectionKind::HTTP)]);
		metric(out, "crosschat_relay_max_control_connections", "gauge", "Control channel limit.", s.pLimits->connections.total[static_cast<std::size_t>(ConnectionKind::CONTROL)]);
		metric(out, "crosschat_relay_max_tunnels", "gauge", "Tunnel limit.", s.pLimits->maxTunnels);
		metric(out, "crosschat_relay_max_peers", "gauge", "Peer record limit.", s.pLimits->maxPeers);
		metric(out, "crosschat_relay_descriptor_budget", "gauge", "Descriptors the connection limits share (the limit less a reserve).", s.pLimits->descriptorBudget);
		metric(out, "crosschat_relay_max_probe_connections", "gauge", "NAT probe connection limit.",
			s.pLimits->connections.total[static_cast<std::size_t>(ConnectionKind::PROBE)]);
		metric(out, "crosschat_relay_replay_capacity", "gauge", "Nonces the replay cache holds at most.", s.pLimits->replayCapacity);
		metric(out, "crosschat_relay_max_rate_limited_sources", "gauge", "Sources the rate limiters track at most.", s.pLimits->maxRateLimitedSources);
	}
	if (s.pConfig)
	{
		metric(out, "crosschat_relay_global_rate_bytes_per_second", "gauge", "Byte rate limit of all tunnels together (relay.globalRateBytesPerSecond).",
			s.pConfig->globalRateBytesPerSecond);
	}
	metric(out, "crosschat_relay_online_peers", "gauge", "Peers with an authenticated control channel.", s.online);
	metric(out, "crosschat_relay_control_connections", "gauge", "Open control connections (authenticated or not).", s.controlConnections);
	metric(out, "crosschat_relay_tunnels", "gauge", "Tunnels pending or running.", s.tunnels);
	metric(out, "crosschat_relay_tunnel_connections", "gauge", "Joined tunnel ends.", s.tunnelConnections);
	metric(out, "crosschat_relay_handles", "gauge", "Handles held.", s.handles);
	metric(out, "crosschat_relay_prekey_bundles", "gauge", "Pre-key bundles held.", s.prekeyBundles);
	metric(out, "crosschat_relay_mail_waiting", "gauge", "Envelopes in the mailbox.", s.mailWaiting);
	metric(out, "crosschat_relay_mail_bytes", "gauge", "Bytes of envelopes in the mailbox.", s.mailBytes);
	metric(out, "crosschat_relay_uptime_seconds", "gauge", "Seconds since start.", static_cast<std::uint64_t>(s.uptimeSeconds));
	metric(out, "crosschat_relay_open_descriptors", "gauge", "Descriptors the process has open (counted at most once a second).", s.openDescriptors);
	return out.str();
}


} } // namespace CrossChat::Relay
