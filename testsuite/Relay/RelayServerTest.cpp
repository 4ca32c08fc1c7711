//
// RelayServerTest.cpp
//
// testsuite: RelayServer's HTTP API, status pages and bad-input handling.
//


#include "RelayServerTest.h"
#include "PeerRegistry.h"
#include "RelayApi.h"
#include "RelayTestSupport.h"
#include "CrossChat/Identity.h"
#include "CrossChat/MessageSchema.h"
#include "CrossChat/Relay/RelayProtocol.h"
#include "CrossChat/Relay/RelayServer.h"
#include "Poco/JSON/Array.h"
#include "Poco/Net/HTTPClientSession.h"
#include "Poco/Net/HTTPRequest.h"
#include "Poco/Net/HTTPResponse.h"
#include "Poco/Net/Context.h"
#include "Poco/Net/HTTPSClientSession.h"
#include "Poco/Net/SecureStreamSocket.h"
#include "Poco/Net/StreamSocket.h"
#include "Poco/Net/X509Certificate.h"
#include "CrossChat/FoundationException.h"
#include "Poco/TemporaryFile.h"
#include <fstream>
#include <thread>
#include "Poco/NumberParser.h"
#include "Poco/StreamCopier.h"


using CrossChat::Identity;
using CrossChat::Relay::RelayProtocol;
using CrossChat::Relay::RelayServer;
using CrossChat::Relay::RelayServerConfig;
using RelayTest::HttpClient;
using RelayTest::HttpResult;


namespace {


const std::string API = RelayProtocol::API_PREFIX;


std::string peerPath(const Identity& identity)
{
	return API + "/peers/" + identity.peerId().toString();
}


std::int64_t retryAfter(const HttpResult& result)
{
	CPPUNIT_ASSERT(result.headers.has("Retry-After"));
	return Poco::NumberParser::parse64(result.headers.get("Retry-After"));
}


std::string errorCode(const HttpResult& result)
{
	return result.json()->getValue<std::string>("error");
}


} // namespace


void RelayServerTest::testHealth()
{
	RelayServer server(RelayTest::testConfig());
	server.start();
	CPPUNIT_ASSERT(server.port() != 0);
	HttpClient client(server.port());
	const HttpResult result = client.request("GET", "/health");
	CPPUNIT_ASSERT_EQUAL(200, result.status);
	const auto pHealth = result.json();
	CPPUNIT_ASSERT_EQUAL(std::string("ok"), pHealth->getValue<std::string>("status"));
	CPPUNIT_ASSERT_EQUAL(0, pHealth->getValue<int>("peers"));
	CPPUNIT_ASSERT(pHealth->getValue<int>("uptime_s") >= 0);
	for (const char* field: {"online", "tunnels", "bytes_relayed", "version", "control_connections"})
		CPPUNIT_ASSERT_MESSAGE(field, pHealth->has(field));
	CPPUNIT_ASSERT(CrossChat::MessageSchema::parseObject(server.healthJson())->has("uptime_s"));
	server.stop();
	server.stop();   // idempotent
}


void RelayServerTest::testAnnounceAndLookup()
{
	RelayServerConfig config = RelayTest::testConfig();
	config.reannounceAfter = std::chrono::seconds(1000);
	config.recordTtl = std::chrono::seconds(3000);
	RelayServer server(config);
	server.start();
	HttpClient client(server.port());
	const Identity identity = Identity::generate();

	const HttpResult announced = client.announce(identity,
		R"({"name":"alice","addresses":["192.0.2.7:4000","0.0.0.0","10.0.0.1:0","[2001:db8::5]:6"],"port":5555,"directory":true})");
	CPPUNIT_ASSERT_EQUAL_MESSAGE(announced.body, 200, announced.status);
	const auto pAnswer = announced.json();
	CPPUNIT_ASSERT_EQUAL(identity.peerId().toString(), pAnswer->getValue<std::string>("id"));
	const std::string observed = pAnswer->getValue<std::string>("observed");
	CPPUNIT_ASSERT_EQUAL(std::string("127.0.0.1:"), observed.substr(0, 10));
	CPPUNIT_ASSERT_EQUAL(3000, pAnswer->getValue<int>("ttl_s"));
	const int reannounce = pAnswer->getValue<int>("reannounce_s");
	CPPUNIT_ASSERT(reannounce >= 900 && reannounce <= 1100);

	const HttpResult found = client.request("GET", peerPath(identity));
	CPPUNIT_ASSERT_EQUAL(200, found.status);
	const auto pRecord = found.json();
	CPPUNIT_ASSERT_EQUAL(identity.peerId().toString(), pRecord->getValue<std::string>("id"));
	CPPUNIT_ASSERT_EQUAL(std::string("alice"), pRecord->getValue<std::string>("name"));
	CPPUNIT_ASSERT_EQUAL(observed, pRecord->getValue<std::string>("observed"));
	CPPUNIT_ASSERT_EQUAL(false, pRecord->getValue<bool>("online"));
	CPPUNIT_ASSERT(pRecord->getValue<std::int64_t>("last_seen_ms") > 1600000000000);
	const auto pKey = CrossChat::MessageSchema::parseObject(
		"{\"k\":\"" + pRecord->getValue<std::string>("public_key") + "\"}");
	CPPUNIT_ASSERT_EQUAL(44, static_cast<int>(pKey->getValue<std::string>("k").size()));   // base64 of 32 bytes
	const auto pAddresses = pRecord->getArray("addresses");
	CPPUNIT_ASSERT_EQUAL(std::size_t(4), pAddresses->size());
	CPPUNIT_ASSERT_EQUAL(std::string("192.0.2.7:4000"), pAddresses->getElement<std::string>(0));
	CPPUNIT_ASSERT_EQUAL(std::string("127.0.0.1:5555"), pAddresses->getElement<std::string>(1));
	CPPUNIT_ASSERT_EQUAL(std::string("10.0.0.1:5555"), pAddresses->getElement<std::string>(2));
	CPPUNIT_ASSERT_EQUAL(std::string("[2001:db8::5]:6"), pAddresses->getElement<std::string>(3));

	// A lower-case ID with the dashes left out is the same peer.
	std::string compact = Poco::toLower(identity.peerId().toString());
	compact.erase(std::remove(compact.begin(), compact.end(), '-'), compact.end());
	CPPUNIT_ASSERT_EQUAL(200, client.request("GET", API + "/peers/" + compact).status);
}


