//
// AddressPolicyTest.cpp
//
// testsuite: tests for AddressPolicy with networks given by the test (setNetworks), so that
// the results do not depend on the machine's interfaces.
//


#include "AddressPolicyTest.h"
#include "AddressPolicy.h"
#include "Poco/Net/IPAddress.h"
#include "Poco/Net/SocketAddress.h"
#include <chrono>
#include <string>
#include <vector>


using CrossChat::Chat::AddressPolicy;
using CrossChat::Scheduler;
using Poco::Net::IPAddress;
using Poco::Net::SocketAddress;
using namespace std::chrono_literals;


namespace {


const Scheduler::TimePoint T0 = Scheduler::TimePoint(std::chrono::hours(7));


AddressPolicy::Network network(const std::string& address, unsigned prefix)
{
	const IPAddress host(address);
	return AddressPolicy::Network{host, IPAddress(prefix, host.family())};
}


AddressPolicy policyWith(std::vector<AddressPolicy::Network> networks)
{
	AddressPolicy policy;
	policy.setNetworks(std::move(networks), T0);
	return policy;
}


bool allowed(const AddressPolicy& policy, const std::string& address)
{
	return policy.mayDial(SocketAddress(address));
}


IPAddress scoped(const std::string& address, Poco::UInt32 scope)
	/// An IPv6 address with a numeric scope id (Poco parses only interface names after '%').
{
	const IPAddress plain(address);
	return IPAddress(plain.addr(), plain.length(), scope);
}


} // namespace


void AddressPolicyTest::testNeverDialed()
{
	// Even with every such range as an own network.
	const AddressPolicy policy = policyWith({network("127.0.0.1", 8), network("::1", 128), network("224.0.0.1", 4),
		network("192.168.1.10", 24), network("8.8.8.0", 24)});
	for (const char* address: {"127.0.0.1:7000", "127.1.2.3:7000", "[::1]:7000", "0.0.0.0:7000", "[::]:7000",
		"224.0.0.251:5353", "239.1.2.3:7000", "[ff02::1]:7000", "[ff05::2]:7000", "255.255.255.255:7000",
		"[::ffff:127.0.0.1]:7000", "8.8.8.8:0", "192.168.1.20:0"})
	{
		CPPUNIT_ASSERT_MESSAGE(address, !allowed(policy, address));
	}
}


void AddressPolicyTest::testGlobalUnicast()
{
	const AddressPolicy none = policyWith({});
	for (const char* address: {"8.8.8.8:443", "203.0.113.7:41000", "[2a00:1450:4001:82b::200e]:443", "[::ffff:8.8.8.8]:443",
		"100.63.255.255:7000", "100.128.0.1:7000", "172.32.0.1:7000", "11.0.0.1:7000"})
	{
		CPPUNIT_ASSERT_MESSAGE(address, allowed(none, address));
	}
}


void AddressPolicyTest::testRestrictedOnlyOnOwnNetworks()
{
	const std::vector<std::string> restricted{"10.1.2.3:7000", "172.16.5.4:7000", "172.31.255.254:7000", "192.168.2.5:7000",
		"100.64.0.1:7000", "100.127.255.254:7000", "169.254.10.20:7000", "[fd12:3456::1]:7000", "[fc00::1]:7000",
		"[fe80::1]:7000", "[::ffff:10.1.2.3]:7000"};
	const AddressPolicy none = policyWith({});
	for (const auto& address: restricted) CPPUNIT_ASSERT_MESSAGE(address, !allowed(none, address));

	// On one of our networks each is a neighbour.
	const AddressPolicy own = policyWith({network("10.0.0.1", 8), network("172.16.0.1", 12), network("192.168.2.1", 24),
		network("100.64.0.1", 10), network("169.254.1.1", 16), network("fd12:3456::abcd", 64), network("fc00::2", 64),
		network("fe80::abcd", 64)});
	for (const auto& address: restricted) CPPUNIT_ASSERT_MESSAGE(address, allowed(own, address));

	// Next to our networks, not on them.
	const AddressPolicy lan = policyWith({network("192.168.1.10", 24), network("10.1.0.1", 16), network("fd12:3456::abcd", 64)});
	CPPUNIT_ASSERT(allowed(lan, "192.168.1.77:7000"));
	CPPUNIT_ASSERT(!allowed(lan, "192.168.2.77:7000"));
	CPPUNIT_ASSERT(allowed(lan, "10.1.200.3:7000"));
	CPPUNIT_ASSERT(!allowed(lan, "10.2.0.3:7000"));
	CPPUNIT_ASSERT(allowed(lan, "[fd12:3456::9]:7000"));
	CPPUNIT_ASSERT(!allowed(lan, "[fd12:3457::9]:7000"));
	CPPUNIT_ASSERT(!allowed(lan, "100.64.0.5:7000"));
	CPPUNIT_ASSERT(!allowed(lan, "169.254.0.5:7000"));
	// A network of the other family never matches.
	CPPUNIT_ASSERT(!allowed(policyWith({network("fd00::1", 8)}), "10.0.0.1:7000"));
}


