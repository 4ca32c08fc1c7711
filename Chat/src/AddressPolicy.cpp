//
// AddressPolicy.cpp
//
// Library: Chat
//


#include "AddressPolicy.h"
#include "Poco/Exception.h"
#include "Poco/Logger.h"
#include "Poco/Net/NetworkInterface.h"
#include <algorithm>
#include <cstring>


namespace CrossChat {
namespace Chat {


namespace {


Poco::Net::IPAddress plain(const Poco::Net::IPAddress& address)
	/// ::ffff:a.b.c.d as a.b.c.d.
{
	if (address.family() == Poco::Net::IPAddress::IPv6 && address.isIPv4Mapped())
	{
		const std::string text = address.toString();
		Poco::Net::IPAddress v4;
		if (Poco::Net::IPAddress::tryParse(text.substr(text.rfind(':') + 1), v4)) return v4;
	}
	return address;
}


bool inNetwork(const Poco::Net::IPAddress& address, const AddressPolicy::Network& network)
{
	return network.mask.family() == address.family()
		&& AddressPolicy::samePrefix(address, network.address, network.mask.prefixLength());
}


} // namespace


bool AddressPolicy::samePrefix(const Poco::Net::IPAddress& a, const Poco::Net::IPAddress& b, unsigned prefixLength)
{
	if (a.family() != b.family() || a.length() != b.length()) return false;
	const auto* pA = static_cast<const unsigned char*>(a.addr());
	const auto* pB = static_cast<const unsigned char*>(b.addr());
	const unsigned bits = std::min<unsigned>(prefixLength, static_cast<unsigned>(a.length()) * 8);
	for (unsigned i = 0; i < bits / 8; ++i)
		if (pA[i] != pB[i]) return false;
	if (bits % 8 == 0) return true;
	const unsigned char mask = static_cast<unsigned char>(0xFF << (8 - bits % 8));
	return (pA[bits / 8] & mask) == (pB[bits / 8] & mask);
}


std::string AddressPolicy::sourceKey(const Poco::Net::IPAddress& address)
{
	const Poco::Net::IPAddress host = plain(address);
	if (host.family() == Poco::Net::IPAddress::IPv4) return host.toString();
	unsigned char prefix[16] = {0};
	std::memcpy(prefix, host.addr(), 8);
	return Poco::Net::IPAddress(prefix, sizeof(prefix)).toString() + "/64";
}


bool AddressPolicy::isRestricted(const Poco::Net::IPAddress& mapped)
{
	const Poco::Net::IPAddress address = plain(mapped);
	if (address.isLinkLocal() || address.isSiteLocal()) return true;
	if (address.family() == Poco::Net::IPAddress::IPv4)
		return samePrefix(address, Poco::Net::IPAddress("100.64.0.0"), 10);   // shared address space (CGN)
	return samePrefix(address, Poco::Net::IPAddress("fc00::"), 7);            // unique local addresses
}


std::vector<AddressPolicy::Network> AddressPolicy::interfaceNetworks()
{
	std::vector<Network> networks;
	try
	{
		for (const auto& interface: Poco::Net::NetworkInterface::list(false, false))
		{
			if (interface.isLoopback()) continue;
			for (const auto& tuple: interface.addressList())
			{
				const Poco::Net::IPAddress& address = tuple.get<Poco::Net::NetworkInterface::IP_ADDRESS>();
				Poco::Net::IPAddress mask = tuple.get<Poco::Net::NetworkInterface::SUBNET_MASK>();
				if (mask.family() != address.family() || mask.isWildcard())
					mask = Poco::Net::IPAddress(address.family() == Poco::Net::IPAddress::IPv4 ? 32 : 64, address.family());
				networks.push_back(Network{address, mask});
			}
		}
	}
	catch (const Poco::Exception& exc)
	{
		Poco::Logger::get("CrossChat.Chat").warning("cannot list the network interfaces: " + exc.displayText());
	}
	return networks;
}


void AddressPolicy::setNetworks(std::vector<Network> networks, Scheduler::TimePoint now)
{
	_networks = std::move(networks);
	_read = now;
	_known = true;
}


bool AddressPolicy::mayDial(const Poco::Net::SocketAddress& address, Scheduler::TimePoint now)
{
	if (!_known || now - _read >= REFRESH_INTERVAL) setNetworks(interfaceNetworks(), now);
	return static_cast<const AddressPolicy&>(*this).mayDial(address);
}


bool AddressPolicy::mayDial(const Poco::Net::SocketAddress& socketAddress) const
{
	if (socketAddress.port() == 0) return false;
	const Poco::Net::IPAddress address = plain(socketAddress.host());
	if (address.isWildcard() || address.isLoopback() || address.isMulticast() || address.isBroadcast()) return false;
	for (const Network& network: _networks)
	{
		// An own network's broadcast address (all host bits set) is not a peer.
		if (address.family() == Poco::Net::IPAddress::IPv4 && inNetwork(address, network) && network.mask.prefixLength() < 31
			&& (address | network.mask) == Poco::Net::IPAddress::broadcast())
		{
			return false;
		}
	}
	if (!isRestricted(address)) return true;
	for (const Network& network: _networks)
		if (inNetwork(address, network)) return true;
	return false;
}


} } // namespace CrossChat::Chat
