//
// ByteQueue.h
//
// Library: Foundation
// A FIFO of bytes in a chain of chunks: appends never move queued bytes, consuming frees chunks.
//


#ifndef CrossChat_Foundation_ByteQueue_INCLUDED
#define CrossChat_Foundation_ByteQueue_INCLUDED


#include <cstddef>
#include <deque>
#include <memory>
#include <string>
#include <sys/uio.h>


namespace CrossChat {


class ByteQueue
	/// Output buffering for connections. Bytes are appended at the back and consumed from the
	/// front; they live in chunks of CHUNK_SIZE bytes (a larger append takes as many chunks as it
	/// needs), so appending never reallocates or moves what is queued and consuming never moves
	/// what is left: no memmove of the queue, whatever its size. A chunk whose bytes have all been
	/// consumed is kept for reuse (at most SPARE_CHUNKS of them, so a connection that drains and
	/// refills does not allocate, and fresh pages are not faulted in again), the others are freed.
	/// A string appended by rvalue (append(std::string&&)) of at least ADOPT_SIZE bytes becomes a
	/// chunk of its own without being copied.
	///
	/// peek() describes the front as struct iovec entries for one writev()/sendmsg().
	///
	/// Thread rules: not thread-safe; one owner thread (a connection's loop thread).
	/// Ownership: owns its chunks; pointers returned by peek() and prepare() stay valid until the
	/// next call of a non-const method.
{
public:
	static constexpr std::size_t CHUNK_SIZE = 64 * 1024;
	static constexpr std::size_t SPARE_CHUNKS = 2;
	static constexpr std::size_t ADOPT_SIZE = 16 * 1024;

	ByteQueue();
	~ByteQueue();

	ByteQueue(ByteQueue&& other) noexcept;
	ByteQueue& operator=(ByteQueue&& other) noexcept;
	ByteQueue(const ByteQueue&) = delete;
	ByteQueue& operator=(const ByteQueue&) = delete;

	void append(const char* data, std::size_t size);
		/// Copies size bytes to the back.

	void append(std::string&& data);
		/// Appends data; takes ownership of its buffer instead of copying when it is at least
		/// ADOPT_SIZE bytes long.

	char* prepare(std::size_t& available);
		/// Room at the back for writing in place: returns where to write and sets available
		/// (at least 1, at most what is left in the last chunk or a new chunk). The bytes
		/// become part of the queue only with commit().

	void commit(std::size_t size);
		/// Appends size bytes that were written at the pointer prepare() returned (size <=
		/// available).

	std::size_t size() const;
	bool empty() const;

	std::size_t peek(struct iovec* iov, std::size_t maxCount, std::size_t maxBytes = ~std::size_t(0)) const;
		/// Fills up to maxCount iovec entries describing the front of the queue (at most
		/// maxBytes in total) and returns how many it filled.

	void consume(std::size_t size);
		/// Removes size bytes from the front (size <= size()).

	void clear();
		/// Drops every byte and frees every chunk, spares included.

	std::size_t allocatedBytes() const;
		/// Bytes held in chunks, queued or spare (memory accounting and tests).

private:
	struct Chunk
	{
		std::unique_ptr<char[]> buffer;   ///< Own storage; empty for an adopted string.
		std::string adopted;              ///< An appended string taken over without a copy.
		char* data = nullptr;
		std::size_t capacity = 0;
		std::size_t begin = 0;            ///< First queued byte.
		std::size_t end = 0;              ///< One past the last queued byte.
	};

	Chunk& writableChunk();
	void release(Chunk&& chunk);

	std::deque<Chunk> _chunks;
	std::deque<Chunk> _spares;
	std::size_t _size = 0;
};


} // namespace CrossChat


#endif // CrossChat_Foundation_ByteQueue_INCLUDED
