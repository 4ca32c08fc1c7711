//
// TransferProtocolTest.cpp
//
// testsuite: the file transfer wire forms, through the real session catalog.
//


#include "TransferProtocolTest.h"
#include "TransferProtocol.h"
#include "CrossChat/Chat/SessionProtocol.h"
#include "CrossChat/FoundationException.h"
#include "CrossChat/FrameCodec.h"
#include "CrossChat/MessageCatalog.h"
#include "CrossChat/MessageSchema.h"
#include "Poco/JSON/Array.h"
#include <string>


using namespace CrossChat;
using namespace CrossChat::Chat;


namespace {


Message viaCatalog(const std::string& name, const Poco::JSON::Object& body)
	/// Encoded and decoded as a session sends and receives it (schema-checked both ways).
{
	const MessageCatalog& catalog = SessionProtocol::catalog();
	FrameCodec codec(SessionProtocol::MAX_FRAME_SIZE);
	const std::string wire = catalog.encode(codec, name, body);
	codec.feed(wire.data(), wire.size());
	return catalog.decode(*codec.next());
}


Message rawMessage(const std::string& name, const std::string& json)
	/// A body as a peer could send it, decoded through the catalog.
{
	const MessageCatalog& catalog = SessionProtocol::catalog();
	Frame frame;
	frame.type = catalog.typeOf(name);
	frame.body = json;
	return catalog.decode(frame);
}


FileOffer sampleOffer()
{
	FileOffer offer;
	offer.id = TransferId::parse("00112233445566778899aabbccddeeff");
	offer.name = "holiday photos.zip";
	offer.size = 300 * 1024 * 1024;
	offer.sha256 = Sha256::of("x", 1);
	offer.blockSize = TransferProtocol::blockSizeFor(offer.size);
	offer.timestampMs = 1700000000000;
	return offer;
}


} // namespace


void TransferProtocolTest::testBlockSizeRule()
{
	// Syncthing's rule: the smallest power of two from 128 KiB that gives fewer than 2000 blocks.
	CPPUNIT_ASSERT_EQUAL(std::uint32_t(128 * 1024), TransferProtocol::blockSizeFor(0));
	CPPUNIT_ASSERT_EQUAL(std::uint32_t(128 * 1024), TransferProtocol::blockSizeFor(100 * 1024 * 1024));
	CPPUNIT_ASSERT_EQUAL(std::uint32_t(128 * 1024), TransferProtocol::blockSizeFor(2000ull * 128 * 1024 - 1));
	CPPUNIT_ASSERT_EQUAL(std::uint32_t(256 * 1024), TransferProtocol::blockSizeFor(2000ull * 128 * 1024));
	CPPUNIT_ASSERT_EQUAL(std::uint32_t(1024 * 1024), TransferProtocol::blockSizeFor(1ull << 30));   // 1 GiB
	CPPUNIT_ASSERT_EQUAL(std::uint32_t(16 * 1024 * 1024), TransferProtocol::blockSizeFor(2000ull * 16 * 1024 * 1024));
	CPPUNIT_ASSERT_EQUAL(std::uint32_t(16 * 1024 * 1024), TransferProtocol::blockSizeFor(TransferProtocol::MAX_FILE_SIZE));
	for (std::uint64_t size: {1ull, 1ull << 20, 1ull << 28, 1ull << 33, 1ull << 36})
	{
		BlockPlan plan;
		plan.size = size;
		plan.blockSize = TransferProtocol::blockSizeFor(size);
		CPPUNIT_ASSERT(plan.blockCount() < 2000 || plan.blockSize == TransferProtocol::MAX_BLOCK_SIZE);
		CPPUNIT_ASSERT(plan.blockCount() <= TransferProtocol::MAX_BLOCKS);
	}
}


void TransferProtocolTest::testBlockPlan()
{
	BlockPlan plan;
	plan.size = 3 * 131072 + 5;
	plan.blockSize = 131072;
	CPPUNIT_ASSERT_EQUAL(std::uint32_t(4), plan.blockCount());
	CPPUNIT_ASSERT_EQUAL(std::uint32_t(131072), plan.blockLength(0));
	CPPUNIT_ASSERT_EQUAL(std::uint32_t(5), plan.blockLength(3));
	CPPUNIT_ASSERT_EQUAL(std::uint32_t(0), plan.blockLength(4));
	CPPUNIT_ASSERT_EQUAL(std::uint64_t(3 * 131072), plan.blockOffset(3));
	plan.size = 0;
	CPPUNIT_ASSERT_EQUAL(std::uint32_t(0), plan.blockCount());
	plan.size = 131072;
	CPPUNIT_ASSERT_EQUAL(std::uint32_t(1), plan.blockCount());
	CPPUNIT_ASSERT_EQUAL(std::uint32_t(131072), plan.blockLength(0));
}


