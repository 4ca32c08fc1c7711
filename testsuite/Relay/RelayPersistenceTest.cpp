//
// RelayPersistenceTest.cpp
//
// testsuite: RelayServer with a data directory, over HTTP on loopback. Waits are for
// conditions (a revocation reaches the running relay through its change poll); the limits
// only turn a hang into a failure.
//


#include "RelayPersistenceTest.h"
#include "RelayTestSupport.h"
#include "CrossChat/DataDirectory.h"
#include "CrossChat/FoundationException.h"
#include "CrossChat/Identity.h"
#include "CrossChat/Relay/ControlMessages.h"
#include "CrossChat/Relay/RelayProtocol.h"
#include "CrossChat/Relay/RelayServer.h"
#include "CrossChat/Relay/RelayTokens.h"
#include "Poco/Exception.h"
#include "Poco/File.h"
#include "Poco/JSON/Parser.h"
#include "Poco/Path.h"
#include "Poco/TemporaryFile.h"
#include <algorithm>
#include <sys/stat.h>
#include <chrono>
#include <memory>
#include <thread>


using namespace CrossChat;
using namespace CrossChat::Relay;
using namespace RelayTest;


namespace {


std::unique_ptr<RelayServer> startRelay(const std::string& dataDir, RelayAccess access = RelayAccess::OPEN,
	const std::function<void(RelayServerConfig&)>& tune = nullptr)
{
	RelayServerConfig config = testConfig();
	config.dataDir = dataDir;
	config.access = access;
	if (tune) tune(config);
	auto relay = std::make_unique<RelayServer>(config);
	relay->start();
	return relay;
}


std::string envelopeFor(const PeerId& recipient, std::size_t bodySize = 40)
	/// A well-formed envelope header (what the relay reads) and opaque bytes after it.
{
	std::string envelope(RelayProtocol::MAIL_MAGIC);
	envelope += static_cast<char>(RelayProtocol::MAIL_VERSION);
	envelope += static_cast<char>(RelayProtocol::MAIL_SUITE_HPKE_X25519_CHACHA20);
	envelope += recipient.byteString();
	envelope += std::string(7, '\0') + '\x05';   // pre-key ID 5
	envelope += randomBytes(32);                 // enc
	envelope += randomBytes(bodySize);
	return envelope;
}


Poco::UInt64 health(std::uint16_t port, const std::string& field)
{
	HttpClient client(port);
	const HttpResult result = client.request("GET", "/health");
	CPPUNIT_ASSERT_EQUAL(200, result.status);
	return result.json()->getValue<Poco::UInt64>(field);
}


std::vector<std::pair<std::string, std::string>> bearer(const std::string& token)
{
	return {{"Authorization", "Bearer " + token}};
}


} // namespace


void RelayPersistenceTest::setUp()
{
	_dir = Poco::TemporaryFile::tempName();
	Poco::File(_dir).createDirectories();
	::chmod(_dir.c_str(), 0700);
}


void RelayPersistenceTest::tearDown()
{
	try
	{
		Poco::File(_dir).remove(true);
	}
	catch (...)
	{
	}
}


void RelayPersistenceTest::testRecordsSurviveRestart()
{
	const std::string data = Poco::Path(Poco::Path(_dir).makeDirectory(), "relay").toString();
	const Identity alice = Identity::generate();
	const Identity bob = Identity::generate();
	{
		auto relay = startRelay(data);
		HttpClient client(relay->port());
		CPPUNIT_ASSERT_EQUAL(200, client.announce(alice, R"({"name":"alice","addresses":["192.0.2.7:4000"],"port":4000})").status);
		CPPUNIT_ASSERT_EQUAL(200, client.announce(bob, R"({"name":"bob","port":4001})").status);
		CPPUNIT_ASSERT_EQUAL(204, client.request("DELETE", "/api/v1/announce", "", &bob).status);
		relay->flush();
	}
	// A new relay on the same directory: alice is found without a new announce, bob is gone.
	auto relay = startRelay(data);
	HttpClient client(relay->port());
	const HttpResult found = client.request("GET", "/api/v1/peers/" + alice.peerId().toString());
	CPPUNIT_ASSERT_EQUAL_MESSAGE(found.body, 200, found.status);
	CPPUNIT_ASSERT_EQUAL(std::string("alice"), found.json()->getValue<std::string>("name"));
	CPPUNIT_ASSERT(found.body.find("192.0.2.7:4000") != std::string::npos);
	CPPUNIT_ASSERT_EQUAL(404, client.request("GET", "/api/v1/peers/" + bob.peerId().toString()).status);
}


