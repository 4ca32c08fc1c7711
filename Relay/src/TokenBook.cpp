//
// TokenBook.cpp
//
// Library: Relay
//


#include "TokenBook.h"
#include "ServerContext.h"
#include "Poco/Base64Encoder.h"
#include "Poco/Data/LOB.h"
#include "Poco/Data/Session.h"
#include "Poco/Data/Statement.h"
#include "Poco/Exception.h"
#include "Poco/String.h"
#include "Poco/Tuple.h"
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <sstream>


using namespace Poco::Data::Keywords;
using Poco::Data::BLOB;


namespace CrossChat {
namespace Relay {


namespace {


constexpr std::size_t SECRET_BYTES = 32;
constexpr std::size_t MAX_NAME_SIZE = 64;


std::string base64url(const std::string& bytes)
{
	std::ostringstream out;
	Poco::Base64Encoder encoder(out, Poco::BASE64_URL_ENCODING | Poco::BASE64_NO_PADDING);
	encoder.rdbuf()->setLineLength(0);
	encoder << bytes;
	encoder.close();
	return out.str();
}


bool tokenCharacter(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}


std::string blobText(const BLOB& blob)
{
	if (blob.size() == 0) return std::string();
	return std::string(reinterpret_cast<const char*>(blob.rawContent()), blob.size());
}


} // namespace


bool AccessToken::inForce(std::int64_t nowMs) const
{
	return revokedMs == 0 && (expiresMs == 0 || nowMs < expiresMs);
}


TokenBook::Result TokenBook::check(const std::string& authorization, std::int64_t nowMs) const
{
	Result result;
	if (authorization.empty()) return result;   // MISSING
	// "Bearer" SP token (RFC 6750 section 2.1; the scheme is case-insensitive).
	const std::string scheme = "bearer ";
	if (authorization.size() > MAX_HEADER_SIZE || authorization.size() <= scheme.size()
		|| Poco::icompare(authorization.substr(0, scheme.size()), scheme) != 0)
	{
		return result;   // another scheme: as if there were none
	}
	const std::string secret = Poco::trim(authorization.substr(scheme.size()));
	result.status = Status::INVALID;
	const std::string prefix(TOKEN_PREFIX);
	if (secret.size() <= prefix.size() || secret.compare(0, prefix.size(), prefix) != 0) return result;
	for (const char c: secret)
		if (!tokenCharacter(c)) return result;
	const std::string hash = hashOf(secret);
	std::shared_ptr<const AccessToken> token;
	{
		std::lock_guard<std::mutex> lock(_mutex);
		const auto it = _byHash.find(hash);
		if (it != _byHash.end()) token = it->second;
	}
	if (!token) return result;
	if (token->revokedMs != 0)
	{
		result.status = Status::REVOKED;
		return result;
	}
	if (token->expiresMs != 0 && nowMs >= token->expiresMs)
	{
		result.status = Status::EXPIRED;
		return result;
	}
	result.status = Status::OK;
	result.token = token;
	return result;
}


std::shared_ptr<const AccessToken> TokenBook::find(const std::string& id) const
{
	std::lock_guard<std::mutex> lock(_mutex);
	const auto it = _byId.find(id);
	return it == _byId.end() ? nullptr : it->second;
}


std::vector<std::string> TokenBook::replace(const std::vector<AccessToken>& tokens, std::int64_t nowMs)
{
	std::unordered_map<std::string, std::shared_ptr<const AccessToken>> byHash;
	std::unordered_map<std::string, std::shared_ptr<const AccessToken>> byId;
	for (const AccessToken& token: tokens)
	{
		auto pToken = std::make_shared<const AccessToken>(token);
		byHash[token.hash] = pToken;
		byId[token.id] = pToken;
	}
	std::vector<std::string> ended;
	std::lock_guard<std::mutex> lock(_mutex);
	for (const auto& entry: _byId)
	{
		if (!entry.second->inForce(nowMs)) continue;
		const auto now = byId.find(entry.first);
		if (now == byId.end() || !now->second->inForce(nowMs)) ended.push_back(entry.first);
	}
	_byHash.swap(byHash);
	_byId.swap(byId);
	return ended;
}


std::vector<std::string> TokenBook::expire(std::int64_t nowMs)
{
	std::vector<std::string> ended;
	std::lock_guard<std::mutex> lock(_mutex);
	for (auto& entry: _byId)
	{
		const AccessToken& token = *entry.second;
		if (token.revokedMs == 0 && token.expiresMs != 0 && nowMs >= token.expiresMs)
		{
			ended.push_back(token.id);
			// Remembered as revoked at its expiry so that it is reported once.
			auto pExpired = std::make_shared<AccessToken>(token);
			pExpired->revokedMs = token.expiresMs;
			entry.second = pExpired;
			_byHash[token.hash] = pExpired;
		}
	}
	return ended;
}


std::size_t TokenBook::size() const
{
	std::lock_guard<std::mutex> lock(_mutex);
	return _byId.size();
}


const char* TokenBook::statusCode(Status status)
{
	switch (status)
	{
	case Status::MISSING: return "token_required";
	case Status::INVALID: return "token_invalid";
	case Status::REVOKED: return "token_revoked";
	case Status::EXPIRED: return "token_expired";
	case Status::OK: break;
	}
	return "";
}


std::string TokenBook::statusMessage(Status status)
{
	switch (status)
	{
	case Status::MISSING: return "this relay is private: send an access token (Authorization: Bearer <token>)";
	case Status::INVALID: return "unknown access token";
	case Status::REVOKED: return "this access token has been revoked";
	case Status::EXPIRED: return "this access token has expired";
	case Status::OK: break;
	}
	return "";
}


TokenBook::Issued TokenBook::issue(const std::string& name, bool admin, std::int64_t expiresMs, std::uint64_t maxPeers,
	std::uint64_t maxTunnels, std::uint64_t maxMailboxBytes, std::int64_t nowMs)
{
	if (name.size() > MAX_NAME_SIZE) throw Poco::InvalidArgumentException("a token name has at most 64 bytes");
	for (const char c: name)
	{
		if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F)
			throw Poco::InvalidArgumentException("a token name must not contain control characters");
	}
	std::string random(SECRET_BYTES, '\0');
	if (RAND_bytes(reinterpret_cast<unsigned char*>(&random[0]), static_cast<int>(random.size())) != 1)
		throw Poco::RuntimeException("no random bytes for a token");
	Issued issued;
	issued.secret = std::string(TOKEN_PREFIX) + base64url(random);
	OPENSSL_cleanse(&random[0], random.size());
	AccessToken& token = issued.token;
	token.id = "tok-" + randomHex(6);
	token.hash = hashOf(issued.secret);
	token.name = name;
	token.admin = admin;
	token.createdMs = nowMs;
	token.expiresMs = expiresMs;
	token.maxPeers = maxPeers;
	token.maxTunnels = maxTunnels;
	token.maxMailboxBytes = maxMailboxBytes;
	return issued;
}


void TokenBook::insert(Poco::Data::Session& session, const AccessToken& token)
{
	std::string id = token.id;
	BLOB hash(reinterpret_cast<const unsigned char*>(token.hash.data()), token.hash.size());
	std::string name = token.name;
	Poco::Int32 admin = token.admin ? 1 : 0;
	Poco::Int64 created = token.createdMs;
	Poco::Int64 expires = token.expiresMs;
	Poco::Int64 revoked = token.revokedMs;
	Poco::Int64 maxPeers = static_cast<Poco::Int64>(token.maxPeers);
	Poco::Int64 maxTunnels = static_cast<Poco::Int64>(token.maxTunnels);
	Poco::Int64 maxMailbox = static_cast<Poco::Int64>(token.maxMailboxBytes);
	session << "INSERT INTO tokens (id, hash, name, admin, created_ms, expires_ms, revoked_ms, max_peers, max_tunnels,"
		" max_mailbox_bytes) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		use(id), use(hash), use(name), use(admin), use(created), use(expires), use(revoked), use(maxPeers), use(maxTunnels),
		use(maxMailbox), now;
}


std::vector<AccessToken> TokenBook::load(Poco::Data::Session& session)
{
	using Row = Poco::Tuple<std::string, BLOB, std::string, Poco::Int32, Poco::Int64, Poco::Int64, Poco::Int64, Poco::Int64,
		Poco::Int64, Poco::Int64>;
	std::vector<Row> rows;
	session << "SELECT id, hash, name, admin, created_ms, expires_ms, revoked_ms, max_peers, max_tunnels, max_mailbox_bytes"
		" FROM tokens ORDER BY created_ms, id", into(rows), now;
	std::vector<AccessToken> tokens;
	tokens.reserve(rows.size());
	for (const Row& row: rows)
	{
		AccessToken token;
		token.id = row.get<0>();
		token.hash = blobText(row.get<1>());
		token.name = row.get<2>();
		token.admin = row.get<3>() != 0;
		token.createdMs = row.get<4>();
		token.expiresMs = row.get<5>();
		token.revokedMs = row.get<6>();
		token.maxPeers = static_cast<std::uint64_t>(std::max<Poco::Int64>(0, row.get<7>()));
		token.maxTunnels = static_cast<std::uint64_t>(std::max<Poco::Int64>(0, row.get<8>()));
		token.maxMailboxBytes = static_cast<std::uint64_t>(std::max<Poco::Int64>(0, row.get<9>()));
		tokens.push_back(token);
	}
	return tokens;
}


std::size_t TokenBook::revoke(Poco::Data::Session& session, const std::string& idOrName, std::int64_t nowMs)
{
	std::string key = idOrName;
	Poco::Int64 revoked = nowMs;
	Poco::Data::Statement statement(session);
	statement << "UPDATE tokens SET revoked_ms = ? WHERE revoked_ms = 0 AND (id = ? OR name = ?)",
		use(revoked), use(key), use(key);
	return statement.execute();
}


std::string TokenBook::hashOf(const std::string& secret)
{
	std::string hash(SHA256_DIGEST_LENGTH, '\0');
	SHA256(reinterpret_cast<const unsigned char*>(secret.data()), secret.size(), reinterpret_cast<unsigned char*>(&hash[0]));
	return hash;
}


} } // namespace CrossChat::Relay
