//
// ChatStoreTest.cpp
//
// testsuite: tests for ChatStore (the SQLite chat database) and its schema migrations. Each
// test works in its own temporary directory; the store runs on a ManualScheduler (it only
// needs a loop thread to assert). The crash test runs ChatStore-crashwriter (built next to
// this runner) as a child process and kills it with SIGKILL in the middle of its writes.
//


#include "ChatStoreTest.h"
#include "ChatStoreSchema.h"
#include "CrossChat/Chat/ChatException.h"
#include "CrossChat/Chat/ChatNode.h"      // with ChatStore.h in one file: one Relation for both
#include "CrossChat/Chat/ChatStore.h"
#include "CrossChat/Chat/SessionProtocol.h"
#include "CrossChat/ManualScheduler.h"
#include "CrossChat/PeerId.h"
#include "Poco/Data/SQLite/SessionImpl.h"
#include "Poco/Data/SQLite/Utility.h"
#include "Poco/Data/Session.h"
#include "Poco/Exception.h"
#include "Poco/File.h"
#include "Poco/Path.h"
#include <algorithm>
#include <cerrno>
#include <climits>
#include <csignal>
#include <cstdint>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <iostream>
#include <poll.h>
#include <random>
#include <sqlite3.h>
#include <set>
#include <spawn.h>
#include <sstream>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>


using namespace CrossChat;
using namespace CrossChat::Chat;
using namespace Poco::Data::Keywords;


extern char** environ;


namespace {


PeerId peer(int n)
{
	std::string bytes(PeerId::SIZE, '\0');
	for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>(n * 31 + static_cast<int>(i));
	return PeerId::fromBytes(bytes);
}


mode_t modeOf(const std::string& path)
{
	struct stat st;
	CPPUNIT_ASSERT_EQUAL(0, ::lstat(path.c_str(), &st));
	return st.st_mode & 07777;
}


bool exists(const std::string& path)
{
	struct stat st;
	return ::lstat(path.c_str(), &st) == 0;
}


void writeFile(const std::string& path, const std::string& contents, mode_t mode)
{
	std::ofstream(path, std::ios::binary | std::ios::trunc) << contents;
	CPPUNIT_ASSERT_EQUAL(0, ::chmod(path.c_str(), mode));
}


Poco::Data::Session rawSession(const std::string& path)
	/// A plain connection, as another program (or a newer CrossChat) would open the file.
{
	return Poco::Data::Session(new Poco::Data::SQLite::SessionImpl(path));
}


template <typename Exception, typename Function>
std::string messageOf(Function function)
	/// The message of the Exception that function throws; fails if it throws none.
{
	try
	{
		function();
	}
	catch (const Exception& exc)
	{
		return exc.message();
	}
	CPPUNIT_FAIL("no exception thrown");
	return std::string();
}


bool contains(const std::string& text, const std::string& part)
{
	return text.find(part) != std::string::npos;
}


std::vector<std::string> idsOf(const std::vector<StoredMessage>& messages)
{
	std::vector<std::string> ids;
	for (const StoredMessage& message: messages) ids.push_back(message.id);
	return ids;
}


std::string joined(const std::vector<std::string>& parts)
{
	std::string text;
	for (const std::string& part: parts) text += (text.empty() ? "" : ",") + part;
	return text;
}


std::string writerProgram()
	/// ChatStore-crashwriter, built in the same directory as this runner.
{
	char self[PATH_MAX];
	const ssize_t n = ::readlink("/proc/self/exe", self, sizeof(self) - 1);
	CPPUNIT_ASSERT(n > 0);
	self[n] = '\0';
	return Poco::Path(self).parent().toString() + "ChatStore-crashwriter";
}


struct Acknowledged
	/// What the crash writer reported as done.
{
	std::set<long> queued;
	std::set<long> sent;
	std::set<long> delivered;
	std::set<long> received;

	std::size_t total() const
	{
		return queued.size() + sent.size() + delivered.size() + received.size();
	}
};


class LineReader
	/// Reads the writer's report lines from a pipe, waiting for data with poll() (the limit
	/// turns a hung child into a failure; it is never what the test measures).
{
public:
	explicit LineReader(int fd): _fd(fd)
	{
	}

	bool next(std::string& line)
		/// The next line; false at the end of the stream.
	{
		for (;;)
		{
			const std::size_t end = _buffer.find('\n');
			if (end != std::string::npos)
			{
				line = _buffer.substr(0, end);
				_buffer.erase(0, end + 1);
				return true;
			}
			struct pollfd pfd{_fd, POLLIN, 0};
			const int ready = ::poll(&pfd, 1, 120000);
			if (ready < 0 && errno == EINTR) continue;
			CPPUNIT_ASSERT_MESSAGE("the crash writer stopped reporting", ready > 0);
			char chunk[4096];
			const ssize_t n = ::read(_fd, chunk, sizeof(chunk));
			if (n < 0 && errno == EINTR) continue;
			CPPUNIT_ASSERT(n >= 0);
			if (n == 0)
			{
				CPPUNIT_ASSERT_MESSAGE("half a report line", _buffer.empty());
				return false;
			}
			_buffer.append(chunk, static_cast<std::size_t>(n));
		}
	}

private:
	int _fd;
	std::string _buffer;
};


void record(Acknowledged& acks, const std::string& line)
{
	std::istringstream in(line);
	char kind = 0;
	long number = -1;
	in >> kind >> number;
	CPPUNIT_ASSERT_MESSAGE("bad report line: " + line, in && number >= 0);
	switch (kind)
	{
	case 'q': acks.queued.insert(number); break;
	case 's': acks.sent.insert(number); break;
	case 'd': acks.delivered.insert(number); break;
	case 'r': acks.received.insert(number); break;
	default: CPPUNIT_FAIL("bad report line: " + line);
	}
}


} // namespace


ChatStoreTest::ChatStoreTest() = default;


ChatStoreTest::~ChatStoreTest() = default;


void ChatStoreTest::setUp()
{
	_pTempDir = std::make_unique<CrossChat::Test::TempDirectory>();
	_pLoop = std::make_unique<ManualScheduler>();
}


void ChatStoreTest::tearDown()
{
	_pLoop.reset();
	_pTempDir.reset();
}


std::string ChatStoreTest::path(const std::string& name) const
{
	return _pTempDir->path(name);
}


void ChatStoreTest::testNames()
{
	for (MessageState state: {MessageState::QUEUED, MessageState::SENT, MessageState::DELIVERED,
		MessageState::REFUSED, MessageState::RECEIVED})
	{
		CPPUNIT_ASSERT(parseMessageState(messageStateName(state)) == state);
	}
	CPPUNIT_ASSERT_EQUAL(std::string("queued"), std::string(messageStateName(MessageState::QUEUED)));
	CPPUNIT_ASSERT_EQUAL(std::string("sent"), std::string(messageStateName(MessageState::SENT)));
	CPPUNIT_ASSERT_EQUAL(std::string("delivered"), std::string(messageStateName(MessageState::DELIVERED)));
	CPPUNIT_ASSERT_EQUAL(std::string("refused"), std::string(messageStateName(MessageState::REFUSED)));
	CPPUNIT_ASSERT_EQUAL(std::string("received"), std::string(messageStateName(MessageState::RECEIVED)));
	for (MessageDirection direction: {MessageDirection::OUTGOING, MessageDirection::INCOMING})
		CPPUNIT_ASSERT(parseMessageDirection(messageDirectionName(direction)) == direction);
	for (Relation relation: {Relation::STRANGER, Relation::CONTACT, Relation::BLOCKED})
		CPPUNIT_ASSERT(parseRelation(relationName(relation)) == relation);
	CPPUNIT_ASSERT(!parseMessageState("Queued"));
	CPPUNIT_ASSERT(!parseMessageState(""));
	CPPUNIT_ASSERT(!parseMessageDirection("out"));
	CPPUNIT_ASSERT(!parseRelation("friend"));
}


void ChatStoreTest::testOpenCreatesPrivateFiles()
{
	const mode_t oldMask = ::umask(022);   // the usual umask: SQLite alone would make the file 0644
	const std::string db = path(ChatStore::FILE_NAME);
	ChatStore store(*_pLoop);
	CPPUNIT_ASSERT(!store.isOpen());
	CPPUNIT_ASSERT(store.path().empty());
	store.open(db);
	CPPUNIT_ASSERT(store.isOpen());
	CPPUNIT_ASSERT_EQUAL(db, store.path());
	CPPUNIT_ASSERT_EQUAL(ChatStore::SCHEMA_VERSION, store.schemaVersion());
	CPPUNIT_ASSERT_EQUAL(mode_t(0600), modeOf(db));

	store.queueOutgoing(peer(1), "m1", "hello", 1000);
	// The write-ahead log exists while the store is open, with the database's mode; the
	// exclusive locking mode keeps the WAL index in memory, so there is no -shm file.
	CPPUNIT_ASSERT(exists(db + "-wal"));
	CPPUNIT_ASSERT_EQUAL(mode_t(0600), modeOf(db + "-wal"));
	CPPUNIT_ASSERT(!exists(db + "-shm"));
	CPPUNIT_ASSERT_EQUAL(std::string("ok"), store.check());
	store.close();
	store.close();
	CPPUNIT_ASSERT(!store.isOpen());
	CPPUNIT_ASSERT(!exists(db + "-wal"));   // checkpointed into the file at close

	auto session = rawSession(db);
	std::string journalMode;
	session << "PRAGMA journal_mode", into(journalMode), now;
	CPPUNIT_ASSERT_EQUAL(std::string("wal"), journalMode);
	Poco::Int32 applicationId = 0;
	session << "PRAGMA application_id", into(applicationId), now;
	CPPUNIT_ASSERT_EQUAL(ChatStoreSchema::APPLICATION_ID, applicationId);
	Poco::Int32 userVersion = 0;
	session << "PRAGMA user_version", into(userVersion), now;
	CPPUNIT_ASSERT_EQUAL(ChatStore::SCHEMA_VERSION, static_cast<int>(userVersion));
	session.close();

	// Relative paths are made absolute (so that SQLite never reads them as URIs).
	const std::string cwd = Poco::Path::current();
	CPPUNIT_ASSERT_EQUAL(0, ::chdir(_pTempDir->directory().c_str()));
	ChatStore relative(*_pLoop);
	relative.open("relative.db");
	CPPUNIT_ASSERT_EQUAL(0, ::chdir(cwd.c_str()));
	CPPUNIT_ASSERT_EQUAL(path("relative.db"), relative.path());
	CPPUNIT_ASSERT_EQUAL(mode_t(0600), modeOf(path("relative.db")));

	// A missing directory is an error that names the file, not a crash.
	ChatStore missing(*_pLoop);
	const std::string message = messageOf<StoreException>([&] { missing.open(path("no/such/dir/x.db")); });
	CPPUNIT_ASSERT(contains(message, "no/such/dir/x.db"));
	::umask(oldMask);
}


