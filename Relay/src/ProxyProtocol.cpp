//
// ProxyProtocol.cpp
//
// Library: Relay
//


#include "ProxyProtocol.h"
#include "Poco/Exception.h"
#include "Poco/NumberParser.h"
#include "Poco/String.h"
#include <algorithm>
#include <cstring>


namespace CrossChat {
namespace Relay {


namespace {


const unsigned char SIGNATURE[ProxyHeader::SIGNATURE_SIZE] =
	{0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};

constexpr std::size_t INET_SIZE = 12;    ///< Two IPv4 addresses, two ports.
constexpr std::size_t INET6_SIZE = 36;   ///< Two IPv6 addresses, two ports.


std::uint16_t readUInt16(const unsigned char* p)
{
	return static_cast<std::uint16_t>((static_cast<unsigned>(p[0]) << 8) | p[1]);
}


Poco::Net::IPAddress unmapped(const Poco::Net::IPAddress& address)
{
	if (address.family() == Poco::Net::IPAddress::IPv6 && address.isIPv4Mapped())
		return Poco::Net::IPAddress(static_cast<const unsigned char*>(address.addr()) + 12, 4);
	return address;
}


std::optional<Poco::Net::IPAddress> parseForwardedEntry(std::string entry)
	/// "ip", "ip:port", "[v6]", "[v6]:port"; nothing if malformed (also "unknown" and
	/// obfuscated identifiers, which RFC 7239 allows).
{
	entry = Poco::trim(entry);
	if (entry.empty() || entry.size() > 64) return std::nullopt;
	try
	{
		return unmapped(parseAnnouncedAddress(entry).host);
	}
	catch (const BadRequestException&)
	{
		return std::nullopt;
	}
}


} // namespace


ProxyHeader ProxyHeader::parse(const char* data, std::size_t size)
{
	ProxyHeader header;
	const auto* bytes = reinterpret_cast<const unsigned char*>(data);
	const std::size_t compared = std::min(size, SIGNATURE_SIZE);
	if (std::memcmp(bytes, SIGNATURE, compared) != 0)
	{
		header.status = Status::NOT_PROXY;
		return header;
	}
	if (size < FIXED_SIZE) return header;   // INCOMPLETE
	const unsigned version = bytes[12] >> 4;
	const unsigned command = bytes[12] & 0x0F;
	const unsigned family = bytes[13] >> 4;
	const unsigned protocol = bytes[13] & 0x0F;
	const std::size_t length = readUInt16(bytes + 14);
	if (version != 2) throw BadRequestException("PROXY header: version " + std::to_string(version) + ", expected 2");
	if (command > 1) throw BadRequestException("PROXY header: unknown command " + std::to_string(command));
	if (FIXED_SIZE + length > MAX_SIZE) throw BadRequestException("PROXY header: " + std::to_string(length) + " bytes of addresses and TLVs");
	if (size < FIXED_SIZE + length) return header;   // INCOMPLETE
	header.size = FIXED_SIZE + length;
	if (command == 0)
	{
		header.status = Status::LOCAL;   // addresses, if any, are to be ignored
		return header;
	}
	if (protocol != 1) throw BadRequestException("PROXY header: not a TCP connection");
	const unsigned char* pAddresses = bytes + FIXED_SIZE;
	if (family == 1)
	{
		if (length < INET_SIZE) throw BadRequestException("PROXY header: IPv4 block too short");
		header.source = Poco::Net::SocketAddress(Poco::Net::IPAddress(pAddresses, 4), readUInt16(pAddresses + 8));
		header.destination = Poco::Net::SocketAddress(Poco::Net::IPAddress(pAddresses + 4, 4), readUInt16(pAddresses + 10));
	}
	else if (family == 2)
	{
		if (length < INET6_SIZE) throw BadRequestException("PROXY header: IPv6 block too short");
		header.source = Poco::Net::SocketAddress(unmapped(Poco::Net::IPAddress(pAddresses, 16)), readUInt16(pAddresses + 32));
		header.destination = Poco::Net::SocketAddress(unmapped(Poco::Net::IPAddress(pAddresses + 16, 16)), readUInt16(pAddresses + 34));
	}
	else
	{
		throw BadRequestException("PROXY header: address family " + std::to_string(family) + " is not TCP over IP");
	}
	header.status = Status::PROXY;
	return header;
}


TrustedProxies TrustedProxies::parse(const std::string& text)
{
	TrustedProxies proxies;
	std::string list = text;
	std::replace(list.begin(), list.end(), ',', ' ');
	std::size_t start = 0;
	while (start < list.size())
	{
		const std::size_t end = std::min(list.find(' ', start), list.size());
		const std::string entry = list.substr(start, end - start);
		start = end + 1;
		if (entry.empty()) continue;
		if (entry == "*")
		{
			proxies._all = true;
			continue;
		}
		const std::size_t slash = entry.find('/');
		Block block;
		std::string host = entry.substr(0, slash);
		if (host == "::") host = "0:0:0:0:0:0:0:0";
		if (!Poco::Net::IPAddress::tryParse(host, block.network) || host.find('%') != std::string::npos)
			throw Poco::InvalidArgumentException("relay.trustedProxies: '" + entry + "' is not an address or CIDR block");
		block.network = unmapped(block.network);
		const unsigned bits = block.network.family() == Poco::Net::IPAddress::IPv4 ? 32 : 128;
		block.prefix = bits;
		if (slash != std::string::npos)
		{
			unsigned prefix = 0;
			const std::string digits = entry.substr(slash + 1);
			if (digits.empty() || digits.size() > 3 || !Poco::NumberParser::tryParseUnsigned(digits, prefix) || prefix > bits)
				throw Poco::InvalidArgumentException("relay.trustedProxies: bad prefix length in '" + entry + "'");
			block.prefix = prefix;
		}
		proxies._blocks.push_back(block);
	}
	return proxies;
}


bool TrustedProxies::empty() const
{
	return !_all && _blocks.empty();
}


bool TrustedProxies::matches(const Block& block, const Poco::Net::IPAddress& address)
{
	if (block.network.family() != address.family()) return false;
	const auto* a = static_cast<const unsigned char*>(block.network.addr());
	const auto* b = static_cast<const unsigned char*>(address.addr());
	const unsigned whole = block.prefix / 8;
	if (std::memcmp(a, b, whole) != 0) return false;
	const unsigned rest = block.prefix % 8;
	if (rest == 0) return true;
	const unsigned mask = (0xFF00u >> rest) & 0xFF;
	return (a[whole] & mask) == (b[whole] & mask);
}


bool TrustedProxies::contains(const Poco::Net::IPAddress& address) const
{
	if (_all) return true;
	const Poco::Net::IPAddress plain = unmapped(address);
	return std::any_of(_blocks.begin(), _blocks.end(), [&plain](const Block& block) { return matches(block, plain); });
}


std::string TrustedProxies::toString() const
{
	std::string text = _all ? "*" : "";
	for (const Block& block: _blocks)
	{
		if (!text.empty()) text += ", ";
		text += block.network.toString() + "/" + std::to_string(block.prefix);
	}
	return text;
}


Poco::Net::IPAddress TrustedProxies::clientFromForwardedFor(const std::string& header, const Poco::Net::IPAddress& peer,
	bool& found) const
{
	found = false;
	std::vector<std::string> entries;
	std::size_t end = header.size();
	// Split from the right, at most MAX_FORWARDED entries: the nearest hops are what matters.
	while (entries.size() < MAX_FORWARDED)
	{
		const std::size_t comma = end == 0 ? std::string::npos : header.rfind(',', end - 1);
		const std::size_t begin = comma == std::string::npos ? 0 : comma + 1;
		entries.push_back(header.substr(begin, end - begin));
		if (comma == std::string::npos) break;
		end = comma;
	}
	Poco::Net::IPAddress client = peer;
	if (Poco::trim(header).empty()) return peer;
	for (const std::string& entry: entries)
	{
		const std::optional<Poco::Net::IPAddress> address = parseForwardedEntry(entry);
		if (!address)
		{
			found = false;   // a malformed hop: the client is unknown
			return peer;
		}
		client = *address;
		found = true;
		if (!contains(*address)) return client;
	}
	return client;
}


} } // namespace CrossChat::Relay