void AddressPolicyTest::testOwnBroadcast()
{
	const AddressPolicy policy = policyWith({network("192.168.1.10", 24), network("10.1.0.1", 16), network("203.0.113.9", 28)});
	CPPUNIT_ASSERT(!allowed(policy, "192.168.1.255:7000"));
	CPPUNIT_ASSERT(!allowed(policy, "10.1.255.255:7000"));
	CPPUNIT_ASSERT(!allowed(policy, "203.0.113.15:7000"));   // a public /28 of ours
	CPPUNIT_ASSERT(allowed(policy, "203.0.113.14:7000"));
	CPPUNIT_ASSERT(allowed(policy, "192.168.1.254:7000"));
	CPPUNIT_ASSERT(allowed(policy, "10.1.255.254:7000"));
	// Not our network's broadcast: an ordinary address (a public one here).
	CPPUNIT_ASSERT(allowed(policy, "203.0.114.255:7000"));
	// Point-to-point links have no broadcast address.
	const AddressPolicy p2p = policyWith({network("10.9.9.0", 31)});
	CPPUNIT_ASSERT(allowed(p2p, "10.9.9.1:7000"));
}


void AddressPolicyTest::testScopedLinkLocal()
{
	// Scope ids differ between the address and our interface's: no exception (Poco's
	// operator& throws on that), and the prefix decides.
	const IPAddress ours = scoped("fe80::abcd", 3);
	const AddressPolicy policy = policyWith({AddressPolicy::Network{ours, IPAddress(64, IPAddress::IPv6)}});
	CPPUNIT_ASSERT_EQUAL(Poco::UInt32(2), scoped("fe80::1", 2).scope());
	CPPUNIT_ASSERT(policy.mayDial(SocketAddress(scoped("fe80::1", 2), 7000)));
	CPPUNIT_ASSERT(policy.mayDial(SocketAddress(scoped("fe80::1", 3), 7000)));
	CPPUNIT_ASSERT(allowed(policy, "[fe80::1]:7000"));
	CPPUNIT_ASSERT(!policy.mayDial(SocketAddress(scoped("fe80:0:0:1::1", 2), 7000)));
	CPPUNIT_ASSERT(!policyWith({}).mayDial(SocketAddress(scoped("fe80::1", 2), 7000)));
	CPPUNIT_ASSERT(AddressPolicy::samePrefix(scoped("fe80::1", 2), ours, 64));
	CPPUNIT_ASSERT(!AddressPolicy::samePrefix(scoped("fe80::1", 2), ours, 128));
	CPPUNIT_ASSERT(!AddressPolicy::samePrefix(IPAddress("fe80::1"), IPAddress("10.0.0.1"), 0));
	CPPUNIT_ASSERT(AddressPolicy::samePrefix(IPAddress("10.0.0.1"), IPAddress("10.0.0.200"), 24));
	CPPUNIT_ASSERT(AddressPolicy::samePrefix(IPAddress("10.0.0.1"), IPAddress("10.0.0.126"), 25));
	CPPUNIT_ASSERT(!AddressPolicy::samePrefix(IPAddress("10.0.0.1"), IPAddress("10.0.0.129"), 25));
}


void AddressPolicyTest::testNetworksKeptUntilRefresh()
{
	// Networks set at T0 are used until REFRESH_INTERVAL has passed; then the interfaces are
	// read again (the last check holds unless this machine really is on that network).
	AddressPolicy policy;
	const SocketAddress test("10.250.250.250", 7000);
	policy.setNetworks({network("10.250.250.1", 24)}, T0);
	CPPUNIT_ASSERT(policy.mayDial(test, T0 + AddressPolicy::REFRESH_INTERVAL - 1ms));
	bool onThisMachine = false;
	for (const auto& own: AddressPolicy::interfaceNetworks())
	{
		CPPUNIT_ASSERT(!own.address.isLoopback());
		if (own.mask.family() == IPAddress::IPv4 && AddressPolicy::samePrefix(test.host(), own.address, own.mask.prefixLength()))
			onThisMachine = true;
	}
	CPPUNIT_ASSERT_EQUAL(onThisMachine, policy.mayDial(test, T0 + AddressPolicy::REFRESH_INTERVAL));
}


void AddressPolicyTest::testSourceKey()
{
	CPPUNIT_ASSERT_EQUAL(std::string("203.0.113.7"), AddressPolicy::sourceKey(IPAddress("203.0.113.7")));
	CPPUNIT_ASSERT_EQUAL(std::string("203.0.113.7"), AddressPolicy::sourceKey(IPAddress("::ffff:203.0.113.7")));
	CPPUNIT_ASSERT_EQUAL(std::string("2001:db8:1:2::/64"), AddressPolicy::sourceKey(IPAddress("2001:db8:1:2:3:4:5:6")));
	// One /64 is one source, whatever the interface identifier; the next /64 is another.
	CPPUNIT_ASSERT_EQUAL(AddressPolicy::sourceKey(IPAddress("2001:db8:1:2::1")), AddressPolicy::sourceKey(IPAddress("2001:db8:1:2:ffff::9")));
	CPPUNIT_ASSERT(AddressPolicy::sourceKey(IPAddress("2001:db8:1:2::1")) != AddressPolicy::sourceKey(IPAddress("2001:db8:1:3::1")));
	CPPUNIT_ASSERT(AddressPolicy::sourceKey(IPAddress("203.0.113.7")) != AddressPolicy::sourceKey(IPAddress("203.0.113.8")));
	// A scope id does not make another source, nor does it throw.
	CPPUNIT_ASSERT_EQUAL(AddressPolicy::sourceKey(scoped("fe80::1", 1)), AddressPolicy::sourceKey(scoped("fe80::2", 2)));
	CPPUNIT_ASSERT_EQUAL(std::string("fe80::/64"), AddressPolicy::sourceKey(scoped("fe80::1", 1)));
}
