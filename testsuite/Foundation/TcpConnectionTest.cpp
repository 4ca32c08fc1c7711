//
// TcpConnectionTest.cpp
//
// testsuite: tests for TcpConnection and TcpListener over loopback (127.0.0.1, port 0).
// No timed assertions: each test waits for events; a generous guard timer only turns a hang
// into a failure.
//


#include "TcpConnectionTest.h"
#include "../TestSupport.h"
#include "CrossChat/EventLoop.h"
#include "CrossChat/TcpConnection.h"
#include "CrossChat/TcpListener.h"
#include "Poco/Net/ServerSocket.h"
#include "Poco/Net/SocketAddress.h"
#include "Poco/Net/StreamSocket.h"
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>


using CrossChat::EventLoop;
using CrossChat::TcpConnection;
using CrossChat::TcpListener;
using CrossChat::TimerHandle;
using Poco::Net::SocketAddress;
using Poco::Net::StreamSocket;
using namespace std::chrono_literals;


using CrossChat::Test::HangGuard;


namespace {


struct CloseRecord
{
	int count = 0;
	std::string reason;
};


class CloseCounter
	/// Records onClose calls and stops the loop two turns after the expected number of closes,
	/// so that a handler that would wrongly run again still gets its chance.
{
public:
	CloseCounter(EventLoop& loop, int expected):
		_loop(loop),
		_open(expected)
	{
	}

	TcpConnection::CloseHandler handler(CloseRecord& record)
	{
		return [this, &record](const std::string& reason) {
			++record.count;
			record.reason = reason;
			if (--_open == 0)
				_loop.post([this] { _loop.post([this] { _loop.stop(); }); });
		};
	}

private:
	EventLoop& _loop;
	int _open;
};


class TestServer
	/// A TcpListener on 127.0.0.1:0 that adopts every connection, keeps it, and lets the test
	/// set it up.
{
public:
	using Setup = std::function<void(const TcpConnection::Ptr& connection)>;

	TestServer(EventLoop& loop, Setup setup):
		_setup(std::move(setup)),
		_listener(loop, SocketAddress("127.0.0.1", 0), [this, &loop](const StreamSocket& socket) {
			auto connection = TcpConnection::adopt(loop, socket);
			connections.push_back(connection);
			_setup(connection);
		})
	{
	}

	SocketAddress address() const
	{
		return _listener.address();
	}

	std::vector<TcpConnection::Ptr> connections;

private:
	Setup _setup;
	TcpListener _listener;
};


std::string pattern(std::size_t size)
	/// Bytes that reveal reordering, loss and duplication (period 251, a prime).
{
	std::string data(size, '\0');
	for (std::size_t i = 0; i < size; ++i)
		data[i] = static_cast<char>((i * 7 + i / 251) % 251);
	return data;
}


TestServer::Setup echoSetup(CloseCounter& counter, CloseRecord& record)
{
	return [&counter, &record](const TcpConnection::Ptr& connection) {
		std::weak_ptr<TcpConnection> weak = connection;
		connection->setDataHandler([weak](const char* data, std::size_t size) {
			if (auto self = weak.lock()) self->send(data, size);
		});
		connection->setCloseHandler(counter.handler(record));
	};
}


struct ConnectedPair
	/// A client connection and the server's end of it, both open, on one loop; the server end
	/// records what it receives.
{
	explicit ConnectedPair(EventLoop& loop):
		server(loop, [this](const TcpConnection::Ptr& connection) {
			connection->setDataHandler([this](const char* data, std::size_t size) {
				received.append(data, size);
				++reads;
			});
		})
	{
		client = TcpConnection::connect(loop, server.address());
		bool connected = false;
		client->setConnectHandler([&connected] { connected = true; });
		CrossChat::Test::runUntil(loop, [&] { return connected && server.connections.size() == 1; });
		client->setConnectHandler(nullptr);
	}

	TestServer server;
	TcpConnection::Ptr client;
	std::string received;
	int reads = 0;
};


} // namespace


