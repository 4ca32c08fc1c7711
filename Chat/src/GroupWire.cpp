//
// GroupWire.cpp
//
// Library: Chat
//


#include "GroupWire.h"
#include "CrossChat/Chat/SessionProtocol.h"
#include "CrossChat/FoundationException.h"
#include "CrossChat/PublicKey.h"
#include "CrossChat/Text.h"
#include "Poco/BinaryWriter.h"
#include "Poco/Exception.h"
#include "Poco/JSON/Array.h"
#include <sstream>


namespace CrossChat {
namespace Chat {


namespace {


const std::string MESSAGE_DOMAIN("crosschat/group-msg/1\0", 22);


Poco::JSON::Object withGroup(const std::string& group)
{
	Poco::JSON::Object body;
	body.set("group", GroupIds::toText(group));
	return body;
}


Poco::JSON::Array::Ptr array(const Poco::JSON::Object& body, const char* field, std::size_t maxSize)
{
	if (!body.has(field) || !body.isArray(field)) throw MessageException(std::string(field) + ": an array is required");
	Poco::JSON::Array::Ptr items = body.getArray(field);
	if (items->size() > maxSize) throw MessageException(std::string(field) + ": more than " + std::to_string(maxSize) + " items");
	return items;
}


bool boolean(const Poco::JSON::Object& body, const char* field)
{
	if (!body.has(field)) return false;
	if (!body.get(field).isBoolean()) throw MessageException(std::string(field) + ": a boolean is required");
	return body.getValue<bool>(field);
}


} // namespace


// GroupPost --------------------------------------------------------------------------------


std::string GroupPost::signedBytes() const
{
	std::ostringstream out;
	Poco::BinaryWriter writer(out, Poco::BinaryWriter::NETWORK_BYTE_ORDER);
	writer.writeRaw(MESSAGE_DOMAIN);
	writer.writeRaw(group.size() == GroupIds::SIZE ? group : std::string(GroupIds::SIZE, '\0'));
	writer.writeRaw(author.byteString());
	writer.writeRaw(authorKey.size() == PublicKey::RAW_SIZE ? authorKey : std::string(PublicKey::RAW_SIZE, '\0'));
	writer << static_cast<Poco::UInt64>(seq);
	writer << static_cast<Poco::UInt64>(version);
	writer << static_cast<Poco::UInt64>(prevVersion);
	writer << static_cast<Poco::Int64>(timestampMs);
	const std::string shortId = id.substr(0, 255);
	writer << static_cast<Poco::UInt8>(shortId.size());
	writer.writeRaw(shortId);
	writer << static_cast<Poco::UInt32>(text.size());
	writer.writeRaw(text);
	writer.flush();
	return out.str();
}


void GroupPost::sign(const Identity& identity)
{
	author = identity.peerId();
	authorKey = identity.publicKey().raw();
	signature = identity.sign(signedBytes());
}


bool GroupPost::verify() const
{
	try
	{
		const PublicKey key = PublicKey::fromRaw(authorKey);
		return key.peerId() == author && key.verify(signedBytes(), signature);
	}
	catch (const Poco::Exception&)
	{
		return false;
	}
}


Poco::JSON::Object GroupPost::toJson() const
{
	Poco::JSON::Object body = withGroup(group);
	body.set("author", author.toString());
	body.set("akey", GroupCodec::toBase64(authorKey));
	body.set("seq", static_cast<Poco::Int64>(seq));
	body.set("id", id);
	body.set("v", static_cast<Poco::Int64>(version));
	body.set("pv", static_cast<Poco::Int64>(prevVersion));
	body.set("ts", static_cast<Poco::Int64>(timestampMs));
	body.set("text", text);
	body.set("sig", GroupCodec::toBase64(signature));
	if (!forwardTo.empty())
	{
		Poco::JSON::Array::Ptr items = new Poco::JSON::Array;
		for (const PeerId& peer: forwardTo) items->add(peer.toString());
		body.set("fw", items);
	}
	return body;
}


GroupPost GroupPost::fromJson(const Poco::JSON::Object& body)
{
	GroupPost post;
	post.group = GroupWire::group(body);
	post.author = GroupCodec::peerId(body, "author");
	post.authorKey = GroupCodec::fromBase64(GroupCodec::string(body, "akey", 64), PublicKey::RAW_SIZE, "akey");
	post.seq = GroupCodec::unsignedInteger(body, "seq");
	if (post.seq == 0) throw MessageException("seq: starts at 1");
	post.id = GroupCodec::string(body, "id", SessionProtocol::MAX_MESSAGE_ID_SIZE);
	if (post.id.empty()) throw MessageException("id: empty");
	post.version = GroupCodec::unsignedInteger(body, "v");
	post.prevVersion = GroupCodec::unsignedInteger(body, "pv");
	if (post.version == 0 || post.version > GroupLog::MAX_ENTRIES || post.prevVersion > post.version)
		throw MessageException("v, pv: out of range");
	if (!body.has("ts") || !body.get("ts").isInteger()) throw MessageException("ts: an integer is required");
	post.timestampMs = body.getValue<Poco::Int64>("ts");
	post.text = GroupCodec::string(body, "text", SessionProtocol::MAX_TEXT_SIZE);
	if (!Text::isValidUtf8(post.text)) throw MessageException("text: not UTF-8");
	post.signature = GroupCodec::fromBase64(GroupCodec::string(body, "sig", 128), PublicKey::SIGNATURE_SIZE, "sig");
	if (body.has("fw"))
	{
		Poco::JSON::Array::Ptr items = array(body, "fw", GroupLog::MAX_MEMBERS);
		for (std::size_t i = 0; i < items->size(); ++i)
		{
			const Poco::Dynamic::Var item = items->get(static_cast<unsigned>(i));
			auto peer = item.isString() ? PeerId::tryParse(item.extract<std::string>()) : std::nullopt;
			if (!peer) throw MessageException("fw: peer IDs are required");
			post.forwardTo.push_back(*peer);
		}
	}
	return post;
}


std::size_t GroupPost::wireSize() const
{
	return 400 + id.size() + text.size();
}


// GroupWire --------------------------------------------------------------------------------


std::string GroupWire::group(const Poco::JSON::Object& body)
{
	auto raw = GroupIds::fromText(GroupCodec::string(body, "group", GroupIds::SIZE * 2));
	if (!raw) throw MessageException("group: not a group ID");
	return *raw;
}


Poco::JSON::Object GroupWire::invite(const Invite& invite)
{
	Poco::JSON::Object body = withGroup(invite.group);
	body.set("name", invite.name);
	body.set("members", static_cast<Poco::Int64>(invite.members));
	if (invite.shareHistory) body.set("share", true);
	return body;
}


GroupWire::Invite GroupWire::parseInvite(const Poco::JSON::Object& body)
{
	Invite invite;
	invite.group = group(body);
	invite.name = GroupCodec::string(body, "name", GroupLog::MAX_NAME_SIZE);
	if (invite.name.empty() || !Text::isValidUtf8(invite.name)) throw MessageException("name: not a group name");
	invite.members = GroupCodec::unsignedInteger(body, "members");
	if (invite.members > GroupLog::MAX_MEMBERS) throw MessageException("members: out of range");
	invite.shareHistory = boolean(body, "share");
	return invite;
}


Poco::JSON::Object GroupWire::accept(const Accept& accept)
{
	Poco::JSON::Object body = withGroup(accept.group);
	body.set("key", GroupCodec::toBase64(accept.key));
	body.set("join", GroupCodec::toBase64(accept.join));
	return body;
}


GroupWire::Accept GroupWire::parseAccept(const Poco::JSON::Object& body)
{
	Accept accept;
	accept.group = group(body);
	accept.key = GroupCodec::fromBase64(GroupCodec::string(body, "key", 64), PublicKey::RAW_SIZE, "key");
	accept.join = GroupCodec::fromBase64(GroupCodec::string(body, "join", 128), PublicKey::SIGNATURE_SIZE, "join");
	return accept;
}


Poco::JSON::Object GroupWire::log(const std::string& group, const std::vector<GroupEntry>& entries)
{
	Poco::JSON::Object body = withGroup(group);
	Poco::JSON::Array::Ptr items = new Poco::JSON::Array;
	for (const GroupEntry& entry: entries) items->add(entry.toJson());
	body.set("entries", items);
	return body;
}


std::vector<GroupEntry> GroupWire::parseLog(const Poco::JSON::Object& body)
{
	const std::string id = group(body);
	Poco::JSON::Array::Ptr items = array(body, "entries", MAX_LOG_PAGE);
	std::vector<GroupEntry> entries;
	for (std::size_t i = 0; i < items->size(); ++i)
	{
		Poco::JSON::Object::Ptr item = items->getObject(static_cast<unsigned>(i));
		if (!item) throw MessageException("entries: objects are required");
		GroupEntry entry = GroupEntry::fromJson(*item);
		entry.group = id;
		if (!entries.empty() && entry.version != entries.back().version + 1)
			throw MessageException("entries: versions must follow each other");
		entries.push_back(std::move(entry));
	}
	return entries;
}


Poco::JSON::Object GroupWire::logRequest(const std::string& group, std::uint64_t from)
{
	Poco::JSON::Object body = withGroup(group);
	body.set("from", static_cast<Poco::Int64>(from));
	return body;
}


std::uint64_t GroupWire::parseLogRequest(const Poco::JSON::Object& body)
{
	group(body);
	const std::uint64_t from = GroupCodec::unsignedInteger(body, "from");
	if (from == 0 || from > GroupLog::MAX_ENTRIES) throw MessageException("from: out of range");
	return from;
}


Poco::JSON::Object GroupWire::sync(const Sync& sync)
{
	Poco::JSON::Object body = withGroup(sync.group);
	body.set("version", static_cast<Poco::Int64>(sync.version));
	body.set("head", sync.head.empty() ? std::string() : GroupCodec::toBase64(sync.head));
	Poco::JSON::Array::Ptr seen = new Poco::JSON::Array;
	for (const auto& entry: sync.seen)
	{
		Poco::JSON::Array::Ptr pair = new Poco::JSON::Array;
		pair->add(entry.first.toString());
		pair->add(static_cast<Poco::Int64>(entry.second));
		seen->add(pair);
	}
	body.set("seen", seen);
	if (sync.reply) body.set("reply", true);
	return body;
}


GroupWire::Sync GroupWire::parseSync(const Poco::JSON::Object& body)
{
	Sync sync;
	sync.group = group(body);
	sync.version = GroupCodec::unsignedInteger(body, "version");
	if (sync.version > GroupLog::MAX_ENTRIES) throw MessageException("version: out of range");
	const std::string head = GroupCodec::string(body, "head", 64);
	if (!head.empty()) sync.head = GroupCodec::fromBase64(head, GroupEntry::HASH_SIZE, "head");
	if ((sync.version == 0) != sync.head.empty()) throw MessageException("head: required with a version");
	Poco::JSON::Array::Ptr seen = array(body, "seen", MAX_SEEN);
	for (std::size_t i = 0; i < seen->size(); ++i)
	{
		Poco::JSON::Array::Ptr pair = seen->getArray(static_cast<unsigned>(i));
		if (!pair || pair->size() != 2 || !pair->get(0).isString() || !pair->get(1).isInteger())
			throw MessageException("seen: [author, sequence] pairs are required");
		auto author = PeerId::tryParse(pair->get(0).extract<std::string>());
		const Poco::Int64 last = pair->get(1).convert<Poco::Int64>();
		if (!author || last < 0) throw MessageException("seen: bad author or sequence");
		sync.seen.emplace_back(*author, static_cast<std::uint64_t>(last));
	}
	sync.reply = boolean(body, "reply");
	return sync;
}


Poco::JSON::Object GroupWire::want(const std::string& group, const std::vector<Want>& wants)
{
	Poco::JSON::Object body = withGroup(group);
	Poco::JSON::Array::Ptr items = new Poco::JSON::Array;
	for (const Want& want: wants)
	{
		Poco::JSON::Array::Ptr item = new Poco::JSON::Array;
		item->add(want.author.toString());
		item->add(static_cast<Poco::Int64>(want.from));
		item->add(static_cast<Poco::Int64>(want.to));
		items->add(item);
	}
	body.set("want", items);
	return body;
}


std::vector<GroupWire::Want> GroupWire::parseWant(const Poco::JSON::Object& body)
{
	group(body);
	Poco::JSON::Array::Ptr items = array(body, "want", MAX_WANTS);
	std::vector<Want> wants;
	for (std::size_t i = 0; i < items->size(); ++i)
	{
		Poco::JSON::Array::Ptr item = items->getArray(static_cast<unsigned>(i));
		if (!item || item->size() != 3 || !item->get(0).isString() || !item->get(1).isInteger() || !item->get(2).isInteger())
			throw MessageException("want: [author, from, to] triples are required");
		auto author = PeerId::tryParse(item->get(0).extract<std::string>());
		const Poco::Int64 from = item->get(1).convert<Poco::Int64>();
		const Poco::Int64 to = item->get(2).convert<Poco::Int64>();
		if (!author || from < 1 || to < from) throw MessageException("want: bad author or range");
		wants.push_back(Want{*author, static_cast<std::uint64_t>(from), static_cast<std::uint64_t>(to)});
	}
	return wants;
}


} } // namespace CrossChat::Chat
