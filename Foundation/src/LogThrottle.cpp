//
// LogThrottle.cpp
//
// Library: Foundation
//


#include "CrossChat/LogThrottle.h"


namespace CrossChat {


LogThrottle::LogThrottle(unsigned burst, Clock::duration period):
	_burst(burst),
	_period(period)
{
}


bool LogThrottle::allow(Clock::time_point now)
{
	if (_inWindow == 0 || now - _windowStart >= _period)
	{
		_windowStart = now;
		_inWindow = 0;
	}
	if (_inWindow < _burst)
	{
		++_inWindow;
		return true;
	}
	++_suppressed;
	return false;
}


std::uint64_t LogThrottle::takeSuppressed()
{
	const std::uint64_t suppressed = _suppressed;
	_suppressed = 0;
	return suppressed;
}


} // namespace CrossChat
