//
// RelayLoad.cpp
//
// testsuite: load generator and tunnel benchmark for crosschat-relay, built on RelayClient.
//
// Usage:
//   RelayLoad peers  --url URL [--count N] [--concurrency C] [--timeout S] [--relay-pid PID]
//                    [--settle S] [--hold S]
//       N RelayClients (default 10000), each with a fresh Identity, on one EventLoop: all
//       announce and keep their control channels open. At most C (default 200) are
//       connecting at any time. Reports when all are ONLINE; with --relay-pid, reads the
//       relay's VmRSS before the first client and S seconds (--settle, default 3) after the
//       last came online, and prints (after - before) / N. --hold keeps them online for S more
//       seconds (e.g. for a lookup benchmark; --count 1 prints the peer's ID at once).
//   RelayLoad tunnel --url URL [--bytes N] [--chunk N] [--timeout S]
//       Two clients, each on its own EventLoopThread: A opens a tunnel to B and pumps N bytes
//       (default 256 MiB) in chunks of --chunk bytes (default 64 KiB) with backpressure; the
//       time runs from the joined tunnel until B has counted every byte.
//   RelayLoad direct [--bytes N] [--chunk N] [--timeout S]
//       The baseline for tunnel: the same pump over one direct loopback TcpConnection.
//   RelayLoad newid
//       Prints the peer ID of a fresh identity (an ID no relay knows, for 404 lookups).
//   RelayLoad announce --url URL [--connections N] [--seconds S] [--new-connections 1] [--ca FILE]
//       Signed announces (a fresh Ed25519 signature and nonce per request, one identity per
//       connection) on N connections (default 50), each sending its next request when the
//       answer has arrived, for S seconds (default 10): keep-alive, or a new connection (and,
//       for https://, a new TLS handshake) per request. Prints requests/s and latency
//       percentiles. https:// verifies the relay's certificate against --ca.
//   RelayLoad tunnel-raw --url URL [--bytes N] [--chunk N] [--timeout S] [--ca FILE]
//       The tunnel benchmark without RelayClient, so that it also runs over https://: two
//       control channels (hello, challenge, auth), a signed POST /api/v1/tunnels, both ends
//       joined; A pumps N bytes through the tunnel with backpressure, B counts; the time runs
//       from the joined tunnel until B has counted every byte. Both on one EventLoop.
//
// Every run is bounded by --timeout (default 120 s). Progress goes to stderr, one JSON result
// line to stdout. Exit code 0 when the run completed, 1 otherwise, 2 on bad usage.
//


#include "CrossChat/EventLoop.h"
#include "CrossChat/EventLoopThread.h"
#include "CrossChat/Identity.h"
#include "CrossChat/PeerId.h"
#include "CrossChat/FrameCodec.h"
#include "CrossChat/MessageSchema.h"
#include "CrossChat/TlsChannel.h"
#include "CrossChat/TlsClientContext.h"
#include "CrossChat/Relay/ControlMessages.h"
#include "CrossChat/Relay/RelayClient.h"
#include "CrossChat/Relay/RelayProtocol.h"
#include "RelayRequests.h"
#include "Poco/Net/HTTPRequest.h"
#include "Poco/Net/HTTPResponse.h"
#include "CrossChat/TcpConnection.h"
#include "CrossChat/TcpListener.h"
#include "Poco/Exception.h"
#include "Poco/Net/SocketAddress.h"
#include "Poco/URI.h"
#include <sys/resource.h>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <fstream>
#include <future>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>
#include <algorithm>
#include <functional>
#include <random>


using namespace CrossChat;
using Clock = std::chrono::steady_clock;
using Relay::RelayClient;
using Relay::RelayClientConfig;