void TransferProtocolTest::testIdsAndDigests()
{
	const TransferId id = TransferId::parse("00112233445566778899AABBCCDDEEFF");
	CPPUNIT_ASSERT_EQUAL(std::string("00112233445566778899aabbccddeeff"), id.toString());
	CPPUNIT_ASSERT(!id.isNull());
	CPPUNIT_ASSERT(TransferId().isNull());
	CPPUNIT_ASSERT(TransferId::random() != TransferId::random());
	CPPUNIT_ASSERT_THROW(TransferId::parse("0011"), MessageException);
	CPPUNIT_ASSERT_THROW(TransferId::parse("00112233445566778899aabbccddeefg"), MessageException);
	CPPUNIT_ASSERT_THROW(TransferId::parse(std::string(32, ' ')), MessageException);
	// FIPS 180-2's "abc", one call and incremental.
	const std::string abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
	CPPUNIT_ASSERT_EQUAL(abc, Sha256::hex(Sha256::of("abc", 3)));
	Sha256 incremental;
	incremental.update("a", 1);
	incremental.update("bc", 2);
	CPPUNIT_ASSERT_EQUAL(abc, Sha256::hex(incremental.finish()));
	CPPUNIT_ASSERT_EQUAL(std::string("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"), Sha256::hex(incremental.finish()));
	CPPUNIT_ASSERT(Sha256::parseHex(abc) == Sha256::of("abc", 3));
	CPPUNIT_ASSERT_THROW(Sha256::parseHex(abc.substr(1)), MessageException);
}


void TransferProtocolTest::testOfferRoundTrip()
{
	const FileOffer offer = sampleOffer();
	const Message message = viaCatalog("file-offer", TransferProtocol::offerBody(offer));
	CPPUNIT_ASSERT_EQUAL(std::uint8_t(32), message.type);
	const FileOffer parsed = TransferProtocol::parseOffer(*message.body);
	CPPUNIT_ASSERT(parsed.id == offer.id);
	CPPUNIT_ASSERT_EQUAL(offer.name, parsed.name);
	CPPUNIT_ASSERT_EQUAL(offer.size, parsed.size);
	CPPUNIT_ASSERT(parsed.sha256 == offer.sha256);
	CPPUNIT_ASSERT_EQUAL(std::uint32_t(256 * 1024), parsed.blockSize);
	CPPUNIT_ASSERT_EQUAL(offer.timestampMs, parsed.timestampMs);
	CPPUNIT_ASSERT(parsed.group.empty());
	FileOffer shared = offer;
	shared.group = "g-42";
	CPPUNIT_ASSERT_EQUAL(std::string("g-42"), TransferProtocol::parseOffer(*viaCatalog("file-offer", TransferProtocol::offerBody(shared)).body).group);
	// The reference sender's block size is the rule's, but any power of two in range is taken.
	const Message other = rawMessage("file-offer", "{\"block_size\":4194304,\"id\":\"00112233445566778899aabbccddeeff\","
		"\"name\":\"a\",\"sha256\":\"" + std::string(64, 'a') + "\",\"size\":5,\"ts\":0}");
	CPPUNIT_ASSERT_EQUAL(std::uint32_t(4194304), TransferProtocol::parseOffer(*other.body).blockSize);
}


void TransferProtocolTest::testOfferRefused()
{
	const std::string id = "\"id\":\"00112233445566778899aabbccddeeff\"";
	const std::string hash = "\"sha256\":\"" + std::string(64, 'a') + "\"";
	auto offer = [&](const std::string& fields) {
		return TransferProtocol::parseOffer(*rawMessage("file-offer", "{" + id + "," + hash + ",\"ts\":0," + fields + "}").body);
	};
	CPPUNIT_ASSERT_NO_THROW(offer("\"name\":\"ok\",\"size\":10,\"block_size\":131072"));
	// Not a power of two, too small, too large a block.
	CPPUNIT_ASSERT_THROW(offer("\"name\":\"x\",\"size\":10,\"block_size\":131073"), MessageException);
	CPPUNIT_ASSERT_THROW(offer("\"name\":\"x\",\"size\":10,\"block_size\":65536"), MessageException);
	CPPUNIT_ASSERT_THROW(offer("\"name\":\"x\",\"size\":10,\"block_size\":33554432"), MessageException);
	// More blocks than a receiver keeps hashes for.
	CPPUNIT_ASSERT_THROW(offer("\"name\":\"x\",\"size\":" + std::to_string(131072ull * 65537) + ",\"block_size\":131072"), MessageException);
	// Over the largest file, negative.
	CPPUNIT_ASSERT_THROW(offer("\"name\":\"x\",\"size\":1099511627777,\"block_size\":16777216"), MessageException);
	CPPUNIT_ASSERT_THROW(offer("\"name\":\"x\",\"size\":-1,\"block_size\":131072"), MessageException);
	// A name that is not UTF-8 (a lone surrogate escape), empty, or too long.
	CPPUNIT_ASSERT_THROW(offer("\"name\":\"\\ud800\",\"size\":10,\"block_size\":131072"), MessageException);
	CPPUNIT_ASSERT_THROW(offer("\"name\":\"\",\"size\":10,\"block_size\":131072"), MessageException);
	CPPUNIT_ASSERT_THROW(offer("\"name\":\"" + std::string(256, 'n') + "\",\"size\":10,\"block_size\":131072"), MessageException);
	// A digest that is not hex.
	CPPUNIT_ASSERT_THROW(TransferProtocol::parseOffer(*rawMessage("file-offer", "{" + id + ",\"sha256\":\"" + std::string(64, 'z')
		+ "\",\"ts\":0,\"name\":\"x\",\"size\":1,\"block_size\":131072}").body), MessageException);
}


