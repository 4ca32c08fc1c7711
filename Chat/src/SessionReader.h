//
// SessionReader.h
//
// Library: Chat
// Private: the receiving half of a chat session — bytes in, session events out — with no
// socket, TLS or timer, so that it can be fuzzed and tested on its own.
// This is an internal header file, it is not installed; do not include it from outside Chat/src.
//


#ifndef CrossChat_Chat_SessionReader_INCLUDED
#define CrossChat_Chat_SessionReader_INCLUDED


#include "CrossChat/FrameCodec.h"
#include "CrossChat/MessageCatalog.h"
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>


namespace CrossChat {
namespace Chat {


class SessionReader
	/// Turns what a peer sends on a session into events, by the rules of PROTOCOL.md ("Chat
	/// session"):
	///   - frames (FrameCodec, SessionProtocol::MAX_FRAME_SIZE); a frame error is fatal;
	///   - hello first: a malformed hello, a second hello, or any known message before hello is
	///     fatal (StreamError); a message of an unknown type is skipped at any time;
	///   - after hello, one bad item costs one error: a text that fails its schema or is not
	///     UTF-8 is reported to onRefused() with its id if one can be read (a lossy UTF-8 decode
	///     is enough), else with an empty id; any other malformed message likewise, without id;
	///   - ping, close and the rest are handed on, schema-checked;
	///   - binary texts (TEXT_BIN) go to onText(), binary receipts (RECEIPTS) to onReceipt()
	///     once per id; a malformed one is skipped like a malformed JSON one (a text by its id
	///     if it can be read); before hello they are fatal;
	///   - binary frames (file data) go to onBinary() as they are; before hello they are fatal.
	///
	/// Frames are decoded in place (FrameCodec::decode()): a binary text or receipt costs no
	/// copy and no allocation.
	///
	/// Thread rules: not thread-safe; owned by one session on its loop.
{
public:
	class Handler
	{
	public:
		virtual ~Handler() = default;
		virtual void onHello(const std::string& name, const std::vector<std::string>& caps) = 0;
			/// The peer's hello (name is valid UTF-8; caps are its string capabilities, others
			/// ignored).
		virtual void onMessage(const Message& message) = 0;
			/// A schema-valid message after hello other than hello (texts are valid UTF-8).
		virtual void onRefused(const std::string& messageId, const char* code, const std::string& problem) = 0;
			/// A malformed message was skipped; messageId is empty if none could be read,
			/// code is SessionProtocol::REFUSE_INVALID_UTF8 or REFUSE_MALFORMED.
		virtual void onText(std::string_view id, std::int64_t timestampMs, std::string_view text) = 0;
			/// A well-formed binary text (TEXT_BIN) after hello; the text is valid UTF-8. The
			/// views are valid only during the call.
		virtual void onReceipt(std::string_view id) = 0;
			/// One id of a well-formed binary receipt frame (RECEIPTS) after hello, in order.
			/// The view is valid only during the call.
		virtual void onBinary(const Frame& /*frame*/) {}
			/// A frame of a binary type (SessionProtocol::isBinary()) after hello, unparsed: its
			/// own parser checks it. Ignored by default.
		virtual bool stopped() const = 0;
			/// True once the owner closed the session: the rest of the input is ignored.
	};

	explicit SessionReader(Handler& handler);

	void feed(const char* data, std::size_t size);
		/// Processes the bytes. Throws FrameException or MessageException when the stream or
		/// the handshake is broken (the session must end); the reader is then unusable.

	bool established() const;
		/// The peer's hello has been read.

	std::uint64_t skipped() const;
		/// Malformed messages skipped so far.

private:
	void handle(const FrameView& frame);
	void handleText(const FrameView& frame);
	void handleReceipts(const FrameView& frame);
	void skip(const FrameView& frame, const std::string& problem);

	Handler& _handler;
	FrameCodec _codec;
	std::vector<std::string_view> _receiptIds;   ///< Reused for each RECEIPTS frame.
	bool _established = false;
	std::uint64_t _skipped = 0;
};


} } // namespace CrossChat::Chat


#endif // CrossChat_Chat_SessionReader_INCLUDED
