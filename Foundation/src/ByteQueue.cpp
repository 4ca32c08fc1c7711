//
// ByteQueue.cpp
//
// Library: Foundation
//


#include "CrossChat/ByteQueue.h"
#include "Poco/Exception.h"
#include <algorithm>
#include <cstring>


namespace CrossChat {


constexpr std::size_t ByteQueue::CHUNK_SIZE;
constexpr std::size_t ByteQueue::SPARE_CHUNKS;
constexpr std::size_t ByteQueue::ADOPT_SIZE;


ByteQueue::ByteQueue() = default;
ByteQueue::~ByteQueue() = default;
ByteQueue::ByteQueue(ByteQueue&& other) noexcept = default;
ByteQueue& ByteQueue::operator=(ByteQueue&& other) noexcept = default;


ByteQueue::Chunk& ByteQueue::writableChunk()
	/// The last chunk if it has room (and is not an adopted string), else a new or spare one.
{
	if (!_chunks.empty())
	{
		Chunk& last = _chunks.back();
		if (last.buffer && last.end < last.capacity) return last;
	}
	if (!_spares.empty())
	{
		_chunks.push_back(std::move(_spares.back()));
		_spares.pop_back();
	}
	else
	{
		Chunk chunk;
		chunk.buffer.reset(new char[CHUNK_SIZE]);
		chunk.data = chunk.buffer.get();
		chunk.capacity = CHUNK_SIZE;
		_chunks.push_back(std::move(chunk));
	}
	Chunk& chunk = _chunks.back();
	chunk.begin = 0;
	chunk.end = 0;
	return chunk;
}


void ByteQueue::release(Chunk&& chunk)
{
	if (chunk.buffer && _spares.size() < SPARE_CHUNKS) _spares.push_back(std::move(chunk));
}


void ByteQueue::append(const char* data, std::size_t size)
{
	while (size > 0)
	{
		Chunk& chunk = writableChunk();
		const std::size_t n = std::min(size, chunk.capacity - chunk.end);
		std::memcpy(chunk.data + chunk.end, data, n);
		chunk.end += n;
		_size += n;
		data += n;
		size -= n;
	}
}


void ByteQueue::append(std::string&& data)
{
	if (data.size() < ADOPT_SIZE)
	{
		append(data.data(), data.size());
		return;
	}
	Chunk chunk;
	chunk.adopted = std::move(data);
	chunk.data = &chunk.adopted[0];
	chunk.capacity = chunk.adopted.size();
	chunk.end = chunk.capacity;
	_size += chunk.capacity;
	_chunks.push_back(std::move(chunk));
	// std::string moves its heap buffer, so data still points into the adopted string.
	_chunks.back().data = &_chunks.back().adopted[0];
}


char* ByteQueue::prepare(std::size_t& available)
{
	Chunk& chunk = writableChunk();
	available = chunk.capacity - chunk.end;
	return chunk.data + chunk.end;
}


void ByteQueue::commit(std::size_t size)
{
	if (size == 0) return;
	if (_chunks.empty() || !_chunks.back().buffer || _chunks.back().end + size > _chunks.back().capacity)
		throw Poco::InvalidArgumentException("ByteQueue::commit beyond the room prepare() gave");
	_chunks.back().end += size;
	_size += size;
}


std::size_t ByteQueue::size() const
{
	return _size;
}


bool ByteQueue::empty() const
{
	return _size == 0;
}


std::size_t ByteQueue::peek(struct iovec* iov, std::size_t maxCount, std::size_t maxBytes) const
{
	std::size_t count = 0;
	for (const Chunk& chunk: _chunks)
	{
		if (count == maxCount || maxBytes == 0) break;
		const std::size_t length = std::min(chunk.end - chunk.begin, maxBytes);
		if (length == 0) continue;
		iov[count].iov_base = chunk.data + chunk.begin;
		iov[count].iov_len = length;
		maxBytes -= length;
		++count;
	}
	return count;
}


void ByteQueue::consume(std::size_t size)
{
	if (size > _size) throw Poco::InvalidArgumentException("ByteQueue::consume beyond the queued bytes");
	_size -= size;
	while (size > 0)
	{
		Chunk& chunk = _chunks.front();
		const std::size_t n = std::min(size, chunk.end - chunk.begin);
		chunk.begin += n;
		size -= n;
		if (chunk.begin == chunk.end && (_chunks.size() > 1 || !chunk.buffer))
		{
			release(std::move(chunk));
			_chunks.pop_front();
		}
	}
	if (_size == 0 && !_chunks.empty())
	{
		// Everything consumed: start the kept chunk from its beginning again.
		Chunk& last = _chunks.front();
		last.begin = 0;
		last.end = 0;
	}
}


void ByteQueue::clear()
{
	_chunks.clear();
	_spares.clear();
	_size = 0;
}


std::size_t ByteQueue::allocatedBytes() const
{
	std::size_t total = 0;
	for (const Chunk& chunk: _chunks) total += chunk.capacity;
	for (const Chunk& chunk: _spares) total += chunk.capacity;
	return total;
}


} // namespace CrossChat
