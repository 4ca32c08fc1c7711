//
// ByteQueueTest.cpp
//
// testsuite: tests for ByteQueue: order, chunk boundaries, reuse, adoption, limits.
//


#include "ByteQueueTest.h"
#include "CrossChat/ByteQueue.h"
#include "Poco/Exception.h"
#include <cstring>
#include <random>
#include <string>
#include <vector>


using CrossChat::ByteQueue;


namespace {


constexpr std::size_t CHUNK = ByteQueue::CHUNK_SIZE;


std::string pattern(std::size_t size, std::size_t seed = 0)
	/// Bytes that reveal reordering, loss and duplication (period 251, a prime).
{
	std::string data(size, '\0');
	for (std::size_t i = 0; i < size; ++i)
		data[i] = static_cast<char>(((i + seed) * 7 + (i + seed) / 251) % 251);
	return data;
}


std::string front(const ByteQueue& queue, std::size_t maxBytes = ~std::size_t(0))
	/// What peek() describes, concatenated.
{
	struct iovec iov[1024];
	const std::size_t count = queue.peek(iov, 1024, maxBytes);
	std::string result;
	for (std::size_t i = 0; i < count; ++i) result.append(static_cast<const char*>(iov[i].iov_base), iov[i].iov_len);
	return result;
}


} // namespace


void ByteQueueTest::testFifoAcrossChunks()
{
	ByteQueue queue;
	CPPUNIT_ASSERT(queue.empty());
	const std::string data = pattern(3 * CHUNK + 123);
	// Appended in pieces that do not line up with the chunks.
	for (std::size_t pos = 0; pos < data.size(); pos += 1000)
		queue.append(data.data() + pos, std::min<std::size_t>(1000, data.size() - pos));
	CPPUNIT_ASSERT_EQUAL(data.size(), queue.size());
	CPPUNIT_ASSERT_EQUAL(data, front(queue));
	CPPUNIT_ASSERT_EQUAL(4 * CHUNK, queue.allocatedBytes());
	queue.consume(data.size());
	CPPUNIT_ASSERT(queue.empty());
	CPPUNIT_ASSERT_EQUAL(std::string(), front(queue));
}


void ByteQueueTest::testConsumeAtBoundaries()
{
	ByteQueue queue;
	const std::string data = pattern(2 * CHUNK + 10);
	queue.append(data.data(), data.size());
	queue.consume(CHUNK - 1);                 // one byte short of the first chunk's end
	CPPUNIT_ASSERT_EQUAL(data.substr(CHUNK - 1), front(queue));
	queue.consume(1);                         // exactly at the boundary
	CPPUNIT_ASSERT_EQUAL(data.substr(CHUNK), front(queue));
	queue.consume(CHUNK + 5);                 // across the next boundary
	CPPUNIT_ASSERT_EQUAL(data.substr(2 * CHUNK + 5), front(queue));
	CPPUNIT_ASSERT_EQUAL(std::size_t(5), queue.size());
	queue.append("xyz", 3);                   // appends after a partly consumed chunk
	CPPUNIT_ASSERT_EQUAL(data.substr(2 * CHUNK + 5) + "xyz", front(queue));
	queue.consume(8);
	CPPUNIT_ASSERT(queue.empty());
	// Emptied: the next append starts the kept chunk from its beginning.
	queue.append("abc", 3);
	struct iovec iov[2];
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), queue.peek(iov, 2));
	CPPUNIT_ASSERT_EQUAL(std::size_t(3), iov[0].iov_len);
}


void ByteQueueTest::testPeekLimits()
{
	ByteQueue queue;
	const std::string data = pattern(5 * CHUNK);
	queue.append(data.data(), data.size());
	struct iovec iov[8];
	CPPUNIT_ASSERT_EQUAL(std::size_t(2), queue.peek(iov, 2));
	CPPUNIT_ASSERT_EQUAL(CHUNK, iov[1].iov_len);
	CPPUNIT_ASSERT_EQUAL(std::size_t(2), queue.peek(iov, 8, CHUNK + 7));
	CPPUNIT_ASSERT_EQUAL(std::size_t(7), iov[1].iov_len);
	CPPUNIT_ASSERT_EQUAL(data.substr(0, CHUNK + 7), front(queue, CHUNK + 7));
	CPPUNIT_ASSERT_EQUAL(std::size_t(0), queue.peek(iov, 0));
	CPPUNIT_ASSERT_EQUAL(std::size_t(0), queue.peek(iov, 8, 0));
}


