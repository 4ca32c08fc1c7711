//
// GroupStore.cpp
//
// Library: Chat
//


#include "GroupStore.h"
#include "CrossChat/Chat/ChatException.h"
#include "Poco/Data/LOB.h"
#include "Poco/Data/Session.h"
#include "Poco/Data/Statement.h"
#include "Poco/JSON/Parser.h"
#include "Poco/JSON/Stringifier.h"
#include "Poco/Tuple.h"
#include <chrono>
#include <limits>
#include <sstream>


using namespace Poco::Data::Keywords;
using Poco::Data::BLOB;
using Poco::Data::Statement;


namespace CrossChat {
namespace Chat {


namespace {


std::int64_t nowMs()
{
	return std::chrono::duration_cast<std::chrono::milliseconds>(
		std::chrono::system_clock::now().time_since_epoch()).count();
}


std::string textOf(const BLOB& blob)
{
	return std::string(reinterpret_cast<const char*>(blob.rawContent()), blob.size());
}


template <typename Work>
auto guarded(ChatStore& store, const char* what, Work work) -> decltype(work())
	/// Poco::Data's exceptions as StoreException naming the file.
{
	try
	{
		return work();
	}
	catch (const StoreException&)
	{
		throw;
	}
	catch (const Poco::Exception& exc)
	{
		throw StoreException("cannot " + std::string(what) + " in " + store.path(), exc.displayText());
	}
}


} // namespace


GroupStore::GroupStore(ChatStore& store):
	_store(store)
{
}


void GroupStore::transaction(const std::function<void()>& work)
{
	_store.transaction(work);
}


std::vector<GroupStore::GroupRow> GroupStore::groups()
{
	return guarded(_store, "read the groups", [&] {
		Poco::Data::Session& db = _store.database();
		std::vector<Poco::Tuple<Poco::Int64, std::string, Poco::Int32, std::string, std::string, Poco::Int32>> rows;
		db << "SELECT id, group_id, state, inviter, name, share FROM group_chats ORDER BY id", into(rows), now;
		std::vector<GroupRow> result;
		for (const auto& row: rows)
		{
			auto raw = GroupIds::fromText(row.get<1>());
			if (!raw) continue;
			GroupRow group;
			group.group = *raw;
			group.state = row.get<2>();
			if (auto inviter = PeerId::tryParse(row.get<3>())) group.inviter = *inviter;
			group.name = row.get<4>();
			group.shareHistory = row.get<5>() != 0;
			Poco::Int64 rowId = row.get<0>();
			std::vector<BLOB> entries;
			db << "SELECT CAST(entry AS BLOB) FROM group_log WHERE grp = ? ORDER BY version", use(rowId), into(entries), now;
			for (const BLOB& entry: entries) group.entries.push_back(textOf(entry));
			result.push_back(std::move(group));
		}
		return result;
	});
}


void GroupStore::saveGroup(const std::string& group, int state, const PeerId& inviter, const std::string& name, bool shareHistory)
{
	guarded(_store, "save a group", [&] {
		std::string id = GroupIds::toText(group);
		Poco::Int32 stateValue = state;
		std::string inviterText = inviter.isNull() ? std::string() : inviter.toString();
		std::string groupName = name;
		Poco::Int32 share = shareHistory ? 1 : 0;
		Poco::Int64 updated = nowMs();
		_store.database() << "INSERT INTO group_chats (group_id, state, inviter, name, share, updated_ms) VALUES (?, ?, ?, ?, ?, ?)"
			" ON CONFLICT (group_id) DO UPDATE SET state = excluded.state, inviter = excluded.inviter, name = excluded.name,"
			" share = excluded.share, updated_ms = excluded.updated_ms",
			use(id), use(stateValue), use(inviterText), use(groupName), use(share), use(updated), now;
	});
}


void GroupStore::saveLog(const std::string& group, const std::vector<GroupEntry>& entries, std::uint64_t fromVersion)
{
	guarded(_store, "save a group's log", [&] {
		_store.transaction([&] {
			Poco::Data::Session& db = _store.database();
			std::string id = GroupIds::toText(group);
			Poco::Int64 from = static_cast<Poco::Int64>(fromVersion);
			db << "DELETE FROM group_log WHERE grp = (SELECT id FROM group_chats WHERE group_id = ?) AND version >= ?",
				use(id), use(from), now;
			for (std::size_t i = fromVersion == 0 ? 0 : fromVersion - 1; i < entries.size(); ++i)
			{
				std::ostringstream json;
				Poco::JSON::Stringifier::condense(entries[i].toJson(), json);
				std::string text = json.str();
				Poco::Int64 version = static_cast<Poco::Int64>(entries[i].version);
				db << "INSERT INTO group_log (grp, version, entry) SELECT id, ?, ? FROM group_chats WHERE group_id = ?",
					use(version), use(text), use(id), now;
			}
		});
	});
}


std::optional<std::int64_t> GroupStore::addMessage(const GroupPost& post)
{
	return guarded(_store, "store a group message", [&]() -> std::optional<std::int64_t> {
		std::string id = GroupIds::toText(post.group);
		std::string author = post.author.toString();
		Poco::Int64 seq = static_cast<Poco::Int64>(post.seq);
		std::string messageId = post.id;
		Poco::Int64 version = static_cast<Poco::Int64>(post.version);
		Poco::Int64 prevVersion = static_cast<Poco::Int64>(post.prevVersion);
		Poco::Int64 senderMs = post.timestampMs;
		Poco::Int64 localMs = nowMs();
		std::string text = post.text;
		std::string key = GroupCodec::toBase64(post.authorKey);
		std::string signature = GroupCodec::toBase64(post.signature);
		std::vector<Poco::Int64> sequences;
		_store.database() << "INSERT INTO group_messages (grp, author, author_seq, msg_id, version, prev_version, sender_ms,"
			" local_ms, text, akey, sig) SELECT id, ?, ?, ?, ?, ?, ?, ?, ?, ?, ? FROM group_chats WHERE group_id = ?"
			" ON CONFLICT (grp, author, author_seq) DO NOTHING RETURNING seq",
			use(author), use(seq), use(messageId), use(version), use(prevVersion), use(senderMs), use(localMs),
			use(text), use(key), use(signature), use(id), into(sequences), now;
		if (sequences.empty()) return std::nullopt;
		return sequences.front();
	});
}


std::vector<GroupStore::AuthorRow> GroupStore::authors(const std::string& group)
{
	return guarded(_store, "read a group's authors", [&] {
		std::string id = GroupIds::toText(group);
		std::vector<Poco::Tuple<std::string, Poco::Int64, Poco::Int64>> rows;
		_store.database() << "SELECT m.author, m.author_seq, m.version FROM group_messages m"
			" JOIN (SELECT author, max(author_seq) AS last FROM group_messages"
			"       WHERE grp = (SELECT id FROM group_chats WHERE group_id = ?) GROUP BY author) a"
			" ON m.author = a.author AND m.author_seq = a.last"
			" WHERE m.grp = (SELECT id FROM group_chats WHERE group_id = ?)",
			use(id), use(id), into(rows), now;
		std::vector<AuthorRow> result;
		for (const auto& row: rows)
		{
			auto author = PeerId::tryParse(row.get<0>());
			if (!author) continue;
			result.push_back(AuthorRow{*author, static_cast<std::uint64_t>(row.get<1>()), static_cast<std::uint64_t>(row.get<2>())});
		}
		return result;
	});
}


std::vector<GroupPost> GroupStore::range(const std::string& group, const PeerId& author, std::uint64_t from, std::uint64_t to,
	std::size_t limit)
{
	return guarded(_store, "read group messages", [&] {
		std::string id = GroupIds::toText(group);
		std::string authorText = author.toString();
		Poco::Int64 first = static_cast<Poco::Int64>(from);
		Poco::Int64 last = static_cast<Poco::Int64>(std::min<std::uint64_t>(to, std::numeric_limits<Poco::Int64>::max()));
		Poco::Int64 count = static_cast<Poco::Int64>(limit);
		std::vector<Poco::Tuple<Poco::Int64, BLOB, Poco::Int64, Poco::Int64, Poco::Int64, BLOB, std::string, std::string>> rows;
		_store.database() << "SELECT author_seq, CAST(msg_id AS BLOB), version, prev_version, sender_ms, CAST(text AS BLOB), akey, sig"
			" FROM group_messages WHERE grp = (SELECT id FROM group_chats WHERE group_id = ?) AND author = ?"
			" AND author_seq BETWEEN ? AND ? ORDER BY author_seq LIMIT ?",
			use(id), use(authorText), use(first), use(last), use(count), into(rows), now;
		std::vector<GroupPost> result;
		for (const auto& row: rows)
		{
			GroupPost post;
			post.group = group;
			post.author = author;
			post.seq = static_cast<std::uint64_t>(row.get<0>());
			post.id = textOf(row.get<1>());
			post.version = static_cast<std::uint64_t>(row.get<2>());
			post.prevVersion = static_cast<std::uint64_t>(row.get<3>());
			post.timestampMs = row.get<4>();
			post.text = textOf(row.get<5>());
			try
			{
				post.authorKey = GroupCodec::fromBase64(row.get<6>(), 32, "akey");
				post.signature = GroupCodec::fromBase64(row.get<7>(), 64, "sig");
			}
			catch (const Poco::Exception&)
			{
				continue;
			}
			result.push_back(std::move(post));
		}
		return result;
	});
}


std::vector<GroupMessage> GroupStore::history(const std::string& group, std::size_t count, std::int64_t beforeSequence)
{
	return guarded(_store, "read a group's history", [&] {
		std::string id = GroupIds::toText(group);
		Poco::Int64 before = beforeSequence > 0 ? beforeSequence : std::numeric_limits<Poco::Int64>::max();
		Poco::Int64 limit = static_cast<Poco::Int64>(std::min<std::size_t>(count, ChatStore::MAX_PAGE));
		std::vector<Poco::Tuple<Poco::Int64, std::string, Poco::Int64, BLOB, Poco::Int64, BLOB>> rows;
		_store.database() << "SELECT seq, author, author_seq, CAST(msg_id AS BLOB), sender_ms, CAST(text AS BLOB)"
			" FROM group_messages WHERE grp = (SELECT id FROM group_chats WHERE group_id = ?) AND seq < ?"
			" ORDER BY seq DESC LIMIT ?",
			use(id), use(before), use(limit), into(rows), now;
		std::vector<GroupMessage> result;
		for (auto it = rows.rbegin(); it != rows.rend(); ++it)
		{
			GroupMessage message;
			message.group = id;
			message.sequence = it->get<0>();
			if (auto author = PeerId::tryParse(it->get<1>())) message.from = *author;
			message.seq = static_cast<std::uint64_t>(it->get<2>());
			message.id = textOf(it->get<3>());
			message.timestampMs = it->get<4>();
			message.text = textOf(it->get<5>());
			result.push_back(std::move(message));
		}
		return result;
	});
}


void GroupStore::forget(const std::string& group)
{
	guarded(_store, "forget a group", [&] {
		std::string id = GroupIds::toText(group);
		_store.database() << "DELETE FROM group_chats WHERE group_id = ?", use(id), now;
	});
}


} } // namespace CrossChat::Chat
