//
// TlsServerContextTest.cpp
//
// testsuite: tests for TlsServerContext (loading, errors, reload) and X.509-mode TlsChannel
// servers, against a test CA made for each test (127.0.0.1, port 0). No timed assertions:
// each test waits for events; a generous limit only turns a hang into a failure.
//


#include "TlsServerContextTest.h"
#include "TestCertificates.h"
#include "X509Loopback.h"
#include "../TestSupport.h"
#include "CrossChat/EventLoop.h"
#include "CrossChat/EventLoopThread.h"
#include "CrossChat/FoundationException.h"
#include "CrossChat/TlsChannel.h"
#include "CrossChat/TlsClientContext.h"
#include "CrossChat/TlsServerContext.h"
#include "Poco/Net/SocketImpl.h"
#include "Poco/Net/StreamSocket.h"
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <atomic>
#include <fstream>
#include <future>
#include <sstream>
#include <string>
#include <thread>


using CrossChat::EventLoop;
using CrossChat::EventLoopThread;
using CrossChat::TlsClientContext;
using CrossChat::TlsConfigException;
using CrossChat::TlsServerContext;
using CrossChat::Test::TestCertificates;
using CrossChat::Test::X509EchoServer;
using CrossChat::Test::X509End;
using CrossChat::Test::runUntil;
using CrossChat::Test::x509Client;


namespace {


bool contains(const std::string& text, const std::string& part)
{
	return text.find(part) != std::string::npos;
}


std::string readFile(const std::string& path)
{
	std::ifstream in(path, std::ios::binary);
	std::ostringstream out;
	out << in.rdbuf();
	return out.str();
}


std::string loadError(const std::string& chain, const std::string& key)
	/// The message fromFiles() throws, or "" if it loads.
{
	try
	{
		TlsServerContext::fromFiles(chain, key);
		return std::string();
	}
	catch (const TlsConfigException& exc)
	{
		return exc.message();
	}
}


} // namespace


void TlsServerContextTest::testKeyTypes()
{
	TestCertificates certs;
	const auto ca = certs.makeAuthority("Test CA");
	const auto pTrust = TlsClientContext::withCaFile(ca.certificateFile);
	const struct
	{
		TestCertificates::KeyType type;
		const char* name;
		const char* keyText;
	} cases[] = {
		{TestCertificates::KeyType::EC_P256, "ec", "key EC P-256"},
		{TestCertificates::KeyType::RSA_2048, "rsa", "key RSA 2048"},
		{TestCertificates::KeyType::ED25519, "ed25519", "key ED25519"},
	};
	for (const auto& c: cases)
	{
		TestCertificates::ServerSpec spec;
		spec.commonName = std::string("server-") + c.name;
		spec.keyType = c.type;
		const auto files = certs.makeServer(ca, c.name, spec);
		const auto pContext = TlsServerContext::fromFiles(files.chainFile, files.keyFile);
		CPPUNIT_ASSERT_EQUAL(std::uint64_t(1), pContext->generation());
		CPPUNIT_ASSERT_EQUAL(files.chainFile, pContext->certificateChainFile());
		CPPUNIT_ASSERT_EQUAL(files.keyFile, pContext->privateKeyFile());
		const std::string summary = pContext->summary();
		CPPUNIT_ASSERT(contains(summary, "subject CN=server-" + std::string(c.name) + ", issuer CN=Test CA, valid "));
		CPPUNIT_ASSERT(contains(summary, c.keyText));
		CPPUNIT_ASSERT(pContext->notAfter() > std::chrono::system_clock::now());

		EventLoop loop;
		X509EchoServer server(loop, pContext);
		auto client = x509Client(loop, server.address(), pTrust, "localhost");
		client->channel->send("hello " + std::string(c.name));
		CPPUNIT_ASSERT(runUntil(loop, [&] { return client->received == "hello " + std::string(c.name); }));
		CPPUNIT_ASSERT_EQUAL("CN=server-" + std::string(c.name), client->subject);
		client->channel->close();
		CPPUNIT_ASSERT(runUntil(loop, [&] { return client->closed() && server.ends.front()->closed(); }));
		CPPUNIT_ASSERT_EQUAL(std::string(), client->closeReason);
	}
}


