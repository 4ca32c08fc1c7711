//
// ChatStore.h
//
// Library: Chat
// The durable memory of one identity: contacts, conversations, the outbox, in one SQLite file.
//


#ifndef CrossChat_Chat_ChatStore_INCLUDED
#define CrossChat_Chat_ChatStore_INCLUDED


#include "CrossChat/Chat/Relation.h"
#include "CrossChat/Chat/Transfer.h"
#include "CrossChat/PeerId.h"
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>


namespace Poco {
namespace Data {
class Session;
} } // namespace Poco::Data


namespace CrossChat {


class Scheduler;


namespace Chat {


enum class MessageDirection
	/// Who wrote a stored message. The numbers are stored in the database: never renumber.
{
	OUTGOING = 0,   ///< We wrote it to the peer.
	INCOMING = 1    ///< The peer wrote it to us.
};


enum class MessageState
	/// Where a stored message stands. The numbers are stored in the database: never renumber.
{
	QUEUED = 0,     ///< Outgoing, accepted from the user, not yet written to a session.
	SENT = 1,       ///< Outgoing, written to a session at least once, no receipt yet.
	DELIVERED = 2,  ///< Outgoing, the peer's receipt arrived. Final.
	REFUSED = 3,    ///< Outgoing, the peer refused it (the reason is kept). Final.
	RECEIVED = 4    ///< Incoming.
};


const char* messageDirectionName(MessageDirection direction);
	/// "outgoing" or "incoming". Safe to call from any thread.

const char* messageStateName(MessageState state);
	/// "queued", "sent", "delivered", "refused" or "received" (the names of JSON output).
	/// Safe to call from any thread.

std::optional<MessageDirection> parseMessageDirection(const std::string& name);
	/// The direction named by messageDirectionName(), or nothing. Safe to call from any thread.

std::optional<MessageState> parseMessageState(const std::string& name);
	/// The state named by messageStateName(), or nothing. Safe to call from any thread.

std::optional<Relation> parseRelation(const std::string& name);
	/// The relation named by relationName() (Relation.h), or nothing. Safe to call from any thread.


struct StoredMessage
	/// One message of a conversation as the store keeps it.
{
	std::int64_t sequence = 0;        ///< The store's order: unique, increasing in the order messages were
	                                  ///< stored (queued or received), never reused. Orders history and outbox.
	PeerId peer;                      ///< The other side of the conversation (recipient or sender).
	std::string id;                   ///< The message ID (the sender's; unique per peer and direction).
	MessageDirection direction = MessageDirection::OUTGOING;
	MessageState state = MessageState::QUEUED;
	std::string text;                 ///< As written (outgoing) or received (incoming), unchanged.
	std::int64_t timestampMs = 0;     ///< The sender's clock, ms since the Unix epoch (the wire's "ts").
	std::int64_t localTimeMs = 0;     ///< Our clock when it was stored (queued or received).
	std::int64_t stateTimeMs = 0;     ///< Our clock at the last change of state (delivery, refusal).
	std::string path;                 ///< The path it arrived on, or was delivered on ("direct", "relay", ...);
	                                  ///< empty while not delivered.
	std::string reason;               ///< Why the peer refused it (REFUSED only).
};


struct Contact
	/// What the store keeps about one peer.
{
	PeerId peer;
	Relation relation = Relation::CONTACT;
	std::string alias;                ///< The user's own name for the peer; empty if none.
	std::string name;                 ///< The name the peer last gave itself; empty if unknown.
	std::int64_t addedMs = 0;         ///< When the store first heard of it (our clock, ms since the epoch).
	std::int64_t lastSeenMs = 0;      ///< When a session with it was last up; 0 if never.
	std::string lastPath;             ///< The path of that session ("direct", "relay", ...); empty if never.
	std::vector<std::string> addresses;   ///< The chat addresses it announced ("host:port", numeric), in its
	                                      ///< order, so that a contact can be redialed after a restart.
};


struct SearchResult
	/// One message found by ChatStore::search().
{
	std::int64_t sequence = 0;
	PeerId peer;
	std::string id;
	MessageDirection direction = MessageDirection::OUTGOING;
	MessageState state = MessageState::QUEUED;
	std::int64_t timestampMs = 0;     ///< The sender's clock.
	std::int64_t localTimeMs = 0;     ///< Our clock when stored.
	std::string snippet;              ///< Up to about 12 words of the text around the match, matches between
	                                  ///< the markers given to search(), "…" where text was cut. Peer text:
	                                  ///< make it terminal-safe before printing.
};


struct ChatStoreLimits
	/// Bounds of what the store keeps for peers the user has not chosen, and of requests.
{
	std::size_t maxStrangers = 50;              ///< Strangers whose messages are kept; beyond this, the stranger heard
	                                            ///< from least recently is forgotten (peer row and messages).
	std::size_t maxMessagesPerStranger = 50;    ///< A stranger's oldest messages are dropped beyond this.
	std::size_t maxAddresses = 16;              ///< Addresses kept per peer; setAddresses() keeps the first ones.
	std::size_t maxSearchTerms = 16;            ///< Words of a search beyond this are ignored.
};


struct ChatStoreStats
	/// Counters since open(). Read them for tests, logs and status output.
{
	std::uint64_t queued = 0;                   ///< Outgoing messages stored.
	std::uint64_t received = 0;                 ///< Incoming messages stored.
	std::uint64_t duplicatesDropped = 0;        ///< storeIncoming() calls that found the ID already stored.
	std::uint64_t strangerMessagesDropped = 0;  ///< Messages dropped by maxMessagesPerStranger.
	std::uint64_t strangersForgotten = 0;       ///< Strangers dropped by maxStrangers.
	std::uint64_t transactions = 0;             ///< Transactions committed (each one is an fsync of the log).
};


class ChatStore
	/// The durable state of one identity, kept in one SQLite database (through Poco::Data::SQLite),
	/// normally FILE_NAME in the identity's data directory:
	///   - contacts: every peer the user wrote to, accepted or blocked, with its alias, the name
	///     it gives itself, when and over which path it was last seen, and the addresses it
	///     announced (and, within ChatStoreLimits, strangers that wrote to us);
	///   - the history of every conversation: each message sent or received, with its state
	///     (queued, sent, delivered, refused, received);
	///   - the outbox: the outgoing messages not yet delivered nor refused (state queued or
	///     sent), per peer in the order they were written, surviving restarts;
	///   - the IDs of the messages received from each peer, so that a retransmission is
	///     dropped, across restarts too;
	///   - a full-text index (SQLite FTS5) of all message texts.
	///
	/// Durability: the database runs in WAL mode with synchronous=FULL, so every committed
	/// transaction is fsync()ed before the call returns. A message that queueOutgoing() or
	/// storeIncoming() returned for survives the end of the program, kill -9, a crash of the
	/// system and a power loss (as far as the disk honours fsync). Each call that writes is
	/// one transaction unless it runs inside transaction(), which makes a burst one commit.
	///
	/// Single owner: the connection uses SQLite's exclusive locking mode, so while a ChatStore
	/// has the file open, any other connection (another process, another ChatStore, the
	/// sqlite3 shell) gets StoreLockedException (or "database is locked") at once, and no -shm
	/// file exists. Inspect the file with sqlite3 after the program has ended.
	///
	/// Files: the database is created with mode 0600 before SQLite opens it (SQLite gives its
	/// -wal file the same mode). open() refuses (StoreUnsafeException) a database file or
	/// companion file that is a symbolic link, not a regular file, owned by another user, or
	/// readable or writable by group or others, and names the chmod to run, as ssh does for
	/// keys: a database that others could read has already leaked, so the user must know.
	///
	/// Schema: versioned; open() applies the missing migrations in order, each in its own
	/// transaction, and refuses a database from a newer version (StoreVersionException) or
	/// one that is damaged or belongs to another program (StoreCorruptException).
	///
	/// Every value is bound as an SQL parameter; no SQL is ever built from data. Texts, names
	/// and addresses from peers are stored as given (the session has validated them) and never
	/// interpreted. Search words are turned into an FTS5 query in which each word is a quoted
	/// string, so that no input is an FTS5 syntax error or operator (see searchExpression()).
	///
	/// Errors: every method throws StoreException (or a subclass, see ChatException.h) when
	/// SQLite fails, and Poco::IllegalStateException when the store is not open; a method
	/// whose write fails has changed nothing.
	///
	/// Thread rules: every method, the constructor and the destructor must be called from the
	/// scheduler's thread, the loop thread (asserted, also in release builds). Each call runs a
	/// few short SQLite statements on that thread and, when it writes, waits for one fsync;
	/// that suits chat-rate calls. Put bursts (many messages at once) in one transaction().
	/// Ownership: does not own the scheduler, which must outlive the store; owns the database
	/// connection.
{
public:
	static constexpr const char* FILE_NAME = "crosschat.db";
		/// The database's name in the data directory.

	static constexpr int SCHEMA_VERSION = 4;
		/// The newest schema this code knows; open() migrates older files up to it.

	static constexpr std::size_t MAX_PAGE = 1000;
		/// The most messages history() returns at once.

	explicit ChatStore(const Scheduler& loop, ChatStoreLimits limits = {});
		/// Creates a closed store. Must be called from the loop thread.

	~ChatStore();
		/// Closes the store. Must be called from the loop thread.

	ChatStore(const ChatStore&) = delete;
	ChatStore& operator=(const ChatStore&) = delete;

	void open(const std::string& path);
		/// Opens the database at path, creating it (mode 0600) if it does not exist, and
		/// migrates it to SCHEMA_VERSION. Throws StoreUnsafeException, StoreCorruptException,
		/// StoreVersionException, StoreLockedException or StoreException, each naming the file;
		/// Poco::IllegalStateException if already open. Must be called from the loop thread.

	void close();
		/// Closes the database (SQLite checkpoints its log into the file). Idempotent.
		/// Must be called from the loop thread.

	bool isOpen() const;
		/// Must be called from the loop thread.

	const std::string& path() const;
		/// The database file, absolute; empty while closed. Must be called from the loop thread.

	int schemaVersion() const;
		/// The schema version of the open database (SCHEMA_VERSION after open()).
		/// Must be called from the loop thread.

	void transaction(const std::function<void()>& work);
		/// Runs work, and every store call it makes, as one transaction: one commit, one fsync.
		/// If work throws, everything it changed is rolled back and the exception propagates.
		/// Nests: an inner transaction() is a savepoint of the outer one. What a write inside
		/// returns is durable only when the outermost transaction() returns.
		/// Must be called from the loop thread.

	// Contacts ---------------------------------------------------------------------------

	void upsertContact(const Contact& contact);
		/// Creates the peer or replaces all its fields (addedMs 0 means now, or keep the
		/// stored one; addresses beyond maxAddresses are dropped). Must be called from the loop thread.

	std::optional<Contact> contact(const PeerId& peer) const;
		/// The peer, whatever its relation, or nothing if the store does not know it.
		/// Must be called from the loop thread.

	std::vector<Contact> contacts() const;
		/// Every contact and blocked peer (not strangers), in the order they were added.
		/// Must be called from the loop thread.

	void setAlias(const PeerId& peer, const std::string& alias);
		/// Sets (or, with an empty alias, clears) the user's name for the peer; creates the
		/// peer as a CONTACT if unknown. Must be called from the loop thread.

	void setRelation(const PeerId& peer, Relation relation);
		/// Accepts, blocks or demotes the peer; creates it if unknown. A STRANGER becomes
		/// subject to the stranger limits again. Must be called from the loop thread.

	bool setName(const PeerId& peer, const std::string& name);
		/// Records the name the peer gives itself. False (and nothing stored) if the peer is
		/// unknown: a stranger that never wrote leaves no trace. Must be called from the loop thread.

	bool touch(const PeerId& peer, std::int64_t lastSeenMs, const std::string& path);
		/// Records that a session with the peer was up at lastSeenMs over path. False if the
		/// peer is unknown. Must be called from the loop thread.

	bool setAddresses(const PeerId& peer, const std::vector<std::string>& addresses);
		/// Replaces the addresses the peer announced (the first maxAddresses are kept). False
		/// if the peer is unknown. Must be called from the loop thread.

	// Messages ---------------------------------------------------------------------------

	StoredMessage queueOutgoing(const PeerId& to, const std::string& id, const std::string& text,
		std::int64_t timestampMs);
		/// Stores a message the user wrote, state QUEUED, at the end of the peer's outbox, and
		/// returns it with its sequence. Durable when it returns (or when the enclosing
		/// transaction() does). Creates the peer as a CONTACT if unknown and makes a STRANGER a
		/// CONTACT (writing to a peer accepts it); a BLOCKED peer stays blocked. Throws
		/// Poco::InvalidArgumentException if id is empty, longer than
		/// SessionProtocol::MAX_MESSAGE_ID_SIZE or already used for this peer, or text is
		/// longer than SessionProtocol::MAX_TEXT_SIZE. Must be called from the loop thread.

	bool markSent(const PeerId& peer, const std::string& id);
		/// QUEUED -> SENT: the message was written to a session. False if it is not QUEUED.
		/// Must be called from the loop thread.

	bool markDelivered(const PeerId& peer, const std::string& id, const std::string& path = std::string());
		/// QUEUED or SENT -> DELIVERED: the peer's receipt arrived (over path). The message
		/// leaves the outbox. False if there is no such pending message (a repeated receipt,
		/// or one for a message that was not sent to this peer). Must be called from the loop thread.

	bool markRefused(const PeerId& peer, const std::string& id, const std::string& reason);
		/// QUEUED or SENT -> REFUSED, keeping the peer's reason: the peer will not take it.
		/// The message leaves the outbox. False if there is no such pending message.
		/// Must be called from the loop thread.

	std::optional<StoredMessage> storeIncoming(const PeerId& from, const std::string& id, const std::string& text,
		std::int64_t timestampMs, const std::string& path);
		/// Stores a received message (state RECEIVED) and returns it, or returns nothing if a
		/// message with this ID from this peer is already stored (a retransmission: drop it,
		/// but acknowledge it again). Storing and the duplicate check are one statement, and
		/// the message is durable when this returns: send the receipt after it, never before.
		/// Creates an unknown peer as a STRANGER; for a stranger, the stranger limits apply
		/// (its oldest messages, or the least recent stranger, may be dropped). Throws
		/// Poco::InvalidArgumentException for an empty or over-long ID or an over-long text
		/// (see queueOutgoing()). Must be called from the loop thread.

	std::vector<StoredMessage> pending() const;
		/// The whole outbox: every QUEUED or SENT message, in sequence order.
		/// Must be called from the loop thread.

	std::vector<StoredMessage> pending(const PeerId& peer) const;
		/// The peer's outbox, in sequence order. Must be called from the loop thread.

	std::size_t pendingCount() const;
		/// How many messages are in the outbox (for "/quit: 3 messages still waiting").
		/// Must be called from the loop thread.

	std::size_t pendingCount(const PeerId& peer) const;
		/// How many of them are for the peer. Must be called from the loop thread.

	std::optional<StoredMessage> message(const PeerId& peer, MessageDirection direction, const std::string& id) const;
		/// One message, or nothing. Must be called from the loop thread.

	std::vector<StoredMessage> history(const PeerId& peer, std::size_t count,
		std::int64_t beforeSequence = 0) const;
		/// The last count (at most MAX_PAGE) messages of the conversation with the peer, both
		/// directions, oldest first and newest last. With beforeSequence > 0, the last count
		/// messages before that sequence: pass the first returned message's sequence to page
		/// back. Must be called from the loop thread.

	std::vector<SearchResult> search(const std::string& words, std::size_t limit,
		const std::string& matchBegin = "[", const std::string& matchEnd = "]") const;
		/// Messages of all conversations that contain every word of words (case- and
		/// accent-insensitive, whole words; a word of 3 or more characters ending in '*'
		/// matches as a prefix, which costs as much as all its matches), newest
		/// first, at most limit (at most MAX_PAGE). words is the user's input as typed: any
		/// text is valid and means only words, never FTS5 syntax. Empty (or nothing but
		/// punctuation) finds nothing. Must be called from the loop thread.

	std::size_t deleteConversation(const PeerId& peer);
		/// Deletes every message of the conversation, outbox included, and returns how many.
		/// The peer itself stays. Must be called from the loop thread.

	std::size_t pruneConversation(const PeerId& peer, std::size_t keepNewest);
		/// Deletes the messages of the conversation that are older than its newest keepNewest,
		/// except those still in the outbox, and returns how many. Must be called from the loop
		/// thread.

	bool forgetPeer(const PeerId& peer);
		/// Deletes the peer and its whole conversation. False if it was unknown.
		/// Must be called from the loop thread.

	// File transfers ---------------------------------------------------------------------

	void saveTransfer(const StoredTransfer& transfer);
		/// Creates the transfer (peer, direction, id), or replaces every field of it; creates an
		/// unknown peer as a CONTACT (only transfers the user chose are stored: its own, and
		/// offers it accepted). A final state empties hashes and have (they only serve a resume).
		/// Throws Poco::InvalidArgumentException for an id that is not 32 characters, a digest
		/// that is not 32 bytes, or a name over 255 bytes. Must be called from the loop thread.

	bool setTransferState(const PeerId& peer, TransferDirection direction, const std::string& id, TransferState state,
		const std::string& error = std::string());
		/// Records a new state (and, for a final one, empties hashes and have). False if there is
		/// no such transfer. Must be called from the loop thread.

	bool setTransferHave(const PeerId& peer, const std::string& id, const std::string& have);
		/// Incoming: the bitmap of the blocks verified and synced to disk. False if there is no
		/// such unfinished incoming transfer. Must be called from the loop thread.

	std::optional<StoredTransfer> transfer(const PeerId& peer, TransferDirection direction, const std::string& id) const;
		/// Must be called from the loop thread.

	std::vector<StoredTransfer> activeTransfers() const;
		/// Every unfinished transfer (not COMPLETE, REJECTED, CANCELLED or FAILED), oldest first:
		/// what resumes at start. Must be called from the loop thread.

	std::vector<StoredTransfer> recentTransfers(std::size_t count) const;
		/// The last count (at most MAX_PAGE) transfers, newest first. Must be called from the loop
		/// thread.

	void setAutoAccept(const PeerId& peer, std::uint64_t maxBytes);
		/// Offers from peer up to maxBytes are accepted without asking; 0 turns it off. Creates
		/// an unknown peer as a CONTACT. Must be called from the loop thread.

	std::uint64_t autoAccept(const PeerId& peer) const;
		/// The peer's auto-accept limit, 0 if none. Must be called from the loop thread.

	std::string check() const;
		/// Runs SQLite's integrity check over the whole file: "ok", or the problems found.
		/// Reads everything: for tests and repair tools, not for the loop's normal work.
		/// Must be called from the loop thread.

	const ChatStoreStats& stats() const;
		/// Counters since open(). Must be called from the loop thread.

	Poco::Data::Session& database();
		/// The open connection, for the library's own stores of features that keep their
		/// tables in this file (groups: GroupStore; their migrations are in ChatStoreSchema).
		/// Writes outside transaction() commit one statement at a time. Throws
		/// Poco::IllegalStateException when the store is not open. Must be called from the
		/// loop thread.

	static std::string searchExpression(const std::string& words, std::size_t maxTerms);
		/// The FTS5 query search() runs for words: each whitespace-separated word as an FTS5
		/// string (in double quotes, inner quotes doubled, NUL bytes dropped), all of them
		/// required; a word ending in '*' becomes a prefix query of the word without its stars
		/// if that has at least 3 characters (else it is searched as a whole word). At most
		/// maxTerms words, each of at most 256 bytes; empty if there is no word.
		/// Safe to call from any thread.

private:
	class Impl;

	Impl& impl() const;

	const Scheduler& _loop;
	const ChatStoreLimits _limits;
	std::unique_ptr<Impl> _pImpl;   ///< The open database; null while closed.
	mutable ChatStoreStats _stats;
};


} } // namespace CrossChat::Chat


#endif // CrossChat_Chat_ChatStore_INCLUDED
