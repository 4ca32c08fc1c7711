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


namespace CrossChat {


struct Frame
	/// One decoded frame: its type code and its body bytes.
{
	std::uint8_t type = 0;
	std::string body;
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
		/// Appends header + body to out. Throws FrameTooLargeException if the body is too large.

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
	std::size_t _maxBodySize;
	std::string _buffer;
	std::size_t _readPos = 0;
	bool _failed = false;
};


} // namespace CrossChat


#endif // CrossChat_Foundation_FrameCodec_INCLUDED
