//
// PortMapperTest.cpp
//
// testsuite: PortMapper without touching the real network. The NAT-PMP gateway is a loopback
// address (127.77.x.y, derived from the process ID so that parallel runs rarely collide) on
// which either nothing listens, a silent socket listens, or FakeNatPmpGateway answers
// (RFC 6886, the subset libnatpmp uses). UPnP is disabled or pointed at a closed loopback
// port through upnpRootDescUrl, so nothing is multicast. Tests that need UDP port 5351 on
// that address say so on stderr and pass when it is taken.
//


#include "PortMapperTest.h"
#include "CrossChat/Chat/PortMapper.h"
#include "CrossChat/EventLoop.h"
#include "Poco/ByteOrder.h"
#include "Poco/Exception.h"
#include "Poco/Net/DatagramSocket.h"
#include "Poco/Net/NetException.h"
#include "Poco/Net/ServerSocket.h"
#include "Poco/Net/StreamSocket.h"
#include <unistd.h>
#include <atomic>
#include <cstring>
#include <functional>
#include <iostream>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>


using namespace CrossChat;
using namespace CrossChat::Chat;
using namespace std::chrono_literals;


namespace {


constexpr std::uint16_t NATPMP_PORT = 5351;
constexpr std::uint16_t INTERNAL_PORT = 40123;
const std::string NO_GATEWAY = "no UPnP or NAT-PMP gateway found";


bool runUntil(EventLoop& loop, const std::function<bool()>& done, std::chrono::seconds limit = std::chrono::seconds(20))
	/// Runs the loop until done() holds; false if the limit passed first.
{
	bool timedOut = false;
	TimerHandle check = loop.runEvery(2ms, [&] { if (done()) loop.stop(); });
	TimerHandle guard = loop.runAfter(limit, [&] { timedOut = true; loop.stop(); });
	if (!done()) loop.run();
	return !timedOut && done();
}


Poco::Net::IPAddress testGatewayAddress()
	/// A loopback address of our own: 127.77.a.b from the process ID.
{
	const unsigned pid = static_cast<unsigned>(::getpid());
	return Poco::Net::IPAddress("127.77." + std::to_string(pid / 250 % 250 + 1) + "." + std::to_string(pid % 250 + 1));
}


std::uint16_t closedLoopbackPort()
	/// A TCP port on 127.0.0.1 that was free a moment ago (bound, read back, closed).
{
	Poco::Net::ServerSocket socket(Poco::Net::SocketAddress("127.0.0.1", 0));
	const std::uint16_t port = socket.address().port();
	socket.close();
	return port;
}


PortMapperConfig testConfig()
{
	PortMapperConfig config;
	config.internalPort = INTERNAL_PORT;
	config.natPmpGateway = testGatewayAddress();
	config.enableUpnp = false;
	config.discoveryTimeout = 500ms;
	config.retryMin = 100ms;
	config.retryMax = 400ms;
	config.stopTimeout = 1000ms;
	return config;
}


void skipped(const std::string& why)
{
	std::clog << "\n    [SKIPPED: " << why << "] ";
}


class FakeNatPmpGateway
	/// A NAT-PMP server on a thread: answers the public address request with PUBLIC_ADDRESS and
	/// TCP/UDP mapping requests with external port internal + PORT_OFFSET and a lifetime of
	/// min(requested, grantedLease) — or refuses (result 2) or stays silent, per setMode().
	/// Records every mapping request. Throws Poco::Net::NetException from the constructor when
	/// the address cannot be bound.
{
public:
	enum class Mode { ANSWER, REFUSE, SILENT };

	struct Request
	{
		int opcode;
		std::uint16_t internalPort;
		std::uint16_t suggestedPort;
		std::uint32_t lifetime;
	};

	static constexpr std::uint16_t PORT_OFFSET = 1000;
	static constexpr const char* PUBLIC_ADDRESS = "203.0.113.7";

	FakeNatPmpGateway(const Poco::Net::IPAddress& address, std::uint32_t grantedLease, Mode mode = Mode::ANSWER):
		_socket(Poco::Net::SocketAddress(address, NATPMP_PORT), false),
		_grantedLease(grantedLease),
		_mode(mode)
	{
		_socket.setReceiveTimeout(Poco::Timespan(0, 20000));
		_thread = std::thread([this] { run(); });
	}

	~FakeNatPmpGateway()
	{
		_quit = true;
		_thread.join();
	}

	FakeNatPmpGateway(const FakeNatPmpGateway&) = delete;
	FakeNatPmpGateway& operator=(const FakeNatPmpGateway&) = delete;

	void setMode(Mode mode)
	{
		_mode = mode;
	}

	std::vector<Request> requests() const
	{
		std::lock_guard<std::mutex> lock(_mutex);
		return _requests;
	}

	std::size_t count(const std::function<bool(const Request&)>& predicate) const
	{
		std::size_t n = 0;
		for (const Request& request : requests())
			if (predicate(request)) ++n;
		return n;
	}

	std::size_t publicAddressRequests() const
	{
		return _publicAddressRequests;
	}

private:
	void run()
	{
		const auto started = std::chrono::steady_clock::now();
		unsigned char in[64];
		while (!_quit)
		{
			Poco::Net::SocketAddress sender;
			int n = 0;
			try
			{
				n = _socket.receiveFrom(in, sizeof(in), sender);
			}
			catch (const Poco::TimeoutException&)
			{
				continue;
			}
			catch (const Poco::Exception&)
			{
				continue;
			}
			if (n < 2 || in[0] != 0) continue;
			const Mode mode = _mode;
			const auto epoch = static_cast<std::uint32_t>(
				std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - started).count());
			const std::uint16_t result = mode == Mode::REFUSE ? 2 : 0;
			unsigned char out[16] = {};
			std::size_t length = 0;
			out[0] = 0;
			out[1] = static_cast<unsigned char>(128 + in[1]);
			put16(out + 2, result);
			put32(out + 4, epoch);
			if (in[1] == 0 && n >= 2)
			{
				++_publicAddressRequests;
				const Poco::Net::IPAddress address(PUBLIC_ADDRESS);
				std::memcpy(out + 8, address.addr(), 4);
				length = 12;
			}
			else if ((in[1] == 1 || in[1] == 2) && n >= 12)
			{
				Request request{in[1], get16(in + 4), get16(in + 6), get32(in + 8)};
				{
					std::lock_guard<std::mutex> lock(_mutex);
					_requests.push_back(request);
				}
				const bool remove = request.lifetime == 0;
				put16(out + 8, request.internalPort);
				put16(out + 10, remove ? 0 : static_cast<std::uint16_t>(request.internalPort + PORT_OFFSET));
				put32(out + 12, remove ? 0 : std::min(request.lifetime, _grantedLease));
				length = 16;
			}
			else
			{
				continue;
			}
			if (mode == Mode::SILENT) continue;
			try
			{
				_socket.sendTo(out, static_cast<int>(length), sender);
			}
			catch (const Poco::Exception&)
			{
			}
		}
	}

