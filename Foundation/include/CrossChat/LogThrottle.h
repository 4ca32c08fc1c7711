//
// LogThrottle.h
//
// Library: Foundation
// Rate limit for log lines about refused input, so that a flood cannot flood the log.
//


#ifndef CrossChat_Foundation_LogThrottle_INCLUDED
#define CrossChat_Foundation_LogThrottle_INCLUDED


#include <chrono>
#include <cstdint>


namespace CrossChat {


class LogThrottle
	/// Allows at most `burst` lines per `period`; the rest are counted, and the next allowed
	/// line can say how many were suppressed:
	///
	///     if (_throttle.allow(now)) logger.warning("refused ... (%Lu similar suppressed)", _throttle.takeSuppressed());
	///
	/// Thread rules: not thread-safe; one throttle per loop-owned component.
{
public:
	using Clock = std::chrono::steady_clock;

	explicit LogThrottle(unsigned burst = 5, Clock::duration period = std::chrono::seconds(60));

	bool allow(Clock::time_point now);
		/// True if a line may be written now; otherwise counts it as suppressed.

	std::uint64_t takeSuppressed();
		/// The lines suppressed since the last call (then zero).

private:
	const unsigned _burst;
	const Clock::duration _period;
	Clock::time_point _windowStart{};
	unsigned _inWindow = 0;
	std::uint64_t _suppressed = 0;
};


} // namespace CrossChat


#endif // CrossChat_Foundation_LogThrottle_INCLUDED