void ChatStoreTest::testUnsafeFilesRefused()
{
	const std::string db = path("unsafe.db");
	{
		ChatStore store(*_pLoop);
		store.open(db);
		store.queueOutgoing(peer(1), "m1", "secret", 1);
	}
	for (mode_t mode: {0644, 0640, 0604, 0660, 0606, 0666, 0610, 0601})
	{
		CPPUNIT_ASSERT_EQUAL(0, ::chmod(db.c_str(), mode));
		ChatStore store(*_pLoop);
		const std::string message = messageOf<StoreUnsafeException>([&] { store.open(db); });
		CPPUNIT_ASSERT_MESSAGE(message, contains(message, "chmod 600 " + db));
		CPPUNIT_ASSERT(!store.isOpen());
		// Refused, not repaired: the user must learn that the file was exposed.
		CPPUNIT_ASSERT_EQUAL(mode, modeOf(db));
	}
	CPPUNIT_ASSERT_EQUAL(0, ::chmod(db.c_str(), 0600));

	// A companion file left open to others is refused as well.
	writeFile(db + "-wal", "", 0644);
	{
		ChatStore store(*_pLoop);
		const std::string message = messageOf<StoreUnsafeException>([&] { store.open(db); });
		CPPUNIT_ASSERT(contains(message, db + "-wal"));
	}
	CPPUNIT_ASSERT_EQUAL(0, ::unlink((db + "-wal").c_str()));

	// Symbolic links: for the database (even to a private file) and for a companion.
	const std::string link = path("link.db");
	CPPUNIT_ASSERT_EQUAL(0, ::symlink(db.c_str(), link.c_str()));
	{
		ChatStore store(*_pLoop);
		const std::string message = messageOf<StoreUnsafeException>([&] { store.open(link); });
		CPPUNIT_ASSERT(contains(message, "symbolic link"));
	}
	const std::string dangling = path("dangling.db");
	CPPUNIT_ASSERT_EQUAL(0, ::symlink(path("nowhere.db").c_str(), dangling.c_str()));
	{
		ChatStore store(*_pLoop);
		CPPUNIT_ASSERT_THROW(store.open(dangling), StoreUnsafeException);
		CPPUNIT_ASSERT(!exists(path("nowhere.db")));   // nothing created through the link
	}
	CPPUNIT_ASSERT_EQUAL(0, ::symlink(path("elsewhere").c_str(), (db + "-wal").c_str()));
	{
		ChatStore store(*_pLoop);
		CPPUNIT_ASSERT_THROW(store.open(db), StoreUnsafeException);
	}
	CPPUNIT_ASSERT_EQUAL(0, ::unlink((db + "-wal").c_str()));

	// Not a regular file.
	CPPUNIT_ASSERT_EQUAL(0, ::mkdir(path("dir.db").c_str(), 0700));
	{
		ChatStore store(*_pLoop);
		CPPUNIT_ASSERT_THROW(store.open(path("dir.db")), StoreUnsafeException);
	}

	// After all this, the original is intact.
	ChatStore store(*_pLoop);
	store.open(db);
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), store.pendingCount());
}


void ChatStoreTest::testOtherOwnerRefused()
{
	if (::geteuid() != 0)
	{
		std::cerr << "\n  ChatStoreTest::testOtherOwnerRefused: needs root to give a file away; skipped\n";
		return;
	}
	const std::string db = path("owned.db");
	{
		ChatStore store(*_pLoop);
		store.open(db);
	}
	CPPUNIT_ASSERT_EQUAL(0, ::chown(db.c_str(), 65534, 65534));
	ChatStore store(*_pLoop);
	const std::string message = messageOf<StoreUnsafeException>([&] { store.open(db); });
	CPPUNIT_ASSERT(contains(message, "65534"));
}


void ChatStoreTest::testCorruptFileRefused()
{
	// Not a database at all.
	std::string garbage = "this is not an SQLite database, just text that looks nothing like one\n";
	std::mt19937 random(7);
	for (int i = 0; i < 8192; ++i) garbage += static_cast<char>(random());
	writeFile(path("garbage.db"), garbage, 0600);
	{
		ChatStore store(*_pLoop);
		const std::string message = messageOf<StoreCorruptException>([&] { store.open(path("garbage.db")); });
		CPPUNIT_ASSERT(contains(message, path("garbage.db")));
		CPPUNIT_ASSERT(!store.isOpen());
	}

	// Another program's SQLite database.
	{
		auto session = rawSession(path("other.db"));
		session << "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)", now;
		session << "INSERT INTO notes (body) VALUES ('keep me')", now;
	}
	CPPUNIT_ASSERT_EQUAL(0, ::chmod(path("other.db").c_str(), 0600));
	{
		ChatStore store(*_pLoop);
		const std::string message = messageOf<StoreCorruptException>([&] { store.open(path("other.db")); });
		CPPUNIT_ASSERT(contains(message, "not a CrossChat database"));
	}
	{
		// ... which is left untouched.
		auto session = rawSession(path("other.db"));
		std::string body;
		session << "SELECT body FROM notes", into(body), now;
		CPPUNIT_ASSERT_EQUAL(std::string("keep me"), body);
		Poco::Int64 tables = 0;
		session << "SELECT count(*) FROM sqlite_master", into(tables), now;
		CPPUNIT_ASSERT_EQUAL(Poco::Int64(1), tables);
	}

	// One with another program's application_id.
	{
		auto session = rawSession(path("foreign.db"));
		session << "PRAGMA application_id = 1234", now;
		session << "CREATE TABLE schema_migrations (version INTEGER)", now;
	}
	CPPUNIT_ASSERT_EQUAL(0, ::chmod(path("foreign.db").c_str(), 0600));
	{
		ChatStore store(*_pLoop);
		CPPUNIT_ASSERT_THROW(store.open(path("foreign.db")), StoreCorruptException);
	}

	// An empty file is a new database.
	writeFile(path("empty.db"), "", 0600);
	ChatStore store(*_pLoop);
	store.open(path("empty.db"));
	CPPUNIT_ASSERT_EQUAL(ChatStore::SCHEMA_VERSION, store.schemaVersion());
}


void ChatStoreTest::testDamagedPagesReported()
{
	const std::string db = path("damaged.db");
	{
		ChatStore store(*_pLoop);
		store.open(db);
		for (int p = 0; p < 3; ++p) store.setRelation(peer(p), Relation::CONTACT);
		store.transaction([&] {
			for (int i = 0; i < 3000; ++i)
				store.storeIncoming(peer(i % 3), "r" + std::to_string(i), "message number " + std::to_string(i) +
					" with a few words to index", i, "direct");
		});
	}
	// A damaged header: the file is no database any more.
	{
		const std::string copy = path("header.db");
		Poco::File(db).copyTo(copy);
		std::fstream file(copy, std::ios::in | std::ios::out | std::ios::binary);
		file.seekp(0);
		file << "DAMAGED HEADER!!";
	}
	{
		ChatStore store(*_pLoop);
		CPPUNIT_ASSERT_THROW(store.open(path("header.db")), StoreCorruptException);
	}
	// Damaged b-tree pages in the middle: found by the check, or by the first read of them;
	// never a crash, never "ok".
	{
		std::fstream file(db, std::ios::in | std::ios::out | std::ios::binary);
		file.seekp(4 * 4096);
		file << std::string(8 * 4096, '\xA5');
	}
	bool detected = false;
	try
	{
		ChatStore store(*_pLoop);
		store.open(db);
		const std::string report = store.check();
		detected = report != "ok";
		if (!detected)
		{
			for (int p = 0; p < 3; ++p) store.history(peer(p), ChatStore::MAX_PAGE);
			store.search("message", 100);
		}
	}
	catch (const StoreCorruptException& exc)
	{
		detected = contains(exc.message(), db);
	}
	CPPUNIT_ASSERT(detected);
}


void ChatStoreTest::testNewerVersionRefused()
{
	const std::string db = path("newer.db");
	{
		ChatStore store(*_pLoop);
		store.open(db);
	}
	{
		auto session = rawSession(db);
		session << "INSERT INTO schema_migrations (version, description, applied_ms) VALUES (7, 'from the future', 0)", now;
	}
	ChatStore store(*_pLoop);
	const std::string message = messageOf<StoreVersionException>([&] { store.open(db); });
	CPPUNIT_ASSERT_MESSAGE(message, contains(message, "schema version 7"));
	CPPUNIT_ASSERT_MESSAGE(message, contains(message, "up to " + std::to_string(ChatStore::SCHEMA_VERSION)));
	CPPUNIT_ASSERT_MESSAGE(message, contains(message, db));
	CPPUNIT_ASSERT(!store.isOpen());
}