void TlsServerContextTest::testLoadErrors()
{
	TestCertificates certs;
	const auto ca = certs.makeAuthority("Test CA");
	const auto files = certs.makeServer(ca, "server");
	const auto other = certs.makeServer(ca, "other");
	const std::string missing = certs.directory() + "/missing.pem";
	CPPUNIT_ASSERT_EQUAL(std::string(), loadError(files.chainFile, files.keyFile));
	CPPUNIT_ASSERT_EQUAL("cannot open certificate chain file " + missing + ": No such file or directory",
		loadError(missing, files.keyFile));
	CPPUNIT_ASSERT_EQUAL("cannot open private key file " + missing + ": No such file or directory",
		loadError(files.chainFile, missing));
	const std::string noCert = certs.writeFile("nocert.pem", "just text\n");
	CPPUNIT_ASSERT_EQUAL("certificate chain file " + noCert + " holds no PEM certificate", loadError(noCert, files.keyFile));
	// A certificate block whose base64 body is damaged.
	std::string damaged = readFile(files.chainFile);
	damaged[damaged.find("MII") + 10] = '*';
	const std::string damagedFile = certs.writeFile("damaged.pem", damaged);
	CPPUNIT_ASSERT(contains(loadError(damagedFile, files.keyFile), "malformed certificate number 1 in " + damagedFile + ": "));
	CPPUNIT_ASSERT_EQUAL("the private key in " + other.keyFile + " does not belong to the certificate in "
		+ files.chainFile + " (CN=localhost)", loadError(files.chainFile, other.keyFile));
	const std::string encrypted = certs.writeFile("encrypted.pem", TestCertificates::encryptedKeyPem());
	CPPUNIT_ASSERT(contains(loadError(files.chainFile, encrypted),
		"private key file " + encrypted + " holds no readable, unencrypted PEM private key"));
	// The certificate file where the key belongs: no private key in it.
	CPPUNIT_ASSERT(contains(loadError(files.chainFile, files.chainFile),
		"private key file " + files.chainFile + " holds no readable, unencrypted PEM private key"));
}


void TlsServerContextTest::testReloadWhileConnected()
{
	TestCertificates certs;
	const auto ca = certs.makeAuthority("Test CA");
	TestCertificates::ServerSpec first;
	first.commonName = "first";
	const auto files = certs.makeServer(ca, "server", first);
	const auto pContext = TlsServerContext::fromFiles(files.chainFile, files.keyFile);
	const auto pTrust = TlsClientContext::withCaFile(ca.certificateFile);
	EventLoop loop;
	X509EchoServer server(loop, pContext);

	auto before = x509Client(loop, server.address(), pTrust, "localhost");
	before->channel->send("one");
	CPPUNIT_ASSERT(runUntil(loop, [&] { return before->received == "one"; }));
	CPPUNIT_ASSERT_EQUAL(std::string("CN=first"), before->subject);

	// Renew: same file names, new certificate and key (written atomically, as certbot does).
	TestCertificates::ServerSpec second;
	second.commonName = "second";
	second.keyType = TestCertificates::KeyType::ED25519;
	certs.makeServer(ca, "server", second);
	pContext->reload();
	CPPUNIT_ASSERT_EQUAL(std::uint64_t(2), pContext->generation());
	CPPUNIT_ASSERT(contains(pContext->summary(), "subject CN=second"));

	// The open connection goes on with its session; a new one sees the new certificate.
	before->channel->send("two");
	auto after = x509Client(loop, server.address(), pTrust, "localhost");
	after->channel->send("three");
	CPPUNIT_ASSERT(runUntil(loop, [&] { return before->received == "onetwo" && after->received == "three"; }));
	CPPUNIT_ASSERT_EQUAL(std::string("CN=second"), after->subject);
	CPPUNIT_ASSERT_EQUAL(std::string("CN=first"), before->subject);
	CPPUNIT_ASSERT(!before->closed());
	before->channel->close();
	after->channel->close();
	CPPUNIT_ASSERT(runUntil(loop, [&] { return before->closed() && after->closed(); }));
	CPPUNIT_ASSERT_EQUAL(std::string(), before->closeReason);
	CPPUNIT_ASSERT_EQUAL(std::string(), after->closeReason);
}


void TlsServerContextTest::testFailedReloadKeepsCertificate()
{
	TestCertificates certs;
	const auto ca = certs.makeAuthority("Test CA");
	const auto files = certs.makeServer(ca, "server");
	const auto pContext = TlsServerContext::fromFiles(files.chainFile, files.keyFile);
	const std::string summary = pContext->summary();
	// A renewal caught half-way: the new certificate is there, its key not yet.
	const std::string oldKey = readFile(files.keyFile);
	TestCertificates::ServerSpec renewed;
	renewed.commonName = "renewed";
	certs.makeServer(ca, "server", renewed);
	certs.writeFile("server-key.pem", oldKey);
	try
	{
		pContext->reload();
		CPPUNIT_FAIL("a key that does not match must not be swapped in");
	}
	catch (const TlsConfigException& exc)
	{
		CPPUNIT_ASSERT_EQUAL("the private key in " + files.keyFile + " does not belong to the certificate in "
			+ files.chainFile + " (CN=renewed)", exc.message());
	}
	CPPUNIT_ASSERT_EQUAL(std::uint64_t(1), pContext->generation());
	CPPUNIT_ASSERT_EQUAL(summary, pContext->summary());
	// New connections still get the old, working certificate.
	EventLoop loop;
	X509EchoServer server(loop, pContext);
	auto client = x509Client(loop, server.address(), TlsClientContext::withCaFile(ca.certificateFile), "localhost");
	client->channel->send("still served");
	CPPUNIT_ASSERT(runUntil(loop, [&] { return client->received == "still served"; }));
	CPPUNIT_ASSERT_EQUAL(std::string("CN=localhost"), client->subject);
	client->channel->close();
	CPPUNIT_ASSERT(runUntil(loop, [&] { return client->closed(); }));
}


