//
// EventLoopThread.cpp
//
// Library: Foundation
//


#include "CrossChat/EventLoopThread.h"


namespace CrossChat {


EventLoopThread::EventLoopThread(const std::string& name)
{
	_thread.setName(name);
	_thread.startFunc([this] { threadMain(); });
	std::unique_lock<std::mutex> lock(_mutex);
	_ready.wait(lock, [this] { return _pLoop != nullptr; });
	_started = true;
}


EventLoopThread::~EventLoopThread()
{
	stop();
}


EventLoop& EventLoopThread::loop()
{
	return *_pLoop;
}


void EventLoopThread::stop()
{
	if (!_started) return;
	_started = false;
	{
		// The loop thread checks _stopRequested under the same mutex before it destroys the
		// loop, so the loop is alive for as long as this stop() call uses it.
		std::lock_guard<std::mutex> lock(_mutex);
		_stopRequested = true;
		_pLoop->stop();
	}
	_thread.join();
}


void EventLoopThread::threadMain()
{
	EventLoop loop;
	{
		std::lock_guard<std::mutex> lock(_mutex);
		_pLoop = &loop;
	}
	_ready.notify_one();
	for (;;)
	{
		loop.run();
		// Only our stop() ends the thread: a loop().stop() from elsewhere must not destroy the
		// loop while the owner may still use it.
		std::lock_guard<std::mutex> lock(_mutex);
		if (_stopRequested) break;
	}
}


} // namespace CrossChat
