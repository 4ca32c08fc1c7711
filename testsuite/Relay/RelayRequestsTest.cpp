//
// RelayRequestsTest.cpp
//
// testsuite: the relay server's request parsers, token buckets, replay cache and HTML escaping.
//


#include "RelayRequestsTest.h"
#include "RelayTestSupport.h"
#include "RelayRequests.h"
#include "RequestAuth.h"
#include "StatusPages.h"
#include "TokenBucket.h"
#include "CrossChat/Identity.h"
#include "Poco/Net/HTTPRequest.h"


using namespace CrossChat::Relay;
using Poco::Net::SocketAddress;


void RelayRequestsTest::testAnnouncedAddresses()
{
	AnnouncedAddress a = parseAnnouncedAddress("192.0.2.1:4000");
	CPPUNIT_ASSERT_EQUAL(std::string("192.0.2.1"), a.host.toString());
	CPPUNIT_ASSERT_EQUAL(std::uint16_t(4000), a.port);
	a = parseAnnouncedAddress("192.0.2.1");
	CPPUNIT_ASSERT_EQUAL(std::uint16_t(0), a.port);
	a = parseAnnouncedAddress("[2001:db8::1]:443");
	CPPUNIT_ASSERT_EQUAL(std::string("2001:db8::1"), a.host.toString());
	CPPUNIT_ASSERT_EQUAL(std::uint16_t(443), a.port);
	a = parseAnnouncedAddress("2001:db8::2");
	CPPUNIT_ASSERT_EQUAL(std::uint16_t(0), a.port);
	a = parseAnnouncedAddress("0.0.0.0:0");
	CPPUNIT_ASSERT(a.host.isWildcard());

	for (const char* bad: {"", "example.com:80", "localhost", "192.0.2.1:", "192.0.2.1:65536", "192.0.2.1:-1",
		"192.0.2.1:80x", "[2001:db8::1", "[192.0.2.1]:80", "[::1]x", "1.2.3.4.5", "fe80::1%eth0", "::1:99999:"})
	{
		CPPUNIT_ASSERT_THROW_MESSAGE(bad, parseAnnouncedAddress(bad), BadRequestException);
	}
}


void RelayRequestsTest::testAnnounceResolve()
{
	const AnnounceRequest request = AnnounceRequest::parse(
		R"({"name":"n","addresses":["0.0.0.0","192.0.2.9:0","192.0.2.8:7","0.0.0.0:9","[::]:5"],"port":5000,"directory":true})");
	CPPUNIT_ASSERT(request.directory);
	const std::vector<SocketAddress> resolved = request.resolve(SocketAddress("203.0.113.4", 40000));
	CPPUNIT_ASSERT_EQUAL(std::size_t(5), resolved.size());
	CPPUNIT_ASSERT_EQUAL(std::string("203.0.113.4:5000"), resolved[0].toString());
	CPPUNIT_ASSERT_EQUAL(std::string("192.0.2.9:5000"), resolved[1].toString());
	CPPUNIT_ASSERT_EQUAL(std::string("192.0.2.8:7"), resolved[2].toString());
	CPPUNIT_ASSERT_EQUAL(std::string("203.0.113.4:9"), resolved[3].toString());
	CPPUNIT_ASSERT_EQUAL(std::string("203.0.113.4:5"), resolved[4].toString());

	const AnnounceRequest bare = AnnounceRequest::parse(R"({"port":6000})");
	const std::vector<SocketAddress> filled = bare.resolve(SocketAddress("203.0.113.4", 40000));
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), filled.size());
	CPPUNIT_ASSERT_EQUAL(std::string("203.0.113.4:6000"), filled[0].toString());

	const AnnounceRequest portless = AnnounceRequest::parse(R"({"addresses":["192.0.2.1"]})");
	CPPUNIT_ASSERT(portless.resolve(SocketAddress("203.0.113.4", 40000)).empty());
}


void RelayRequestsTest::testAnnounceRejects()
{
	for (const char* bad: {"", "{", "[]", "null", R"({"name":5})", R"({"name":"a\u0001b"})", R"({"port":65536})",
		R"({"port":-1})", R"({"port":"80"})", R"({"addresses":"192.0.2.1"})", R"({"addresses":[1]})",
		R"({"addresses":["192.0.2.1:80","host:80"]})", R"({"directory":"yes"})",
		R"({"addresses":["1.1.1.1","1.1.1.2","1.1.1.3","1.1.1.4","1.1.1.5","1.1.1.6","1.1.1.7","1.1.1.8","1.1.1.9",
			"1.1.1.10","1.1.1.11","1.1.1.12","1.1.1.13","1.1.1.14","1.1.1.15","1.1.1.16","1.1.1.17"]})"})
	{
		CPPUNIT_ASSERT_THROW_MESSAGE(bad, AnnounceRequest::parse(bad), BadRequestException);
	}
	CPPUNIT_ASSERT_THROW(TunnelOpenRequest::parse(R"({"to":"nope"})"), BadRequestException);
	CPPUNIT_ASSERT_THROW(TunnelOpenRequest::parse(R"({})"), BadRequestException);
	const CrossChat::Identity identity = CrossChat::Identity::generate();
	CPPUNIT_ASSERT(TunnelOpenRequest::parse("{\"to\":\"" + identity.peerId().toString() + "\"}").to == identity.peerId());
}