namespace {


std::atomic<bool> g_interrupted{false};


void onSignal(int)
{
	g_interrupted = true;
}


struct Options
{
	std::string mode;
	std::string url = "http://127.0.0.1:5000";
	unsigned count = 10000;
	unsigned concurrency = 200;
	std::chrono::seconds timeout{120};
	long relayPid = 0;
	std::chrono::seconds settle{3};
	std::chrono::seconds hold{0};
	std::uint64_t bytes = 256ull * 1024 * 1024;
	std::size_t chunk = 64 * 1024;
	unsigned connections = 50;
	std::chrono::seconds seconds{10};
	bool newConnections = false;
	std::string ca;
};


void usage()
{
	std::cerr << "usage: RelayLoad peers  --url URL [--count N] [--concurrency C] [--timeout S] [--relay-pid PID] [--settle S] [--hold S]\n"
	             "       RelayLoad tunnel --url URL [--bytes N] [--chunk N] [--timeout S]\n"
	             "       RelayLoad direct [--bytes N] [--chunk N] [--timeout S]\n"
	             "       RelayLoad newid\n"
	             "       RelayLoad announce --url URL [--connections N] [--seconds S] [--new-connections 1] [--ca FILE]\n"
	             "       RelayLoad tunnel-raw --url URL [--bytes N] [--chunk N] [--timeout S] [--ca FILE]\n";
}


bool parseOptions(int argc, char** argv, Options& options)
{
	if (argc < 2) return false;
	options.mode = argv[1];
	if (options.mode != "peers" && options.mode != "tunnel" && options.mode != "direct" && options.mode != "newid"
		&& options.mode != "announce" && options.mode != "tunnel-raw")
		return false;
	for (int i = 2; i < argc; ++i)
	{
		const std::string name = argv[i];
		if (i + 1 >= argc) return false;
		const std::string value = argv[++i];
		try
		{
			if (name == "--url") options.url = value;
			else if (name == "--count") options.count = static_cast<unsigned>(std::stoul(value));
			else if (name == "--concurrency") options.concurrency = static_cast<unsigned>(std::stoul(value));
			else if (name == "--timeout") options.timeout = std::chrono::seconds(std::stol(value));
			else if (name == "--relay-pid") options.relayPid = std::stol(value);
			else if (name == "--settle") options.settle = std::chrono::seconds(std::stol(value));
			else if (name == "--hold") options.hold = std::chrono::seconds(std::stol(value));
			else if (name == "--bytes") options.bytes = std::stoull(value);
			else if (name == "--chunk") options.chunk = static_cast<std::size_t>(std::stoul(value));
			else if (name == "--connections") options.connections = static_cast<unsigned>(std::stoul(value));
			else if (name == "--seconds") options.seconds = std::chrono::seconds(std::stol(value));
			else if (name == "--new-connections") options.newConnections = value == "1" || value == "true";
			else if (name == "--ca") options.ca = value;
			else return false;
		}
		catch (const std::exception&)
		{
			return false;
		}
	}
	return options.count > 0 && options.concurrency > 0 && options.chunk > 0 && options.bytes > 0
		&& options.timeout.count() > 0;
}


long readRssKib(long pid)
	/// VmRSS of a process in KiB from /proc/<pid>/status, or -1.
{
	std::ifstream status("/proc/" + (pid > 0 ? std::to_string(pid) : std::string("self")) + "/status");
	std::string line;
	while (std::getline(status, line))
	{
		if (line.compare(0, 6, "VmRSS:") == 0) return std::stol(line.substr(6));
	}
	return -1;
}


void raiseFileLimit(rlim_t wanted)
	/// Raises RLIMIT_NOFILE to wanted (the hard limit too, which needs root); reports the result.
{
	rlimit limit{};
	getrlimit(RLIMIT_NOFILE, &limit);
	if (limit.rlim_cur >= wanted) return;
	rlimit raised{wanted, limit.rlim_max < wanted ? wanted : limit.rlim_max};
	if (setrlimit(RLIMIT_NOFILE, &raised) != 0)
	{
		raised = {limit.rlim_max, limit.rlim_max};
		setrlimit(RLIMIT_NOFILE, &raised);
	}
	getrlimit(RLIMIT_NOFILE, &limit);
	std::cerr << "RelayLoad: file descriptor limit " << limit.rlim_cur << " (wanted " << wanted << ")\n";
}


double secondsSince(Clock::time_point start)
{
	return std::chrono::duration<double>(Clock::now() - start).count();
}


// ---------------------------------------------------------------------------------------------
// peers: many idle clients


int runPeers(const Options& options)
{
	raiseFileLimit(static_cast<rlim_t>(options.count) * 2 + 1024);
	EventLoop loop;
	RelayClientConfig config;
	config.url = Poco::URI(options.url);
	config.retryMin = std::chrono::milliseconds(500);
	config.retryMax = std::chrono::milliseconds(5000);

	const long relayBefore = options.relayPid > 0 ? readRssKib(options.relayPid) : -1;
	const long selfBefore = readRssKib(0);
	std::vector<std::unique_ptr<RelayClient>> clients;
	std::vector<RelayClient::State> states;
	std::map<std::string, unsigned> lastDetails;   // OFFLINE details, for the report
	clients.reserve(options.count);
	states.reserve(options.count);
	unsigned online = 0;
	unsigned everOffline = 0;
	const Clock::time_point start = Clock::now();
	Clock::time_point allOnline{};
	Clock::time_point lastReport = start;
	bool done = false;
	bool success = false;
	long relayAfter = -1;
	long selfAfter = -1;
	unsigned onlineAtEnd = 0;
	TimerHandle settleTimer;
	TimerHandle holdTimer;

	auto startMore = [&] {
		while (clients.size() < options.count && clients.size() - online < options.concurrency)
		{
			const std::size_t index = clients.size();
			config.name = "load-" + std::to_string(index);
			const Identity identity = Identity::generate();
			if (options.count <= 10)
				std::cout << "{\"event\":\"peer\",\"id\":\"" << identity.peerId().toString() << "\"}" << std::endl;
			auto client = std::make_unique<RelayClient>(loop, identity, config);
			states.push_back(RelayClient::State::OFFLINE);
			client->setStateHandler([&, index](RelayClient::State state, const std::string& detail) {
				const RelayClient::State previous = states[index];
				states[index] = state;
				if (previous == RelayClient::State::ONLINE && state != RelayClient::State::ONLINE)
				{
					--online;
					++everOffline;
				}
				if (state == RelayClient::State::ONLINE && previous != RelayClient::State::ONLINE) ++online;
				if (state == RelayClient::State::OFFLINE && lastDetails.size() < 20) ++lastDetails[detail.substr(0, 160)];
			});
			RelayClient& ref = *client;
			clients.push_back(std::move(client));
			ref.start();
		}
	};

	auto finish = [&](bool ok) {
		if (done) return;
		done = true;
		success = ok;
		onlineAtEnd = online;
		loop.stop();
	};

	TimerHandle tick = loop.runEvery(std::chrono::milliseconds(50), [&] {
		if (g_interrupted) return finish(false);
		if (allOnline == Clock::time_point{})
		{
			startMore();
			if (Clock::now() - lastReport >= std::chrono::seconds(5))
			{
				lastReport = Clock::now();
				std::cerr << "RelayLoad: " << clients.size() << " started, " << online << " online after "
					<< secondsSince(start) << " s\n";
			}
			if (online == options.count)
			{
				allOnline = Clock::now();
				std::cerr << "RelayLoad: all " << options.count << " clients ONLINE after " << secondsSince(start) << " s\n";
				std::cout << "{\"event\":\"online\",\"count\":" << options.count << "}" << std::endl;
				settleTimer = loop.runAfter(options.settle, [&] {
					relayAfter = options.relayPid > 0 ? readRssKib(options.relayPid) : -1;
					selfAfter = readRssKib(0);
					std::cerr << "RelayLoad: relay VmRSS " << relayBefore << " KiB before, " << relayAfter
						<< " KiB with " << online << " clients online\n";
					if (options.hold.count() == 0) return finish(online == options.count);
					holdTimer = loop.runAfter(options.hold, [&] { finish(online == options.count); });
				});
			}
			else if (Clock::now() - start > options.timeout)
			{
				std::cerr << "RelayLoad: timeout: " << online << " of " << options.count << " online\n";
				finish(false);
			}
		}
	});
	loop.run();
	const double toOnline = allOnline == Clock::time_point{} ? -1.0
		: std::chrono::duration<double>(allOnline - start).count();

	std::ostringstream details;
	for (const auto& [detail, n]: lastDetails) details << (details.tellp() > 0 ? "; " : "") << n << "x " << detail;
	std::string detailText = details.str();
	for (char& c: detailText) if (c == '"' || c == '\\' || static_cast<unsigned char>(c) < 0x20) c = ' ';

	std::cout << "{\"mode\":\"peers\",\"count\":" << options.count << ",\"online\":" << onlineAtEnd
		<< ",\"seconds_to_all_online\":" << toOnline
		<< ",\"went_offline\":" << everOffline
		<< ",\"relay_rss_before_kib\":" << relayBefore << ",\"relay_rss_after_kib\":" << relayAfter;
	if (relayBefore > 0 && relayAfter > 0)
		std::cout << ",\"relay_bytes_per_peer\":" << (relayAfter - relayBefore) * 1024.0 / options.count;
	std::cout << ",\"client_rss_before_kib\":" << selfBefore << ",\"client_rss_after_kib\":" << selfAfter
		<< ",\"offline_details\":\"" << detailText << "\"}" << std::endl;

	// Orderly teardown on the loop thread (the clients' unregister requests are fire and forget).
	clients.clear();
	return success ? 0 : 1;
}


// ---------------------------------------------------------------------------------------------
// tunnel / direct: bulk throughput


class Pump
	/// Sends total bytes in chunk-sized pieces over a connection, keeping at most the
	/// connection's high-water mark buffered. Lives on the connection's loop.
{
public:
	Pump(ByteStream::Ptr connection, std::uint64_t total, std::size_t chunk):
		_connection(std::move(connection)),
		_total(total),
		_chunk(chunk, 'x')
	{
	}

	void start(std::shared_ptr<Pump> self)
	{
		_connection->setDrainHandler([self] { self->fill(); });
		fill();
	}

	void fill()
	{
		for (int i = 0; i < 100000 && _sent < _total && !_connection->aboveHighWaterMark() && !_connection->closed(); ++i)
		{
			const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(_chunk.size(), _total - _sent));
			_connection->send(_chunk.data(), n);
			_sent += n;
		}
	}

private:
	ByteStream::Ptr _connection;
	std::uint64_t _total;
	std::string _chunk;
	std::uint64_t _sent = 0;
};


