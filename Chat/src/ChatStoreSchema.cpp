//
// ChatStoreSchema.cpp
//
// Library: Chat
// Private: the chat database's connection settings, schema versions and migrations.
//


#include "ChatStoreSchema.h"
#include "CrossChat/Chat/ChatException.h"
#include "Poco/Data/Session.h"
#include "Poco/Exception.h"
#include <chrono>


using namespace Poco::Data::Keywords;


namespace CrossChat {
namespace Chat {
namespace ChatStoreSchema {


namespace {


void execute(Poco::Data::Session& session, const std::vector<const char*>& statements)
{
	for (const char* sql: statements) session << sql, now;
}


void version1(Poco::Data::Session& session)
	/// The first schema (issue 8): peers, their addresses, messages, the full-text index.
{
	execute(session, {
		// Which migrations ran: the schema version is the highest.
		"CREATE TABLE schema_migrations ("
		"  version     INTEGER PRIMARY KEY,"
		"  description TEXT    NOT NULL,"
		"  applied_ms  INTEGER NOT NULL)",

		// Every peer the store knows: contacts, blocked peers, strangers that wrote to us.
		// relation: 0 stranger, 1 contact, 2 blocked (enum Relation).
		"CREATE TABLE peers ("
		"  id           INTEGER PRIMARY KEY,"
		"  peer_id      BLOB    NOT NULL UNIQUE CHECK (length(peer_id) = 32),"
		"  relation     INTEGER NOT NULL DEFAULT 0 CHECK (relation IN (0, 1, 2)),"
		"  alias        TEXT    NOT NULL DEFAULT '',"
		"  name         TEXT    NOT NULL DEFAULT '',"
		"  added_ms     INTEGER NOT NULL,"
		"  last_seen_ms INTEGER NOT NULL DEFAULT 0,"
		"  last_path    TEXT    NOT NULL DEFAULT '')",
		"CREATE INDEX peers_by_relation ON peers (relation, added_ms)",

		// The chat addresses a peer announced, in its order.
		"CREATE TABLE peer_addresses ("
		"  peer     INTEGER NOT NULL REFERENCES peers (id) ON DELETE CASCADE,"
		"  position INTEGER NOT NULL,"
		"  address  TEXT    NOT NULL,"
		"  PRIMARY KEY (peer, position)) WITHOUT ROWID",

		// History and outbox. seq orders everything and is never reused (AUTOINCREMENT).
		// direction: 0 outgoing, 1 incoming; state: 0 queued, 1 sent, 2 delivered,
		// 3 refused, 4 received (enums MessageDirection, MessageState).
		"CREATE TABLE messages ("
		"  seq       INTEGER PRIMARY KEY AUTOINCREMENT,"
		"  peer      INTEGER NOT NULL REFERENCES peers (id) ON DELETE CASCADE,"
		"  direction INTEGER NOT NULL CHECK (direction IN (0, 1)),"
		"  msg_id    TEXT    NOT NULL,"
		"  state     INTEGER NOT NULL CHECK (state BETWEEN 0 AND 4),"
		"  text      TEXT    NOT NULL,"
		"  sender_ms INTEGER NOT NULL,"
		"  local_ms  INTEGER NOT NULL,"
		"  state_ms  INTEGER NOT NULL,"
		"  path      TEXT    NOT NULL DEFAULT '',"
		"  reason    TEXT    NOT NULL DEFAULT '')",
		// One message per (peer, direction, id): the duplicate filter of received messages.
		"CREATE UNIQUE INDEX messages_by_id ON messages (peer, direction, msg_id)",
		// A conversation in order (history, paging, pruning).
		"CREATE INDEX messages_by_peer ON messages (peer, seq)",
		// The outbox: only queued and sent messages are in these two, per peer and in all.
		"CREATE INDEX messages_pending ON messages (peer, seq) WHERE state IN (0, 1)",
		"CREATE INDEX messages_outbox ON messages (seq) WHERE state IN (0, 1)",

		// Full-text index over the texts, kept by triggers; the texts live only in messages.
		"CREATE VIRTUAL TABLE messages_fts USING fts5 ("
		"  text, content = 'messages', content_rowid = 'seq',"
		"  tokenize = 'unicode61 remove_diacritics 2')",
		"CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN"
		"  INSERT INTO messages_fts (rowid, text) VALUES (new.seq, new.text);"
		" END",
		"CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN"
		"  INSERT INTO messages_fts (messages_fts, rowid, text) VALUES ('delete', old.seq, old.text);"
		" END",
		"CREATE TRIGGER messages_fts_update AFTER UPDATE OF text ON messages BEGIN"
		"  INSERT INTO messages_fts (messages_fts, rowid, text) VALUES ('delete', old.seq, old.text);"
		"  INSERT INTO messages_fts (rowid, text) VALUES (new.seq, new.text);"
		" END"
	});
	// A number of ours, not data: PRAGMA takes no parameters.
	session << "PRAGMA application_id = " + std::to_string(APPLICATION_ID), now;
}


void groupsSchema(Poco::Data::Session& session)
	/// Group conversations (issue 11): groups, their membership logs, their messages.
{
	execute(session, {
		// One row per group we know: founded, joined, invited to, left or removed from.
		// state: 0 invited, 1 joining, 2 member, 3 left, 4 removed (GroupService).
		"CREATE TABLE group_chats ("
		"  id         INTEGER PRIMARY KEY,"
		"  group_id   TEXT    NOT NULL UNIQUE CHECK (length(group_id) = 64),"
		"  state      INTEGER NOT NULL CHECK (state BETWEEN 0 AND 4),"
		"  inviter    TEXT    NOT NULL DEFAULT '',"
		"  name       TEXT    NOT NULL DEFAULT '',"
		"  share      INTEGER NOT NULL DEFAULT 0,"
		"  updated_ms INTEGER NOT NULL)",

		// The winning chain of the membership log, one signed entry (its JSON) per version.
		"CREATE TABLE group_log ("
		"  grp     INTEGER NOT NULL REFERENCES group_chats (id) ON DELETE CASCADE,"
		"  version INTEGER NOT NULL,"
		"  entry   TEXT    NOT NULL,"
		"  PRIMARY KEY (grp, version)) WITHOUT ROWID",

		// Delivered group messages in the order they were delivered (each author's in its
		// order), with what is needed to hand them on signed (gap answers).
		"CREATE TABLE group_messages ("
		"  seq          INTEGER PRIMARY KEY AUTOINCREMENT,"
		"  grp          INTEGER NOT NULL REFERENCES group_chats (id) ON DELETE CASCADE,"
		"  author       TEXT    NOT NULL,"
		"  author_seq   INTEGER NOT NULL,"
		"  msg_id       TEXT    NOT NULL,"
		"  version      INTEGER NOT NULL,"
		"  prev_version INTEGER NOT NULL,"
		"  sender_ms    INTEGER NOT NULL,"
		"  local_ms     INTEGER NOT NULL,"
		"  text         TEXT    NOT NULL,"
		"  akey         TEXT    NOT NULL,"
		"  sig          TEXT    NOT NULL)",
		// One message per (group, author, sequence): the duplicate filter; and gap answers.
		"CREATE UNIQUE INDEX group_messages_by_author ON group_messages (grp, author, author_seq)",
		"CREATE INDEX group_messages_by_group ON group_messages (grp, seq)"
	});
}


void relaySchema(Poco::Data::Session& session)
	/// What the identity keeps about relays (issue 10): the handles it has looked up and the
	/// key each was bound to the first time (pins), its own mailbox pre-keys, and which queued
	/// messages it has left in a peer's relay mailbox.
{
	execute(session, {
		// handle@relay -> the peer ID it named when first used; a later answer naming another
		// key is never taken silently (RelayBook, ChatNode).
		"CREATE TABLE handle_pins ("
		"  handle    TEXT    NOT NULL,"
		"  relay     TEXT    NOT NULL,"
		"  peer_id   BLOB    NOT NULL CHECK (length(peer_id) = 32),"
		"  pinned_ms INTEGER NOT NULL,"
		"  seen_ms   INTEGER NOT NULL,"
		"  PRIMARY KEY (handle, relay)) WITHOUT ROWID",

		// Our X25519 pre-keys: published while valid, the private key deleted (secure_delete
		// zeroes it in the file) at delete_ms, once no envelope sealed to it can still be waiting.
		"CREATE TABLE own_prekeys ("
		"  id          INTEGER PRIMARY KEY,"
		"  private_key BLOB    NOT NULL CHECK (length(private_key) = 32),"
		"  public_key  BLOB    NOT NULL CHECK (length(public_key) = 32),"
		"  created_ms  INTEGER NOT NULL,"
		"  expires_ms  INTEGER NOT NULL,"
		"  delete_ms   INTEGER NOT NULL)",

		// Outbox messages deposited in the recipient's mailbox at a relay (one row per message
		// and relay), so that a restart does not deposit them again.
		"CREATE TABLE mailbox_deposits ("
		"  seq          INTEGER NOT NULL REFERENCES messages (seq) ON DELETE CASCADE,"
		"  relay        TEXT    NOT NULL,"
		"  deposited_ms INTEGER NOT NULL,"
		"  PRIMARY KEY (seq, relay)) WITHOUT ROWID"
	});
}


void fileTransfersSchema(Poco::Data::Session& session)
	/// File transfers (issue 11): what resumes a transfer after a restart, and the per-contact
	/// auto-accept setting.
{
	execute(session, {
		// direction: 0 outgoing, 1 incoming (enum TransferDirection); state: 0 preparing,
		// 1 offered, 2 transferring, 3 verifying, 4 complete, 5 rejected, 6 cancelled, 7 failed
		// (enum TransferState). hashes: 32 bytes per block; have: one bit per block verified and
		// synced to the .part file (incoming). Both are emptied when the transfer ends.
		"CREATE TABLE transfers ("
		"  seq           INTEGER PRIMARY KEY AUTOINCREMENT,"
		"  peer          INTEGER NOT NULL REFERENCES peers (id) ON DELETE CASCADE,"
		"  transfer_id   TEXT    NOT NULL CHECK (length(transfer_id) = 32),"
		"  direction     INTEGER NOT NULL CHECK (direction IN (0, 1)),"
		"  state         INTEGER NOT NULL CHECK (state BETWEEN 0 AND 7),"
		"  name          TEXT    NOT NULL,"
		"  size          INTEGER NOT NULL CHECK (size >= 0),"
		"  sha256        BLOB    NOT NULL,"
		"  block_size    INTEGER NOT NULL,"
		"  hashes        BLOB    NOT NULL DEFAULT x'',"
		"  have          BLOB    NOT NULL DEFAULT x'',"
		"  local_path    TEXT    NOT NULL DEFAULT '',"
		"  file_mtime_ns INTEGER NOT NULL DEFAULT 0,"
		"  group_id      TEXT    NOT NULL DEFAULT '',"
		"  created_ms    INTEGER NOT NULL,"
		"  state_ms      INTEGER NOT NULL,"
		"  error         TEXT    NOT NULL DEFAULT '')",
		"CREATE UNIQUE INDEX transfers_by_id ON transfers (peer, direction, transfer_id)",
		// The transfers to resume at start: only unfinished ones are in it.
		"CREATE INDEX transfers_active ON transfers (seq) WHERE state < 4",
		// Offers from a contact up to max_bytes are accepted without asking.
		"CREATE TABLE file_auto_accept ("
		"  peer      INTEGER PRIMARY KEY REFERENCES peers (id) ON DELETE CASCADE,"
		"  max_bytes INTEGER NOT NULL CHECK (max_bytes > 0))"
	});
}


std::int64_t nowMs()
{
	return std::chrono::duration_cast<std::chrono::milliseconds>(
		std::chrono::system_clock::now().time_since_epoch()).count();
}


} // namespace


const std::vector<Migration>& migrations()
{
	static const std::vector<Migration> steps = {
		{1, "contacts, conversations, outbox, full-text index", version1},
		{2, "groups: membership logs and group messages", groupsSchema},
		{3, "relays: handle pins, own pre-keys, mailbox deposits", relaySchema},
		{4, "file transfers", fileTransfersSchema},
	};
	return steps;
}


void configure(Poco::Data::Session& session, const std::string& path)
{
	// Fail at once instead of waiting when another connection holds the file.
	session.setConnectionTimeout(0);

	std::string result;
	// Exclusive locking before the first access: the connection keeps the database locked
	// until it closes, and SQLite keeps the WAL index in heap memory (no -shm file).
	session << "PRAGMA locking_mode = EXCLUSIVE", into(result), now;
	// Refuse another program's database before changing anything in it (the journal mode
	// is stored in the file).
	version(session, path);
	result.clear();
	session << "PRAGMA journal_mode = WAL", into(result), now;
	if (result != "wal") throw StoreException("cannot switch the database to WAL mode", result);
	// FULL: the log is fsync()ed at every commit, so a committed message survives a power
	// loss; NORMAL would only fsync at checkpoints (safe against crashes, not power loss).
	session << "PRAGMA synchronous = FULL", now;
	session << "PRAGMA foreign_keys = ON", now;
	// Deleted messages are overwritten with zeros in the file, not merely unlinked.
	session << "PRAGMA secure_delete = ON", now;
	// trusted_schema stays ON: the triggers that keep the full-text index write to a virtual
	// table, which SQLite forbids an untrusted schema. The schema is ours, in a 0600 file.
	// Checks each b-tree cell's size as it is read: a damaged page is reported, not followed.
	session << "PRAGMA cell_size_check = ON", now;
	// Statement journals (the savepoint of each store call inside a transaction) and other
	// temporary data in memory: not as temporary files in /tmp or /var/tmp, outside the private
	// data directory (they hold copies of pages), and 40 % faster for a burst of messages.
	session << "PRAGMA temp_store = MEMORY", now;
}


int version(Poco::Data::Session& session, const std::string& path)
{
	Poco::Int32 applicationId = 0;
	session << "PRAGMA application_id", into(applicationId), now;
	Poco::Int64 objects = 0;
	session << "SELECT count(*) FROM sqlite_master", into(objects), now;
	if (objects == 0 && applicationId == 0) return 0;
	if (applicationId != APPLICATION_ID)
		throw StoreCorruptException(path + " is an SQLite database of another program (application_id " +
			std::to_string(applicationId) + "), not a CrossChat database");
	Poco::Int64 tables = 0;
	session << "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'",
		into(tables), now;
	if (tables == 0) throw StoreCorruptException(path + " is not a CrossChat database (no schema_migrations table)");
	Poco::Int64 current = 0;
	session << "SELECT coalesce(max(version), 0) FROM schema_migrations", into(current), now;
	return static_cast<int>(current);
}


int migrate(Poco::Data::Session& session, const std::vector<Migration>& steps, const std::string& path)
{
	for (std::size_t i = 0; i < steps.size(); ++i)
	{
		if (steps[i].version != static_cast<int>(i) + 1)
			throw Poco::LogicException("schema migrations must be numbered 1, 2, 3, ... in order");
	}
	const int known = static_cast<int>(steps.size());
	int current = version(session, path);
	if (current > known)
	{
		throw StoreVersionException("the database " + path + " was written by a newer CrossChat (schema version " +
			std::to_string(current) + "; this program knows versions up to " + std::to_string(known) +
			"). Run the newer version, or move the file away to start with an empty history");
	}
	for (const Migration& step: steps)
	{
		if (step.version <= current) continue;
		session << "BEGIN IMMEDIATE", now;
		try
		{
			step.apply(session);
			Poco::Int64 applied = nowMs();
			int stepVersion = step.version;
			std::string description = step.description;
			session << "INSERT INTO schema_migrations (version, description, applied_ms) VALUES (?, ?, ?)",
				use(stepVersion), use(description), use(applied), now;
			// A number of ours, not data: PRAGMA takes no parameters.
			session << "PRAGMA user_version = " + std::to_string(step.version), now;
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
		current = step.version;
	}
	return current;
}


} } } // namespace CrossChat::Chat::ChatStoreSchema