void ChatStoreTest::testMigrationToNextVersion()
{
	// A file of the current version, as this program writes it ...
	const int current = ChatStore::SCHEMA_VERSION;
	const int next = current + 1;
	const std::string db = path("v1.db");
	{
		ChatStore store(*_pLoop);
		store.open(db);
		CPPUNIT_ASSERT_EQUAL(current, store.schemaVersion());
		store.setAlias(peer(1), "alice");
		store.queueOutgoing(peer(1), "m1", "lunch at noon?", 10);
		store.storeIncoming(peer(1), "r1", "noon works", 11, "direct");
	}
	// ... opened by a program that knows one more version: one more step, one function.
	std::vector<ChatStoreSchema::Migration> steps = ChatStoreSchema::migrations();
	CPPUNIT_ASSERT_EQUAL(static_cast<std::size_t>(current), steps.size());
	steps.push_back({next, "reactions", [](Poco::Data::Session& session) {
		session << "ALTER TABLE messages ADD COLUMN reaction TEXT NOT NULL DEFAULT ''", now;
		session << "CREATE INDEX messages_by_reaction ON messages (reaction) WHERE reaction <> ''", now;
	}});
	{
		auto session = rawSession(db);
		ChatStoreSchema::configure(session, db);
		CPPUNIT_ASSERT_EQUAL(current, ChatStoreSchema::version(session, db));
		CPPUNIT_ASSERT_EQUAL(next, ChatStoreSchema::migrate(session, steps, db));
		CPPUNIT_ASSERT_EQUAL(next, ChatStoreSchema::version(session, db));
		CPPUNIT_ASSERT_EQUAL(next, ChatStoreSchema::migrate(session, steps, db));   // nothing left to do

		std::vector<Poco::Int32> versions;
		session << "SELECT version FROM schema_migrations ORDER BY version", into(versions), now;
		CPPUNIT_ASSERT_EQUAL(static_cast<std::size_t>(next), versions.size());
		CPPUNIT_ASSERT_EQUAL(Poco::Int32(next), versions.back());
		Poco::Int32 userVersion = 0;
		session << "PRAGMA user_version", into(userVersion), now;
		CPPUNIT_ASSERT_EQUAL(Poco::Int32(next), userVersion);

		// The old rows are there, with the new column's default, and still indexed.
		std::vector<std::string> reactions;
		session << "SELECT reaction FROM messages ORDER BY seq", into(reactions), now;
		CPPUNIT_ASSERT_EQUAL(std::size_t(2), reactions.size());
		CPPUNIT_ASSERT_EQUAL(std::string(), reactions[0]);
		Poco::Int64 found = 0;
		session << "SELECT count(*) FROM messages_fts WHERE messages_fts MATCH '\"noon\"'", into(found), now;
		CPPUNIT_ASSERT_EQUAL(Poco::Int64(2), found);
		session << "UPDATE messages SET reaction = 'thumbs up' WHERE msg_id = 'r1'", now;
	}
	// This program then refuses the file instead of misreading it.
	ChatStore store(*_pLoop);
	CPPUNIT_ASSERT_THROW(store.open(db), StoreVersionException);
}


void ChatStoreTest::testMigrationFromVersion1()
{
	// A database of the first schema (issue 8's), with a conversation in it ...
	const std::string db = path("v1.db");
	{
		auto session = rawSession(db);
		ChatStoreSchema::configure(session, db);
		const std::vector<ChatStoreSchema::Migration> first(ChatStoreSchema::migrations().begin(),
			ChatStoreSchema::migrations().begin() + 1);
		CPPUNIT_ASSERT_EQUAL(1, ChatStoreSchema::migrate(session, first, db));
		session << "INSERT INTO peers (peer_id, relation, added_ms) VALUES (zeroblob(32), 1, 1)", now;
		session << "INSERT INTO messages (peer, direction, msg_id, state, text, sender_ms, local_ms, state_ms)"
			" VALUES (1, 0, 'm1', 0, 'waiting since version 1', 1, 1, 1)", now;
	}
	// (the store insists on a private file; a raw session leaves the umask's mode)
	CPPUNIT_ASSERT_EQUAL(0, ::chmod(db.c_str(), 0600));
	// ... is brought to the newest version by open(), keeping what it held.
	ChatStore store(*_pLoop);
	store.open(db);
	CPPUNIT_ASSERT_EQUAL(ChatStore::SCHEMA_VERSION, store.schemaVersion());
	const auto pending = store.pending();
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), pending.size());
	CPPUNIT_ASSERT_EQUAL(std::string("waiting since version 1"), pending[0].text);
	CPPUNIT_ASSERT(store.activeTransfers().empty());
	CPPUNIT_ASSERT_EQUAL(std::string("ok"), store.check());
}


void ChatStoreTest::testMigrationToFileTransfers()
{
	// A database of the version just before the file transfers' step (whatever came before it) ...
	const std::vector<ChatStoreSchema::Migration>& all = ChatStoreSchema::migrations();
	const auto files = std::find_if(all.begin(), all.end(),
		[](const ChatStoreSchema::Migration& step) { return step.description == std::string("file transfers"); });
	CPPUNIT_ASSERT(files != all.end() && files != all.begin());
	const std::string db = path("before-files.db");
	{
		auto session = rawSession(db);
		ChatStoreSchema::configure(session, db);
		const std::vector<ChatStoreSchema::Migration> before(all.begin(), files);
		CPPUNIT_ASSERT_EQUAL(files->version - 1, ChatStoreSchema::migrate(session, before, db));
		Poco::Int64 tables = 0;
		session << "SELECT count(*) FROM sqlite_master WHERE name IN ('transfers', 'file_auto_accept')", into(tables), now;
		CPPUNIT_ASSERT_EQUAL(Poco::Int64(0), tables);
		session << "INSERT INTO peers (peer_id, relation, added_ms) VALUES (zeroblob(32), 1, 1)", now;
		session << "INSERT INTO messages (peer, direction, msg_id, state, text, sender_ms, local_ms, state_ms)"
			" VALUES (1, 0, 'm1', 0, 'written before file transfers', 1, 1, 1)", now;
	}
	CPPUNIT_ASSERT_EQUAL(0, ::chmod(db.c_str(), 0600));
	// ... gains the transfer tables on open(), keeps its messages, and stores transfers.
	ChatStore store(*_pLoop);
	store.open(db);
	CPPUNIT_ASSERT_EQUAL(ChatStore::SCHEMA_VERSION, store.schemaVersion());
	const auto pending = store.pending();
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), pending.size());
	CPPUNIT_ASSERT_EQUAL(std::string("written before file transfers"), pending[0].text);
	const PeerId contact = pending[0].peer;
	StoredTransfer transfer;
	transfer.id = std::string(32, 'a');
	transfer.peer = contact;
	transfer.direction = TransferDirection::INCOMING;
	transfer.state = TransferState::TRANSFERRING;
	transfer.name = "after-migration.bin";
	transfer.size = 1;
	transfer.sha256 = std::string(32, '\x01');
	transfer.blockSize = 128 * 1024;
	store.saveTransfer(transfer);
	store.setAutoAccept(contact, 1000);
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), store.activeTransfers().size());
	CPPUNIT_ASSERT_EQUAL(std::uint64_t(1000), store.autoAccept(contact));
	CPPUNIT_ASSERT_EQUAL(std::string("ok"), store.check());
}


void ChatStoreTest::testFailedMigrationRolledBack()
{
	const std::string db = path("v1.db");
	{
		ChatStore store(*_pLoop);
		store.open(db);
		store.queueOutgoing(peer(1), "m1", "still here", 10);
	}
	const int current = ChatStore::SCHEMA_VERSION;
	std::vector<ChatStoreSchema::Migration> steps = ChatStoreSchema::migrations();
	steps.push_back({current + 1, "half done", [](Poco::Data::Session& session) {
		session << "ALTER TABLE messages ADD COLUMN edited INTEGER NOT NULL DEFAULT 0", now;
		session << "DELETE FROM messages", now;
		throw Poco::RuntimeException("the step fails in the middle");
	}});
	{
		auto session = rawSession(db);
		ChatStoreSchema::configure(session, db);
		CPPUNIT_ASSERT_THROW(ChatStoreSchema::migrate(session, steps, db), Poco::RuntimeException);
		CPPUNIT_ASSERT_EQUAL(current, ChatStoreSchema::version(session, db));
		Poco::Int64 columns = 0;
		session << "SELECT count(*) FROM pragma_table_info('messages') WHERE name = 'edited'", into(columns), now;
		CPPUNIT_ASSERT_EQUAL(Poco::Int64(0), columns);
	}
	// Misnumbered steps are a programming error, caught before anything runs.
	steps.back().version = current + 2;
	{
		auto session = rawSession(db);
		ChatStoreSchema::configure(session, db);
		CPPUNIT_ASSERT_THROW(ChatStoreSchema::migrate(session, steps, db), Poco::LogicException);
	}
	ChatStore store(*_pLoop);
	store.open(db);
	CPPUNIT_ASSERT_EQUAL(current, store.schemaVersion());
	const auto pending = store.pending();
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), pending.size());
	CPPUNIT_ASSERT_EQUAL(std::string("still here"), pending[0].text);
	CPPUNIT_ASSERT_EQUAL(std::string("ok"), store.check());
}