void TcpConnectionTest::testEchoRoundTrip()
{
	EventLoop loop;
	HangGuard guard(loop);
	CloseCounter counter(loop, 2);
	CloseRecord serverClose;
	CloseRecord clientClose;
	TestServer server(loop, echoSetup(counter, serverClose));

	auto client = TcpConnection::connect(loop, server.address());
	bool connected = false;
	std::string echoed;
	client->setConnectHandler([&] {
		connected = client->connected();
		client->send("hello, ");
		client->send(std::string("world"));
	});
	client->setDataHandler([&](const char* data, std::size_t size) {
		echoed.append(data, size);
		if (echoed.size() == 12) client->close();
	});
	client->setCloseHandler(counter.handler(clientClose));
	CPPUNIT_ASSERT(!client->connected());
	loop.run();

	CPPUNIT_ASSERT(!guard.fired());
	CPPUNIT_ASSERT(connected);
	CPPUNIT_ASSERT_EQUAL(std::string("hello, world"), echoed);
	CPPUNIT_ASSERT_EQUAL(1, clientClose.count);
	CPPUNIT_ASSERT_EQUAL(std::string(), clientClose.reason);
	CPPUNIT_ASSERT_EQUAL(1, serverClose.count);
	CPPUNIT_ASSERT_EQUAL(std::string(), serverClose.reason);
	CPPUNIT_ASSERT_EQUAL(std::uint64_t(12), client->bytesSent());
	CPPUNIT_ASSERT_EQUAL(std::uint64_t(12), client->bytesReceived());
	CPPUNIT_ASSERT_EQUAL(server.address().port(), client->peerAddress().port());
	CPPUNIT_ASSERT(client->closed());
	CPPUNIT_ASSERT(!client->connected());
}


void TcpConnectionTest::testLargeTransferWithBackpressure()
{
	constexpr std::size_t TOTAL = 16 * 1024 * 1024;
	constexpr std::size_t HIGH_WATER_MARK = 1024 * 1024;
	const std::string payload = pattern(TOTAL);
	EventLoop loop;
	HangGuard guard(loop);
	CloseCounter counter(loop, 2);
	CloseRecord serverClose;
	CloseRecord clientClose;

	// The server does not read until the client has queued everything, so the client's
	// buffer must go over the high-water mark.
	std::string received;
	received.reserve(TOTAL);
	TcpConnection::Ptr serverConnection;
	bool sent = false;
	auto resumeWhenReady = [&] {
		if (sent && serverConnection) serverConnection->resumeReading();
	};
	TestServer server(loop, [&](const TcpConnection::Ptr& connection) {
		serverConnection = connection;
		connection->pauseReading();
		connection->setDataHandler([&](const char* data, std::size_t size) { received.append(data, size); });
		connection->setCloseHandler(counter.handler(serverClose));
		resumeWhenReady();
	});

	auto client = TcpConnection::connect(loop, server.address());
	client->setHighWaterMark(HIGH_WATER_MARK);
	std::size_t bufferedAfterSend = 0;
	bool aboveAfterSend = false;
	int drains = 0;
	std::size_t bufferedAtDrain = 1;
	client->setConnectHandler([&] {
		client->send(payload);
		bufferedAfterSend = client->bufferedAmount();
		aboveAfterSend = client->aboveHighWaterMark();
		sent = true;
		resumeWhenReady();
	});
	client->setDrainHandler([&] {
		++drains;
		bufferedAtDrain = client->bufferedAmount();
		client->close();
	});
	client->setCloseHandler(counter.handler(clientClose));
	loop.run();

	CPPUNIT_ASSERT(!guard.fired());
	CPPUNIT_ASSERT(aboveAfterSend);
	CPPUNIT_ASSERT(bufferedAfterSend > HIGH_WATER_MARK);
	CPPUNIT_ASSERT_EQUAL(1, drains);
	CPPUNIT_ASSERT_EQUAL(std::size_t(0), bufferedAtDrain);
	CPPUNIT_ASSERT_EQUAL(TOTAL, received.size());
	CPPUNIT_ASSERT(received == payload);
	CPPUNIT_ASSERT_EQUAL(std::uint64_t(TOTAL), client->bytesSent());
	CPPUNIT_ASSERT_EQUAL(std::uint64_t(TOTAL), serverConnection->bytesReceived());
	CPPUNIT_ASSERT_EQUAL(std::string(), clientClose.reason);
	CPPUNIT_ASSERT_EQUAL(std::string(), serverClose.reason);
	CPPUNIT_ASSERT_EQUAL(1, clientClose.count);
	CPPUNIT_ASSERT_EQUAL(1, serverClose.count);
}


