//
// TokenBook.h
//
// Library: Relay
// Internal header: the access tokens of a private relay (relay.access = token).
// This is an internal header file, you should not include this.
//


#ifndef CrossChat_Relay_TokenBook_INCLUDED
#define CrossChat_Relay_TokenBook_INCLUDED


#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>


namespace Poco {
namespace Data {
class Session;
} } // namespace Poco::Data


namespace CrossChat {
namespace Relay {


struct AccessToken
	/// One token as the relay keeps it: never the secret, only its SHA-256.
{
	std::string id;                      ///< "tok-" and 12 hex digits: names the token in lists and logs.
	std::string hash;                    ///< SHA-256 of the secret (32 raw bytes).
	std::string name;                    ///< The operator's label (crosschat-relay token add --name).
	bool admin = false;                  ///< May read the status page and /metrics (relay.statusAccess = admin).
	std::int64_t createdMs = 0;          ///< Wall clock, ms since the epoch.
	std::int64_t expiresMs = 0;          ///< 0: never.
	std::int64_t revokedMs = 0;          ///< 0: in force.
	std::uint64_t maxPeers = 0;          ///< Peers announced, and peers online, with it at once (0: the relay's own limits only).
	std::uint64_t maxTunnels = 0;        ///< Tunnels asked for with it, waiting or running.
	std::uint64_t maxMailboxBytes = 0;   ///< Bytes of envelopes deposited with it and not yet fetched.

	bool inForce(std::int64_t nowMs) const;
};


class TokenBook
	/// The tokens in force, by the hash of their secret, and the checks of a request's
	/// "Authorization: Bearer <token>" header (RFC 6750). A token's secret is TOKEN_PREFIX and
	/// 43 base64url characters (32 random bytes); it is shown once, when it is made, and the
	/// relay keeps only its SHA-256 (a hash of a random 256-bit secret needs no slow hashing).
	///
	/// The rows live in the relay's database (table tokens), written by the crosschat-relay
	/// token commands (add, list, revoke) — possibly while the relay runs; the relay reloads
	/// them when the database changes (RelayStore's change handler), so a revocation takes
	/// effect within about a second.
	///
	/// Thread rules: check(), find() and replace() are safe from any thread. The static
	/// database functions run on the caller's thread with the session given.
{
public:
	enum class Status
	{
		OK,
		MISSING,     ///< No Authorization header, or not the Bearer scheme.
		INVALID,     ///< Malformed, or no such token.
		REVOKED,
		EXPIRED
	};

	struct Result
	{
		Status status = Status::MISSING;
		std::shared_ptr<const AccessToken> token;   ///< Set when status is OK.
	};

	static constexpr const char* TOKEN_PREFIX = "cxrt_";
	static constexpr std::size_t MAX_HEADER_SIZE = 256;

	Result check(const std::string& authorization, std::int64_t nowMs) const;
		/// authorization is the header's value ("Bearer cxrt_..."), empty if absent.

	std::shared_ptr<const AccessToken> find(const std::string& id) const;
		/// The token with this id, whatever its state; null if unknown.

	std::vector<std::string> replace(const std::vector<AccessToken>& tokens, std::int64_t nowMs);
		/// Takes a fresh list (loaded from the database); returns the ids of tokens that were in
		/// force before and are not now (revoked, expired, deleted), whose sessions must end.

	std::vector<std::string> expire(std::int64_t nowMs);
		/// The ids of tokens that have expired since the last call (to end their sessions).

	std::size_t size() const;

	static const char* statusCode(Status status);
		/// The error code of an answer: "token_required", "token_invalid", "token_revoked",
		/// "token_expired" ("" for OK).

	static std::string statusMessage(Status status);

	// Database --------------------------------------------------------------------------

	struct Issued
	{
		AccessToken token;
		std::string secret;   ///< The token itself: shown once, never stored.
	};

	static Issued issue(const std::string& name, bool admin, std::int64_t expiresMs, std::uint64_t maxPeers,
		std::uint64_t maxTunnels, std::uint64_t maxMailboxBytes, std::int64_t nowMs);
		/// A new random token (not stored yet). Throws Poco::InvalidArgumentException for a name
		/// over 64 bytes or with control characters.

	static void insert(Poco::Data::Session& session, const AccessToken& token);
	static std::vector<AccessToken> load(Poco::Data::Session& session);
		/// Every token, in the order they were made.
	static std::size_t revoke(Poco::Data::Session& session, const std::string& idOrName, std::int64_t nowMs);
		/// Revokes the token with that id, or every token in force with that name; returns how many.

	static std::string hashOf(const std::string& secret);
		/// SHA-256, raw.

private:
	mutable std::mutex _mutex;
	std::unordered_map<std::string, std::shared_ptr<const AccessToken>> _byHash;
	std::unordered_map<std::string, std::shared_ptr<const AccessToken>> _byId;
};


} } // namespace CrossChat::Relay


#endif // CrossChat_Relay_TokenBook_INCLUDED