void ChatStoreTest::testSecondConnectionRefused()
{
	const std::string db = path("locked.db");
	ChatStore first(*_pLoop);
	first.open(db);
	first.queueOutgoing(peer(1), "m1", "one", 1);

	ChatStore second(*_pLoop);
	const std::string message = messageOf<StoreLockedException>([&] { second.open(db); });
	CPPUNIT_ASSERT(contains(message, db));
	CPPUNIT_ASSERT(!second.isOpen());
	{
		// Any other connection, too (sqlite3 shell, another program).
		auto session = rawSession(db);
		session.setConnectionTimeout(0);
		Poco::Int64 count = 0;
		CPPUNIT_ASSERT_THROW((session << "SELECT count(*) FROM messages", into(count), now), Poco::Data::DataException);
	}
	// The owner is undisturbed.
	first.queueOutgoing(peer(1), "m2", "two", 2);
	CPPUNIT_ASSERT_EQUAL(std::size_t(2), first.pendingCount());

	first.close();
	second.open(db);
	CPPUNIT_ASSERT_EQUAL(std::size_t(2), second.pendingCount());
}


void ChatStoreTest::testClosedStore()
{
	ChatStore store(*_pLoop);
	CPPUNIT_ASSERT_THROW(store.pending(), Poco::IllegalStateException);
	CPPUNIT_ASSERT_THROW(store.queueOutgoing(peer(1), "m1", "x", 1), Poco::IllegalStateException);
	CPPUNIT_ASSERT_THROW(store.search("x", 10), Poco::IllegalStateException);
	CPPUNIT_ASSERT_THROW(store.transaction([] {}), Poco::IllegalStateException);
	store.open(path("closed.db"));
	CPPUNIT_ASSERT_THROW(store.open(path("closed.db")), Poco::IllegalStateException);
	CPPUNIT_ASSERT_THROW(store.open(path("other.db")), Poco::IllegalStateException);
	store.close();
	CPPUNIT_ASSERT_THROW(store.contacts(), Poco::IllegalStateException);
	CPPUNIT_ASSERT_THROW(ChatStore(*_pLoop, ChatStoreLimits{0, 1, 1, 1}), Poco::InvalidArgumentException);
}


void ChatStoreTest::testContacts()
{
	ChatStore store(*_pLoop);
	store.open(path("contacts.db"));
	CPPUNIT_ASSERT(!store.contact(peer(1)));
	CPPUNIT_ASSERT(store.contacts().empty());

	Contact alice;
	alice.peer = peer(1);
	alice.relation = Relation::CONTACT;
	alice.alias = "Alice (work)";
	alice.name = "alice";
	alice.addedMs = 1000;
	alice.lastSeenMs = 2000;
	alice.lastPath = "direct";
	alice.addresses = {"192.0.2.1:4000", "[2001:db8::1]:4000"};
	store.upsertContact(alice);

	auto got = store.contact(peer(1));
	CPPUNIT_ASSERT(got);
	CPPUNIT_ASSERT(got->peer == peer(1));
	CPPUNIT_ASSERT(got->relation == Relation::CONTACT);
	CPPUNIT_ASSERT_EQUAL(std::string("Alice (work)"), got->alias);
	CPPUNIT_ASSERT_EQUAL(std::string("alice"), got->name);
	CPPUNIT_ASSERT_EQUAL(std::int64_t(1000), got->addedMs);
	CPPUNIT_ASSERT_EQUAL(std::int64_t(2000), got->lastSeenMs);
	CPPUNIT_ASSERT_EQUAL(std::string("direct"), got->lastPath);
	CPPUNIT_ASSERT_EQUAL(std::string("192.0.2.1:4000,[2001:db8::1]:4000"), joined(got->addresses));

	// Upsert replaces every field; addedMs 0 keeps the stored one.
	alice.alias.clear();
	alice.addedMs = 0;
	alice.addresses = {"198.51.100.7:5000"};
	store.upsertContact(alice);
	got = store.contact(peer(1));
	CPPUNIT_ASSERT_EQUAL(std::string(), got->alias);
	CPPUNIT_ASSERT_EQUAL(std::int64_t(1000), got->addedMs);
	CPPUNIT_ASSERT_EQUAL(std::string("198.51.100.7:5000"), joined(got->addresses));

	// setAlias makes an unknown peer a contact; setName, touch, setAddresses need a known peer.
	store.setAlias(peer(2), "bob");
	CPPUNIT_ASSERT(store.contact(peer(2))->relation == Relation::CONTACT);
	CPPUNIT_ASSERT(store.contact(peer(2))->addedMs > 0);
	CPPUNIT_ASSERT(!store.setName(peer(3), "mallory"));
	CPPUNIT_ASSERT(!store.touch(peer(3), 5, "relay"));
	CPPUNIT_ASSERT(!store.setAddresses(peer(3), {"203.0.113.1:1"}));
	CPPUNIT_ASSERT(!store.contact(peer(3)));
	CPPUNIT_ASSERT(store.setName(peer(2), "Bob B."));
	CPPUNIT_ASSERT(store.touch(peer(2), 7777, "relay"));
	got = store.contact(peer(2));
	CPPUNIT_ASSERT_EQUAL(std::string("bob"), got->alias);
	CPPUNIT_ASSERT_EQUAL(std::string("Bob B."), got->name);
	CPPUNIT_ASSERT_EQUAL(std::int64_t(7777), got->lastSeenMs);
	CPPUNIT_ASSERT_EQUAL(std::string("relay"), got->lastPath);

	// Addresses beyond the limit are dropped, the first ones kept in order.
	std::vector<std::string> many;
	for (int i = 0; i < 40; ++i) many.push_back("192.0.2." + std::to_string(i) + ":1");
	CPPUNIT_ASSERT(store.setAddresses(peer(2), many));
	got = store.contact(peer(2));
	CPPUNIT_ASSERT_EQUAL(ChatStoreLimits().maxAddresses, got->addresses.size());
	CPPUNIT_ASSERT_EQUAL(std::string("192.0.2.0:1"), got->addresses.front());
	CPPUNIT_ASSERT(store.setAddresses(peer(2), {}));
	CPPUNIT_ASSERT(store.contact(peer(2))->addresses.empty());

	// Relations; strangers are not listed as contacts.
	store.setRelation(peer(3), Relation::BLOCKED);
	store.storeIncoming(peer(4), "r1", "hi, I am a stranger", 1, "relay");
	CPPUNIT_ASSERT(store.contact(peer(4))->relation == Relation::STRANGER);
	const auto list = store.contacts();
	CPPUNIT_ASSERT_EQUAL(std::size_t(3), list.size());
	CPPUNIT_ASSERT(list[0].peer == peer(1));   // added at 1000, first
	CPPUNIT_ASSERT(list[2].peer == peer(3));
	CPPUNIT_ASSERT(list[2].relation == Relation::BLOCKED);
	CPPUNIT_ASSERT_EQUAL(std::string("198.51.100.7:5000"), joined(list[0].addresses));
	store.setRelation(peer(4), Relation::CONTACT);
	CPPUNIT_ASSERT_EQUAL(std::size_t(4), store.contacts().size());
	store.setRelation(peer(3), Relation::CONTACT);
	CPPUNIT_ASSERT(store.contact(peer(3))->relation == Relation::CONTACT);

	// forgetPeer removes the peer with its addresses and messages.
	CPPUNIT_ASSERT(store.forgetPeer(peer(4)));
	CPPUNIT_ASSERT(!store.forgetPeer(peer(4)));
	CPPUNIT_ASSERT(!store.contact(peer(4)));
	CPPUNIT_ASSERT(store.history(peer(4), 10).empty());
	CPPUNIT_ASSERT(store.search("stranger", 10).empty());

	// Kept across a reopen.
	store.close();
	store.open(path("contacts.db"));
	CPPUNIT_ASSERT_EQUAL(std::size_t(3), store.contacts().size());
	CPPUNIT_ASSERT_EQUAL(std::string("bob"), store.contact(peer(2))->alias);
	CPPUNIT_ASSERT_EQUAL(std::string("ok"), store.check());
}


void ChatStoreTest::testContactArguments()
{
	ChatStore store(*_pLoop);
	store.open(path("arguments.db"));
	const std::string longName(SessionProtocol::MAX_NAME_SIZE + 1, 'n');
	CPPUNIT_ASSERT_THROW(store.setAlias(peer(1), longName), Poco::InvalidArgumentException);
	CPPUNIT_ASSERT_THROW(store.setName(peer(1), longName), Poco::InvalidArgumentException);
	Contact contact;
	contact.peer = peer(1);
	contact.addresses = {std::string(100, '1')};
	CPPUNIT_ASSERT_THROW(store.upsertContact(contact), Poco::InvalidArgumentException);
	CPPUNIT_ASSERT(!store.contact(peer(1)));
	// Values are data, never SQL.
	const std::string hostile = "x'); DROP TABLE peers; --";
	store.setAlias(peer(1), hostile);
	CPPUNIT_ASSERT_EQUAL(hostile, store.contact(peer(1))->alias);
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), store.contacts().size());
}