void TcpConnectionTest::testOrderlyCloseByClient()
{
	EventLoop loop;
	HangGuard guard(loop);
	CloseCounter counter(loop, 2);
	CloseRecord serverClose;
	CloseRecord clientClose;
	std::string serverReceived;
	TestServer server(loop, [&](const TcpConnection::Ptr& connection) {
		connection->setDataHandler([&](const char* data, std::size_t size) { serverReceived.append(data, size); });
		connection->setCloseHandler(counter.handler(serverClose));
	});

	auto client = TcpConnection::connect(loop, server.address());
	int closesDuringClose = -1;
	bool closedAfterClose = false;
	client->setConnectHandler([&] {
		client->send("last words");
		client->close();
		closesDuringClose = clientClose.count;   // onClose is never called from inside close()
		closedAfterClose = client->closed();
		client->send("ignored after close");
		client->close();                         // idempotent
	});
	client->setCloseHandler(counter.handler(clientClose));
	loop.run();

	CPPUNIT_ASSERT(!guard.fired());
	CPPUNIT_ASSERT_EQUAL(0, closesDuringClose);
	CPPUNIT_ASSERT(closedAfterClose);
	CPPUNIT_ASSERT_EQUAL(std::string("last words"), serverReceived);
	CPPUNIT_ASSERT_EQUAL(1, clientClose.count);
	CPPUNIT_ASSERT_EQUAL(std::string(), clientClose.reason);
	CPPUNIT_ASSERT_EQUAL(1, serverClose.count);
	CPPUNIT_ASSERT_EQUAL(std::string(), serverClose.reason);
}


void TcpConnectionTest::testOrderlyCloseByServer()
{
	EventLoop loop;
	HangGuard guard(loop);
	CloseCounter counter(loop, 2);
	CloseRecord serverClose;
	CloseRecord clientClose;
	TestServer server(loop, [&](const TcpConnection::Ptr& connection) {
		connection->setCloseHandler(counter.handler(serverClose));
		connection->send("bye");
		connection->close();
	});

	auto client = TcpConnection::connect(loop, server.address());
	std::string clientReceived;
	client->setDataHandler([&](const char* data, std::size_t size) { clientReceived.append(data, size); });
	client->setCloseHandler(counter.handler(clientClose));
	loop.run();

	CPPUNIT_ASSERT(!guard.fired());
	CPPUNIT_ASSERT_EQUAL(std::string("bye"), clientReceived);
	CPPUNIT_ASSERT_EQUAL(1, clientClose.count);
	CPPUNIT_ASSERT_EQUAL(std::string(), clientClose.reason);
	CPPUNIT_ASSERT_EQUAL(1, serverClose.count);
	CPPUNIT_ASSERT_EQUAL(std::string(), serverClose.reason);
}


void TcpConnectionTest::testConnectRefused()
{
	EventLoop loop;
	HangGuard guard(loop);
	SocketAddress deadAddress;
	{
		Poco::Net::ServerSocket probe;
		probe.bind(SocketAddress("127.0.0.1", 0), true, false);
		deadAddress = probe.address();
	}   // closed: nothing listens there now

	CloseCounter counter(loop, 1);
	CloseRecord clientClose;
	bool connectCalled = false;
	auto client = TcpConnection::connect(loop, deadAddress);
	client->setConnectHandler([&] { connectCalled = true; });
	client->setCloseHandler(counter.handler(clientClose));
	loop.run();

	CPPUNIT_ASSERT(!guard.fired());
	CPPUNIT_ASSERT(!connectCalled);
	CPPUNIT_ASSERT_EQUAL(1, clientClose.count);
	CPPUNIT_ASSERT(clientClose.reason.find("refused") != std::string::npos);
	CPPUNIT_ASSERT(clientClose.reason.find(deadAddress.toString()) != std::string::npos);
	CPPUNIT_ASSERT(!client->connected());
}


