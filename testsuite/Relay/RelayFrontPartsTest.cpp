//
// RelayFrontPartsTest.cpp
//
// testsuite: the relay front's parts without a server.
//


#include "RelayFrontPartsTest.h"
#include "ConnectionBudget.h"
#include "HttpRequestReader.h"
#include "IpRateLimiter.h"
#include "Mailbox.h"
#include "PeerRegistry.h"
#include "ProxyProtocol.h"
#include "RelayRequests.h"
#include "SourceKey.h"
#include "CrossChat/Identity.h"
#include "Poco/Exception.h"
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>


using namespace CrossChat::Relay;
using Poco::Net::IPAddress;
using Poco::Net::SocketAddress;


namespace {


const std::string SIGNATURE("\r\n\r\n\0\r\nQUIT\n", 12);


std::string proxyV4(const std::string& tail = "")
	/// PROXY v2, TCP over IPv4, 203.0.113.9:4444 -> 192.0.2.1:5000.
{
	std::string header = SIGNATURE;
	header += '\x21';   // version 2, PROXY
	header += '\x11';   // INET, STREAM
	const std::size_t length = 12 + tail.size();
	header += static_cast<char>(length >> 8);
	header += static_cast<char>(length & 0xFF);
	header += std::string("\xCB\x00\x71\x09", 4);   // 203.0.113.9
	header += std::string("\xC0\x00\x02\x01", 4);   // 192.0.2.1
	header += std::string("\x11\x5C", 2);           // 4444
	header += std::string("\x13\x88", 2);           // 5000
	return header + tail;
}


PeerRecord record(const CrossChat::Identity& identity, const std::string& name, bool directory, const char* source,
	std::chrono::steady_clock::time_point expires)
{
	PeerRecord r;
	r.id = identity.peerId();
	r.publicKeyRaw = identity.publicKey().raw();
	r.name = name;
	r.directory = directory;
	r.source = SourceKey::of(IPAddress(source));
	r.expires = expires;
	return r;
}


} // namespace


void RelayFrontPartsTest::testProxyHeader()
{
	const std::string request = "GET / HTTP/1.1\r\n\r\n";
	const std::string v4 = proxyV4();
	ProxyHeader header = ProxyHeader::parse((v4 + request).data(), v4.size() + request.size());
	CPPUNIT_ASSERT(header.status == ProxyHeader::Status::PROXY);
	CPPUNIT_ASSERT_EQUAL(std::size_t(28), header.size);
	CPPUNIT_ASSERT_EQUAL(std::string("203.0.113.9:4444"), header.source.toString());
	CPPUNIT_ASSERT_EQUAL(std::string("192.0.2.1:5000"), header.destination.toString());

	// Every prefix is INCOMPLETE, never an error or a wrong answer.
	for (std::size_t n = 1; n < v4.size(); ++n)
		CPPUNIT_ASSERT_MESSAGE(std::to_string(n), ProxyHeader::parse(v4.data(), n).status == ProxyHeader::Status::INCOMPLETE);
	// A plain request is NOT_PROXY at its first byte.
	CPPUNIT_ASSERT(ProxyHeader::parse(request.data(), 1).status == ProxyHeader::Status::NOT_PROXY);

	// TLVs are skipped.
	const std::string withTlv = proxyV4(std::string("\x01\x00\x02h2", 5));
	header = ProxyHeader::parse(withTlv.data(), withTlv.size());
	CPPUNIT_ASSERT(header.status == ProxyHeader::Status::PROXY);
	CPPUNIT_ASSERT_EQUAL(withTlv.size(), header.size);

	// IPv6.
	std::string v6 = SIGNATURE + std::string("\x21\x21\x00\x24", 4);
	const unsigned char source[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7};
	v6.append(reinterpret_cast<const char*>(source), 16);
	v6.append(16, '\0');
	v6 += std::string("\x01\xBB\x00\x50", 4);
	header = ProxyHeader::parse(v6.data(), v6.size());
	CPPUNIT_ASSERT(header.status == ProxyHeader::Status::PROXY);
	CPPUNIT_ASSERT_EQUAL(std::string("[2001:db8::7]:443"), header.source.toString());

	// LOCAL (a health check of the proxy itself) with no addresses.
	const std::string local = SIGNATURE + std::string("\x20\x00\x00\x00", 4);
	header = ProxyHeader::parse(local.data(), local.size());
	CPPUNIT_ASSERT(header.status == ProxyHeader::Status::LOCAL);
	CPPUNIT_ASSERT_EQUAL(std::size_t(16), header.size);
}