void ChatStoreTest::testOutboxStates()
{
	ChatStore store(*_pLoop);
	store.open(path("outbox.db"));
	const StoredMessage m1 = store.queueOutgoing(peer(1), "m1", "first", 100);
	const StoredMessage m2 = store.queueOutgoing(peer(1), "m2", "second", 200);
	const StoredMessage m3 = store.queueOutgoing(peer(1), "m3", "third", 300);
	CPPUNIT_ASSERT(m1.sequence > 0);
	CPPUNIT_ASSERT(m1.sequence < m2.sequence && m2.sequence < m3.sequence);
	CPPUNIT_ASSERT(m1.state == MessageState::QUEUED);
	CPPUNIT_ASSERT(m1.direction == MessageDirection::OUTGOING);
	CPPUNIT_ASSERT_EQUAL(std::int64_t(100), m1.timestampMs);
	CPPUNIT_ASSERT(m1.localTimeMs > 0);
	CPPUNIT_ASSERT(store.contact(peer(1))->relation == Relation::CONTACT);   // writing accepts
	CPPUNIT_ASSERT_EQUAL(std::size_t(3), store.pendingCount());
	CPPUNIT_ASSERT_EQUAL(std::size_t(3), store.pendingCount(peer(1)));
	CPPUNIT_ASSERT_EQUAL(std::size_t(0), store.pendingCount(peer(2)));

	CPPUNIT_ASSERT(store.markSent(peer(1), "m1"));
	CPPUNIT_ASSERT(!store.markSent(peer(1), "m1"));              // already sent
	CPPUNIT_ASSERT(!store.markSent(peer(2), "m2"));              // not this peer's message
	CPPUNIT_ASSERT(store.message(peer(1), MessageDirection::OUTGOING, "m1")->state == MessageState::SENT);
	CPPUNIT_ASSERT_EQUAL(std::size_t(3), store.pendingCount()); // sent is still waiting

	// A receipt from another peer for our message ID changes nothing.
	CPPUNIT_ASSERT(!store.markDelivered(peer(2), "m1", "direct"));
	CPPUNIT_ASSERT(store.markDelivered(peer(1), "m1", "direct"));
	CPPUNIT_ASSERT(!store.markDelivered(peer(1), "m1", "relay")); // a repeated receipt
	CPPUNIT_ASSERT(store.markDelivered(peer(1), "m2", "relay"));  // QUEUED -> DELIVERED too
	CPPUNIT_ASSERT(!store.markSent(peer(1), "m2"));
	CPPUNIT_ASSERT(!store.markRefused(peer(1), "m2", "late"));
	auto delivered = store.message(peer(1), MessageDirection::OUTGOING, "m1");
	CPPUNIT_ASSERT(delivered->state == MessageState::DELIVERED);
	CPPUNIT_ASSERT_EQUAL(std::string("direct"), delivered->path);
	CPPUNIT_ASSERT(delivered->stateTimeMs >= delivered->localTimeMs);

	// Refused, with the reason, cut to a bounded length on a character boundary.
	std::string reason = "invalid UTF-8 ";
	while (reason.size() < 400) reason += "\u00e9";
	CPPUNIT_ASSERT(store.markRefused(peer(1), "m3", reason));
	auto refused = store.message(peer(1), MessageDirection::OUTGOING, "m3");
	CPPUNIT_ASSERT(refused->state == MessageState::REFUSED);
	CPPUNIT_ASSERT(refused->reason.size() <= 256 && refused->reason.size() >= 250);
	CPPUNIT_ASSERT_EQUAL(0, reason.compare(0, refused->reason.size(), refused->reason));
	CPPUNIT_ASSERT((static_cast<unsigned char>(refused->reason.back()) & 0xC0) != 0xC0);
	CPPUNIT_ASSERT(!store.markDelivered(peer(1), "m3"));          // refused is final
	CPPUNIT_ASSERT_EQUAL(std::size_t(0), store.pendingCount());
	CPPUNIT_ASSERT(store.pending().empty());
	CPPUNIT_ASSERT(!store.markDelivered(peer(1), "unknown"));

	// The same ID twice for one peer is refused; for another peer it is fine.
	CPPUNIT_ASSERT_THROW(store.queueOutgoing(peer(1), "m1", "again", 1), Poco::InvalidArgumentException);
	store.queueOutgoing(peer(2), "m1", "same ID, other peer", 1);
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), store.pendingCount());

	// A blocked peer stays blocked when written to (the node decides whether to send).
	store.setRelation(peer(3), Relation::BLOCKED);
	store.queueOutgoing(peer(3), "b1", "to a blocked peer", 1);
	CPPUNIT_ASSERT(store.contact(peer(3))->relation == Relation::BLOCKED);
	CPPUNIT_ASSERT_EQUAL(std::uint64_t(5), store.stats().queued);
}


void ChatStoreTest::testOutboxOrderAcrossPeersAndReopen()
{
	const std::string db = path("order.db");
	std::vector<std::string> expected;
	{
		ChatStore store(*_pLoop);
		store.open(db);
		for (int i = 0; i < 30; ++i)
		{
			const std::string id = "m" + std::to_string(i);
			store.queueOutgoing(peer(i % 3), id, "text " + std::to_string(i), i);
			expected.push_back(id);
			if (i % 4 == 0) store.storeIncoming(peer(i % 3), "r" + std::to_string(i), "reply", i, "direct");
		}
		CPPUNIT_ASSERT(store.markDelivered(peer(1), "m4"));
		CPPUNIT_ASSERT(store.markSent(peer(2), "m5"));
		expected.erase(std::find(expected.begin(), expected.end(), "m4"));
	}
	ChatStore store(*_pLoop);
	store.open(db);
	const auto all = store.pending();
	CPPUNIT_ASSERT_EQUAL(joined(expected), joined(idsOf(all)));
	for (std::size_t i = 1; i < all.size(); ++i) CPPUNIT_ASSERT(all[i - 1].sequence < all[i].sequence);
	CPPUNIT_ASSERT_EQUAL(std::string("m5"), all[4].id);
	CPPUNIT_ASSERT(all[4].state == MessageState::SENT);   // sent before the restart, still waiting
	CPPUNIT_ASSERT_EQUAL(std::string("text 5"), all[4].text);

	std::vector<std::string> forPeer1;
	for (const std::string& id: expected)
		if (std::stoi(id.substr(1)) % 3 == 1) forPeer1.push_back(id);
	CPPUNIT_ASSERT_EQUAL(joined(forPeer1), joined(idsOf(store.pending(peer(1)))));
	for (const StoredMessage& message: store.pending(peer(1))) CPPUNIT_ASSERT(message.peer == peer(1));
	CPPUNIT_ASSERT_EQUAL(expected.size(), store.pendingCount());
}


void ChatStoreTest::testMessageArguments()
{
	ChatStore store(*_pLoop);
	store.open(path("arguments.db"));
	const std::string longId(SessionProtocol::MAX_MESSAGE_ID_SIZE + 1, 'i');
	const std::string longText(SessionProtocol::MAX_TEXT_SIZE + 1, 't');
	CPPUNIT_ASSERT_THROW(store.queueOutgoing(peer(1), "", "x", 1), Poco::InvalidArgumentException);
	CPPUNIT_ASSERT_THROW(store.queueOutgoing(peer(1), longId, "x", 1), Poco::InvalidArgumentException);
	CPPUNIT_ASSERT_THROW(store.queueOutgoing(peer(1), "m1", longText, 1), Poco::InvalidArgumentException);
	CPPUNIT_ASSERT_THROW(store.storeIncoming(peer(1), "", "x", 1, "direct"), Poco::InvalidArgumentException);
	CPPUNIT_ASSERT_THROW(store.storeIncoming(peer(1), longId, "x", 1, "direct"), Poco::InvalidArgumentException);
	CPPUNIT_ASSERT_THROW(store.storeIncoming(peer(1), "r1", longText, 1, "direct"), Poco::InvalidArgumentException);
	CPPUNIT_ASSERT_EQUAL(std::size_t(0), store.pendingCount());
	CPPUNIT_ASSERT(!store.contact(peer(1)));

	// The largest message, with every byte value but NUL, round-trips unchanged.
	std::string text;
	while (text.size() < SessionProtocol::MAX_TEXT_SIZE) text += static_cast<char>(1 + text.size() % 255);
	const std::string id(SessionProtocol::MAX_MESSAGE_ID_SIZE, 'k');
	store.queueOutgoing(peer(1), id, text, 1);
	CPPUNIT_ASSERT(store.storeIncoming(peer(1), id, text, 2, "relay"));
	CPPUNIT_ASSERT(text == store.message(peer(1), MessageDirection::OUTGOING, id)->text);
	CPPUNIT_ASSERT(text == store.history(peer(1), 1).back().text);
	// An embedded NUL is data too.
	const std::string withNul("a\0b", 3);
	const std::string idWithNul("n\0l", 3);
	store.queueOutgoing(peer(1), idWithNul, withNul, 3);
	CPPUNIT_ASSERT(withNul == store.message(peer(1), MessageDirection::OUTGOING, idWithNul)->text);
	CPPUNIT_ASSERT(idWithNul == store.pending().back().id);
	CPPUNIT_ASSERT(!store.message(peer(1), MessageDirection::OUTGOING, "n"));
	store.setAlias(peer(1), withNul);
	CPPUNIT_ASSERT(withNul == store.contact(peer(1))->alias);
	CPPUNIT_ASSERT(withNul == store.contacts().at(0).alias);
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), store.search("b", 10).size());
	CPPUNIT_ASSERT(idWithNul == store.search("b", 10).at(0).id);
}


void ChatStoreTest::testIncomingDuplicatesDropped()
{
	ChatStore store(*_pLoop);
	store.open(path("incoming.db"));
	auto first = store.storeIncoming(peer(1), "r1", "hello", 500, "relay");
	CPPUNIT_ASSERT(first);
	CPPUNIT_ASSERT(first->sequence > 0);
	CPPUNIT_ASSERT(first->state == MessageState::RECEIVED);
	CPPUNIT_ASSERT(first->direction == MessageDirection::INCOMING);
	CPPUNIT_ASSERT_EQUAL(std::string("relay"), first->path);
	CPPUNIT_ASSERT_EQUAL(std::int64_t(500), first->timestampMs);
	CPPUNIT_ASSERT(store.contact(peer(1))->relation == Relation::STRANGER);

	// The retransmission (even with another text or path) is dropped.
	CPPUNIT_ASSERT(!store.storeIncoming(peer(1), "r1", "hello", 500, "relay"));
	CPPUNIT_ASSERT(!store.storeIncoming(peer(1), "r1", "changed", 600, "direct"));
	CPPUNIT_ASSERT_EQUAL(std::uint64_t(2), store.stats().duplicatesDropped);
	CPPUNIT_ASSERT_EQUAL(std::uint64_t(1), store.stats().received);
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), store.history(peer(1), 10).size());
	CPPUNIT_ASSERT_EQUAL(std::string("hello"), store.history(peer(1), 10)[0].text);

	// IDs are per peer and per direction.
	CPPUNIT_ASSERT(store.storeIncoming(peer(2), "r1", "same ID, other sender", 1, "direct"));
	store.queueOutgoing(peer(1), "m1", "ours", 1);
	CPPUNIT_ASSERT(store.storeIncoming(peer(1), "m1", "theirs, with our ID", 1, "direct"));
	CPPUNIT_ASSERT_EQUAL(std::size_t(3), store.history(peer(1), 10).size());
	CPPUNIT_ASSERT(store.message(peer(1), MessageDirection::OUTGOING, "m1")->state == MessageState::QUEUED);
}


