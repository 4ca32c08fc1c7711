//
// RelayMetrics.h
//
// Library: Relay
// Internal header: the relay's counters and per-minute activity history.
// This is an internal header file, you should not include this.
//


#ifndef CrossChat_Relay_RelayMetrics_INCLUDED
#define CrossChat_Relay_RelayMetrics_INCLUDED


#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>


namespace CrossChat {
namespace Relay {


class ActivityCounter
	/// A total plus a ring of per-minute counts covering the last HISTORY_MINUTES minutes.
	///
	/// Thread rules: safe to call from any thread.
{
public:
	using Clock = std::chrono::steady_clock;
	static constexpr std::size_t HISTORY_MINUTES = 16;

	explicit ActivityCounter(Clock::time_point origin);

	void add(std::uint64_t amount, Clock::time_point now);
	std::uint64_t total() const;
	std::uint64_t lastMinutes(std::size_t minutes, Clock::time_point now) const;
		/// Sum over the current minute and the minutes-1 before it (minutes <= HISTORY_MINUTES).

private:
	std::int64_t minuteOf(Clock::time_point now) const;

	const Clock::time_point _origin;
	std::atomic<std::uint64_t> _total{0};
	mutable std::mutex _mutex;
	std::array<std::pair<std::int64_t, std::uint64_t>, HISTORY_MINUTES> _slots{};
};


enum class Rejection
	/// Why a request or connection was refused; each has its own counter.
{
	BAD_REQUEST,
	UNAUTHORIZED,
	FORBIDDEN,
	NOT_FOUND,
	METHOD_NOT_ALLOWED,
	TOO_LARGE,
	RATE_LIMITED,
	UNAVAILABLE,
	CONNECTION_LIMIT,
	SOURCE_LIMIT,
	HTTP_TIMEOUT,
	CONTROL_PROTOCOL,
	CONTROL_TIMEOUT,
	ACCESS,              ///< No access token, or one that is unknown, revoked or expired (relay.access = token).
	QUOTA,               ///< An access token's quota (peers, tunnels, mailbox bytes) is used up.
	CONFLICT,            ///< A handle claimed by another key.
	STORAGE,             ///< The database could not keep a write (or was too slow).
	COUNT
};


class RelayMetrics
	/// Every counter the status pages and /metrics show.
	///
	/// Thread rules: safe to call from any thread.
{
public:
	using Clock = std::chrono::steady_clock;

	explicit RelayMetrics(Clock::time_point origin);

	void reject(Rejection reason);
	std::uint64_t rejected(Rejection reason) const;
	std::uint64_t rejectedTotal() const;
	static const char* rejectionName(Rejection reason);

	std::atomic<std::uint64_t> requests{0};
	std::atomic<std::uint64_t> connectionsAccepted{0};
	std::atomic<std::uint64_t> controlAccepted{0};
	std::atomic<std::uint64_t> controlAuthenticated{0};
	std::atomic<std::uint64_t> controlReplaced{0};
	std::atomic<std::uint64_t> invitesSent{0};
	std::atomic<std::uint64_t> punchesForwarded{0};
	std::atomic<std::uint64_t> probesAnswered{0};
	std::atomic<std::uint64_t> recordsExpired{0};
	std::atomic<std::uint64_t> tunnelsExpired{0};
	std::atomic<std::uint64_t> tunnelsJoined{0};
	std::atomic<std::uint64_t> mailDeposited{0};
	std::atomic<std::uint64_t> mailDelivered{0};
	std::atomic<std::uint64_t> mailAcknowledged{0};
	std::atomic<std::uint64_t> mailExpired{0};
	std::atomic<std::uint64_t> handlesClaimed{0};
	std::atomic<std::uint64_t> handlesReleased{0};
	std::atomic<std::uint64_t> handleLookups{0};
	std::atomic<std::uint64_t> prekeyLookups{0};
	ActivityCounter announces;
	ActivityCounter lookups;
	ActivityCounter tunnelsOpened;
	ActivityCounter bytesRelayed;

private:
	std::array<std::atomic<std::uint64_t>, static_cast<std::size_t>(Rejection::COUNT)> _rejections{};
};


} } // namespace CrossChat::Relay


#endif // CrossChat_Relay_RelayMetrics_INCLUDED
