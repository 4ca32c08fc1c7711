//
// FileWorker.cpp
//
// Library: Chat
//


#include "FileWorker.h"
#include "Poco/Exception.h"
#include "Poco/Logger.h"
#include <exception>
#include <pthread.h>


namespace CrossChat {
namespace Chat {


FileWorker::FileWorker(std::string name, bool threaded):
	_name(std::move(name))
{
	if (threaded) _thread = std::thread([this] { run(); });
}


FileWorker::~FileWorker()
{
	{
		std::lock_guard<std::mutex> lock(_mutex);
		_stopping = true;
		_jobs.clear();
	}
	_wake.notify_all();
	if (_thread.joinable()) _thread.join();
}


void FileWorker::submit(Job job)
{
	if (!_thread.joinable())
	{
		++_running;
		try
		{
			job(_stopping);
		}
		catch (...)
		{
			--_running;
			throw;
		}
		--_running;
		return;
	}
	{
		std::lock_guard<std::mutex> lock(_mutex);
		if (_stopping) return;
		_jobs.push_back(std::move(job));
	}
	_wake.notify_one();
}


std::size_t FileWorker::queued() const
{
	std::lock_guard<std::mutex> lock(_mutex);
	return _jobs.size() + _running;
}


bool FileWorker::drain(std::chrono::milliseconds timeout)
{
	std::unique_lock<std::mutex> lock(_mutex);
	return _idle.wait_for(lock, timeout, [this] { return _jobs.empty() && _running == 0; });
}


void FileWorker::run()
{
	// At most 15 characters for the kernel.
	pthread_setname_np(pthread_self(), _name.substr(0, 15).c_str());
	for (;;)
	{
		Job job;
		{
			std::unique_lock<std::mutex> lock(_mutex);
			_wake.wait(lock, [this] { return _stopping || !_jobs.empty(); });
			if (_stopping) return;
			job = std::move(_jobs.front());
			_jobs.pop_front();
			++_running;
		}
		try
		{
			job(_stopping);
		}
		catch (const Poco::Exception& exc)
		{
			// Jobs report their own failures; this is the last resort, as the event loop's.
			Poco::Logger::get("CrossChat.Chat").error("file job failed: %s", exc.displayText());
		}
		catch (const std::exception& exc)
		{
			Poco::Logger::get("CrossChat.Chat").error("file job failed: %s", std::string(exc.what()));
		}
		std::lock_guard<std::mutex> lock(_mutex);
		--_running;
		if (_jobs.empty() && _running == 0) _idle.notify_all();
	}
}


} } // namespace CrossChat::Chat
