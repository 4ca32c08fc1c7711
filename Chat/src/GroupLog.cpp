//
// GroupLog.cpp
//
// Library: Chat
//


#include "GroupLog.h"
#include "CrossChat/FoundationException.h"
#include "CrossChat/PublicKey.h"
#include "CrossChat/Text.h"
#include "Poco/Base64Decoder.h"
#include "Poco/Base64Encoder.h"
#include "Poco/BinaryWriter.h"
#include "Poco/Exception.h"
#include <algorithm>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sstream>


namespace CrossChat {
namespace Chat {


namespace {


const std::string LOG_DOMAIN("crosschat/group-log/1\0", 22);
const std::string JOIN_DOMAIN("crosschat/group-join/1\0", 23);
const std::string ID_DOMAIN("crosschat/group-id/1\0", 21);


void writeBytes8(Poco::BinaryWriter& writer, const std::string& bytes)
	/// One length byte, then the bytes (fields of at most 255 bytes).
{
	writer << static_cast<Poco::UInt8>(bytes.size());
	writer.writeRaw(bytes);
}


std::string zeros(std::size_t size)
{
	return std::string(size, '\0');
}


bool validName(const std::string& name)
{
	return !name.empty() && name.size() <= GroupLog::MAX_NAME_SIZE && Text::isValidUtf8(name) && Text::terminalSafe(name) == name;
}


std::optional<GroupOp> parseOp(const std::string& name)
{
	for (GroupOp op: {GroupOp::CREATE, GroupOp::ADD, GroupOp::REMOVE, GroupOp::PROMOTE, GroupOp::RENAME, GroupOp::LEAVE})
		if (name == groupOpName(op)) return op;
	return std::nullopt;
}


bool keyNames(const std::string& rawKey, const PeerId& id)
{
	try
	{
		return PublicKey::fromRaw(rawKey).peerId() == id;
	}
	catch (const Poco::Exception&)
	{
		return false;
	}
}


bool verified(const std::string& rawKey, const std::string& data, const std::string& signature)
{
	try
	{
		return PublicKey::fromRaw(rawKey).verify(data, signature);
	}
	catch (const Poco::Exception&)
	{
		return false;
	}
}


} // namespace


const char* groupOpName(GroupOp op)
{
	switch (op)
	{
	case GroupOp::CREATE: return "create";
	case GroupOp::ADD: return "add";
	case GroupOp::REMOVE: return "remove";
	case GroupOp::PROMOTE: return "promote";
	case GroupOp::RENAME: return "rename";
	case GroupOp::LEAVE: return "leave";
	}
	return "unknown";
}


const char* groupRoleName(GroupRole role)
{
	switch (role)
	{
	case GroupRole::FOUNDER: return "founder";
	case GroupRole::ADMIN: return "admin";
	default: return "member";
	}
}


// GroupIds ---------------------------------------------------------------------------------


std::string GroupIds::nonce()
{
	std::string raw(SIZE, '\0');
	if (RAND_bytes(reinterpret_cast<unsigned char*>(&raw[0]), static_cast<int>(SIZE)) != 1)
		throw Poco::SystemException("RAND_bytes failed");
	return raw;
}


std::string GroupIds::derive(const PeerId& founder, const std::string& nonce)
{
	return GroupCodec::sha256(ID_DOMAIN + founder.byteString() + nonce);
}


std::string GroupIds::toText(const std::string& raw)
{
	static const char* DIGITS = "0123456789abcdef";
	std::string text;
	text.reserve(raw.size() * 2);
	for (unsigned char c: raw)
	{
		text.push_back(DIGITS[c >> 4]);
		text.push_back(DIGITS[c & 0x0f]);
	}
	return text;
}


std::optional<std::string> GroupIds::fromText(const std::string& text)
{
	if (text.size() != SIZE * 2) return std::nullopt;
	auto digit = [](char c) -> int {
		if (c >= '0' && c <= '9') return c - '0';
		if (c >= 'a' && c <= 'f') return c - 'a' + 10;
		if (c >= 'A' && c <= 'F') return c - 'A' + 10;
		return -1;
	};
	std::string raw;
	raw.reserve(SIZE);
	for (std::size_t i = 0; i < text.size(); i += 2)
	{
		const int high = digit(text[i]);
		const int low = digit(text[i + 1]);
		if (high < 0 || low < 0) return std::nullopt;
		raw.push_back(static_cast<char>(high * 16 + low));
	}
	return raw;
}


std::string GroupIds::shortText(const std::string& raw)
{
	return toText(raw).substr(0, 8);
}


// GroupCodec -------------------------------------------------------------------------------


std::string GroupCodec::toBase64(const std::string& bytes)
{
	std::ostringstream out;
	Poco::Base64Encoder encoder(out);
	encoder.rdbuf()->setLineLength(0);
	encoder << bytes;
	encoder.close();
	return out.str();
}


std::string GroupCodec::fromBase64(const std::string& text, std::size_t size, const char* field)
{
	const auto bad = [field, size]() {
		return MessageException(std::string(field) + ": expected base64 of " + std::to_string(size) + " bytes");
	};
	if (text.size() != (size + 2) / 3 * 4) throw bad();
	for (char c: text)
	{
		const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/' || c == '=';
		if (!ok) throw bad();
	}
	std::string result;
	try
	{
		std::istringstream in(text);
		Poco::Base64Decoder decoder(in);
		char c = 0;
		while (result.size() <= size && decoder.get(c)) result.push_back(c);
		if (decoder.bad()) throw bad();
	}
	catch (const Poco::Exception&)
	{
		throw bad();
	}
	if (result.size() != size) throw bad();
	return result;
}


std::string GroupCodec::string(const Poco::JSON::Object& object, const char* field, std::size_t maxSize)
{
	if (!object.has(field) || !object.get(field).isString())
		throw MessageException(std::string(field) + ": a string is required");
	std::string value = object.getValue<std::string>(field);
	if (value.size() > maxSize)
		throw MessageException(std::string(field) + ": longer than " + std::to_string(maxSize) + " bytes");
	return value;
}


std::uint64_t GroupCodec::unsignedInteger(const Poco::JSON::Object& object, const char* field)
{
	constexpr std::int64_t MAX_EXACT = std::int64_t(1) << 53;
	if (!object.has(field)) throw MessageException(std::string(field) + ": an integer is required");
	const Poco::Dynamic::Var value = object.get(field);
	if (!value.isInteger()) throw MessageException(std::string(field) + ": an integer is required");
	std::int64_t number = 0;
	try
	{
		number = value.convert<Poco::Int64>();
	}
	catch (const Poco::Exception&)
	{
		throw MessageException(std::string(field) + ": out of range");
	}
	if (number < 0 || number > MAX_EXACT) throw MessageException(std::string(field) + ": out of range");
	return static_cast<std::uint64_t>(number);
}


PeerId GroupCodec::peerId(const Poco::JSON::Object& object, const char* field)
{
	const std::string text = string(object, field, 80);
	auto id = PeerId::tryParse(text);
	if (!id || id->isNull()) throw MessageException(std::string(field) + ": not a peer ID");
	return *id;
}


std::string GroupCodec::sha256(const std::string& bytes)
{
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned int length = 0;
	if (EVP_Digest(bytes.data(), bytes.size(), digest, &length, EVP_sha256(), nullptr) != 1 || length != 32)
		throw Poco::SystemException("SHA-256 failed");
	return std::string(reinterpret_cast<const char*>(digest), length);
}


// GroupEntry -------------------------------------------------------------------------------


std::string GroupEntry::signedBytes() const
{
	std::ostringstream out;
	Poco::BinaryWriter writer(out, Poco::BinaryWriter::NETWORK_BYTE_ORDER);
	writer.writeRaw(LOG_DOMAIN);
	writer.writeRaw(group.size() == GroupIds::SIZE ? group : zeros(GroupIds::SIZE));
	writer << static_cast<Poco::UInt64>(version);
	writer.writeRaw(prev.size() == HASH_SIZE ? prev : zeros(HASH_SIZE));
	writer << static_cast<Poco::UInt8>(op);
	writer.writeRaw(author.byteString());
	writer.writeRaw(authorKey.size() == PublicKey::RAW_SIZE ? authorKey : zeros(PublicKey::RAW_SIZE));
	writer.writeRaw(target.byteString());
	writeBytes8(writer, targetKey.substr(0, 255));
	writeBytes8(writer, join.substr(0, 255));
	writeBytes8(writer, name.substr(0, 255));
	writeBytes8(writer, nonce.substr(0, 255));
	writer << static_cast<Poco::UInt8>(shareHistory ? 1 : 0);
	writer << static_cast<Poco::UInt64>(seq);
	writer << static_cast<Poco::Int64>(timestampMs);
	writer.flush();
	return out.str();
}


std::string GroupEntry::hash() const
{
	return GroupCodec::sha256(signedBytes() + signature);
}


void GroupEntry::sign(const Identity& identity)
{
	author = identity.peerId();
	authorKey = identity.publicKey().raw();
	signature = identity.sign(signedBytes());
}


std::string GroupEntry::joinBytes(const std::string& group, const PeerId& member)
{
	return JOIN_DOMAIN + group + member.byteString();
}


Poco::JSON::Object::Ptr GroupEntry::toJson() const
{
	Poco::JSON::Object::Ptr object = new Poco::JSON::Object;
	object->set("v", static_cast<Poco::Int64>(version));
	if (!prev.empty()) object->set("prev", GroupCodec::toBase64(prev));
	object->set("op", std::string(groupOpName(op)));
	object->set("author", author.toString());
	object->set("akey", GroupCodec::toBase64(authorKey));
	if (!target.isNull()) object->set("target", target.toString());
	if (!targetKey.empty()) object->set("tkey", GroupCodec::toBase64(targetKey));
	if (!join.empty()) object->set("join", GroupCodec::toBase64(join));
	if (!name.empty()) object->set("name", name);
	if (!nonce.empty()) object->set("nonce", GroupCodec::toBase64(nonce));
	if (shareHistory) object->set("share", true);
	if (seq != 0) object->set("seq", static_cast<Poco::Int64>(seq));
	object->set("ts", static_cast<Poco::Int64>(timestampMs));
	object->set("sig", GroupCodec::toBase64(signature));
	return object;
}


GroupEntry GroupEntry::fromJson(const Poco::JSON::Object& object)
{
	GroupEntry entry;
	entry.version = GroupCodec::unsignedInteger(object, "v");
	if (entry.version == 0 || entry.version > GroupLog::MAX_ENTRIES) throw MessageException("v: out of range");
	if (object.has("prev")) entry.prev = GroupCodec::fromBase64(GroupCodec::string(object, "prev", 64), HASH_SIZE, "prev");
	if ((entry.version == 1) != entry.prev.empty()) throw MessageException("prev: required after version 1 only");
	const auto op = parseOp(GroupCodec::string(object, "op", 16));
	if (!op) throw MessageException("op: unknown");
	entry.op = *op;
	entry.author = GroupCodec::peerId(object, "author");
	entry.authorKey = GroupCodec::fromBase64(GroupCodec::string(object, "akey", 64), PublicKey::RAW_SIZE, "akey");
	if (object.has("target")) entry.target = GroupCodec::peerId(object, "target");
	if (object.has("tkey")) entry.targetKey = GroupCodec::fromBase64(GroupCodec::string(object, "tkey", 64), PublicKey::RAW_SIZE, "tkey");
	if (object.has("join")) entry.join = GroupCodec::fromBase64(GroupCodec::string(object, "join", 128), PublicKey::SIGNATURE_SIZE, "join");
	if (object.has("name")) entry.name = GroupCodec::string(object, "name", GroupLog::MAX_NAME_SIZE);
	if (object.has("nonce")) entry.nonce = GroupCodec::fromBase64(GroupCodec::string(object, "nonce", 64), GroupIds::SIZE, "nonce");
	if (object.has("share"))
	{
		if (!object.get("share").isBoolean()) throw MessageException("share: a boolean is required");
		entry.shareHistory = object.getValue<bool>("share");
	}
	if (object.has("seq")) entry.seq = GroupCodec::unsignedInteger(object, "seq");
	if (!object.has("ts") || !object.get("ts").isInteger()) throw MessageException("ts: an integer is required");
	entry.timestampMs = object.getValue<Poco::Int64>("ts");
	entry.signature = GroupCodec::fromBase64(GroupCodec::string(object, "sig", 128), PublicKey::SIGNATURE_SIZE, "sig");
	return entry;
}


// GroupState -------------------------------------------------------------------------------


bool GroupState::isMember(const PeerId& id) const
{
	return members.count(id) != 0;
}


bool GroupState::isAdmin(const PeerId& id) const
{
	auto it = members.find(id);
	return it != members.end() && it->second.role != GroupRole::MEMBER;
}


std::optional<GroupRole> GroupState::role(const PeerId& id) const
{
	auto it = members.find(id);
	if (it == members.end()) return std::nullopt;
	return it->second.role;
}


// GroupLog ---------------------------------------------------------------------------------


GroupLog::GroupLog(std::string group):
	_group(std::move(group))
{
}


GroupLog GroupLog::create(const Identity& founder, const std::string& name, bool shareHistory, std::int64_t timestampMs)
{
	GroupEntry entry;
	entry.nonce = GroupIds::nonce();
	GroupLog log(GroupIds::derive(founder.peerId(), entry.nonce));
	entry.op = GroupOp::CREATE;
	entry.target = founder.peerId();
	entry.name = name;
	entry.shareHistory = shareHistory;
	entry.timestampMs = timestampMs;
	if (!log.append(founder, entry)) throw Poco::InvalidArgumentException(log.error());
	return log;
}


const std::string& GroupLog::group() const
{
	return _group;
}


const GroupState& GroupLog::state() const
{
	return _state;
}


const std::vector<GroupEntry>& GroupLog::entries() const
{
	return _entries;
}


bool GroupLog::empty() const
{
	return _entries.empty();
}


const std::string& GroupLog::error() const
{
	return _error;
}


std::string GroupLog::validate(const GroupState& before, const GroupEntry& entry, const std::string& group)
{
	if (entry.group != group) return "entry of another group";
	if (entry.version != before.version + 1) return "version " + std::to_string(entry.version) + " does not follow " + std::to_string(before.version);
	if (entry.version > MAX_ENTRIES) return "the log is full (" + std::to_string(MAX_ENTRIES) + " entries)";
	if (entry.prev != before.head) return "version " + std::to_string(entry.version) + " builds on another entry";
	if (!keyNames(entry.authorKey, entry.author)) return "the author's key does not match its ID";
	if (!verified(entry.authorKey, entry.signedBytes(), entry.signature)) return "bad signature";
	const std::optional<GroupRole> authorRole = before.role(entry.author);
	const bool admin = authorRole && *authorRole != GroupRole::MEMBER;
	const bool founder = authorRole && *authorRole == GroupRole::FOUNDER;
	switch (entry.op)
	{
	case GroupOp::CREATE:
		if (entry.version != 1) return "create after version 1";
		if (entry.target != entry.author) return "create names another founder";
		if (entry.nonce.size() != GroupIds::SIZE || GroupIds::derive(entry.author, entry.nonce) != group)
			return "the group's ID is not its founder's";
		if (!validName(entry.name)) return "invalid group name";
		return {};
	case GroupOp::ADD:
		if (!admin) return "add by a non-admin";
		if (entry.target.isNull() || before.isMember(entry.target)) return "add of a member or nobody";
		if (before.members.size() >= MAX_MEMBERS) return "the group is full (" + std::to_string(MAX_MEMBERS) + " members)";
		if (!keyNames(entry.targetKey, entry.target)) return "the new member's key does not match its ID";
		if (!verified(entry.targetKey, GroupEntry::joinBytes(group, entry.target), entry.join)) return "no valid join signature of the new member";
		return {};
	case GroupOp::REMOVE:
	{
		if (!admin) return "remove by a non-admin";
		const std::optional<GroupRole> targetRole = before.role(entry.target);
		if (!targetRole) return "remove of a non-member";
		if (*targetRole == GroupRole::FOUNDER) return "the founder cannot be removed";
		if (*targetRole == GroupRole::ADMIN && !founder) return "only the founder removes admins";
		return {};
	}
	case GroupOp::PROMOTE:
		if (!founder) return "promote by someone other than the founder";
		if (before.role(entry.target) != GroupRole::MEMBER) return "promote of a non-member or an admin";
		return {};
	case GroupOp::RENAME:
		if (!admin) return "rename by a non-admin";
		if (!validName(entry.name)) return "invalid group name";
		return {};
	case GroupOp::LEAVE:
		if (!authorRole) return "leave by a non-member";
		if (entry.target != entry.author) return "leave for someone else";
		return {};
	}
	return "unknown operation";
}


void GroupLog::apply(GroupState& state, const GroupEntry& entry)
{
	state.version = entry.version;
	state.head = entry.hash();
	switch (entry.op)
	{
	case GroupOp::CREATE:
		state.name = entry.name;
		state.shareHistory = entry.shareHistory;
		state.members[entry.author] = GroupState::Member{GroupRole::FOUNDER, entry.authorKey, entry.version};
		break;
	case GroupOp::ADD:
		state.members[entry.target] = GroupState::Member{GroupRole::MEMBER, entry.targetKey, entry.version};
		state.departed.erase(entry.target);
		break;
	case GroupOp::REMOVE:
	case GroupOp::LEAVE:
		state.members.erase(entry.target);
		state.departed[entry.target] = entry.seq;
		break;
	case GroupOp::PROMOTE:
		state.members[entry.target].role = GroupRole::ADMIN;
		break;
	case GroupOp::RENAME:
		state.name = entry.name;
		break;
	}
}


namespace {


int roleRank(const GroupState& state, const PeerId& author)
	/// The author's role in state as a number that grows with the role (-1: no member).
{
	const std::optional<GroupRole> role = state.role(author);
	return role ? static_cast<int>(*role) : -1;
}


}


GroupLog::Offer GroupLog::offer(const std::vector<GroupEntry>& segment, std::uint64_t* pFirstChanged)
{
	_error.clear();
	if (segment.empty()) return Offer::UNCHANGED;
	const std::uint64_t first = segment.front().version;
	const bool tooDeep = first + MAX_FORK_DEPTH < _entries.size();
	if (first == 0 || first > _entries.size() + 1) return Offer::NEED_EARLIER;
	if (first > 1 && _entries[first - 2].hash() != segment.front().prev) return tooDeep ? Offer::UNCHANGED : Offer::NEED_EARLIER;
	// Replay our prefix (already verified) up to the segment, then check the segment's entries.
	GroupState state;
	for (std::size_t i = 0; i + 1 < first; ++i) apply(state, _entries[i]);
	std::vector<GroupEntry> chain(_entries.begin(), _entries.begin() + static_cast<std::ptrdiff_t>(first - 1));
	std::uint64_t firstChanged = 0;
	std::optional<GroupState> atFork;   // the state both chains share before they differ
	std::vector<int> theirRoles;        // from the fork on: each entry's author's role where it was signed
	for (const GroupEntry& given: segment)
	{
		GroupEntry entry = given;
		entry.group = _group;
		const std::size_t index = entry.version - 1;
		const bool known = !atFork && index == chain.size() && index < _entries.size()
			&& _entries[index].signature == entry.signature && _entries[index].hash() == entry.hash();
		if (!known)
		{
			const std::string problem = validate(state, entry, _group);
			if (!problem.empty())
			{
				_error = "entry " + std::to_string(entry.version) + " (" + groupOpName(entry.op) + " by " + entry.author.shortString() + "): " + problem;
				if (chain.size() + 1 == first) return Offer::INVALID;
				break;   // the valid part before it still counts
			}
			if (!atFork)
			{
				atFork = state;
				firstChanged = entry.version;
			}
		}
		if (atFork) theirRoles.push_back(roleRank(state, entry.author));
		apply(state, entry);
		chain.push_back(std::move(entry));
	}
	if (!atFork) return Offer::UNCHANGED;
	const std::size_t fork = firstChanged - 1;
	if (fork + MAX_FORK_DEPTH < _entries.size())
	{
		_error = "a chain that forks " + std::to_string(_entries.size() - fork) + " versions back";
		return Offer::UNCHANGED;
	}
	bool better = false;
	if (fork >= _entries.size())
	{
		better = true;   // it extends ours
	}
	else
	{
		// From the fork on, the authors' roles compared entry by entry (the first higher role
		// wins); a chain that goes on where the other stops wins; at equal lengths the smaller
		// head. A total order: every member ends on the same chain whatever it heard first.
		std::vector<int> ourRoles;
		GroupState ours = *atFork;
		for (std::size_t i = fork; i < _entries.size(); ++i)
		{
			ourRoles.push_back(roleRank(ours, _entries[i].author));
			apply(ours, _entries[i]);
		}
		if (theirRoles != ourRoles)
			better = std::lexicographical_compare(ourRoles.begin(), ourRoles.end(), theirRoles.begin(), theirRoles.end());
		else
			better = state.head < _state.head;
	}
	if (!better) return Offer::UNCHANGED;
	_entries = std::move(chain);
	_state = std::move(state);
	if (pFirstChanged) *pFirstChanged = firstChanged;
	return Offer::ADOPTED;
}


std::optional<GroupEntry> GroupLog::append(const Identity& author, GroupEntry entry)
{
	_error.clear();
	entry.group = _group;
	entry.version = _state.version + 1;
	entry.prev = _state.head;
	entry.sign(author);
	const std::string problem = validate(_state, entry, _group);
	if (!problem.empty())
	{
		_error = problem;
		return std::nullopt;
	}
	apply(_state, entry);
	_entries.push_back(entry);
	return entry;
}


} } // namespace CrossChat::Chat
