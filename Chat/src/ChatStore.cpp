//
// ChatStore.cpp
//
// Library: Chat
// The durable memory of one identity: contacts, conversations, the outbox, in one SQLite file.
//


#include "CrossChat/Chat/ChatStore.h"
#include "ChatStoreSchema.h"
#include "CrossChat/Chat/ChatException.h"
#include "CrossChat/Chat/SessionProtocol.h"
#include "CrossChat/Scheduler.h"
#include "Poco/Data/LOB.h"
#include "Poco/Data/SQLite/SQLiteException.h"
#include "Poco/Data/SQLite/SessionImpl.h"
#include "Poco/Data/SQLite/Utility.h"
#include "Poco/Data/Session.h"
#include "Poco/Data/Statement.h"
#include "Poco/Exception.h"
#include "Poco/Path.h"
#include "Poco/Tuple.h"
#include <sqlite3.h>
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <limits>
#include <map>
#include <sys/stat.h>
#include <unistd.h>
#include <utility>


using namespace Poco::Data::Keywords;
using Poco::Data::BLOB;
using Poco::Data::Session;
using Poco::Data::Statement;


namespace CrossChat {
namespace Chat {


namespace {


constexpr std::size_t MAX_ALIAS_SIZE = SessionProtocol::MAX_NAME_SIZE;
constexpr std::size_t MAX_PATH_SIZE = 32;          ///< "direct", "relay", "mailbox", ...
constexpr std::size_t MAX_ADDRESS_SIZE = 64;       ///< "[v6 address]:port" is at most 47 bytes.
constexpr std::size_t MAX_REASON_SIZE = 256;       ///< Longer refusal reasons are cut.
constexpr std::size_t MAX_SEARCH_WORD_SIZE = 256;
constexpr std::size_t MIN_PREFIX_CHARACTERS = 3;   ///< "ab*" would merge the index of half the words
constexpr std::size_t SNIPPET_TOKENS = 12;
constexpr std::size_t MAX_MARKER_SIZE = 16;
constexpr Poco::Int64 NO_SEQUENCE_LIMIT = std::numeric_limits<Poco::Int64>::max();

using MessageRow = Poco::Tuple<Poco::Int64, BLOB, BLOB, Poco::Int32, Poco::Int32, BLOB,
	Poco::Int64, Poco::Int64, Poco::Int64, std::string, BLOB>;


std::int64_t nowMs()
{
	return std::chrono::duration_cast<std::chrono::milliseconds>(
		std::chrono::system_clock::now().time_since_epoch()).count();
}


BLOB blobOf(const PeerId& peer)
{
	return BLOB(peer.bytes().data(), peer.bytes().size());
}


std::string textOf(const BLOB& blob)
{
	if (blob.size() == 0) return std::string();
	return std::string(reinterpret_cast<const char*>(blob.rawContent()), blob.size());
}


PeerId peerOf(const BLOB& blob)
{
	return PeerId::fromBytes(textOf(blob));
}


StoredMessage messageOf(const MessageRow& row)
{
	StoredMessage message;
	message.sequence = row.get<0>();
	message.peer = peerOf(row.get<1>());
	message.id = textOf(row.get<2>());
	message.direction = static_cast<MessageDirection>(row.get<3>());
	message.state = static_cast<MessageState>(row.get<4>());
	message.text = textOf(row.get<5>());
	message.timestampMs = row.get<6>();
	message.localTimeMs = row.get<7>();
	message.stateTimeMs = row.get<8>();
	message.path = row.get<9>();
	message.reason = textOf(row.get<10>());
	return message;
}


std::string systemError(const std::string& what, const std::string& path, int error)
{
	return what + " " + path + ": " + std::strerror(error);
}


std::string utf8Prefix(const std::string& text, std::size_t maxBytes)
	/// At most maxBytes of text, cut before a UTF-8 continuation byte, so never inside a
	/// character of valid UTF-8 (a character has at most 3 continuation bytes; invalid text
	/// is cut at maxBytes after that).
{
	if (text.size() <= maxBytes) return text;
	std::size_t end = maxBytes;
	while (end > 0 && maxBytes - end < 3 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
	if ((static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) end = maxBytes;
	return text.substr(0, end);
}


void checkSize(const std::string& value, std::size_t max, const char* what)
{
	if (value.size() > max)
		throw Poco::InvalidArgumentException(std::string(what) + " longer than " + std::to_string(max) + " bytes");
}


void checkMessageId(const std::string& id)
{
	if (id.empty()) throw Poco::InvalidArgumentException("empty message ID");
	checkSize(id, SessionProtocol::MAX_MESSAGE_ID_SIZE, "message ID");
}


void checkPrivateFile(const std::string& path, bool required)
	/// Refuses a file that is a symbolic link, not a regular file, another user's, or open to
	/// group or others. A missing file passes unless required.
{
	struct stat st;
	if (::lstat(path.c_str(), &st) != 0)
	{
		if (errno == ENOENT && !required) return;
		throw StoreException(systemError("cannot stat", path, errno));
	}
	if (S_ISLNK(st.st_mode)) throw StoreUnsafeException(path + " is a symbolic link; refusing to use it");
	if (!S_ISREG(st.st_mode)) throw StoreUnsafeException(path + " is not a regular file");
	if (st.st_uid != ::geteuid())
	{
		throw StoreUnsafeException(path + " belongs to user ID " + std::to_string(st.st_uid) +
			", not to you (user ID " + std::to_string(::geteuid()) + "); refusing to use it");
	}
	if ((st.st_mode & 077) != 0)
	{
		char mode[8];
		std::snprintf(mode, sizeof(mode), "%04o", static_cast<unsigned>(st.st_mode & 07777));
		throw StoreUnsafeException(path + " has mode " + mode + " and others can access it; refusing to use it "
			"(its contents may have been read). Run: chmod 600 " + path);
	}
}


void createPrivateFile(const std::string& path)
	/// Creates an empty mode-0600 file (if none exists), durably: SQLite gives its -wal file
	/// the mode of the database file.
{
	const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
	{
		if (errno == EEXIST) return;   // created meanwhile: checked like any existing file
		throw StoreException(systemError("cannot create", path, errno));
	}
	const bool ok = ::fchmod(fd, 0600) == 0 && ::fsync(fd) == 0;
	const int error = errno;
	::close(fd);
	if (!ok) throw StoreException(systemError("cannot set up", path, error));
	const std::string dir = Poco::Path(path).parent().toString();
	const int dirFd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirFd >= 0)
	{
		::fsync(dirFd);   // the new name survives a power loss; best effort (some file systems refuse)
		::close(dirFd);
	}
}


template <typename Function>
auto translated(const std::string& path, const char* what, Function function) -> decltype(function())
	/// Runs function, turning Poco::Data's exceptions into the store's, with the file's name.
{
	try
	{
		return function();
	}
	catch (const Poco::Data::SQLite::CorruptImageException& exc)
	{
		throw StoreCorruptException("the database " + path + " is damaged or not a database (" + exc.message() +
			"). Move it away (with its -wal file) to start with an empty history");
	}
	catch (const Poco::Data::SQLite::DBLockedException&)
	{
		throw StoreLockedException("the database " + path + " is in use by another program or connection");
	}
	catch (const Poco::Data::SQLite::TableLockedException&)
	{
		throw StoreLockedException("the database " + path + " is in use by another program or connection");
	}
	catch (const Poco::Data::SQLite::DatabaseFullException& exc)
	{
		throw StoreException(std::string("cannot ") + what + ": the disk holding " + path + " is full", exc.message());
	}
	catch (const Poco::Data::DataException& exc)
	{
		throw StoreException(std::string("cannot ") + what + " in " + path, exc.displayText());
	}
}


class CachedStatement
	/// A prepared statement run many times; its parameters and results are bound by reference
	/// to variables that outlive it. Prepared again after a failure, so that a statement left
	/// half-run by an error never poisons the next call.
{
public:
	using Builder = std::function<Statement(Session&)>;

	CachedStatement(Session& session, Builder builder):
		_session(session),
		_builder(std::move(builder)),
		_statement(_builder(_session))
	{
	}

	std::size_t execute()
	{
		try
		{
			return _statement.execute();
		}
		catch (...)
		{
			_statement = _builder(_session);
			throw;
		}
	}

private:
	Session& _session;
	Builder _builder;
	Statement _statement;
};


} // namespace


class ChatStore::Impl
	/// The open database: the session, its transaction depth and the statements of the hot
	/// paths (peer lookup, message insert, state change), prepared once.
{
public:
	struct PeerRow
	{
		Poco::Int64 rowId = 0;
		Relation relation = Relation::STRANGER;
		bool created = false;
	};

	class Scope
		/// One transaction (or savepoint, inside another) around a store call: committed by
		/// commit(), else rolled back when the scope ends.
	{
	public:
		Scope(Impl& impl, ChatStoreStats& stats):
			_impl(impl),
			_stats(stats)
		{
			_impl.begin();
		}

		~Scope()
		{
			if (!_done) _impl.rollback();
		}

		Scope(const Scope&) = delete;
		Scope& operator=(const Scope&) = delete;

		void commit()
		{
			_done = true;
			try
			{
				if (_impl.commit()) ++_stats.transactions;
			}
			catch (...)
			{
				_impl.rollback();
				throw;
			}
		}

	private:
		Impl& _impl;
		ChatStoreStats& _stats;
		bool _done = false;
	};

	explicit Impl(const std::string& path):
		_path(path),
		_session(new Poco::Data::SQLite::SessionImpl(path))
	{
		ChatStoreSchema::configure(_session, _path);
		_version = ChatStoreSchema::migrate(_session, ChatStoreSchema::migrations(), _path);

		_selectPeer = std::make_unique<CachedStatement>(_session, [this](Session& s) {
			return Statement((s << ChatStoreSchema::Sql::SELECT_PEER,
				use(_peerKey), into(_peerRowIds), into(_peerRelations)));
		});
		_insertPeer = std::make_unique<CachedStatement>(_session, [this](Session& s) {
			return Statement((s << ChatStoreSchema::Sql::INSERT_PEER,
				use(_peerKey), use(_newRelation), use(_newAddedMs), into(_peerRowIds)));
		});
		_insertMessage = std::make_unique<CachedStatement>(_session, [this](Session& s) {
			return Statement((s << ChatStoreSchema::Sql::INSERT_MESSAGE,
				use(_row.peer), use(_row.direction), use(_row.id), use(_row.state), use(_row.text),
				use(_row.senderMs), use(_row.localMs), use(_row.localMs), use(_row.path),
				into(_sequences)));
		});
		// Transaction control runs around every store call: prepared once too.
		auto control = [this](const char* sql) {
			return std::make_unique<CachedStatement>(_session, [sql](Session& s) { return Statement((s << sql)); });
		};
		_begin = control("BEGIN IMMEDIATE");
		_commit = control("COMMIT");
		_savepoint = control("SAVEPOINT nested");
		_release = control("RELEASE nested");
		_rollbackToSavepoint = control("ROLLBACK TO nested");
		_updateState = std::make_unique<CachedStatement>(_session, [this](Session& s) {
			return Statement((s << ChatStoreSchema::Sql::UPDATE_STATE,
				use(_change.state), use(_change.timeMs), use(_change.path), use(_change.reason),
				use(_peerKey), use(_change.id), use(_change.from1), use(_change.from2)));
		});
	}

	~Impl()
	{
		// Statements first: they hold the connection's prepared statements.
		_rollbackToSavepoint.reset();
		_release.reset();
		_savepoint.reset();
		_commit.reset();
		_begin.reset();
		_updateState.reset();
		_insertMessage.reset();
		_insertPeer.reset();
		_selectPeer.reset();
		try
		{
			_session.close();
		}
		catch (...)
		{
		}
	}

	std::optional<PeerRow> findPeer(const PeerId& peer)
	{
		_peerKey = blobOf(peer);
		_peerRowIds.clear();
		_peerRelations.clear();
		_selectPeer->execute();
		if (_peerRowIds.empty()) return std::nullopt;
		PeerRow row;
		row.rowId = _peerRowIds.front();
		row.relation = static_cast<Relation>(_peerRelations.front());
		return row;
	}

	PeerRow ensurePeer(const PeerId& peer, Relation relation, std::int64_t addedMs = 0)
		/// The peer's row, created with relation if the store did not know it.
	{
		if (auto row = findPeer(peer)) return *row;
		_peerKey = blobOf(peer);
		_newRelation = static_cast<Poco::Int32>(relation);
		_newAddedMs = addedMs > 0 ? addedMs : nowMs();
		_peerRowIds.clear();
		_insertPeer->execute();
		if (_peerRowIds.empty()) throw StoreException("cannot add peer " + peer.toString() + " in " + _path);
		PeerRow row;
		row.rowId = _peerRowIds.front();
		row.relation = relation;
		row.created = true;
		return row;
	}

	std::optional<std::int64_t> insertMessage(Poco::Int64 peerRow, MessageDirection direction, const std::string& id,
		MessageState state, const std::string& text, std::int64_t senderMs, std::int64_t localMs, const std::string& messagePath)
		/// The new message's sequence, or nothing if (peer, direction, id) is already stored.
	{
		_row.peer = peerRow;
		_row.direction = static_cast<Poco::Int32>(direction);
		_row.id = id;
		_row.state = static_cast<Poco::Int32>(state);
		_row.text = text;
		_row.senderMs = senderMs;
		_row.localMs = localMs;
		_row.path = messagePath;
		_sequences.clear();
		_insertMessage->execute();
		if (_sequences.empty()) return std::nullopt;
		return _sequences.front();
	}

	bool changeState(const PeerId& peer, const std::string& id, MessageState to,
		MessageState from1, MessageState from2, const std::string& deliveryPath, const std::string& reason)
	{
		_peerKey = blobOf(peer);
		_change.state = static_cast<Poco::Int32>(to);
		_change.timeMs = nowMs();
		_change.path = deliveryPath;
		_change.reason = reason;
		_change.id = id;
		_change.from1 = static_cast<Poco::Int32>(from1);
		_change.from2 = static_cast<Poco::Int32>(from2);
		return _updateState->execute() > 0;
	}

	std::vector<StoredMessage> messages(Statement& statement, std::vector<MessageRow>& rows)
	{
		statement.execute();
		std::vector<StoredMessage> result;
		result.reserve(rows.size());
		for (const MessageRow& row: rows) result.push_back(messageOf(row));
		return result;
	}

	void begin()
	{
		if (_depth == 0) _begin->execute();
		else _savepoint->execute();
		++_depth;
	}

	bool commit()
		/// True if this ended the outermost transaction.
	{
		if (_depth == 1) _commit->execute();
		else _release->execute();
		--_depth;
		return _depth == 0;
	}

	void rollback() noexcept
	{
		try
		{
			if (_depth == 1)
			{
				// A failed COMMIT may already have ended the transaction.
				if (!sqlite3_get_autocommit(Poco::Data::SQLite::Utility::dbHandle(_session)))
					_session << "ROLLBACK", now;
			}
			else
			{
				_rollbackToSavepoint->execute();
				_release->execute();
			}
		}
		catch (...)
		{
		}
		--_depth;
	}

	const std::string _path;
	Session _session;
	int _version = 0;
	int _depth = 0;

private:
	struct NewMessage
	{
		Poco::Int64 peer = 0;
		Poco::Int32 direction = 0;
		std::string id;
		Poco::Int32 state = 0;
		std::string text;
		Poco::Int64 senderMs = 0;
		Poco::Int64 localMs = 0;
		std::string path;
	};

	struct StateChange
	{
		Poco::Int32 state = 0;
		Poco::Int64 timeMs = 0;
		std::string path;
		std::string reason;
		std::string id;
		Poco::Int32 from1 = 0;
		Poco::Int32 from2 = 0;
	};

	// Parameters and results of the cached statements (bound by reference).
	BLOB _peerKey;
	std::vector<Poco::Int64> _peerRowIds;
	std::vector<Poco::Int32> _peerRelations;
	Poco::Int32 _newRelation = 0;
	Poco::Int64 _newAddedMs = 0;
	NewMessage _row;
	std::vector<Poco::Int64> _sequences;
	StateChange _change;

	std::unique_ptr<CachedStatement> _selectPeer;
	std::unique_ptr<CachedStatement> _insertPeer;
	std::unique_ptr<CachedStatement> _insertMessage;
	std::unique_ptr<CachedStatement> _updateState;
	std::unique_ptr<CachedStatement> _begin;
	std::unique_ptr<CachedStatement> _commit;
	std::unique_ptr<CachedStatement> _savepoint;
	std::unique_ptr<CachedStatement> _release;
	std::unique_ptr<CachedStatement> _rollbackToSavepoint;
};




// Names ----------------------------------------------------------------------------------


const char* messageDirectionName(MessageDirection direction)
{
	switch (direction)
	{
	case MessageDirection::OUTGOING: return "outgoing";
	case MessageDirection::INCOMING: return "incoming";
	}
	return "unknown";
}


const char* messageStateName(MessageState state)
{
	switch (state)
	{
	case MessageState::QUEUED:    return "queued";
	case MessageState::SENT:      return "sent";
	case MessageState::DELIVERED: return "delivered";
	case MessageState::REFUSED:   return "refused";
	case MessageState::RECEIVED:  return "received";
	}
	return "unknown";
}


std::optional<MessageDirection> parseMessageDirection(const std::string& name)
{
	for (MessageDirection direction: {MessageDirection::OUTGOING, MessageDirection::INCOMING})
	{
		if (name == messageDirectionName(direction)) return direction;
	}
	return std::nullopt;
}


std::optional<MessageState> parseMessageState(const std::string& name)
{
	for (MessageState state: {MessageState::QUEUED, MessageState::SENT, MessageState::DELIVERED,
		MessageState::REFUSED, MessageState::RECEIVED})
	{
		if (name == messageStateName(state)) return state;
	}
	return std::nullopt;
}


std::optional<Relation> parseRelation(const std::string& name)
{
	for (Relation relation: {Relation::STRANGER, Relation::CONTACT, Relation::BLOCKED})
	{
		if (name == relationName(relation)) return relation;
	}
	return std::nullopt;
}


// ChatStore ------------------------------------------------------------------------------


ChatStore::ChatStore(const Scheduler& loop, ChatStoreLimits limits):
	_loop(loop),
	_limits(limits)
{
	_loop.assertInLoopThread();
	if (_limits.maxStrangers == 0 || _limits.maxMessagesPerStranger == 0 || _limits.maxSearchTerms == 0)
		throw Poco::InvalidArgumentException("ChatStoreLimits: maxStrangers, maxMessagesPerStranger and maxSearchTerms must be positive");
}


ChatStore::~ChatStore()
{
	_loop.assertInLoopThread();
	_pImpl.reset();
}


ChatStore::Impl& ChatStore::impl() const
{
	_loop.assertInLoopThread();
	if (!_pImpl) throw Poco::IllegalStateException("the chat store is not open");
	return *_pImpl;
}


void ChatStore::open(const std::string& givenPath)
{
	_loop.assertInLoopThread();
	if (_pImpl) throw Poco::IllegalStateException("the chat store is already open: " + _pImpl->_path);
	if (givenPath.empty()) throw Poco::InvalidArgumentException("empty database path");
	// Absolute: SQLite would read a relative "file:..." as a URI.
	const std::string path = Poco::Path(givenPath).absolute().toString();

	createPrivateFile(path);
	checkPrivateFile(path, true);
	for (const char* suffix: {"-wal", "-shm", "-journal"}) checkPrivateFile(path + suffix, false);

	_pImpl = translated(path, "open the database", [&] { return std::make_unique<Impl>(path); });
	_stats = ChatStoreStats();
}


void ChatStore::close()
{
	_loop.assertInLoopThread();
	_pImpl.reset();
}


bool ChatStore::isOpen() const
{
	_loop.assertInLoopThread();
	return _pImpl != nullptr;
}


const std::string& ChatStore::path() const
{
	_loop.assertInLoopThread();
	static const std::string none;
	return _pImpl ? _pImpl->_path : none;
}


int ChatStore::schemaVersion() const
{
	return impl()._version;
}


void ChatStore::transaction(const std::function<void()>& work)
{
	Impl& store = impl();
	translated(store._path, "start a transaction", [&] {
		Impl::Scope scope(store, _stats);
		work();
		scope.commit();
	});
}


// Contacts -------------------------------------------------------------------------------


void ChatStore::upsertContact(const Contact& contact)
{
	checkSize(contact.alias, MAX_ALIAS_SIZE, "alias");
	checkSize(contact.name, SessionProtocol::MAX_NAME_SIZE, "name");
	checkSize(contact.lastPath, MAX_PATH_SIZE, "path");
	for (const std::string& address: contact.addresses) checkSize(address, MAX_ADDRESS_SIZE, "address");
	Impl& store = impl();
	translated(store._path, "save a contact", [&] {
		Impl::Scope scope(store, _stats);
		const Impl::PeerRow row = store.ensurePeer(contact.peer, contact.relation, contact.addedMs);
		Poco::Int64 rowId = row.rowId;
		Poco::Int32 relation = static_cast<Poco::Int32>(contact.relation);
		std::string alias = contact.alias;
		std::string name = contact.name;
		Poco::Int64 addedMs = contact.addedMs;
		Poco::Int64 lastSeenMs = contact.lastSeenMs;
		std::string lastPath = contact.lastPath;
		store._session << "UPDATE peers SET relation = ?, alias = ?, name = ?, last_seen_ms = ?, last_path = ?,"
			" added_ms = CASE WHEN ? > 0 THEN ? ELSE added_ms END WHERE id = ?",
			use(relation), use(alias), use(name), use(lastSeenMs), use(lastPath), use(addedMs), use(addedMs),
			use(rowId), now;
		store._session << "DELETE FROM peer_addresses WHERE peer = ?", use(rowId), now;
		Poco::Int32 position = 0;
		for (std::string address: contact.addresses)
		{
			if (static_cast<std::size_t>(position) == _limits.maxAddresses) break;
			store._session << "INSERT INTO peer_addresses (peer, position, address) VALUES (?, ?, ?)",
				use(rowId), use(position), use(address), now;
			++position;
		}
		scope.commit();
	});
}


std::optional<Contact> ChatStore::contact(const PeerId& peer) const
{
	Impl& store = impl();
	return translated(store._path, "read a contact", [&]() -> std::optional<Contact> {
		BLOB key = blobOf(peer);
		std::vector<Poco::Tuple<Poco::Int64, Poco::Int32, BLOB, BLOB, Poco::Int64, Poco::Int64, std::string>> rows;
		store._session << "SELECT id, relation, CAST(alias AS BLOB), CAST(name AS BLOB), added_ms, last_seen_ms, last_path"
			" FROM peers WHERE peer_id = ?",
			use(key), into(rows), now;
		if (rows.empty()) return std::nullopt;
		const auto& row = rows.front();
		Contact contact;
		contact.peer = peer;
		contact.relation = static_cast<Relation>(row.get<1>());
		contact.alias = textOf(row.get<2>());
		contact.name = textOf(row.get<3>());
		contact.addedMs = row.get<4>();
		contact.lastSeenMs = row.get<5>();
		contact.lastPath = row.get<6>();
		Poco::Int64 rowId = row.get<0>();
		store._session << "SELECT address FROM peer_addresses WHERE peer = ? ORDER BY position",
			use(rowId), into(contact.addresses), now;
		return contact;
	});
}


std::vector<Contact> ChatStore::contacts() const
{
	Impl& store = impl();
	return translated(store._path, "read the contacts", [&] {
		std::vector<Poco::Tuple<Poco::Int64, BLOB, Poco::Int32, BLOB, BLOB, Poco::Int64, Poco::Int64, std::string>> rows;
		store._session << "SELECT id, peer_id, relation, CAST(alias AS BLOB), CAST(name AS BLOB), added_ms, last_seen_ms,"
			" last_path FROM peers"
			" WHERE relation IN (1, 2) ORDER BY added_ms, id", into(rows), now;
		std::vector<Poco::Int64> addressPeers;
		std::vector<std::string> addresses;
		store._session << "SELECT a.peer, a.address FROM peer_addresses a JOIN peers p ON p.id = a.peer"
			" WHERE p.relation IN (1, 2) ORDER BY a.peer, a.position", into(addressPeers), into(addresses), now;
		std::map<Poco::Int64, std::vector<std::string>> addressesOf;
		for (std::size_t i = 0; i < addressPeers.size() && i < addresses.size(); ++i)
			addressesOf[addressPeers[i]].push_back(addresses[i]);

		std::vector<Contact> result;
		result.reserve(rows.size());
		for (const auto& row: rows)
		{
			Contact contact;
			contact.peer = peerOf(row.get<1>());
			contact.relation = static_cast<Relation>(row.get<2>());
			contact.alias = textOf(row.get<3>());
			contact.name = textOf(row.get<4>());
			contact.addedMs = row.get<5>();
			contact.lastSeenMs = row.get<6>();
			contact.lastPath = row.get<7>();
			auto it = addressesOf.find(row.get<0>());
			if (it != addressesOf.end()) contact.addresses = std::move(it->second);
			result.push_back(std::move(contact));
		}
		return result;
	});
}


void ChatStore::setAlias(const PeerId& peer, const std::string& alias)
{
	checkSize(alias, MAX_ALIAS_SIZE, "alias");
	Impl& store = impl();
	translated(store._path, "save an alias", [&] {
		Impl::Scope scope(store, _stats);
		Poco::Int64 rowId = store.ensurePeer(peer, Relation::CONTACT).rowId;
		std::string value = alias;
		store._session << "UPDATE peers SET alias = ? WHERE id = ?", use(value), use(rowId), now;
		scope.commit();
	});
}


void ChatStore::setRelation(const PeerId& peer, Relation relation)
{
	Impl& store = impl();
	translated(store._path, "save a relation", [&] {
		Impl::Scope scope(store, _stats);
		Poco::Int64 rowId = store.ensurePeer(peer, relation).rowId;
		Poco::Int32 value = static_cast<Poco::Int32>(relation);
		store._session << "UPDATE peers SET relation = ? WHERE id = ?", use(value), use(rowId), now;
		scope.commit();
	});
}


bool ChatStore::setName(const PeerId& peer, const std::string& name)
{
	checkSize(name, SessionProtocol::MAX_NAME_SIZE, "name");
	Impl& store = impl();
	return translated(store._path, "save a name", [&] {
		BLOB key = blobOf(peer);
		std::string value = name;
		Statement statement = (store._session << "UPDATE peers SET name = ? WHERE peer_id = ?", use(value), use(key));
		const bool changed = statement.execute() > 0;
		if (changed && store._depth == 0) ++_stats.transactions;
		return changed;
	});
}


bool ChatStore::touch(const PeerId& peer, std::int64_t lastSeenMs, const std::string& path)
{
	checkSize(path, MAX_PATH_SIZE, "path");
	Impl& store = impl();
	return translated(store._path, "save when a peer was seen", [&] {
		BLOB key = blobOf(peer);
		Poco::Int64 seen = lastSeenMs;
		std::string value = path;
		Statement statement = (store._session << "UPDATE peers SET last_seen_ms = ?, last_path = ? WHERE peer_id = ?",
			use(seen), use(value), use(key));
		const bool changed = statement.execute() > 0;
		if (changed && store._depth == 0) ++_stats.transactions;
		return changed;
	});
}


bool ChatStore::setAddresses(const PeerId& peer, const std::vector<std::string>& addresses)
{
	for (const std::string& address: addresses) checkSize(address, MAX_ADDRESS_SIZE, "address");
	Impl& store = impl();
	return translated(store._path, "save a peer's addresses", [&] {
		Impl::Scope scope(store, _stats);
		const auto row = store.findPeer(peer);
		if (!row) return false;
		Poco::Int64 rowId = row->rowId;
		store._session << "DELETE FROM peer_addresses WHERE peer = ?", use(rowId), now;
		Poco::Int32 position = 0;
		for (std::string address: addresses)
		{
			if (static_cast<std::size_t>(position) == _limits.maxAddresses) break;
			store._session << "INSERT INTO peer_addresses (peer, position, address) VALUES (?, ?, ?)",
				use(rowId), use(position), use(address), now;
			++position;
		}
		scope.commit();
		return true;
	});
}


// Messages -------------------------------------------------------------------------------


StoredMessage ChatStore::queueOutgoing(const PeerId& to, const std::string& id, const std::string& text,
	std::int64_t timestampMs)
{
	checkMessageId(id);
	checkSize(text, SessionProtocol::MAX_TEXT_SIZE, "message text");
	Impl& store = impl();
	return translated(store._path, "queue a message", [&] {
		Impl::Scope scope(store, _stats);
		const Impl::PeerRow row = store.ensurePeer(to, Relation::CONTACT);
		if (row.relation == Relation::STRANGER)
		{
			Poco::Int64 rowId = row.rowId;
			store._session << "UPDATE peers SET relation = 1 WHERE id = ?", use(rowId), now;
		}
		StoredMessage message;
		message.peer = to;
		message.id = id;
		message.direction = MessageDirection::OUTGOING;
		message.state = MessageState::QUEUED;
		message.text = text;
		message.timestampMs = timestampMs;
		message.localTimeMs = nowMs();
		message.stateTimeMs = message.localTimeMs;
		const auto sequence = store.insertMessage(row.rowId, message.direction, id, message.state, text,
			timestampMs, message.localTimeMs, std::string());
		if (!sequence)
			throw Poco::InvalidArgumentException("message ID " + id + " is already used for " + to.toString());
		message.sequence = *sequence;
		scope.commit();
		++_stats.queued;
		return message;
	});
}


bool ChatStore::markSent(const PeerId& peer, const std::string& id)
{
	Impl& store = impl();
	return translated(store._path, "mark a message sent", [&] {
		const bool changed = store.changeState(peer, id, MessageState::SENT, MessageState::QUEUED, MessageState::QUEUED,
			std::string(), std::string());
		if (changed && store._depth == 0) ++_stats.transactions;
		return changed;
	});
}


bool ChatStore::markDelivered(const PeerId& peer, const std::string& id, const std::string& path)
{
	checkSize(path, MAX_PATH_SIZE, "path");
	Impl& store = impl();
	return translated(store._path, "mark a message delivered", [&] {
		const bool changed = store.changeState(peer, id, MessageState::DELIVERED, MessageState::QUEUED, MessageState::SENT,
			path, std::string());
		if (changed && store._depth == 0) ++_stats.transactions;
		return changed;
	});
}


bool ChatStore::markRefused(const PeerId& peer, const std::string& id, const std::string& reason)
{
	Impl& store = impl();
	return translated(store._path, "mark a message refused", [&] {
		const bool changed = store.changeState(peer, id, MessageState::REFUSED, MessageState::QUEUED, MessageState::SENT,
			std::string(), utf8Prefix(reason, MAX_REASON_SIZE));
		if (changed && store._depth == 0) ++_stats.transactions;
		return changed;
	});
}


std::optional<StoredMessage> ChatStore::storeIncoming(const PeerId& from, const std::string& id, const std::string& text,
	std::int64_t timestampMs, const std::string& path)
{
	checkMessageId(id);
	checkSize(text, SessionProtocol::MAX_TEXT_SIZE, "message text");
	checkSize(path, MAX_PATH_SIZE, "path");
	Impl& store = impl();
	return translated(store._path, "store a received message", [&]() -> std::optional<StoredMessage> {
		Impl::Scope scope(store, _stats);
		const Impl::PeerRow row = store.ensurePeer(from, Relation::STRANGER);
		StoredMessage message;
		message.peer = from;
		message.id = id;
		message.direction = MessageDirection::INCOMING;
		message.state = MessageState::RECEIVED;
		message.text = text;
		message.timestampMs = timestampMs;
		message.localTimeMs = nowMs();
		message.stateTimeMs = message.localTimeMs;
		message.path = path;
		const auto sequence = store.insertMessage(row.rowId, message.direction, id, message.state, text,
			timestampMs, message.localTimeMs, path);
		if (!sequence)
		{
			// A retransmission: nothing changed; the empty transaction costs no fsync.
			scope.commit();
			++_stats.duplicatesDropped;
			return std::nullopt;
		}
		message.sequence = *sequence;

		if (row.relation == Relation::STRANGER)
		{
			// A stranger's writing costs the user bounded space: its newest messages, and the
			// strangers heard from most recently, are kept.
			Poco::Int64 rowId = row.rowId;
			Poco::Int64 seen = message.localTimeMs;
			store._session << "UPDATE peers SET last_seen_ms = ?, last_path = ? WHERE id = ?",
				use(seen), use(message.path), use(rowId), now;
			Poco::Int64 count = 0;
			store._session << ChatStoreSchema::Sql::STRANGER_MESSAGE_COUNT, use(rowId), into(count), now;
			Poco::Int64 excess = count - static_cast<Poco::Int64>(_limits.maxMessagesPerStranger);
			if (excess > 0)
			{
				Statement drop = (store._session << "DELETE FROM messages WHERE seq IN"
					" (SELECT seq FROM messages WHERE peer = ? ORDER BY seq LIMIT ?)", use(rowId), use(excess));
				_stats.strangerMessagesDropped += drop.execute();
			}
			if (row.created)
			{
				Poco::Int64 strangers = 0;
				store._session << ChatStoreSchema::Sql::STRANGER_COUNT, into(strangers), now;
				Poco::Int64 extra = strangers - static_cast<Poco::Int64>(_limits.maxStrangers);
				if (extra > 0)
				{
					Statement forget = (store._session << "DELETE FROM peers WHERE id IN"
						" (SELECT id FROM peers WHERE relation = 0 AND id <> ? ORDER BY last_seen_ms, id LIMIT ?)",
						use(rowId), use(extra));
					_stats.strangersForgotten += forget.execute();
				}
			}
		}
		scope.commit();
		++_stats.received;
		return message;
	});
}


std::vector<StoredMessage> ChatStore::pending() const
{
	Impl& store = impl();
	return translated(store._path, "read the outbox", [&] {
		std::vector<MessageRow> rows;
		Statement statement = (store._session << ChatStoreSchema::Sql::PENDING, into(rows));
		return store.messages(statement, rows);
	});
}


std::vector<StoredMessage> ChatStore::pending(const PeerId& peer) const
{
	Impl& store = impl();
	return translated(store._path, "read the outbox", [&] {
		std::vector<MessageRow> rows;
		BLOB key = blobOf(peer);
		Statement statement = (store._session << ChatStoreSchema::Sql::PENDING_OF_PEER, use(key), into(rows));
		return store.messages(statement, rows);
	});
}


std::size_t ChatStore::pendingCount() const
{
	Impl& store = impl();
	return translated(store._path, "count the outbox", [&] {
		Poco::Int64 count = 0;
		store._session << ChatStoreSchema::Sql::PENDING_COUNT, into(count), now;
		return static_cast<std::size_t>(count);
	});
}


std::size_t ChatStore::pendingCount(const PeerId& peer) const
{
	Impl& store = impl();
	return translated(store._path, "count the outbox", [&] {
		BLOB key = blobOf(peer);
		Poco::Int64 count = 0;
		store._session << ChatStoreSchema::Sql::PENDING_COUNT_OF_PEER, use(key), into(count), now;
		return static_cast<std::size_t>(count);
	});
}


std::optional<StoredMessage> ChatStore::message(const PeerId& peer, MessageDirection direction, const std::string& id) const
{
	Impl& store = impl();
	return translated(store._path, "read a message", [&]() -> std::optional<StoredMessage> {
		std::vector<MessageRow> rows;
		BLOB key = blobOf(peer);
		Poco::Int32 directionValue = static_cast<Poco::Int32>(direction);
		std::string messageId = id;
		Statement statement = (store._session << ChatStoreSchema::Sql::MESSAGE,
			use(key), use(directionValue), use(messageId), into(rows));
		std::vector<StoredMessage> found = store.messages(statement, rows);
		if (found.empty()) return std::nullopt;
		return std::move(found.front());
	});
}


std::vector<StoredMessage> ChatStore::history(const PeerId& peer, std::size_t count, std::int64_t beforeSequence) const
{
	Impl& store = impl();
	return translated(store._path, "read a conversation", [&] {
		std::vector<MessageRow> rows;
		BLOB key = blobOf(peer);
		Poco::Int64 before = beforeSequence > 0 ? beforeSequence : NO_SEQUENCE_LIMIT;
		Poco::Int64 limit = static_cast<Poco::Int64>(std::min(count, MAX_PAGE));
		rows.reserve(static_cast<std::size_t>(limit));   // no copies of rows as the vector grows
		Statement statement = (store._session << ChatStoreSchema::Sql::HISTORY,
			use(key), use(before), use(limit), into(rows));
		std::vector<StoredMessage> result = store.messages(statement, rows);
		std::reverse(result.begin(), result.end());
		return result;
	});
}


std::vector<SearchResult> ChatStore::search(const std::string& words, std::size_t limit,
	const std::string& matchBegin, const std::string& matchEnd) const
{
	checkSize(matchBegin, MAX_MARKER_SIZE, "match marker");
	checkSize(matchEnd, MAX_MARKER_SIZE, "match marker");
	Impl& store = impl();
	std::string expression = searchExpression(words, _limits.maxSearchTerms);
	if (expression.empty() || limit == 0) return {};
	return translated(store._path, "search the messages", [&] {
		std::vector<Poco::Tuple<Poco::Int64, BLOB, BLOB, Poco::Int32, Poco::Int32, Poco::Int64, Poco::Int64, BLOB>> rows;
		std::string begin = matchBegin;
		std::string end = matchEnd;
		std::string ellipsis = "\u2026";
		Poco::Int32 tokens = static_cast<Poco::Int32>(SNIPPET_TOKENS);
		Poco::Int64 maxRows = static_cast<Poco::Int64>(std::min(limit, MAX_PAGE));
		rows.reserve(static_cast<std::size_t>(maxRows));
		store._session << ChatStoreSchema::Sql::SEARCH,
			use(begin), use(end), use(ellipsis), use(tokens), use(expression), use(maxRows), into(rows), now;
		std::vector<SearchResult> results;
		results.reserve(rows.size());
		for (const auto& row: rows)
		{
			SearchResult result;
			result.sequence = row.get<0>();
			result.peer = peerOf(row.get<1>());
			result.id = textOf(row.get<2>());
			result.direction = static_cast<MessageDirection>(row.get<3>());
			result.state = static_cast<MessageState>(row.get<4>());
			result.timestampMs = row.get<5>();
			result.localTimeMs = row.get<6>();
			result.snippet = textOf(row.get<7>());
			results.push_back(std::move(result));
		}
		return results;
	});
}


std::size_t ChatStore::deleteConversation(const PeerId& peer)
{
	Impl& store = impl();
	return translated(store._path, "delete a conversation", [&] {
		Impl::Scope scope(store, _stats);
		BLOB key = blobOf(peer);
		Statement statement = (store._session << "DELETE FROM messages WHERE peer = (SELECT id FROM peers WHERE peer_id = ?)",
			use(key));
		const std::size_t deleted = statement.execute();
		scope.commit();
		return deleted;
	});
}


std::size_t ChatStore::pruneConversation(const PeerId& peer, std::size_t keepNewest)
{
	Impl& store = impl();
	return translated(store._path, "prune a conversation", [&] {
		Impl::Scope scope(store, _stats);
		const auto row = store.findPeer(peer);
		if (!row)
		{
			scope.commit();
			return std::size_t(0);
		}
		Poco::Int64 rowId = row->rowId;
		Poco::Int64 keep = static_cast<Poco::Int64>(std::min<std::size_t>(keepNewest,
			static_cast<std::size_t>(std::numeric_limits<Poco::Int64>::max())));
		Statement statement = (store._session << "DELETE FROM messages WHERE peer = ? AND state NOT IN (0, 1) AND seq <"
			" (SELECT coalesce(min(seq), 9223372036854775807) FROM"
			"  (SELECT seq FROM messages WHERE peer = ? ORDER BY seq DESC LIMIT ?))",
			use(rowId), use(rowId), use(keep));
		const std::size_t deleted = statement.execute();
		scope.commit();
		return deleted;
	});
}


bool ChatStore::forgetPeer(const PeerId& peer)
{
	Impl& store = impl();
	return translated(store._path, "forget a peer", [&] {
		Impl::Scope scope(store, _stats);
		BLOB key = blobOf(peer);
		Statement statement = (store._session << "DELETE FROM peers WHERE peer_id = ?", use(key));
		const bool deleted = statement.execute() > 0;
		scope.commit();
		return deleted;
	});
}


// File transfers ---------------------------------------------------------------------------


namespace {


using TransferRow = Poco::Tuple<BLOB, std::string, Poco::Int32, Poco::Int32, BLOB, Poco::Int64, BLOB, Poco::Int64,
	BLOB, BLOB, BLOB, Poco::Int64, BLOB, Poco::Int64, Poco::Int64, BLOB>;


StoredTransfer transferOf(const TransferRow& row)
{
	StoredTransfer transfer;
	transfer.peer = peerOf(row.get<0>());
	transfer.id = row.get<1>();
	transfer.direction = static_cast<TransferDirection>(row.get<2>());
	transfer.state = static_cast<TransferState>(row.get<3>());
	transfer.name = textOf(row.get<4>());
	transfer.size = static_cast<std::uint64_t>(std::max<Poco::Int64>(row.get<5>(), 0));
	transfer.sha256 = textOf(row.get<6>());
	transfer.blockSize = static_cast<std::uint32_t>(row.get<7>());
	transfer.hashes = textOf(row.get<8>());
	transfer.have = textOf(row.get<9>());
	transfer.localPath = textOf(row.get<10>());
	transfer.fileMtimeNs = row.get<11>();
	transfer.group = textOf(row.get<12>());
	transfer.createdMs = row.get<13>();
	transfer.stateMs = row.get<14>();
	transfer.error = textOf(row.get<15>());
	return transfer;
}


BLOB blobOf(const std::string& bytes)
{
	return BLOB(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size());
}


} // namespace


void ChatStore::saveTransfer(const StoredTransfer& transfer)
{
	if (transfer.id.size() != 32) throw Poco::InvalidArgumentException("a transfer ID has 32 characters");
	if (transfer.sha256.size() != 32) throw Poco::InvalidArgumentException("a SHA-256 digest has 32 bytes");
	checkSize(transfer.name, SessionProtocol::MAX_FILE_NAME_SIZE, "file name");
	checkSize(transfer.group, 64, "group ID");
	Impl& store = impl();
	translated(store._path, "save a transfer", [&] {
		Impl::Scope scope(store, _stats);
		Poco::Int64 rowId = store.ensurePeer(transfer.peer, Relation::CONTACT).rowId;
		const bool final = transferStateFinal(transfer.state);
		std::string id = transfer.id;
		Poco::Int32 direction = static_cast<Poco::Int32>(transfer.direction);
		Poco::Int32 state = static_cast<Poco::Int32>(transfer.state);
		std::string name = transfer.name;
		Poco::Int64 size = static_cast<Poco::Int64>(transfer.size);
		BLOB sha256 = blobOf(transfer.sha256);
		Poco::Int64 blockSize = transfer.blockSize;
		BLOB hashes = blobOf(final ? std::string() : transfer.hashes);
		BLOB have = blobOf(final ? std::string() : transfer.have);
		std::string localPath = transfer.localPath;
		Poco::Int64 mtime = transfer.fileMtimeNs;
		std::string group = transfer.group;
		Poco::Int64 created = transfer.createdMs > 0 ? transfer.createdMs : nowMs();
		Poco::Int64 stateMs = nowMs();
		std::string error = utf8Prefix(transfer.error, MAX_REASON_SIZE);
		store._session << "INSERT INTO transfers (peer, transfer_id, direction, state, name, size, sha256, block_size,"
			" hashes, have, local_path, file_mtime_ns, group_id, created_ms, state_ms, error)"
			" VALUES (?, ?, ?, ?, ?, ?, ?, ?, coalesce(?, x''), coalesce(?, x''), ?, ?, ?, ?, ?, ?)"
			" ON CONFLICT (peer, direction, transfer_id) DO UPDATE SET state = excluded.state, name = excluded.name,"
			" size = excluded.size, sha256 = excluded.sha256, block_size = excluded.block_size, hashes = excluded.hashes,"
			" have = excluded.have, local_path = excluded.local_path, file_mtime_ns = excluded.file_mtime_ns,"
			" group_id = excluded.group_id, state_ms = excluded.state_ms, error = excluded.error",
			use(rowId), use(id), use(direction), use(state), use(name), use(size), use(sha256), use(blockSize),
			use(hashes), use(have), use(localPath), use(mtime), use(group), use(created), use(stateMs), use(error), now;
		scope.commit();
	});
}


bool ChatStore::setTransferState(const PeerId& peer, TransferDirection direction, const std::string& id, TransferState state,
	const std::string& error)
{
	Impl& store = impl();
	return translated(store._path, "save a transfer's state", [&] {
		Impl::Scope scope(store, _stats);
		BLOB key = blobOf(peer);
		Poco::Int32 directionValue = static_cast<Poco::Int32>(direction);
		Poco::Int32 stateValue = static_cast<Poco::Int32>(state);
		Poco::Int64 stateMs = nowMs();
		std::string reason = utf8Prefix(error, MAX_REASON_SIZE);
		std::string transferId = id;
		Statement statement = transferStateFinal(state)
			? (store._session << "UPDATE transfers SET state = ?, state_ms = ?, error = ?, hashes = x'', have = x''"
				" WHERE peer = (SELECT id FROM peers WHERE peer_id = ?) AND direction = ? AND transfer_id = ?",
				use(stateValue), use(stateMs), use(reason), use(key), use(directionValue), use(transferId))
			: (store._session << "UPDATE transfers SET state = ?, state_ms = ?, error = ?"
				" WHERE peer = (SELECT id FROM peers WHERE peer_id = ?) AND direction = ? AND transfer_id = ?",
				use(stateValue), use(stateMs), use(reason), use(key), use(directionValue), use(transferId));
		const bool changed = statement.execute() > 0;
		scope.commit();
		return changed;
	});
}


bool ChatStore::setTransferHave(const PeerId& peer, const std::string& id, const std::string& have)
{
	Impl& store = impl();
	return translated(store._path, "save a transfer's progress", [&] {
		Impl::Scope scope(store, _stats);
		BLOB key = blobOf(peer);
		BLOB bits = blobOf(have);
		std::string transferId = id;
		Statement statement = (store._session << ChatStoreSchema::Sql::UPDATE_TRANSFER_HAVE, use(bits), use(key), use(transferId));
		const bool changed = statement.execute() > 0;
		scope.commit();
		return changed;
	});
}


std::optional<StoredTransfer> ChatStore::transfer(const PeerId& peer, TransferDirection direction, const std::string& id) const
{
	Impl& store = impl();
	return translated(store._path, "read a transfer", [&]() -> std::optional<StoredTransfer> {
		BLOB key = blobOf(peer);
		Poco::Int32 directionValue = static_cast<Poco::Int32>(direction);
		std::string transferId = id;
		std::vector<TransferRow> rows;
		store._session << ChatStoreSchema::Sql::TRANSFER, use(key), use(directionValue), use(transferId), into(rows), now;
		if (rows.empty()) return std::nullopt;
		return transferOf(rows.front());
	});
}


std::vector<StoredTransfer> ChatStore::activeTransfers() const
{
	Impl& store = impl();
	return translated(store._path, "read the transfers", [&] {
		std::vector<TransferRow> rows;
		store._session << ChatStoreSchema::Sql::ACTIVE_TRANSFERS, into(rows), now;
		std::vector<StoredTransfer> result;
		result.reserve(rows.size());
		for (const TransferRow& row: rows) result.push_back(transferOf(row));
		return result;
	});
}


std::vector<StoredTransfer> ChatStore::recentTransfers(std::size_t count) const
{
	Impl& store = impl();
	return translated(store._path, "read the transfers", [&] {
		Poco::Int64 limit = static_cast<Poco::Int64>(std::min(count, MAX_PAGE));
		std::vector<TransferRow> rows;
		store._session << ChatStoreSchema::Sql::RECENT_TRANSFERS, use(limit), into(rows), now;
		std::vector<StoredTransfer> result;
		result.reserve(rows.size());
		for (const TransferRow& row: rows) result.push_back(transferOf(row));
		return result;
	});
}


void ChatStore::setAutoAccept(const PeerId& peer, std::uint64_t maxBytes)
{
	Impl& store = impl();
	translated(store._path, "save the auto-accept setting", [&] {
		Impl::Scope scope(store, _stats);
		Poco::Int64 rowId = store.ensurePeer(peer, Relation::CONTACT).rowId;
		if (maxBytes == 0)
		{
			store._session << "DELETE FROM file_auto_accept WHERE peer = ?", use(rowId), now;
		}
		else
		{
			Poco::Int64 limit = static_cast<Poco::Int64>(std::min<std::uint64_t>(maxBytes,
				static_cast<std::uint64_t>(std::numeric_limits<Poco::Int64>::max())));
			store._session << "INSERT INTO file_auto_accept (peer, max_bytes) VALUES (?, ?)"
				" ON CONFLICT (peer) DO UPDATE SET max_bytes = excluded.max_bytes", use(rowId), use(limit), now;
		}
		scope.commit();
	});
}


std::uint64_t ChatStore::autoAccept(const PeerId& peer) const
{
	Impl& store = impl();
	return translated(store._path, "read the auto-accept setting", [&] {
		BLOB key = blobOf(peer);
		std::vector<Poco::Int64> limits;
		store._session << "SELECT a.max_bytes FROM file_auto_accept a JOIN peers p ON p.id = a.peer WHERE p.peer_id = ?",
			use(key), into(limits), now;
		return limits.empty() ? std::uint64_t(0) : static_cast<std::uint64_t>(std::max<Poco::Int64>(limits.front(), 0));
	});
}


std::string ChatStore::check() const
{
	Impl& store = impl();
	return translated(store._path, "check the database", [&] {
		std::vector<std::string> problems;
		store._session << "PRAGMA integrity_check", into(problems), now;
		std::string report;
		for (const std::string& problem: problems) report += (report.empty() ? "" : "\n") + problem;
		if (report != "ok") return report;
		try
		{
			// The full-text index against the texts it indexes.
			store._session << "INSERT INTO messages_fts (messages_fts) VALUES ('integrity-check')", now;
		}
		catch (const Poco::Data::DataException& exc)
		{
			return "full-text index: " + exc.message();
		}
		return report;
	});
}


const ChatStoreStats& ChatStore::stats() const
{
	_loop.assertInLoopThread();
	return _stats;
}


Poco::Data::Session& ChatStore::database()
{
	return impl()._session;
}


std::string ChatStore::searchExpression(const std::string& words, std::size_t maxTerms)
{
	// ASCII white space separates words; everything else (quotes, parentheses, NEAR, AND, OR,
	// NOT, ':', '^', '-', '+', any UTF-8) is part of a word and only ever appears quoted.
	auto isSpace = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; };
	std::string expression;
	std::size_t terms = 0;
	std::size_t i = 0;
	while (i < words.size() && terms < maxTerms)
	{
		while (i < words.size() && isSpace(words[i])) ++i;
		const std::size_t start = i;
		while (i < words.size() && !isSpace(words[i])) ++i;
		std::string word;
		for (std::size_t j = start; j < i; ++j)
		{
			if (words[j] != '\0') word += words[j];   // a NUL would end the query early
		}
		bool prefix = false;
		while (!word.empty() && word.back() == '*')
		{
			word.pop_back();
			prefix = true;
		}
		word = utf8Prefix(word, MAX_SEARCH_WORD_SIZE);
		if (word.empty()) continue;
		// A prefix query costs as much as all the matches of the prefix (FTS5 merges the
		// lists of every word that starts with it): a short prefix is searched as a word.
		std::size_t characters = 0;
		for (char c: word) characters += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
		if (characters < MIN_PREFIX_CHARACTERS) prefix = false;
		if (!expression.empty()) expression += ' ';
		expression += '"';
		for (char c: word)
		{
			if (c == '"') expression += '"';   // an FTS5 string doubles its quotes
			expression += c;
		}
		expression += '"';
		if (prefix) expression += '*';
		++terms;
	}
	return expression;
}


} } // namespace CrossChat::Chat
