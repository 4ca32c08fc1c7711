//
// FrameCodec.cpp
//
// Library: Foundation
// Length-prefixed frames for stream transports (TCP, TLS, relay tunnels).
//
// Rules the header leaves open, decided here:
//   - feed() on a failed decoder drops the bytes (next() keeps throwing), so a stream that
//     has gone bad cannot grow the buffer.
//   - Consumed frames advance a read offset; the consumed prefix is erased at the next
//     feed() once the offset reaches half the buffer, so decoding stays linear.
//   - A maxBodySize above 4 GiB - 1 is clamped to what the length field can express.
//


#include "CrossChat/FrameCodec.h"
#include "CrossChat/FoundationException.h"
#include "Poco/ByteOrder.h"
#include "Poco/NumberFormatter.h"
#include <algorithm>
#include <cstring>
#include <limits>


namespace CrossChat {


namespace {


constexpr std::size_t MAX_WIRE_LENGTH = std::numeric_limits<std::uint32_t>::max();
	/// The largest body the 4-byte length field can express.


std::string tooLargeMessage(std::uint64_t length, std::size_t maximum)
{
	return "frame body of " + std::to_string(length) + " bytes exceeds the maximum of " + std::to_string(maximum);
}


} // namespace


FrameCodec::FrameCodec(std::size_t maxBodySize):
	_maxBodySize(std::min(maxBodySize, MAX_WIRE_LENGTH))
{
	// A maximum above 4 GiB - 1 is clamped: the length field cannot express more.
}


std::size_t FrameCodec::maxBodySize() const
{
	return _maxBodySize;
}


std::string FrameCodec::encode(std::uint8_t type, const std::string& body) const
{
	std::string out;
	encodeTo(out, type, body);
	return out;
}


void FrameCodec::encodeTo(std::string& out, std::uint8_t type, const std::string& body) const
{
	encodeTo(out, type, body.data(), body.size());
}


void FrameCodec::encodeTo(std::string& out, std::uint8_t type, const char* body, std::size_t size) const
{
	char header[HEADER_SIZE];
	encodeHeader(header, type, size);
	out.reserve(out.size() + HEADER_SIZE + size);
	out.append(header, HEADER_SIZE);
	out.append(body, size);
}


void FrameCodec::encodeHeader(char* header, std::uint8_t type, std::size_t bodySize) const
{
	if (bodySize > _maxBodySize)
		throw FrameTooLargeException(tooLargeMessage(bodySize, _maxBodySize));
	const Poco::UInt32 length = Poco::ByteOrder::toBigEndian(static_cast<Poco::UInt32>(bodySize));
	header[0] = static_cast<char>(MAGIC_0);
	header[1] = static_cast<char>(MAGIC_1);
	header[2] = static_cast<char>(VERSION);
	header[3] = static_cast<char>(type);
	std::memcpy(header + 4, &length, sizeof(length));
}


void FrameCodec::feed(const char* data, std::size_t length)
{
	// A failed stream is never resynchronised, so its bytes are dropped rather than buffered.
	if (_failed || length == 0) return;

	// Compact before appending, so that the consumed prefix is not copied into a larger buffer.
	if (_readPos > 0 && _readPos >= _buffer.size()/2)
	{
		_buffer.erase(0, _readPos);
		_readPos = 0;
	}
	_buffer.append(data, length);
}


std::optional<Frame> FrameCodec::next()
{
	if (_failed) throwFailed();

	const std::size_t available = _buffer.size() - _readPos;
	if (available < HEADER_SIZE) return std::nullopt;

	const char* pHeader = _buffer.data() + _readPos;
	const std::size_t length = checkHeader(pHeader);
	if (available - HEADER_SIZE < length) return std::nullopt;

	Frame frame;
	frame.type = static_cast<std::uint8_t>(pHeader[3]);
	frame.body.assign(_buffer, _readPos + HEADER_SIZE, length);
	_readPos += HEADER_SIZE + length;
	if (_readPos == _buffer.size())
	{
		_buffer.clear();
		_readPos = 0;
	}
	return frame;
}


void FrameCodec::throwFailed() const
{
	throw FrameException("decoder has failed earlier; the stream cannot be resynchronised");
}


std::size_t FrameCodec::checkHeader(const char* pHeader)
{
	const auto byte = [pHeader](std::size_t i) { return static_cast<std::uint8_t>(pHeader[i]); };
	try
	{
		if (byte(0) != MAGIC_0 || byte(1) != MAGIC_1)
		{
			const unsigned magic = (static_cast<unsigned>(byte(0)) << 8) | byte(1);
			throw FrameException("bad magic 0x" + Poco::NumberFormatter::formatHex(magic, 4));
		}
		if (byte(2) != VERSION)
			throw FrameException("unsupported version " + std::to_string(byte(2)));
		Poco::UInt32 wireLength = 0;
		std::memcpy(&wireLength, pHeader + 4, sizeof(wireLength));
		const std::size_t length = Poco::ByteOrder::fromBigEndian(wireLength);
		if (length > _maxBodySize)
			throw FrameTooLargeException(tooLargeMessage(length, _maxBodySize));
		return length;
	}
	catch (FrameException&)
	{
		_failed = true;
		_buffer.clear();
		_readPos = 0;
		throw;
	}
}


std::size_t FrameCodec::completeBuffered(const char* data, std::size_t length, std::optional<FrameView>& frame)
{
	std::size_t taken = 0;
	std::size_t have = _buffer.size() - _readPos;
	if (have < HEADER_SIZE)
	{
		const std::size_t n = std::min(HEADER_SIZE - have, length);
		_buffer.append(data, n);
		taken += n;
		have += n;
		if (have < HEADER_SIZE) return taken;
	}
	const std::size_t bodySize = checkHeader(_buffer.data() + _readPos);
	const std::size_t frameSize = HEADER_SIZE + bodySize;
	if (have < frameSize)
	{
		// The length was checked against the maximum: reserving the frame is bounded.
		_buffer.reserve(_readPos + frameSize);
		const std::size_t n = std::min(frameSize - have, length - taken);
		_buffer.append(data + taken, n);
		taken += n;
		have += n;
		if (have < frameSize) return taken;
	}
	FrameView view;
	view.type = static_cast<std::uint8_t>(_buffer[_readPos + 3]);
	view.data = _buffer.data() + _readPos + HEADER_SIZE;
	view.size = bodySize;
	frame = view;
	return taken;
}


void FrameCodec::dropBufferedFrame()
	/// Removes the complete frame at the front of the buffer (delivered by decode()).
{
	if (_failed || _buffer.size() - _readPos < HEADER_SIZE) return;
	Poco::UInt32 wireLength = 0;
	std::memcpy(&wireLength, _buffer.data() + _readPos + 4, sizeof(wireLength));
	_readPos += HEADER_SIZE + Poco::ByteOrder::fromBigEndian(wireLength);
	if (_readPos >= _buffer.size())
	{
		_buffer.clear();
		_readPos = 0;
	}
}


void FrameCodec::keepTail(const char* data, std::size_t length)
	/// Appends bytes that do not make a complete frame yet.
{
	if (length == 0 || _failed) return;
	if (_readPos > 0 && _readPos >= _buffer.size() / 2)
	{
		_buffer.erase(0, _readPos);
		_readPos = 0;
	}
	_buffer.append(data, length);
}


std::size_t FrameCodec::buffered() const
{
	return _buffer.size() - _readPos;
}


bool FrameCodec::failed() const
{
	return _failed;
}


void FrameCodec::reset()
{
	std::string().swap(_buffer);
	_readPos = 0;
	_failed = false;
}


} // namespace CrossChat
