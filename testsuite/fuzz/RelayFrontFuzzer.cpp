//
// RelayFrontFuzzer.cpp
//
// testsuite: libFuzzer target for the parsers of the relay's HTTP front: the PROXY protocol v2
// header, the trusted-proxy list, X-Forwarded-For, and the HTTP request framing
// (HttpRequestReader, which hands complete heads to Poco's HTTPRequest::read).
// The first input byte picks the parser (modulo 4), the rest is its input. The PROXY header and
// proxy-list parsers may reject input only with BadRequestException and
// Poco::InvalidArgumentException respectively; the X-Forwarded-For parser and the request
// reader never throw. Any other exception, memory error or violated invariant crashes.
//


#include "HttpRequestReader.h"
#include "ProxyProtocol.h"
#include "RelayRequests.h"
#include "Poco/Exception.h"
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>


using namespace CrossChat::Relay;


namespace {


void check(bool condition, const char* what)
{
	if (!condition)
	{
		std::fprintf(stderr, "RelayFrontFuzzer: invariant violated: %s\n", what);
		std::abort();
	}
}


void fuzzProxyHeader(const std::string& input)
{
	try
	{
		const ProxyHeader header = ProxyHeader::parse(input.data(), input.size());
		switch (header.status)
		{
		case ProxyHeader::Status::INCOMPLETE:
		case ProxyHeader::Status::NOT_PROXY:
			check(header.size == 0, "no size without a header");
			break;
		case ProxyHeader::Status::LOCAL:
		case ProxyHeader::Status::PROXY:
			check(header.size >= ProxyHeader::FIXED_SIZE && header.size <= input.size(), "header within the input");
			check(header.size <= ProxyHeader::MAX_SIZE, "header within its limit");
			break;
		}
		if (header.status == ProxyHeader::Status::PROXY)
		{
			check(header.size >= ProxyHeader::FIXED_SIZE + 12, "an address block");
			check(header.source.family() == header.destination.family(), "one family");
		}
	}
	catch (const BadRequestException&)
	{
		// Malformed header.
	}
}


void fuzzProxyList(const std::string& input)
{
	try
	{
		const TrustedProxies proxies = TrustedProxies::parse(input);
		proxies.contains(Poco::Net::IPAddress("192.0.2.1"));
		proxies.contains(Poco::Net::IPAddress("2001:db8::1"));
		check(proxies.empty() == proxies.toString().empty(), "empty list prints empty");
	}
	catch (const Poco::InvalidArgumentException&)
	{
		// Malformed list.
	}
}


void fuzzForwardedFor(const std::string& input)
{
	static const TrustedProxies proxies = TrustedProxies::parse("10.0.0.0/8, 2001:db8::/32, 192.0.2.1");
	const Poco::Net::IPAddress peer("10.1.2.3");
	bool found = false;
	const Poco::Net::IPAddress client = proxies.clientFromForwardedFor(input, peer, found);
	if (!found) check(client == peer, "no client found: the peer stands");
}


void fuzzRequestReader(const std::string& input)
{
	if (input.empty()) return;
	// The first byte picks the size of the pieces the bytes arrive in.
	const std::size_t piece = 1 + static_cast<unsigned char>(input[0]) % 64;
	const std::size_t maxHeader = 1024;
	const std::size_t maxBody = 512;
	HttpRequestReader reader(maxHeader, maxBody);
	std::string buffer;
	for (std::size_t offset = 1; offset < input.size(); offset += piece)
	{
		buffer.append(input, offset, piece);
		for (;;)
		{
			const std::size_t before = buffer.size();
			const HttpRequestReader::Status status = reader.next(buffer);
			if (status == HttpRequestReader::Status::NEED_MORE)
			{
				check(buffer.size() == before || reader.inRequest(), "only a head is consumed while waiting");
				reader.takeContinue();
				break;
			}
			if (status == HttpRequestReader::Status::ERROR)
			{
				check(reader.errorStatus() >= 400 && reader.errorStatus() < 600, "an error status");
				return;   // the connection would be closed
			}
			check(reader.body().size() <= maxBody, "body within its limit");
			check(!reader.request().getMethod().empty(), "a method");
			check(buffer.size() < before, "a request consumes bytes");
		}
		check(buffer.size() <= maxHeader + maxBody + piece, "the buffer stays bounded by the limits");
	}
}


} // namespace


extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
	if (size == 0) return 0;
	const std::string input(reinterpret_cast<const char*>(data) + 1, size - 1);
	switch (data[0] % 4)
	{
	case 0: fuzzProxyHeader(input); break;
	case 1: fuzzProxyList(input); break;
	case 2: fuzzForwardedFor(input); break;
	default: fuzzRequestReader(input); break;
	}
	return 0;
}