	static void put16(unsigned char* p, std::uint16_t value)
	{
		value = Poco::ByteOrder::toNetwork(value);
		std::memcpy(p, &value, sizeof(value));
	}

	static void put32(unsigned char* p, std::uint32_t value)
	{
		value = Poco::ByteOrder::toNetwork(value);
		std::memcpy(p, &value, sizeof(value));
	}

	static std::uint16_t get16(const unsigned char* p)
	{
		std::uint16_t value;
		std::memcpy(&value, p, sizeof(value));
		return Poco::ByteOrder::fromNetwork(value);
	}

	static std::uint32_t get32(const unsigned char* p)
	{
		std::uint32_t value;
		std::memcpy(&value, p, sizeof(value));
		return Poco::ByteOrder::fromNetwork(value);
	}

	Poco::Net::DatagramSocket _socket;
	const std::uint32_t _grantedLease;
	std::atomic<Mode> _mode;
	std::atomic<bool> _quit{false};
	std::atomic<std::size_t> _publicAddressRequests{0};
	mutable std::mutex _mutex;
	std::vector<Request> _requests;
	std::thread _thread;
};


std::unique_ptr<FakeNatPmpGateway> startGateway(std::uint32_t grantedLease)
	/// The fake gateway, or nullptr (and a SKIPPED note) if its address cannot be bound.
{
	try
	{
		return std::make_unique<FakeNatPmpGateway>(testGatewayAddress(), grantedLease);
	}
	catch (const Poco::Exception& exc)
	{
		skipped("cannot bind " + testGatewayAddress().toString() + ":5351: " + exc.displayText());
		return nullptr;
	}
}


