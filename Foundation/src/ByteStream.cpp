//
// ByteStream.cpp
//
// Library: Foundation
//


#include "CrossChat/ByteStream.h"


namespace CrossChat {


ByteStream::~ByteStream() = default;


void ByteStream::send(const std::string& data)
{
	send(data.data(), data.size());
}


void ByteStream::sendNow(const char* data, std::size_t size)
{
	send(data, size);
}


void ByteStream::cork()
{
}


void ByteStream::uncork()
{
}


} // namespace CrossChat