void RelayFrontPartsTest::testProxyHeaderRejects()
{
	auto parse = [](const std::string& bytes) { return ProxyHeader::parse(bytes.data(), bytes.size()); };
	std::string bad = proxyV4();
	bad[12] = '\x11';   // version 1 in the binary form
	CPPUNIT_ASSERT_THROW(parse(bad), BadRequestException);
	bad = proxyV4();
	bad[12] = '\x22';   // unknown command
	CPPUNIT_ASSERT_THROW(parse(bad), BadRequestException);
	bad = proxyV4();
	bad[13] = '\x12';   // UDP
	CPPUNIT_ASSERT_THROW(parse(bad), BadRequestException);
	bad = proxyV4();
	bad[13] = '\x31';   // AF_UNIX
	CPPUNIT_ASSERT_THROW(parse(bad), BadRequestException);
	bad = proxyV4();
	bad[14] = '\x00';
	bad[15] = '\x04';   // too short for two IPv4 addresses and ports
	CPPUNIT_ASSERT_THROW(parse(bad), BadRequestException);
	bad = proxyV4();
	bad[14] = '\xFF';
	bad[15] = '\xFF';   // 65535 bytes announced: refused before waiting for them
	CPPUNIT_ASSERT_THROW(parse(bad), BadRequestException);
}


void RelayFrontPartsTest::testTrustedProxies()
{
	const TrustedProxies proxies = TrustedProxies::parse("10.0.0.0/8, 192.0.2.1 2001:db8::/32,172.16.0.0/12");
	CPPUNIT_ASSERT(!proxies.empty());
	CPPUNIT_ASSERT(proxies.contains(IPAddress("10.200.3.4")));
	CPPUNIT_ASSERT(proxies.contains(IPAddress("192.0.2.1")));
	CPPUNIT_ASSERT(!proxies.contains(IPAddress("192.0.2.2")));
	CPPUNIT_ASSERT(proxies.contains(IPAddress("172.31.255.255")));
	CPPUNIT_ASSERT(!proxies.contains(IPAddress("172.32.0.0")));
	CPPUNIT_ASSERT(proxies.contains(IPAddress("2001:db8:ffff::1")));
	CPPUNIT_ASSERT(!proxies.contains(IPAddress("2001:db9::1")));
	CPPUNIT_ASSERT(proxies.contains(IPAddress("::ffff:10.0.0.1")));   // IPv4-mapped matches as IPv4
	CPPUNIT_ASSERT(TrustedProxies::parse("").empty());
	CPPUNIT_ASSERT(TrustedProxies::parse("*").contains(IPAddress("198.51.100.1")));
	CPPUNIT_ASSERT_THROW(TrustedProxies::parse("10.0.0.0/33"), Poco::InvalidArgumentException);
	CPPUNIT_ASSERT_THROW(TrustedProxies::parse("proxy.example"), Poco::InvalidArgumentException);
	CPPUNIT_ASSERT_THROW(TrustedProxies::parse("10.0.0.0/"), Poco::InvalidArgumentException);
}


