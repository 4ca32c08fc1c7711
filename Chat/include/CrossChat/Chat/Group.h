//
// Group.h
//
// Library: Chat
// What ChatNode tells library users about group conversations (see ChatNode's group calls).
//


#ifndef CrossChat_Chat_Group_INCLUDED
#define CrossChat_Chat_Group_INCLUDED


#include "CrossChat/PeerId.h"
#include <cstdint>
#include <string>
#include <vector>


namespace CrossChat {
namespace Chat {


struct GroupMember
	/// One member of a group as its membership log says.
{
	PeerId id;
	std::string role;                  ///< "founder", "admin" or "member".
	std::string name;                  ///< The member's display name as we know it (terminal-safe).
	bool connected = false;            ///< A session with it is up now.
};


struct GroupInfo
	/// A snapshot of one group.
{
	std::string id;                    ///< 64 lowercase hex digits (32 random bytes): the group ID's text form.
	std::string name;                  ///< The name the log gives it (checked UTF-8, no control characters).
	std::string state;                 ///< "invited" (an invitation we have not answered), "joining" (accepted,
	                                   ///< waiting for an admin to add us), "member", "left" or "removed".
	std::string role;                  ///< Ours while a member: "founder", "admin" or "member"; else empty.
	PeerId inviter;                    ///< Who invited us (null for a group we founded).
	std::size_t members = 0;           ///< Members in the log.
	std::uint64_t version = 0;         ///< The membership log's version (its number of entries).
	bool shareHistory = false;         ///< New members get the messages written before they joined.
	std::vector<GroupMember> memberList;   ///< Filled by ChatNode::groupMembers() and group events only.
};


struct GroupMessage
	/// A message of a group conversation, received or our own.
{
	std::string group;                 ///< The group ID's text form.
	std::string id;                    ///< The author's unique message ID.
	PeerId from;                       ///< The author.
	std::string name;                  ///< The author's display name as we know it (terminal-safe).
	std::string text;                  ///< As written (untrusted when from a peer: make it terminal-safe to print).
	std::int64_t timestampMs = 0;      ///< The author's clock, ms since the Unix epoch.
	std::uint64_t seq = 0;             ///< The author's sequence number in this group (1, 2, ...).
	std::int64_t sequence = 0;         ///< Our store's order of delivery (0 without a database).
	bool own = false;                  ///< Written by us.
};


struct GroupChange
	/// Something that changed about a group (membership, name, our invitations).
{
	std::string kind;                  ///< "created", "invited" (an invitation came), "joined" (we became a
	                                   ///< member), "added", "removed", "left", "promoted", "renamed",
	                                   ///< "declined" (we ignored an invitation).
	std::string group;                 ///< The group ID's text form.
	std::string name;                  ///< The group's name (after a rename: the new one).
	PeerId peer;                       ///< Whom it is about (added, removed, left, promoted; invited: the inviter).
	PeerId by;                         ///< Who signed the change (null for changes of our own state).
	std::uint64_t version = 0;         ///< The log version after the change.
};


struct GroupStats
	/// Counters of the group service (tests, benchmarks, status).
{
	std::uint64_t posted = 0;             ///< Messages we wrote.
	std::uint64_t delivered = 0;          ///< Others' messages delivered (in each author's order).
	std::uint64_t duplicates = 0;         ///< Copies of messages already delivered or held.
	std::uint64_t held = 0;               ///< Messages held back until their predecessor came.
	std::uint64_t heldDropped = 0;        ///< Held messages dropped (bounds or time); gap exchange fetches them again.
	std::uint64_t forwarded = 0;          ///< Copies sent to other members (fan-out, gap answers).
	std::uint64_t refused = 0;            ///< Group input refused: non-members, bad signatures, broken rules, malformed.
	std::uint64_t gapRequests = 0;        ///< "group_want" sent.
	std::uint64_t gapAnswers = 0;         ///< Messages sent in answer to them.
	std::uint64_t logAdopted = 0;         ///< Log segments that changed our chain.
};


} } // namespace CrossChat::Chat


#endif // CrossChat_Chat_Group_INCLUDED