void RelayServerTest::testAnnounceFillsObservedAddress()
{
	RelayServer server(RelayTest::testConfig());
	server.start();
	HttpClient client(server.port());
	const Identity identity = Identity::generate();
	HttpResult announced = client.announce(identity, R"({"port":7000})");
	CPPUNIT_ASSERT_EQUAL(200, announced.status);
	auto pAddresses = announced.json()->getArray("addresses");
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), pAddresses->size());
	CPPUNIT_ASSERT_EQUAL(std::string("127.0.0.1:7000"), pAddresses->getElement<std::string>(0));

	announced = client.announce(identity, R"({"addresses":["0.0.0.0:0","0.0.0.0:81"],"port":7001})");
	CPPUNIT_ASSERT_EQUAL(200, announced.status);
	pAddresses = client.request("GET", peerPath(identity)).json()->getArray("addresses");
	CPPUNIT_ASSERT_EQUAL(std::size_t(2), pAddresses->size());
	CPPUNIT_ASSERT_EQUAL(std::string("127.0.0.1:7001"), pAddresses->getElement<std::string>(0));
	CPPUNIT_ASSERT_EQUAL(std::string("127.0.0.1:81"), pAddresses->getElement<std::string>(1));
}


void RelayServerTest::testUnregister()
{
	RelayServer server(RelayTest::testConfig());
	server.start();
	HttpClient client(server.port());
	const Identity identity = Identity::generate();
	CPPUNIT_ASSERT_EQUAL(200, client.announce(identity, R"({"name":"x","port":1})").status);
	CPPUNIT_ASSERT_EQUAL(200, client.request("GET", peerPath(identity)).status);
	CPPUNIT_ASSERT_EQUAL(401, client.request("DELETE", API + "/announce").status);
	CPPUNIT_ASSERT_EQUAL(200, client.request("GET", peerPath(identity)).status);
	CPPUNIT_ASSERT_EQUAL(204, client.request("DELETE", API + "/announce", "", &identity).status);
	CPPUNIT_ASSERT_EQUAL(404, client.request("GET", peerPath(identity)).status);
}


void RelayServerTest::testLookupUnknownAndMalformed()
{
	RelayServerConfig config = RelayTest::testConfig();
	config.lookupRetryAfter = std::chrono::seconds(100);
	RelayServer server(config);
	server.start();
	HttpClient client(server.port());
	const Identity stranger = Identity::generate();
	const HttpResult missing = client.request("GET", peerPath(stranger));
	CPPUNIT_ASSERT_EQUAL(404, missing.status);
	CPPUNIT_ASSERT_EQUAL(std::string("not_found"), errorCode(missing));
	const std::int64_t retry = retryAfter(missing);
	CPPUNIT_ASSERT(retry >= 90 && retry <= 110);

	const HttpResult malformed = client.request("GET", API + "/peers/NOT-A-PEER-ID");
	CPPUNIT_ASSERT_EQUAL(400, malformed.status);
	CPPUNIT_ASSERT_EQUAL(std::string("bad_request"), errorCode(malformed));
	std::string typo = stranger.peerId().toString();
	typo[3] = typo[3] == 'A' ? 'B' : 'A';
	CPPUNIT_ASSERT_EQUAL(400, client.request("GET", API + "/peers/" + typo).status);
}


