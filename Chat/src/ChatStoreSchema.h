//
// ChatStoreSchema.h
//
// Library: Chat
// Private: the chat database's connection settings, schema versions and migrations.
// This is an internal header file, it is not installed; do not include it from outside
// Chat/src (the Chat tests do, to migrate a database as a newer program would).
//


#ifndef CrossChat_Chat_ChatStoreSchema_INCLUDED
#define CrossChat_Chat_ChatStoreSchema_INCLUDED


#include <cstdint>
#include <functional>
#include <string>
#include <vector>


namespace Poco {
namespace Data {
class Session;
} } // namespace Poco::Data


namespace CrossChat {
namespace Chat {
namespace ChatStoreSchema {


constexpr std::int32_t APPLICATION_ID = 0x43436462;
	/// "CCdb", in the SQLite header's application_id field: marks the file as CrossChat's.


struct Migration
	/// One step of the schema: from version - 1 to version.
{
	int version;                                          ///< The version the step produces (1, 2, ...).
	std::string description;                              ///< Recorded in schema_migrations.
	std::function<void(Poco::Data::Session&)> apply;      ///< Runs inside the step's transaction.
};


const std::vector<Migration>& migrations();
	/// The steps this program knows, in order: version 1 is the first schema. To change the
	/// schema, append one step (never edit a released one) and raise ChatStore::SCHEMA_VERSION.


void configure(Poco::Data::Session& session, const std::string& path);
	/// Sets the connection to the database at path up as ChatStore uses it: no busy wait,
	/// exclusive locking, WAL, synchronous=FULL, foreign keys, secure_delete, temporary data
	/// in memory. Checks first
	/// that the file is empty or a CrossChat database (see version()), so that another
	/// program's database is refused unchanged. Throws the Poco::Data exception of the first
	/// statement that fails (a damaged file fails here), or StoreCorruptException.


int version(Poco::Data::Session& session, const std::string& path);
	/// The schema version of the database: 0 for an empty file, else the highest version in
	/// schema_migrations. Throws StoreCorruptException, naming path, if the file is another
	/// program's database (another application_id, or tables but no schema_migrations).


int migrate(Poco::Data::Session& session, const std::vector<Migration>& steps, const std::string& path);
	/// Applies the steps above the database's version, in order, each in its own transaction
	/// that also records it in schema_migrations (and PRAGMA user_version), and returns the new
	/// version. A step that throws is rolled back and its exception propagates: the database
	/// stays at the previous version. Throws StoreVersionException, naming path, if the
	/// database is newer than the last step. Requires a configured session not inside a
	/// transaction.


namespace Sql
	/// The statements of the store's frequent calls, kept here so that a test can check that
	/// each runs on an index (no work proportional to the whole history).
{
	inline const std::string MESSAGE_COLUMNS =
		// Texts that came from a peer (or the user) are read back as BLOBs: Poco extracts a
		// TEXT column up to its first NUL, and a message may hold one (JSON's "\u0000").
		"SELECT m.seq, p.peer_id, CAST(m.msg_id AS BLOB), m.direction, m.state, CAST(m.text AS BLOB),"
		" m.sender_ms, m.local_ms, m.state_ms, m.path, CAST(m.reason AS BLOB)"
		" FROM messages m JOIN peers p ON p.id = m.peer ";
	inline const std::string SELECT_PEER = "SELECT id, relation FROM peers WHERE peer_id = ?";
	inline const std::string INSERT_PEER = "INSERT INTO peers (peer_id, relation, added_ms) VALUES (?, ?, ?) RETURNING id";
	inline const std::string INSERT_MESSAGE =
		"INSERT INTO messages (peer, direction, msg_id, state, text, sender_ms, local_ms, state_ms, path)"
		" VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
		" ON CONFLICT (peer, direction, msg_id) DO NOTHING RETURNING seq";
	inline const std::string UPDATE_STATE =
		"UPDATE messages SET state = ?, state_ms = ?, path = coalesce(nullif(?, ''), path), reason = ?"
		" WHERE peer = (SELECT id FROM peers WHERE peer_id = ?) AND direction = 0 AND msg_id = ? AND state IN (?, ?)";
	inline const std::string PENDING = MESSAGE_COLUMNS + "WHERE m.state IN (0, 1) ORDER BY m.seq";
	inline const std::string PENDING_OF_PEER = MESSAGE_COLUMNS +
		"WHERE m.peer = (SELECT id FROM peers WHERE peer_id = ?) AND m.state IN (0, 1) ORDER BY m.seq";
	inline const std::string PENDING_COUNT = "SELECT count(*) FROM messages WHERE state IN (0, 1)";
	inline const std::string PENDING_COUNT_OF_PEER =
		"SELECT count(*) FROM messages WHERE peer = (SELECT id FROM peers WHERE peer_id = ?) AND state IN (0, 1)";
	inline const std::string MESSAGE = MESSAGE_COLUMNS +
		"WHERE m.peer = (SELECT id FROM peers WHERE peer_id = ?) AND m.direction = ? AND m.msg_id = ?";
	inline const std::string HISTORY = MESSAGE_COLUMNS +
		"WHERE m.peer = (SELECT id FROM peers WHERE peer_id = ?) AND m.seq < ? ORDER BY m.seq DESC LIMIT ?";
	inline const std::string SEARCH =
		// Newest first: FTS5 walks its index in descending rowid (= seq) order and stops at
		// the limit, without sorting the matches.
		"SELECT m.seq, p.peer_id, CAST(m.msg_id AS BLOB), m.direction, m.state, m.sender_ms, m.local_ms,"
		" CAST(snippet(messages_fts, 0, ?, ?, ?, ?) AS BLOB)"
		" FROM messages_fts JOIN messages m ON m.seq = messages_fts.rowid JOIN peers p ON p.id = m.peer"
		" WHERE messages_fts MATCH ? ORDER BY messages_fts.rowid DESC LIMIT ?";
	inline const std::string STRANGER_MESSAGE_COUNT = "SELECT count(*) FROM messages WHERE peer = ?";
	inline const std::string STRANGER_COUNT = "SELECT count(*) FROM peers WHERE relation = 0";
	inline const std::string TRANSFER_COLUMNS =
		"SELECT p.peer_id, t.transfer_id, t.direction, t.state, CAST(t.name AS BLOB), t.size, t.sha256, t.block_size,"
		" t.hashes, t.have, CAST(t.local_path AS BLOB), t.file_mtime_ns, CAST(t.group_id AS BLOB), t.created_ms,"
		" t.state_ms, CAST(t.error AS BLOB) FROM transfers t JOIN peers p ON p.id = t.peer ";
	inline const std::string ACTIVE_TRANSFERS = TRANSFER_COLUMNS + "WHERE t.state < 4 ORDER BY t.seq";
	inline const std::string TRANSFER = TRANSFER_COLUMNS +
		"WHERE t.peer = (SELECT id FROM peers WHERE peer_id = ?) AND t.direction = ? AND t.transfer_id = ?";
	inline const std::string RECENT_TRANSFERS = TRANSFER_COLUMNS + "ORDER BY t.seq DESC LIMIT ?";
	inline const std::string UPDATE_TRANSFER_HAVE =
		"UPDATE transfers SET have = coalesce(?, x'') WHERE peer = (SELECT id FROM peers WHERE peer_id = ?) AND direction = 1"
		" AND transfer_id = ? AND state < 4";
}


} } } // namespace CrossChat::Chat::ChatStoreSchema


#endif // CrossChat_Chat_ChatStoreSchema_INCLUDED