void ByteQueueTest::testSpareChunksReused()
{
	// A connection that drains and refills must not allocate again: emptied chunks are kept.
	ByteQueue queue;
	const std::string data = pattern(3 * CHUNK);
	queue.append(data.data(), data.size());
	const std::size_t allocated = queue.allocatedBytes();
	CPPUNIT_ASSERT_EQUAL(3 * CHUNK, allocated);
	for (int round = 0; round < 10; ++round)
	{
		queue.consume(queue.size());
		queue.append(data.data(), data.size());
		CPPUNIT_ASSERT_EQUAL(allocated, queue.allocatedBytes());
		CPPUNIT_ASSERT_EQUAL(data, front(queue));
	}
	// Draining a very large queue frees all but SPARE_CHUNKS (+ the one kept in use).
	const std::string big = pattern(40 * CHUNK);
	queue.append(big.data(), big.size());
	queue.consume(queue.size());
	CPPUNIT_ASSERT(queue.allocatedBytes() <= (ByteQueue::SPARE_CHUNKS + 1) * CHUNK);
}


void ByteQueueTest::testLargeStringAdopted()
{
	ByteQueue queue;
	queue.append("head", 4);
	std::string big = pattern(10 * CHUNK + 3);
	const std::string copy = big;
	const char* pOriginal = big.data();
	queue.append(std::move(big));
	queue.append("tail", 4);
	CPPUNIT_ASSERT_EQUAL(copy.size() + 8, queue.size());
	struct iovec iov[4];
	CPPUNIT_ASSERT_EQUAL(std::size_t(3), queue.peek(iov, 4));
	// The string's own buffer is queued, not a copy of it.
	CPPUNIT_ASSERT(iov[1].iov_base == pOriginal);
	CPPUNIT_ASSERT_EQUAL("head" + copy + "tail", front(queue));
	queue.consume(4 + copy.size() - 1);
	CPPUNIT_ASSERT_EQUAL(copy.substr(copy.size() - 1) + "tail", front(queue));
	queue.consume(5);
	CPPUNIT_ASSERT(queue.empty());
	// A short string is copied like any bytes.
	std::string small = "short";
	queue.append(std::move(small));
	CPPUNIT_ASSERT_EQUAL(std::string("short"), front(queue));
}


void ByteQueueTest::testPrepareCommit()
{
	ByteQueue queue;
	queue.append("ab", 2);
	std::size_t available = 0;
	char* p = queue.prepare(available);
	CPPUNIT_ASSERT_EQUAL(CHUNK - 2, available);
	std::memcpy(p, "cd", 2);
	CPPUNIT_ASSERT_EQUAL(std::size_t(2), queue.size());   // not queued before commit
	queue.commit(2);
	CPPUNIT_ASSERT_EQUAL(std::string("abcd"), front(queue));
	// Filling the chunk to its end, then preparing again gives a new chunk.
	const std::string fill = pattern(CHUNK - 4);
	queue.append(fill.data(), fill.size());
	p = queue.prepare(available);
	CPPUNIT_ASSERT_EQUAL(CHUNK, available);
	p[0] = 'z';
	queue.commit(1);
	CPPUNIT_ASSERT_EQUAL("abcd" + fill + "z", front(queue));
	queue.prepare(available);
	CPPUNIT_ASSERT_THROW(queue.commit(available + 1), Poco::InvalidArgumentException);
}


void ByteQueueTest::testClearAndErrors()
{
	ByteQueue queue;
	const std::string data = pattern(2 * CHUNK);
	queue.append(data.data(), data.size());
	CPPUNIT_ASSERT_THROW(queue.consume(data.size() + 1), Poco::InvalidArgumentException);
	CPPUNIT_ASSERT_EQUAL(data.size(), queue.size());
	queue.clear();
	CPPUNIT_ASSERT(queue.empty());
	CPPUNIT_ASSERT_EQUAL(std::size_t(0), queue.allocatedBytes());
	queue.append(nullptr, 0);
	queue.consume(0);
	CPPUNIT_ASSERT(queue.empty());
	ByteQueue moved(std::move(queue));
	moved.append("x", 1);
	CPPUNIT_ASSERT_EQUAL(std::string("x"), front(moved));
}


void ByteQueueTest::testRandomOperations()
{
	// Against a std::string model: random appends (copied and adopted) and consumes.
	std::mt19937 random(4711);
	ByteQueue queue;
	std::string model;
	std::size_t seed = 0;
	for (int step = 0; step < 2000; ++step)
	{
		const unsigned op = random() % 10;
		if (op < 5)
		{
			const std::size_t size = random() % (op <= 1 ? 3 * CHUNK : 300);
			std::string data = pattern(size, seed++);
			model += data;
			if (op == 1)
				queue.append(std::move(data));
			else
				queue.append(data.data(), data.size());
		}
		else
		{
			const std::size_t size = model.empty() ? 0 : random() % (model.size() + 1);
			queue.consume(size);
			model.erase(0, size);
		}
		CPPUNIT_ASSERT_EQUAL(model.size(), queue.size());
		if (step % 50 == 0) CPPUNIT_ASSERT(front(queue) == model);
	}
	CPPUNIT_ASSERT(front(queue) == model);
}
