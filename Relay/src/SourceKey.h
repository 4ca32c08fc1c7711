//
// SourceKey.h
//
// Library: Relay
// Internal header: the unit every per-source bound of the relay counts in (an IPv4 address,
// or an IPv6 /64 prefix), as a small hashable value.
// This is an internal header file, you should not include this.
//


#ifndef CrossChat_Relay_SourceKey_INCLUDED
#define CrossChat_Relay_SourceKey_INCLUDED


#include "Poco/Net/IPAddress.h"
#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>


namespace CrossChat {
namespace Relay {


class SourceKey
	/// One client source as the relay's limits see it: an IPv4 address (IPv4-mapped IPv6
	/// addresses count as IPv4), or the /64 prefix of an IPv6 address, because one subscriber
	/// usually owns a whole /64 and could otherwise pick a new address per connection.
	///
	/// Thread rules: a value type; immutable once built.
{
public:
	SourceKey();
		/// The unspecified source (all zero bytes, IPv4 family).

	static SourceKey of(const Poco::Net::IPAddress& address);

	static SourceKey parse(const std::string& text);
		/// The inverse of toString() (for the relay's database); the unspecified source for
		/// text that is not an address.

	bool operator==(const SourceKey& other) const;
	bool operator!=(const SourceKey& other) const;

	std::size_t hash() const;

	std::string toString() const;
		/// "192.0.2.7" or "2001:db8:1:2::/64", for logs.

private:
	std::array<std::uint8_t, 8> _bytes{};   ///< IPv4 address (4 bytes) or IPv6 /64 prefix.
	bool _ipv6 = false;
};


struct SourceKeyHash
{
	std::size_t operator()(const SourceKey& key) const
	{
		return key.hash();
	}
};


} } // namespace CrossChat::Relay


#endif // CrossChat_Relay_SourceKey_INCLUDED