struct Sink
	/// Counts bytes; fulfils the promise once total have arrived.
{
	std::uint64_t total = 0;
	std::uint64_t received = 0;
	std::promise<Clock::time_point> done;
	bool reported = false;

	void add(std::size_t size)
	{
		received += size;
		if (!reported && received >= total)
		{
			reported = true;
			done.set_value(Clock::now());
		}
	}
};


template <typename T>
bool waitFor(std::future<T>& future, Clock::time_point deadline)
{
	while (Clock::now() < deadline && !g_interrupted)
	{
		if (future.wait_for(std::chrono::milliseconds(100)) == std::future_status::ready) return true;
	}
	return false;
}


void printThroughput(const Options& options, const char* mode, double seconds, std::uint64_t received, const std::string& error)
{
	const double mib = static_cast<double>(received) / (1024.0 * 1024.0);
	std::cout << "{\"mode\":\"" << mode << "\",\"bytes\":" << options.bytes << ",\"received\":" << received
		<< ",\"chunk\":" << options.chunk << ",\"seconds\":" << seconds
		<< ",\"mib_per_s\":" << (seconds > 0 ? mib / seconds : 0.0)
		<< ",\"error\":\"" << error << "\"}" << std::endl;
	std::cerr << "RelayLoad " << mode << ": " << mib << " MiB in " << seconds << " s = "
		<< (seconds > 0 ? mib / seconds : 0.0) << " MiB/s" << (error.empty() ? "" : " (" + error + ")") << "\n";
}


