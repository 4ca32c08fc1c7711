//
// PeerId.cpp
//
// Library: Foundation
// A peer's identity: the SHA-256 of its public key's SubjectPublicKeyInfo (DER).
//


#include "CrossChat/PeerId.h"
#include "OpenSSLError.h"
#include "CrossChat/FoundationException.h"
#include <openssl/err.h>
#include <openssl/evp.h>
#include <algorithm>
#include <cstring>


namespace CrossChat {


namespace {


const char ALPHABET[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
	/// RFC 4648 base32; also the code points of the Luhn mod 32 check.

constexpr int RADIX = 32;
constexpr std::size_t BLOCK_COUNT = 4;
constexpr std::size_t BLOCK_LENGTH = 13;
constexpr std::size_t DATA_LENGTH = BLOCK_COUNT*BLOCK_LENGTH;   // 52 = ceil(256 / 5)
constexpr std::size_t TEXT_LENGTH = DATA_LENGTH + BLOCK_COUNT;  // 56, without dashes
constexpr std::size_t GROUP_LENGTH = 7;


int codePoint(char c)
	/// The value of an upper-case base32 character, or -1 if c is not in the alphabet.
{
	if (c >= 'A' && c <= 'Z') return c - 'A';
	if (c >= '2' && c <= '7') return c - '2' + 26;
	return -1;
}


bool isSeparator(char c)
{
	return c == '-' || c == ' ';
}


char toUpper(char c)
	/// ASCII only; independent of the global locale.
{
	return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
}


std::string printable(char c)
	/// c for an error message: itself if printable ASCII, else a \xNN escape.
{
	const unsigned char u = static_cast<unsigned char>(c);
	if (u >= 0x20 && u < 0x7F) return std::string(1, c);
	static const char HEX[] = "0123456789ABCDEF";
	std::string result("\\x");
	result += HEX[u >> 4];
	result += HEX[u & 0x0F];
	return result;
}


std::string normalise(const std::string& text)
	/// Upper case, without separators. Does not validate.
{
	std::string result;
	result.reserve(std::min(text.size(), TEXT_LENGTH));
	for (char c: text)
	{
		if (!isSeparator(c)) result += toUpper(c);
	}
	return result;
}


char luhnCheck(const char* data, std::size_t length)
	/// The Luhn mod 32 check character of data (valid base32 characters), computed with the
	/// standard "Luhn mod N" algorithm: from the rightmost character leftwards, every other code
	/// point (starting with the rightmost) is doubled and its base-32 digits summed.
{
	int factor = 2;
	int sum = 0;
	for (std::size_t i = length; i-- > 0;)
	{
		int addend = factor*codePoint(data[i]);
		factor = (factor == 2) ? 1 : 2;
		addend = addend/RADIX + addend%RADIX;
		sum += addend;
	}
	return ALPHABET[(RADIX - sum%RADIX)%RADIX];
}


std::string encodeBase32(const PeerId::Bytes& bytes)
	/// 52 characters, no padding; the last character carries the final bit followed by zeros.
{
	std::string result;
	result.reserve(DATA_LENGTH);
	unsigned buffer = 0;
	int bits = 0;
	for (std::uint8_t b: bytes)
	{
		buffer = (buffer << 8) | b;
		bits += 8;
		while (bits >= 5)
		{
			bits -= 5;
			result += ALPHABET[(buffer >> bits) & 0x1F];
		}
	}
	if (bits > 0) result += ALPHABET[(buffer << (5 - bits)) & 0x1F];
	return result;
}


std::string undashed(const PeerId::Bytes& bytes)
	/// The 56-character human form without dashes.
{
	const std::string data = encodeBase32(bytes);
	std::string result;
	result.reserve(TEXT_LENGTH);
	for (std::size_t block = 0; block < BLOCK_COUNT; ++block)
	{
		const char* pBlock = data.data() + block*BLOCK_LENGTH;
		result.append(pBlock, BLOCK_LENGTH);
		result += luhnCheck(pBlock, BLOCK_LENGTH);
	}
	return result;
}


std::optional<PeerId::Bytes> decode(const std::string& text, std::string* pError)
	/// Parses the human form. On failure returns an empty optional and, if pError is not null,
	/// stores a message naming the problem. Positions in messages count from 1 in the text as given.
{
	auto fail = [pError](const std::string& message) -> std::optional<PeerId::Bytes>
	{
		if (pError) *pError = message;
		return std::nullopt;
	};

	std::size_t length = 0;
	for (std::size_t i = 0; i < text.size(); ++i)
	{
		const char c = text[i];
		if (isSeparator(c)) continue;
		if (codePoint(toUpper(c)) < 0)
		{
			return fail("invalid character '" + printable(c) + "' at position " + std::to_string(i + 1) +
				" (peer IDs use only A-Z and 2-7)");
		}
		++length;
	}
	if (length != TEXT_LENGTH)
	{
		return fail("wrong length " + std::to_string(length) + ", expected " +
			std::to_string(TEXT_LENGTH) + " characters");
	}

	const std::string norm = normalise(text);
	std::string data;
	data.reserve(DATA_LENGTH);
	for (std::size_t block = 0; block < BLOCK_COUNT; ++block)
	{
		const char* pBlock = norm.data() + block*(BLOCK_LENGTH + 1);
		if (luhnCheck(pBlock, BLOCK_LENGTH) != pBlock[BLOCK_LENGTH])
		{
			return fail("check character mismatch in block " + std::to_string(block + 1) + " (mistyped ID?)");
		}
		data.append(pBlock, BLOCK_LENGTH);
	}

	PeerId::Bytes bytes{};
	std::size_t out = 0;
	unsigned buffer = 0;
	int bits = 0;
	for (char c: data)
	{
		buffer = (buffer << 5) | static_cast<unsigned>(codePoint(c));
		bits += 5;
		if (bits >= 8)
		{
			bits -= 8;
			bytes[out++] = static_cast<std::uint8_t>(buffer >> bits);
		}
		buffer &= (1u << bits) - 1;
	}
	if (out != PeerId::SIZE || buffer != 0)
	{
		// 52 characters carry 260 bits; the last 4 must be zero so that each ID has one form.
		return fail("non-canonical encoding: character '" + std::string(1, data.back()) +
			"' at the end of block 4 is not a valid final character");
	}
	return bytes;
}


} // namespace


PeerId::PeerId():
	_bytes{}
{
}


PeerId::PeerId(const Bytes& bytes):
	_bytes(bytes)
{
}


PeerId PeerId::fromPublicKeyDer(const std::string& spkiDer)
{
	return fromPublicKeyDer(reinterpret_cast<const std::uint8_t*>(spkiDer.data()), spkiDer.size());
}


PeerId PeerId::fromPublicKeyDer(const std::uint8_t* spkiDer, std::size_t size)
{
	// Fetched once: EVP_sha256() would look the implementation up again on every call.
	static EVP_MD* const pSha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);
	Bytes digest{};
	unsigned int digestLength = 0;
	if (!pSha256 || EVP_Digest(spkiDer, size, digest.data(), &digestLength, pSha256, nullptr) != 1 ||
		digestLength != SIZE)
	{
		throw CryptoException("SHA-256 failed", openSSLError());
	}
	return PeerId(digest);
}


PeerId PeerId::fromBytes(const std::string& bytes)
{
	if (bytes.size() != SIZE)
	{
		throw InvalidPeerIdException("wrong length " + std::to_string(bytes.size()) + ", expected " +
			std::to_string(SIZE) + " bytes");
	}
	Bytes raw;
	std::memcpy(raw.data(), bytes.data(), SIZE);
	return PeerId(raw);
}


PeerId PeerId::fromBytes(const Bytes& bytes)
{
	return PeerId(bytes);
}


PeerId PeerId::parse(const std::string& text)
{
	std::string error;
	const std::optional<Bytes> bytes = decode(text, &error);
	if (!bytes) throw InvalidPeerIdException(error);
	return PeerId(*bytes);
}


std::optional<PeerId> PeerId::tryParse(const std::string& text)
{
	const std::optional<Bytes> bytes = decode(text, nullptr);
	if (!bytes) return std::nullopt;
	return PeerId(*bytes);
}


bool PeerId::isPrefixOf(const std::string& prefix, const PeerId& id)
{
	const std::string norm = normalise(prefix);
	if (norm.empty() || norm.size() > TEXT_LENGTH) return false;
	return undashed(id._bytes).compare(0, norm.size(), norm) == 0;
}


std::string PeerId::toString() const
{
	const std::string plain = undashed(_bytes);
	std::string result;
	result.reserve(TEXT_LENGTH + TEXT_LENGTH/GROUP_LENGTH - 1);
	for (std::size_t i = 0; i < TEXT_LENGTH; i += GROUP_LENGTH)
	{
		if (i > 0) result += '-';
		result.append(plain, i, GROUP_LENGTH);
	}
	return result;
}


std::string PeerId::shortString() const
{
	return undashed(_bytes).substr(0, GROUP_LENGTH);
}


const PeerId::Bytes& PeerId::bytes() const
{
	return _bytes;
}


std::string PeerId::byteString() const
{
	return std::string(reinterpret_cast<const char*>(_bytes.data()), _bytes.size());
}


bool PeerId::isNull() const
{
	return std::all_of(_bytes.begin(), _bytes.end(), [](std::uint8_t b) { return b == 0; });
}


bool PeerId::operator==(const PeerId& other) const
{
	return _bytes == other._bytes;
}


bool PeerId::operator!=(const PeerId& other) const
{
	return _bytes != other._bytes;
}


bool PeerId::operator<(const PeerId& other) const
{
	return _bytes < other._bytes;
}


} // namespace CrossChat


std::size_t std::hash<CrossChat::PeerId>::operator()(const CrossChat::PeerId& id) const noexcept
{
	// IDs are normally SHA-256 values, but fromBytes() accepts anything, so mix all 32 bytes
	// rather than trusting the first word alone.
	const CrossChat::PeerId::Bytes& bytes = id.bytes();
	std::uint64_t result = 0;
	for (std::size_t i = 0; i < bytes.size(); i += sizeof(std::uint64_t))
	{
		std::uint64_t word;
		std::memcpy(&word, bytes.data() + i, sizeof(word));
		result ^= word + 0x9E3779B97F4A7C15ULL + (result << 6) + (result >> 2);
	}
	return static_cast<std::size_t>(result);
}
