//
// PartFileTest.cpp
//
// testsuite: the download on disk, and the resume state kept in the store.
//


#include "PartFileTest.h"
#include "IncomingTransfer.h"
#include "PartFile.h"
#include "TransferProtocol.h"
#include "Poco/Exception.h"
#include "Poco/File.h"
#include <fstream>
#include <random>
#include <sstream>
#include <fcntl.h>
#include <unistd.h>


using namespace CrossChat;
using namespace CrossChat::Chat;


namespace {


constexpr std::uint32_t BLOCK = 128 * 1024;


std::string randomBytes(std::size_t size, unsigned seed)
{
	std::mt19937 generator(seed);
	std::string bytes(size, '\0');
	for (char& c: bytes) c = static_cast<char>(generator() & 0xFF);
	return bytes;
}


std::string readFile(const std::string& path)
{
	std::ifstream in(path, std::ios::binary);
	std::ostringstream contents;
	contents << in.rdbuf();
	return contents.str();
}


void writeFile(const std::string& path, const std::string& contents)
{
	std::ofstream(path, std::ios::binary | std::ios::trunc) << contents;
}


bool exists(const std::string& path)
{
	struct stat st;
	return ::lstat(path.c_str(), &st) == 0;
}


BlockPlan planOf(std::size_t size)
{
	BlockPlan plan;
	plan.size = size;
	plan.blockSize = BLOCK;
	return plan;
}


std::string block(const std::string& contents, const BlockPlan& plan, std::uint32_t index)
{
	return contents.substr(static_cast<std::size_t>(plan.blockOffset(index)), plan.blockLength(index));
}


} // namespace


void PartFileTest::setUp()
{
	_pTempDir = std::make_unique<CrossChat::Test::TempDirectory>();
}


void PartFileTest::tearDown()
{
	_pTempDir.reset();
}


std::string PartFileTest::path(const std::string& name) const
{
	return _pTempDir->path(name);
}


void PartFileTest::testFreeNames()
{
	const BlockPlan plan = planOf(1000);
	writeFile(path("photo.jpg"), "the user's own");
	auto first = PartFile::create(_pTempDir->directory(), "photo.jpg", plan);
	CPPUNIT_ASSERT_EQUAL(path("photo (1).jpg"), first->finalPath());
	CPPUNIT_ASSERT_EQUAL(path("photo (1).jpg.part"), first->partPath());
	// A download in progress holds its name through its .part.
	auto second = PartFile::create(_pTempDir->directory(), "photo.jpg", plan);
	CPPUNIT_ASSERT_EQUAL(path("photo (2).jpg"), second->finalPath());
	struct stat st;
	CPPUNIT_ASSERT_EQUAL(0, ::stat(first->partPath().c_str(), &st));
	CPPUNIT_ASSERT_EQUAL(mode_t(0600), st.st_mode & 07777);
	CPPUNIT_ASSERT_EQUAL(off_t(1000), st.st_size);   // sparse, at its final size
	// A symbolic link planted where the .part would go is never followed.
	CPPUNIT_ASSERT_EQUAL(0, ::symlink(path("elsewhere").c_str(), path("doc.txt.part").c_str()));
	auto third = PartFile::create(_pTempDir->directory(), "doc.txt", plan);
	CPPUNIT_ASSERT_EQUAL(path("doc (1).txt"), third->finalPath());
	CPPUNIT_ASSERT(!exists(path("elsewhere")));
	CPPUNIT_ASSERT_EQUAL(std::string("the user's own"), readFile(path("photo.jpg")));
	CPPUNIT_ASSERT_THROW(PartFile::create(path("missing-dir"), "x", plan), Poco::FileException);
}


void PartFileTest::testWriteCheckFinish()
{
	const std::string contents = randomBytes(5 * BLOCK + 321, 1);
	const BlockPlan plan = planOf(contents.size());
	auto part = PartFile::create(_pTempDir->directory(), "data.bin", plan);
	// Out of order: the running hash waits for the prefix, then reads back what came early.
	for (std::uint32_t index: {3u, 1u, 0u, 5u, 2u})
	{
		part->write(index, block(contents, plan, index));
		CPPUNIT_ASSERT_EQUAL(index == 0 ? 2u : index == 2 ? 4u : index == 1 || index == 3 ? 0u : 2u, part->hashedBlocks());
	}
	CPPUNIT_ASSERT(!part->check(Sha256::of(contents.data(), contents.size())));   // block 4 is missing
	part->write(4, block(contents, plan, 4));
	CPPUNIT_ASSERT_EQUAL(6u, part->hashedBlocks());
	// Read back for the whole file's hash: only the blocks written ahead of the prefix (1, 3, 5).
	CPPUNIT_ASSERT_EQUAL(std::uint64_t(2 * BLOCK + 321), part->rereadBytes());
	CPPUNIT_ASSERT(part->check(Sha256::of(contents.data(), contents.size())));
	CPPUNIT_ASSERT(part->check(Sha256::of(contents.data(), contents.size())));   // asked again: the same answer
	const std::string final = part->finish();
	CPPUNIT_ASSERT_EQUAL(path("data.bin"), final);
	CPPUNIT_ASSERT(!exists(path("data.bin.part")));
	CPPUNIT_ASSERT(readFile(final) == contents);
	// A block that does not fit is refused.
	auto other = PartFile::create(_pTempDir->directory(), "other.bin", plan);
	CPPUNIT_ASSERT_THROW(other->write(6, "x"), Poco::InvalidArgumentException);
	CPPUNIT_ASSERT_THROW(other->write(0, "short"), Poco::InvalidArgumentException);
	other->remove();
	CPPUNIT_ASSERT(!exists(path("other.bin.part")));
}