int runTunnel(const Options& options)
{
	const Clock::time_point deadline = Clock::now() + options.timeout;
	EventLoopThread threadA("client-a");
	EventLoopThread threadB("client-b");
	const Identity idA = Identity::generate();
	const Identity idB = Identity::generate();
	std::unique_ptr<RelayClient> clientA;
	std::unique_ptr<RelayClient> clientB;
	auto sink = std::make_shared<Sink>();
	sink->total = options.bytes;
	std::future<Clock::time_point> finished = sink->done.get_future();
	std::promise<void> onlineA, onlineB;
	auto onlineAFuture = onlineA.get_future();
	auto onlineBFuture = onlineB.get_future();
	std::promise<std::pair<Clock::time_point, std::string>> opened;
	auto openedFuture = opened.get_future();
	std::vector<ByteStream::Ptr> keepB;   // loop B only
	std::shared_ptr<Pump> pump;              // loop A only

	RelayClientConfig config;
	config.url = Poco::URI(options.url);
	auto makeClient = [&config](EventLoop& loop, const Identity& id, const char* name, std::unique_ptr<RelayClient>& slot,
		std::promise<void>& online, std::function<void(RelayClient&)> setup) {
		std::promise<void> created;
		loop.post([&] {
			RelayClientConfig own = config;
			own.name = name;
			slot = std::make_unique<RelayClient>(loop, id, own);
			auto reported = std::make_shared<bool>(false);
			slot->setStateHandler([&online, reported](RelayClient::State state, const std::string& detail) {
				std::cerr << "RelayLoad: relay state " << static_cast<int>(state) << " " << detail << "\n";
				if (state == RelayClient::State::ONLINE && !*reported)
				{
					*reported = true;
					online.set_value();
				}
			});
			setup(*slot);
			slot->start();
			created.set_value();
		});
		created.get_future().wait();
	};

	makeClient(threadB.loop(), idB, "bench-b", clientB, onlineB, [&](RelayClient& client) {
		client.setInviteHandler([&, sink](Relay::RelayTunnel tunnel) {
			if (!tunnel.leftover.empty()) sink->add(tunnel.leftover.size());
			tunnel.connection->setDataHandler([sink](const char*, std::size_t size) { sink->add(size); });
			keepB.push_back(tunnel.connection);
		});
	});
	makeClient(threadA.loop(), idA, "bench-a", clientA, onlineA, [](RelayClient&) {});
	if (!waitFor(onlineAFuture, deadline) || !waitFor(onlineBFuture, deadline))
	{
		printThroughput(options, "tunnel", 0, 0, "clients did not come online");
		return 1;
	}
	threadA.loop().post([&] {
		clientA->openTunnel(idB.peerId(), [&](Relay::RelayTunnel tunnel, const std::string& error) {
			if (!tunnel.connection)
			{
				opened.set_value({Clock::now(), error.empty() ? std::string("no tunnel") : error});
				return;
			}
			opened.set_value({Clock::now(), std::string()});
			pump = std::make_shared<Pump>(tunnel.connection, options.bytes, options.chunk);
			pump->start(pump);
		});
	});
	int result = 1;
	if (!waitFor(openedFuture, deadline))
	{
		printThroughput(options, "tunnel", 0, 0, "tunnel not opened in time");
	}
	else
	{
		const auto [start, error] = openedFuture.get();
		if (!error.empty())
		{
			printThroughput(options, "tunnel", 0, 0, error);
		}
		else if (!waitFor(finished, deadline))
		{
			std::promise<std::uint64_t> got;
			threadB.loop().post([&] { got.set_value(sink->received); });
			printThroughput(options, "tunnel", secondsSince(start), got.get_future().get(), "timeout");
		}
		else
		{
			const Clock::time_point end = finished.get();
			printThroughput(options, "tunnel", std::chrono::duration<double>(end - start).count(), options.bytes, "");
			result = 0;
		}
	}
	std::promise<void> stoppedA, stoppedB;
	threadA.loop().post([&] { pump.reset(); clientA.reset(); stoppedA.set_value(); });
	threadB.loop().post([&] {
		for (auto& c: keepB) c->abort("benchmark done");
		keepB.clear();
		clientB.reset();
		stoppedB.set_value();
	});
	stoppedA.get_future().wait();
	stoppedB.get_future().wait();
	return result;
}


