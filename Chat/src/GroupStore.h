//
// GroupStore.h
//
// Library: Chat
// Private: groups, their membership logs and their messages in the identity's database.
// This is an internal header file, it is not installed; do not include it from outside Chat/src.
//


#ifndef CrossChat_Chat_GroupStore_INCLUDED
#define CrossChat_Chat_GroupStore_INCLUDED


#include "GroupLog.h"
#include "GroupWire.h"
#include "CrossChat/Chat/ChatStore.h"
#include "CrossChat/Chat/Group.h"
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>


namespace CrossChat {
namespace Chat {


class GroupStore
	/// The group tables of ChatStore's database (schema version 2, ChatStoreSchema): one row
	/// per group with our state in it, the winning chain of its membership log (each entry's
	/// JSON), and its delivered messages with their signatures so that they can be handed on
	/// in gap answers. Every value is bound as a parameter.
	///
	/// Thread rules: loop thread only (ChatStore's). Ownership: does not own the ChatStore,
	/// which must stay open while this is used.
{
public:
	struct GroupRow
	{
		std::string group;                   ///< Raw ID.
		int state = 0;                       ///< GroupService::State.
		PeerId inviter;
		std::string name;                    ///< The invitation's name until the log is known.
		bool shareHistory = false;
		std::vector<std::string> entries;    ///< The log's entries as JSON, in order.
	};

	struct AuthorRow
	{
		PeerId author;
		std::uint64_t last = 0;              ///< Its last delivered sequence.
		std::uint64_t lastVersion = 0;       ///< That message's log version.
	};

	explicit GroupStore(ChatStore& store);

	void transaction(const std::function<void()>& work);
		/// ChatStore::transaction(): one commit for several calls.
	std::vector<GroupRow> groups();
	void saveGroup(const std::string& group, int state, const PeerId& inviter, const std::string& name, bool shareHistory);
	void saveLog(const std::string& group, const std::vector<GroupEntry>& entries, std::uint64_t fromVersion);
		/// Replaces the stored chain from fromVersion on by entries[fromVersion - 1 ...].
	std::optional<std::int64_t> addMessage(const GroupPost& post);
		/// The new row's sequence, or nothing for a duplicate.
	std::vector<AuthorRow> authors(const std::string& group);
	std::vector<GroupPost> range(const std::string& group, const PeerId& author, std::uint64_t from, std::uint64_t to,
		std::size_t limit);
	std::vector<GroupMessage> history(const std::string& group, std::size_t count, std::int64_t beforeSequence);
		/// The last count messages (at most ChatStore::MAX_PAGE), oldest first; before
		/// beforeSequence if it is positive.
	void forget(const std::string& group);

private:
	ChatStore& _store;
};


} } // namespace CrossChat::Chat


#endif // CrossChat_Chat_GroupStore_INCLUDED
