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


} // namespace CrossChat
