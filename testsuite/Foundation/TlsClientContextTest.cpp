//
// TlsClientContextTest.cpp
//
// testsuite: tests for TlsClientContext and X.509-mode client verification in TlsChannel,
// against a test CA made for each test (127.0.0.1, port 0). No timed assertions: each test
// waits for events; a generous limit only turns a hang into a failure.
//


#include "TlsClientContextTest.h"
#include "TestCertificates.h"
#include "X509Loopback.h"
#include "../TestSupport.h"
#include "CrossChat/EventLoop.h"
#include "CrossChat/FoundationException.h"
#include "CrossChat/TcpConnection.h"
#include "CrossChat/TlsChannel.h"
#include "CrossChat/TlsClientContext.h"
#include "CrossChat/TlsServerContext.h"
#include "Poco/Net/ServerSocket.h"
#include "Poco/Net/SocketImpl.h"
#include "Poco/Net/StreamSocket.h"
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <future>
#include <string>
#include <thread>


using CrossChat::EventLoop;
using CrossChat::TcpConnection;
using CrossChat::TlsChannel;
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


struct Outcome
{
	std::unique_ptr<X509End> client;
	X509End server;
};


Outcome connectOnce(const TlsServerContext::Ptr& pServerContext, const TlsClientContext::Ptr& pClientContext,
	const std::string& host)
	/// Connects once; on success sends "ping" and waits for the echo, then closes. Returns both
	/// ends once they have closed.
{
	EventLoop loop;
	X509EchoServer server(loop, pServerContext);
	Outcome outcome;
	outcome.client = x509Client(loop, server.address(), pClientContext, host);
	X509End& client = *outcome.client;
	client.channel->send("ping");
	const bool done = runUntil(loop, [&] {
		if (client.received == "ping" && !client.channel->connection()->closed()) client.channel->close();
		return client.closed() && server.ends.size() == 1 && server.ends.front()->closed();
	});
	CPPUNIT_ASSERT(done);
	outcome.server = std::move(*server.ends.front());
	return outcome;
}


} // namespace


void TlsClientContextTest::testVerifiedByHostName()
{
	TestCertificates certs;
	const auto ca = certs.makeAuthority("Test CA");
	const auto files = certs.makeServer(ca, "server");
	const Outcome outcome = connectOnce(TlsServerContext::fromFiles(files.chainFile, files.keyFile),
		TlsClientContext::withCaFile(ca.certificateFile), "localhost");
	CPPUNIT_ASSERT(outcome.client->established);
	CPPUNIT_ASSERT_EQUAL(std::string("ping"), outcome.client->received);
	CPPUNIT_ASSERT_EQUAL(std::string(), outcome.client->closeReason);
	CPPUNIT_ASSERT_EQUAL(std::string("TLSv1.3"), outcome.client->version);
	CPPUNIT_ASSERT_EQUAL(std::string("CN=localhost"), outcome.client->subject);
	CPPUNIT_ASSERT(outcome.server.established);
	CPPUNIT_ASSERT_EQUAL(std::string(), outcome.server.subject);   // no client certificate
	CPPUNIT_ASSERT_EQUAL(std::string(), outcome.server.closeReason);
	CPPUNIT_ASSERT(!outcome.client->channel->peerId());
}


void TlsClientContextTest::testVerifiedByIpAddress()
{
	TestCertificates certs;
	const auto ca = certs.makeAuthority("Test CA");
	TestCertificates::ServerSpec spec;
	spec.dnsNames = {"relay.example"};
	spec.ipAddresses = {"127.0.0.1", "::1"};
	const auto files = certs.makeServer(ca, "server", spec);
	const Outcome outcome = connectOnce(TlsServerContext::fromFiles(files.chainFile, files.keyFile),
		TlsClientContext::withCaFile(ca.certificateFile), "127.0.0.1");
	CPPUNIT_ASSERT(outcome.client->established);
	CPPUNIT_ASSERT_EQUAL(std::string("ping"), outcome.client->received);
	CPPUNIT_ASSERT_EQUAL(std::string(), outcome.client->closeReason);
}


