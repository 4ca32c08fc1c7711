//
// SourceKey.cpp
//
// Library: Relay
//


#include "SourceKey.h"
#include <cstring>
#include <random>


namespace CrossChat {
namespace Relay {


namespace {


std::uint64_t processSeed()
	/// A random seed per process, so that nobody can pick source addresses that collide in
	/// the relay's hash tables.
{
	static const std::uint64_t seed = [] {
		std::random_device device;
		return (static_cast<std::uint64_t>(device()) << 32) ^ device();
	}();
	return seed;
}


} // namespace


SourceKey::SourceKey() = default;


SourceKey SourceKey::of(const Poco::Net::IPAddress& address)
{
	SourceKey key;
	const auto* pBytes = static_cast<const std::uint8_t*>(address.addr());
	if (address.family() == Poco::Net::IPAddress::IPv6)
	{
		if (address.isIPv4Mapped())
		{
			std::memcpy(key._bytes.data(), pBytes + 12, 4);
			return key;
		}
		std::memcpy(key._bytes.data(), pBytes, 8);   // the /64 prefix
		key._ipv6 = true;
		return key;
	}
	std::memcpy(key._bytes.data(), pBytes, 4);
	return key;
}


SourceKey SourceKey::parse(const std::string& text)
{
	const std::size_t slash = text.find('/');
	Poco::Net::IPAddress address;
	if (!Poco::Net::IPAddress::tryParse(text.substr(0, slash), address)) return SourceKey();
	return of(address);
}


bool SourceKey::operator==(const SourceKey& other) const
{
	return _ipv6 == other._ipv6 && _bytes == other._bytes;
}


bool SourceKey::operator!=(const SourceKey& other) const
{
	return !(*this == other);
}


std::size_t SourceKey::hash() const
{
	std::uint64_t value = 0;
	std::memcpy(&value, _bytes.data(), sizeof(value));
	value ^= processSeed() ^ (_ipv6 ? 0x9e3779b97f4a7c15ull : 0);
	// splitmix64 finaliser: spreads the prefix bits over the whole word.
	value = (value ^ (value >> 30)) * 0xbf58476d1ce4e5b9ull;
	value = (value ^ (value >> 27)) * 0x94d049bb133111ebull;
	value ^= value >> 31;
	return static_cast<std::size_t>(value);
}


std::string SourceKey::toString() const
{
	if (!_ipv6) return Poco::Net::IPAddress(_bytes.data(), 4).toString();
	std::array<std::uint8_t, 16> full{};
	std::memcpy(full.data(), _bytes.data(), 8);
	return Poco::Net::IPAddress(full.data(), 16).toString() + "/64";
}


} } // namespace CrossChat::Relay