void RelayPersistenceTest::testMailboxSurvivesRestart()
{
	const std::string data = Poco::Path(Poco::Path(_dir).makeDirectory(), "relay").toString();
	const Identity bob = Identity::generate();
	// The largest envelope the relay takes by default (24 KiB): its mail frame is far larger
	// than anything a client may send on the control channel.
	const std::string envelope = envelopeFor(bob.peerId(), RelayServerConfig().maxEnvelopeSize - 78);
	{
		auto relay = startRelay(data);
		HttpClient client(relay->port());
		const HttpResult deposited = client.request("POST", "/api/v1/mailbox/" + bob.peerId().toString(), envelope);
		CPPUNIT_ASSERT_EQUAL_MESSAGE(deposited.body, 201, deposited.status);   // answered once durable
		CPPUNIT_ASSERT_EQUAL(std::size_t(32), deposited.json()->getValue<std::string>("id").size());
		CPPUNIT_ASSERT_EQUAL(Poco::UInt64(1), health(relay->port(), "mail_waiting"));
	}
	auto relay = startRelay(data);
	CPPUNIT_ASSERT_EQUAL(Poco::UInt64(1), health(relay->port(), "mail_waiting"));
	// Bob's control channel gets it on mail_fetch, byte for byte, and deletes it with mail_ack.
	ControlClient control(relay->port());
	const Message welcome = control.authenticate(bob);
	CPPUNIT_ASSERT(welcome.body->getValue<bool>("mailbox"));
	Poco::JSON::Object fetch;
	fetch.set("window", 4);
	control.send("mail_fetch", fetch);
	const Message mail = control.expect("mail");
	const ControlMail parsed = ControlMail::fromBody(*mail.body);
	CPPUNIT_ASSERT(parsed.envelope == envelope);
	Poco::JSON::Object ack;
	ack.set("id", parsed.id);
	control.send("mail_ack", ack);
	const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
	while (health(relay->port(), "mail_waiting") != 0 && std::chrono::steady_clock::now() < deadline)
		std::this_thread::sleep_for(std::chrono::milliseconds(10));
	CPPUNIT_ASSERT_EQUAL(Poco::UInt64(0), health(relay->port(), "mail_waiting"));
}


void RelayPersistenceTest::testMailboxBounds()
{
	auto relay = startRelay(":memory:", RelayAccess::OPEN, [](RelayServerConfig& config) {
		config.mailboxPerRecipient = 2;
		config.mailboxPerIpPerRecipient = 2;
		config.maxEnvelopeSize = 1024;
	});
	HttpClient client(relay->port());
	const Identity bob = Identity::generate();
	const Identity carol = Identity::generate();
	const std::string path = "/api/v1/mailbox/" + bob.peerId().toString();
	CPPUNIT_ASSERT_EQUAL(201, client.request("POST", path, envelopeFor(bob.peerId())).status);
	CPPUNIT_ASSERT_EQUAL(201, client.request("POST", path, envelopeFor(bob.peerId())).status);
	const HttpResult full = client.request("POST", path, envelopeFor(bob.peerId()));
	CPPUNIT_ASSERT_EQUAL_MESSAGE(full.body, 503, full.status);
	CPPUNIT_ASSERT(full.body.find("full") != std::string::npos);
	// Not addressed to the path's peer, too large, not an envelope: refused.
	CPPUNIT_ASSERT_EQUAL(400, client.request("POST", "/api/v1/mailbox/" + carol.peerId().toString(), envelopeFor(bob.peerId())).status);
	const int large = client.request("POST", "/api/v1/mailbox/" + carol.peerId().toString(), envelopeFor(carol.peerId(), 2000)).status;
	CPPUNIT_ASSERT(large == 400 || large == 413);
	CPPUNIT_ASSERT_EQUAL(400, client.request("POST", "/api/v1/mailbox/" + carol.peerId().toString(), std::string(100, 'x')).status);
	CPPUNIT_ASSERT_EQUAL(Poco::UInt64(2), health(relay->port(), "mail_waiting"));
}