void TcpConnectionTest::testConnectTimeout()
{
	// A listener that never accepts, with a backlog of 0, takes one connection into its accept
	// queue; Linux then drops further SYNs, so our connect stays pending until the timeout.
	EventLoop loop;
	HangGuard guard(loop);
	Poco::Net::ServerSocket full;
	full.bind(SocketAddress("127.0.0.1", 0), true, false);
	full.listen(0);
	std::vector<StreamSocket> fillers;
	for (int i = 0; i < 4; ++i)
	{
		StreamSocket filler(SocketAddress::IPv4);
		filler.connectNB(full.address());
		fillers.push_back(filler);
	}

	CloseCounter counter(loop, 1);
	CloseRecord clientClose;
	bool connectCalled = false;
	auto client = TcpConnection::connect(loop, full.address(), 300ms);
	client->setConnectHandler([&] { connectCalled = true; });
	client->setCloseHandler(counter.handler(clientClose));
	loop.run();

	CPPUNIT_ASSERT(!guard.fired());
	CPPUNIT_ASSERT(!connectCalled);
	CPPUNIT_ASSERT_EQUAL(1, clientClose.count);
	CPPUNIT_ASSERT(clientClose.reason.find("timed out") != std::string::npos);
}


void TcpConnectionTest::testAbortDropsOutput()
{
	constexpr std::size_t TOTAL = 16 * 1024 * 1024;
	EventLoop loop;
	HangGuard guard(loop);
	CloseCounter counter(loop, 2);
	CloseRecord serverClose;
	CloseRecord clientClose;
	std::size_t serverReceived = 0;
	TestServer server(loop, [&](const TcpConnection::Ptr& connection) {
		connection->pauseReading();   // a reset must be noticed while paused, too
		connection->setDataHandler([&](const char*, std::size_t size) { serverReceived += size; });
		connection->setCloseHandler(counter.handler(serverClose));
	});

	auto client = TcpConnection::connect(loop, server.address());
	std::size_t bufferedBeforeAbort = 0;
	std::size_t bufferedAfterAbort = 1;
	int closesDuringAbort = -1;
	client->setConnectHandler([&] {
		client->send(pattern(TOTAL));
		bufferedBeforeAbort = client->bufferedAmount();
		client->abort("test abort");
		closesDuringAbort = clientClose.count;
		bufferedAfterAbort = client->bufferedAmount();
		client->send("ignored after abort");
		client->abort("second abort is ignored");
	});
	client->setCloseHandler(counter.handler(clientClose));
	loop.run();

	CPPUNIT_ASSERT(!guard.fired());
	CPPUNIT_ASSERT(bufferedBeforeAbort > 0);
	CPPUNIT_ASSERT_EQUAL(0, closesDuringAbort);
	CPPUNIT_ASSERT_EQUAL(std::size_t(0), bufferedAfterAbort);
	CPPUNIT_ASSERT(client->bytesSent() < TOTAL);
	CPPUNIT_ASSERT_EQUAL(1, clientClose.count);
	CPPUNIT_ASSERT_EQUAL(std::string("test abort"), clientClose.reason);
	CPPUNIT_ASSERT_EQUAL(1, serverClose.count);
	CPPUNIT_ASSERT_EQUAL(std::string("connection reset by peer"), serverClose.reason);
	CPPUNIT_ASSERT(serverReceived < TOTAL);
}


void TcpConnectionTest::testHandlersReleasedAfterClose()
{
	EventLoop loop;
	HangGuard guard(loop);
	CloseCounter counter(loop, 2);
	CloseRecord serverClose;
	CloseRecord clientClose;
	TestServer server(loop, echoSetup(counter, serverClose));

	auto token = std::make_shared<int>(42);
	std::weak_ptr<int> weakToken = token;
	bool releasedAfterClose = false;
	auto client = TcpConnection::connect(loop, server.address());
	auto clientCloseHandler = counter.handler(clientClose);
	client->setConnectHandler([&, token] { client->send("x"); });
	client->setDataHandler([&, token](const char*, std::size_t) { client->close(); });
	client->setDrainHandler([token] {});
	client->setCloseHandler([&, token](const std::string& reason) {
		clientCloseHandler(reason);
		loop.post([&] { releasedAfterClose = weakToken.expired(); });
	});
	token.reset();
	CPPUNIT_ASSERT(!weakToken.expired());   // held by the handlers
	loop.run();

	CPPUNIT_ASSERT(!guard.fired());
	CPPUNIT_ASSERT_EQUAL(1, clientClose.count);
	CPPUNIT_ASSERT(releasedAfterClose);
	// Neither the loop nor a pending task refers to the connection any more.
	CPPUNIT_ASSERT_EQUAL(1L, client.use_count());
	// A handler set after onClose would never run: it is not kept either.
	auto late = std::make_shared<int>(7);
	std::weak_ptr<int> weakLate = late;
	client->setDataHandler([late](const char*, std::size_t) {});
	late.reset();
	CPPUNIT_ASSERT(weakLate.expired());
}