namespace {


std::string lookupUntil(HttpClient& client, const Identity& identity, bool online)
	/// The lookup answer's body once its "online" is online, or after 5 s whatever it is: the
	/// relay notices a closed control channel on its own loop, a moment after the client closed.
{
	const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
	for (;;)
	{
		const HttpResult found = client.request("GET", peerPath(identity));
		CPPUNIT_ASSERT_EQUAL(200, found.status);
		if (found.json()->getValue<bool>("online") == online || std::chrono::steady_clock::now() >= deadline) return found.body;
		std::this_thread::sleep_for(std::chrono::milliseconds(10));
	}
}


} // namespace


void RelayServerTest::testLookupAnswerKept()
{
	// The lookup answer is rendered once per version of the record and online state and kept
	// with the record: what is served must be, byte for byte, a fresh rendering of the record
	// as it is now, never an answer of an older record or online state.
	using CrossChat::Relay::PeerRecord;
	using CrossChat::Relay::RelayApi;
	RelayServer server(RelayTest::testConfig());
	server.start();
	HttpClient client(server.port());
	const Identity alice = Identity::generate();
	CPPUNIT_ASSERT_EQUAL(200, client.announce(alice, R"({"name":"alice","addresses":["192.0.2.7:4000","[2001:db8::5]:6"]})").status);

	PeerRecord expected;
	expected.id = alice.peerId();
	expected.publicKeyRaw = alice.publicKey().raw();
	expected.name = "alice";
	expected.addresses = {Poco::Net::SocketAddress("192.0.2.7:4000"), Poco::Net::SocketAddress("[2001:db8::5]:6")};
	const HttpResult first = client.request("GET", peerPath(alice));
	CPPUNIT_ASSERT_EQUAL(200, first.status);
	CPPUNIT_ASSERT_EQUAL(std::string("application/json"), first.headers.get("Content-Type"));
	CPPUNIT_ASSERT_EQUAL(std::to_string(first.body.size()), first.headers.get("Content-Length"));
	expected.lastSeenMs = first.json()->getValue<std::int64_t>("last_seen_ms");   // the relay's clock at the announce
	CPPUNIT_ASSERT_EQUAL(RelayApi::renderLookup(expected, false), first.body);
	// Served again (now from the kept answer): the same bytes.
	CPPUNIT_ASSERT_EQUAL(first.body, client.request("GET", peerPath(alice)).body);

	// Online: the online answer, then again offline once the channel has gone.
	{
		RelayTest::ControlClient control(server.port());
		control.authenticate(alice);
		const HttpResult online = client.request("GET", peerPath(alice));
		CPPUNIT_ASSERT_EQUAL(RelayApi::renderLookup(expected, true), online.body);
		CPPUNIT_ASSERT_EQUAL(online.body, client.request("GET", peerPath(alice)).body);
	}
	CPPUNIT_ASSERT_EQUAL(RelayApi::renderLookup(expected, false), lookupUntil(client, alice, false));

	// A re-announce with other fields: the new record's answer at once, never the old one.
	CPPUNIT_ASSERT_EQUAL(200, client.announce(alice, R"({"name":"alice 2","addresses":["0.0.0.0:7000"]})").status);
	const HttpResult renewed = client.request("GET", peerPath(alice));
	CPPUNIT_ASSERT_EQUAL(200, renewed.status);
	const auto pRenewed = renewed.json();
	CPPUNIT_ASSERT_EQUAL(std::string("alice 2"), pRenewed->getValue<std::string>("name"));
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), pRenewed->getArray("addresses")->size());
	CPPUNIT_ASSERT(pRenewed->has("observed"));   // an unspecified host publishes the observed address
	expected.name = "alice 2";
	expected.addresses = {Poco::Net::SocketAddress(pRenewed->getArray("addresses")->getElement<std::string>(0))};
	expected.publishObserved = true;
	expected.observed = Poco::Net::SocketAddress(pRenewed->getValue<std::string>("observed"));
	expected.lastSeenMs = pRenewed->getValue<std::int64_t>("last_seen_ms");
	CPPUNIT_ASSERT(expected.lastSeenMs >= first.json()->getValue<std::int64_t>("last_seen_ms"));
	CPPUNIT_ASSERT_EQUAL(RelayApi::renderLookup(expected, false), renewed.body);
	CPPUNIT_ASSERT_EQUAL(renewed.body, client.request("GET", peerPath(alice)).body);

	// Unregistered: not found, although an answer was kept.
	CPPUNIT_ASSERT_EQUAL(204, client.request("DELETE", API + "/announce", "", &alice).status);
	CPPUNIT_ASSERT_EQUAL(404, client.request("GET", peerPath(alice)).status);

	// Online without a record: rendered per request, last_seen_ms is the time of the lookup.
	const Identity bob = Identity::generate();
	RelayTest::ControlClient bobControl(server.port());
	bobControl.authenticate(bob);
	for (int i = 0; i < 2; ++i)
	{
		const std::int64_t before = std::chrono::duration_cast<std::chrono::milliseconds>(
			std::chrono::system_clock::now().time_since_epoch()).count();
		const HttpResult found = client.request("GET", peerPath(bob));
		CPPUNIT_ASSERT_EQUAL(200, found.status);
		const auto pFound = found.json();
		CPPUNIT_ASSERT_EQUAL(true, pFound->getValue<bool>("online"));
		CPPUNIT_ASSERT_EQUAL(std::string(""), pFound->getValue<std::string>("name"));
		CPPUNIT_ASSERT(pFound->getValue<std::int64_t>("last_seen_ms") >= before);
	}
}


