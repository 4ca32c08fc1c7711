//
// TimerState.h
//
// Library: Foundation
// Private: the state a TimerHandle shares with the scheduler that runs the timer.
// This is an internal header file, it is not installed; do not include it from outside Foundation/src.
//


#ifndef CrossChat_Foundation_TimerState_INCLUDED
#define CrossChat_Foundation_TimerState_INCLUDED


#include "CrossChat/Scheduler.h"
#include "CrossChat/TimerHandle.h"
#include <atomic>


namespace CrossChat {


struct TimerHandle::State
{
	std::atomic<bool> cancelled{false};
	std::atomic<bool> fired{false};         ///< A one-shot timer has run.
	Scheduler::Task task;                    ///< Touched on the scheduler's thread only.
	Scheduler::Duration interval{0};         ///< Zero for one-shot timers.
};


} // namespace CrossChat


#endif // CrossChat_Foundation_TimerState_INCLUDED
