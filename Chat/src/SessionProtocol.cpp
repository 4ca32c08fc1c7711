//
// SessionProtocol.cpp
//
// Library: Chat
//


#include "CrossChat/Chat/SessionProtocol.h"
#include "CrossChat/FoundationException.h"
#include "CrossChat/Text.h"
#include "Poco/ByteOrder.h"
#include <cstring>
#include <limits>


namespace CrossChat {
namespace Chat {


namespace {


void declareFileMessages(MessageCatalog& c)
	/// File transfer (types 32..47). Ids are 32 lowercase hex characters (16 random bytes), hashes
	/// 64 (SHA-256); TransferProtocol checks their form, the schema their length.
{
	constexpr std::size_t ID = 32;
	constexpr std::size_t HASH = 64;
	c.declare(32, "file-offer", MessageSchema()
		.requireString("id", ID, ID)
		.requireString("name", 1, SessionProtocol::MAX_FILE_NAME_SIZE)
		.requireInteger("size", 0, std::int64_t(1) << 40)
		.requireString("sha256", HASH, HASH)
		.requireInteger("block_size", 1, std::int64_t(1) << 24)
		.requireInteger("ts", 0)
		.optionalString("group", 1, 64));
	c.declare(33, "file-accept", MessageSchema()
		.requireString("id", ID, ID));
	c.declare(34, "file-cancel", MessageSchema()
		.requireString("id", ID, ID)
		.requireString("code", 1, 32)
		.optionalString("reason", 0, 256));
	c.declare(35, "file-hashes-get", MessageSchema()
		.requireString("id", ID, ID)
		.requireInteger("first", 0, std::int64_t(1) << 32)
		.requireInteger("count", 1, static_cast<std::int64_t>(SessionProtocol::MAX_HASHES_PER_MESSAGE)));
	c.declare(36, "file-hashes", MessageSchema()
		.requireString("id", ID, ID)
		.requireInteger("first", 0, std::int64_t(1) << 32)
		.requireArray("hashes", SessionProtocol::MAX_HASHES_PER_MESSAGE));
	c.declare(37, "file-get", MessageSchema()
		.requireString("id", ID, ID)
		.requireInteger("round", 0, 0xFFFFFFFFLL)
		.requireArray("blocks", SessionProtocol::MAX_BLOCKS_PER_GET));
	c.declare(38, "file-done", MessageSchema()
		.requireString("id", ID, ID));
}


bool validId(std::string_view id)
{
	return !id.empty() && id.size() <= SessionProtocol::MAX_MESSAGE_ID_SIZE && Text::isValidUtf8(id.data(), id.size());
}


} // namespace


const MessageCatalog& SessionProtocol::catalog()
{
	static const MessageCatalog catalog = [] {
		MessageCatalog c("session");
		c.declare(1, "hello", MessageSchema()
			.requireInteger("version", 1, 255)
			.requireString("name", 0, MAX_NAME_SIZE)
			.optionalArray("caps", 32));
		c.declare(2, "text", MessageSchema()
			.requireString("id", 1, MAX_MESSAGE_ID_SIZE)
			.requireInteger("ts", 0)
			.requireString("text", 0, MAX_TEXT_SIZE));
		c.declare(3, "receipt", MessageSchema()
			.requireString("id", 1, MAX_MESSAGE_ID_SIZE));
		c.declare(4, "ping", MessageSchema().requireInteger("n", 0));
		c.declare(5, "pong", MessageSchema().requireInteger("n", 0));
		c.declare(6, "close", MessageSchema().optionalString("reason", 0, 256));
		c.declare(7, "refuse", MessageSchema()
			.requireString("id", 1, MAX_MESSAGE_ID_SIZE)
			.requireString("code", 1, 32)
			.optionalString("reason", 0, 256));
		c.declare(8, "contact", MessageSchema().requireBoolean("accepted"));
		c.declare(9, "name", MessageSchema().requireString("name", 0, MAX_NAME_SIZE));
		// Groups (16..31; see GroupWire.h and PROTOCOL.md, "Groups").
		c.declare(16, "group_invite", MessageSchema()
			.requireString("group", 64, 64)
			.requireString("name", 1, 64)
			.requireInteger("members", 0, 256)
			.optionalBoolean("share"));
		c.declare(17, "group_accept", MessageSchema()
			.requireString("group", 64, 64)
			.requireString("key", 44, 44)
			.requireString("join", 88, 88));
		c.declare(18, "group_log", MessageSchema()
			.requireString("group", 64, 64)
			.requireArray("entries", 48));
		c.declare(19, "group_log_request", MessageSchema()
			.requireString("group", 64, 64)
			.requireInteger("from", 1, 1024));
		c.declare(20, "group_msg", MessageSchema()
			.requireString("group", 64, 64)
			.requireString("author", 1, 80)
			.requireString("akey", 44, 44)
			.requireInteger("seq", 1)
			.requireString("id", 1, MAX_MESSAGE_ID_SIZE)
			.requireInteger("v", 1, 1024)
			.requireInteger("pv", 0, 1024)
			.requireInteger("ts")
			.requireString("text", 0, MAX_TEXT_SIZE)
			.requireString("sig", 88, 88)
			.optionalArray("fw", 256));
		c.declare(21, "group_sync", MessageSchema()
			.requireString("group", 64, 64)
			.requireInteger("version", 0, 1024)
			.requireString("head", 0, 44)
			.requireArray("seen", 512)
			.optionalBoolean("reply"));
		c.declare(22, "group_want", MessageSchema()
			.requireString("group", 64, 64)
			.requireArray("want", 32));
		declareFileMessages(c);
		return c;
	}();
	return catalog;
}


void SessionProtocol::encodeText(const FrameCodec& codec, std::string& out, std::string_view id, std::int64_t timestampMs, std::string_view text)
{
	if (!validId(id)) throw MessageException("text-bin: the id must be 1.." + std::to_string(MAX_MESSAGE_ID_SIZE) + " bytes of UTF-8");
	if (timestampMs < 0) throw MessageException("text-bin: negative timestamp");
	if (text.size() > MAX_TEXT_SIZE) throw MessageException("text-bin: the text is longer than " + std::to_string(MAX_TEXT_SIZE) + " bytes");
	if (!Text::isValidUtf8(text.data(), text.size())) throw MessageException("text-bin: the text is not valid UTF-8");
	const std::size_t bodySize = 1 + id.size() + 8 + text.size();
	const std::size_t start = out.size();
	out.resize(start + FrameCodec::HEADER_SIZE + bodySize);
	char* p = &out[start];
	codec.encodeHeader(p, TEXT_BIN, bodySize);
	p += FrameCodec::HEADER_SIZE;
	*p++ = static_cast<char>(id.size());
	std::memcpy(p, id.data(), id.size());
	p += id.size();
	const Poco::UInt64 ts = Poco::ByteOrder::toBigEndian(static_cast<Poco::UInt64>(timestampMs));
	std::memcpy(p, &ts, 8);
	p += 8;
	if (!text.empty()) std::memcpy(p, text.data(), text.size());
}


const char* SessionProtocol::parseText(std::string_view body, std::string_view& id, std::int64_t& timestampMs, std::string_view& text)
{
	id = std::string_view();
	text = std::string_view();
	timestampMs = 0;
	if (body.empty()) return "text-bin: empty body";
	const std::size_t idSize = static_cast<unsigned char>(body[0]);
	if (idSize == 0 || idSize > MAX_MESSAGE_ID_SIZE) return "text-bin: id length out of bounds";
	if (body.size() < 1 + idSize + 8) return "text-bin: truncated";
	const std::string_view candidate = body.substr(1, idSize);
	if (!Text::isValidUtf8(candidate.data(), candidate.size())) return "text-bin: the id is not valid UTF-8";
	id = candidate;
	Poco::UInt64 ts = 0;
	std::memcpy(&ts, body.data() + 1 + idSize, 8);
	ts = Poco::ByteOrder::fromBigEndian(ts);
	if (ts > static_cast<Poco::UInt64>(std::numeric_limits<std::int64_t>::max())) return "text-bin: timestamp out of bounds";
	timestampMs = static_cast<std::int64_t>(ts);
	const std::string_view rest = body.substr(1 + idSize + 8);
	if (rest.size() > MAX_TEXT_SIZE) return "text-bin: the text is longer than 16384 bytes";
	text = rest;
	return nullptr;
}


void SessionProtocol::appendReceiptId(std::string& entries, std::string_view id)
{
	if (!validId(id)) throw MessageException("receipts: the id must be 1.." + std::to_string(MAX_MESSAGE_ID_SIZE) + " bytes of UTF-8");
	entries += static_cast<char>(id.size());
	entries.append(id.data(), id.size());
}


void SessionProtocol::encodeReceipts(const FrameCodec& codec, std::string& out, std::size_t count, std::string_view entries)
{
	if (count == 0 || count > MAX_RECEIPTS_PER_FRAME) throw MessageException("receipts: count out of bounds");
	const std::size_t bodySize = 2 + entries.size();
	const std::size_t start = out.size();
	out.resize(start + FrameCodec::HEADER_SIZE + bodySize);
	char* p = &out[start];
	codec.encodeHeader(p, RECEIPTS, bodySize);
	p += FrameCodec::HEADER_SIZE;
	const Poco::UInt16 n = Poco::ByteOrder::toBigEndian(static_cast<Poco::UInt16>(count));
	std::memcpy(p, &n, 2);
	std::memcpy(p + 2, entries.data(), entries.size());
}


const char* SessionProtocol::parseReceipts(std::string_view body, std::vector<std::string_view>& ids)
{
	ids.clear();
	if (body.size() < 2) return "receipts: truncated";
	Poco::UInt16 n = 0;
	std::memcpy(&n, body.data(), 2);
	const std::size_t count = Poco::ByteOrder::fromBigEndian(n);
	if (count == 0 || count > MAX_RECEIPTS_PER_FRAME) return "receipts: count out of bounds";
	std::size_t offset = 2;
	const char* problem = nullptr;
	for (std::size_t i = 0; i < count && !problem; ++i)
	{
		if (offset >= body.size())
		{
			problem = "receipts: truncated";
			break;
		}
		const std::size_t idSize = static_cast<unsigned char>(body[offset]);
		if (idSize == 0 || idSize > MAX_MESSAGE_ID_SIZE)
			problem = "receipts: id length out of bounds";
		else if (body.size() - offset - 1 < idSize)
			problem = "receipts: truncated";
		else if (!Text::isValidUtf8(body.data() + offset + 1, idSize))
			problem = "receipts: an id is not valid UTF-8";
		else
			ids.push_back(body.substr(offset + 1, idSize));
		offset += 1 + idSize;
	}
	if (!problem && offset != body.size()) problem = "receipts: bytes after the last id";
	if (problem) ids.clear();
	return problem;
}


bool SessionProtocol::isBinary(std::uint8_t type)
{
	return type == FILE_DATA;
}


} } // namespace CrossChat::Chat