void ChatStoreTest::testDuplicatesDroppedAfterReopen()
{
	const std::string db = path("restart.db");
	{
		ChatStore store(*_pLoop);
		store.open(db);
		store.setRelation(peer(1), Relation::CONTACT);
		for (int i = 0; i < 20; ++i) CPPUNIT_ASSERT(store.storeIncoming(peer(1), "r" + std::to_string(i), "x", i, "direct"));
	}
	ChatStore store(*_pLoop);
	store.open(db);
	for (int i = 0; i < 20; ++i) CPPUNIT_ASSERT(!store.storeIncoming(peer(1), "r" + std::to_string(i), "x", i, "direct"));
	CPPUNIT_ASSERT(store.storeIncoming(peer(1), "r20", "x", 20, "direct"));
	CPPUNIT_ASSERT_EQUAL(std::size_t(21), store.history(peer(1), 100).size());
}


void ChatStoreTest::testSequenceNeverReused()
{
	const std::string db = path("sequence.db");
	std::int64_t last = 0;
	{
		ChatStore store(*_pLoop);
		store.open(db);
		store.queueOutgoing(peer(1), "m1", "a", 1);
		last = store.queueOutgoing(peer(1), "m2", "b", 2).sequence;
		store.deleteConversation(peer(1));   // the newest row is gone
	}
	ChatStore store(*_pLoop);
	store.open(db);
	const auto next = store.storeIncoming(peer(1), "r1", "c", 3, "direct");
	CPPUNIT_ASSERT(next->sequence > last);
}


void ChatStoreTest::testHistoryPaging()
{
	ChatStore store(*_pLoop);
	store.open(path("history.db"));
	std::vector<std::string> conversation;
	for (int i = 0; i < 50; ++i)
	{
		if (i % 2 == 0)
		{
			store.queueOutgoing(peer(1), "m" + std::to_string(i), "to one " + std::to_string(i), i);
			conversation.push_back("m" + std::to_string(i));
		}
		else
		{
			store.storeIncoming(peer(1), "r" + std::to_string(i), "from one " + std::to_string(i), i, "direct");
			conversation.push_back("r" + std::to_string(i));
		}
		store.storeIncoming(peer(2), "x" + std::to_string(i), "another conversation", i, "relay");
	}
	const auto last5 = store.history(peer(1), 5);
	CPPUNIT_ASSERT_EQUAL(joined(std::vector<std::string>(conversation.end() - 5, conversation.end())), joined(idsOf(last5)));
	CPPUNIT_ASSERT(last5.front().sequence < last5.back().sequence);   // newest last
	for (const StoredMessage& message: last5) CPPUNIT_ASSERT(message.peer == peer(1));
	CPPUNIT_ASSERT(last5.back().direction == MessageDirection::INCOMING);
	CPPUNIT_ASSERT(last5[3].direction == MessageDirection::OUTGOING);

	// Paging back with the first sequence of each page visits everything once.
	std::vector<std::string> paged;
	std::int64_t before = 0;
	for (;;)
	{
		const auto page = store.history(peer(1), 7, before);
		if (page.empty()) break;
		CPPUNIT_ASSERT(page.size() <= 7);
		std::vector<std::string> ids = idsOf(page);
		paged.insert(paged.begin(), ids.begin(), ids.end());
		before = page.front().sequence;
	}
	CPPUNIT_ASSERT_EQUAL(joined(conversation), joined(paged));

	CPPUNIT_ASSERT_EQUAL(std::size_t(50), store.history(peer(1), 1000000).size());
	CPPUNIT_ASSERT(store.history(peer(1), 0).empty());
	CPPUNIT_ASSERT(store.history(peer(9), 10).empty());
	CPPUNIT_ASSERT(store.history(peer(1), 10, 1).empty());
}


void ChatStoreTest::testSearch()
{
	ChatStore store(*_pLoop);
	store.open(path("search.db"));
	store.queueOutgoing(peer(1), "m1", "Shall we meet at the Café Central tomorrow?", 1);
	store.storeIncoming(peer(1), "r1", "Yes, the cafe at ten. Bring the report.", 2, "direct");
	store.storeIncoming(peer(2), "r2", "Reporting from the meeting: all fine", 3, "relay");
	store.queueOutgoing(peer(2), "m2", "Nothing to see here", 4);

	// Every word is required; case and accents do not matter; newest first.
	auto results = store.search("CAFE", 10);
	CPPUNIT_ASSERT_EQUAL(std::size_t(2), results.size());
	CPPUNIT_ASSERT_EQUAL(std::string("r1"), results[0].id);
	CPPUNIT_ASSERT_EQUAL(std::string("m1"), results[1].id);
	CPPUNIT_ASSERT(results[0].peer == peer(1));
	CPPUNIT_ASSERT(results[0].direction == MessageDirection::INCOMING);
	CPPUNIT_ASSERT(results[0].state == MessageState::RECEIVED);
	CPPUNIT_ASSERT(results[1].state == MessageState::QUEUED);
	CPPUNIT_ASSERT_EQUAL(std::int64_t(2), results[0].timestampMs);
	CPPUNIT_ASSERT(results[0].sequence > results[1].sequence);
	CPPUNIT_ASSERT(contains(results[0].snippet, "[cafe]"));
	CPPUNIT_ASSERT(contains(results[1].snippet, "[Café]"));

	CPPUNIT_ASSERT_EQUAL(std::size_t(1), store.search("cafe report", 10).size());
	CPPUNIT_ASSERT_EQUAL(std::size_t(0), store.search("cafe meeting", 10).size());
	// Whole words, or prefixes with a '*'.
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), store.search("report", 10).size());
	CPPUNIT_ASSERT_EQUAL(std::size_t(2), store.search("report*", 10).size());
	CPPUNIT_ASSERT_EQUAL(std::size_t(2), store.search("meet*", 10).size());
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), store.search("cafe", 1).size());
	CPPUNIT_ASSERT(store.search("cafe", 0).empty());
	CPPUNIT_ASSERT(store.search("", 10).empty());
	CPPUNIT_ASSERT(store.search("  \t ", 10).empty());
	CPPUNIT_ASSERT(store.search("***", 10).empty());
	CPPUNIT_ASSERT(store.search("?!.,", 10).empty());
	CPPUNIT_ASSERT(store.search("absent", 10).empty());

	// Other markers, or none.
	results = store.search("nothing", 10, "<b>", "</b>");
	CPPUNIT_ASSERT_EQUAL(std::string("<b>Nothing</b> to see here"), results.at(0).snippet);
	results = store.search("nothing", 10, "", "");
	CPPUNIT_ASSERT_EQUAL(std::string("Nothing to see here"), results.at(0).snippet);
	CPPUNIT_ASSERT_THROW(store.search("x", 10, std::string(100, '<'), ">"), Poco::InvalidArgumentException);

	// A long text is cut around the match.
	std::string longText;
	for (int i = 0; i < 200; ++i) longText += "filler" + std::to_string(i) + " ";
	longText += "needle";
	for (int i = 0; i < 200; ++i) longText += " more" + std::to_string(i);
	store.storeIncoming(peer(3), "long", longText, 5, "direct");
	results = store.search("needle", 10);
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), results.size());
	CPPUNIT_ASSERT(contains(results[0].snippet, "[needle]"));
	CPPUNIT_ASSERT(contains(results[0].snippet, "\u2026"));
	CPPUNIT_ASSERT(results[0].snippet.size() < 200);
}


void ChatStoreTest::testSearchExpression()
{
	CPPUNIT_ASSERT_EQUAL(std::string(), ChatStore::searchExpression("", 16));
	CPPUNIT_ASSERT_EQUAL(std::string("\"hello\" \"world\""), ChatStore::searchExpression("  hello\tworld \n", 16));
	CPPUNIT_ASSERT_EQUAL(std::string("\"a\"\"b\""), ChatStore::searchExpression("a\"b", 16));
	CPPUNIT_ASSERT_EQUAL(std::string("\"\"\"\""), ChatStore::searchExpression("\"", 16));
	CPPUNIT_ASSERT_EQUAL(std::string("\"pre\"*"), ChatStore::searchExpression("pre**", 16));
	CPPUNIT_ASSERT_EQUAL(std::string("\"ab\""), ChatStore::searchExpression("ab*", 16));   // too short a prefix
	CPPUNIT_ASSERT_EQUAL(std::string("\"\u00e9t\u00e9\"*"), ChatStore::searchExpression("\u00e9t\u00e9*", 16));
	CPPUNIT_ASSERT_EQUAL(std::string("\"a*b\""), ChatStore::searchExpression("a*b", 16));
	CPPUNIT_ASSERT_EQUAL(std::string(), ChatStore::searchExpression("* ** ***", 16));
	CPPUNIT_ASSERT_EQUAL(std::string("\"NEAR(a\" \"b)\""), ChatStore::searchExpression("NEAR(a b)", 16));
	CPPUNIT_ASSERT_EQUAL(std::string("\"ab\""), ChatStore::searchExpression(std::string("a\0b", 3), 16));
	CPPUNIT_ASSERT_EQUAL(std::string("\"1\" \"2\" \"3\""), ChatStore::searchExpression("1 2 3 4 5", 3));
	// A huge word is cut, on a character boundary.
	std::string huge;
	for (int i = 0; i < 1000; ++i) huge += "\u00e9";
	const std::string expression = ChatStore::searchExpression(huge, 16);
	CPPUNIT_ASSERT(expression.size() <= 258);
	CPPUNIT_ASSERT_EQUAL(0, expression.compare(1, expression.size() - 2, huge, 0, expression.size() - 2));
	// Invalid UTF-8 (nothing but continuation bytes) is still a word, cut at the limit.
	CPPUNIT_ASSERT_EQUAL(std::size_t(258), ChatStore::searchExpression(std::string(300, '\x80'), 16).size());
}


