//
// TunnelManager.h
//
// Library: Relay
// Internal header: the relay's tunnel sessions by join token.
// This is an internal header file, you should not include this.
//


#ifndef CrossChat_Relay_TunnelManager_INCLUDED
#define CrossChat_Relay_TunnelManager_INCLUDED


#include <chrono>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>


namespace CrossChat {
namespace Relay {


class TunnelSession;


class TunnelManager
	/// Sessions waiting for their two ends to join, and running ones, by token. Each token can
	/// be claimed once, before it expires.
	///
	/// Thread rules: safe to call from any thread.
	/// Ownership: holds the sessions until remove().
{
public:
	using Clock = std::chrono::steady_clock;

	bool add(const std::shared_ptr<TunnelSession>& pSession, const std::string& callerToken,
		const std::string& calleeToken, Clock::time_point expires, std::size_t maxSessions);
		/// False if maxSessions sessions exist already.

	std::shared_ptr<TunnelSession> claim(const std::string& token, Clock::time_point now, int& side);
		/// The session and the side (0 caller, 1 callee) of an unclaimed, unexpired token, or null.

	void remove(const std::string& callerToken, const std::string& calleeToken);

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
	};

	mutable std::mutex _mutex;
	std::unordered_map<std::string, Ticket> _tickets;
	std::size_t _sessions = 0;
};


} } // namespace CrossChat::Relay


#endif // CrossChat_Relay_TunnelManager_INCLUDED