void RelayPersistenceTest::testTokenAccess()
{
	const std::string data = Poco::Path(Poco::Path(_dir).makeDirectory(), "relay").toString();
	std::string good, expired;
	{
		RelayTokens tokens(data);
		good = tokens.add("alice", false, 0, RelayTokenQuota());
		const std::int64_t past = std::chrono::duration_cast<std::chrono::milliseconds>(
			std::chrono::system_clock::now().time_since_epoch()).count() - 1000;
		expired = tokens.add("old", false, past, RelayTokenQuota());
	}
	auto relay = startRelay(data, RelayAccess::TOKEN);
	HttpClient client(relay->port());
	const std::string path = "/api/v1/peers/" + Identity::generate().peerId().toString();
	const HttpResult none = client.request("GET", path);
	CPPUNIT_ASSERT_EQUAL(401, none.status);
	CPPUNIT_ASSERT_EQUAL(std::string("token_required"), none.json()->getValue<std::string>("error"));
	CPPUNIT_ASSERT(none.headers.get("WWW-Authenticate", "").find("Bearer") == 0);
	const std::vector<std::pair<std::string, std::string>> refused = {{"cxrt_nonsense", "token_invalid"},
		{expired, "token_expired"}};
	for (const auto& [token, code]: refused)
	{
		const HttpResult result = client.request("GET", path, "", nullptr, SignOptions(), bearer(token));
		CPPUNIT_ASSERT_EQUAL(401, result.status);
		CPPUNIT_ASSERT_EQUAL(code, result.json()->getValue<std::string>("error"));
		CPPUNIT_ASSERT(result.headers.get("WWW-Authenticate", "").find("invalid_token") != std::string::npos);
	}
	CPPUNIT_ASSERT_EQUAL(404, client.request("GET", path, "", nullptr, SignOptions(), bearer(good)).status);
	// The control channel too.
	int status = 0;
	upgrade(relay->port(), "/api/v1/control", "crosschat-control/1", status);
	CPPUNIT_ASSERT_EQUAL(401, status);
	// /health stays public (relay.statusAccess = open).
	CPPUNIT_ASSERT_EQUAL(200, client.request("GET", "/health").status);

	// Revoked by the operator while the relay runs: refused once the relay has seen the change.
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), RelayTokens(data).revoke("alice"));
	const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
	int code = 0;
	while ((code = client.request("GET", path, "", nullptr, SignOptions(), bearer(good)).status) != 401
		&& std::chrono::steady_clock::now() < deadline)
		std::this_thread::sleep_for(std::chrono::milliseconds(50));
	CPPUNIT_ASSERT_EQUAL(401, code);
	CPPUNIT_ASSERT_EQUAL(std::string("token_revoked"),
		client.request("GET", path, "", nullptr, SignOptions(), bearer(good)).json()->getValue<std::string>("error"));
}


