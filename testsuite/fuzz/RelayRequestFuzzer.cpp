//
// RelayRequestFuzzer.cpp
//
// testsuite: libFuzzer target for every parser of what clients send the relay server:
// the announce and tunnel-open bodies, the directory query string, the signed-request headers,
// and announced addresses (the control channel's messages: ControlMessageFuzzer).
// The first input byte picks the parser (modulo 8; 3, 4, 6, 7: addresses),
// the rest is its input. A parser may reject its input
// only with BadRequestException; any other exception escapes and crashes the fuzzer, as does
// any memory error or a violated invariant of an accepted input.
//
// max_len: 16384


#include "RelayRequests.h"
#include "CrossChat/FrameCodec.h"
#include "CrossChat/PublicKey.h"
#include "CrossChat/Relay/RelayProtocol.h"
#include "Poco/Net/NameValueCollection.h"
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>


using namespace CrossChat::Relay;


namespace {


void check(bool condition, const char* what)
{
	if (!condition)
	{
		std::fprintf(stderr, "RelayRequestFuzzer: invariant violated: %s\n", what);
		std::abort();
	}
}


Poco::Net::NameValueCollection headersOf(const std::string& text)
	/// "Name: value" lines.
{
	Poco::Net::NameValueCollection headers;
	std::istringstream lines(text);
	std::string line;
	while (std::getline(lines, line))
	{
		const std::size_t colon = line.find(':');
		if (colon == std::string::npos) continue;
		std::string value = line.substr(colon + 1);
		if (!value.empty() && value[0] == ' ') value.erase(0, 1);
		headers.add(line.substr(0, colon), value);
	}
	return headers;
}


} // namespace


extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
	if (size == 0) return 0;
	const std::string input(reinterpret_cast<const char*>(data) + 1, size - 1);
	try
	{
		switch (data[0] % 8)
		{
		case 0:
		{
			const AnnounceRequest request = AnnounceRequest::parse(input);
			check(request.name.size() <= AnnounceRequest::MAX_NAME_SIZE, "name within limit");
			check(request.addresses.size() <= AnnounceRequest::MAX_ADDRESSES, "address count within limit");
			const auto resolved = request.resolve(Poco::Net::SocketAddress("203.0.113.1", 4000));
			check(resolved.size() <= AnnounceRequest::MAX_ADDRESSES, "resolved count within limit");
			for (const auto& address: resolved) check(address.port() != 0, "resolved addresses have a port");
			break;
		}
		case 1:
			check(!TunnelOpenRequest::parse(input).to.isNull(), "tunnel target is a real ID");
			break;
		case 2:
		{
			const DirectoryQuery query = DirectoryQuery::parse(input);
			check(query.limit >= 1 && query.limit <= DirectoryQuery::MAX_LIMIT, "limit within bounds");
			check(query.offset <= DirectoryQuery::MAX_OFFSET, "offset within bounds");
			check(query.text.size() <= DirectoryQuery::MAX_QUERY_SIZE, "query within limit");
			break;
		}
		case 5:
		{
			const SignedHeaders headers = SignedHeaders::parse(headersOf(input));
			check(headers.publicKeyRaw.size() == CrossChat::PublicKey::RAW_SIZE, "key size");
			check(headers.signature.size() == CrossChat::PublicKey::SIGNATURE_SIZE, "signature size");
			check(headers.nonce.size() >= SignedHeaders::MIN_NONCE_SIZE && headers.nonce.size() <= SignedHeaders::MAX_NONCE_SIZE, "nonce size");
			check(headers.timestampMs >= 0, "timestamp not negative");
			break;
		}
		default:
			parseAnnouncedAddress(input);
			break;
		}
	}
	catch (const BadRequestException&)
	{
		// Rejected input: the expected outcome for most of it.
	}
	return 0;
}