int runDirect(const Options& options)
{
	const Clock::time_point deadline = Clock::now() + options.timeout;
	EventLoopThread threadA("sender");
	EventLoopThread threadB("receiver");
	auto sink = std::make_shared<Sink>();
	sink->total = options.bytes;
	std::future<Clock::time_point> finished = sink->done.get_future();
	std::unique_ptr<TcpListener> listener;
	std::vector<TcpConnection::Ptr> keepB;
	std::promise<Poco::Net::SocketAddress> bound;
	threadB.loop().post([&] {
		listener = std::make_unique<TcpListener>(threadB.loop(), Poco::Net::SocketAddress("127.0.0.1", 0),
			[&, sink](const Poco::Net::StreamSocket& socket) {
				auto connection = TcpConnection::adopt(threadB.loop(), socket);
				connection->setDataHandler([sink](const char*, std::size_t size) { sink->add(size); });
				keepB.push_back(connection);
			});
		bound.set_value(listener->address());
	});
	const Poco::Net::SocketAddress address = bound.get_future().get();
	std::promise<Clock::time_point> connected;
	auto connectedFuture = connected.get_future();
	TcpConnection::Ptr sender;
	std::shared_ptr<Pump> pump;
	threadA.loop().post([&] {
		sender = TcpConnection::connect(threadA.loop(), address);
		sender->setConnectHandler([&] {
			connected.set_value(Clock::now());
			pump = std::make_shared<Pump>(sender, options.bytes, options.chunk);
			pump->start(pump);
		});
	});
	int result = 1;
	if (!waitFor(connectedFuture, deadline))
	{
		printThroughput(options, "direct", 0, 0, "no connection");
	}
	else
	{
		const Clock::time_point start = connectedFuture.get();
		if (waitFor(finished, deadline))
		{
			printThroughput(options, "direct", std::chrono::duration<double>(finished.get() - start).count(), options.bytes, "");
			result = 0;
		}
		else
		{
			printThroughput(options, "direct", secondsSince(start), 0, "timeout");
		}
	}
	std::promise<void> stoppedA, stoppedB;
	threadA.loop().post([&] { pump.reset(); if (sender) sender->abort("done"); sender.reset(); stoppedA.set_value(); });
	threadB.loop().post([&] {
		for (auto& c: keepB) c->abort("done");
		keepB.clear();
		listener.reset();
		stoppedB.set_value();
	});
	stoppedA.get_future().wait();
	stoppedB.get_future().wait();
	return result;
}


// ---------------------------------------------------------------------------------------------
// announce, tunnel-raw: the relay's wire protocol spoken directly (http:// or https://)