void TcpConnectionTest::testConnectionOutlivesUserPointer()
{
	EventLoop loop;
	HangGuard guard(loop);
	CloseCounter counter(loop, 2);
	CloseRecord serverClose;
	CloseRecord clientClose;
	TestServer server(loop, echoSetup(counter, serverClose));

	std::weak_ptr<TcpConnection> weakClient;
	std::string echoed;
	bool expiredAfterClose = false;
	auto clientCloseHandler = counter.handler(clientClose);
	{
		auto client = TcpConnection::connect(loop, server.address());
		weakClient = client;
		client->setConnectHandler([weakClient] {
			if (auto self = weakClient.lock()) self->send("ping");
		});
		client->setDataHandler([&echoed, weakClient](const char* data, std::size_t size) {
			echoed.append(data, size);
			if (echoed == "ping")
			{
				if (auto self = weakClient.lock()) self->close();
			}
		});
		client->setCloseHandler([&](const std::string& reason) {
			clientCloseHandler(reason);
			loop.post([&] { expiredAfterClose = weakClient.expired(); });
		});
	}
	CPPUNIT_ASSERT(!weakClient.expired());   // the loop's registration keeps it
	loop.run();

	CPPUNIT_ASSERT(!guard.fired());
	CPPUNIT_ASSERT_EQUAL(std::string("ping"), echoed);
	CPPUNIT_ASSERT_EQUAL(1, clientClose.count);
	CPPUNIT_ASSERT_EQUAL(std::string(), clientClose.reason);
	CPPUNIT_ASSERT(expiredAfterClose);
}


void TcpConnectionTest::testConnectFromSharedPort()
{
	// TCP hole punching binds the outgoing connection to the port we also listen on.
	EventLoop loop;
	HangGuard guard(loop);
	TcpListener punchListener(loop, SocketAddress("127.0.0.1", 0), [](const StreamSocket&) {}, true);
	const SocketAddress local = punchListener.address();

	CloseCounter counter(loop, 3);
	CloseRecord serverClose;
	CloseRecord clientClose;
	CloseRecord badBindClose;
	SocketAddress seenPeer;
	TestServer server(loop, [&](const TcpConnection::Ptr& connection) {
		seenPeer = connection->peerAddress();
		connection->setCloseHandler(counter.handler(serverClose));
		connection->close();
	});

	auto client = TcpConnection::connectFrom(loop, local, server.address(), 5000ms);
	SocketAddress localSeen;
	client->setConnectHandler([&] { localSeen = client->localAddress(); });
	client->setCloseHandler(counter.handler(clientClose));

	// 192.0.2.1 (TEST-NET-1) is not a local address: the bind fails, nothing is sent.
	auto badBind = TcpConnection::connectFrom(loop, SocketAddress("192.0.2.1", 0), server.address(), 5000ms);
	badBind->setCloseHandler(counter.handler(badBindClose));
	loop.run();

	CPPUNIT_ASSERT(!guard.fired());
	CPPUNIT_ASSERT(local.port() != 0);
	CPPUNIT_ASSERT_EQUAL(local.port(), localSeen.port());
	CPPUNIT_ASSERT_EQUAL(local.port(), seenPeer.port());
	CPPUNIT_ASSERT_EQUAL(std::string(), clientClose.reason);
	CPPUNIT_ASSERT_EQUAL(std::string(), serverClose.reason);
	CPPUNIT_ASSERT_EQUAL(1, badBindClose.count);
	CPPUNIT_ASSERT(badBindClose.reason.find("cannot bind") != std::string::npos);
}