void TlsClientContextTest::testSniSent()
{
	// A plain OpenSSL server records the server name the client asks for; the client then
	// refuses it (the server's self-signed certificate is not trusted), which is fine here.
	TestCertificates certs;
	const auto ca = certs.makeAuthority("Test CA");
	const auto files = certs.makeServer(ca, "server");
	Poco::Net::ServerSocket listener(Poco::Net::SocketAddress("127.0.0.1", 0));
	std::promise<std::string> serverName;
	std::thread serverThread([&] {
		Poco::Net::StreamSocket socket = listener.acceptConnection();
		SSL_CTX* pCtx = SSL_CTX_new(TLS_server_method());
		SSL_CTX_use_certificate_chain_file(pCtx, files.chainFile.c_str());
		SSL_CTX_use_PrivateKey_file(pCtx, files.keyFile.c_str(), SSL_FILETYPE_PEM);
		SSL* pSsl = SSL_new(pCtx);
		SSL_set_fd(pSsl, static_cast<int>(socket.impl()->sockfd()));
		SSL_accept(pSsl);
		const char* pName = SSL_get_servername(pSsl, TLSEXT_NAMETYPE_host_name);
		serverName.set_value(pName ? pName : "(none)");
		SSL_free(pSsl);
		SSL_CTX_free(pCtx);
		ERR_clear_error();
	});
	EventLoop loop;
	auto client = x509Client(loop, listener.address(), TlsClientContext::withCaFile(ca.certificateFile), "localhost");
	const bool closed = runUntil(loop, [&] { return client->closed(); });
	serverThread.join();
	CPPUNIT_ASSERT(closed);
	CPPUNIT_ASSERT_EQUAL(std::string("localhost"), serverName.get_future().get());
}


void TlsClientContextTest::testWrongHostNameRefused()
{
	TestCertificates certs;
	const auto ca = certs.makeAuthority("Test CA");
	const auto files = certs.makeServer(ca, "server");
	const Outcome outcome = connectOnce(TlsServerContext::fromFiles(files.chainFile, files.keyFile),
		TlsClientContext::withCaFile(ca.certificateFile), "relay.example.org");
	CPPUNIT_ASSERT(!outcome.client->established);
	CPPUNIT_ASSERT(outcome.client->received.empty());
	CPPUNIT_ASSERT_EQUAL(std::string("TLS certificate verification failed for relay.example.org: hostname mismatch "
		"(the certificate is for DNS:localhost, IP:127.0.0.1)"), outcome.client->closeReason);
	CPPUNIT_ASSERT(!outcome.server.established);
	CPPUNIT_ASSERT(outcome.server.received.empty());   // "ping" was never sent
	CPPUNIT_ASSERT(!outcome.server.closeReason.empty());
}


void TlsClientContextTest::testWrongIpAddressRefused()
{
	TestCertificates certs;
	const auto ca = certs.makeAuthority("Test CA");
	TestCertificates::ServerSpec spec;
	spec.ipAddresses = {"192.0.2.7"};
	const auto files = certs.makeServer(ca, "server", spec);
	const Outcome outcome = connectOnce(TlsServerContext::fromFiles(files.chainFile, files.keyFile),
		TlsClientContext::withCaFile(ca.certificateFile), "127.0.0.1");
	CPPUNIT_ASSERT(!outcome.client->established);
	CPPUNIT_ASSERT_EQUAL(std::string("TLS certificate verification failed for 127.0.0.1: IP address mismatch "
		"(the certificate is for DNS:localhost, IP:192.0.2.7)"), outcome.client->closeReason);
}