void RelayFrontPartsTest::testForwardedFor()
{
	const TrustedProxies proxies = TrustedProxies::parse("10.0.0.0/8");
	const IPAddress peer("10.0.0.2");
	bool found = false;
	// The rightmost address that is not a trusted proxy: what the client put in front is not believed.
	CPPUNIT_ASSERT_EQUAL(std::string("203.0.113.7"),
		proxies.clientFromForwardedFor("198.51.100.66, 203.0.113.7, 10.0.0.9", peer, found).toString());
	CPPUNIT_ASSERT(found);
	CPPUNIT_ASSERT_EQUAL(std::string("2001:db8::1"), proxies.clientFromForwardedFor("[2001:db8::1]:443", peer, found).toString());
	CPPUNIT_ASSERT_EQUAL(std::string("203.0.113.7"), proxies.clientFromForwardedFor("203.0.113.7:5555", peer, found).toString());
	// All trusted: the leftmost.
	CPPUNIT_ASSERT_EQUAL(std::string("10.0.0.5"), proxies.clientFromForwardedFor("10.0.0.5,10.0.0.6", peer, found).toString());
	// Nothing usable: the peer, not found.
	CPPUNIT_ASSERT(peer == proxies.clientFromForwardedFor("", peer, found));
	CPPUNIT_ASSERT(!found);
	CPPUNIT_ASSERT(peer == proxies.clientFromForwardedFor("unknown", peer, found));
	CPPUNIT_ASSERT(!found);
	CPPUNIT_ASSERT(peer == proxies.clientFromForwardedFor("203.0.113.7, garbage", peer, found));
	CPPUNIT_ASSERT(!found);
}


void RelayFrontPartsTest::testSourceKey()
{
	CPPUNIT_ASSERT(SourceKey::of(IPAddress("2001:db8:1:2::1")) == SourceKey::of(IPAddress("2001:db8:1:2:ffff::9")));
	CPPUNIT_ASSERT(SourceKey::of(IPAddress("2001:db8:1:2::1")) != SourceKey::of(IPAddress("2001:db8:1:3::1")));
	CPPUNIT_ASSERT(SourceKey::of(IPAddress("192.0.2.1")) != SourceKey::of(IPAddress("192.0.2.2")));
	CPPUNIT_ASSERT(SourceKey::of(IPAddress("::ffff:192.0.2.1")) == SourceKey::of(IPAddress("192.0.2.1")));
	CPPUNIT_ASSERT_EQUAL(std::string("2001:db8:1:2::/64"), SourceKey::of(IPAddress("2001:db8:1:2::1")).toString());
	CPPUNIT_ASSERT_EQUAL(std::string("192.0.2.1"), SourceKey::of(IPAddress("192.0.2.1")).toString());
}


void RelayFrontPartsTest::testConnectionBudget()
{
	ConnectionBudget::Limits limits;
	limits.total[static_cast<std::size_t>(ConnectionKind::CONTROL)] = 3;
	limits.perSource[static_cast<std::size_t>(ConnectionKind::CONTROL)] = 2;
	ConnectionBudget budget(limits);
	const SourceKey a = SourceKey::of(IPAddress("192.0.2.1"));
	const SourceKey b = SourceKey::of(IPAddress("192.0.2.2"));
	ConnectionBudget::Refusal refusal = ConnectionBudget::Refusal::NONE;
	ConnectionSlot a1 = budget.tryReserve(ConnectionKind::CONTROL, a);
	ConnectionSlot a2 = budget.tryReserve(ConnectionKind::CONTROL, a);
	CPPUNIT_ASSERT(a1.valid() && a2.valid());
	CPPUNIT_ASSERT(!budget.tryReserve(ConnectionKind::CONTROL, a, &refusal).valid());
	CPPUNIT_ASSERT(refusal == ConnectionBudget::Refusal::SOURCE);
	ConnectionSlot b1 = budget.tryReserve(ConnectionKind::CONTROL, b);
	CPPUNIT_ASSERT(b1.valid());
	CPPUNIT_ASSERT(!budget.tryReserve(ConnectionKind::CONTROL, b, &refusal).valid());
	CPPUNIT_ASSERT(refusal == ConnectionBudget::Refusal::TOTAL);
	// Other kinds are separate (and here have no room at all).
	CPPUNIT_ASSERT(!budget.tryReserve(ConnectionKind::HTTP, b).valid());
	CPPUNIT_ASSERT_EQUAL(3u, budget.count(ConnectionKind::CONTROL));
	CPPUNIT_ASSERT_EQUAL(2u, budget.countOf(ConnectionKind::CONTROL, a));
	// Releasing (also by moving over) gives the place back.
	a1 = ConnectionSlot();
	CPPUNIT_ASSERT_EQUAL(1u, budget.countOf(ConnectionKind::CONTROL, a));
	ConnectionSlot moved(std::move(a2));
	CPPUNIT_ASSERT(!a2.valid());
	moved.release();
	CPPUNIT_ASSERT_EQUAL(0u, budget.countOf(ConnectionKind::CONTROL, a));
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), budget.sources());
	// An exempt source (a trusted proxy) skips its share, not the total.
	limits.perSource[static_cast<std::size_t>(ConnectionKind::HTTP)] = 1;
	limits.total[static_cast<std::size_t>(ConnectionKind::HTTP)] = 2;
	ConnectionBudget proxied(limits);
	ConnectionSlot p1 = proxied.tryReserve(ConnectionKind::HTTP, a, nullptr, true);
	ConnectionSlot p2 = proxied.tryReserve(ConnectionKind::HTTP, a, nullptr, true);
	CPPUNIT_ASSERT(p1.valid() && p2.valid());
	CPPUNIT_ASSERT(!proxied.tryReserve(ConnectionKind::HTTP, a, &refusal, true).valid());
	CPPUNIT_ASSERT(refusal == ConnectionBudget::Refusal::TOTAL);
}


