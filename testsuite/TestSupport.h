//
// TestSupport.h
//
// testsuite: helpers shared by the runners: waiting (tests wait for events, never for time;
// the limits below only turn a hang into a failure and are never what a test asserts) and a
// private temporary directory.
//


#ifndef CrossChat_Test_TestSupport_INCLUDED
#define CrossChat_Test_TestSupport_INCLUDED


#include "CrossChat/EventLoop.h"
#include "CrossChat/TimerHandle.h"
#include "Poco/Exception.h"
#include "Poco/File.h"
#include "Poco/Path.h"
#include "Poco/TemporaryFile.h"
#include <chrono>
#include <functional>
#include <string>
#include <sys/stat.h>


namespace CrossChat {
namespace Test {


class HangGuard
	/// Stops a loop that has not finished after a generous time and records that it had to.
	/// Must be used on the loop's thread.
{
public:
	explicit HangGuard(EventLoop& loop, std::chrono::seconds limit = std::chrono::seconds(20)):
		_timer(loop.runAfter(limit, [this, &loop] { _fired = true; loop.stop(); }))
	{
	}

	bool fired() const
	{
		return _fired;
	}

private:
	bool _fired = false;
	TimerHandle _timer;
};


inline bool runUntil(EventLoop& loop, const std::function<bool()>& done,
	std::chrono::seconds limit = std::chrono::seconds(30))
	/// Runs the loop until done() holds (checked every 2 ms); false if the limit passed first.
	/// Must be called on the loop's thread.
{
	bool timedOut = false;
	TimerHandle check = loop.runEvery(std::chrono::milliseconds(2), [&] { if (done()) loop.stop(); });
	TimerHandle guard = loop.runAfter(limit, [&] { timedOut = true; loop.stop(); });
	if (!done()) loop.run();
	return !timedOut && done();
}


class TempDirectory
	/// A new private (0700: the stores insist) temporary directory, removed with all it holds
	/// when this object goes.
{
public:
	TempDirectory():
		_path(Poco::TemporaryFile::tempName())
	{
		Poco::File(_path).createDirectories();
		if (::chmod(_path.c_str(), 0700) != 0) throw Poco::FileException("cannot make private", _path);
	}

	~TempDirectory()
	{
		try
		{
			Poco::File(_path).remove(true);
		}
		catch (...)
		{
		}
	}

	TempDirectory(const TempDirectory&) = delete;
	TempDirectory& operator=(const TempDirectory&) = delete;

	const std::string& directory() const
	{
		return _path;
	}

	std::string path(const std::string& name) const
		/// name inside the directory.
	{
		return Poco::Path(Poco::Path(_path).makeDirectory(), name).toString();
	}

private:
	std::string _path;
};


} } // namespace CrossChat::Test


#endif // CrossChat_Test_TestSupport_INCLUDED