void ChatStoreTest::testSearchHostileInput()
{
	ChatStore store(*_pLoop);
	store.open(path("hostile.db"));
	store.storeIncoming(peer(1), "r1", "meet me NEAR the station OR the park AND bring NOT much", 1, "direct");
	store.storeIncoming(peer(1), "r2", "she said \"hello\" (twice) and left: ok^2 +1 -1 {x y}:z", 2, "direct");
	store.storeIncoming(peer(1), "r3", "x'); DROP TABLE messages; --", 3, "direct");
	store.setRelation(peer(2), Relation::CONTACT);   // keeps every hostile text stored below

	// FTS5 operators and syntax are plain words.
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), store.search("NEAR", 10).size());
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), store.search("OR", 10).size());
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), store.search("AND NOT", 10).size());
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), store.search("\"hello\"", 10).size());
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), store.search("(twice)", 10).size());
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), store.search("NEAR(the station)", 10).size());
	CPPUNIT_ASSERT_EQUAL(std::size_t(0), store.search("NEAR(station park)", 10).size());   // phrase "near station"
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), store.search("DROP TABLE", 10).size());
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), store.search("station -park", 10).size());   // '-' is no NOT
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), store.search("station +park", 10).size());

	std::vector<std::string> hostile = {
		"\"", "\"\"", "\"unbalanced", "unbalanced\"", "(", ")", "((((", "))", "a OR", "OR a", "AND", "NOT",
		"NEAR", "NEAR(", "NEAR(a b", "NEAR(a b, 2)", "a NEAR/2 b", "*", "a*b*", "^", "^a", "a:", ":a",
		"text:meet", "messages_fts:meet", "{text}:meet", "- meet", "-meet", "+", "a + b", "a+b", "'", "''",
		"'; DROP TABLE messages; --", "\\", "%", "_", "\x01\x02\x03", "\x7f", "\xc3\x28", "\xe2\x82", "\xf0\x28\x8c\xbc",
		"\xed\xa0\x80", "\xc0\xaf", "\xff\xfe\xfd", "\xef\xbb\xbf", "\u202e\u0301", "\U0001F600*", "\u3000meet\u3000",
		std::string("a\0b", 3), std::string(100000, 'x'), std::string(5000, '"'), std::string(5000, '('),
	};
	std::string many;
	for (int i = 0; i < 1000; ++i) many += "w" + std::to_string(i) + " ";
	hostile.push_back(many);
	std::string everyByte;
	for (int c = 1; c < 256; ++c) everyByte += static_cast<char>(c);
	hostile.push_back(everyByte);
	std::mt19937 random(12345);
	for (int i = 0; i < 300; ++i)
	{
		std::string bytes;
		const int length = 1 + static_cast<int>(random() % 64);
		for (int j = 0; j < length; ++j) bytes += static_cast<char>(1 + random() % 255);
		hostile.push_back(bytes);
	}
	// Each is a search for words, never an error; and each is also stored and found again
	// as data.
	std::size_t n = 0;
	store.transaction([&] {
		for (const std::string& words: hostile)
		{
			try
			{
				store.search(words, 10);
				store.search(words, 10, words.substr(0, 8), words.substr(0, 8));
			}
			catch (const Poco::Exception& exc)
			{
				CPPUNIT_FAIL("search for a hostile input failed: " + exc.displayText());
			}
			if (words.size() <= SessionProtocol::MAX_TEXT_SIZE)
				store.storeIncoming(peer(2), "h" + std::to_string(n++), words, 10, "direct");
		}
	});
	for (const std::string& words: hostile) store.search(words, 10);
	CPPUNIT_ASSERT(!store.search("messages_fts:meet", 10).empty());   // found as data
	CPPUNIT_ASSERT_EQUAL(std::string("ok"), store.check());
	CPPUNIT_ASSERT_EQUAL(std::size_t(3), store.history(peer(1), 10).size());
}


void ChatStoreTest::testDeleteAndPrune()
{
	ChatStore store(*_pLoop);
	store.open(path("delete.db"));
	store.queueOutgoing(peer(1), "p1", "apple pending", 20);
	for (int i = 0; i < 10; ++i)
	{
		store.storeIncoming(peer(1), "r" + std::to_string(i), "apple " + std::to_string(i), i, "direct");
		store.queueOutgoing(peer(2), "m" + std::to_string(i), "banana " + std::to_string(i), i);
	}
	store.queueOutgoing(peer(1), "p0", "apple delivered", 21);
	CPPUNIT_ASSERT(store.markDelivered(peer(1), "p0"));

	// Pruning keeps the newest messages, and older ones still waiting in the outbox.
	CPPUNIT_ASSERT_EQUAL(std::size_t(8), store.pruneConversation(peer(1), 3));
	CPPUNIT_ASSERT_EQUAL(std::string("p1,r8,r9,p0"), joined(idsOf(store.history(peer(1), 100))));
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), store.pendingCount(peer(1)));
	CPPUNIT_ASSERT_EQUAL(std::size_t(0), store.pruneConversation(peer(1), 100));
	CPPUNIT_ASSERT_EQUAL(std::size_t(0), store.pruneConversation(peer(7), 0));
	CPPUNIT_ASSERT_EQUAL(std::size_t(3), store.pruneConversation(peer(1), 0));
	CPPUNIT_ASSERT_EQUAL(std::string("p1"), joined(idsOf(store.history(peer(1), 100))));
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), store.search("apple", 100).size());

	// Deleting a conversation takes the outbox with it, and the search index entries.
	CPPUNIT_ASSERT_EQUAL(std::size_t(10), store.deleteConversation(peer(2)));
	CPPUNIT_ASSERT(store.history(peer(2), 100).empty());
	CPPUNIT_ASSERT(store.search("banana", 100).empty());
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), store.pendingCount());
	CPPUNIT_ASSERT(store.contact(peer(2)));   // the peer stays
	CPPUNIT_ASSERT_EQUAL(std::size_t(0), store.deleteConversation(peer(2)));
	CPPUNIT_ASSERT_EQUAL(std::string("ok"), store.check());
}


void ChatStoreTest::testStrangerLimits()
{
	ChatStoreLimits limits;
	limits.maxStrangers = 3;
	limits.maxMessagesPerStranger = 4;
	ChatStore store(*_pLoop, limits);
	store.open(path("strangers.db"));
	store.setRelation(peer(100), Relation::CONTACT);

	// A stranger keeps its newest messages only.
	for (int i = 0; i < 10; ++i) CPPUNIT_ASSERT(store.storeIncoming(peer(1), "s" + std::to_string(i), "spam", i, "relay"));
	CPPUNIT_ASSERT_EQUAL(std::string("s6,s7,s8,s9"), joined(idsOf(store.history(peer(1), 100))));
	CPPUNIT_ASSERT_EQUAL(std::uint64_t(6), store.stats().strangerMessagesDropped);
	// A contact's conversation has no such bound.
	for (int i = 0; i < 10; ++i) store.storeIncoming(peer(100), "c" + std::to_string(i), "friend", i, "direct");
	CPPUNIT_ASSERT_EQUAL(std::size_t(10), store.history(peer(100), 100).size());

	// Beyond maxStrangers, the stranger heard from least recently is forgotten entirely.
	for (int p = 2; p <= 6; ++p) store.storeIncoming(peer(p), "x", "hello from " + std::to_string(p), p, "relay");
	std::size_t strangers = 0;
	for (int p = 1; p <= 6; ++p)
	{
		if (store.contact(peer(p))) ++strangers;
	}
	CPPUNIT_ASSERT_EQUAL(limits.maxStrangers, strangers);
	CPPUNIT_ASSERT(store.contact(peer(6)));   // the newest is always kept
	CPPUNIT_ASSERT(!store.contact(peer(1)));  // the oldest went first, with its messages
	CPPUNIT_ASSERT(store.history(peer(1), 100).empty());
	CPPUNIT_ASSERT_EQUAL(std::uint64_t(3), store.stats().strangersForgotten);
	CPPUNIT_ASSERT(store.contact(peer(100)));  // contacts never count

	// Writing to a stranger accepts it: it is no longer subject to the limits.
	store.queueOutgoing(peer(6), "m1", "welcome", 1);
	CPPUNIT_ASSERT(store.contact(peer(6))->relation == Relation::CONTACT);
	for (int p = 7; p <= 12; ++p) store.storeIncoming(peer(p), "x", "another stranger", p, "relay");
	CPPUNIT_ASSERT(store.contact(peer(6)));
	CPPUNIT_ASSERT_EQUAL(std::size_t(2), store.history(peer(6), 100).size());
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), store.pendingCount());
	CPPUNIT_ASSERT_EQUAL(std::string("ok"), store.check());
}