struct LoopWatch
	/// Measures the largest gap between runs of a 5 ms repeating timer: proves the loop is
	/// never blocked while the worker waits for a gateway.
{
	explicit LoopWatch(EventLoop& loop):
		last(std::chrono::steady_clock::now()),
		timer(loop.runEvery(5ms, [this]
		{
			const auto now = std::chrono::steady_clock::now();
			maxGap = std::max(maxGap, now - last);
			last = now;
		}))
	{
	}

	std::chrono::steady_clock::time_point last;
	std::chrono::steady_clock::duration maxGap{0};
	TimerHandle timer;
};


bool isRemoval(const FakeNatPmpGateway::Request& request)
{
	return request.lifetime == 0 && request.internalPort == INTERNAL_PORT && request.opcode == 2;
}


bool isMapping(const FakeNatPmpGateway::Request& request)
{
	return request.lifetime > 0 && request.internalPort == INTERNAL_PORT && request.opcode == 2;
}


} // namespace


void PortMapperTest::testRejectsBadConfig()
{
	EventLoop loop;
	PortMapperConfig config = testConfig();
	config.internalPort = 0;
	CPPUNIT_ASSERT_THROW(PortMapper(loop, config), Poco::InvalidArgumentException);
	config = testConfig();
	config.natPmpGateway = Poco::Net::IPAddress("::1");
	CPPUNIT_ASSERT_THROW(PortMapper(loop, config), Poco::InvalidArgumentException);
}


void PortMapperTest::testNoGatewayReported()
{
	// Nothing listens on the NAT-PMP address (ICMP port unreachable) nor on the UPnP URL.
	EventLoop loop;
	PortMapperConfig config = testConfig();
	config.enableUpnp = true;
	config.upnpRootDescUrl = "http://127.0.0.1:" + std::to_string(closedLoopbackPort()) + "/rootDesc.xml";
	config.retryMin = 10s;   // one attempt in this test
	PortMapper mapper(loop, config);
	std::vector<PortMapping> reports;
	mapper.setHandler([&](const PortMapping& mapping) { reports.push_back(mapping); });
	LoopWatch watch(loop);

	const auto started = std::chrono::steady_clock::now();
	mapper.start();
	CPPUNIT_ASSERT(mapper.started());
	CPPUNIT_ASSERT(runUntil(loop, [&] { return !reports.empty(); }));
	const auto elapsed = std::chrono::steady_clock::now() - started;

	CPPUNIT_ASSERT_EQUAL(std::size_t(1), reports.size());
	CPPUNIT_ASSERT(!reports[0].active);
	CPPUNIT_ASSERT_EQUAL(NO_GATEWAY, reports[0].error);
	CPPUNIT_ASSERT(reports[0].protocol.empty());
	CPPUNIT_ASSERT(!mapper.current().active);
	CPPUNIT_ASSERT_EQUAL(NO_GATEWAY, mapper.current().error);
	// Both protocols fail fast here; in any case within their two discovery timeouts.
	CPPUNIT_ASSERT(elapsed < 2 * config.discoveryTimeout + 500ms);
	CPPUNIT_ASSERT(watch.maxGap < 200ms);

	mapper.stop();
	CPPUNIT_ASSERT(!mapper.started());
}


void PortMapperTest::testSilentGatewayBoundedByTimeout()
{
	// A socket that receives the requests but never answers: the attempt ends at the
	// discovery timeout, and the loop keeps running meanwhile.
	std::unique_ptr<Poco::Net::DatagramSocket> pSilent;
	try
	{
		pSilent = std::make_unique<Poco::Net::DatagramSocket>(Poco::Net::SocketAddress(testGatewayAddress(), NATPMP_PORT), false);
	}
	catch (const Poco::Exception& exc)
	{
		skipped("cannot bind " + testGatewayAddress().toString() + ":5351: " + exc.displayText());
		return;
	}
	EventLoop loop;
	PortMapperConfig config = testConfig();
	config.discoveryTimeout = 400ms;
	config.retryMin = 10s;
	PortMapper mapper(loop, config);
	std::vector<PortMapping> reports;
	mapper.setHandler([&](const PortMapping& mapping) { reports.push_back(mapping); });
	LoopWatch watch(loop);

	const auto started = std::chrono::steady_clock::now();
	mapper.start();
	CPPUNIT_ASSERT(runUntil(loop, [&] { return !reports.empty(); }));
	const auto elapsed = std::chrono::steady_clock::now() - started;

	CPPUNIT_ASSERT(!reports[0].active);
	CPPUNIT_ASSERT_EQUAL(NO_GATEWAY, reports[0].error);
	CPPUNIT_ASSERT(elapsed >= config.discoveryTimeout - 20ms);
	CPPUNIT_ASSERT(elapsed < config.discoveryTimeout + 600ms);
	CPPUNIT_ASSERT(watch.maxGap < 200ms);
	CPPUNIT_ASSERT(pSilent->available() > 0);   // the request did reach the socket
}