void RelayFrontPartsTest::testRateLimiterEvictsByAge()
{
	const auto start = std::chrono::steady_clock::now();
	IpRateLimiter limiter(1, 2, 3);   // 1/s, burst 2, at most 3 sources
	std::chrono::steady_clock::duration retryAfter{};
	const SourceKey a = SourceKey::of(IPAddress("192.0.2.1"));
	CPPUNIT_ASSERT(limiter.admit(a, start, retryAfter));
	CPPUNIT_ASSERT(limiter.admit(a, start, retryAfter));
	CPPUNIT_ASSERT(!limiter.admit(a, start, retryAfter));
	CPPUNIT_ASSERT(retryAfter > std::chrono::milliseconds(900));
	// Three more sources: the table is full, yet none is refused; the longest idle (a) is evicted.
	for (const char* address: {"192.0.2.2", "192.0.2.3", "192.0.2.4"})
		CPPUNIT_ASSERT_MESSAGE(address, limiter.admit(SourceKey::of(IPAddress(address)), start + std::chrono::milliseconds(10), retryAfter));
	CPPUNIT_ASSERT_EQUAL(std::size_t(3), limiter.size());
	CPPUNIT_ASSERT_EQUAL(std::uint64_t(1), limiter.evictions());
	// a comes back with a full bucket (the price of a bounded table).
	CPPUNIT_ASSERT(limiter.admit(a, start + std::chrono::milliseconds(20), retryAfter));
	// A sweep after the refill time forgets idle sources.
	limiter.sweep(start + std::chrono::seconds(3));
	CPPUNIT_ASSERT_EQUAL(std::size_t(0), limiter.size());
}


void RelayFrontPartsTest::testRequestReader()
{
	HttpRequestReader reader(1024, 100);
	std::string buffer = "GET /a HTTP/1.1\r\nHost: x\r\n\r\nPOST /b HTTP/1.1\r\nContent-Length: 5\r\n";
	CPPUNIT_ASSERT(reader.next(buffer) == HttpRequestReader::Status::REQUEST);
	CPPUNIT_ASSERT_EQUAL(std::string("/a"), reader.request().getURI());
	CPPUNIT_ASSERT(reader.body().empty());
	CPPUNIT_ASSERT(reader.next(buffer) == HttpRequestReader::Status::NEED_MORE);   // second head incomplete
	buffer += "Expect: 100-continue\r\n\r\nab";
	CPPUNIT_ASSERT(reader.next(buffer) == HttpRequestReader::Status::NEED_MORE);   // body incomplete
	CPPUNIT_ASSERT(reader.inRequest());
	CPPUNIT_ASSERT(reader.takeContinue());
	CPPUNIT_ASSERT(!reader.takeContinue());
	buffer += "cdeGET";
	CPPUNIT_ASSERT(reader.next(buffer) == HttpRequestReader::Status::REQUEST);
	CPPUNIT_ASSERT_EQUAL(std::string("POST"), reader.request().getMethod());
	CPPUNIT_ASSERT_EQUAL(std::string("abcde"), reader.body());
	CPPUNIT_ASSERT_EQUAL(std::string("GET"), buffer);   // the next request's first bytes stay
	CPPUNIT_ASSERT(!reader.inRequest());
	// Byte by byte gives the same.
	HttpRequestReader slow(1024, 100);
	const std::string whole = "DELETE /c HTTP/1.0\r\nContent-Length: 2\r\n\r\n{}";
	std::string piece;
	HttpRequestReader::Status status = HttpRequestReader::Status::NEED_MORE;
	for (char c: whole)
	{
		piece += c;
		status = slow.next(piece);
		if (status != HttpRequestReader::Status::NEED_MORE) break;
	}
	CPPUNIT_ASSERT(status == HttpRequestReader::Status::REQUEST);
	CPPUNIT_ASSERT_EQUAL(std::string("{}"), slow.body());
	CPPUNIT_ASSERT(!slow.request().getKeepAlive());   // HTTP/1.0 without keep-alive
}


