//
// TransferFuzzer.cpp
//
// testsuite: libFuzzer target for the file transfer's wire forms (Chat/src/TransferProtocol):
// every file-* message as a session decodes it (frame type from the first byte, the rest the
// body, through SessionProtocol's catalog, then the transfer's own checks), and the binary
// file-data frame. An input may be refused only with MessageException; any other exception
// escapes and crashes the fuzzer, as does a memory error or a broken rule: what is accepted
// is within the protocol's bounds (block size a power of two in range, at most MAX_BLOCKS
// blocks, UTF-8 names, block indexes in range, chunk sizes within a frame), and encodes back
// to a body that parses to the same values.
//
// max_len: 70000


#include "TransferProtocol.h"
#include "CrossChat/Chat/SessionProtocol.h"
#include "CrossChat/FoundationException.h"
#include "CrossChat/FrameCodec.h"
#include "CrossChat/MessageCatalog.h"
#include "CrossChat/Text.h"
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>


using namespace CrossChat;
using namespace CrossChat::Chat;


namespace {


void check(bool condition, const char* what)
{
	if (!condition)
	{
		std::fprintf(stderr, "TransferFuzzer: rule broken: %s\n", what);
		std::abort();
	}
}


Message again(const std::string& name, const Poco::JSON::Object& body)
	/// What the other end would decode from our encoding of body (the sender's checks too).
{
	const MessageCatalog& catalog = SessionProtocol::catalog();
	FrameCodec codec(SessionProtocol::MAX_FRAME_SIZE);
	const std::string wire = catalog.encode(codec, name, body);
	codec.feed(wire.data(), wire.size());
	return catalog.decode(*codec.next());
}


void offer(const Poco::JSON::Object& body)
{
	const FileOffer parsed = TransferProtocol::parseOffer(body);
	check(Text::isValidUtf8(parsed.name) && !parsed.name.empty() && parsed.name.size() <= SessionProtocol::MAX_FILE_NAME_SIZE, "name");
	check(parsed.blockSize >= TransferProtocol::MIN_BLOCK_SIZE && parsed.blockSize <= TransferProtocol::MAX_BLOCK_SIZE
		&& (parsed.blockSize & (parsed.blockSize - 1)) == 0, "block size");
	check(parsed.size <= TransferProtocol::MAX_FILE_SIZE, "size");
	check(parsed.plan().blockCount() <= TransferProtocol::MAX_BLOCKS, "block count");
	const FileOffer back = TransferProtocol::parseOffer(*again("file-offer", TransferProtocol::offerBody(parsed)).body);
	check(back.id == parsed.id && back.name == parsed.name && back.size == parsed.size && back.sha256 == parsed.sha256
		&& back.blockSize == parsed.blockSize && back.group == parsed.group, "offer round trip");
}


void hashes(const Poco::JSON::Object& body)
{
	const HashPage page = TransferProtocol::parseHashes(body);
	check(!page.hashes.empty() && page.hashes.size() <= SessionProtocol::MAX_HASHES_PER_MESSAGE, "page size");
	check(page.first < TransferProtocol::MAX_BLOCKS, "page start");
	const HashPage back = TransferProtocol::parseHashes(*again("file-hashes", TransferProtocol::hashesBody(page)).body);
	check(back.id == page.id && back.first == page.first && back.hashes == page.hashes, "hashes round trip");
}


void get(const Poco::JSON::Object& body)
{
	const BlockRequest request = TransferProtocol::parseGet(body);
	check(!request.blocks.empty() && request.blocks.size() <= SessionProtocol::MAX_BLOCKS_PER_GET, "request size");
	for (std::uint32_t block: request.blocks) check(block < TransferProtocol::MAX_BLOCKS, "block index");
	const BlockRequest back = TransferProtocol::parseGet(*again("file-get", TransferProtocol::getBody(request)).body);
	check(back.id == request.id && back.round == request.round && back.blocks == request.blocks, "get round trip");
}


void data(const std::string& body)
{
	const DataChunk chunk = TransferProtocol::parseData(body);
	check(chunk.size >= 1 && chunk.size <= TransferProtocol::MAX_CHUNK_SIZE, "chunk size");
	check(chunk.data == body.data() + TransferProtocol::DATA_HEADER_SIZE, "chunk place");
	check(chunk.size + TransferProtocol::DATA_HEADER_SIZE == body.size(), "chunk length");
	check(TransferProtocol::dataBody(chunk.header, chunk.data, chunk.size) == body, "data round trip");
}


} // namespace


extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* input, std::size_t size)
{
	if (size == 0) return 0;
	// The first byte picks the frame type among 32..47 (the transfer's); the rest is the body.
	const std::uint8_t type = static_cast<std::uint8_t>(32 + input[0] % 16);
	const std::string body(reinterpret_cast<const char*>(input) + 1, size - 1);
	const MessageCatalog& catalog = SessionProtocol::catalog();
	try
	{
		if (SessionProtocol::isBinary(type))
		{
			data(body);
			return 0;
		}
		if (!catalog.has(type)) return 0;   // a session skips unknown types
		Frame frame;
		frame.type = type;
		frame.body = body;
		const Message message = catalog.decode(frame);
		if (message.name == "file-offer")
			offer(*message.body);
		else if (message.name == "file-hashes")
			hashes(*message.body);
		else if (message.name == "file-get")
			get(*message.body);
		else
			check(!TransferProtocol::parseId(*message.body).isNull() || message.body->getValue<std::string>("id") == std::string(32, '0'),
				"transfer id");
	}
	catch (const MessageException&)
	{
		// refused: one bad message costs one error
	}
	return 0;
}
