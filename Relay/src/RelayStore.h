//
// RelayStore.h
//
// Library: Relay
// Internal header: the relay's durable state in one SQLite database, written by one thread
// that commits the writes queued meanwhile as one transaction (group commit).
// This is an internal header file, you should not include this.
//


#ifndef CrossChat_Relay_RelayStore_INCLUDED
#define CrossChat_Relay_RelayStore_INCLUDED


#include "Poco/Data/Session.h"
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>


namespace CrossChat {
namespace Relay {


class RelayStore
	/// One SQLite database (through Poco::Data::SQLite), normally FILE_NAME in relay.dataDir:
	/// announced records, pre-key bundles, access tokens, handles and the mailbox (the tables
	/// are in RelayStore.cpp; the classes that own each kind of state write their rows).
	///
	/// Durability: WAL with synchronous = FULL, so a committed transaction is on the disk (the
	/// log is fsync()ed) when its Done handlers run. A write is a function run on the writer
	/// thread inside a transaction; every write queued while the previous commit ran goes into
	/// the next one (group commit: one fsync for a burst of announces). A caller that must not
	/// acknowledge anything before it is durable (an announce, a mailbox deposit) answers from
	/// its Done handler.
	///
	/// Other connections: the token commands of crosschat-relay (a second process) write to
	/// the same file while the relay runs (WAL lets readers and one writer share it; every
	/// connection waits up to BUSY_TIMEOUT for a lock). The writer thread checks PRAGMA
	/// data_version every CHANGE_POLL and calls the change handler when another connection
	/// committed.
	///
	/// Files: the database is created with mode 0600 (O_EXCL, O_NOFOLLOW); an existing one that
	/// is a symbolic link, not a regular file, another user's, or open to group or others is
	/// refused (Poco::Exception naming the chmod to run).
	///
	/// Thread rules: submit(), flush() and read() are safe to call from any thread; Done
	/// handlers and the change handler run on the writer thread and must only hand work over
	/// (post() to a loop) or touch thread-safe state. Without a writer thread (Mode::DIRECT,
	/// for the command-line tools), submit() runs the write at once on the caller's thread.
	/// Ownership: owns its connections and its thread; the destructor commits what is queued
	/// and joins the thread.
{
public:
	enum class Mode
	{
		SERVER,   ///< A writer thread commits groups of writes.
		DIRECT    ///< Every write is its own transaction on the caller's thread (tools, tests).
	};

	using Done = std::function<void(bool ok)>;
	using Write = std::function<void(Poco::Data::Session& session)>;
	using Read = std::function<void(Poco::Data::Session& session)>;

	struct Stats
	{
		std::uint64_t commits = 0;        ///< Transactions committed (each one an fsync of the log).
		std::uint64_t writes = 0;         ///< Writes committed.
		std::uint64_t failures = 0;       ///< Writes or commits that failed (their Done got false).
		std::uint64_t largestGroup = 0;   ///< Most writes in one commit.
		std::uint64_t lastCommitMicros = 0;
	};

	static constexpr const char* FILE_NAME = "relay.db";
	static constexpr int SCHEMA_VERSION = 1;
	static constexpr std::chrono::milliseconds CHANGE_POLL{1000};
	static constexpr std::chrono::milliseconds BUSY_TIMEOUT{5000};
	static constexpr std::size_t MAX_GROUP = 4096;     ///< Writes in one transaction at most.
	static constexpr std::size_t MAX_QUEUED = 65536;   ///< Beyond this, submit() fails the write at once.

	RelayStore(const std::string& path, Mode mode);
		/// Opens (creating it if needed) and migrates the database. Throws Poco::Exception
		/// (Poco::Data's, or Poco::FileAccessDeniedException for an unsafe file,
		/// Poco::DataFormatException for another program's or a newer relay's database) naming
		/// the file.
	~RelayStore();

	RelayStore(const RelayStore&) = delete;
	RelayStore& operator=(const RelayStore&) = delete;

	void submit(Write write, Done done = nullptr);
		/// Queues write for the next commit; done(true) once it is durable, done(false) if the
		/// write threw, its commit failed, or the queue is full (MAX_QUEUED).

	void flush();
		/// Returns once everything submitted before has been committed (or has failed).

	void read(const Read& read);
		/// Runs read with the reader connection, on the caller's thread, one caller at a time.

	void setChangeHandler(std::function<void()> handler);
		/// Called (on the writer thread) when another connection has committed since the last
		/// check. Set before writes are submitted.

	const std::string& path() const;
	Stats stats() const;

	static std::string defaultPath(const std::string& dataDir);
		/// dataDir + "/" + FILE_NAME.

private:
	struct Pending
	{
		Write write;
		Done done;
	};

	void run();
	void commitGroup(std::vector<Pending>& group);
	void checkChanges();

	const std::string _path;
	const Mode _mode;
	std::unique_ptr<Poco::Data::Session> _pWriter;
	std::mutex _readMutex;
	std::unique_ptr<Poco::Data::Session> _pReader;
	mutable std::mutex _mutex;
	std::condition_variable _wake;
	std::condition_variable _idle;
	std::vector<Pending> _queue;
	std::uint64_t _submitted = 0;     ///< Writes queued so far.
	std::uint64_t _finished = 0;      ///< Writes whose Done has run.
	bool _stopping = false;
	Stats _stats;
	std::function<void()> _changeHandler;
	std::int64_t _dataVersion = 0;
	std::thread _thread;
};


} } // namespace CrossChat::Relay


#endif // CrossChat_Relay_RelayStore_INCLUDED
