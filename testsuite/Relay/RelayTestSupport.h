//
// RelayTestSupport.h
//
// testsuite: helpers for the relay server tests: an in-process server on 127.0.0.1 port 0,
// signed HTTP requests, raw upgrade sockets and a blocking control-channel client.
//


#ifndef CrossChat_Test_RelayTestSupport_INCLUDED
#define CrossChat_Test_RelayTestSupport_INCLUDED


#include "CrossChat/FrameCodec.h"
#include "CrossChat/Identity.h"
#include "CrossChat/MessageCatalog.h"
#include "CrossChat/Relay/RelayServer.h"
#include "Poco/JSON/Object.h"
#include "Poco/Net/Context.h"
#include "Poco/Net/NameValueCollection.h"
#include "Poco/Net/StreamSocket.h"
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>


namespace RelayTest {


CrossChat::Relay::RelayServerConfig testConfig();
	/// 127.0.0.1 port 0, one HTTP timeout of 5 s, generous request rate, two loops.


class ManualClock
	/// A steady clock that moves only when told (RelayServerConfig::clock).
{
public:
	ManualClock();
	std::chrono::steady_clock::time_point now() const;
	void advance(std::chrono::steady_clock::duration by);
	std::function<std::chrono::steady_clock::time_point()> function();

private:
	std::shared_ptr<std::atomic<std::int64_t>> _pOffsetNs;
	std::chrono::steady_clock::time_point _base;
};


struct HttpResult
{
	int status = 0;
	std::string body;
	Poco::Net::NameValueCollection headers;

	Poco::JSON::Object::Ptr json() const;
		/// The body parsed as a JSON object (fails the test if it is not one).
};


struct SignOptions
{
	std::int64_t timestampOffsetMs = 0;
	std::string nonce;                    ///< Random if empty.
	std::string signedBody;               ///< If set, sign this instead of the real body.
};


class HttpClient
{
public:
	explicit HttpClient(std::uint16_t port, Poco::Net::Context::Ptr pTls = nullptr);
		/// With pTls, requests go over HTTPS (HTTPSClientSession with that context).

	HttpResult request(const std::string& method, const std::string& pathAndQuery, const std::string& body = "",
		const CrossChat::Identity* pSigner = nullptr, const SignOptions& options = SignOptions(),
		const std::vector<std::pair<std::string, std::string>>& headers = {});

	HttpResult announce(const CrossChat::Identity& identity, const std::string& body);

	static void sign(Poco::Net::NameValueCollection& headers, const CrossChat::Identity& identity, const std::string& method,
		const std::string& pathAndQuery, const std::string& body, const SignOptions& options = SignOptions());

private:
	std::uint16_t _port;
	Poco::Net::Context::Ptr _pTls;
};


Poco::Net::Context::Ptr insecureClientTls();
	/// A TLS client context that does not verify the server (tests of the relay's transport).


std::string randomBytes(std::size_t size);


void sendAll(Poco::Net::StreamSocket& socket, const std::string& data);

std::string receiveExactly(Poco::Net::StreamSocket& socket, std::size_t size);
	/// Fails the test on timeout or early close.

bool waitForClose(Poco::Net::StreamSocket& socket, std::chrono::milliseconds timeout);
	/// Reads (discarding) until the peer closes; false on timeout.


Poco::Net::StreamSocket upgrade(std::uint16_t port, const std::string& path, const std::string& protocol, int& status,
	std::string* pBody = nullptr, const std::vector<std::pair<std::string, std::string>>& headers = {},
	Poco::Net::Context::Ptr pTls = nullptr);
	/// Sends an upgrade request and reads the response head byte by byte (never past it).
	/// On a non-101 status the error body is read into pBody.


class ControlClient
	/// A blocking control channel (tests only).
{
public:
	explicit ControlClient(std::uint16_t port, const std::vector<std::pair<std::string, std::string>>& headers = {},
		Poco::Net::Context::Ptr pTls = nullptr);
		/// Connects and upgrades (with the extra request headers); fails the test unless the
		/// relay answers 101.

	void send(const std::string& name, const Poco::JSON::Object& body);
	void sendRaw(const std::string& bytes);
	std::optional<CrossChat::Message> receive(std::chrono::milliseconds timeout = std::chrono::milliseconds(5000));
		/// The next message, or nothing on timeout or close.
	CrossChat::Message expect(const std::string& name);
		/// Receives the next message that is not a ping; fails the test unless it is called name.

	CrossChat::Message authenticate(const CrossChat::Identity& identity);
		/// hello, challenge, auth; returns the welcome.

	bool waitForClose(std::chrono::milliseconds timeout = std::chrono::milliseconds(5000));

	Poco::Net::StreamSocket& socket();

private:
	Poco::Net::StreamSocket _socket;
	CrossChat::FrameCodec _codec;
};


} // namespace RelayTest


#endif // CrossChat_Test_RelayTestSupport_INCLUDED