class Wire: public std::enable_shared_from_this<Wire>
	/// One connection to the relay, plain or TLS (X.509 client, verified against --ca), with
	/// HTTP request/response and, after an upgrade, raw bytes.
{
public:
	using Ptr = std::shared_ptr<Wire>;
	std::function<void()> onReady;
	std::function<void(int status, const std::string& body)> onResponse;
	std::function<void(const char* data, std::size_t size)> onBytes;   ///< After a 101.
	std::function<void(const std::string& reason)> onClosed;
	std::function<void()> onDrain;

	static Ptr open(EventLoop& loop, const Poco::URI& url, const TlsClientContext::Ptr& pTls)
	{
		Ptr pWire(new Wire);
		pWire->_pTcp = TcpConnection::connect(loop, Poco::Net::SocketAddress(url.getHost(), url.getPort()), std::chrono::seconds(10));
		std::weak_ptr<Wire> pWeak = pWire;
		if (pTls)
		{
			pWire->_pTls = TlsChannel::client(pWire->_pTcp, pTls, url.getHost());
			pWire->_pTls->setEstablishedHandler([pWeak] { if (auto p = pWeak.lock()) if (p->onReady) p->onReady(); });
			pWire->_pTls->setDataHandler([pWeak](const char* d, std::size_t n) { if (auto p = pWeak.lock()) p->received(d, n); });
			pWire->_pTls->setCloseHandler([pWeak](const std::string& r) { if (auto p = pWeak.lock()) p->closed(r); });
		}
		else
		{
			pWire->_pTcp->setConnectHandler([pWeak] { if (auto p = pWeak.lock()) if (p->onReady) p->onReady(); });
			pWire->_pTcp->setDataHandler([pWeak](const char* d, std::size_t n) { if (auto p = pWeak.lock()) p->received(d, n); });
			pWire->_pTcp->setCloseHandler([pWeak](const std::string& r) { if (auto p = pWeak.lock()) p->closed(r); });
		}
		pWire->_pTcp->setDrainHandler([pWeak] { if (auto p = pWeak.lock()) if (p->onDrain) p->onDrain(); });
		pWire->_pTcp->setHighWaterMark(4 * 1024 * 1024);
		return pWire;
	}

	void send(const std::string& data)
	{
		if (_pTls) _pTls->send(data);
		else _pTcp->send(data);
	}

	void request(const std::string& method, const std::string& path, const std::string& body,
		const std::vector<std::pair<std::string, std::string>>& headers)
	{
		Poco::Net::HTTPRequest request(method, path, Poco::Net::HTTPMessage::HTTP_1_1);
		request.setHost(_host);
		if (!body.empty() || method == "POST")
		{
			request.setContentType("application/json");
			request.setContentLength(static_cast<std::streamsize>(body.size()));
		}
		for (const auto& header: headers) request.set(header.first, header.second);
		std::ostringstream out;
		request.write(out);
		send(out.str() + body);
	}

	bool aboveHighWaterMark() const { return _pTcp->aboveHighWaterMark(); }
	void close() { if (_pTls) _pTls->close(); else _pTcp->close(); }
	void abort() { if (_pTls) _pTls->abort("done"); else _pTcp->abort("done"); }
	void setHost(const std::string& host) { _host = host; }

private:
	void received(const char* data, std::size_t size)
	{
		if (_upgraded)
		{
			if (onBytes) onBytes(data, size);
			return;
		}
		_buffer.append(data, size);
		for (;;)
		{
			const std::size_t end = _buffer.find("\r\n\r\n");
			if (end == std::string::npos) return;
			Poco::Net::HTTPResponse response;
			std::istringstream head(_buffer.substr(0, end + 4));
			response.read(head);
			const std::size_t length = response.hasContentLength() ? static_cast<std::size_t>(response.getContentLength()) : 0;
			const int status = static_cast<int>(response.getStatus());
			if (status == 101)
			{
				_upgraded = true;
				std::string rest = _buffer.substr(end + 4);
				_buffer.clear();
				if (onResponse) onResponse(status, std::string());
				if (!rest.empty() && onBytes) onBytes(rest.data(), rest.size());
				return;
			}
			if (_buffer.size() < end + 4 + length) return;
			const std::string body = _buffer.substr(end + 4, length);
			_buffer.erase(0, end + 4 + length);
			if (onResponse) onResponse(status, body);
		}
	}

	void closed(const std::string& reason)
	{
		if (onClosed) onClosed(reason);
		onReady = nullptr;
		onResponse = nullptr;
		onBytes = nullptr;
		onClosed = nullptr;
		onDrain = nullptr;
	}

	TcpConnection::Ptr _pTcp;
	TlsChannel::Ptr _pTls;
	std::string _buffer;
	std::string _host = "relay";
	bool _upgraded = false;
};


std::vector<std::pair<std::string, std::string>> signedHeaders(const Identity& identity, const std::string& method,
	const std::string& path, const std::string& body)
{
	static std::mt19937_64 random(std::random_device{}());
	const std::int64_t timestamp = std::chrono::duration_cast<std::chrono::milliseconds>(
		std::chrono::system_clock::now().time_since_epoch()).count();
	std::ostringstream nonce;
	nonce << std::hex << random() << random();
	const std::string signature = identity.sign(Relay::RelayProtocol::signingString(method, path, body, timestamp, nonce.str()));
	return {{Relay::RelayProtocol::HEADER_KEY, Relay::base64Encode(identity.publicKey().raw())},
		{Relay::RelayProtocol::HEADER_TIMESTAMP, std::to_string(timestamp)},
		{Relay::RelayProtocol::HEADER_NONCE, nonce.str()},
		{Relay::RelayProtocol::HEADER_SIGNATURE, Relay::base64Encode(signature)}};
}


TlsClientContext::Ptr tlsFor(const Poco::URI& url, const Options& options)
{
	if (url.getScheme() != "https") return nullptr;
	return options.ca.empty() ? TlsClientContext::systemTrust() : TlsClientContext::withCaFile(options.ca);
}