void RelayFrontPartsTest::testRequestReaderRejects()
{
	auto statusOf = [](const std::string& bytes, std::size_t maxHeader = 64, std::size_t maxBody = 10)
	{
		HttpRequestReader reader(maxHeader, maxBody);
		std::string buffer = bytes;
		return reader.next(buffer) == HttpRequestReader::Status::ERROR ? reader.errorStatus() : 0;
	};
	CPPUNIT_ASSERT_EQUAL(431, statusOf("GET / HTTP/1.1\r\nX: " + std::string(100, 'a')));   // no end in sight
	CPPUNIT_ASSERT_EQUAL(431, statusOf("GET / HTTP/1.1\r\nX: " + std::string(60, 'a') + "\r\n\r\n"));
	CPPUNIT_ASSERT_EQUAL(400, statusOf("NOT HTTP\r\n\r\n"));
	CPPUNIT_ASSERT_EQUAL(505, statusOf("GET / HTTP/2.0\r\n\r\n"));
	CPPUNIT_ASSERT_EQUAL(411, statusOf("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"));
	CPPUNIT_ASSERT_EQUAL(413, statusOf("POST / HTTP/1.1\r\nContent-Length: 11\r\n\r\n"));
	CPPUNIT_ASSERT_EQUAL(400, statusOf("POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n"));
	CPPUNIT_ASSERT_EQUAL(400, statusOf("POST / HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n"));
	// A head whose lines end in bare LF hides a second request before the CRLF CRLF: refused.
	CPPUNIT_ASSERT_EQUAL(400, statusOf("GET / HTTP/1.1\nHost: a\n\nGET /x HTTP/1.1\r\n\r\n", 200));
	CPPUNIT_ASSERT_EQUAL(0, statusOf("GET / HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nab"));
}


