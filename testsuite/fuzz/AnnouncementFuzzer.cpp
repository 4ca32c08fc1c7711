//
// AnnouncementFuzzer.cpp
//
// testsuite: libFuzzer target for the LAN discovery datagram parser, Announcement::parse.
// parse() may reject its input only with Poco::DataFormatException or CrossChat::CryptoException;
// any other exception escapes and crashes the fuzzer, as does any memory error.
// An accepted datagram must be within the limits and name the ID of its own key.
//
// max_len: 1400


#include "CrossChat/Discovery/Announcement.h"
#include "CrossChat/FoundationException.h"
#include "CrossChat/PublicKey.h"
#include "Poco/Exception.h"
#include <cstdint>
#include <cstdio>
#include <cstdlib>


using CrossChat::Discovery::Announcement;


namespace {


void check(bool condition, const char* what)
{
	if (!condition)
	{
		std::fprintf(stderr, "AnnouncementFuzzer: invariant violated: %s\n", what);
		std::abort();
	}
}


} // namespace


extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
	try
	{
		const Announcement announcement = Announcement::parse(reinterpret_cast<const char*>(data), size);
		check(size >= Announcement::MIN_DATAGRAM_SIZE && size <= Announcement::MAX_DATAGRAM_SIZE, "size within limits");
		check(announcement.name.size() <= Announcement::MAX_NAME_SIZE, "name within limit");
		check(announcement.addresses.size() <= Announcement::MAX_ADDRESSES, "address count within limit");
		check(announcement.peerId == CrossChat::PublicKey::fromRaw(announcement.publicKey).peerId(),
			"the ID is the key's");
	}
	catch (const Poco::DataFormatException&)
	{
	}
	catch (const CrossChat::CryptoException&)
	{
	}
	return 0;
}