int runAnnounce(const Options& options)
{
	raiseFileLimit(static_cast<rlim_t>(options.connections) * 2 + 1024);
	EventLoop loop;
	const Poco::URI url(options.url);
	const TlsClientContext::Ptr pTls = tlsFor(url, options);
	const std::string path = std::string(Relay::RelayProtocol::API_PREFIX) + "/announce";
	const std::string body = "{\"name\":\"load\",\"addresses\":[\"0.0.0.0:4001\"]}";
	std::vector<double> latencies;
	std::map<int, std::uint64_t> statuses;
	std::uint64_t failures = 0;
	const Clock::time_point start = Clock::now();
	const Clock::time_point end = start + options.seconds;
	bool stopping = false;

	struct Client
	{
		Identity identity = Identity::generate();
		Wire::Ptr wire;
		Clock::time_point sent;
		bool ready = false;
	};
	std::vector<std::unique_ptr<Client>> clients;
	std::function<void(Client&)> connect;
	std::function<void(Client&)> next = [&](Client& client)
	{
		if (stopping || Clock::now() >= end)
		{
			stopping = true;
			loop.stop();
			return;
		}
		client.sent = Clock::now();
		client.wire->request("POST", path, body, signedHeaders(client.identity, "POST", path, body));
	};
	connect = [&](Client& client)
	{
		client.wire = Wire::open(loop, url, pTls);
		client.wire->setHost(url.getHost());
		Client* pClient = &client;
		client.wire->onReady = [&next, pClient] { next(*pClient); };
		client.wire->onResponse = [&, pClient](int status, const std::string&)
		{
			latencies.push_back(std::chrono::duration<double, std::milli>(Clock::now() - pClient->sent).count());
			++statuses[status];
			if (options.newConnections)
			{
				pClient->wire->close();
				connect(*pClient);
			}
			else
			{
				next(*pClient);
			}
		};
		client.wire->onClosed = [&, pClient](const std::string& reason)
		{
			if (stopping) return;
			if (!reason.empty()) ++failures;
			if (!options.newConnections) connect(*pClient);   // the relay closed a keep-alive connection
		};
	};
	for (unsigned i = 0; i < options.connections; ++i)
	{
		clients.push_back(std::make_unique<Client>());
		connect(*clients.back());
	}
	TimerHandle guard = loop.runAfter(options.seconds + std::chrono::seconds(5), [&] { stopping = true; loop.stop(); });
	loop.run();
	const double seconds = secondsSince(start);
	for (auto& client: clients) if (client->wire) client->wire->abort();
	std::sort(latencies.begin(), latencies.end());
	auto percentile = [&latencies](double p) { return latencies.empty() ? 0.0 : latencies[std::min(latencies.size() - 1, static_cast<std::size_t>(p * static_cast<double>(latencies.size())))]; };
	std::ostringstream statusText;
	for (const auto& entry: statuses) statusText << (statusText.tellp() > 0 ? "," : "") << "\"" << entry.first << "\":" << entry.second;
	std::cout << "{\"mode\":\"announce\",\"url\":\"" << options.url << "\",\"connections\":" << options.connections
		<< ",\"new_connections\":" << (options.newConnections ? "true" : "false") << ",\"seconds\":" << seconds
		<< ",\"requests\":" << latencies.size() << ",\"rps\":" << static_cast<double>(latencies.size()) / seconds
		<< ",\"p50_ms\":" << percentile(0.5) << ",\"p99_ms\":" << percentile(0.99) << ",\"statuses\":{" << statusText.str()
		<< "},\"failures\":" << failures << "}" << std::endl;
	return statuses.count(200) != 0 && statuses.size() == 1 ? 0 : 1;
}