void RelayRequestsTest::testDirectoryQuery()
{
	DirectoryQuery query = DirectoryQuery::parse("");
	CPPUNIT_ASSERT_EQUAL(std::size_t(50), query.limit);
	CPPUNIT_ASSERT_EQUAL(std::size_t(0), query.offset);
	query = DirectoryQuery::parse("q=Al%20ice&offset=3&limit=1000&other=x");
	CPPUNIT_ASSERT_EQUAL(std::string("Al ice"), query.text);
	CPPUNIT_ASSERT_EQUAL(std::size_t(3), query.offset);
	CPPUNIT_ASSERT_EQUAL(std::size_t(200), query.limit);
	for (const char* bad: {"limit=0", "limit=-1", "limit=abc", "offset=1e3", "offset=99999999999", "limit=",
		"q=%zz", "q=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"})
	{
		CPPUNIT_ASSERT_THROW_MESSAGE(bad, DirectoryQuery::parse(bad), BadRequestException);
	}
}


void RelayRequestsTest::testTokenBucket()
{
	const auto start = std::chrono::steady_clock::now();
	TokenBucket bucket(100, 200, start);
	CPPUNIT_ASSERT(bucket.tryTake(200, start));
	CPPUNIT_ASSERT(!bucket.tryTake(1, start));
	CPPUNIT_ASSERT(bucket.timeUntil(50, start) >= std::chrono::milliseconds(499));
	CPPUNIT_ASSERT(bucket.tryTake(50, start + std::chrono::milliseconds(500)));
	CPPUNIT_ASSERT(bucket.available(start + std::chrono::seconds(100)) <= 200.0);   // capped at the burst
	TokenBucket unlimited(0, 0, start);
	CPPUNIT_ASSERT(unlimited.tryTake(1e12, start));
}


void RelayRequestsTest::testReplayCacheIsBounded()
{
	const CrossChat::Identity identity = CrossChat::Identity::generate();
	RequestAuth auth(3, 2);   // three nonces in all, two per source
	const auto now = std::chrono::steady_clock::now();
	const std::int64_t nowMs = std::chrono::duration_cast<std::chrono::milliseconds>(
		std::chrono::system_clock::now().time_since_epoch()).count();
	const auto sourceA = CrossChat::Relay::SourceKey::of(Poco::Net::IPAddress("192.0.2.1"));
	const auto sourceB = CrossChat::Relay::SourceKey::of(Poco::Net::IPAddress("192.0.2.2"));
	const auto sourceC = CrossChat::Relay::SourceKey::of(Poco::Net::IPAddress("2001:db8:1:2::7"));
	auto signedRequest = [&](const std::string& nonce)
	{
		Poco::Net::HTTPRequest request("POST", "/api/v1/announce");
		RelayTest::SignOptions options;
		options.nonce = nonce;
		RelayTest::HttpClient::sign(request, identity, "POST", "/api/v1/announce", "{}", options);
		return request;
	};
	auto verify = [&](const std::string& nonce, const CrossChat::Relay::SourceKey& source, std::chrono::steady_clock::time_point at)
	{
		return auth.verify(signedRequest(nonce), "POST", "/api/v1/announce", "{}", nowMs, at, source).status;
	};
	CPPUNIT_ASSERT(verify("nonce-0000000001", sourceA, now) == RequestAuth::Status::OK);
	CPPUNIT_ASSERT(verify("nonce-0000000001", sourceA, now) == RequestAuth::Status::FORBIDDEN);
	CPPUNIT_ASSERT(verify("nonce-0000000001", sourceB, now) == RequestAuth::Status::FORBIDDEN);   // a replay from elsewhere
	CPPUNIT_ASSERT(verify("nonce-0000000002", sourceA, now) == RequestAuth::Status::OK);
	// Source A has used its share; B still has its own.
	CPPUNIT_ASSERT(verify("nonce-0000000003", sourceA, now) == RequestAuth::Status::UNAVAILABLE);
	CPPUNIT_ASSERT(verify("nonce-0000000004", sourceB, now) == RequestAuth::Status::OK);
	// Now the whole cache is full.
	CPPUNIT_ASSERT(verify("nonce-0000000005", sourceC, now) == RequestAuth::Status::UNAVAILABLE);
	CPPUNIT_ASSERT_EQUAL(std::size_t(3), auth.cachedNonces());
	CPPUNIT_ASSERT_EQUAL(std::size_t(2), auth.replayCache().sources());
	// Within the window a nonce stays remembered...
	CPPUNIT_ASSERT(verify("nonce-0000000001", sourceA, now + std::chrono::seconds(119)) == RequestAuth::Status::FORBIDDEN);
	// ...after it (at most one slot, 10 s, later) the old nonces are forgotten and room is made.
	CPPUNIT_ASSERT(verify("nonce-0000000003", sourceA, now + std::chrono::seconds(131)) == RequestAuth::Status::OK);
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), auth.cachedNonces());
	// A wrong path fails the signature.
	CPPUNIT_ASSERT(auth.verify(signedRequest("nonce-0000000006"), "POST", "/api/v1/other", "{}", nowMs, now, sourceA).status
		== RequestAuth::Status::UNAUTHORIZED);
}


void RelayRequestsTest::testHtmlEscape()
{
	CPPUNIT_ASSERT_EQUAL(std::string("&lt;b&gt;&quot;x&quot; &amp; &#39;y&#39;&lt;/b&gt;"), htmlEscape("<b>\"x\" & 'y'</b>"));
	CPPUNIT_ASSERT_EQUAL(std::string("plain"), htmlEscape("plain"));
}
