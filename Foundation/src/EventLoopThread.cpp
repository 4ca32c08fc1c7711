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
	_pLoop->stop();
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
	loop.run();
}


} // namespace CrossChat
