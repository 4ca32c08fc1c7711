//
// TimerHandle.h
//
// Library: Foundation
// The cancel handle returned by EventLoop::runAfter() and EventLoop::runEvery().
//


#ifndef CrossChat_Foundation_TimerHandle_INCLUDED
#define CrossChat_Foundation_TimerHandle_INCLUDED


#include <memory>


namespace CrossChat {


class TimerHandle
	/// Move-only owner of a scheduled timer. Destroying or reassigning the handle cancels
	/// the timer (RAII: an object that keeps its timers as members cannot be called back after
	/// it is destroyed); detach() lets a one-shot timer run on its own.
	///
	/// Thread rules: cancel() and active() are safe to call from any thread. A cancel() from
	/// the loop thread guarantees the callback will not start afterwards; from another thread
	/// a callback that is already running completes.
{
public:
	struct State;

	TimerHandle() = default;
		/// Creates an empty handle, not bound to any timer.

	explicit TimerHandle(std::shared_ptr<State> pState);
		/// Used by EventLoop.

	TimerHandle(TimerHandle&& other) noexcept = default;
	TimerHandle& operator=(TimerHandle&& other) noexcept;
		/// Cancels the timer held before, then takes over the other's.

	TimerHandle(const TimerHandle&) = delete;
	TimerHandle& operator=(const TimerHandle&) = delete;

	~TimerHandle();
		/// Cancels the timer unless detached.

	void cancel();
		/// Cancels the timer; does nothing if it has already fired (one-shot) or was cancelled.

	void detach();
		/// Releases the timer: it is no longer cancelled by this handle.

	bool active() const;
		/// True if the handle holds a timer that has neither fired (one-shot) nor been cancelled.

private:
	std::shared_ptr<State> _pState;
};


} // namespace CrossChat


#endif // CrossChat_Foundation_TimerHandle_INCLUDED