int runTunnelRaw(const Options& options)
{
	EventLoop loop;
	const Poco::URI url(options.url);
	const TlsClientContext::Ptr pTls = tlsFor(url, options);
	const Identity alice = Identity::generate();
	const Identity bob = Identity::generate();
	FrameCodec codec(64 * 1024);
	std::string failure;
	auto fail = [&](const std::string& why) { if (failure.empty()) failure = why; loop.stop(); };
	Wire::Ptr control;
	Wire::Ptr opener;
	Wire::Ptr endA;
	Wire::Ptr endB;
	std::string callerToken;
	std::string calleeToken;
	std::uint64_t sent = 0;
	std::uint64_t received = 0;
	Clock::time_point joined{};
	Clock::time_point finished{};
	int joinedEnds = 0;
	const std::string chunk(options.chunk, 'x');

	std::function<void()> pump = [&]
	{
		while (sent < options.bytes && !endA->aboveHighWaterMark())
		{
			const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(options.chunk, options.bytes - sent));
			endA->send(n == chunk.size() ? chunk : chunk.substr(0, n));
			sent += n;
		}
	};
	auto joinEnd = [&](Wire::Ptr& wire, const std::string& token, bool isA)
	{
		wire = Wire::open(loop, url, pTls);
		wire->setHost(url.getHost());
		Wire* pWire = wire.get();
		wire->onReady = [pWire, token] { pWire->request("GET", std::string(Relay::RelayProtocol::API_PREFIX) + "/tunnels/" + token, "",
			{{"Connection", "Upgrade"}, {"Upgrade", Relay::RelayProtocol::UPGRADE_TUNNEL}}); };
		wire->onResponse = [&, isA](int status, const std::string&)
		{
			if (status != 101) return fail("join answered " + std::to_string(status));
			if (++joinedEnds == 2)
			{
				joined = Clock::now();
				pump();
			}
			(void) isA;
		};
		if (isA) wire->onDrain = [&] { pump(); };
		else wire->onBytes = [&](const char*, std::size_t size)
		{
			received += size;
			if (received >= options.bytes)
			{
				finished = Clock::now();
				loop.stop();
			}
		};
		wire->onClosed = [&](const std::string& reason) { if (received < options.bytes) fail("tunnel end closed: " + reason); };
	};
	// Bob online: control channel handshake.
	control = Wire::open(loop, url, pTls);
	control->setHost(url.getHost());
	std::string frames;
	control->onReady = [&] { control->request("GET", std::string(Relay::RelayProtocol::API_PREFIX) + "/control", "",
		{{"Connection", "Upgrade"}, {"Upgrade", Relay::RelayProtocol::UPGRADE_CONTROL}}); };
	control->onResponse = [&](int status, const std::string&)
	{
		if (status != 101) return fail("control upgrade answered " + std::to_string(status));
		control->send(Relay::encodeControl(codec, Relay::ControlHello{bob.publicKey(), Relay::RelayProtocol::VERSION}));
	};
	control->onBytes = [&](const char* data, std::size_t size)
	{
		codec.feed(data, size);
		while (std::optional<Frame> frame = codec.next())
		{
			const Message message = Relay::RelayProtocol::control().decode(*frame);
			if (message.name == "challenge")
			{
				const auto challenge = Relay::ControlChallenge::fromBody(*message.body);
				control->send(Relay::encodeControl(codec, Relay::ControlAuth{bob.sign(Relay::RelayProtocol::controlSigningString(challenge.nonce))}));
			}
			else if (message.name == "welcome")
			{
				// Alice asks for a tunnel to bob.
				opener = Wire::open(loop, url, pTls);
				opener->setHost(url.getHost());
				const std::string path = std::string(Relay::RelayProtocol::API_PREFIX) + "/tunnels";
				const std::string body = "{\"to\":\"" + bob.peerId().toString() + "\"}";
				opener->onReady = [&, path, body] { opener->request("POST", path, body, signedHeaders(alice, "POST", path, body)); };
				opener->onResponse = [&](int status, const std::string& answer)
				{
					if (status != 201) return fail("POST /tunnels answered " + std::to_string(status) + " " + answer);
					callerToken = MessageSchema::parseObject(answer)->getValue<std::string>("token");
					joinEnd(endA, callerToken, true);
				};
			}
			else if (message.name == "invite")
			{
				calleeToken = Relay::ControlInvite::fromBody(*message.body).token;
				joinEnd(endB, calleeToken, false);
			}
			else if (message.name == "error")
			{
				fail("control error " + message.body->getValue<std::string>("code"));
			}
		}
	};
	TimerHandle guard = loop.runAfter(options.timeout, [&] { fail("timeout"); });
	loop.run();
	for (Wire::Ptr* pWire: {&control, &opener, &endA, &endB}) if (*pWire) (*pWire)->abort();
	if (!failure.empty() || finished == Clock::time_point{})
	{
		std::cout << "{\"mode\":\"tunnel-raw\",\"error\":\"" << (failure.empty() ? "unfinished" : failure) << "\"}" << std::endl;
		return 1;
	}
	const double seconds = std::chrono::duration<double>(finished - joined).count();
	std::cout << "{\"mode\":\"tunnel-raw\",\"url\":\"" << options.url << "\",\"bytes\":" << options.bytes << ",\"seconds\":" << seconds
		<< ",\"MBps\":" << static_cast<double>(options.bytes) / seconds / 1e6 << ",\"MiBps\":"
		<< static_cast<double>(options.bytes) / seconds / (1024.0 * 1024.0) << "}" << std::endl;
	return 0;
}


} // namespace


int main(int argc, char** argv)
{
	Options options;
	if (!parseOptions(argc, argv, options))
	{
		usage();
		return 2;
	}
	std::signal(SIGINT, onSignal);
	std::signal(SIGTERM, onSignal);
	std::signal(SIGPIPE, SIG_IGN);
	try
	{
		if (options.mode == "peers") return runPeers(options);
		if (options.mode == "tunnel") return runTunnel(options);
		if (options.mode == "announce") return runAnnounce(options);
		if (options.mode == "tunnel-raw") return runTunnelRaw(options);
		if (options.mode == "newid")
		{
			std::cout << Identity::generate().peerId().toString() << std::endl;
			return 0;
		}
		return runDirect(options);
	}
	catch (const Poco::Exception& exc)
	{
		std::cerr << "RelayLoad: " << exc.displayText() << "\n";
	}
	catch (const std::exception& exc)
	{
		std::cerr << "RelayLoad: " << exc.what() << "\n";
	}
	return 1;
}