void RelayServerTest::testBodyTooLarge()
{
	RelayServerConfig config = RelayTest::testConfig();
	config.maxBodySize = 1000;
	RelayServer server(config);
	server.start();
	HttpClient client(server.port());
	const Identity identity = Identity::generate();
	const std::string big = "{\"name\":\"" + std::string(2000, 'a') + "\"}";
	const HttpResult declared = client.announce(identity, big);
	CPPUNIT_ASSERT_EQUAL(413, declared.status);
	CPPUNIT_ASSERT_EQUAL(std::string("too_large"), errorCode(declared));

	// Chunked: refused before any of the body is read (bodies need Content-Length).
	Poco::Net::HTTPClientSession session("127.0.0.1", server.port());
	Poco::Net::HTTPRequest request("POST", API + "/announce", Poco::Net::HTTPMessage::HTTP_1_1);
	request.setChunkedTransferEncoding(true);
	HttpClient::sign(request, identity, "POST", API + "/announce", big);
	session.sendRequest(request) << big;
	Poco::Net::HTTPResponse response;
	std::string body;
	Poco::StreamCopier::copyToString(session.receiveResponse(response), body);
	CPPUNIT_ASSERT_EQUAL(411, static_cast<int>(response.getStatus()));

	// Still serving.
	CPPUNIT_ASSERT_EQUAL(200, client.announce(identity, R"({"name":"small","port":1})").status);
}


void RelayServerTest::testMalformedBodies()
{
	RelayServer server(RelayTest::testConfig());
	server.start();
	HttpClient client(server.port());
	const Identity identity = Identity::generate();
	for (const char* body: {"{", "[1,2]", "", R"({"name":5})", R"({"port":"80"})", R"({"port":70000})",
		R"({"addresses":["example.com:80"]})", R"({"addresses":["192.0.2.1:99999"]})", R"({"addresses":[true]})",
		R"({"directory":1})"})
	{
		const HttpResult result = client.announce(identity, body);
		CPPUNIT_ASSERT_EQUAL_MESSAGE(body, 400, result.status);
		CPPUNIT_ASSERT_EQUAL_MESSAGE(body, std::string("bad_request"), errorCode(result));
		CPPUNIT_ASSERT_MESSAGE(body, !result.json()->getValue<std::string>("message").empty());
	}
	CPPUNIT_ASSERT_EQUAL(400, client.request("POST", API + "/tunnels", R"({"to":"nobody"})", &identity).status);
	CPPUNIT_ASSERT_EQUAL(400, client.request("POST", API + "/tunnels", R"({"to":5})", &identity).status);
	CPPUNIT_ASSERT_EQUAL(404, client.request("GET", peerPath(identity)).status);
}


void RelayServerTest::testSignatureRequired()
{
	RelayServer server(RelayTest::testConfig());
	server.start();
	HttpClient client(server.port());
	const Identity identity = Identity::generate();
	const std::string body = R"({"name":"mallory","port":1})";

	HttpResult result = client.request("POST", API + "/announce", body);
	CPPUNIT_ASSERT_EQUAL(401, result.status);
	CPPUNIT_ASSERT_EQUAL(std::string("unauthorized"), errorCode(result));

	RelayTest::SignOptions otherBody;
	otherBody.signedBody = R"({"name":"alice","port":1})";
	CPPUNIT_ASSERT_EQUAL(401, client.request("POST", API + "/announce", body, &identity, otherBody).status);

	CPPUNIT_ASSERT_EQUAL(401, client.request("POST", API + "/announce", body, &identity, {},
		{{RelayProtocol::HEADER_KEY, "not base64!"}}).status);
	CPPUNIT_ASSERT_EQUAL(401, client.request("POST", API + "/announce", body, &identity, {},
		{{RelayProtocol::HEADER_SIGNATURE, "AAAA"}}).status);
	CPPUNIT_ASSERT_EQUAL(401, client.request("POST", API + "/announce", body, &identity, {},
		{{RelayProtocol::HEADER_TIMESTAMP, "yesterday"}}).status);
	CPPUNIT_ASSERT_EQUAL(401, client.request("POST", API + "/announce", body, &identity, {},
		{{RelayProtocol::HEADER_NONCE, "short"}}).status);
	// Somebody else's key with our signature.
	const Identity other = Identity::generate();
	Poco::Net::NameValueCollection otherHeaders;
	HttpClient::sign(otherHeaders, other, "POST", API + "/announce", body);
	CPPUNIT_ASSERT_EQUAL(401, client.request("POST", API + "/announce", body, &identity, {},
		{{RelayProtocol::HEADER_KEY, otherHeaders.get(RelayProtocol::HEADER_KEY)}}).status);

	CPPUNIT_ASSERT_EQUAL(404, client.request("GET", peerPath(identity)).status);
}