void RelayFrontPartsTest::testRegistryIndexes()
{
	MemoryPeerRegistry registry;
	const auto now = std::chrono::steady_clock::now();
	const auto later = now + std::chrono::hours(1);
	const CrossChat::Identity alice = CrossChat::Identity::generate();
	const CrossChat::Identity bob = CrossChat::Identity::generate();
	const CrossChat::Identity carol = CrossChat::Identity::generate();
	const CrossChat::Identity hidden = CrossChat::Identity::generate();
	CPPUNIT_ASSERT(registry.put(record(alice, "Alice", true, "192.0.2.1", later), 10, 10) == PeerRegistry::PutResult::OK);
	CPPUNIT_ASSERT(registry.put(record(bob, "bob", true, "192.0.2.2", later), 10, 10) == PeerRegistry::PutResult::OK);
	CPPUNIT_ASSERT(registry.put(record(carol, "Carol", true, "192.0.2.3", now + std::chrono::seconds(1)), 10, 10) == PeerRegistry::PutResult::OK);
	CPPUNIT_ASSERT(registry.put(record(hidden, "hidden", false, "192.0.2.4", later), 10, 10) == PeerRegistry::PutResult::OK);
	// Nobody is online yet: the directory is empty.
	CPPUNIT_ASSERT_EQUAL(std::size_t(0), registry.directory("", 0, 10, now).total);
	for (const auto* pIdentity: {&alice, &bob, &carol, &hidden}) registry.setOnline(pIdentity->peerId(), true);
	CPPUNIT_ASSERT_EQUAL(std::size_t(3), registry.listed());   // hidden did not opt in
	DirectoryPage page = registry.directory("", 0, 2, now);
	CPPUNIT_ASSERT_EQUAL(std::size_t(3), page.total);
	CPPUNIT_ASSERT_EQUAL(std::size_t(2), page.entries.size());
	CPPUNIT_ASSERT_EQUAL(std::string("Alice"), page.entries[0].name);   // case-insensitive order
	CPPUNIT_ASSERT_EQUAL(std::string("bob"), page.entries[1].name);
	page = registry.directory("", 2, 2, now);
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), page.entries.size());
	CPPUNIT_ASSERT_EQUAL(std::string("Carol"), page.entries[0].name);
	page = registry.directory("AR", 0, 10, now);
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), page.total);
	// Offline: out of the directory at once.
	registry.setOnline(bob.peerId(), false);
	CPPUNIT_ASSERT_EQUAL(std::size_t(2), registry.directory("", 0, 10, now).total);
	// Recent: opted-in records, newest announce first.
	std::vector<PeerRecord> recent = registry.recent(10, now);
	CPPUNIT_ASSERT_EQUAL(std::size_t(3), recent.size());
	CPPUNIT_ASSERT(recent[0].id == carol.peerId());
	// Expiry: a sweep drops carol (and only her), everywhere.
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), registry.sweep(now + std::chrono::seconds(2)));
	CPPUNIT_ASSERT_EQUAL(std::size_t(3), registry.size());
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), registry.listed());
	CPPUNIT_ASSERT_EQUAL(std::size_t(2), registry.recent(10, now).size());
	// A re-announce that leaves the directory unlists the record.
	CPPUNIT_ASSERT(registry.put(record(alice, "Alice", false, "192.0.2.1", later), 10, 10) == PeerRegistry::PutResult::OK);
	CPPUNIT_ASSERT_EQUAL(std::size_t(0), registry.listed());
}


void RelayFrontPartsTest::testRegistryPerSource()
{
	MemoryPeerRegistry registry;
	const auto later = std::chrono::steady_clock::now() + std::chrono::hours(1);
	const CrossChat::Identity one = CrossChat::Identity::generate();
	const CrossChat::Identity two = CrossChat::Identity::generate();
	const CrossChat::Identity three = CrossChat::Identity::generate();
	CPPUNIT_ASSERT(registry.put(record(one, "1", false, "192.0.2.1", later), 10, 2) == PeerRegistry::PutResult::OK);
	CPPUNIT_ASSERT(registry.put(record(two, "2", false, "192.0.2.1", later), 10, 2) == PeerRegistry::PutResult::OK);
	CPPUNIT_ASSERT(registry.put(record(three, "3", false, "192.0.2.1", later), 10, 2) == PeerRegistry::PutResult::SOURCE_FULL);
	// Re-announcing from the same source always works.
	CPPUNIT_ASSERT(registry.put(record(two, "2b", false, "192.0.2.1", later), 10, 2) == PeerRegistry::PutResult::OK);
	// Another source has its own share; moving a record moves its count.
	CPPUNIT_ASSERT(registry.put(record(three, "3", false, "192.0.2.9", later), 10, 2) == PeerRegistry::PutResult::OK);
	CPPUNIT_ASSERT(registry.put(record(two, "2c", false, "192.0.2.9", later), 10, 2) == PeerRegistry::PutResult::OK);
	CPPUNIT_ASSERT(registry.put(record(three, "3", false, "192.0.2.1", later), 10, 2) == PeerRegistry::PutResult::OK);
	CPPUNIT_ASSERT_EQUAL(std::size_t(2), registry.sources());
	// The global bound.
	CPPUNIT_ASSERT(registry.put(record(CrossChat::Identity::generate(), "4", false, "192.0.2.5", later), 3, 2) == PeerRegistry::PutResult::FULL);
	CPPUNIT_ASSERT(registry.remove(one.peerId()));
	CPPUNIT_ASSERT(!registry.remove(one.peerId()));
}