void TransferProtocolTest::testHashesAndGet()
{
	HashPage page;
	page.id = TransferId::random();
	page.first = 512;
	for (int i = 0; i < 512; ++i) page.hashes.push_back(Sha256::of(&i, sizeof(i)));
	const Message message = viaCatalog("file-hashes", TransferProtocol::hashesBody(page));
	CPPUNIT_ASSERT(message.name == "file-hashes");
	const HashPage parsed = TransferProtocol::parseHashes(*message.body);
	CPPUNIT_ASSERT(parsed.id == page.id);
	CPPUNIT_ASSERT_EQUAL(std::uint32_t(512), parsed.first);
	CPPUNIT_ASSERT(parsed.hashes == page.hashes);
	// A full page fits a session frame.
	FrameCodec codec(SessionProtocol::MAX_FRAME_SIZE);
	CPPUNIT_ASSERT(SessionProtocol::catalog().encode(codec, "file-hashes", TransferProtocol::hashesBody(page)).size() < 65536);

	const std::string id = "\"id\":\"00112233445566778899aabbccddeeff\"";
	CPPUNIT_ASSERT_THROW(TransferProtocol::parseHashes(*rawMessage("file-hashes", "{" + id + ",\"first\":0,\"hashes\":[1]}").body), MessageException);
	CPPUNIT_ASSERT_THROW(TransferProtocol::parseHashes(*rawMessage("file-hashes", "{" + id + ",\"first\":0,\"hashes\":[\"ab\"]}").body), MessageException);
	CPPUNIT_ASSERT_THROW(TransferProtocol::parseHashes(*rawMessage("file-hashes", "{" + id + ",\"first\":0,\"hashes\":[]}").body), MessageException);
	CPPUNIT_ASSERT_THROW(TransferProtocol::parseHashes(*rawMessage("file-hashes", "{" + id + ",\"first\":65536,\"hashes\":[\""
		+ std::string(64, '0') + "\"]}").body), MessageException);
	std::string tooMany = "[";
	for (int i = 0; i < 513; ++i) tooMany += std::string(i ? "," : "") + "\"" + std::string(64, '0') + "\"";
	CPPUNIT_ASSERT_THROW(rawMessage("file-hashes", "{" + id + ",\"first\":0,\"hashes\":" + tooMany + "]}"), MessageException);

	BlockRequest request;
	request.id = page.id;
	request.round = 0xFFFFFFFF;
	request.blocks = {7, 3, 65535};
	const BlockRequest back = TransferProtocol::parseGet(*viaCatalog("file-get", TransferProtocol::getBody(request)).body);
	CPPUNIT_ASSERT(back.id == request.id);
	CPPUNIT_ASSERT_EQUAL(request.round, back.round);
	CPPUNIT_ASSERT(back.blocks == request.blocks);
	CPPUNIT_ASSERT_THROW(TransferProtocol::parseGet(*rawMessage("file-get", "{" + id + ",\"round\":1,\"blocks\":[-1]}").body), MessageException);
	CPPUNIT_ASSERT_THROW(TransferProtocol::parseGet(*rawMessage("file-get", "{" + id + ",\"round\":1,\"blocks\":[65536]}").body), MessageException);
	CPPUNIT_ASSERT_THROW(TransferProtocol::parseGet(*rawMessage("file-get", "{" + id + ",\"round\":1,\"blocks\":[1.5]}").body), MessageException);
	CPPUNIT_ASSERT_THROW(TransferProtocol::parseGet(*rawMessage("file-get", "{" + id + ",\"round\":1,\"blocks\":[\"1\"]}").body), MessageException);
	CPPUNIT_ASSERT_THROW(TransferProtocol::parseGet(*rawMessage("file-get", "{" + id + ",\"round\":1,\"blocks\":[]}").body), MessageException);
	// The schema bounds the array and the round before any of this.
	std::string many = "[";
	for (int i = 0; i < 65; ++i) many += (i ? "," : "") + std::to_string(i);
	CPPUNIT_ASSERT_THROW(rawMessage("file-get", "{" + id + ",\"round\":1,\"blocks\":" + many + "]}"), MessageException);
	CPPUNIT_ASSERT_THROW(rawMessage("file-get", "{" + id + ",\"round\":4294967296,\"blocks\":[1]}"), MessageException);
}