void RelayServerTest::testStaleAndReplayed()
{
	RelayServer server(RelayTest::testConfig());
	server.start();
	HttpClient client(server.port());
	const Identity identity = Identity::generate();
	const std::string body = R"({"name":"n","port":1})";

	RelayTest::SignOptions stale;
	stale.timestampOffsetMs = -61000;
	HttpResult result = client.request("POST", API + "/announce", body, &identity, stale);
	CPPUNIT_ASSERT_EQUAL(403, result.status);
	CPPUNIT_ASSERT_EQUAL(std::string("forbidden"), errorCode(result));
	RelayTest::SignOptions future;
	future.timestampOffsetMs = 61000;
	CPPUNIT_ASSERT_EQUAL(403, client.request("POST", API + "/announce", body, &identity, future).status);

	RelayTest::SignOptions fixedNonce;
	fixedNonce.nonce = "replay-me-0123456789";
	CPPUNIT_ASSERT_EQUAL(200, client.request("POST", API + "/announce", body, &identity, fixedNonce).status);
	result = client.request("POST", API + "/announce", body, &identity, fixedNonce);
	CPPUNIT_ASSERT_EQUAL(403, result.status);
	CPPUNIT_ASSERT(result.json()->getValue<std::string>("message").find("replay") != std::string::npos);
}


void RelayServerTest::testUnknownPathAndWrongMethod()
{
	RelayServer server(RelayTest::testConfig());
	server.start();
	HttpClient client(server.port());
	HttpResult result = client.request("GET", "/nope");
	CPPUNIT_ASSERT_EQUAL(404, result.status);
	CPPUNIT_ASSERT_EQUAL(std::string("not_found"), errorCode(result));
	CPPUNIT_ASSERT_EQUAL(404, client.request("GET", API + "/nope").status);
	CPPUNIT_ASSERT_EQUAL(404, client.request("GET", API + "/announce/extra").status);

	result = client.request("PUT", API + "/announce", "{}");
	CPPUNIT_ASSERT_EQUAL(405, result.status);
	CPPUNIT_ASSERT_EQUAL(std::string("POST, DELETE"), result.headers.get("Allow"));
	CPPUNIT_ASSERT_EQUAL(std::string("method_not_allowed"), errorCode(result));
	CPPUNIT_ASSERT_EQUAL(405, client.request("POST", "/health", "{}").status);
	CPPUNIT_ASSERT_EQUAL(405, client.request("DELETE", API + "/directory").status);
	CPPUNIT_ASSERT_EQUAL(405, client.request("GET", API + "/tunnels").status);
	CPPUNIT_ASSERT_EQUAL(405, client.request("POST", API + "/peers/x", "{}").status);
}


void RelayServerTest::testRateLimit()
{
	RelayServerConfig config = RelayTest::testConfig();
	config.requestsPerSecondPerIp = 2;   // burst 4
	RelayServer server(config);
	server.start();
	HttpClient client(server.port());
	int ok = 0;
	int limited = 0;
	std::int64_t retry = 0;
	for (int i = 0; i < 12; ++i)
	{
		const HttpResult result = client.request("GET", API + "/directory");
		if (result.status == 200) ++ok;
		else if (result.status == 429)
		{
			++limited;
			retry = retryAfter(result);
			CPPUNIT_ASSERT_EQUAL(std::string("rate_limited"), errorCode(result));
		}
	}
	CPPUNIT_ASSERT(ok >= 4 && ok <= 6);
	CPPUNIT_ASSERT(limited >= 6);
	CPPUNIT_ASSERT(retry >= 1);
	// Upgrades are API requests too.
	int status = 0;
	RelayTest::upgrade(server.port(), API + "/control", RelayProtocol::UPGRADE_CONTROL, status);
	CPPUNIT_ASSERT_EQUAL(429, status);
	// Monitoring is not limited.
	CPPUNIT_ASSERT_EQUAL(200, client.request("GET", "/health").status);
	const auto pMetrics = client.request("GET", "/metrics");
	CPPUNIT_ASSERT(pMetrics.body.find("crosschat_relay_rejected_total{reason=\"rate_limited\"} ") != std::string::npos);
}


