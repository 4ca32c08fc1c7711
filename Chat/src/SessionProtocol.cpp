//
// SessionProtocol.cpp
//
// Library: Chat
//


#include "CrossChat/Chat/SessionProtocol.h"


namespace CrossChat {
namespace Chat {


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
		return c;
	}();
	return catalog;
}


} } // namespace CrossChat::Chat