void TcpConnectionTest::testSendsCoalescedPerIteration()
{
	// Everything sent in one iteration leaves in one write at the end of it, in order.
	EventLoop loop;
	ConnectedPair pair(loop);
	CPPUNIT_ASSERT(pair.client->connected());
	std::string expected;
	for (int i = 0; i < 100; ++i) expected += "message " + std::to_string(i) + ";";
	const std::uint64_t writesBefore = pair.client->writeCount();
	std::size_t bufferedInIteration = 0;
	std::uint64_t sentInIteration = 1;
	std::uint64_t writesAfter = 0;
	std::size_t bufferedAfter = 1;
	loop.post([&] {
		for (int i = 0; i < 100; ++i) pair.client->send("message " + std::to_string(i) + ";");
		bufferedInIteration = pair.client->bufferedAmount();
		sentInIteration = pair.client->bytesSent();
		loop.post([&] {   // runs in the next iteration
			writesAfter = pair.client->writeCount();
			bufferedAfter = pair.client->bufferedAmount();
		});
	});
	CPPUNIT_ASSERT(CrossChat::Test::runUntil(loop, [&] { return pair.received.size() == expected.size(); }));
	CPPUNIT_ASSERT_EQUAL(expected.size(), bufferedInIteration);   // queued, not written one by one
	CPPUNIT_ASSERT_EQUAL(std::uint64_t(0), sentInIteration);
	CPPUNIT_ASSERT_EQUAL(writesBefore + 1, writesAfter);           // one sendmsg() for all of them
	CPPUNIT_ASSERT_EQUAL(std::size_t(0), bufferedAfter);
	CPPUNIT_ASSERT_EQUAL(expected, pair.received);
	CPPUNIT_ASSERT_EQUAL(std::uint64_t(expected.size()), pair.client->bytesSent());
}


void TcpConnectionTest::testLoneMessageLeavesInItsIteration()
{
	// Coalescing adds no delay beyond the iteration a message was sent in: by the next
	// iteration it is on the wire, without waiting for a timer or another event.
	EventLoop loop;
	ConnectedPair pair(loop);
	std::uint64_t sentNextIteration = 0;
	std::size_t bufferedNextIteration = 1;
	loop.post([&] {
		pair.client->send("ping");
		loop.post([&] {
			sentNextIteration = pair.client->bytesSent();
			bufferedNextIteration = pair.client->bufferedAmount();
		});
	});
	CPPUNIT_ASSERT(CrossChat::Test::runUntil(loop, [&] { return pair.received == "ping"; }));
	CPPUNIT_ASSERT_EQUAL(std::uint64_t(4), sentNextIteration);
	CPPUNIT_ASSERT_EQUAL(std::size_t(0), bufferedNextIteration);
	// Sent from a socket handler (as an answer to input), the same holds.
	std::uint64_t sentAfterAnswer = 0;
	const TcpConnection::Ptr answerer = pair.server.connections.front();
	answerer->setDataHandler([&](const char* data, std::size_t size) {
		pair.received.append(data, size);
		answerer->send("pong");
		// Tasks posted from a socket handler run later in the same iteration: check in the next.
		loop.post([&] { loop.post([&] { sentAfterAnswer = answerer->bytesSent(); }); });
	});
	std::string answer;
	pair.client->setDataHandler([&](const char* data, std::size_t size) { answer.append(data, size); });
	pair.client->send("ping2");
	CPPUNIT_ASSERT(CrossChat::Test::runUntil(loop, [&] { return answer == "pong"; }));
	CPPUNIT_ASSERT_EQUAL(std::uint64_t(4), sentAfterAnswer);
}


void TcpConnectionTest::testLargeSendsKeepOrder()
{
	// Small sends are queued for the end of the iteration, large ones go straight to the socket
	// when nothing is queued, an rvalue string is adopted: the bytes still arrive in order.
	EventLoop loop;
	ConnectedPair pair(loop);
	const std::string big = pattern(3 * TcpConnection::DIRECT_WRITE_SIZE + 17);
	std::string adopted = pattern(2 * 1024 * 1024);
	// big leaves first (written at once), everything else in the order sent.
	const std::string wanted = big + "a" + big + "b" + adopted + "c";
	std::uint64_t writesAfterDirect = 0;
	std::uint64_t writesBefore = 0;
	loop.post([&] {
		writesBefore = pair.client->writeCount();
		pair.client->send(big);   // nothing queued: written at once
		writesAfterDirect = pair.client->writeCount();
		pair.client->send("a");   // queued after whatever of big the socket did not take
		pair.client->send(big);   // queued behind "a"
		pair.client->send("b");
		pair.client->send(std::move(adopted));
		pair.client->send("c");
	});
	CPPUNIT_ASSERT(CrossChat::Test::runUntil(loop, [&] { return pair.received.size() == wanted.size(); }));
	CPPUNIT_ASSERT_EQUAL(writesBefore + 1, writesAfterDirect);
	CPPUNIT_ASSERT(pair.received == wanted);
}