void RelayServerTest::testStatusPageEscapesNames()
{
	RelayServer server(RelayTest::testConfig());
	server.start();
	HttpClient client(server.port());
	const Identity identity = Identity::generate();
	CPPUNIT_ASSERT_EQUAL(200, client.announce(identity, R"({"name":"<b>\"Eve\" & 'Mallory'</b>","port":1,"directory":true})").status);
	const Identity hidden = Identity::generate();
	CPPUNIT_ASSERT_EQUAL(200, client.announce(hidden, R"({"name":"not listed","port":1})").status);
	const HttpResult page = client.request("GET", "/");
	CPPUNIT_ASSERT_EQUAL(200, page.status);
	CPPUNIT_ASSERT(page.headers.get("Content-Type").find("text/html") == 0);
	CPPUNIT_ASSERT(page.body.find("&lt;b&gt;&quot;Eve&quot; &amp; &#39;Mallory&#39;&lt;/b&gt;") != std::string::npos);
	CPPUNIT_ASSERT(page.body.find("<b>\"Eve\"") == std::string::npos);
	CPPUNIT_ASSERT(page.body.find(identity.peerId().toString()) != std::string::npos);
	// The page is public: a peer that did not opt into the directory is not named there.
	CPPUNIT_ASSERT(page.body.find("not listed") == std::string::npos);
	CPPUNIT_ASSERT(page.body.find(hidden.peerId().toString()) == std::string::npos);
	for (const char* text: {"Uptime", "Version", "Announces", "Bytes relayed", "15 min", "relay.maxTunnels", "relay.maxControlConnectionsPerIp", "relay.replayCachePerIp"})
	{
		CPPUNIT_ASSERT_MESSAGE(text, Poco::toLower(page.body).find(Poco::toLower(std::string(text))) != std::string::npos);
	}
}


void RelayServerTest::testMetrics()
{
	RelayServer server(RelayTest::testConfig());
	server.start();
	HttpClient client(server.port());
	const Identity identity = Identity::generate();
	CPPUNIT_ASSERT_EQUAL(200, client.announce(identity, R"({"port":1})").status);
	CPPUNIT_ASSERT_EQUAL(404, client.request("GET", peerPath(Identity::generate())).status);
	const HttpResult metrics = client.request("GET", "/metrics");
	CPPUNIT_ASSERT_EQUAL(200, metrics.status);
	CPPUNIT_ASSERT(metrics.headers.get("Content-Type").find("text/plain") == 0);
	for (const char* text: {
		"# HELP crosschat_relay_announces_total ",
		"# TYPE crosschat_relay_announces_total counter\ncrosschat_relay_announces_total 1\n",
		"# TYPE crosschat_relay_lookups_total counter\ncrosschat_relay_lookups_total 1\n",
		"crosschat_relay_rejected_total{reason=\"not_found\"} 1\n",
		"# TYPE crosschat_relay_peers gauge\ncrosschat_relay_peers 1\n",
		"# TYPE crosschat_relay_bytes_relayed_total counter\n",
		"# TYPE crosschat_relay_online_peers gauge\n"})
	{
		CPPUNIT_ASSERT_MESSAGE(text, metrics.body.find(text) != std::string::npos);
	}
	// Every line is a comment or "name[{labels}] value".
	std::istringstream lines(metrics.body);
	std::string line;
	while (std::getline(lines, line))
	{
		if (line.empty() || line[0] == '#') continue;
		CPPUNIT_ASSERT_MESSAGE(line, line.compare(0, 16, "crosschat_relay_") == 0);
		CPPUNIT_ASSERT_MESSAGE(line, line.find(' ') != std::string::npos);
	}
}


void RelayServerTest::testRecordExpiry()
{
	RelayTest::ManualClock clock;
	RelayServerConfig config = RelayTest::testConfig();
	config.clock = clock.function();
	config.recordTtl = std::chrono::seconds(60);
	RelayServer server(config);
	server.start();
	HttpClient client(server.port());
	const Identity identity = Identity::generate();
	CPPUNIT_ASSERT_EQUAL(200, client.announce(identity, R"({"name":"ephemeral","port":1})").status);
	// A listed peer with its control channel: the directory lists online peers only.
	const Identity listed = Identity::generate();
	CPPUNIT_ASSERT_EQUAL(200, client.announce(listed, R"({"name":"listed","port":1,"directory":true})").status);
	RelayTest::ControlClient control(server.port());
	control.authenticate(listed);
	clock.advance(std::chrono::seconds(59));
	CPPUNIT_ASSERT_EQUAL(200, client.request("GET", peerPath(identity)).status);
	CPPUNIT_ASSERT_EQUAL(1, client.request("GET", API + "/directory").json()->getValue<int>("total"));
	clock.advance(std::chrono::seconds(2));
	CPPUNIT_ASSERT_EQUAL(404, client.request("GET", peerPath(identity)).status);
	CPPUNIT_ASSERT_EQUAL(0, client.request("GET", API + "/directory").json()->getValue<int>("total"));
	// Re-announcing brings it back.
	CPPUNIT_ASSERT_EQUAL(200, client.announce(identity, R"({"name":"ephemeral","port":1})").status);
	CPPUNIT_ASSERT_EQUAL(200, client.request("GET", peerPath(identity)).status);
}


