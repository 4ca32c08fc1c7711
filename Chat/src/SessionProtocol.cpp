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
		return c;
	}();
	return catalog;
}


} } // namespace CrossChat::Chat
