//
// FrameCodec.h
//
// Library: Foundation
// Length-prefixed frames for stream transports (TCP, TLS, relay tunnels).
//


#ifndef CrossChat_Foundation_FrameCodec_INCLUDED
#define CrossChat_Foundation_FrameCodec_INCLUDED


#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>


namespace CrossChat {


struct Frame
	/// One decoded frame: its type code and its body bytes.
{
	std::uint8_t type = 0;
	std::string body;
};


struct FrameView
	/// One decoded frame without a copy: its type and where its body lies. Valid only during the
	/// handler call that receives it (FrameCodec::decode()).
{
	std::uint8_t type = 0;
	const char* data = nullptr;
	std::size_t size = 0;

	std::string_view body() const
	{
		return std::string_view(data, size);
	}
};


class FrameCodec
	/// Encodes frames and decodes them incrementally from a byte stream.
	///
	/// Wire format (all integers big-endian), 8-byte header then body:
	///
	///     offset 0  2 bytes  magic 0x43 0x58 ("CX")
	///     offset 2  1 byte   version (VERSION = 1)
	///     offset 3  1 byte   type (meaning defined by the protocol on top)
	///     offset 4  4 bytes  body length, 0 .. maxBodySize
	///     offset 8  body
	///
	/// The decoder checks the magic, version and length as soon as the 8 header bytes are
	/// there, before it buffers or allocates the body; a partial frame waits for more bytes.
	/// Any violation throws FrameException (FrameTooLargeException for the length), after which
	/// the decoder stays failed: the stream cannot be resynchronised and should be closed.
	///
	/// Two ways to decode. decode(data, size, handler) is the fast one: it hands each complete
	/// frame to the handler as a FrameView into the caller's bytes, without copying or
	/// allocating; only a frame cut at the end of the bytes is copied, to be completed by the
	/// next call. feed() + next() copy the bytes into the codec and each body into a Frame.
	///
	/// Thread rules: not thread-safe; use one codec per connection on its loop thread.
{
public:
	static constexpr std::uint8_t MAGIC_0 = 0x43;
	static constexpr std::uint8_t MAGIC_1 = 0x58;
	static constexpr std::uint8_t VERSION = 1;
	static constexpr std::size_t HEADER_SIZE = 8;
	static constexpr std::size_t DEFAULT_MAX_BODY_SIZE = 256 * 1024;

	explicit FrameCodec(std::size_t maxBodySize = DEFAULT_MAX_BODY_SIZE);
		/// maxBodySize applies to both encoding and decoding.

	std::size_t maxBodySize() const;

	std::string encode(std::uint8_t type, const std::string& body) const;
		/// Returns header + body. Throws FrameTooLargeException if the body exceeds the maximum.

	void encodeTo(std::string& out, std::uint8_t type, const std::string& body) const;
	void encodeTo(std::string& out, std::uint8_t type, const char* body, std::size_t size) const;
		/// Appends header + body to out. Throws FrameTooLargeException if the body is too large.

	void encodeHeader(char* header, std::uint8_t type, std::size_t bodySize) const;
		/// Writes the HEADER_SIZE header bytes for a body of bodySize bytes to header, so that a
		/// caller can place the body itself. Throws FrameTooLargeException if it is too large.

	template <typename Handler>
	void decode(const char* data, std::size_t length, Handler&& onFrame);
		/// Decodes data, continuing a frame left incomplete by the previous call, and calls
		/// onFrame(const FrameView&) for each complete frame in order. Views point into data (or,
		/// for a frame that began in an earlier call, into the codec) and are valid only during
		/// the call. Bytes after the last complete frame are kept for the next call. Throws
		/// FrameException on a malformed header (the frames before it have been delivered). If
		/// onFrame throws, the exception propagates and the bytes after that frame are kept.

	void feed(const char* data, std::size_t length);
		/// Appends received bytes. Call next() until it returns nothing after each feed(): the
		/// decoder then never holds more than one frame plus the bytes of one feed().

	std::optional<Frame> next();
		/// Returns the next complete frame, or nothing if more bytes are needed.
		/// Throws FrameException on a malformed header.

	std::size_t buffered() const;
		/// Bytes received but not yet returned as frames.

	bool failed() const;
		/// True after next() has thrown; the decoder rejects everything afterwards.

	void reset();
		/// Drops buffered bytes and the failed state (for a new connection).

private:
	[[noreturn]] void throwFailed() const;
	std::size_t checkHeader(const char* pHeader);
		/// The body length the header announces; throws FrameException (and fails the decoder)
		/// if the header is malformed.
	std::size_t completeBuffered(const char* data, std::size_t length, std::optional<FrameView>& frame);
		/// Moves bytes from data into the buffered partial frame, as many as it needs; returns
		/// how many it took, and sets frame once the buffered frame is complete.
	void dropBufferedFrame();
	void keepTail(const char* data, std::size_t length);

	std::size_t _maxBodySize;
	std::string _buffer;
	std::size_t _readPos = 0;
	bool _failed = false;
};


template <typename Handler>
void FrameCodec::decode(const char* data, std::size_t length, Handler&& onFrame)
{
	if (_failed) throwFailed();   // a failed stream stays failed
	std::size_t offset = 0;
	// Frames that began in earlier calls (normally at most one, cut at the end of the last call).
	while (_readPos < _buffer.size())
	{
		std::optional<FrameView> frame;
		offset += completeBuffered(data + offset, length - offset, frame);
		if (!frame) return;   // all of data went into the buffered frame
		struct Guard
		{
			FrameCodec& codec;
			~Guard() { codec.dropBufferedFrame(); }
		} guard{*this};
		try
		{
			onFrame(*frame);
		}
		catch (...)
		{
			keepTail(data + offset, length - offset);
			throw;
		}
	}
	// Whole frames straight from data: no copy.
	while (length - offset >= HEADER_SIZE)
	{
		const std::size_t bodySize = checkHeader(data + offset);
		if (length - offset - HEADER_SIZE < bodySize) break;
		FrameView frame;
		frame.type = static_cast<std::uint8_t>(data[offset + 3]);
		frame.data = data + offset + HEADER_SIZE;
		frame.size = bodySize;
		offset += HEADER_SIZE + bodySize;
		try
		{
			onFrame(frame);
		}
		catch (...)
		{
			keepTail(data + offset, length - offset);
			throw;
		}
	}
	keepTail(data + offset, length - offset);
}


} // namespace CrossChat


#endif // CrossChat_Foundation_FrameCodec_INCLUDED