void TlsServerContextTest::testSharedByLoopThreads()
{
	// Two server loops share one context while a third thread keeps reloading it; under
	// ThreadSanitizer this checks that the context is safe to use from several threads.
	TestCertificates certs;
	const auto ca = certs.makeAuthority("Test CA");
	const auto files = certs.makeServer(ca, "server");
	const auto pContext = TlsServerContext::fromFiles(files.chainFile, files.keyFile);
	const auto pTrust = TlsClientContext::withCaFile(ca.certificateFile);
	EventLoopThread serverThreads[2] = {EventLoopThread("x509-server-0"), EventLoopThread("x509-server-1")};
	std::unique_ptr<X509EchoServer> servers[2];
	Poco::Net::SocketAddress addresses[2];
	for (int i = 0; i < 2; ++i)
	{
		std::promise<Poco::Net::SocketAddress> bound;
		serverThreads[i].loop().post([&, i] {
			servers[i] = std::make_unique<X509EchoServer>(serverThreads[i].loop(), pContext);
			bound.set_value(servers[i]->address());
		});
		addresses[i] = bound.get_future().get();
	}
	std::atomic<bool> reloading{true};
	std::atomic<int> reloads{0};
	std::thread reloader([&] {
		while (reloading.load())
		{
			pContext->reload();
			reloads.fetch_add(1);
		}
	});
	constexpr int CLIENTS = 8;
	EventLoop loop;
	std::vector<std::unique_ptr<X509End>> clients;
	for (int i = 0; i < CLIENTS; ++i)
	{
		clients.push_back(x509Client(loop, addresses[i % 2], pTrust, "localhost"));
		clients.back()->channel->send("client " + std::to_string(i));
	}
	const bool echoed = runUntil(loop, [&] {
		for (int i = 0; i < CLIENTS; ++i)
			if (clients[static_cast<std::size_t>(i)]->received != "client " + std::to_string(i)) return false;
		return true;
	});
	reloading.store(false);
	reloader.join();
	for (auto& client: clients) client->channel->close();
	CPPUNIT_ASSERT(runUntil(loop, [&] {
		for (auto& client: clients) if (!client->closed()) return false;
		return true;
	}));
	for (int i = 0; i < 2; ++i)
	{
		std::promise<void> done;
		serverThreads[i].loop().post([&, i] { servers[i].reset(); done.set_value(); });
		done.get_future().wait();
		serverThreads[i].stop();
	}
	CPPUNIT_ASSERT(echoed);
	CPPUNIT_ASSERT(reloads.load() > 0);
	CPPUNIT_ASSERT_EQUAL(std::uint64_t(reloads.load()) + 1, pContext->generation());
}


void TlsServerContextTest::testTls12ClientAccepted()
{
	// Relays sit behind proxies and platforms that may speak TLS 1.2 to them: X.509 mode
	// accepts it (pinned chat sessions do not; see TlsChannelTest::testTls12ClientRefused).
	TestCertificates certs;
	const auto ca = certs.makeAuthority("Test CA");
	const auto files = certs.makeServer(ca, "server");
	EventLoop loop;
	X509EchoServer server(loop, TlsServerContext::fromFiles(files.chainFile, files.keyFile));
	std::promise<std::string> result;
	std::thread client([&] {
		Poco::Net::StreamSocket socket(server.address());
		SSL_CTX* pCtx = SSL_CTX_new(TLS_client_method());
		SSL_CTX_set_max_proto_version(pCtx, TLS1_2_VERSION);
		SSL_CTX_load_verify_locations(pCtx, ca.certificateFile.c_str(), nullptr);
		SSL_CTX_set_verify(pCtx, SSL_VERIFY_PEER, nullptr);
		SSL* pSsl = SSL_new(pCtx);
		SSL_set1_host(pSsl, "localhost");
		SSL_set_fd(pSsl, static_cast<int>(socket.impl()->sockfd()));
		std::string text;
		if (SSL_connect(pSsl) == 1)
		{
			text = SSL_get_version(pSsl);
			char buffer[16] = {};
			if (SSL_write(pSsl, "tls12", 5) == 5 && SSL_read(pSsl, buffer, sizeof(buffer)) == 5)
				text += std::string(" ") + buffer;
			SSL_shutdown(pSsl);
		}
		else
		{
			text = "refused";
		}
		SSL_free(pSsl);
		SSL_CTX_free(pCtx);
		ERR_clear_error();
		result.set_value(text);
	});
	std::future<std::string> answer = result.get_future();
	const bool done = runUntil(loop, [&] {
		return answer.wait_for(std::chrono::seconds(0)) == std::future_status::ready
			&& server.ends.size() == 1 && server.ends.front()->closed();
	});
	client.join();
	CPPUNIT_ASSERT(done);
	CPPUNIT_ASSERT_EQUAL(std::string("TLSv1.2 tls12"), answer.get());
	CPPUNIT_ASSERT_EQUAL(std::string("TLSv1.2"), server.ends.front()->version);
}
