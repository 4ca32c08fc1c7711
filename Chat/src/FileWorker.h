//
// FileWorker.h
//
// Library: Chat
// Private: a thread for the file work of transfers (hashing, writing blocks, syncing, the final
// check), so that the loop never waits on a disk or a long hash.
// This is an internal header file, it is not installed; do not include it from outside Chat/src.
//


#ifndef CrossChat_Chat_FileWorker_INCLUDED
#define CrossChat_Chat_FileWorker_INCLUDED


#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>


namespace CrossChat {
namespace Chat {


class FileWorker
	/// Runs jobs one after the other, in the order submitted, on a thread of its own. A job
	/// hands its result back with Scheduler::post() (EventLoop::post() is safe from any thread),
	/// guarded by a weak_ptr to the object that asked; it checks the stopping flag it is given
	/// between pieces of long work (a hash of a big file) and gives up when it is set.
	///
	/// Without a thread (threaded = false, for unit tests on a ManualScheduler, which is not
	/// thread-safe), submit() runs the job at once on the caller's thread; its posted result then
	/// runs later from the scheduler, as it would from the thread.
	///
	/// Thread rules: submit(), queued() and the destructor from the owner's thread (the loop).
	/// Ownership: owns its jobs; the destructor sets the stopping flag, drops the jobs not yet
	/// started, and joins the thread after the running job returns.
{
public:
	using Job = std::function<void(const std::atomic<bool>& stopping)>;

	explicit FileWorker(std::string name, bool threaded = true);
	~FileWorker();

	FileWorker(const FileWorker&) = delete;
	FileWorker& operator=(const FileWorker&) = delete;

	void submit(Job job);
		/// Queues the job (or, without a thread, runs it now).

	std::size_t queued() const;
		/// Jobs submitted and not finished (the running one included).

	bool drain(std::chrono::milliseconds timeout);
		/// Waits until every job submitted has finished, at most timeout; true if they have.
		/// What the jobs wrote is then visible to the caller (the mutex orders it).

private:
	void run();

	const std::string _name;
	mutable std::mutex _mutex;
	std::condition_variable _wake;
	std::condition_variable _idle;
	std::deque<Job> _jobs;
	std::size_t _running = 0;
	std::atomic<bool> _stopping{false};
	std::thread _thread;
};


} } // namespace CrossChat::Chat


#endif // CrossChat_Chat_FileWorker_INCLUDED
