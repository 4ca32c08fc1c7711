//
// ProxyProtocol.h
//
// Library: Relay
// Internal header: the relay's view of reverse proxies: the PROXY protocol v2 header, the
// trusted proxy list and X-Forwarded-For.
// This is an internal header file, you should not include this.
//


#ifndef CrossChat_Relay_ProxyProtocol_INCLUDED
#define CrossChat_Relay_ProxyProtocol_INCLUDED


#include "RelayRequests.h"
#include "Poco/Net/IPAddress.h"
#include "Poco/Net/SocketAddress.h"
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>


namespace CrossChat {
namespace Relay {


struct ProxyHeader
	/// A PROXY protocol version 2 header (haproxy.org, "The PROXY protocol", section 2.2), as
	/// HAProxy's send-proxy-v2 puts it before the first byte of a proxied TCP connection:
	/// 12-byte signature, version/command byte, family/protocol byte, 2-byte big-endian length
	/// of the rest, then the addresses (and optional TLVs, skipped).
{
	static constexpr std::size_t SIGNATURE_SIZE = 12;
	static constexpr std::size_t FIXED_SIZE = 16;         ///< Signature, two bytes, the length.
	static constexpr std::size_t MAX_SIZE = 16 + 1024;   ///< Longer headers (big TLVs) are refused.

	enum class Status
	{
		INCOMPLETE,   ///< The bytes so far are a prefix of a header: wait for more.
		NOT_PROXY,    ///< The bytes do not start with the signature.
		LOCAL,        ///< A LOCAL command (the proxy's own health check): use the connection's address.
		PROXY         ///< A proxied TCP connection: source holds the client's address.
	};

	Status status = Status::INCOMPLETE;
	std::size_t size = 0;                    ///< Header bytes to skip (LOCAL and PROXY).
	Poco::Net::SocketAddress source;         ///< PROXY only: the client's address and port.
	Poco::Net::SocketAddress destination;    ///< PROXY only: the address the client connected to.

	static ProxyHeader parse(const char* data, std::size_t size);
		/// Looks at the first size bytes of a connection. Throws BadRequestException for a header
		/// that has the signature but is malformed: a version other than 2, an unknown command,
		/// a length over MAX_SIZE or too short for its address family, a PROXY command for
		/// anything but TCP over IPv4 or IPv6. Never reads past size.
};


class TrustedProxies
	/// The addresses whose PROXY headers and X-Forwarded-For headers the relay believes
	/// (relay.trustedProxies). IPv4-mapped IPv6 addresses match as IPv4.
	///
	/// Thread rules: immutable after parse(); safe to share between threads.
{
public:
	static TrustedProxies parse(const std::string& text);
		/// A list separated by commas or spaces of CIDR blocks ("10.0.0.0/8", "2001:db8::/32"),
		/// single addresses, or "*" (every address: only for a relay no client can reach
		/// directly, as on a platform). Throws Poco::InvalidArgumentException naming the bad entry.

	bool empty() const;
	bool contains(const Poco::Net::IPAddress& address) const;
	std::string toString() const;

	Poco::Net::IPAddress clientFromForwardedFor(const std::string& header, const Poco::Net::IPAddress& peer,
		bool& found) const;
		/// The client of a request that came from peer (a trusted proxy) with this X-Forwarded-For
		/// value (several headers joined by commas): the rightmost entry that is not a trusted
		/// proxy; the leftmost if all are. Entries may carry a port ("ip:port", "[v6]:port");
		/// at most MAX_FORWARDED entries are looked at. found is false, and peer is returned, if
		/// the header is empty or an entry up to the client's is malformed.

	static constexpr std::size_t MAX_FORWARDED = 32;

private:
	struct Block
	{
		Poco::Net::IPAddress network;
		unsigned prefix = 0;
	};

	static bool matches(const Block& block, const Poco::Net::IPAddress& address);

	std::vector<Block> _blocks;
	bool _all = false;
};


} } // namespace CrossChat::Relay


#endif // CrossChat_Relay_ProxyProtocol_INCLUDED
