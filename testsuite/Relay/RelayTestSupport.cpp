//
// RelayTestSupport.cpp
//
// testsuite: helpers for the relay server tests.
//


#include "RelayTestSupport.h"
#include "Poco/Net/HTTPSClientSession.h"
#include "Poco/Net/SecureStreamSocket.h"
#include "RelayRequests.h"
#include "CrossChat/MessageSchema.h"
#include "CrossChat/Relay/RelayProtocol.h"
#include "Poco/Net/HTTPClientSession.h"
#include "Poco/Net/HTTPRequest.h"
#include "Poco/Net/HTTPResponse.h"
#include "Poco/Net/NetException.h"
#include "Poco/StreamCopier.h"
#include <cppunit/extensions/HelperMacros.h>
#include <openssl/rand.h>
#include <sstream>


using CrossChat::Relay::RelayProtocol;


namespace RelayTest {


CrossChat::Relay::RelayServerConfig testConfig()
{
	CrossChat::Relay::RelayServerConfig config;
	config.bind = Poco::Net::SocketAddress("127.0.0.1", 0);
	config.tunnelsPerSecondPerIp = 10000;
	config.requestTimeout = std::chrono::seconds(5);
	config.eventLoops = 2;
	config.requestsPerSecondPerIp = 10000;
	config.tunnelRateBytesPerSecond = 64 * 1024 * 1024;
	config.globalRateBytesPerSecond = 256 * 1024 * 1024;
	return config;
}


ManualClock::ManualClock():
	_pOffsetNs(std::make_shared<std::atomic<std::int64_t>>(0)),
	_base(std::chrono::steady_clock::now())
{
}


std::chrono::steady_clock::time_point ManualClock::now() const
{
	return _base + std::chrono::nanoseconds(_pOffsetNs->load());
}


void ManualClock::advance(std::chrono::steady_clock::duration by)
{
	_pOffsetNs->fetch_add(std::chrono::duration_cast<std::chrono::nanoseconds>(by).count());
}


std::function<std::chrono::steady_clock::time_point()> ManualClock::function()
{
	auto pOffset = _pOffsetNs;
	const auto base = _base;
	return [pOffset, base] { return base + std::chrono::nanoseconds(pOffset->load()); };
}


Poco::JSON::Object::Ptr HttpResult::json() const
{
	try
	{
		return CrossChat::MessageSchema::parseObject(body);
	}
	catch (const Poco::Exception& exc)
	{
		CPPUNIT_FAIL("not a JSON object (" + exc.displayText() + "): " + body);
	}
	return nullptr;
}


HttpClient::HttpClient(std::uint16_t port, Poco::Net::Context::Ptr pTls):
	_port(port),
	_pTls(pTls)
{
}


Poco::Net::Context::Ptr insecureClientTls()
{
	return new Poco::Net::Context(Poco::Net::Context::TLS_CLIENT_USE, "", Poco::Net::Context::VERIFY_NONE);
}


std::string randomBytes(std::size_t size)
{
	std::string bytes(size, '\0');
	RAND_bytes(reinterpret_cast<unsigned char*>(&bytes[0]), static_cast<int>(size));
	return bytes;
}


void HttpClient::sign(Poco::Net::NameValueCollection& headers, const CrossChat::Identity& identity, const std::string& method,
	const std::string& pathAndQuery, const std::string& body, const SignOptions& options)
{
	const std::int64_t timestamp = std::chrono::duration_cast<std::chrono::milliseconds>(
		std::chrono::system_clock::now().time_since_epoch()).count() + options.timestampOffsetMs;
	std::string nonce = options.nonce;
	if (nonce.empty())
	{
		std::ostringstream hex;
		for (unsigned char c: randomBytes(16)) hex << "0123456789abcdef"[c >> 4] << "0123456789abcdef"[c & 15];
		nonce = hex.str();
	}
	const std::string signedBody = options.signedBody.empty() ? body : options.signedBody;
	headers.set(RelayProtocol::HEADER_KEY, CrossChat::Relay::base64Encode(identity.publicKey().raw()));
	headers.set(RelayProtocol::HEADER_TIMESTAMP, std::to_string(timestamp));
	headers.set(RelayProtocol::HEADER_NONCE, nonce);
	headers.set(RelayProtocol::HEADER_SIGNATURE, CrossChat::Relay::base64Encode(
		identity.sign(RelayProtocol::signingString(method, pathAndQuery, signedBody, timestamp, nonce))));
}


HttpResult HttpClient::request(const std::string& method, const std::string& pathAndQuery, const std::string& body,
	const CrossChat::Identity* pSigner, const SignOptions& options,
	const std::vector<std::pair<std::string, std::string>>& headers)
{
	std::unique_ptr<Poco::Net::HTTPClientSession> pSession;
	if (_pTls) pSession = std::make_unique<Poco::Net::HTTPSClientSession>("127.0.0.1", _port, _pTls);
	else pSession = std::make_unique<Poco::Net::HTTPClientSession>("127.0.0.1", _port);
	Poco::Net::HTTPClientSession& session = *pSession;
	session.setTimeout(Poco::Timespan(10, 0));
	Poco::Net::HTTPRequest request(method, pathAndQuery, Poco::Net::HTTPMessage::HTTP_1_1);
	if (!body.empty() || method == Poco::Net::HTTPRequest::HTTP_POST)
	{
		request.setContentType("application/json");
		request.setContentLength(static_cast<std::streamsize>(body.size()));
	}
	if (pSigner) sign(request, *pSigner, method, pathAndQuery, body, options);
	for (const auto& header: headers) request.set(header.first, header.second);
	std::ostream& out = session.sendRequest(request);
	out << body;
	Poco::Net::HTTPResponse response;
	std::istream& in = session.receiveResponse(response);
	HttpResult result;
	result.status = static_cast<int>(response.getStatus());
	for (const auto& header: response) result.headers.add(header.first, header.second);
	Poco::StreamCopier::copyToString(in, result.body);
	return result;
}


HttpResult HttpClient::announce(const CrossChat::Identity& identity, const std::string& body)
{
	const std::string path = std::string(RelayProtocol::API_PREFIX) + "/announce";
	return request("POST", path, body, &identity);
}


void sendAll(Poco::Net::StreamSocket& socket, const std::string& data)
{
	std::size_t sent = 0;
	while (sent < data.size())
	{
		const int n = socket.sendBytes(data.data() + sent, static_cast<int>(data.size() - sent));
		CPPUNIT_ASSERT(n > 0);
		sent += static_cast<std::size_t>(n);
	}
}


std::string receiveExactly(Poco::Net::StreamSocket& socket, std::size_t size)
{
	std::string data;
	data.reserve(size);
	char buffer[65536];
	while (data.size() < size)
	{
		const int n = socket.receiveBytes(buffer, static_cast<int>(std::min(sizeof(buffer), size - data.size())));
		if (n <= 0) CPPUNIT_FAIL("connection closed after " + std::to_string(data.size()) + " of " + std::to_string(size) + " bytes");
		data.append(buffer, static_cast<std::size_t>(n));
	}
	return data;
}


bool waitForClose(Poco::Net::StreamSocket& socket, std::chrono::milliseconds timeout)
{
	const auto deadline = std::chrono::steady_clock::now() + timeout;
	char buffer[4096];
	while (std::chrono::steady_clock::now() < deadline)
	{
		socket.setReceiveTimeout(Poco::Timespan(0, 200000));
		try
		{
			if (socket.receiveBytes(buffer, sizeof(buffer)) <= 0) return true;
		}
		catch (const Poco::TimeoutException&)
		{
		}
		catch (const Poco::Net::ConnectionResetException&)
		{
			return true;
		}
	}
	return false;
}


Poco::Net::StreamSocket upgrade(std::uint16_t port, const std::string& path, const std::string& protocol, int& status,
	std::string* pBody, const std::vector<std::pair<std::string, std::string>>& headers, Poco::Net::Context::Ptr pTls)
{
	Poco::Net::StreamSocket socket;
	if (pTls) socket = Poco::Net::SecureStreamSocket(pTls);
	socket.connect(Poco::Net::SocketAddress("127.0.0.1", port), Poco::Timespan(5, 0));
	socket.setReceiveTimeout(Poco::Timespan(5, 0));
	Poco::Net::HTTPRequest request(Poco::Net::HTTPRequest::HTTP_GET, path, Poco::Net::HTTPMessage::HTTP_1_1);
	request.setHost("127.0.0.1", port);
	request.set("Connection", "Upgrade");
	request.set("Upgrade", protocol);
	for (const auto& header: headers) request.set(header.first, header.second);
	std::ostringstream head;
	request.write(head);
	sendAll(socket, head.str());

	std::string response;
	char c = 0;
	while (response.size() < 8192 && (response.size() < 4 || response.compare(response.size() - 4, 4, "\r\n\r\n") != 0))
	{
		if (socket.receiveBytes(&c, 1) <= 0) CPPUNIT_FAIL("connection closed during the upgrade response: " + response);
		response.push_back(c);
	}
	std::istringstream in(response);
	Poco::Net::HTTPResponse parsed;
	parsed.read(in);
	status = static_cast<int>(parsed.getStatus());
	if (status != 101 && pBody && parsed.hasContentLength())
		*pBody = receiveExactly(socket, static_cast<std::size_t>(parsed.getContentLength()));
	if (status == 101)
	{
		CPPUNIT_ASSERT_EQUAL(protocol, parsed.get("Upgrade", ""));
		CPPUNIT_ASSERT(Poco::icompare(parsed.get("Connection", ""), std::string("upgrade")) == 0);
	}
	return socket;
}


ControlClient::ControlClient(std::uint16_t port, const std::vector<std::pair<std::string, std::string>>& headers,
	Poco::Net::Context::Ptr pTls):
	_codec(RelayProtocol::CLIENT_CONTROL_FRAME)   // as RelayClient: mail frames carry envelopes
{
	int status = 0;
	_socket = upgrade(port, std::string(RelayProtocol::API_PREFIX) + "/control", RelayProtocol::UPGRADE_CONTROL, status,
		nullptr, headers, pTls);
	CPPUNIT_ASSERT_EQUAL(101, status);
}


void ControlClient::send(const std::string& name, const Poco::JSON::Object& body)
{
	sendAll(_socket, RelayProtocol::control().encode(_codec, name, body));
}


void ControlClient::sendRaw(const std::string& bytes)
{
	sendAll(_socket, bytes);
}


std::optional<CrossChat::Message> ControlClient::receive(std::chrono::milliseconds timeout)
{
	const auto deadline = std::chrono::steady_clock::now() + timeout;
	char buffer[4096];
	while (true)
	{
		if (std::optional<CrossChat::Frame> frame = _codec.next()) return RelayProtocol::control().decode(*frame);
		const auto left = std::chrono::duration_cast<std::chrono::microseconds>(deadline - std::chrono::steady_clock::now());
		if (left.count() <= 0) return std::nullopt;
		_socket.setReceiveTimeout(Poco::Timespan(left.count()));
		int n = 0;
		try
		{
			n = _socket.receiveBytes(buffer, sizeof(buffer));
		}
		catch (const Poco::TimeoutException&)
		{
			return std::nullopt;
		}
		catch (const Poco::Net::ConnectionResetException&)
		{
			return std::nullopt;
		}
		if (n <= 0) return std::nullopt;
		_codec.feed(buffer, static_cast<std::size_t>(n));
	}
}


CrossChat::Message ControlClient::expect(const std::string& name)
{
	while (true)
	{
		std::optional<CrossChat::Message> message = receive();
		if (!message) CPPUNIT_FAIL("expected " + name + ", got nothing");
		if (message->name == "ping") continue;
		if (message->name != name)
		{
			std::ostringstream body;
			message->body->stringify(body);
			CPPUNIT_FAIL("expected " + name + ", got " + message->name + " " + body.str());
		}
		return *message;
	}
}


CrossChat::Message ControlClient::authenticate(const CrossChat::Identity& identity)
{
	Poco::JSON::Object hello;
	hello.set("key", CrossChat::Relay::base64Encode(identity.publicKey().raw()));
	hello.set("version", RelayProtocol::VERSION);
	send("hello", hello);
	const CrossChat::Message challenge = expect("challenge");
	Poco::JSON::Object auth;
	auth.set("signature", CrossChat::Relay::base64Encode(identity.sign(
		RelayProtocol::controlSigningString(challenge.body->getValue<std::string>("nonce")))));
	send("auth", auth);
	return expect("welcome");
}


bool ControlClient::waitForClose(std::chrono::milliseconds timeout)
{
	const auto deadline = std::chrono::steady_clock::now() + timeout;
	while (std::chrono::steady_clock::now() < deadline)
	{
		char buffer[4096];
		_socket.setReceiveTimeout(Poco::Timespan(0, 200000));
		try
		{
			if (_socket.receiveBytes(buffer, sizeof(buffer)) <= 0) return true;
		}
		catch (const Poco::TimeoutException&)
		{
		}
		catch (const Poco::Net::ConnectionResetException&)
		{
			return true;
		}
	}
	return false;
}


Poco::Net::StreamSocket& ControlClient::socket()
{
	return _socket;
}


} // namespace RelayTest