void RelayServerTest::testDirectory()
{
	RelayServer server(RelayTest::testConfig());
	server.start();
	HttpClient client(server.port());
	std::vector<std::unique_ptr<RelayTest::ControlClient>> online;
	for (const char* name: {"carol", "alice", "Bob", "ALINA", "dave", "offline-al"})
	{
		const Identity identity = Identity::generate();
		const bool listed = std::string(name) != "dave";
		CPPUNIT_ASSERT_EQUAL(200, client.announce(identity, std::string("{\"name\":\"") + name
			+ "\",\"port\":1,\"directory\":" + (listed ? "true" : "false") + "}").status);
		if (std::string(name) == "offline-al") continue;   // opted in, but not connected: not listed
		online.push_back(std::make_unique<RelayTest::ControlClient>(server.port()));
		online.back()->authenticate(identity);
	}
	HttpResult result = client.request("GET", API + "/directory");
	CPPUNIT_ASSERT_EQUAL(200, result.status);
	auto pAnswer = result.json();
	CPPUNIT_ASSERT_EQUAL(4, pAnswer->getValue<int>("total"));
	CPPUNIT_ASSERT_EQUAL(50, pAnswer->getValue<int>("limit"));
	auto pPeers = pAnswer->getArray("peers");
	CPPUNIT_ASSERT_EQUAL(std::size_t(4), pPeers->size());
	const char* expected[] = {"alice", "ALINA", "Bob", "carol"};
	for (std::size_t i = 0; i < 4; ++i)
		CPPUNIT_ASSERT_EQUAL(std::string(expected[i]), pPeers->getObject(static_cast<unsigned>(i))->getValue<std::string>("name"));
	CPPUNIT_ASSERT(pPeers->getObject(0)->has("id"));
	CPPUNIT_ASSERT(pPeers->getObject(0)->has("online"));

	pAnswer = client.request("GET", API + "/directory?q=AL").json();
	CPPUNIT_ASSERT_EQUAL(2, pAnswer->getValue<int>("total"));
	pAnswer = client.request("GET", API + "/directory?q=dav").json();
	CPPUNIT_ASSERT_EQUAL(0, pAnswer->getValue<int>("total"));

	pAnswer = client.request("GET", API + "/directory?offset=1&limit=2").json();
	CPPUNIT_ASSERT_EQUAL(4, pAnswer->getValue<int>("total"));
	pPeers = pAnswer->getArray("peers");
	CPPUNIT_ASSERT_EQUAL(std::size_t(2), pPeers->size());
	CPPUNIT_ASSERT_EQUAL(std::string("ALINA"), pPeers->getObject(0)->getValue<std::string>("name"));
	CPPUNIT_ASSERT_EQUAL(std::string("Bob"), pPeers->getObject(1)->getValue<std::string>("name"));
	CPPUNIT_ASSERT_EQUAL(std::size_t(0), client.request("GET", API + "/directory?offset=10").json()->getArray("peers")->size());
	CPPUNIT_ASSERT_EQUAL(200, client.request("GET", API + "/directory?limit=1000").json()->getValue<int>("limit"));

	for (const char* bad: {"?limit=0", "?limit=x", "?offset=-1", "?q=%zz"})
	{
		result = client.request("GET", API + "/directory" + bad);
		CPPUNIT_ASSERT_EQUAL_MESSAGE(bad, 400, result.status);
		CPPUNIT_ASSERT_EQUAL(std::string("bad_request"), errorCode(result));
	}
}


void RelayServerTest::testRegistryFull()
{
	RelayServerConfig config = RelayTest::testConfig();
	config.maxPeers = 1;
	RelayServer server(config);
	server.start();
	HttpClient client(server.port());
	const Identity first = Identity::generate();
	CPPUNIT_ASSERT_EQUAL(200, client.announce(first, R"({"port":1})").status);
	const HttpResult refused = client.announce(Identity::generate(), R"({"port":1})");
	CPPUNIT_ASSERT_EQUAL(503, refused.status);
	CPPUNIT_ASSERT(refused.headers.has("Retry-After"));
	CPPUNIT_ASSERT_EQUAL(200, client.announce(first, R"({"port":2})").status);   // refreshing is fine
}


void RelayServerTest::testGarbageRequestKeepsServing()
{
	RelayServer server(RelayTest::testConfig());
	server.start();
	static const char TLS_HELLO_ISH[] = "\x16\x03\x01\x02\x00garbage\r\n\r\n";
	for (const std::string& garbage: {std::string(TLS_HELLO_ISH, sizeof(TLS_HELLO_ISH) - 1), std::string("GET\r\n\r\n"),
		"GET / HTTP/1.1\r\n" + std::string(10000, 'X') + ": y\r\n\r\n", std::string("POST /api/v1/announce HTTP/1.1\r\nContent-Length: -5\r\n\r\n")})
	{
		Poco::Net::StreamSocket socket;
		socket.connect(Poco::Net::SocketAddress("127.0.0.1", server.port()));
		socket.setReceiveTimeout(Poco::Timespan(5, 0));
		RelayTest::sendAll(socket, garbage);
		RelayTest::waitForClose(socket, std::chrono::milliseconds(6000));
	}
	HttpClient client(server.port());
	CPPUNIT_ASSERT_EQUAL(200, client.request("GET", "/health").status);
}


