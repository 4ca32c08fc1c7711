//
// SessionProtocol.h
//
// Library: Chat
// The messages of a chat session, declared once (see docs/PROTOCOL.md, "Chat session").
//


#ifndef CrossChat_Chat_SessionProtocol_INCLUDED
#define CrossChat_Chat_SessionProtocol_INCLUDED


#include "CrossChat/MessageCatalog.h"
#include <cstddef>
#include <cstdint>


namespace CrossChat {
namespace Chat {


class SessionProtocol
	/// The chat session protocol: JSON bodies in FrameCodec frames, inside TLS 1.3.
	///
	///     type  name     fields
	///     1     hello    version (int), name (string), caps (array of strings)
	///     2     text     id (string), ts (int, ms since epoch), text (string)
	///     3     receipt  id (string)
	///     4     ping     n (int)
	///     5     pong     n (int)
	///     6     close    reason (string)
	///
	/// Thread rules: catalog() is immutable after first use; safe from any thread.
{
public:
	static constexpr std::int64_t VERSION = 1;
	static constexpr std::size_t MAX_TEXT_SIZE = 16 * 1024;   ///< Bytes of UTF-8 per message.
	static constexpr std::size_t MAX_NAME_SIZE = 64;
	static constexpr std::size_t MAX_MESSAGE_ID_SIZE = 64;
	static constexpr std::size_t MAX_FRAME_SIZE = 64 * 1024;  ///< Frame body limit for sessions.

	static const MessageCatalog& catalog();
};


} } // namespace CrossChat::Chat


#endif // CrossChat_Chat_SessionProtocol_INCLUDED