void ChatStoreTest::testTransaction()
{
	ChatStore store(*_pLoop);
	store.open(path("transaction.db"));
	const std::uint64_t before = store.stats().transactions;
	store.transaction([&] {
		for (int i = 0; i < 100; ++i) store.queueOutgoing(peer(1), "m" + std::to_string(i), "burst", i);
		CPPUNIT_ASSERT(store.markSent(peer(1), "m0"));
		CPPUNIT_ASSERT(store.storeIncoming(peer(1), "r0", "reply", 0, "direct"));
	});
	CPPUNIT_ASSERT_EQUAL(before + 1, store.stats().transactions);   // one commit for the burst
	CPPUNIT_ASSERT_EQUAL(std::size_t(100), store.pendingCount());

	// A failing batch changes nothing.
	CPPUNIT_ASSERT_THROW(store.transaction([&] {
		store.queueOutgoing(peer(1), "n1", "lost", 1);
		store.markDelivered(peer(1), "m1");
		store.setAlias(peer(1), "changed");
		throw Poco::RuntimeException("abort the batch");
	}), Poco::RuntimeException);
	CPPUNIT_ASSERT_EQUAL(std::size_t(100), store.pendingCount());
	CPPUNIT_ASSERT(!store.message(peer(1), MessageDirection::OUTGOING, "n1"));
	CPPUNIT_ASSERT(store.contact(peer(1))->alias.empty());
	// ... also when a store call inside fails.
	CPPUNIT_ASSERT_THROW(store.transaction([&] {
		store.queueOutgoing(peer(1), "n2", "lost", 1);
		store.queueOutgoing(peer(1), "m5", "duplicate ID", 1);
	}), Poco::InvalidArgumentException);
	CPPUNIT_ASSERT(!store.message(peer(1), MessageDirection::OUTGOING, "n2"));

	// The store works normally afterwards, and what was committed stays.
	store.queueOutgoing(peer(1), "n3", "after", 1);
	store.close();
	store.open(path("transaction.db"));
	CPPUNIT_ASSERT_EQUAL(std::size_t(101), store.pendingCount());
	CPPUNIT_ASSERT(store.message(peer(1), MessageDirection::INCOMING, "r0"));
}


void ChatStoreTest::testNestedTransaction()
{
	ChatStore store(*_pLoop);
	store.open(path("nested.db"));
	store.transaction([&] {
		store.queueOutgoing(peer(1), "a", "outer", 1);
		try
		{
			store.transaction([&] {
				store.queueOutgoing(peer(1), "b", "inner, rolled back", 2);
				throw Poco::RuntimeException("inner fails");
			});
		}
		catch (const Poco::RuntimeException&)
		{
		}
		store.transaction([&] { store.queueOutgoing(peer(1), "c", "inner, kept", 3); });
		// A store call that fails inside a batch undoes only itself.
		try
		{
			store.queueOutgoing(peer(1), "a", "duplicate", 4);
		}
		catch (const Poco::InvalidArgumentException&)
		{
		}
	});
	CPPUNIT_ASSERT_EQUAL(std::string("a,c"), joined(idsOf(store.pending())));
	CPPUNIT_ASSERT_EQUAL(std::string("ok"), store.check());
}


void ChatStoreTest::testQueriesUseIndexes()
{
	// No store call may read the whole history: each frequent statement runs on an index.
	const std::string db = path("plans.db");
	{
		ChatStore store(*_pLoop);
		store.open(db);
		store.transaction([&] {
			for (int i = 0; i < 200; ++i)
			{
				store.queueOutgoing(peer(i % 5), "m" + std::to_string(i), "hello number " + std::to_string(i), i);
				store.storeIncoming(peer(i % 5), "r" + std::to_string(i), "reply number " + std::to_string(i), i, "direct");
			}
		});
	}
	namespace Sql = ChatStoreSchema::Sql;
	auto session = rawSession(db);
	sqlite3* pDb = Poco::Data::SQLite::Utility::dbHandle(session);
	for (const std::string* pSql: {&Sql::SELECT_PEER, &Sql::INSERT_PEER, &Sql::INSERT_MESSAGE, &Sql::UPDATE_STATE,
		&Sql::PENDING, &Sql::PENDING_OF_PEER, &Sql::PENDING_COUNT, &Sql::PENDING_COUNT_OF_PEER, &Sql::MESSAGE,
		&Sql::HISTORY, &Sql::SEARCH, &Sql::STRANGER_MESSAGE_COUNT, &Sql::STRANGER_COUNT})
	{
		sqlite3_stmt* pStatement = nullptr;
		const std::string explain = "EXPLAIN QUERY PLAN " + *pSql;
		CPPUNIT_ASSERT_EQUAL_MESSAGE(*pSql, SQLITE_OK, sqlite3_prepare_v2(pDb, explain.c_str(), -1, &pStatement, nullptr));
		std::string plan;
		while (sqlite3_step(pStatement) == SQLITE_ROW)
		{
			const char* detail = reinterpret_cast<const char*>(sqlite3_column_text(pStatement, 3));
			plan += std::string(detail ? detail : "") + "; ";
		}
		sqlite3_finalize(pStatement);
		std::istringstream steps(plan);
		std::string step;
		while (std::getline(steps, step, ';'))
		{
			const bool fullScan = (contains(step, "SCAN m") || contains(step, "SCAN messages") || contains(step, "SCAN peers"))
				&& !contains(step, "USING INDEX") && !contains(step, "USING COVERING INDEX") && !contains(step, "VIRTUAL TABLE");
			CPPUNIT_ASSERT_MESSAGE(*pSql + "\n  plan: " + plan, !fullScan);
			CPPUNIT_ASSERT_MESSAGE(*pSql + "\n  plan: " + plan, !contains(step, "TEMP B-TREE"));
		}
	}
}


void ChatStoreTest::testKilledWriterLosesNothing()
{
	const std::string db = path("crash.db");
	const std::string program = writerProgram();
	CPPUNIT_ASSERT_MESSAGE("missing " + program, exists(program));
	const PeerId other = peer(42);
	const std::string otherText = other.toString();
	constexpr int ROUNDS = 5;

	for (int round = 0; round < ROUNDS; ++round)
	{
		const long first = 1 + round * 1000000L;   // fresh IDs: an unacknowledged write may have committed
		const std::size_t target = 40 + 60 * static_cast<std::size_t>(round);

		int fds[2];
		CPPUNIT_ASSERT_EQUAL(0, ::pipe2(fds, O_CLOEXEC));
		posix_spawn_file_actions_t actions;
		posix_spawn_file_actions_init(&actions);
		posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
		const std::string firstText = std::to_string(first);
		std::vector<char*> argv = {const_cast<char*>(program.c_str()), const_cast<char*>(db.c_str()),
			const_cast<char*>(firstText.c_str()), const_cast<char*>(otherText.c_str()), nullptr};
		pid_t pid = 0;
		const int spawned = ::posix_spawn(&pid, program.c_str(), &actions, nullptr, argv.data(), environ);
		posix_spawn_file_actions_destroy(&actions);
		::close(fds[1]);
		CPPUNIT_ASSERT_EQUAL(0, spawned);

		// Let it acknowledge target writes, then kill it wherever it is.
		Acknowledged acks;
		LineReader reader(fds[0]);
		std::string line;
		bool ended = false;
		while (acks.total() < target)
		{
			if (!reader.next(line))
			{
				ended = true;
				break;
			}
			record(acks, line);
		}
		::kill(pid, SIGKILL);
		int status = 0;
		CPPUNIT_ASSERT_EQUAL(pid, ::waitpid(pid, &status, 0));
		// Whatever it reported before dying was acknowledged too.
		while (reader.next(line)) record(acks, line);
		::close(fds[0]);
		CPPUNIT_ASSERT_MESSAGE("the writer ended by itself, status " + std::to_string(status), !ended);
		CPPUNIT_ASSERT(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

		ChatStore store(*_pLoop);
		store.open(db);
		CPPUNIT_ASSERT_EQUAL(std::string("ok"), store.check());
		for (long n: acks.queued)
		{
			const auto message = store.message(other, MessageDirection::OUTGOING, "m" + std::to_string(n));
			CPPUNIT_ASSERT_MESSAGE("acknowledged m" + std::to_string(n) + " lost in round " + std::to_string(round), message);
			CPPUNIT_ASSERT_EQUAL(n, static_cast<long>(message->timestampMs));
		}
		for (long n: acks.sent)
		{
			const auto message = store.message(other, MessageDirection::OUTGOING, "m" + std::to_string(n));
			CPPUNIT_ASSERT(message->state == MessageState::SENT || message->state == MessageState::DELIVERED);
		}
		for (long n: acks.delivered)
		{
			const auto message = store.message(other, MessageDirection::OUTGOING, "m" + std::to_string(n));
			CPPUNIT_ASSERT(message->state == MessageState::DELIVERED);
			CPPUNIT_ASSERT_EQUAL(std::string("direct"), message->path);
		}
		for (long n: acks.received)
		{
			CPPUNIT_ASSERT(store.message(other, MessageDirection::INCOMING, "r" + std::to_string(n)));
			// ... and a retransmission after the restart is recognised.
			CPPUNIT_ASSERT(!store.storeIncoming(other, "r" + std::to_string(n), "again", n, "relay"));
		}
		// The outbox is in the order the messages were queued, and holds every acknowledged,
		// undelivered one.
		const auto pending = store.pending(other);
		std::set<long> waiting;
		long previous = -1;
		std::int64_t previousSequence = 0;
		for (const StoredMessage& message: pending)
		{
			const long n = std::stol(message.id.substr(1));
			CPPUNIT_ASSERT(n > previous);
			CPPUNIT_ASSERT(message.sequence > previousSequence);
			previous = n;
			previousSequence = message.sequence;
			waiting.insert(n);
		}
		for (long n: acks.queued)
		{
			// Not waiting means delivered: the writer's last markDelivered() may have committed
			// without being reported.
			if (waiting.count(n)) continue;
			const auto message = store.message(other, MessageDirection::OUTGOING, "m" + std::to_string(n));
			CPPUNIT_ASSERT_MESSAGE("m" + std::to_string(n) + " neither waiting nor delivered",
				message->state == MessageState::DELIVERED);
		}
	}
}