void RelayServerTest::testHttps()
{
	// The relay's certificate: an Identity's self-signed Ed25519 certificate will do for a test
	// of the transport (clients here do not verify it).
	const Identity first = Identity::generate();
	const Identity second = Identity::generate();
	Poco::TemporaryFile certificate;
	Poco::TemporaryFile key;
	std::ofstream(certificate.path()) << first.certificatePem();
	std::ofstream(key.path()) << first.privateKeyPem();
	RelayServerConfig config = RelayTest::testConfig();
	config.tlsCertificateFile = certificate.path();
	config.tlsKeyFile = key.path();
	RelayServer server(config);
	server.start();
	const Poco::Net::Context::Ptr pTls = RelayTest::insecureClientTls();
	HttpClient client(server.port(), pTls);
	const HttpResult health = client.request("GET", "/health");
	CPPUNIT_ASSERT_EQUAL(200, health.status);
	CPPUNIT_ASSERT_EQUAL(std::string("ok"), health.json()->getValue<std::string>("status"));

	// Control channels and a tunnel, all over TLS on the event loops.
	const Identity alice = Identity::generate();
	const Identity bob = Identity::generate();
	CPPUNIT_ASSERT_EQUAL(200, client.announce(alice, R"({"name":"alice"})").status);
	RelayTest::ControlClient aliceControl(server.port(), {}, pTls);
	aliceControl.authenticate(alice);
	// A lookup over TLS, twice (the second from the kept answer): head and body whole.
	const HttpResult looked = client.request("GET", peerPath(alice));
	CPPUNIT_ASSERT_EQUAL(200, looked.status);
	CPPUNIT_ASSERT_EQUAL(std::to_string(looked.body.size()), looked.headers.get("Content-Length"));
	CPPUNIT_ASSERT_EQUAL(true, looked.json()->getValue<bool>("online"));
	CPPUNIT_ASSERT_EQUAL(looked.body, client.request("GET", peerPath(alice)).body);
	RelayTest::ControlClient bobControl(server.port(), {}, pTls);
	bobControl.authenticate(bob);
	const HttpResult opened = client.request("POST", API + "/tunnels", "{\"to\":\"" + bob.peerId().toString() + "\"}", &alice);
	CPPUNIT_ASSERT_EQUAL_MESSAGE(opened.body, 201, opened.status);
	const CrossChat::Message invite = bobControl.expect("invite");
	int status = 0;
	Poco::Net::StreamSocket aliceEnd = RelayTest::upgrade(server.port(), API + "/tunnels/" + opened.json()->getValue<std::string>("token"),
		RelayProtocol::UPGRADE_TUNNEL, status, nullptr, {}, pTls);
	CPPUNIT_ASSERT_EQUAL(101, status);
	Poco::Net::StreamSocket bobEnd = RelayTest::upgrade(server.port(), API + "/tunnels/" + invite.body->getValue<std::string>("token"),
		RelayProtocol::UPGRADE_TUNNEL, status, nullptr, {}, pTls);
	CPPUNIT_ASSERT_EQUAL(101, status);
	const std::string forth = RelayTest::randomBytes(100000);
	const std::string back = RelayTest::randomBytes(5000);
	RelayTest::sendAll(aliceEnd, forth);
	CPPUNIT_ASSERT(RelayTest::receiveExactly(bobEnd, forth.size()) == forth);
	RelayTest::sendAll(bobEnd, back);
	CPPUNIT_ASSERT(RelayTest::receiveExactly(aliceEnd, back.size()) == back);

	// kill -HUP: the new certificate for new connections; open ones are not disturbed.
	auto subjectSeen = [&server, &pTls]
	{
		Poco::Net::SecureStreamSocket socket(pTls);
		socket.connect(Poco::Net::SocketAddress("127.0.0.1", server.port()), Poco::Timespan(5, 0));
		return socket.peerCertificate().subjectName();
	};
	const std::string before = subjectSeen();
	std::ofstream(certificate.path(), std::ios::trunc) << second.certificatePem();
	std::ofstream(key.path(), std::ios::trunc) << second.privateKeyPem();
	server.reloadCertificate();
	const std::string after = subjectSeen();
	CPPUNIT_ASSERT_MESSAGE(before + " / " + after, before != after);
	RelayTest::sendAll(aliceEnd, "still here");
	CPPUNIT_ASSERT_EQUAL(std::string("still here"), RelayTest::receiveExactly(bobEnd, 10));
	Poco::JSON::Object ping;
	ping.set("n", 7);
	aliceControl.send("ping", ping);
	CPPUNIT_ASSERT_EQUAL(7, aliceControl.expect("pong").body->getValue<int>("n"));
	// A broken file is refused and the current certificate stays.
	std::ofstream(key.path(), std::ios::trunc) << "not a key";
	CPPUNIT_ASSERT_THROW(server.reloadCertificate(), CrossChat::TlsConfigException);
	CPPUNIT_ASSERT_EQUAL(after, subjectSeen());
	CPPUNIT_ASSERT_EQUAL(200, client.request("GET", "/health").status);
}
