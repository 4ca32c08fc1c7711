//
// GroupLog.h
//
// Library: Chat
// Private: a group's membership log — signed, versioned entries, validated and chosen the same
// way by every member (see docs/PROTOCOL.md, "Groups").
// This is an internal header file, it is not installed; do not include it from outside Chat/src.
//


#ifndef CrossChat_Chat_GroupLog_INCLUDED
#define CrossChat_Chat_GroupLog_INCLUDED


#include "CrossChat/Identity.h"
#include "CrossChat/PeerId.h"
#include "Poco/JSON/Object.h"
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>


namespace CrossChat {
namespace Chat {


enum class GroupOp: std::uint8_t
	/// What a log entry does. The numbers are signed and stored: never renumber.
{
	CREATE = 1,    ///< Version 1: the founder founds the group with its name.
	ADD = 2,       ///< An admin adds a member that accepted an invitation (its join signature inside).
	REMOVE = 3,    ///< An admin removes a member (the founder may remove admins too).
	PROMOTE = 4,   ///< The founder makes a member an admin.
	RENAME = 5,    ///< An admin renames the group.
	LEAVE = 6      ///< A member leaves (signed by itself).
};


enum class GroupRole: std::uint8_t
{
	MEMBER = 0,
	ADMIN = 1,
	FOUNDER = 2
};


const char* groupOpName(GroupOp op);
	/// "create", "add", "remove", "promote", "rename", "leave" (the wire's names).

const char* groupRoleName(GroupRole role);
	/// "member", "admin", "founder".


namespace GroupIds
	/// Group IDs: 32 random bytes; text form 64 lowercase hex digits.
{
	constexpr std::size_t SIZE = 32;
	std::string nonce();
		/// 32 bytes from OpenSSL's RAND_bytes.
	std::string derive(const PeerId& founder, const std::string& nonce);
		/// The ID of the group founder founds with nonce: SHA-256 of "crosschat/group-id/1" 0x00,
		/// the founder's ID bytes and the nonce. Nobody else can found a group with that ID.
	std::string toText(const std::string& raw);
	std::optional<std::string> fromText(const std::string& text);
		/// The raw bytes of a valid text form (upper case accepted), or nothing.
	std::string shortText(const std::string& raw);
		/// The first 8 hex digits, for display.
}


namespace GroupCodec
	/// Binary fields in JSON: standard base64 with padding, checked for an exact size.
{
	std::string toBase64(const std::string& bytes);
	std::string fromBase64(const std::string& text, std::size_t size, const char* field);
		/// Throws MessageException naming field unless text is base64 of exactly size bytes.
	std::string string(const Poco::JSON::Object& object, const char* field, std::size_t maxSize);
		/// A required string field of at most maxSize bytes (MessageException otherwise).
	std::uint64_t unsignedInteger(const Poco::JSON::Object& object, const char* field);
		/// A required integer in 0..2^53 (JSON's exact range).
	PeerId peerId(const Poco::JSON::Object& object, const char* field);
		/// A required peer ID in its text form.
	std::string sha256(const std::string& bytes);
}


struct GroupEntry
	/// One signed entry of a membership log. signedBytes() is what the author signs (see
	/// PROTOCOL.md, "Groups", for the exact layout); hash() names the entry (the next one's
	/// prev).
{
	static constexpr std::size_t HASH_SIZE = 32;

	std::string group;             ///< 32 raw bytes.
	std::uint64_t version = 0;     ///< 1 for CREATE; each entry is its prev's version + 1.
	std::string prev;              ///< hash() of the entry at version - 1; empty for version 1.
	GroupOp op = GroupOp::CREATE;
	PeerId author;
	std::string authorKey;         ///< The author's raw Ed25519 key (32 bytes): its PeerId is checked.
	PeerId target;                 ///< Whom the entry is about (the author for CREATE and LEAVE; null for RENAME).
	std::string targetKey;         ///< ADD: the new member's raw key; else empty.
	std::string join;              ///< ADD: the new member's signature of joinBytes(); else empty.
	std::string name;              ///< CREATE and RENAME: the group's name; else empty.
	std::string nonce;             ///< CREATE: the 32 bytes the group's ID is derived from (GroupIds::derive()).
	bool shareHistory = false;     ///< CREATE: new members get older messages.
	std::uint64_t seq = 0;         ///< REMOVE and LEAVE: the target's last message sequence that stays valid.
	std::int64_t timestampMs = 0;  ///< The author's clock (informational).
	std::string signature;         ///< 64 bytes, Ed25519 by authorKey over signedBytes().

	std::string signedBytes() const;
	std::string hash() const;
		/// SHA-256 of signedBytes() followed by the signature.
	void sign(const Identity& identity);
		/// Sets author, authorKey and signature.

	Poco::JSON::Object::Ptr toJson() const;
	static GroupEntry fromJson(const Poco::JSON::Object& object);
		/// Throws MessageException naming the bad field (types, sizes, base64, IDs). Does not
		/// check signatures or rules: GroupLog does.

	static std::string joinBytes(const std::string& group, const PeerId& member);
		/// What a member signs to accept an invitation into group.
};


struct GroupState
	/// What a log says after its last entry.
{
	struct Member
	{
		GroupRole role = GroupRole::MEMBER;
		std::string key;                 ///< Raw Ed25519 key.
		std::uint64_t addedVersion = 0;  ///< The entry that (last) added it: it sees messages from there on.
	};

	std::string name;
	bool shareHistory = false;
	std::uint64_t version = 0;
	std::string head;                                ///< hash() of the last entry; empty for an empty log.
	std::map<PeerId, Member> members;
	std::map<PeerId, std::uint64_t> departed;        ///< Removed or left members: their last valid sequence.

	bool isMember(const PeerId& id) const;
	bool isAdmin(const PeerId& id) const;
		/// Founder or admin.
	std::optional<GroupRole> role(const PeerId& id) const;
};


class GroupLog
	/// The membership log of one group: a chain of GroupEntry from CREATE (whose author and
	/// nonce the group's ID is derived from), each signed by a member allowed to make it in the
	/// state before it. Competing chains (signed at the same version by two authors) are
	/// resolved the same way everywhere, by a total order: from their first differing entry
	/// on, the roles of the entries' authors where each was signed (founder > admin > member)
	/// are compared entry by entry and the first higher role wins, so that no fork undoes a
	/// founder's decision; a chain that goes on where the other stops (the higher version)
	/// wins; at equal versions, the one whose last entry has the smaller hash (bytewise). A
	/// chain that forks more than MAX_FORK_DEPTH versions before our last entry is not taken
	/// (old decisions are final). A segment that is invalid from some entry on is cut there.
	///
	/// Bounded: MAX_ENTRIES entries, MAX_MEMBERS members; entries beyond are invalid.
	///
	/// Thread rules: not thread-safe; used on the loop thread. Ownership: a value.
{
public:
	static constexpr std::size_t MAX_ENTRIES = 1024;
	static constexpr std::size_t MAX_MEMBERS = 256;
	static constexpr std::size_t MAX_NAME_SIZE = 64;
	static constexpr std::size_t MAX_FORK_DEPTH = 32;

	enum class Offer
	{
		ADOPTED,       ///< The segment made a better chain: it is ours now.
		UNCHANGED,     ///< Nothing new, or a chain that loses to ours.
		NEED_EARLIER,  ///< Its first entry does not follow one we have: ask for entries from further back.
		                 ///  (UNCHANGED if it could only fork deeper than MAX_FORK_DEPTH.)
		INVALID        ///< Its first entry breaks a rule (error() says which); nothing taken.
	};

	explicit GroupLog(std::string group);
		/// An empty log of group (32 raw bytes).

	static GroupLog create(const Identity& founder, const std::string& name, bool shareHistory, std::int64_t timestampMs);
		/// A new group (a fresh nonce, the ID derived from it) and its log's CREATE entry.
		/// Throws Poco::InvalidArgumentException for an invalid name.

	const std::string& group() const;
	const GroupState& state() const;
	const std::vector<GroupEntry>& entries() const;
	bool empty() const;
	const std::string& error() const;
		/// Why the last offer() or append() stopped.

	Offer offer(const std::vector<GroupEntry>& segment, std::uint64_t* pFirstChanged = nullptr);
		/// Entries from some version on, in order (as a peer sent them). Verifies each new
		/// entry's signatures and rules against the state before it and adopts the resulting
		/// chain if it beats ours; pFirstChanged gets the first version that differs.

	std::optional<GroupEntry> append(const Identity& author, GroupEntry entry);
		/// Signs entry (op and its fields set by the caller; version, prev, group filled in
		/// here) on top of our chain and applies it; nothing if the rules forbid it (error()).

	static std::string validate(const GroupState& before, const GroupEntry& entry, const std::string& group);
		/// Empty if entry may follow state before (version, prev, signature, role rules);
		/// else what is wrong.

	static void apply(GroupState& state, const GroupEntry& entry);
		/// Applies a valid entry.

private:
	std::string _group;
	std::vector<GroupEntry> _entries;
	GroupState _state;
	std::string _error;
};


} } // namespace CrossChat::Chat


#endif // CrossChat_Chat_GroupLog_INCLUDED
