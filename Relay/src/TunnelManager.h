//
// TunnelManager.h
//
// Library: Relay
// Internal header: the relay's tunnel sessions by join token, with a count per caller source.
// This is an internal header file, you should not include this.
//


#ifndef CrossChat_Relay_TunnelManager_INCLUDED
#define CrossChat_Relay_TunnelManager_INCLUDED


#include "SourceKey.h"
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>


namespace CrossChat {
namespace Relay {


class TunnelSession;


class TunnelManager
	/// Sessions waiting for their two ends to join, and running ones, by token. Each token can
	/// be claimed once, before it expires. Sessions are counted per caller source (the source
	/// that asked for the tunnel pays for it, never the callee).
	///
	/// Thread rules: safe to call from any thread.
	/// Ownership: holds the sessions until remove().
{
public:
	using Clock = std::chrono::steady_clock;

	enum class AddResult
	{
		OK,
		FULL,          ///< maxSessions sessions exist.
		SOURCE_FULL,   ///< The source has maxPerSource sessions.
		TOKEN_FULL     ///< The access token has maxPerToken sessions.
	};

	AddResult add(const std::shared_ptr<TunnelSession>& pSession, const std::string& callerToken,
		const std::string& calleeToken, Clock::time_point expires, std::size_t maxSessions,
		const SourceKey& source, std::size_t maxPerSource, const std::string& accessToken = std::string(),
		std::size_t maxPerToken = 0);
		/// accessToken: the id of the access token the caller asked with (private relays), which
		/// may hold maxPerToken sessions (0: no quota).

	std::shared_ptr<TunnelSession> claim(const std::string& token, Clock::time_point now, int& side);
		/// The session and the side (0 caller, 1 callee) of an unclaimed, unexpired token, or null.

	bool isCalleeToken(const std::string& token, Clock::time_point now) const;
		/// True for an unclaimed, unexpired callee token (its join is paid by the caller).

	void remove(const std::string& callerToken, const std::string& calleeToken, const SourceKey& source);
		/// Forgets the session's tokens (idempotent).

	std::size_t size() const;
		/// Sessions held.

	void clear();

private:
	struct Ticket
	{
		std::shared_ptr<TunnelSession> session;
		int side = 0;
		bool claimed = false;
		Clock::time_point expires;
		std::string accessToken;
	};

	mutable std::mutex _mutex;
	std::unordered_map<std::string, Ticket> _tickets;
	std::unordered_map<SourceKey, std::uint32_t, SourceKeyHash> _perSource;
	std::unordered_map<std::string, std::uint32_t> _perToken;
	std::size_t _sessions = 0;
};


} } // namespace CrossChat::Relay


#endif // CrossChat_Relay_TunnelManager_INCLUDED
