//
// TransferBenchmark.cpp
//
// testsuite: file transfer between two ChatNodes over a direct loopback session, against two
// baselines in the same run, with the same CPU placement:
//   - raw TLS bulk: raw OpenSSL TLS 1.3 (RawTls.h, blocking sockets, the same TLS profile),
//     the same number of bytes in 64 KiB writes, from memory to memory;
//   - an "scp-like" copy: the same raw TLS connection, the file read on one end and written
//     on the other in 64 KiB pieces (no hashing, no resume: what a plain copy over TLS costs);
//   - ours: /send + /accept-file, timed from the accept to the receiver's COMPLETE: 128 KiB
//     (or Syncthing-sized) blocks pulled within the window, each SHA-256 checked before it is
//     written, the progress recorded in the store, the whole file checked, then renamed.
// And chat latency during a transfer: one-way delay (one clock, both nodes in this process)
// of chat messages sent every 10 ms by the sender (in the direction of the file data, the
// worst case) and by the receiver (against it), idle and during the transfer.
//
// Files live in --dir (default /dev/shm, so the disk does not decide the result; give a disk
// directory to include it). Every throughput is repeated (--rounds, default 3, alternating the
// three) and the median reported; MB/s = 10^6 bytes/s. Both placements are measured: "one CPU"
// (everything on CPU 0) and "across CPUs" (sender on CPU 0, receiver on CPU 1; file worker
// threads inherit their loop's placement).
//
// Usage: Transfer-benchmark [--quick] [--size MIB] [--rounds N] [--dir DIR]
//                           [--placement one|across] [--only throughput|latency] [--impl ours|raw|scp]
//


#include "RawTls.h"
#include "CrossChat/Chat/ChatNode.h"
#include "CrossChat/EventLoopThread.h"
#include "CrossChat/Identity.h"
#include "Poco/File.h"
#include "Poco/Logger.h"
#include "Poco/Path.h"
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>


using namespace CrossChat;
using namespace CrossChat::Chat;
using CrossChat::Benchmark::RawTlsConnection;
using CrossChat::Benchmark::RawTlsContext;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;


namespace {


constexpr std::size_t CHUNK = 64 * 1024;


struct Options
{
	bool quick = false;
	std::uint64_t sizeMiB = 1024;
	int rounds = 3;
	std::string dir = "/dev/shm";
	std::string placement;
	std::string only;
	std::string impl;
};


struct Placement
{
	const char* name;
	int senderCpu;
	int receiverCpu;
};


void pinThisThread(int cpu)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (pthread_setaffinity_np(pthread_self(), sizeof(set), &set) != 0)
	{
		std::fprintf(stderr, "cannot pin a thread to CPU %d\n", cpu);
		std::exit(1);
	}
}


template <typename Function>
auto onLoop(EventLoop& loop, Function function) -> decltype(function())
{
	std::packaged_task<decltype(function())()> task(function);
	auto result = task.get_future();
	loop.post([&task] { task(); });
	return result.get();
}


double cpuSeconds()
	/// CPU time of the whole process so far (every thread, user and system).
{
	struct rusage usage;
	::getrusage(RUSAGE_SELF, &usage);
	return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec)
		+ static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}


struct Result
{
	double rate = 0;        ///< MB/s.
	double cpuPerMb = 0;    ///< CPU ms (all threads) per MB moved.
};


double median(std::vector<double> values)
{
	std::sort(values.begin(), values.end());
	return values[values.size() / 2];
}


double percentile(std::vector<double> values, double p)
{
	if (values.empty()) return 0;
	std::sort(values.begin(), values.end());
	return values[static_cast<std::size_t>(p * static_cast<double>(values.size() - 1))];
}


void writeRandomFile(const std::string& path, std::uint64_t size)
{
	std::ofstream out(path, std::ios::binary | std::ios::trunc);
	std::mt19937_64 generator(42);
	std::vector<std::uint64_t> buffer(CHUNK / 8);
	for (std::uint64_t written = 0; written < size; written += CHUNK)
	{
		for (auto& word: buffer) word = generator();
		out.write(reinterpret_cast<const char*>(buffer.data()), static_cast<std::streamsize>(std::min<std::uint64_t>(CHUNK, size - written)));
	}
}


//
// Ours: two ChatNodes, each on its own pinned loop thread.
//


