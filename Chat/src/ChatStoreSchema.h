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
	/// exclusive locking, WAL, synchronous=FULL, foreign keys, secure_delete. Checks first
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


} } } // namespace CrossChat::Chat::ChatStoreSchema


#endif // CrossChat_Chat_ChatStoreSchema_INCLUDED