void TcpConnectionTest::testCloseFlushesQueuedOutput()
{
	// close() right after send() in the same iteration: the queued bytes go first, then the FIN.
	EventLoop loop;
	HangGuard guard(loop);
	CloseCounter counter(loop, 2);
	CloseRecord serverClose;
	CloseRecord clientClose;
	std::string received;
	TestServer server(loop, [&](const TcpConnection::Ptr& connection) {
		connection->setDataHandler([&](const char* data, std::size_t size) { received.append(data, size); });
		connection->setCloseHandler(counter.handler(serverClose));
	});
	auto client = TcpConnection::connect(loop, server.address());
	client->setConnectHandler([&] {
		for (int i = 0; i < 10; ++i) client->send("part " + std::to_string(i) + ";");
		client->close();
		client->send("ignored after close");
	});
	client->setCloseHandler(counter.handler(clientClose));
	loop.run();
	CPPUNIT_ASSERT(!guard.fired());
	std::string expected;
	for (int i = 0; i < 10; ++i) expected += "part " + std::to_string(i) + ";";
	CPPUNIT_ASSERT_EQUAL(expected, received);
	CPPUNIT_ASSERT_EQUAL(std::string(), clientClose.reason);
	CPPUNIT_ASSERT_EQUAL(std::string(), serverClose.reason);
}


void TcpConnectionTest::testLargeSendIntoFullSocket()
{
	// A large send() from an ordinary task while the peer does not read: the socket takes part
	// of it at once, the rest is queued, and the connection must wait for writability to send
	// it (a regression: the interest was not updated after a partial direct write).
	constexpr std::size_t TOTAL = 16 * 1024 * 1024;
	const std::string payload = pattern(TOTAL);
	EventLoop loop;
	ConnectedPair pair(loop);
	const TcpConnection::Ptr serverEnd = pair.server.connections.front();
	serverEnd->pauseReading();
	std::size_t queuedAfterSend = 0;
	loop.post([&] {
		pair.client->send(payload);
		pair.client->send("tail");
		queuedAfterSend = pair.client->bufferedAmount();
		loop.post([&] { serverEnd->resumeReading(); });
	});
	CPPUNIT_ASSERT(CrossChat::Test::runUntil(loop, [&] { return pair.received.size() >= TOTAL + 4; }));
	CPPUNIT_ASSERT(queuedAfterSend > 4);   // the socket did not take it all at once
	CPPUNIT_ASSERT(pair.received == payload + "tail");
	CPPUNIT_ASSERT_EQUAL(std::size_t(0), pair.client->bufferedAmount());
}


void TcpConnectionTest::testCorkAndSendNow()
{
	EventLoop loop;
	ConnectedPair pair(loop);
	const TcpConnection::Ptr& client = pair.client;
	std::uint64_t writesAtStart = 0;
	std::uint64_t writesAfterSendNow = 0;
	std::uint64_t writesWhileCorked = 0;
	std::uint64_t writesNextIterationCorked = 0;
	std::uint64_t writesAfterUncork = 0;
	loop.post([&] {
		writesAtStart = client->writeCount();
		client->sendNow("now;", 4);                 // nothing queued: written at once
		writesAfterSendNow = client->writeCount();
		client->cork();
		client->send("a;");
		client->sendNow("b;", 2);                   // corked: queued behind "a;"
		client->send(std::string(300 * 1024, 'c'));   // over COALESCE_LIMIT, still held
		writesWhileCorked = client->writeCount();
		loop.post([&] {                             // the end of the iteration did not write
			writesNextIterationCorked = client->writeCount();
			client->uncork();                       // everything in one write
			writesAfterUncork = client->writeCount();
			client->sendNow("z", 1);
		});
	});
	const std::string expected = "now;a;b;" + std::string(300 * 1024, 'c') + "z";
	CPPUNIT_ASSERT(CrossChat::Test::runUntil(loop, [&] { return pair.received.size() >= expected.size(); }));
	CPPUNIT_ASSERT(pair.received == expected);
	CPPUNIT_ASSERT_EQUAL(writesAtStart + 1, writesAfterSendNow);
	CPPUNIT_ASSERT_EQUAL(writesAfterSendNow, writesWhileCorked);
	CPPUNIT_ASSERT_EQUAL(writesAfterSendNow, writesNextIterationCorked);
	CPPUNIT_ASSERT_EQUAL(writesAfterSendNow + 1, writesAfterUncork);
}
