//
// SessionProtocol.h
//
// Library: Chat
// The messages of a chat session, declared once (see docs/PROTOCOL.md, "Chat session").
//


#ifndef CrossChat_Chat_SessionProtocol_INCLUDED
#define CrossChat_Chat_SessionProtocol_INCLUDED


#include "CrossChat/FrameCodec.h"
#include "CrossChat/MessageCatalog.h"
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>


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
	/// Binary text and receipts (not JSON; only to peers whose hello lists CAP_BINARY_TEXT, the
	/// others get texts and receipts as messages 2 and 3; all integers big-endian):
	///
	///     10    text-bin  id length (1 byte, 1..64), id (UTF-8), ts (8 bytes, 0..2^63-1),
	///                     text (the rest, 0..MAX_TEXT_SIZE bytes of UTF-8): message 2
	///     11    receipts  count (2 bytes, 1..MAX_RECEIPTS_PER_FRAME), then count times: id length
	///                     (1 byte, 1..64), id (UTF-8); nothing after the last: message 3 for
	///                     each id, in order
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

	// Binary text and receipts ---------------------------------------------------------------

	static constexpr const char* CAP_BINARY_TEXT = "text-bin/1";   ///< In hello caps: the peer reads TEXT_BIN and RECEIPTS.
	static constexpr std::uint8_t TEXT_BIN = 10;
	static constexpr std::uint8_t RECEIPTS = 11;
	static constexpr std::size_t MAX_RECEIPTS_PER_FRAME = 512;   ///< 512 x 65 bytes + 2 < MAX_FRAME_SIZE.

	static void encodeText(const FrameCodec& codec, std::string& out, std::string_view id, std::int64_t timestampMs, std::string_view text);
		/// Appends a whole TEXT_BIN frame to out. Throws MessageException if the id is empty,
		/// longer than MAX_MESSAGE_ID_SIZE or not UTF-8, if the timestamp is negative, or if
		/// the text is longer than MAX_TEXT_SIZE or not UTF-8 (the JSON text's rules).

	static const char* parseText(std::string_view body, std::string_view& id, std::int64_t& timestampMs, std::string_view& text);
		/// Reads a TEXT_BIN body into views of it. Returns nullptr if it is well-formed, else
		/// what is wrong (id is then set if it could be read: a length within bounds and UTF-8
		/// bytes). The text's UTF-8 is not checked here (the caller refuses it by id).

	static void appendReceiptId(std::string& entries, std::string_view id);
		/// Appends one id entry (length byte + id) of a RECEIPTS body to entries. Throws
		/// MessageException if the id is empty, too long or not UTF-8.

	static void encodeReceipts(const FrameCodec& codec, std::string& out, std::size_t count, std::string_view entries);
		/// Appends a whole RECEIPTS frame to out: count (1..MAX_RECEIPTS_PER_FRAME) ids already
		/// appended to entries by appendReceiptId(). Throws MessageException otherwise.

	static const char* parseReceipts(std::string_view body, std::vector<std::string_view>& ids);
		/// Reads a RECEIPTS body into ids (cleared first; views of body). Returns nullptr if it
		/// is well-formed, else what is wrong (ids is then empty): all or nothing.

	// File transfer ------------------------------------------------------------------------

	static constexpr const char* FILES_CAP = "files/1";   ///< In hello caps: the peer speaks file transfer.
	static constexpr std::uint8_t FILE_DATA = 40;         ///< Binary frame: TransferProtocol::DataHeader + bytes.
	static constexpr std::size_t MAX_FILE_NAME_SIZE = 255;
	static constexpr std::size_t MAX_HASHES_PER_MESSAGE = 512;
	static constexpr std::size_t MAX_BLOCKS_PER_GET = 64;

	static bool isBinary(std::uint8_t type);
		/// True for the frame types whose body is not JSON and that the session hands to its
		/// Listener as bytes (FILE_DATA; their own parser, TransferProtocol, checks them).
		/// TEXT_BIN and RECEIPTS are not JSON either, but the session parses them itself.
};


} } // namespace CrossChat::Chat


#endif // CrossChat_Chat_SessionProtocol_INCLUDED
