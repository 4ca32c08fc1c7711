//
// GroupWire.h
//
// Library: Chat
// Private: the bodies of the group session messages (types 16..22), encoded and parsed in one
// place for both ends and the fuzzer (see docs/PROTOCOL.md, "Groups").
// This is an internal header file, it is not installed; do not include it from outside Chat/src.
//


#ifndef CrossChat_Chat_GroupWire_INCLUDED
#define CrossChat_Chat_GroupWire_INCLUDED


#include "GroupLog.h"
#include "CrossChat/Identity.h"
#include "CrossChat/PeerId.h"
#include "Poco/JSON/Object.h"
#include <cstdint>
#include <string>
#include <utility>
#include <vector>


namespace CrossChat {
namespace Chat {


struct GroupPost
	/// One group message as its author signed it ("group_msg"). signedBytes() is what the
	/// author signs (PROTOCOL.md, "Groups").
{
	std::string group;             ///< 32 raw bytes.
	PeerId author;
	std::string authorKey;         ///< Raw Ed25519 key (32 bytes).
	std::uint64_t seq = 0;         ///< The author's sequence in this group: 1, 2, ...
	std::string id;                ///< Unique message ID (1..64 bytes).
	std::uint64_t version = 0;     ///< The author's membership log version when it wrote the message.
	std::uint64_t prevVersion = 0; ///< The log version of the author's previous message (0 for its first).
	std::int64_t timestampMs = 0;
	std::string text;              ///< UTF-8, at most SessionProtocol::MAX_TEXT_SIZE bytes.
	std::string signature;
	std::vector<PeerId> forwardTo;  ///< Not signed, per hop: members the sender did not reach, for the receiver
	                                ///< to hand it on to (at most GroupLog::MAX_MEMBERS).

	std::string signedBytes() const;
	void sign(const Identity& identity);
		/// Sets author, authorKey and signature.
	bool verify() const;
		/// The key names the author and the signature is valid.
	Poco::JSON::Object toJson() const;
	static GroupPost fromJson(const Poco::JSON::Object& body);
		/// Throws MessageException naming the bad field (also for text that is not UTF-8).
	std::size_t wireSize() const;
		/// About the bytes it takes on the wire (for answer budgets).
};


namespace GroupWire
	/// Encoders and parsers of the other group messages. Every parser throws MessageException
	/// naming the bad field; sizes are bounded by the constants below and by the catalog's
	/// schemas (SessionProtocol).
{
	constexpr std::size_t MAX_LOG_PAGE = 48;      ///< Entries per "group_log".
	constexpr std::size_t MAX_SEEN = 512;         ///< Authors per "group_sync".
	constexpr std::size_t MAX_WANTS = 32;         ///< Ranges per "group_want".

	struct Invite
	{
		std::string group;
		std::string name;
		std::uint64_t members = 0;
		bool shareHistory = false;
	};

	struct Accept
	{
		std::string group;
		std::string key;        ///< The invitee's raw key.
		std::string join;       ///< Its signature of GroupEntry::joinBytes().
	};

	struct Sync
	{
		std::string group;
		std::uint64_t version = 0;
		std::string head;                                      ///< Empty for an empty log.
		std::vector<std::pair<PeerId, std::uint64_t>> seen;    ///< Last sequence delivered per author.
		bool reply = false;                                    ///< An answer to a sync: not answered again.
	};

	struct Want
	{
		PeerId author;
		std::uint64_t from = 0;
		std::uint64_t to = 0;
	};

	std::string group(const Poco::JSON::Object& body);
		/// The raw ID in "group".

	Poco::JSON::Object invite(const Invite& invite);
	Invite parseInvite(const Poco::JSON::Object& body);
	Poco::JSON::Object accept(const Accept& accept);
	Accept parseAccept(const Poco::JSON::Object& body);
	Poco::JSON::Object log(const std::string& group, const std::vector<GroupEntry>& entries);
	std::vector<GroupEntry> parseLog(const Poco::JSON::Object& body);
		/// The entries in order of version, with their group set; at most MAX_LOG_PAGE,
		/// consecutive versions.
	Poco::JSON::Object logRequest(const std::string& group, std::uint64_t from);
	std::uint64_t parseLogRequest(const Poco::JSON::Object& body);
	Poco::JSON::Object sync(const Sync& sync);
	Sync parseSync(const Poco::JSON::Object& body);
	Poco::JSON::Object want(const std::string& group, const std::vector<Want>& wants);
	std::vector<Want> parseWant(const Poco::JSON::Object& body);
}


} } // namespace CrossChat::Chat


#endif // CrossChat_Chat_GroupWire_INCLUDED