class Side
{
public:
	Side(const std::string& name, const std::string& dir, int cpu):
		_identity(Identity::generate())
	{
		onLoop(_thread.loop(), [cpu] { pinThisThread(cpu); return 0; });
		ChatNodeConfig config;
		config.name = name;
		config.listenAddress = Poco::Net::SocketAddress("127.0.0.1", 0);
		config.enableLan = false;
		config.portMapping = false;
		config.databasePath = Poco::Path(dir).append(name + ".db").toString();
		config.transfers.downloadDirectory = Poco::Path(dir).append(name + "-downloads").toString();
		config.transfers.minFreeSpace = 0;
		if (const char* target = std::getenv("TRANSFER_TARGET_MS")) config.transfers.targetDelay = std::chrono::milliseconds(std::atoi(target));
		onLoop(_thread.loop(), [this, config] {
			_node = std::make_unique<ChatNode>(_thread.loop(), _identity, config);
			_node->setTransferHandler([this](const TransferInfo& info, bool) {
				std::lock_guard<std::mutex> lock(_mutex);
				_states[info.id] = info.state;
				if (info.direction == TransferDirection::INCOMING && info.state == TransferState::OFFERED) _offered = info.id;
				if (info.state == TransferState::COMPLETE) _completedAt[info.id] = Clock::now();
				if (info.direction == TransferDirection::INCOMING && info.state == TransferState::COMPLETE) _saved[info.id] = info.localPath;
				_changed.notify_all();
			});
			_node->setMessageHandler([this](const ChatMessage& message) {
				const auto now = Clock::now();
				std::lock_guard<std::mutex> lock(_mutex);
				_arrivals[message.text] = now;
				_changed.notify_all();
			});
			_node->start();
			return 0;
		});
	}

	~Side()
	{
		onLoop(_thread.loop(), [this] {
			_node.reset();
			return 0;
		});
	}

	EventLoop& loop()
	{
		return _thread.loop();
	}

	ChatNode& node()
	{
		return *_node;
	}

	const PeerId& id() const
	{
		return _identity.peerId();
	}

	template <typename Predicate>
	bool waitFor(Predicate predicate, std::chrono::seconds limit = 600s)
	{
		std::unique_lock<std::mutex> lock(_mutex);
		return _changed.wait_for(lock, limit, [&] { return predicate(); });
	}

	std::string offered()
	{
		std::lock_guard<std::mutex> lock(_mutex);
		return _offered;
	}

	TransferState state(const std::string& id)
	{
		auto it = _states.find(id);
		return it == _states.end() ? TransferState::PREPARING : it->second;
	}

	std::mutex _mutex;
	std::condition_variable _changed;
	std::map<std::string, TransferState> _states;
	std::map<std::string, Clock::time_point> _completedAt;
	std::map<std::string, std::string> _saved;
	std::map<std::string, Clock::time_point> _arrivals;
	std::string _offered;

private:
	EventLoopThread _thread;
	Identity _identity;
	std::unique_ptr<ChatNode> _node;
};


struct Pair
{
	Pair(const std::string& dir, const Placement& placement):
		sender("sender", dir, placement.senderCpu),
		receiver("receiver", dir, placement.receiverCpu)
	{
		const std::uint16_t receiverPort = onLoop(receiver.loop(), [this] { return receiver.node().port(); });
		const std::uint16_t senderPort = onLoop(sender.loop(), [this] { return sender.node().port(); });
		onLoop(sender.loop(), [&] {
			sender.node().addPeerAddress(receiver.id(), Poco::Net::SocketAddress("127.0.0.1", receiverPort));
			return 0;
		});
		onLoop(receiver.loop(), [&] {
			receiver.node().addPeerAddress(sender.id(), Poco::Net::SocketAddress("127.0.0.1", senderPort));
			receiver.node().accept(sender.id());
			return 0;
		});
	}

	std::string offer(const std::string& file)
		/// Offers the file and waits until the receiver has the offer.
	{
		const std::string id = onLoop(sender.loop(), [&] { return sender.node().sendFile(receiver.id(), file); });
		receiver.waitFor([&] { return receiver._offered == id; });
		return id;
	}