void PortMapperTest::testNatPmpMapRenewRemove()
{
	std::unique_ptr<FakeNatPmpGateway> pGateway = startGateway(2);
	if (!pGateway) return;
	EventLoop loop;
	PortMapper mapper(loop, testConfig());
	std::vector<PortMapping> reports;
	mapper.setHandler([&](const PortMapping& mapping) { reports.push_back(mapping); });

	mapper.start();
	CPPUNIT_ASSERT(runUntil(loop, [&] { return !reports.empty(); }));
	const PortMapping& mapping = reports.front();
	CPPUNIT_ASSERT_MESSAGE(mapping.error, mapping.active);
	CPPUNIT_ASSERT_EQUAL(std::string("natpmp"), mapping.protocol);
	CPPUNIT_ASSERT_EQUAL(Poco::Net::SocketAddress(FakeNatPmpGateway::PUBLIC_ADDRESS,
		INTERNAL_PORT + FakeNatPmpGateway::PORT_OFFSET).toString(), mapping.external.toString());
	CPPUNIT_ASSERT_EQUAL(std::int64_t(2), static_cast<std::int64_t>(mapping.lease.count()));
	CPPUNIT_ASSERT(mapping.error.empty());
	const std::vector<FakeNatPmpGateway::Request> first = pGateway->requests();
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), first.size());
	CPPUNIT_ASSERT_EQUAL(std::uint32_t(7200), first[0].lifetime);         // config.natPmpLease
	CPPUNIT_ASSERT_EQUAL(INTERNAL_PORT, first[0].suggestedPort);

	// Renewals at half the granted lease (1 s), asking for the port we were given.
	const auto renewStart = std::chrono::steady_clock::now();
	CPPUNIT_ASSERT(runUntil(loop, [&] { return pGateway->count(isMapping) >= 3; }, 10s));
	const auto renewElapsed = std::chrono::steady_clock::now() - renewStart;
	CPPUNIT_ASSERT(renewElapsed >= 1500ms);   // two renewals, one per second
	const std::vector<FakeNatPmpGateway::Request> all = pGateway->requests();
	CPPUNIT_ASSERT_EQUAL(std::uint16_t(INTERNAL_PORT + FakeNatPmpGateway::PORT_OFFSET), all[1].suggestedPort);
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), reports.size());   // same mapping: not reported again
	CPPUNIT_ASSERT(mapper.current().active);

	// stop() deletes the mapping (lifetime 0) without blocking the loop.
	const auto stopStart = std::chrono::steady_clock::now();
	mapper.stop();
	CPPUNIT_ASSERT(std::chrono::steady_clock::now() - stopStart < 50ms);
	CPPUNIT_ASSERT(!mapper.current().active);
	CPPUNIT_ASSERT(runUntil(loop, [&] { return pGateway->count(isRemoval) == 1; }, 5s));
	CPPUNIT_ASSERT(std::chrono::steady_clock::now() - stopStart < 2s);
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), reports.size());

	// Stopped: no more renewals.
	const std::size_t before = pGateway->requests().size();
	runUntil(loop, [] { return false; }, 2s);
	CPPUNIT_ASSERT_EQUAL(before, pGateway->requests().size());
}