void RelayFrontPartsTest::testRegistryKeepsAnswers()
{
	MemoryPeerRegistry registry;
	const auto now = std::chrono::steady_clock::now();
	const CrossChat::Identity alice = CrossChat::Identity::generate();
	const CrossChat::Identity stranger = CrossChat::Identity::generate();
	CPPUNIT_ASSERT(!registry.lookup(stranger.peerId(), false, now).found);
	CPPUNIT_ASSERT(registry.put(record(alice, "Alice", false, "192.0.2.1", now + std::chrono::seconds(60)), 10, 10)
		== PeerRegistry::PutResult::OK);

	// Nothing kept yet: the record, and its version.
	PeerLookup first = registry.lookup(alice.peerId(), false, now);
	CPPUNIT_ASSERT(first.found);
	CPPUNIT_ASSERT(!first.answer);
	CPPUNIT_ASSERT(first.record.has_value());
	CPPUNIT_ASSERT_EQUAL(std::string("Alice"), first.record->name);
	const auto offline = std::make_shared<const std::string>("offline answer");
	registry.keepAnswer(alice.peerId(), first.version, false, offline);
	// Kept: the same answer, no copy of the record; the other online state has none yet.
	PeerLookup again = registry.lookup(alice.peerId(), false, now);
	CPPUNIT_ASSERT(again.found);
	CPPUNIT_ASSERT(again.answer == offline);
	CPPUNIT_ASSERT(!again.record.has_value());
	CPPUNIT_ASSERT_EQUAL(first.version, again.version);
	PeerLookup online = registry.lookup(alice.peerId(), true, now);
	CPPUNIT_ASSERT(online.found && !online.answer && online.record.has_value());
	const auto onlineAnswer = std::make_shared<const std::string>("online answer");
	registry.keepAnswer(alice.peerId(), online.version, true, onlineAnswer);
	CPPUNIT_ASSERT(registry.lookup(alice.peerId(), true, now).answer == onlineAnswer);
	CPPUNIT_ASSERT(registry.lookup(alice.peerId(), false, now).answer == offline);

	// A re-announce is a new version: both answers are gone, and an answer rendered from the
	// old record (a lookup racing with the put) is not kept.
	CPPUNIT_ASSERT(registry.put(record(alice, "Alice 2", false, "192.0.2.1", now + std::chrono::seconds(60)), 10, 10)
		== PeerRegistry::PutResult::OK);
	PeerLookup renewed = registry.lookup(alice.peerId(), false, now);
	CPPUNIT_ASSERT(renewed.found && !renewed.answer && renewed.record.has_value());
	CPPUNIT_ASSERT_EQUAL(std::string("Alice 2"), renewed.record->name);
	CPPUNIT_ASSERT(renewed.version != first.version);
	CPPUNIT_ASSERT(!registry.lookup(alice.peerId(), true, now).answer);
	registry.keepAnswer(alice.peerId(), first.version, false, offline);
	CPPUNIT_ASSERT(!registry.lookup(alice.peerId(), false, now).answer);
	registry.keepAnswer(alice.peerId(), renewed.version, false, std::make_shared<const std::string>("renewed"));
	CPPUNIT_ASSERT_EQUAL(std::string("renewed"), *registry.lookup(alice.peerId(), false, now).answer);

	// Expired: not found, kept answer or not; removed and announced again: a fresh version.
	CPPUNIT_ASSERT(!registry.lookup(alice.peerId(), false, now + std::chrono::seconds(61)).found);
	CPPUNIT_ASSERT(registry.remove(alice.peerId()));
	CPPUNIT_ASSERT(!registry.lookup(alice.peerId(), false, now).found);
	registry.keepAnswer(alice.peerId(), renewed.version, false, offline);   // no record: nothing kept
	CPPUNIT_ASSERT(registry.put(record(alice, "Alice 3", false, "192.0.2.1", now + std::chrono::seconds(60)), 10, 10)
		== PeerRegistry::PutResult::OK);
	PeerLookup back = registry.lookup(alice.peerId(), false, now);
	CPPUNIT_ASSERT(back.found && !back.answer);
	CPPUNIT_ASSERT(back.version != renewed.version);
	CPPUNIT_ASSERT_EQUAL(std::string("Alice 3"), back.record->name);
}


