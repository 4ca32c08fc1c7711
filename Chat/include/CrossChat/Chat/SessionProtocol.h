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
	///     7     refuse   id (string), code (string), reason (string): the receiver will not take
	///                    message id (codes below); the sender stops resending it
	///     8     contact  accepted (bool): whether the sender has the receiver as a contact (sent
	///                    after the handshake and whenever it changes); the connection ladder
	///                    upgrades only between peers that are contacts of each other
	///     9     name     name (string): the sender's new display name (/nick); sent only to
	///                    peers whose hello listed the cap "nick"; the receiver shows it from now
	///                    on (new sessions carry it in hello anyway)
	///
	/// File transfer (types 32..47, docs/PROTOCOL.md "File transfer"; only to peers whose hello
	/// lists FILES_CAP):
	///
	///     32    file-offer       id, name, size, sha256, block_size, ts (, group)
	///     33    file-accept      id
	///     34    file-cancel      id, code, reason: either side ends the transfer
	///     35    file-hashes-get  id, first, count
	///     36    file-hashes      id, first, hashes (array of hex SHA-256)
	///     37    file-get         id, round, blocks (array of block indexes)
	///     38    file-done        id: the receiver has the whole file, verified
	///     40    file-data        binary, not JSON (TransferProtocol: a 28-byte header + bytes)
	///
	/// Refusal codes: "invalid_utf8" (text or name not UTF-8), "malformed" (a text message that
	/// fails its schema, e.g. text longer than MAX_TEXT_SIZE), "blocked" (the receiver blocked
	/// the sender), "busy" (the receiver keeps no more messages from this sender for now).
	///
	/// Thread rules: catalog() is immutable after first use; safe from any thread.
{
public:
	static constexpr std::int64_t VERSION = 1;
	static constexpr std::size_t MAX_TEXT_SIZE = 16 * 1024;   ///< Bytes of UTF-8 per message.
	static constexpr std::size_t MAX_NAME_SIZE = 64;
	static constexpr std::size_t MAX_MESSAGE_ID_SIZE = 64;
	static constexpr std::size_t MAX_FRAME_SIZE = 64 * 1024;  ///< Frame body limit for sessions.
	static constexpr const char* REFUSE_INVALID_UTF8 = "invalid_utf8";
	static constexpr const char* REFUSE_MALFORMED = "malformed";
	static constexpr const char* REFUSE_BLOCKED = "blocked";
	static constexpr const char* REFUSE_BUSY = "busy";
	static constexpr const char* CAP_NICK = "nick";   ///< Understands message 9 (name).

	static const MessageCatalog& catalog();
		/// The JSON messages (every type above except the binary ones).

	// File transfer ------------------------------------------------------------------------

	static constexpr const char* FILES_CAP = "files/1";   ///< In hello caps: the peer speaks file transfer.
	static constexpr std::uint8_t FILE_DATA = 40;         ///< Binary frame: TransferProtocol::DataHeader + bytes.
	static constexpr std::size_t MAX_FILE_NAME_SIZE = 255;
	static constexpr std::size_t MAX_HASHES_PER_MESSAGE = 512;
	static constexpr std::size_t MAX_BLOCKS_PER_GET = 64;

	static bool isBinary(std::uint8_t type);
		/// True for the frame types whose body is not JSON (FILE_DATA): the session hands them
		/// to its Listener as bytes, and their own parser (TransferProtocol) checks them.
};


} } // namespace CrossChat::Chat


#endif // CrossChat_Chat_SessionProtocol_INCLUDED
