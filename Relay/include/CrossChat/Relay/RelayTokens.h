//
// RelayTokens.h
//
// Library: Relay
// The access tokens of a private relay as its operator manages them (crosschat-relay token).
//


#ifndef CrossChat_Relay_RelayTokens_INCLUDED
#define CrossChat_Relay_RelayTokens_INCLUDED


#include <cstdint>
#include <memory>
#include <string>
#include <vector>


namespace CrossChat {
namespace Relay {


class RelayStore;


struct RelayTokenInfo
	/// One access token as the relay keeps it (never its secret).
{
	std::string id;                      ///< "tok-" and 12 hex digits.
	std::string name;                    ///< The operator's label.
	bool admin = false;                  ///< May read the status page and /metrics (relay.statusAccess = admin).
	std::int64_t createdMs = 0;          ///< Wall clock, ms since the epoch.
	std::int64_t expiresMs = 0;          ///< 0: never.
	std::int64_t revokedMs = 0;          ///< 0: not revoked.
	std::uint64_t maxPeers = 0;          ///< Quotas; 0: the relay's own limits only.
	std::uint64_t maxTunnels = 0;
	std::uint64_t maxMailboxBytes = 0;
};


struct RelayTokenQuota
	/// Per-token limits (crosschat-relay token add --quota peers=N,tunnels=N,mailbox=BYTES).
{
	std::uint64_t maxPeers = 0;
	std::uint64_t maxTunnels = 0;
	std::uint64_t maxMailboxBytes = 0;

	static RelayTokenQuota parse(const std::string& text);
		/// "peers=5,tunnels=10,mailbox=4M" (any subset; sizes take K, M or G). Throws
		/// Poco::InvalidArgumentException naming what is wrong.
};


class RelayTokens
	/// The token table of a relay's database (relay.dataDir/relay.db), opened on the caller's
	/// thread while the relay may be running (SQLite WAL; the relay notices the change within
	/// about a second and ends the channels of a revoked token). The secret of a new token is
	/// returned once and only its SHA-256 is stored.
	///
	/// Thread rules: one thread at a time. Ownership: owns its database connection.
{
public:
	explicit RelayTokens(const std::string& dataDir);
		/// Creates the directory (0700) and the database if missing. Throws Poco::Exception
		/// naming the file if it cannot be opened (or is unsafe: see RelayStore).
	~RelayTokens();

	RelayTokens(const RelayTokens&) = delete;
	RelayTokens& operator=(const RelayTokens&) = delete;

	std::string add(const std::string& name, bool admin, std::int64_t expiresMs, const RelayTokenQuota& quota,
		RelayTokenInfo* pInfo = nullptr);
		/// Makes and stores a token; returns its secret ("cxrt_..."), which nobody can see again.

	std::vector<RelayTokenInfo> list();
		/// Every token, oldest first, revoked and expired ones included.

	std::size_t revoke(const std::string& idOrName);
		/// Revokes the token with that id, or every token in force with that name; returns how
		/// many were revoked.

	static std::int64_t parseDuration(const std::string& text);
		/// "90d", "12h", "30m", "45s" or a number of seconds -> milliseconds. Throws
		/// Poco::InvalidArgumentException.

private:
	std::unique_ptr<RelayStore> _pStore;
};


} } // namespace CrossChat::Relay


#endif // CrossChat_Relay_RelayTokens_INCLUDED