void PartFileTest::testWrongDigest()
{
	const std::string contents = randomBytes(2 * BLOCK, 2);
	const BlockPlan plan = planOf(contents.size());
	auto part = PartFile::create(_pTempDir->directory(), "x.bin", plan);
	part->write(0, block(contents, plan, 0));
	part->write(1, block(contents, plan, 1));
	CPPUNIT_ASSERT(!part->check(Sha256::of("other", 5)));
	// An empty file: no block, the digest of nothing.
	auto empty = PartFile::create(_pTempDir->directory(), "empty", planOf(0));
	CPPUNIT_ASSERT(empty->check(Sha256::of("", 0)));
	CPPUNIT_ASSERT_EQUAL(path("empty"), empty->finish());
	CPPUNIT_ASSERT_EQUAL(std::string(), readFile(path("empty")));
}


void PartFileTest::testWriteVerified()
{
	const std::string contents = randomBytes(3 * BLOCK + 77, 5);
	const BlockPlan plan = planOf(contents.size());
	auto part = PartFile::create(_pTempDir->directory(), "checked.bin", plan);
	const std::string first = block(contents, plan, 0);
	// A block that does not match its hash is not written: the .part keeps its hole.
	std::string damaged = first;
	damaged[100] = static_cast<char>(damaged[100] ^ 0x01);
	CPPUNIT_ASSERT(!part->writeVerified(0, damaged, Sha256::of(first.data(), first.size())));
	CPPUNIT_ASSERT_EQUAL(0u, part->hashedBlocks());
	CPPUNIT_ASSERT(readFile(part->partPath()).substr(0, BLOCK) == std::string(BLOCK, '\0'));
	// Blocks in order: each is hashed for the whole file from memory, nothing is read back.
	for (std::uint32_t index = 0; index < plan.blockCount(); ++index)
	{
		const std::string data = block(contents, plan, index);
		CPPUNIT_ASSERT(part->writeVerified(index, data, Sha256::of(data.data(), data.size())));
		CPPUNIT_ASSERT_EQUAL(index + 1, part->hashedBlocks());
	}
	CPPUNIT_ASSERT_EQUAL(std::uint64_t(0), part->rereadBytes());
	CPPUNIT_ASSERT(part->check(Sha256::of(contents.data(), contents.size())));
	CPPUNIT_ASSERT(readFile(part->finish()) == contents);
}


void PartFileTest::testResumeRehashes()
{
	const std::string contents = randomBytes(4 * BLOCK + 10, 3);
	const BlockPlan plan = planOf(contents.size());
	std::string finalPath;
	{
		auto part = PartFile::create(_pTempDir->directory(), "movie.mkv", plan);
		finalPath = part->finalPath();
		part->write(0, block(contents, plan, 0));
		part->write(2, block(contents, plan, 2));
		part->sync();
	}
	// After a restart: the blocks the store recorded, the rest fetched again.
	auto resumed = PartFile::reopen(finalPath, plan);
	resumed->restore({true, false, true, false, false});
	resumed->write(1, block(contents, plan, 1));
	CPPUNIT_ASSERT_EQUAL(3u, resumed->hashedBlocks());   // 0 and 2 read back from the disk
	resumed->write(4, block(contents, plan, 4));
	resumed->write(3, block(contents, plan, 3));
	CPPUNIT_ASSERT(resumed->check(Sha256::of(contents.data(), contents.size())));
	CPPUNIT_ASSERT_EQUAL(std::uint64_t(2 * BLOCK + 10), resumed->rereadBytes());   // 0 and 2 from before, 4 written early
	CPPUNIT_ASSERT(readFile(resumed->finish()) == contents);
	CPPUNIT_ASSERT_THROW(PartFile::reopen(finalPath, plan), Poco::FileNotFoundException);
}