void RelayFrontPartsTest::testMailboxFairShare()
{
	MailLimits limits;
	limits.maxBytes = 1 << 20;
	limits.perRecipient = 8;
	limits.bytesPerRecipient = 1 << 20;
	limits.bytesPerSource = 1 << 20;
	limits.perSourcePerRecipient = 4;
	limits.ttlMs = 60000;
	Mailbox mailbox(nullptr, limits);
	const CrossChat::PeerId bob = CrossChat::Identity::generate().peerId();
	const SourceKey x1 = SourceKey::of(IPAddress("203.0.113.21"));
	const SourceKey x2 = SourceKey::of(IPAddress("203.0.113.22"));
	const SourceKey honest = SourceKey::of(IPAddress("198.51.100.7"));
	std::string id;
	std::vector<std::string> flood;
	// Two addresses fill bob's box (4 each, their per-source share).
	for (int i = 0; i < 4; ++i)
	{
		for (const SourceKey& source: {x1, x2})
		{
			CPPUNIT_ASSERT(mailbox.deposit(bob, "flood", source, "", 0, 1000 + i, nullptr, id) == Mailbox::DepositResult::OK);
			flood.push_back(id);
		}
	}
	CPPUNIT_ASSERT_EQUAL(std::size_t(8), mailbox.waiting(bob));
	CPPUNIT_ASSERT(mailbox.deposit(bob, "more", x1, "", 0, 2000, nullptr, id) == Mailbox::DepositResult::SOURCE_FULL);
	// An honest sender still gets in: the newest envelope of a source holding more gives way.
	CPPUNIT_ASSERT(mailbox.deposit(bob, "hello bob", honest, "", 0, 3000, nullptr, id) == Mailbox::DepositResult::OK);
	const std::string honestId = id;
	CPPUNIT_ASSERT_EQUAL(std::size_t(8), mailbox.waiting(bob));
	CPPUNIT_ASSERT_EQUAL(std::uint64_t(1), mailbox.evicted());
	std::vector<MailItem> items = mailbox.pending(bob, 16, {}, 3000);
	CPPUNIT_ASSERT(std::any_of(items.begin(), items.end(), [&](const MailItem& item) { return item.id == honestId; }));
	// The oldest envelopes stay: the evicted one is the newest of its source.
	CPPUNIT_ASSERT(std::any_of(items.begin(), items.end(), [&](const MailItem& item) { return item.id == flood[0]; }));
	CPPUNIT_ASSERT(std::any_of(items.begin(), items.end(), [&](const MailItem& item) { return item.id == flood[1]; }));
	// Shares even out and then stop: a second one gets in (x1 and x2 keep 3 each)...
	CPPUNIT_ASSERT(mailbox.deposit(bob, "2", honest, "", 0, 3001, nullptr, id) == Mailbox::DepositResult::OK);
	CPPUNIT_ASSERT_EQUAL(std::uint64_t(2), mailbox.evicted());
	// ... a third would leave a source with fewer than the depositor: the box is full for it.
	CPPUNIT_ASSERT(mailbox.deposit(bob, "3", honest, "", 0, 3002, nullptr, id) == Mailbox::DepositResult::RECIPIENT_FULL);
	CPPUNIT_ASSERT_EQUAL(std::uint64_t(2), mailbox.evicted());
	CPPUNIT_ASSERT_EQUAL(std::size_t(8), mailbox.waiting(bob));
	items = mailbox.pending(bob, 16, {}, 3003);
	std::size_t fromHonest = 0;
	for (const MailItem& item: items) fromHonest += item.source == honest ? 1 : 0;
	CPPUNIT_ASSERT_EQUAL(std::size_t(2), fromHonest);
	// A flooding source cannot push the honest sender out in turn.
	CPPUNIT_ASSERT(mailbox.deposit(bob, "again", x2, "", 0, 3004, nullptr, id) != Mailbox::DepositResult::OK);
	CPPUNIT_ASSERT_EQUAL(std::size_t(8), mailbox.waiting(bob));
}
