//
// SessionProtocol.cpp
//
// Library: Chat
//


#include "CrossChat/Chat/SessionProtocol.h"


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


bool SessionProtocol::isBinary(std::uint8_t type)
{
	return type == FILE_DATA;
}


} } // namespace CrossChat::Chat
