//
// RelayTokens.cpp
//
// Library: Relay
//


#include "CrossChat/Relay/RelayTokens.h"
#include "RelayStore.h"
#include "ServerContext.h"
#include "TokenBook.h"
#include "Poco/Exception.h"
#include "Poco/File.h"
#include "Poco/NumberParser.h"
#include "Poco/String.h"
#include "Poco/StringTokenizer.h"
#include <sys/stat.h>
#include <limits>


namespace CrossChat {
namespace Relay {


namespace {


std::uint64_t parseSize(const std::string& key, const std::string& text)
{
	if (text.empty()) throw Poco::InvalidArgumentException("--quota " + key + "= needs a value");
	std::uint64_t unit = 1;
	std::string digits = text;
	const char last = static_cast<char>(std::toupper(static_cast<unsigned char>(text.back())));
	if (last == 'K' || last == 'M' || last == 'G')
	{
		unit = last == 'K' ? 1024ull : last == 'M' ? 1024ull * 1024 : 1024ull * 1024 * 1024;
		digits.pop_back();
	}
	Poco::UInt64 value = 0;
	if (digits.empty() || digits.find_first_not_of("0123456789") != std::string::npos || !Poco::NumberParser::tryParseUnsigned64(digits, value)
		|| value > std::numeric_limits<std::uint64_t>::max() / unit)
		throw Poco::InvalidArgumentException("--quota " + key + "=" + text + " is not a number (sizes may end in K, M or G)");
	return value * unit;
}


RelayTokenInfo infoOf(const AccessToken& token)
{
	RelayTokenInfo info;
	info.id = token.id;
	info.name = token.name;
	info.admin = token.admin;
	info.createdMs = token.createdMs;
	info.expiresMs = token.expiresMs;
	info.revokedMs = token.revokedMs;
	info.maxPeers = token.maxPeers;
	info.maxTunnels = token.maxTunnels;
	info.maxMailboxBytes = token.maxMailboxBytes;
	return info;
}


} // namespace


RelayTokenQuota RelayTokenQuota::parse(const std::string& text)
{
	RelayTokenQuota quota;
	Poco::StringTokenizer items(text, ",", Poco::StringTokenizer::TOK_TRIM | Poco::StringTokenizer::TOK_IGNORE_EMPTY);
	if (items.count() == 0) throw Poco::InvalidArgumentException("--quota needs peers=N, tunnels=N and/or mailbox=SIZE");
	for (const std::string& item: items)
	{
		const std::size_t equals = item.find('=');
		const std::string key = Poco::toLower(Poco::trim(item.substr(0, equals)));
		const std::string value = equals == std::string::npos ? std::string() : Poco::trim(item.substr(equals + 1));
		if (key == "peers") quota.maxPeers = parseSize(key, value);
		else if (key == "tunnels") quota.maxTunnels = parseSize(key, value);
		else if (key == "mailbox") quota.maxMailboxBytes = parseSize(key, value);
		else throw Poco::InvalidArgumentException("unknown quota '" + key + "' (peers, tunnels, mailbox)");
	}
	return quota;
}


RelayTokens::RelayTokens(const std::string& dataDir)
{
	if (dataDir.empty() || dataDir == ":memory:")
		throw Poco::InvalidArgumentException("tokens need a data directory (relay.dataDir): a relay without one keeps none");
	Poco::File directory(dataDir);
	if (!directory.exists())
	{
		directory.createDirectories();
		::chmod(dataDir.c_str(), 0700);
	}
	_pStore = std::make_unique<RelayStore>(RelayStore::defaultPath(dataDir), RelayStore::Mode::DIRECT);
}


RelayTokens::~RelayTokens() = default;


std::string RelayTokens::add(const std::string& name, bool admin, std::int64_t expiresMs, const RelayTokenQuota& quota,
	RelayTokenInfo* pInfo)
{
	const TokenBook::Issued issued = TokenBook::issue(name, admin, expiresMs, quota.maxPeers, quota.maxTunnels,
		quota.maxMailboxBytes, ServerContext::wallMs());
	bool ok = false;
	_pStore->submit([&issued](Poco::Data::Session& session) { TokenBook::insert(session, issued.token); },
		[&ok](bool done) { ok = done; });
	if (!ok) throw Poco::IOException("the token could not be stored in " + _pStore->path());
	if (pInfo) *pInfo = infoOf(issued.token);
	return issued.secret;
}


std::vector<RelayTokenInfo> RelayTokens::list()
{
	std::vector<AccessToken> tokens;
	_pStore->read([&tokens](Poco::Data::Session& session) { tokens = TokenBook::load(session); });
	std::vector<RelayTokenInfo> infos;
	for (const AccessToken& token: tokens) infos.push_back(infoOf(token));
	return infos;
}


std::size_t RelayTokens::revoke(const std::string& idOrName)
{
	std::size_t count = 0;
	bool ok = false;
	_pStore->submit([&count, &idOrName](Poco::Data::Session& session) {
		count = TokenBook::revoke(session, idOrName, ServerContext::wallMs());
	}, [&ok](bool done) { ok = done; });
	if (!ok) throw Poco::IOException("the revocation could not be stored in " + _pStore->path());
	return count;
}


std::int64_t RelayTokens::parseDuration(const std::string& text)
{
	if (text.empty()) throw Poco::InvalidArgumentException("an empty duration");
	std::int64_t unit = 1000;
	std::string digits = text;
	switch (std::tolower(static_cast<unsigned char>(text.back())))
	{
	case 'd': unit = 86400000; digits.pop_back(); break;
	case 'h': unit = 3600000; digits.pop_back(); break;
	case 'm': unit = 60000; digits.pop_back(); break;
	case 's': digits.pop_back(); break;
	default: break;
	}
	Poco::UInt64 value = 0;
	if (digits.empty() || digits.find_first_not_of("0123456789") != std::string::npos || !Poco::NumberParser::tryParseUnsigned64(digits, value)
		|| value == 0 || value > static_cast<Poco::UInt64>(std::numeric_limits<std::int64_t>::max() / unit))
		throw Poco::InvalidArgumentException("'" + text + "' is not a duration (e.g. 90d, 12h, 30m, 45s)");
	return static_cast<std::int64_t>(value) * unit;
}


} } // namespace CrossChat::Relay
