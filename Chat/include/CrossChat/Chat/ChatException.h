//
// ChatException.h
//
// Library: Chat
// Exceptions thrown by the CrossChat Chat library.
//


#ifndef CrossChat_Chat_ChatException_INCLUDED
#define CrossChat_Chat_ChatException_INCLUDED


#include "Poco/Exception.h"


namespace CrossChat {
namespace Chat {


POCO_DECLARE_EXCEPTION(, StoreException, Poco::RuntimeException)
	/// The chat database failed: it cannot be opened, read or written (disk full, I/O error).
	/// The message names the file and says what SQLite reported.
POCO_DECLARE_EXCEPTION(, StoreUnsafeException, StoreException)
	/// The database file (or its -wal, -shm or -journal companion) is a symbolic link, not a
	/// regular file, belongs to another user, or group or others may access it.
POCO_DECLARE_EXCEPTION(, StoreCorruptException, StoreException)
	/// The file is damaged, or is not an SQLite database, or is an SQLite database of some
	/// other program.
POCO_DECLARE_EXCEPTION(, StoreVersionException, StoreException)
	/// The database was written by a newer CrossChat: its schema version is higher than this
	/// program knows.
POCO_DECLARE_EXCEPTION(, StoreLockedException, StoreException)
	/// Another connection (another process, or another ChatStore) has the database open.

POCO_DECLARE_EXCEPTION(, EnvelopeException, Poco::DataFormatException)
	/// A mailbox envelope cannot be opened: malformed, sealed for another peer or to a pre-key
	/// we no longer hold, changed on the way, or not signed by the key it names.


} } // namespace CrossChat::Chat


#endif // CrossChat_Chat_ChatException_INCLUDED