	Result transfer(const std::string& file, std::uint64_t size)
		/// MB/s from the accept to the receiver's COMPLETE, and the CPU it took.
	{
		const std::string id = offer(file);
		const double cpuStart = cpuSeconds();
		const auto start = Clock::now();
		onLoop(receiver.loop(), [&] { return receiver.node().acceptFile(id); });
		receiver.waitFor([&] { return receiver.state(id) == TransferState::COMPLETE || receiver.state(id) == TransferState::FAILED; });
		if (receiver.state(id) != TransferState::COMPLETE)
		{
			std::fprintf(stderr, "the transfer failed\n");
			std::exit(1);
		}
		const double cpu = cpuSeconds() - cpuStart;
		const double seconds = std::chrono::duration<double>(receiver._completedAt[id] - start).count();
		::unlink(receiver._saved[id].c_str());
		return Result{static_cast<double>(size) / seconds / 1e6, cpu * 1e3 / (static_cast<double>(size) / 1e6)};
	}

	Side sender;
	Side receiver;
};


//
// The baselines: raw OpenSSL TLS 1.3 over blocking sockets, one pinned thread per end.
//


Result rawTransfer(const Identity& serverId, const Identity& clientId, const Placement& placement, std::uint64_t size,
	const std::string& source, const std::string& target)
	/// Memory to memory (source empty) or file to file ("scp-like"); MB/s from the first byte
	/// written to the last one read (and, for a file, written).
{
	std::uint16_t port = 0;
	const int listener = Benchmark::listenTcp(port);
	RawTlsContext serverContext(serverId, true);
	RawTlsContext clientContext(clientId, false);
	std::promise<Clock::time_point> done;
	std::atomic<double> cpuStart{0};
	std::thread server([&] {
		pinThisThread(placement.receiverCpu);
		const int fd = Benchmark::acceptTcp(listener);
		RawTlsConnection connection(serverContext, fd, true);
		if (!connection.handshake()) std::exit(1);
		const int out = target.empty() ? -1 : ::open(target.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		std::vector<char> buffer(CHUNK);
		std::uint64_t received = 0;
		while (received < size)
		{
			const int got = connection.read(buffer.data(), buffer.size());
			if (got <= 0) std::exit(1);
			if (out >= 0 && ::write(out, buffer.data(), static_cast<std::size_t>(got)) != got) std::exit(1);
			received += static_cast<std::uint64_t>(got);
		}
		if (out >= 0)
		{
			::fsync(out);
			::close(out);
		}
		done.set_value(Clock::now());
		connection.writeAll("k", 1);
	});
	Clock::time_point start;
	std::thread client([&] {
		pinThisThread(placement.senderCpu);
		RawTlsConnection connection(clientContext, Benchmark::connectTcp(port), false);
		if (!connection.handshake()) std::exit(1);
		const int in = source.empty() ? -1 : ::open(source.c_str(), O_RDONLY | O_CLOEXEC);
		std::vector<char> buffer(CHUNK, 'x');
		cpuStart = cpuSeconds();
		start = Clock::now();
		for (std::uint64_t sent = 0; sent < size;)
		{
			std::size_t piece = static_cast<std::size_t>(std::min<std::uint64_t>(CHUNK, size - sent));
			if (in >= 0)
			{
				const ssize_t got = ::read(in, buffer.data(), piece);
				if (got <= 0) std::exit(1);
				piece = static_cast<std::size_t>(got);
			}
			if (!connection.writeAll(buffer.data(), piece)) std::exit(1);
			sent += piece;
		}
		if (in >= 0) ::close(in);
		char ack;
		connection.read(&ack, 1);
	});
	client.join();
	server.join();
	const double cpu = cpuSeconds() - cpuStart;
	::close(listener);
	const Clock::time_point end = done.get_future().get();
	if (!target.empty()) ::unlink(target.c_str());
	return Result{static_cast<double>(size) / std::chrono::duration<double>(end - start).count() / 1e6,
		cpu * 1e3 / (static_cast<double>(size) / 1e6)};
}


void measureThroughput(const Options& options, const Placement& placement, const std::string& file, std::uint64_t size)
{
	const Identity serverId = Identity::generate();
	const Identity clientId = Identity::generate();
	const std::string target = Poco::Path(options.dir).append("crosschat-bench-copy").toString();
	std::map<std::string, std::vector<double>> rates;
	std::map<std::string, std::vector<double>> cpus;
	auto keep = [&](const char* name, const Result& result) {
		rates[name].push_back(result.rate);
		cpus[name].push_back(result.cpuPerMb);
	};
	for (int round = 0; round < options.rounds; ++round)
	{
		if (options.impl.empty() || options.impl == "raw") keep("raw", rawTransfer(serverId, clientId, placement, size, "", ""));
		if (options.impl.empty() || options.impl == "scp") keep("scp", rawTransfer(serverId, clientId, placement, size, file, target));
		if (options.impl.empty() || options.impl == "ours")
		{
			const std::string work = Poco::Path(options.dir).append("crosschat-bench-" + std::to_string(::getpid()) + "-" + std::to_string(round)).toString();
			Poco::File(work).createDirectories();
			{
				Pair pair(work, placement);
				keep("ours", pair.transfer(file, size));
			}
			Poco::File(work).remove(true);
		}
	}
	std::printf("  %-42s %8s %14s %10s\n", "", "MB/s", "CPU ms per MB", "ours/this");
	for (const std::string name: {"ours", "raw", "scp"})
	{
		if (!rates.count(name)) continue;
		const char* label = name == "ours" ? "file transfer (ours)" : name == "raw" ? "raw OpenSSL TLS bulk, memory to memory"
			: "scp-like copy over raw TLS, file to file";
		const double ratio = rates.count("ours") ? median(rates["ours"]) / median(rates[name]) : 0;
		std::printf("  %-42s %8.0f %14.2f %10.2f\n", label, median(rates[name]), median(cpus[name]), ratio);
	}
}


struct Latencies
{
	std::vector<double> forward;    ///< Sender to receiver, ms (with the file data).
	std::vector<double> backward;   ///< Receiver to sender, ms (against it).
	int sent = 0;                   ///< Each way.
};


std::map<std::string, Clock::time_point> sendProbes(Pair& pair, int messages, const std::function<bool()>& running)
	/// A message each way every 10 ms, while running() holds, at most messages each way.
{
	std::map<std::string, Clock::time_point> sentAt;
	for (int i = 0; i < messages && running(); ++i)
	{
		const std::string forward = "f" + std::to_string(i);
		const std::string backward = "b" + std::to_string(i);
		sentAt[forward] = Clock::now();
		pair.sender.loop().post([&pair, forward] { pair.sender.node().send(pair.receiver.id(), forward); });
		sentAt[backward] = Clock::now();
		pair.receiver.loop().post([&pair, backward] { pair.receiver.node().send(pair.sender.id(), backward); });
		std::this_thread::sleep_for(10ms);
	}
	return sentAt;
}


Latencies collect(Pair& pair, const std::map<std::string, Clock::time_point>& sentAt)
	/// One-way delays (both nodes share this process's clock); a message that has not arrived
	/// is left out and shows in the count.
{
	Latencies result;
	for (const auto& entry: sentAt)
	{
		const bool forward = entry.first[0] == 'f';
		if (forward) ++result.sent;
		Side& side = forward ? pair.receiver : pair.sender;
		std::lock_guard<std::mutex> lock(side._mutex);
		auto it = side._arrivals.find(entry.first);
		if (it == side._arrivals.end()) continue;
		(forward ? result.forward : result.backward).push_back(std::chrono::duration<double, std::milli>(it->second - entry.second).count());
	}
	for (const auto& entry: sentAt)
	{
		std::lock_guard<std::mutex> lock((entry.first[0] == 'f' ? pair.receiver : pair.sender)._mutex);
		(entry.first[0] == 'f' ? pair.receiver : pair.sender)._arrivals.erase(entry.first);
	}
	return result;
}


void printLatency(const char* label, const std::vector<double>& idle, const std::vector<double>& busy, int sent)
{
	std::printf("  %-30s idle p50 %6.2f p99 %6.2f max %6.2f | during p50 %6.2f p99 %6.2f max %6.2f ms (%zu/%d arrived)\n", label,
		percentile(idle, 0.5), percentile(idle, 0.99), percentile(idle, 1.0), percentile(busy, 0.5), percentile(busy, 0.99),
		percentile(busy, 1.0), busy.size(), sent);
}


void measureLatency(const Options& options, const Placement& placement, const std::string& file, std::uint64_t size)
{
	const std::string work = Poco::Path(options.dir).append("crosschat-bench-latency-" + std::to_string(::getpid())).toString();
	Poco::File(work).createDirectories();
	{
		Pair pair(work, placement);
		const int messages = options.quick ? 50 : 200;
		// A session first, then the idle measurement.
		onLoop(pair.sender.loop(), [&] { return pair.sender.node().send(pair.receiver.id(), "hello"); });
		pair.receiver.waitFor([&] { return pair.receiver._arrivals.count("hello") > 0; });
		const auto idleProbes = sendProbes(pair, messages, [] { return true; });
		std::this_thread::sleep_for(500ms);
		const Latencies idle = collect(pair, idleProbes);
		// The same during the transfer.
		const std::string id = pair.offer(file);
		onLoop(pair.receiver.loop(), [&] { return pair.receiver.node().acceptFile(id); });
		std::this_thread::sleep_for(200ms);   // the window has opened
		const auto busyProbes = sendProbes(pair, messages, [&] {
			std::lock_guard<std::mutex> lock(pair.receiver._mutex);
			return pair.receiver.state(id) == TransferState::TRANSFERRING;
		});
		pair.receiver.waitFor([&] { return pair.receiver.state(id) == TransferState::COMPLETE; });
		std::this_thread::sleep_for(500ms);
		const Latencies busy = collect(pair, busyProbes);
		char label[64];
		std::snprintf(label, sizeof(label), "chat during %llu MiB, with the data", static_cast<unsigned long long>(size >> 20));
		printLatency(label, idle.forward, busy.forward, busy.sent);
		printLatency("  against the data", idle.backward, busy.backward, busy.sent);
		::unlink(pair.receiver._saved[id].c_str());
	}
	Poco::File(work).remove(true);
}


} // namespace


