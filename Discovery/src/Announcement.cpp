//
// Announcement.cpp
//
// Library: Discovery
//


#include "CrossChat/Discovery/Announcement.h"
#include "CrossChat/FoundationException.h"
#include "CrossChat/Identity.h"
#include "CrossChat/PublicKey.h"
#include "Poco/BinaryReader.h"
#include "Poco/BinaryWriter.h"
#include "Poco/Exception.h"
#include "Poco/MemoryStream.h"
#include <sstream>


namespace CrossChat {
namespace Discovery {


namespace {


constexpr std::uint8_t FAMILY_IPV4 = 4;
constexpr std::uint8_t FAMILY_IPV6 = 6;
constexpr std::size_t IPV4_SIZE = 4;
constexpr std::size_t IPV6_SIZE = 16;


std::string nameProblem(const std::string& name)
	/// Empty if name is valid UTF-8 (shortest form, no surrogates, at most U+10FFFF) without
	/// C0 control characters or DEL; else what is wrong with it.
{
	std::size_t i = 0;
	while (i < name.size())
	{
		const unsigned char c = static_cast<unsigned char>(name[i]);
		if (c < 0x20 || c == 0x7F) return "control character at byte " + std::to_string(i);
		if (c < 0x80)
		{
			++i;
			continue;
		}
		std::size_t length = 0;
		std::uint32_t codePoint = 0;
		if (c >= 0xC2 && c <= 0xDF)
		{
			length = 2;
			codePoint = c & 0x1Fu;
		}
		else if (c >= 0xE0 && c <= 0xEF)
		{
			length = 3;
			codePoint = c & 0x0Fu;
		}
		else if (c >= 0xF0 && c <= 0xF4)
		{
			length = 4;
			codePoint = c & 0x07u;
		}
		else
		{
			return "invalid UTF-8 lead byte at byte " + std::to_string(i);
		}
		if (name.size() - i < length) return "truncated UTF-8 sequence at byte " + std::to_string(i);
		for (std::size_t k = 1; k < length; ++k)
		{
			const unsigned char cc = static_cast<unsigned char>(name[i + k]);
			if ((cc & 0xC0u) != 0x80u) return "invalid UTF-8 continuation at byte " + std::to_string(i + k);
			codePoint = (codePoint << 6) | (cc & 0x3Fu);
		}
		if ((length == 3 && codePoint < 0x800) || (length == 4 && codePoint < 0x10000))
			return "overlong UTF-8 sequence at byte " + std::to_string(i);
		if (codePoint >= 0xD800 && codePoint <= 0xDFFF) return "UTF-16 surrogate at byte " + std::to_string(i);
		if (codePoint > 0x10FFFF) return "code point above U+10FFFF at byte " + std::to_string(i);
		i += length;
	}
	return std::string();
}


class Cursor
	/// Reads a datagram front to back through a BinaryReader (big-endian) and checks that each
	/// field fits in what is left before reading it.
{
public:
	Cursor(const char* data, std::size_t size):
		_stream(data, size),
		_reader(_stream, Poco::BinaryReader::BIG_ENDIAN_BYTE_ORDER),
		_size(size)
	{
	}

	void need(std::size_t count, const char* field) const
	{
		if (_size - _offset < count)
		{
			throw Poco::DataFormatException("discovery datagram truncated",
				std::string(field) + " needs " + std::to_string(count) + " bytes at offset " +
				std::to_string(_offset) + ", " + std::to_string(_size - _offset) + " left");
		}
	}

	std::uint8_t u8(const char* field)
	{
		need(1, field);
		std::uint8_t value = 0;
		_reader >> value;
		_offset += 1;
		return value;
	}

	std::uint16_t u16(const char* field)
	{
		need(2, field);
		std::uint16_t value = 0;
		_reader >> value;
		_offset += 2;
		return value;
	}

	std::uint64_t u64(const char* field)
	{
		need(8, field);
		std::uint64_t value = 0;
		_reader >> value;
		_offset += 8;
		return value;
	}

	std::string bytes(std::size_t count, const char* field)
	{
		need(count, field);
		std::string value;
		_reader.readRaw(static_cast<std::streamsize>(count), value);
		_offset += count;
		return value;
	}

	std::size_t offset() const
	{
		return _offset;
	}

private:
	Poco::MemoryInputStream _stream;
	Poco::BinaryReader _reader;
	const std::size_t _size;
	std::size_t _offset = 0;
};


} // namespace


std::string Announcement::encode(const Identity& identity) const
{
	if (name.size() > MAX_NAME_SIZE)
	{
		throw Poco::InvalidArgumentException("discovery name too long",
			std::to_string(name.size()) + " bytes, at most " + std::to_string(MAX_NAME_SIZE));
	}
	const std::string problem = nameProblem(name);
	if (!problem.empty()) throw Poco::InvalidArgumentException("discovery name rejected", problem);
	if (addresses.size() > MAX_ADDRESSES)
	{
		throw Poco::InvalidArgumentException("too many discovery addresses",
			std::to_string(addresses.size()) + ", at most " + std::to_string(MAX_ADDRESSES));
	}

	std::ostringstream buffer;
	Poco::BinaryWriter writer(buffer, Poco::BinaryWriter::BIG_ENDIAN_BYTE_ORDER);
	writer.writeRaw(MAGIC, static_cast<std::streamsize>(MAGIC_SIZE));
	writer << VERSION << static_cast<std::uint8_t>(kind) << flags;
	writer.writeRaw(identity.publicKey().raw());
	writer << static_cast<std::uint8_t>(name.size());
	writer.writeRaw(name);
	writer << chatPort;
	writer << static_cast<std::uint8_t>(addresses.size());
	for (const Poco::Net::IPAddress& address: addresses)
	{
		if (address.family() == Poco::Net::IPAddress::IPv4 && address.length() == IPV4_SIZE)
			writer << FAMILY_IPV4;
		else if (address.family() == Poco::Net::IPAddress::IPv6 && address.length() == IPV6_SIZE)
			writer << FAMILY_IPV6;
		else
			throw Poco::InvalidArgumentException("discovery address is neither IPv4 nor IPv6", address.toString());
		writer.writeRaw(static_cast<const char*>(address.addr()), static_cast<std::streamsize>(address.length()));
	}
	writer << instanceId << sequence << timestampMs;
	writer.flush();

	std::string datagram = buffer.str();
	datagram += identity.sign(datagram);
	if (datagram.size() > MAX_DATAGRAM_SIZE)
	{
		throw Poco::InvalidArgumentException("discovery datagram too large",
			std::to_string(datagram.size()) + " bytes, at most " + std::to_string(MAX_DATAGRAM_SIZE));
	}
	return datagram;
}


Announcement Announcement::parse(const char* data, std::size_t size)
{
	if (size > MAX_DATAGRAM_SIZE)
	{
		throw Poco::DataFormatException("discovery datagram oversized",
			std::to_string(size) + " bytes, at most " + std::to_string(MAX_DATAGRAM_SIZE));
	}
	if (size < MIN_DATAGRAM_SIZE)
	{
		throw Poco::DataFormatException("discovery datagram truncated",
			std::to_string(size) + " bytes, at least " + std::to_string(MIN_DATAGRAM_SIZE));
	}

	Cursor cursor(data, size);
	if (cursor.bytes(MAGIC_SIZE, "magic") != MAGIC) throw Poco::DataFormatException("not a discovery datagram (bad magic)");
	const std::uint8_t version = cursor.u8("version");
	if (version != VERSION)
	{
		throw Poco::DataFormatException("unsupported discovery version",
			std::to_string(version) + ", expected " + std::to_string(VERSION));
	}
	Announcement result;
	const std::uint8_t kind = cursor.u8("kind");
	if (kind != ANNOUNCE && kind != GOODBYE)
		throw Poco::DataFormatException("unknown discovery datagram kind", std::to_string(kind));
	result.kind = static_cast<Kind>(kind);
	result.flags = cursor.u8("flags");
	result.publicKey = cursor.bytes(PublicKey::RAW_SIZE, "public key");

	const std::size_t nameSize = cursor.u8("name length");
	if (nameSize > MAX_NAME_SIZE)
	{
		throw Poco::DataFormatException("discovery name too long",
			std::to_string(nameSize) + " bytes, at most " + std::to_string(MAX_NAME_SIZE));
	}
	result.name = cursor.bytes(nameSize, "name");
	const std::string problem = nameProblem(result.name);
	if (!problem.empty()) throw Poco::DataFormatException("discovery name rejected", problem);

	result.chatPort = cursor.u16("chat port");
	const std::size_t count = cursor.u8("address count");
	if (count > MAX_ADDRESSES)
	{
		throw Poco::DataFormatException("too many discovery addresses",
			std::to_string(count) + ", at most " + std::to_string(MAX_ADDRESSES));
	}
	result.addresses.reserve(count);
	for (std::size_t i = 0; i < count; ++i)
	{
		const std::uint8_t family = cursor.u8("address family");
		std::size_t length = 0;
		if (family == FAMILY_IPV4)
			length = IPV4_SIZE;
		else if (family == FAMILY_IPV6)
			length = IPV6_SIZE;
		else
			throw Poco::DataFormatException("unknown discovery address family", std::to_string(family));
		const std::string raw = cursor.bytes(length, "address");
		result.addresses.emplace_back(raw.data(), static_cast<poco_socklen_t>(raw.size()));
	}
	result.instanceId = cursor.u64("instance id");
	result.sequence = cursor.u64("sequence");
	result.timestampMs = cursor.u64("timestamp");

	const std::size_t signedSize = cursor.offset();
	const std::string signature = cursor.bytes(SIGNATURE_SIZE, "signature");
	if (cursor.offset() != size)
	{
		throw Poco::DataFormatException("trailing bytes after discovery datagram",
			std::to_string(size - cursor.offset()) + " bytes");
	}

	const PublicKey key = PublicKey::fromRaw(result.publicKey);
	if (!key.verify(std::string(data, signedSize), signature))
		throw CryptoException("bad discovery datagram signature", key.peerId().shortString());
	result.peerId = key.peerId();
	return result;
}


Announcement Announcement::parse(const std::string& datagram)
{
	return parse(datagram.data(), datagram.size());
}


} } // namespace CrossChat::Discovery
