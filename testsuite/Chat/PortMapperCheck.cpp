//
// PortMapperCheck.cpp
//
// testsuite: PortMapper-check, a probe for the network lab (testsuite/netlab/portmap_check.py).
// Listens on a TCP port, maps it with PortMapper and prints JSON lines:
//
//     {"event":"listening","port":N}
//     {"event":"mapping","active":true,"protocol":"natpmp","external":"11.0.0.1:40000","lease":7200,"error":""}
//     {"event":"removed","ms":12}          (after a line or EOF on stdin: stop and destroy the mapper)
//
// Usage: PortMapper-check [--port N] [--protocol any|natpmp|upnp] [--timeout-ms MS]
//                         [--lease S] [--wait-ms MS]
// --wait-ms bounds the wait for the first report (default 10000). Exit code 0 if a mapping
// became active, 1 if not (the error is in the mapping event), 2 on a usage error.
//
// The loop runs on an EventLoopThread; the main thread reads stdin and posts to it.
//


#include "CrossChat/Chat/PortMapper.h"
#include "CrossChat/EventLoopThread.h"
#include "Poco/Exception.h"
#include "Poco/JSON/Object.h"
#include "Poco/Net/ServerSocket.h"
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>


using namespace CrossChat;
using namespace CrossChat::Chat;


namespace {


struct Options
{
	std::uint16_t port = 0;
	std::string protocol = "any";
	long timeoutMs = 2000;
	long leaseS = 0;
	long waitMs = 10000;
};


void printJson(const Poco::JSON::Object& object)
{
	std::ostringstream out;
	object.stringify(out);
	std::cout << out.str() << std::endl;
}


bool parse(int argc, char** argv, Options& options)
{
	for (int i = 1; i < argc; ++i)
	{
		const std::string arg = argv[i];
		if (i + 1 >= argc) return false;
		const std::string value = argv[++i];
		if (arg == "--port") options.port = static_cast<std::uint16_t>(std::stoul(value));
		else if (arg == "--protocol") options.protocol = value;
		else if (arg == "--timeout-ms") options.timeoutMs = std::stol(value);
		else if (arg == "--lease") options.leaseS = std::stol(value);
		else if (arg == "--wait-ms") options.waitMs = std::stol(value);
		else return false;
	}
	return options.protocol == "any" || options.protocol == "natpmp" || options.protocol == "upnp";
}


template <typename F>
void runOnLoop(EventLoop& loop, F&& task)
	/// Runs task on the loop thread and waits for it.
{
	std::mutex mutex;
	std::condition_variable done;
	bool finished = false;
	loop.post([&]
	{
		task();
		std::lock_guard<std::mutex> lock(mutex);
		finished = true;
		done.notify_all();
	});
	std::unique_lock<std::mutex> lock(mutex);
	done.wait(lock, [&] { return finished; });
}


} // namespace


int main(int argc, char** argv)
{
	Options options;
	try
	{
		if (!parse(argc, argv, options))
		{
			std::cerr << "usage: PortMapper-check [--port N] [--protocol any|natpmp|upnp] [--timeout-ms MS] [--lease S] [--wait-ms MS]\n";
			return 2;
		}
	}
	catch (const std::exception&)
	{
		std::cerr << "PortMapper-check: bad number\n";
		return 2;
	}

	try
	{
		Poco::Net::ServerSocket listener(Poco::Net::SocketAddress("0.0.0.0", options.port));
		const std::uint16_t port = listener.address().port();
		Poco::JSON::Object listening;
		listening.set("event", "listening");
		listening.set("port", port);
		printJson(listening);

		PortMapperConfig config;
		config.internalPort = port;
		config.discoveryTimeout = std::chrono::milliseconds(options.timeoutMs);
		config.enableNatPmp = options.protocol != "upnp";
		config.enableUpnp = options.protocol != "natpmp";
		if (options.leaseS > 0)
		{
			config.natPmpLease = std::chrono::seconds(options.leaseS);
			config.upnpLease = std::chrono::seconds(options.leaseS);
		}

		EventLoopThread loopThread("portmap-loop");
		EventLoop& loop = loopThread.loop();
		std::unique_ptr<PortMapper> pMapper;
		std::mutex mutex;
		std::condition_variable reported;
		bool haveReport = false;
		bool active = false;

		runOnLoop(loop, [&]
		{
			pMapper = std::make_unique<PortMapper>(loop, config);
			pMapper->setHandler([&](const PortMapping& mapping)
			{
				Poco::JSON::Object event;
				event.set("event", "mapping");
				event.set("active", mapping.active);
				event.set("protocol", mapping.protocol);
				event.set("external", mapping.active ? mapping.external.toString() : std::string());
				event.set("lease", static_cast<Poco::Int64>(mapping.lease.count()));
				event.set("error", mapping.error);
				printJson(event);
				std::lock_guard<std::mutex> lock(mutex);
				haveReport = true;
				active = active || mapping.active;
				reported.notify_all();
			});
			pMapper->start();
		});

		{
			std::unique_lock<std::mutex> lock(mutex);
			reported.wait_for(lock, std::chrono::milliseconds(options.waitMs), [&] { return haveReport; });
		}
		bool mapped = false;
		{
			std::lock_guard<std::mutex> lock(mutex);
			mapped = active;
			if (!haveReport) std::cerr << "PortMapper-check: no report within " << options.waitMs << " ms\n";
		}
		if (mapped)
		{
			std::string line;
			std::getline(std::cin, line);   // hold the mapping until told (or EOF)
		}

		const auto started = std::chrono::steady_clock::now();
		runOnLoop(loop, [&] { pMapper.reset(); });
		const auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
		Poco::JSON::Object removed;
		removed.set("event", "removed");
		removed.set("ms", static_cast<Poco::Int64>(elapsed.count()));
		printJson(removed);
		loopThread.stop();
		return mapped ? 0 : 1;
	}
	catch (const Poco::Exception& exc)
	{
		std::cerr << "PortMapper-check: " << exc.displayText() << "\n";
		return 2;
	}
}