void TransferProtocolTest::testDataFrame()
{
	DataHeader header;
	header.id = TransferId::parse("0102030405060708090a0b0c0d0e0f10");
	header.round = 0x01020304;
	header.block = 65535;
	header.offset = 98304;
	const std::string body = TransferProtocol::dataBody(header, "payload", 7);
	CPPUNIT_ASSERT_EQUAL(TransferProtocol::DATA_HEADER_SIZE + 7, body.size());
	// The layout of PROTOCOL.md: ID, then big-endian round, block, offset.
	CPPUNIT_ASSERT_EQUAL(std::string("\x01\x02\x03\x04", 4), body.substr(16, 4));
	CPPUNIT_ASSERT_EQUAL(std::string("\x00\x00\xff\xff", 4), body.substr(20, 4));
	CPPUNIT_ASSERT_EQUAL(std::string("\x00\x01\x80\x00", 4), body.substr(24, 4));
	const DataChunk chunk = TransferProtocol::parseData(body);
	CPPUNIT_ASSERT(chunk.header.id == header.id);
	CPPUNIT_ASSERT_EQUAL(header.round, chunk.header.round);
	CPPUNIT_ASSERT_EQUAL(header.block, chunk.header.block);
	CPPUNIT_ASSERT_EQUAL(header.offset, chunk.header.offset);
	CPPUNIT_ASSERT_EQUAL(std::string("payload"), std::string(chunk.data, chunk.size));
	CPPUNIT_ASSERT_THROW(TransferProtocol::parseData(body.substr(0, TransferProtocol::DATA_HEADER_SIZE)), MessageException);
	CPPUNIT_ASSERT_THROW(TransferProtocol::parseData(std::string(5, 'x')), MessageException);
	CPPUNIT_ASSERT_THROW(TransferProtocol::parseData(std::string(TransferProtocol::DATA_HEADER_SIZE + TransferProtocol::MAX_CHUNK_SIZE + 1, 'x')),
		MessageException);
	CPPUNIT_ASSERT_NO_THROW(TransferProtocol::parseData(std::string(TransferProtocol::DATA_HEADER_SIZE + TransferProtocol::MAX_CHUNK_SIZE, 'x')));
	CPPUNIT_ASSERT(SessionProtocol::isBinary(SessionProtocol::FILE_DATA));
	CPPUNIT_ASSERT(!SessionProtocol::catalog().has(SessionProtocol::FILE_DATA));
	CPPUNIT_ASSERT(!SessionProtocol::isBinary(SessionProtocol::catalog().typeOf("file-get")));
}


void TransferProtocolTest::testCancelBody()
{
	const TransferId id = TransferId::random();
	const Message message = viaCatalog("file-cancel", TransferProtocol::cancelBody(id, "failed", std::string(300, 'r') + "\xff"));
	CPPUNIT_ASSERT_EQUAL(std::size_t(256), message.body->getValue<std::string>("reason").size());
	const std::string accented = std::string(255, 'a') + "\xC3\xA9";   // é across the cut
	const Message cut = viaCatalog("file-cancel", TransferProtocol::cancelBody(id, "failed", accented));
	CPPUNIT_ASSERT_EQUAL(std::string(255, 'a'), cut.body->getValue<std::string>("reason"));
	CPPUNIT_ASSERT(TransferProtocol::parseId(*viaCatalog("file-done", TransferProtocol::idBody(id)).body) == id);
	CPPUNIT_ASSERT(TransferProtocol::parseId(*viaCatalog("file-accept", TransferProtocol::idBody(id)).body) == id);
	const Message get = viaCatalog("file-hashes-get", TransferProtocol::hashesGetBody(id, 1024, 512));
	CPPUNIT_ASSERT_EQUAL(Poco::Int64(512), get.body->getValue<Poco::Int64>("count"));
	CPPUNIT_ASSERT_THROW(viaCatalog("file-hashes-get", TransferProtocol::hashesGetBody(id, 0, 513)), MessageException);
}
