//
// RelayStore.cpp
//
// Library: Relay
//


#include "RelayStore.h"
#include "Poco/Data/SQLite/SessionImpl.h"
#include "Poco/Data/Statement.h"
#include "Poco/Exception.h"
#include "Poco/Logger.h"
#include "Poco/Path.h"
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>


using namespace Poco::Data::Keywords;


namespace CrossChat {
namespace Relay {


namespace {


constexpr Poco::Int32 APPLICATION_ID = 0x4343726c;   ///< "CCrl": a CrossChat relay database.


std::int64_t wallMs()
{
	return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}


void checkPrivateFile(const std::string& path, bool required)
	/// Refuses a file that is a symbolic link, not a regular file, another user's, or open to
	/// group or others (it would hold the token hashes and the mailbox).
{
	struct stat st;
	if (::lstat(path.c_str(), &st) != 0)
	{
		if (errno == ENOENT && !required) return;
		throw Poco::FileAccessDeniedException("cannot stat " + path + ": " + std::strerror(errno));
	}
	if (S_ISLNK(st.st_mode)) throw Poco::FileAccessDeniedException(path + " is a symbolic link; refusing to use it");
	if (!S_ISREG(st.st_mode)) throw Poco::FileAccessDeniedException(path + " is not a regular file");
	if (st.st_uid != ::geteuid())
	{
		throw Poco::FileAccessDeniedException(path + " belongs to user ID " + std::to_string(st.st_uid) + ", not to this user (" +
			std::to_string(::geteuid()) + "); run crosschat-relay as its owner");
	}
	if ((st.st_mode & 077) != 0)
	{
		char mode[8];
		std::snprintf(mode, sizeof(mode), "%04o", static_cast<unsigned>(st.st_mode & 07777));
		throw Poco::FileAccessDeniedException(path + " has mode " + mode + " and others can access it; refusing to use it. Run: chmod 600 " + path);
	}
}


void createPrivateFile(const std::string& path)
{
	const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
	{
		if (errno == EEXIST) return;
		throw Poco::CreateFileException("cannot create " + path + ": " + std::strerror(errno));
	}
	const bool ok = ::fchmod(fd, 0600) == 0 && ::fsync(fd) == 0;
	const int error = errno;
	::close(fd);
	if (!ok) throw Poco::CreateFileException("cannot set up " + path + ": " + std::strerror(error));
	const std::string dir = Poco::Path(path).parent().toString();
	const int dirFd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirFd >= 0)
	{
		::fsync(dirFd);
		::close(dirFd);
	}
}


void configure(Poco::Data::Session& session)
{
	session.setConnectionTimeout(static_cast<std::size_t>(RelayStore::BUSY_TIMEOUT.count() / 1000));   // seconds: the busy wait
	std::string mode;
	session << "PRAGMA journal_mode = WAL", into(mode), now;
	if (mode != "wal") throw Poco::IOException("cannot switch the relay database to WAL mode (" + mode + ")");
	// FULL: the log is fsync()ed at every commit, so what the relay acknowledged survives a
	// crash of the machine too, not only kill -9 (group commit keeps that one fsync per burst).
	session << "PRAGMA synchronous = FULL", now;
	session << "PRAGMA foreign_keys = ON", now;
	// Removed envelopes, tokens and records are overwritten with zeros in the file.
	session << "PRAGMA secure_delete = ON", now;
	session << "PRAGMA cell_size_check = ON", now;
	session << "PRAGMA temp_store = MEMORY", now;
}


void version1(Poco::Data::Session& session)
{
	const char* const statements[] = {
		"CREATE TABLE schema_migrations ("
		"  version     INTEGER PRIMARY KEY,"
		"  description TEXT    NOT NULL,"
		"  applied_ms  INTEGER NOT NULL)",

		// Announced records (PeerRecord). Times are wall clock ms since the epoch (a steady
		// clock does not survive a restart). addresses: "host:port" entries separated by spaces.
		"CREATE TABLE records ("
		"  peer_id          BLOB    PRIMARY KEY CHECK (length(peer_id) = 32),"
		"  public_key       BLOB    NOT NULL CHECK (length(public_key) = 32),"
		"  name             TEXT    NOT NULL,"
		"  addresses        TEXT    NOT NULL,"
		"  chat_port        INTEGER NOT NULL,"
		"  directory        INTEGER NOT NULL,"
		"  observed         TEXT    NOT NULL,"
		"  publish_observed INTEGER NOT NULL,"
		"  source           TEXT    NOT NULL,"
		"  token            TEXT    NOT NULL,"
		"  last_seen_ms     INTEGER NOT NULL,"
		"  expires_ms       INTEGER NOT NULL) WITHOUT ROWID",
		"CREATE INDEX records_by_expiry ON records (expires_ms)",

		// Pre-key bundles (the X25519 keys a peer published for its mailbox, signed by it), kept
		// until the last of them expires, past the record.
		"CREATE TABLE prekeys ("
		"  peer_id    BLOB    PRIMARY KEY CHECK (length(peer_id) = 32),"
		"  public_key BLOB    NOT NULL CHECK (length(public_key) = 32),"
		"  bundle     TEXT    NOT NULL,"
		"  source     TEXT    NOT NULL,"
		"  expires_ms INTEGER NOT NULL) WITHOUT ROWID",
		"CREATE INDEX prekeys_by_expiry ON prekeys (expires_ms)",

		// Access tokens of a private relay: only their SHA-256 is kept.
		"CREATE TABLE tokens ("
		"  id                TEXT    PRIMARY KEY,"
		"  hash              BLOB    NOT NULL UNIQUE CHECK (length(hash) = 32),"
		"  name              TEXT    NOT NULL,"
		"  admin             INTEGER NOT NULL,"
		"  created_ms        INTEGER NOT NULL,"
		"  expires_ms        INTEGER NOT NULL,"      // 0: never
		"  revoked_ms        INTEGER NOT NULL,"      // 0: in force
		"  max_peers         INTEGER NOT NULL,"      // 0: no quota of its own
		"  max_tunnels       INTEGER NOT NULL,"
		"  max_mailbox_bytes INTEGER NOT NULL) WITHOUT ROWID",

		// Handles: a short name bound to a key by the key's signed claim.
		"CREATE TABLE handles ("
		"  handle          TEXT    PRIMARY KEY,"
		"  peer_id         BLOB    NOT NULL UNIQUE CHECK (length(peer_id) = 32),"
		"  public_key      BLOB    NOT NULL CHECK (length(public_key) = 32),"
		"  claim_ts        INTEGER NOT NULL,"
		"  claim_signature BLOB    NOT NULL CHECK (length(claim_signature) = 64),"
		"  claimed_ms      INTEGER NOT NULL,"
		"  renewed_ms      INTEGER NOT NULL,"
		"  source          TEXT    NOT NULL,"
		"  token           TEXT    NOT NULL) WITHOUT ROWID",

		// The mailbox: sealed envelopes the relay cannot open, by recipient.
		"CREATE TABLE mail ("
		"  id           BLOB    PRIMARY KEY CHECK (length(id) = 16),"
		"  recipient    BLOB    NOT NULL CHECK (length(recipient) = 32),"
		"  deposited_ms INTEGER NOT NULL,"
		"  expires_ms   INTEGER NOT NULL,"
		"  source       TEXT    NOT NULL,"
		"  token        TEXT    NOT NULL,"
		"  envelope     BLOB    NOT NULL) WITHOUT ROWID",
		"CREATE INDEX mail_by_recipient ON mail (recipient, deposited_ms)",
		"CREATE INDEX mail_by_expiry ON mail (expires_ms)",
	};
	for (const char* statement: statements) session << statement, now;
}


int currentVersion(Poco::Data::Session& session, const std::string& path)
{
	Poco::Int32 applicationId = 0;
	session << "PRAGMA application_id", into(applicationId), now;
	Poco::Int64 objects = 0;
	session << "SELECT count(*) FROM sqlite_master", into(objects), now;
	if (objects == 0 && applicationId == 0) return 0;
	if (applicationId != APPLICATION_ID)
		throw Poco::DataFormatException(path + " is not a CrossChat relay database (application_id " + std::to_string(applicationId) + ")");
	Poco::Int64 current = 0;
	session << "SELECT coalesce(max(version), 0) FROM schema_migrations", into(current), now;
	return static_cast<int>(current);
}


void migrate(Poco::Data::Session& session, const std::string& path)
{
	const int current = currentVersion(session, path);
	if (current > RelayStore::SCHEMA_VERSION)
	{
		throw Poco::DataFormatException("the relay database " + path + " was written by a newer crosschat-relay (schema version " +
			std::to_string(current) + ", this one knows " + std::to_string(RelayStore::SCHEMA_VERSION) + ")");
	}
	if (current >= 1) return;
	session << "BEGIN IMMEDIATE", now;
	try
	{
		version1(session);
		session << "PRAGMA application_id = " + std::to_string(APPLICATION_ID), now;
		Poco::Int64 applied = wallMs();
		session << "INSERT INTO schema_migrations (version, description, applied_ms) VALUES (1, "
			"'records, pre-keys, tokens, handles, mailbox', ?)", use(applied), now;
		session << "PRAGMA user_version = 1", now;
		session << "COMMIT", now;
	}
	catch (...)
	{
		try
		{
			session << "ROLLBACK", now;
		}
		catch (...)
		{
		}
		throw;
	}
}


std::unique_ptr<Poco::Data::Session> openSession(const std::string& path)
{
	auto pSession = std::make_unique<Poco::Data::Session>(new Poco::Data::SQLite::SessionImpl(path,
		static_cast<std::size_t>(RelayStore::BUSY_TIMEOUT.count() / 1000)));
	configure(*pSession);
	return pSession;
}


} // namespace


RelayStore::RelayStore(const std::string& path, Mode mode):
	_path(Poco::Path(path).absolute().toString()),
	_mode(mode)
{
	checkPrivateFile(_path, false);
	createPrivateFile(_path);
	checkPrivateFile(_path, true);
	for (const char* suffix: {"-wal", "-shm", "-journal"}) checkPrivateFile(_path + suffix, false);
	_pWriter = openSession(_path);
	migrate(*_pWriter, _path);
	_pReader = openSession(_path);
	*_pWriter << "PRAGMA data_version", into(_dataVersion), now;
	if (_mode == Mode::SERVER) _thread = std::thread([this] { run(); });
}


RelayStore::~RelayStore()
{
	{
		std::lock_guard<std::mutex> lock(_mutex);
		_stopping = true;
	}
	_wake.notify_all();
	if (_thread.joinable()) _thread.join();
}


void RelayStore::submit(Write write, Done done)
{
	if (_mode == Mode::DIRECT)
	{
		std::vector<Pending> group;
		group.push_back(Pending{std::move(write), std::move(done)});
		std::lock_guard<std::mutex> lock(_mutex);   // one writer at a time, also in tools
		commitGroup(group);
		return;
	}
	{
		std::lock_guard<std::mutex> lock(_mutex);
		if (_queue.size() < MAX_QUEUED && !_stopping)
		{
			_queue.push_back(Pending{std::move(write), std::move(done)});
			++_submitted;
			_wake.notify_one();
			return;
		}
		++_stats.failures;
	}
	if (done) done(false);
}


void RelayStore::flush()
{
	if (_mode == Mode::DIRECT) return;
	std::unique_lock<std::mutex> lock(_mutex);
	const std::uint64_t target = _submitted;
	_idle.wait(lock, [this, target] { return _finished >= target || !_thread.joinable(); });
}


void RelayStore::read(const Read& read)
{
	std::lock_guard<std::mutex> lock(_readMutex);
	read(*_pReader);
}


void RelayStore::setChangeHandler(std::function<void()> handler)
{
	std::lock_guard<std::mutex> lock(_mutex);
	_changeHandler = std::move(handler);
}


const std::string& RelayStore::path() const
{
	return _path;
}


RelayStore::Stats RelayStore::stats() const
{
	std::lock_guard<std::mutex> lock(_mutex);
	return _stats;
}


std::string RelayStore::defaultPath(const std::string& dataDir)
{
	return Poco::Path(dataDir).makeDirectory().setFileName(FILE_NAME).toString();
}


void RelayStore::run()
{
	auto nextCheck = std::chrono::steady_clock::now() + CHANGE_POLL;
	std::unique_lock<std::mutex> lock(_mutex);
	for (;;)
	{
		_wake.wait_until(lock, nextCheck, [this] { return !_queue.empty() || _stopping; });
		if (!_queue.empty())
		{
			std::vector<Pending> group;
			if (_queue.size() <= MAX_GROUP)
			{
				group.swap(_queue);
			}
			else
			{
				group.assign(std::make_move_iterator(_queue.begin()), std::make_move_iterator(_queue.begin() + MAX_GROUP));
				_queue.erase(_queue.begin(), _queue.begin() + MAX_GROUP);
			}
			lock.unlock();
			commitGroup(group);
			lock.lock();
			_finished += group.size();
			_idle.notify_all();
			continue;
		}
		if (_stopping) break;
		if (std::chrono::steady_clock::now() >= nextCheck)
		{
			lock.unlock();
			checkChanges();
			lock.lock();
			nextCheck = std::chrono::steady_clock::now() + CHANGE_POLL;
		}
	}
}


void RelayStore::commitGroup(std::vector<Pending>& group)
	/// One transaction for the whole group; a write that throws is rolled back alone (a
	/// savepoint each) and told so; the others are told once the commit is durable.
{
	const auto started = std::chrono::steady_clock::now();
	std::vector<bool> ok(group.size(), false);
	bool committed = false;
	std::uint64_t failed = 0;
	try
	{
		Poco::Data::Session& session = *_pWriter;
		session << "BEGIN IMMEDIATE", now;
		try
		{
			for (std::size_t i = 0; i < group.size(); ++i)
			{
				session << "SAVEPOINT w", now;
				try
				{
					group[i].write(session);
					session << "RELEASE w", now;
					ok[i] = true;
				}
				catch (const std::exception& exc)
				{
					session << "ROLLBACK TO w", now;
					session << "RELEASE w", now;
					++failed;
					Poco::Logger::get("CrossChat.Relay").error("relay database write failed: %s", std::string(exc.what()));
				}
			}
			session << "COMMIT", now;
			committed = true;
		}
		catch (...)
		{
			try
			{
				session << "ROLLBACK", now;
			}
			catch (...)
			{
			}
			throw;
		}
	}
	catch (const std::exception& exc)
	{
		Poco::Logger::get("CrossChat.Relay").error("relay database commit failed (%s): %s", _path, std::string(exc.what()));
	}
	const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - started).count();
	{
		std::unique_lock<std::mutex> lock(_mutex, std::defer_lock);
		if (_mode == Mode::SERVER) lock.lock();   // DIRECT: the caller holds it
		if (committed)
		{
			++_stats.commits;
			_stats.writes += group.size() - failed;
			_stats.failures += failed;
		}
		else
		{
			_stats.failures += group.size();
		}
		_stats.largestGroup = std::max<std::uint64_t>(_stats.largestGroup, group.size());
		_stats.lastCommitMicros = static_cast<std::uint64_t>(micros);
	}
	for (std::size_t i = 0; i < group.size(); ++i)
	{
		if (!group[i].done) continue;
		try
		{
			group[i].done(committed && ok[i]);
		}
		catch (const std::exception& exc)
		{
			Poco::Logger::get("CrossChat.Relay").error("after a relay database commit: %s", std::string(exc.what()));
		}
	}
}


void RelayStore::checkChanges()
{
	Poco::Int64 version = 0;
	try
	{
		*_pWriter << "PRAGMA data_version", into(version), now;
	}
	catch (const std::exception& exc)
	{
		Poco::Logger::get("CrossChat.Relay").error("relay database check failed: %s", std::string(exc.what()));
		return;
	}
	if (version == _dataVersion) return;
	_dataVersion = version;
	std::function<void()> handler;
	{
		std::lock_guard<std::mutex> lock(_mutex);
		handler = _changeHandler;
	}
	if (handler) handler();
}


} } // namespace CrossChat::Relay