void PortMapperTest::testRenewalFailureReportedAndRetried()
{
	std::unique_ptr<FakeNatPmpGateway> pGateway = startGateway(1);
	if (!pGateway) return;
	EventLoop loop;
	PortMapper mapper(loop, testConfig());
	std::vector<PortMapping> reports;
	mapper.setHandler([&](const PortMapping& mapping) { reports.push_back(mapping); });

	mapper.start();
	CPPUNIT_ASSERT(runUntil(loop, [&] { return !reports.empty(); }));
	CPPUNIT_ASSERT(reports[0].active);

	// The gateway now refuses: the next renewal (500 ms) fails and is reported.
	pGateway->setMode(FakeNatPmpGateway::Mode::REFUSE);
	CPPUNIT_ASSERT(runUntil(loop, [&] { return reports.size() >= 2; }, 10s));
	CPPUNIT_ASSERT(!reports[1].active);
	CPPUNIT_ASSERT(reports[1].error.find("renewal failed") != std::string::npos);
	CPPUNIT_ASSERT(reports[1].error.find("not authorized") != std::string::npos);

	// Retries back off (100, 200, 400 ms) and succeed once the gateway answers again.
	// (A refused attempt stops at the public address request.)
	const std::size_t refusedSoFar = pGateway->publicAddressRequests();
	runUntil(loop, [] { return false; }, 1s);
	CPPUNIT_ASSERT(pGateway->publicAddressRequests() >= refusedSoFar + 2);
	CPPUNIT_ASSERT(pGateway->publicAddressRequests() <= refusedSoFar + 5);
	pGateway->setMode(FakeNatPmpGateway::Mode::ANSWER);
	CPPUNIT_ASSERT(runUntil(loop, [&] { return reports.back().active; }, 10s));
	CPPUNIT_ASSERT_EQUAL(std::string("natpmp"), reports.back().protocol);
	CPPUNIT_ASSERT(reports.back().error.empty());
}


void PortMapperTest::testDestructorRemovesMapping()
{
	std::unique_ptr<FakeNatPmpGateway> pGateway = startGateway(3600);
	if (!pGateway) return;
	EventLoop loop;
	auto pMapper = std::make_unique<PortMapper>(loop, testConfig());
	bool active = false;
	pMapper->setHandler([&](const PortMapping& mapping) { active = mapping.active; });
	pMapper->start();
	CPPUNIT_ASSERT(runUntil(loop, [&] { return active; }));

	const auto started = std::chrono::steady_clock::now();
	pMapper.reset();
	const auto elapsed = std::chrono::steady_clock::now() - started;
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), pGateway->count(isRemoval));
	CPPUNIT_ASSERT(elapsed < 1500ms);

	// Results the worker posted before the destruction are dropped safely.
	runUntil(loop, [] { return false; }, 1s);
	CPPUNIT_ASSERT_EQUAL(std::uint64_t(0), loop.handlerErrors());
}


void PortMapperTest::testDestructorLeavesDiscoveryBehind()
{
	// The UPnP "gateway" accepts the connection for the root description and never answers,
	// so the worker is blocked in miniupnpc. No mapping was requested, so the destructor
	// must not wait for it: with stopTimeout at 10 minutes, it returns while the gateway
	// still holds the connection (the worker has not given up yet), and the worker, once
	// released, ends on its own.
	Poco::Net::ServerSocket gateway(Poco::Net::SocketAddress("127.0.0.1", 0));
	std::atomic<bool> accepted{false};
	std::mutex mutex;
	Poco::Net::StreamSocket held;
	std::thread acceptor([&]
	{
		Poco::Net::StreamSocket connection = gateway.acceptConnection();
		std::string request;
		char buffer[512];
		int n = 0;
		while (request.find("\r\n\r\n") == std::string::npos && (n = connection.receiveBytes(buffer, sizeof(buffer))) > 0)
			request.append(buffer, static_cast<std::size_t>(n));
		{
			std::lock_guard<std::mutex> lock(mutex);
			held = connection;
		}
		accepted = true;
	});

	EventLoop loop;
	PortMapperConfig config = testConfig();
	config.enableNatPmp = false;
	config.enableUpnp = true;
	config.upnpRootDescUrl = "http://127.0.0.1:" + std::to_string(gateway.address().port()) + "/rootDesc.xml";
	config.stopTimeout = std::chrono::minutes(10);
	auto pMapper = std::make_unique<PortMapper>(loop, config);
	pMapper->start();
	const bool connected = runUntil(loop, [&] { return accepted.load(); });
	acceptor.join();
	CPPUNIT_ASSERT(connected);

	pMapper.reset();
	{
		std::lock_guard<std::mutex> lock(mutex);
		// The request was read: anything readable now would be the worker closing its side.
		CPPUNIT_ASSERT(!held.poll(Poco::Timespan(0), Poco::Net::Socket::SELECT_READ));
		held.close();   // releases the worker, which ends without a mapping request
	}
	runUntil(loop, [] { return false; }, std::chrono::seconds(1));
	CPPUNIT_ASSERT_EQUAL(std::uint64_t(0), loop.handlerErrors());
}