void TlsClientContextTest::testUntrustedCaRefused()
{
	TestCertificates certs;
	const auto ca = certs.makeAuthority("Test CA");
	const auto other = certs.makeAuthority("Other CA");
	const auto files = certs.makeServer(ca, "server");
	const Outcome outcome = connectOnce(TlsServerContext::fromFiles(files.chainFile, files.keyFile),
		TlsClientContext::withCaFile(other.certificateFile), "localhost");
	CPPUNIT_ASSERT(!outcome.client->established);
	// The server sends its CA certificate in the chain; it is self-signed and not trusted.
	CPPUNIT_ASSERT_EQUAL(std::string("TLS certificate verification failed for localhost: self-signed certificate "
		"in certificate chain (CA certificate at depth 1 CN=Test CA, issued by CN=Test CA)"), outcome.client->closeReason);
	CPPUNIT_ASSERT(!outcome.server.established);
}


void TlsClientContextTest::testExpiredCertificateRefused()
{
	TestCertificates certs;
	const auto ca = certs.makeAuthority("Test CA");
	TestCertificates::ServerSpec spec;
	spec.validFrom = std::chrono::seconds(-2 * 86400);
	spec.validUntil = std::chrono::seconds(-86400);
	const auto files = certs.makeServer(ca, "server", spec);
	const auto pServerContext = TlsServerContext::fromFiles(files.chainFile, files.keyFile);   // loads; the client decides
	const Outcome outcome = connectOnce(pServerContext, TlsClientContext::withCaFile(ca.certificateFile), "localhost");
	CPPUNIT_ASSERT(!outcome.client->established);
	CPPUNIT_ASSERT_EQUAL(std::string("TLS certificate verification failed for localhost: certificate has expired "
		"(server certificate CN=localhost, issued by CN=Test CA)"), outcome.client->closeReason);
	CPPUNIT_ASSERT(pServerContext->notAfter() < std::chrono::system_clock::now());
}


void TlsClientContextTest::testSystemTrustStore()
{
	const TlsClientContext::Ptr pSystem = TlsClientContext::systemTrust();
	CPPUNIT_ASSERT(pSystem == TlsClientContext::systemTrust());   // made once, shared
	CPPUNIT_ASSERT_EQUAL(std::string("the system trust store"), pSystem->trustDescription());
	// A private CA is not in the system store.
	TestCertificates certs;
	const auto ca = certs.makeAuthority("Test CA");
	const auto files = certs.makeServer(ca, "server");
	const Outcome outcome = connectOnce(TlsServerContext::fromFiles(files.chainFile, files.keyFile), pSystem, "localhost");
	CPPUNIT_ASSERT(!outcome.client->established);
	CPPUNIT_ASSERT(contains(outcome.client->closeReason, "TLS certificate verification failed for localhost: "));
	CPPUNIT_ASSERT(contains(outcome.client->closeReason, "CN=Test CA"));
}


void TlsClientContextTest::testCaFileErrors()
{
	TestCertificates certs;
	const std::string missing = certs.directory() + "/missing.pem";
	try
	{
		TlsClientContext::withCaFile(missing);
		CPPUNIT_FAIL("a missing CA file must be refused");
	}
	catch (const TlsConfigException& exc)
	{
		CPPUNIT_ASSERT_EQUAL(std::string("cannot open CA file " + missing + ": No such file or directory"), exc.message());
	}
	const std::string empty = certs.writeFile("empty.pem", "no certificate here\n");
	try
	{
		TlsClientContext::withCaFile(empty);
		CPPUNIT_FAIL("a CA file without certificates must be refused");
	}
	catch (const TlsConfigException& exc)
	{
		CPPUNIT_ASSERT_EQUAL(std::string("CA file " + empty + " holds no PEM certificate"), exc.message());
	}
	const auto ca = certs.makeAuthority("Test CA");
	CPPUNIT_ASSERT_EQUAL(std::string("CA file " + ca.certificateFile),
		TlsClientContext::withCaFile(ca.certificateFile)->trustDescription());
	EventLoop loop;
	auto pConnection = TcpConnection::connect(loop, Poco::Net::SocketAddress("127.0.0.1", 9));
	CPPUNIT_ASSERT_THROW(TlsChannel::client(pConnection, TlsClientContext::withCaFile(ca.certificateFile), ""),
		Poco::InvalidArgumentException);
	pConnection->abort("test over");
}