void RelayPersistenceTest::testTokenAdministration()
{
	const std::string data = Poco::Path(Poco::Path(_dir).makeDirectory(), "fresh").toString();
	RelayTokens tokens(data);
	struct stat info{};
	CPPUNIT_ASSERT_EQUAL(0, ::stat(data.c_str(), &info));
	CPPUNIT_ASSERT_EQUAL(0700u, static_cast<unsigned>(info.st_mode & 0777));
	RelayTokenInfo made;
	const std::string secret = tokens.add("ci", true, 0, RelayTokenQuota::parse("peers=3, tunnels=10,mailbox=4M"), &made);
	CPPUNIT_ASSERT_EQUAL(std::size_t(48), secret.size());
	CPPUNIT_ASSERT_EQUAL(std::string("cxrt_"), secret.substr(0, 5));
	CPPUNIT_ASSERT(secret != tokens.add("ci", false, 0, RelayTokenQuota()));
	const auto list = tokens.list();
	CPPUNIT_ASSERT_EQUAL(std::size_t(2), list.size());
	// Oldest first; the two may share a millisecond, so find ours by ID.
	const auto it = std::find_if(list.begin(), list.end(), [&made](const RelayTokenInfo& t) { return t.id == made.id; });
	CPPUNIT_ASSERT(it != list.end());
	CPPUNIT_ASSERT(list.front().createdMs <= list.back().createdMs);
	CPPUNIT_ASSERT(it->admin);
	CPPUNIT_ASSERT_EQUAL(std::uint64_t(3), it->maxPeers);
	CPPUNIT_ASSERT_EQUAL(std::uint64_t(10), it->maxTunnels);
	CPPUNIT_ASSERT_EQUAL(std::uint64_t(4 * 1024 * 1024), it->maxMailboxBytes);
	CPPUNIT_ASSERT_EQUAL(std::size_t(2), tokens.revoke("ci"));        // by name: both
	CPPUNIT_ASSERT_EQUAL(std::size_t(0), tokens.revoke(made.id));     // already revoked
	for (const RelayTokenInfo& token: tokens.list()) CPPUNIT_ASSERT(token.revokedMs > 0);

	CPPUNIT_ASSERT_EQUAL(std::int64_t(90) * 86400000, RelayTokens::parseDuration("90d"));
	CPPUNIT_ASSERT_EQUAL(std::int64_t(12) * 3600000, RelayTokens::parseDuration("12h"));
	CPPUNIT_ASSERT_EQUAL(std::int64_t(45000), RelayTokens::parseDuration("45"));
	for (const char* bad: {"", "d", "0d", "-5d", "1.5h", "99999999999999999999d"})
		CPPUNIT_ASSERT_THROW_MESSAGE(bad, RelayTokens::parseDuration(bad), Poco::InvalidArgumentException);
	for (const char* bad: {"", "peers", "peers=", "peers=x", "cows=3", "mailbox=4T"})
		CPPUNIT_ASSERT_THROW_MESSAGE(bad, RelayTokenQuota::parse(bad), Poco::InvalidArgumentException);
	CPPUNIT_ASSERT_THROW(tokens.add(std::string(65, 'n'), false, 0, RelayTokenQuota()), Poco::InvalidArgumentException);
	CPPUNIT_ASSERT_THROW(RelayTokens(":memory:"), Poco::InvalidArgumentException);
}


void RelayPersistenceTest::testSecondRelayRefused()
{
	const std::string data = Poco::Path(Poco::Path(_dir).makeDirectory(), "relay").toString();
	auto relay = startRelay(data);
	CPPUNIT_ASSERT_THROW(startRelay(data), DataDirectoryInUseException);
}


void RelayPersistenceTest::testTokenQuota()
{
	// Quotas count per token: peers announced with it, envelope bytes deposited with it.
	const std::string data = Poco::Path(Poco::Path(_dir).makeDirectory(), "relay").toString();
	std::string small;
	{
		RelayTokens tokens(data);
		small = tokens.add("small", false, 0, RelayTokenQuota::parse("peers=1,mailbox=300"));
	}
	auto relay = startRelay(data, RelayAccess::TOKEN);
	HttpClient client(relay->port());
	const Identity first = Identity::generate();
	const Identity second = Identity::generate();
	const std::string body = R"({"name":"q","port":4000})";
	HttpResult announced = client.request("POST", "/api/v1/announce", body, &first, SignOptions(), bearer(small));
	CPPUNIT_ASSERT_EQUAL_MESSAGE(announced.body, 200, announced.status);
	announced = client.request("POST", "/api/v1/announce", body, &second, SignOptions(), bearer(small));
	CPPUNIT_ASSERT_EQUAL_MESSAGE(announced.body, 403, announced.status);
	CPPUNIT_ASSERT_EQUAL(std::string("quota"), announced.json()->getValue<std::string>("error"));
	CPPUNIT_ASSERT_EQUAL(std::string("peers"), announced.json()->getValue<std::string>("reason"));

	const Identity bob = Identity::generate();
	const std::string path = "/api/v1/mailbox/" + bob.peerId().toString();
	const HttpResult kept = client.request("POST", path, envelopeFor(bob.peerId(), 100), nullptr, SignOptions(), bearer(small));
	CPPUNIT_ASSERT_EQUAL_MESSAGE(kept.body, 201, kept.status);
	const HttpResult over = client.request("POST", path, envelopeFor(bob.peerId(), 100), nullptr, SignOptions(), bearer(small));
	CPPUNIT_ASSERT_EQUAL_MESSAGE(over.body, 403, over.status);
	CPPUNIT_ASSERT_EQUAL(std::string("mailbox"), over.json()->getValue<std::string>("reason"));
}
