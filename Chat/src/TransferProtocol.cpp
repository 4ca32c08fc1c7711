//
// TransferProtocol.cpp
//
// Library: Chat
//


#include "TransferProtocol.h"
#include "CrossChat/Chat/SessionProtocol.h"
#include "CrossChat/FoundationException.h"
#include "CrossChat/Text.h"
#include "Poco/ByteOrder.h"
#include "Poco/JSON/Array.h"
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <algorithm>
#include <cstring>
#include <new>


namespace CrossChat {
namespace Chat {


namespace {


const char HEX[] = "0123456789abcdef";


int hexValue(char c)
{
	if (c >= '0' && c <= '9') return c - '0';
	if (c >= 'a' && c <= 'f') return c - 'a' + 10;
	if (c >= 'A' && c <= 'F') return c - 'A' + 10;
	return -1;
}


template <std::size_t N>
std::array<std::uint8_t, N> parseHexBytes(const std::string& hex, const char* what)
{
	if (hex.size() != 2 * N) throw MessageException(std::string(what) + " must be " + std::to_string(2 * N) + " hex characters");
	std::array<std::uint8_t, N> bytes{};
	for (std::size_t i = 0; i < N; ++i)
	{
		const int high = hexValue(hex[2 * i]);
		const int low = hexValue(hex[2 * i + 1]);
		if (high < 0 || low < 0) throw MessageException(std::string(what) + " is not hexadecimal");
		bytes[i] = static_cast<std::uint8_t>(high * 16 + low);
	}
	return bytes;
}


template <std::size_t N>
std::string hexOf(const std::array<std::uint8_t, N>& bytes)
{
	std::string text(2 * N, '0');
	for (std::size_t i = 0; i < N; ++i)
	{
		text[2 * i] = HEX[bytes[i] >> 4];
		text[2 * i + 1] = HEX[bytes[i] & 0x0F];
	}
	return text;
}


const EVP_MD* sha256Algorithm()
{
	static EVP_MD* const pSha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);
	if (!pSha256) throw Poco::IllegalStateException("OpenSSL offers no SHA-256");
	return pSha256;
}


std::uint32_t readUInt32(const char* p)
{
	std::uint32_t value;
	std::memcpy(&value, p, sizeof(value));
	return Poco::ByteOrder::fromNetwork(value);
}


void writeUInt32(char* p, std::uint32_t value)
{
	const std::uint32_t network = Poco::ByteOrder::toNetwork(value);
	std::memcpy(p, &network, sizeof(network));
}


std::uint32_t toUInt32(Poco::Int64 value)
{
	return static_cast<std::uint32_t>(value);
}


} // namespace


// TransferId -----------------------------------------------------------------------------


TransferId::TransferId() = default;


TransferId TransferId::random()
{
	TransferId id;
	if (RAND_bytes(id._bytes.data(), static_cast<int>(id._bytes.size())) != 1)
		throw Poco::IllegalStateException("OpenSSL cannot produce random bytes");
	return id;
}


TransferId TransferId::fromBytes(const Bytes& bytes)
{
	TransferId id;
	id._bytes = bytes;
	return id;
}


TransferId TransferId::parse(const std::string& hex)
{
	return fromBytes(parseHexBytes<SIZE>(hex, "a transfer ID"));
}


const TransferId::Bytes& TransferId::bytes() const
{
	return _bytes;
}


std::string TransferId::toString() const
{
	return hexOf(_bytes);
}


bool TransferId::isNull() const
{
	return std::all_of(_bytes.begin(), _bytes.end(), [](std::uint8_t b) { return b == 0; });
}


bool TransferId::operator==(const TransferId& other) const
{
	return _bytes == other._bytes;
}


bool TransferId::operator!=(const TransferId& other) const
{
	return _bytes != other._bytes;
}


bool TransferId::operator<(const TransferId& other) const
{
	return _bytes < other._bytes;
}


// Sha256 ---------------------------------------------------------------------------------


Sha256::Sha256():
	_pContext(EVP_MD_CTX_new())
{
	if (!_pContext || EVP_DigestInit_ex(_pContext, sha256Algorithm(), nullptr) != 1)
	{
		EVP_MD_CTX_free(_pContext);
		throw std::bad_alloc();
	}
}


Sha256::~Sha256()
{
	EVP_MD_CTX_free(_pContext);
}


void Sha256::update(const void* data, std::size_t size)
{
	if (size > 0 && EVP_DigestUpdate(_pContext, data, size) != 1) throw Poco::IllegalStateException("SHA-256 update failed");
}


Sha256Digest Sha256::finish()
{
	Sha256Digest digest{};
	unsigned length = 0;
	if (EVP_DigestFinal_ex(_pContext, digest.data(), &length) != 1 || length != digest.size()
		|| EVP_DigestInit_ex(_pContext, sha256Algorithm(), nullptr) != 1)
		throw Poco::IllegalStateException("SHA-256 failed");
	return digest;
}


Sha256Digest Sha256::of(const void* data, std::size_t size)
{
	Sha256Digest digest{};
	unsigned length = 0;
	if (EVP_Digest(data, size, digest.data(), &length, sha256Algorithm(), nullptr) != 1 || length != digest.size())
		throw Poco::IllegalStateException("SHA-256 failed");
	return digest;
}


std::string Sha256::hex(const Sha256Digest& digest)
{
	return hexOf(digest);
}


Sha256Digest Sha256::parseHex(const std::string& hex)
{
	return parseHexBytes<32>(hex, "a SHA-256 digest");
}


// BlockPlan ------------------------------------------------------------------------------


std::uint32_t BlockPlan::blockCount() const
{
	if (blockSize == 0) return 0;
	return static_cast<std::uint32_t>((size + blockSize - 1) / blockSize);
}


std::uint32_t BlockPlan::blockLength(std::uint32_t block) const
{
	const std::uint64_t offset = blockOffset(block);
	if (blockSize == 0 || offset >= size) return 0;
	return static_cast<std::uint32_t>(std::min<std::uint64_t>(blockSize, size - offset));
}


std::uint64_t BlockPlan::blockOffset(std::uint32_t block) const
{
	return std::uint64_t(block) * blockSize;
}


BlockPlan FileOffer::plan() const
{
	BlockPlan plan;
	plan.size = size;
	plan.blockSize = blockSize;
	return plan;
}


// TransferProtocol -----------------------------------------------------------------------


std::uint32_t TransferProtocol::blockSizeFor(std::uint64_t fileSize)
{
	std::uint32_t blockSize = MIN_BLOCK_SIZE;
	while (blockSize < MAX_BLOCK_SIZE && fileSize >= DESIRED_BLOCKS * blockSize) blockSize *= 2;
	return blockSize;
}


Poco::JSON::Object TransferProtocol::offerBody(const FileOffer& offer)
{
	Poco::JSON::Object body;
	body.set("id", offer.id.toString());
	body.set("name", offer.name);
	body.set("size", static_cast<Poco::Int64>(offer.size));
	body.set("sha256", Sha256::hex(offer.sha256));
	body.set("block_size", static_cast<Poco::Int64>(offer.blockSize));
	body.set("ts", static_cast<Poco::Int64>(offer.timestampMs));
	if (!offer.group.empty()) body.set("group", offer.group);
	return body;
}


FileOffer TransferProtocol::parseOffer(const Poco::JSON::Object& body)
{
	FileOffer offer;
	offer.id = TransferId::parse(body.getValue<std::string>("id"));
	offer.name = body.getValue<std::string>("name");
	if (!Text::isValidUtf8(offer.name)) throw MessageException("the file name is not valid UTF-8");
	const Poco::Int64 size = body.getValue<Poco::Int64>("size");
	if (size < 0 || static_cast<std::uint64_t>(size) > MAX_FILE_SIZE)
		throw MessageException("file size " + std::to_string(size) + " is over the limit of " + std::to_string(MAX_FILE_SIZE));
	offer.size = static_cast<std::uint64_t>(size);
	offer.sha256 = Sha256::parseHex(body.getValue<std::string>("sha256"));
	const Poco::Int64 blockSize = body.getValue<Poco::Int64>("block_size");
	if (blockSize < MIN_BLOCK_SIZE || blockSize > MAX_BLOCK_SIZE || (blockSize & (blockSize - 1)) != 0)
		throw MessageException("block size " + std::to_string(blockSize) + " is not a power of two from 128 KiB to 16 MiB");
	offer.blockSize = static_cast<std::uint32_t>(blockSize);
	if (offer.plan().blockCount() > MAX_BLOCKS)
		throw MessageException("the file has " + std::to_string(offer.plan().blockCount()) + " blocks, more than "
			+ std::to_string(MAX_BLOCKS));
	offer.timestampMs = body.getValue<Poco::Int64>("ts");
	if (body.has("group"))
	{
		offer.group = body.getValue<std::string>("group");
		if (!Text::isValidUtf8(offer.group)) throw MessageException("the group ID is not valid UTF-8");
	}
	return offer;
}


Poco::JSON::Object TransferProtocol::idBody(const TransferId& id)
{
	Poco::JSON::Object body;
	body.set("id", id.toString());
	return body;
}


TransferId TransferProtocol::parseId(const Poco::JSON::Object& body)
{
	return TransferId::parse(body.getValue<std::string>("id"));
}


Poco::JSON::Object TransferProtocol::cancelBody(const TransferId& id, const std::string& code, const std::string& reason)
{
	Poco::JSON::Object body;
	body.set("id", id.toString());
	body.set("code", code.substr(0, 32));
	std::string text = Text::isValidUtf8(reason) ? reason : Text::replaceInvalidUtf8(reason);
	if (text.size() > 256)
	{
		std::size_t end = 256;
		while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
		text.resize(end);
	}
	body.set("reason", text);
	return body;
}


Poco::JSON::Object TransferProtocol::hashesGetBody(const TransferId& id, std::uint32_t first, std::uint32_t count)
{
	Poco::JSON::Object body;
	body.set("id", id.toString());
	body.set("first", static_cast<Poco::Int64>(first));
	body.set("count", static_cast<Poco::Int64>(count));
	return body;
}


Poco::JSON::Object TransferProtocol::hashesBody(const HashPage& page)
{
	Poco::JSON::Object body;
	body.set("id", page.id.toString());
	body.set("first", static_cast<Poco::Int64>(page.first));
	Poco::JSON::Array::Ptr pHashes = new Poco::JSON::Array;
	for (const Sha256Digest& hash: page.hashes) pHashes->add(Sha256::hex(hash));
	body.set("hashes", pHashes);
	return body;
}


HashPage TransferProtocol::parseHashes(const Poco::JSON::Object& body)
{
	HashPage page;
	page.id = TransferId::parse(body.getValue<std::string>("id"));
	const Poco::Int64 first = body.getValue<Poco::Int64>("first");
	if (first < 0 || first >= MAX_BLOCKS) throw MessageException("hash page starts past the last possible block");
	page.first = toUInt32(first);
	const Poco::JSON::Array::Ptr pHashes = body.getArray("hashes");
	if (!pHashes || pHashes->size() == 0) throw MessageException("a hash page without hashes");
	page.hashes.reserve(pHashes->size());
	for (std::size_t i = 0; i < pHashes->size(); ++i)
	{
		const Poco::Dynamic::Var& element = pHashes->get(static_cast<unsigned>(i));
		if (!element.isString()) throw MessageException("a block hash that is not a string");
		page.hashes.push_back(Sha256::parseHex(element.extract<std::string>()));
	}
	return page;
}


Poco::JSON::Object TransferProtocol::getBody(const BlockRequest& request)
{
	Poco::JSON::Object body;
	body.set("id", request.id.toString());
	body.set("round", static_cast<Poco::Int64>(request.round));
	Poco::JSON::Array::Ptr pBlocks = new Poco::JSON::Array;
	for (std::uint32_t block: request.blocks) pBlocks->add(static_cast<Poco::Int64>(block));
	body.set("blocks", pBlocks);
	return body;
}


BlockRequest TransferProtocol::parseGet(const Poco::JSON::Object& body)
{
	BlockRequest request;
	request.id = TransferId::parse(body.getValue<std::string>("id"));
	request.round = toUInt32(body.getValue<Poco::Int64>("round"));
	const Poco::JSON::Array::Ptr pBlocks = body.getArray("blocks");
	if (!pBlocks || pBlocks->size() == 0) throw MessageException("a file-get without blocks");
	request.blocks.reserve(pBlocks->size());
	for (std::size_t i = 0; i < pBlocks->size(); ++i)
	{
		const Poco::Dynamic::Var& element = pBlocks->get(static_cast<unsigned>(i));
		if (!element.isInteger()) throw MessageException("a block index that is not an integer");
		Poco::Int64 block = 0;
		try
		{
			block = element.convert<Poco::Int64>();
		}
		catch (const Poco::Exception&)
		{
			throw MessageException("a block index out of range");
		}
		if (block < 0 || block >= MAX_BLOCKS) throw MessageException("a block index out of range");
		request.blocks.push_back(toUInt32(block));
	}
	return request;
}


void TransferProtocol::writeHeader(char* out, const DataHeader& header)
{
	std::memcpy(out, header.id.bytes().data(), TransferId::SIZE);
	writeUInt32(out + 16, header.round);
	writeUInt32(out + 20, header.block);
	writeUInt32(out + 24, header.offset);
}


std::string TransferProtocol::dataBody(const DataHeader& header, const char* data, std::size_t size)
{
	std::string body(DATA_HEADER_SIZE + size, '\0');
	writeHeader(&body[0], header);
	if (size > 0) std::memcpy(&body[DATA_HEADER_SIZE], data, size);
	return body;
}


DataChunk TransferProtocol::parseData(const std::string& body)
{
	if (body.size() <= DATA_HEADER_SIZE) throw MessageException("a file-data frame without data");
	if (body.size() - DATA_HEADER_SIZE > MAX_CHUNK_SIZE) throw MessageException("a file-data frame with too much data");
	DataChunk chunk;
	TransferId::Bytes id;
	std::memcpy(id.data(), body.data(), id.size());
	chunk.header.id = TransferId::fromBytes(id);
	chunk.header.round = readUInt32(body.data() + 16);
	chunk.header.block = readUInt32(body.data() + 20);
	chunk.header.offset = readUInt32(body.data() + 24);
	chunk.data = body.data() + DATA_HEADER_SIZE;
	chunk.size = body.size() - DATA_HEADER_SIZE;
	return chunk;
}


} } // namespace CrossChat::Chat