void PartFileTest::testRecoverUnrecorded()
{
	const std::string contents = randomBytes(6 * BLOCK + 10, 5);
	const BlockPlan plan = planOf(contents.size());
	std::vector<Sha256Digest> hashes;
	for (std::uint32_t i = 0; i < plan.blockCount(); ++i)
	{
		const std::string data = block(contents, plan, i);
		hashes.push_back(Sha256::of(data.data(), data.size()));
	}
	std::string finalPath;
	{
		// Killed after writing 0, 1, 3 and 6; the store had recorded only 0.
		auto part = PartFile::create(_pTempDir->directory(), "disk.img", plan);
		finalPath = part->finalPath();
		for (std::uint32_t i: {0u, 1u, 3u, 6u}) part->write(i, block(contents, plan, i));
	}
	{
		// Block 3 torn by a crash of the system: its bytes on disk no longer match.
		const int fd = ::open((finalPath + ".part").c_str(), O_WRONLY);
		CPPUNIT_ASSERT(fd >= 0);
		CPPUNIT_ASSERT_EQUAL(ssize_t(3), ::pwrite(fd, "xyz", 3, static_cast<off_t>(plan.blockOffset(3)) + 100));
		::close(fd);
	}
	auto resumed = PartFile::reopen(finalPath, plan);
	const std::vector<bool> recorded{true, false, false, false, false, false, false};
	resumed->restore(recorded);
	const std::vector<std::uint32_t> found = resumed->recover(recorded, hashes);
	CPPUNIT_ASSERT(found == std::vector<std::uint32_t>({1, 6}));   // 2, 4, 5 are holes, 3 does not match
	CPPUNIT_ASSERT(resumed->recover(recorded, hashes).empty());     // marked written: not found twice
	for (std::uint32_t i: {2u, 3u, 4u, 5u}) resumed->write(i, block(contents, plan, i));
	CPPUNIT_ASSERT(resumed->check(Sha256::of(contents.data(), contents.size())));
	CPPUNIT_ASSERT(readFile(resumed->finish()) == contents);
}


void PartFileTest::testReopenRefusesUnsafe()
{
	const BlockPlan plan = planOf(2 * BLOCK);
	writeFile(path("target"), std::string(2 * BLOCK, 'x'));
	CPPUNIT_ASSERT_EQUAL(0, ::symlink(path("target").c_str(), path("linked.part").c_str()));
	CPPUNIT_ASSERT_THROW(PartFile::reopen(path("linked"), plan), Poco::FileException);
	writeFile(path("short.part"), "too short");
	CPPUNIT_ASSERT_THROW(PartFile::reopen(path("short"), plan), Poco::FileException);
	Poco::File(path("dir.part")).createDirectories();
	CPPUNIT_ASSERT_THROW(PartFile::reopen(path("dir"), plan), Poco::FileException);
}


void PartFileTest::testFinishNeverOverwrites()
{
	const std::string contents = randomBytes(BLOCK / 2, 4);
	const BlockPlan plan = planOf(contents.size());
	auto part = PartFile::create(_pTempDir->directory(), "song.mp3", plan);
	part->write(0, contents);
	CPPUNIT_ASSERT(part->check(Sha256::of(contents.data(), contents.size())));
	// The user saves a file of that name while the download runs.
	writeFile(path("song.mp3"), "mine");
	writeFile(path("song (1).mp3"), "mine too");
	const std::string final = part->finish();
	CPPUNIT_ASSERT_EQUAL(path("song (2).mp3"), final);
	CPPUNIT_ASSERT_EQUAL(std::string("mine"), readFile(path("song.mp3")));
	CPPUNIT_ASSERT_EQUAL(std::string("mine too"), readFile(path("song (1).mp3")));
	CPPUNIT_ASSERT(readFile(final) == contents);
}


void PartFileTest::testHaveBits()
{
	std::vector<bool> bits(19, false);
	bits[0] = bits[7] = bits[8] = bits[18] = true;
	const std::string encoded = IncomingTransfer::encodeBits(bits);
	CPPUNIT_ASSERT_EQUAL(std::size_t(3), encoded.size());
	CPPUNIT_ASSERT_EQUAL(std::string("\x81\x01\x04", 3), encoded);   // LSB first
	CPPUNIT_ASSERT(IncomingTransfer::decodeBits(encoded, 19) == bits);
	// A short or damaged record reads as "not there": those blocks are fetched again.
	const std::vector<bool> shorter = IncomingTransfer::decodeBits(encoded.substr(0, 1), 19);
	CPPUNIT_ASSERT(shorter[0] && shorter[7] && !shorter[8] && !shorter[18]);
	CPPUNIT_ASSERT(IncomingTransfer::decodeBits(std::string(), 5) == std::vector<bool>(5, false));
	CPPUNIT_ASSERT(IncomingTransfer::encodeBits({}).empty());
}
