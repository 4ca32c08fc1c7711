//
// AddressPolicy.h
//
// Library: Chat
// Private: which addresses a peer may make us dial.
// This is an internal header file, it is not installed; do not include it from outside Chat/src.
//


#ifndef CrossChat_Chat_AddressPolicy_INCLUDED
#define CrossChat_Chat_AddressPolicy_INCLUDED


#include "CrossChat/Scheduler.h"
#include "Poco/Net/IPAddress.h"
#include "Poco/Net/SocketAddress.h"
#include <string>
#include <utility>
#include <vector>


namespace CrossChat {
namespace Chat {


class AddressPolicy
	/// Addresses are evidence, not instructions (THREAT-MODEL.md, rule 2). An address that a
	/// peer gave us (in a LAN announcement, a relay record or a punch) may be dialed only if it
	/// is a unicast address that is either global, or private / link-local / unique-local on one
	/// of our own networks (an interface's subnet). Never loopback, unspecified, multicast,
	/// limited broadcast, an own network's broadcast address, or port 0.
	///
	/// The own networks are read from the interfaces (Poco::Net::NetworkInterface) at most once
	/// per REFRESH_INTERVAL, when a check needs them.
	///
	/// Thread rules: not thread-safe; one per node, on its loop thread.
{
public:
	static constexpr std::chrono::seconds REFRESH_INTERVAL{10};

	struct Network
	{
		Poco::Net::IPAddress address;
		Poco::Net::IPAddress mask;
	};

	AddressPolicy() = default;

	bool mayDial(const Poco::Net::SocketAddress& address, Scheduler::TimePoint now);
		/// The check, with the interfaces re-read if the last read is older than REFRESH_INTERVAL.

	bool mayDial(const Poco::Net::SocketAddress& address) const;
		/// The check against the networks known now (see setNetworks()).

	void setNetworks(std::vector<Network> networks, Scheduler::TimePoint now);
		/// Replaces the own networks (tests; the interface reader uses it too).

	static std::vector<Network> interfaceNetworks();
		/// Our interfaces' addresses and masks, loopback excluded.

	static bool isRestricted(const Poco::Net::IPAddress& address);
		/// Private (RFC 1918, shared 100.64/10), link-local, unique-local (fc00::/7) or site-local;
		/// an IPv4-mapped IPv6 address is judged as its IPv4 address.

	static bool samePrefix(const Poco::Net::IPAddress& a, const Poco::Net::IPAddress& b, unsigned prefixLength);
		/// True if both are of one family and agree in their first prefixLength bits (IPv6 scope
		/// ids are ignored, unlike Poco's operator&, which throws on differing scopes).

	static std::string sourceKey(const Poco::Net::IPAddress& address);
		/// The unit of per-source limits: an IPv4 address (also IPv4-mapped), or an IPv6 /64.
		/// Private (RFC 1918, shared 100.64/10), link-local, unique-local (fc00::/7) or site-local.

private:
	std::vector<Network> _networks;
	Scheduler::TimePoint _read{};
	bool _known = false;
};


} } // namespace CrossChat::Chat


#endif // CrossChat_Chat_AddressPolicy_INCLUDED