int main(int argc, char** argv)
{
	Options options;
	for (int i = 1; i < argc; ++i)
	{
		const std::string arg = argv[i];
		if (arg == "--quick")
			options.quick = true;
		else if (arg == "--size" && i + 1 < argc)
			options.sizeMiB = std::max<std::uint64_t>(1, std::strtoull(argv[++i], nullptr, 10));
		else if (arg == "--rounds" && i + 1 < argc)
			options.rounds = std::max(1, std::atoi(argv[++i]));
		else if (arg == "--dir" && i + 1 < argc)
			options.dir = argv[++i];
		else if (arg == "--placement" && i + 1 < argc)
			options.placement = argv[++i];
		else if (arg == "--only" && i + 1 < argc)
			options.only = argv[++i];
		else if (arg == "--impl" && i + 1 < argc)
			options.impl = argv[++i];
		else
		{
			std::fprintf(stderr, "usage: %s [--quick] [--size MIB] [--rounds N] [--dir DIR] [--placement one|across] "
				"[--only throughput|latency] [--impl ours|raw|scp]\n", argv[0]);
			return 2;
		}
	}
	if (options.quick)
	{
		options.rounds = 1;
		options.sizeMiB = std::min<std::uint64_t>(options.sizeMiB, 64);
	}
	Poco::Logger::root().setLevel("warning");
	const std::uint64_t size = options.sizeMiB << 20;
	const std::string file = Poco::Path(options.dir).append("crosschat-bench-" + std::to_string(::getpid()) + ".bin").toString();
	writeRandomFile(file, size);
	const long cpus = ::sysconf(_SC_NPROCESSORS_ONLN);
	std::vector<Placement> placements;
	if (options.placement.empty() || options.placement == "one") placements.push_back({"one CPU (sender and receiver on CPU 0)", 0, 0});
	if ((options.placement.empty() || options.placement == "across") && cpus >= 2)
		placements.push_back({"across CPUs (sender on CPU 0, receiver on CPU 1)", 0, 1});
	std::printf("Transfer-benchmark: %llu MiB in %s, medians of %d round(s)\n", static_cast<unsigned long long>(options.sizeMiB),
		options.dir.c_str(), options.rounds);
	for (const Placement& placement: placements)
	{
		std::printf("\n%s\n", placement.name);
		if (options.only.empty() || options.only == "throughput") measureThroughput(options, placement, file, size);
		if (options.only.empty() || options.only == "latency") measureLatency(options, placement, file, size);
	}
	::unlink(file.c_str());
	std::printf("\nratio: ours / baseline (1 = as fast)\n");
	return 0;
}
