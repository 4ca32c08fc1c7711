//
// PortMapper.cpp
//
// Library: Chat
// NAT-PMP (libnatpmp) and UPnP IGD (miniupnpc) port mapping on a private worker thread.
//


#include "CrossChat/Chat/PortMapper.h"
#include "Poco/Exception.h"
#include "Poco/Logger.h"
#include <miniupnpc/miniupnpc.h>
#include <miniupnpc/upnpcommands.h>
#include <miniupnpc/upnperrors.h>
#include <natpmp.h>
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>
#include <poll.h>
#include <pthread.h>


namespace CrossChat {
namespace Chat {


namespace {


using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;


const std::string NO_GATEWAY = "no UPnP or NAT-PMP gateway found";

/// readnatpmpresponseorretry() codes of our own (libnatpmp's are > -100 or == NATPMP_TRYAGAIN).
constexpr int NATPMP_OUR_TIMEOUT = -1000;
constexpr int NATPMP_OUR_CANCELLED = -1001;

/// UPnP error 725: the gateway supports only permanent mappings.
constexpr int UPNP_ONLY_PERMANENT_LEASES = 725;


Poco::Logger& logger()
{
	return Poco::Logger::get("CrossChat.Chat.PortMapper");
}


std::string natPmpError(int code)
{
	switch (code)
	{
	case NATPMP_OUR_TIMEOUT:            return "no answer";
	case NATPMP_OUR_CANCELLED:          return "cancelled";
	case NATPMP_ERR_CANNOTGETGATEWAY:   return "no default gateway";
	case NATPMP_ERR_NOGATEWAYSUPPORT:   return "the gateway does not support NAT-PMP";
	case NATPMP_ERR_SOCKETERROR:        return "socket error";
	case NATPMP_ERR_CONNECTERR:         return "connect error";
	case NATPMP_ERR_SENDERR:            return "send error";
	case NATPMP_ERR_RECVFROM:           return "receive error";
	case NATPMP_ERR_WRONGPACKETSOURCE:  return "answer from a wrong source";
	case NATPMP_ERR_UNSUPPORTEDVERSION: return "unsupported version";
	case NATPMP_ERR_UNSUPPORTEDOPCODE:  return "unsupported opcode";
	case NATPMP_ERR_NOTAUTHORIZED:      return "not authorized (refused)";
	case NATPMP_ERR_NETWORKFAILURE:     return "the gateway has no public address";
	case NATPMP_ERR_OUTOFRESOURCES:     return "the gateway is out of resources";
	case NATPMP_ERR_UNDEFINEDERROR:     return "undefined error";
	default:                            return "error " + std::to_string(code);
	}
}


bool natPmpGatewayAnswered(int code)
	/// True if the code proves that a NAT-PMP server answered (even with a refusal).
{
	return code == 0 || code == NATPMP_ERR_NOTAUTHORIZED || code == NATPMP_ERR_NETWORKFAILURE ||
		code == NATPMP_ERR_OUTOFRESOURCES || code == NATPMP_ERR_UNDEFINEDERROR ||
		code == NATPMP_ERR_UNSUPPORTEDOPCODE;
}


std::string upnpError(int code)
{
	const char* text = strupnperror(code);
	return std::to_string(code) + (text ? std::string(" ") + text : std::string());
}


class NatPmpHandle
	/// RAII owner of a libnatpmp session (one UDP socket connected to the gateway).
{
public:
	NatPmpHandle() = default;

	~NatPmpHandle()
	{
		if (_open) closenatpmp(&_natpmp);
	}

	NatPmpHandle(const NatPmpHandle&) = delete;
	NatPmpHandle& operator=(const NatPmpHandle&) = delete;

	int open(bool forceGateway, in_addr_t gateway)
	{
		std::memset(&_natpmp, 0, sizeof(_natpmp));
		const int rc = initnatpmp(&_natpmp, forceGateway ? 1 : 0, gateway);
		_open = rc == 0;
		return rc;
	}

	natpmp_t& get()
	{
		return _natpmp;
	}

private:
	natpmp_t _natpmp;
	bool _open = false;
};


class UpnpUrlsHandle
	/// RAII owner of the URLs miniupnpc allocates for an IGD.
{
public:
	UpnpUrlsHandle()
	{
		std::memset(&_urls, 0, sizeof(_urls));
	}

	~UpnpUrlsHandle()
	{
		FreeUPNPUrls(&_urls);
	}

	UpnpUrlsHandle(const UpnpUrlsHandle&) = delete;
	UpnpUrlsHandle& operator=(const UpnpUrlsHandle&) = delete;

	UPNPUrls* get()
	{
		return &_urls;
	}

private:
	UPNPUrls _urls;
};


} // namespace


struct PortMapper::Result
	/// One worker outcome, posted to the loop.
{
	unsigned generation = 0;
	PortMapping mapping;
};


class PortMapper::Worker
	/// The worker thread and everything it touches. Commands are queued by the loop thread;
	/// the thread runs them one at a time and hands results to the sink, which posts them to
	/// the loop. detachSink() (under the mutex) guarantees the sink is never called again,
	/// so the thread may outlive the PortMapper (it holds a shared_ptr to this object).
	///
	/// Thread rules: submit(), setGeneration(), detachSink() and shutdown() are called from
	/// the loop thread; everything else runs on the worker thread. The mapping state
	/// (_method and the gateway details) belongs to the worker thread alone.
{
public:
	enum class Command
	{
		MAP,     ///< Discover a gateway and map (NAT-PMP, then UPnP).
		RENEW,   ///< Refresh the current mapping with the same gateway.
		REMOVE   ///< Delete the current mapping, bounded by stopTimeout. Never cancelled.
	};

	using Sink = std::function<void(const Result& result)>;

	Worker(const PortMapperConfig& config, Sink sink):
		_config(config),
		_sink(std::move(sink))
	{
	}

	void startThread(const std::shared_ptr<Worker>& self)
	{
		_thread = std::thread([self] { self->run(); });
	}

	void setGeneration(unsigned generation)
	{
		_generation.store(generation);
	}

	void submit(Command command, unsigned generation)
	{
		{
			std::lock_guard<std::mutex> lock(_mutex);
			_queue.emplace_back(command, generation);
		}
		_wake.notify_all();
	}

	void detachSink()
	{
		std::lock_guard<std::mutex> lock(_mutex);
		_sink = nullptr;
	}

	void shutdown(milliseconds idleBound, milliseconds bound)
		/// Asks the thread to delete the mapping and exit; joins it if it finishes in time,
		/// else detaches it (it then ends on its own, without calling the sink). "In time" is
		/// idleBound if no mapping was ever requested from a gateway (nothing to remove: the
		/// thread can only be waiting for a discovery, whose result no longer matters), else
		/// bound. Once _quit is set no new request can start (see beginRequest()), so a
		/// thread found holding no mapping after idleBound never will.
	{
		_generation.fetch_add(1);   // cancels a NAT-PMP wait in progress
		std::unique_lock<std::mutex> lock(_mutex);
		_quit = true;
		_sink = nullptr;
		_wake.notify_all();
		const auto started = Clock::now();
		bool finished = _wake.wait_for(lock, std::min(idleBound, bound), [this] { return _finished; });
		if (!finished && _mappingRequested)
			finished = _wake.wait_until(lock, started + bound, [this] { return _finished; });
		const bool mappingLeft = _mappingRequested;
		lock.unlock();
		if (!_thread.joinable()) return;
		if (finished)
		{
			_thread.join();
		}
		else if (mappingLeft)
		{
			logger().warning("the gateway did not confirm the removal of the port mapping within %s ms; "
				"it expires with its lease", std::to_string(bound.count()));
			_thread.detach();
		}
		else
		{
			logger().debug("no port mapping to remove; the gateway discovery in progress is left to end on its own");
			_thread.detach();
		}
	}

private:
	struct Attempt
	{
		bool gatewayFound = false;
		PortMapping mapping;
	};

	enum class Method
	{
		NONE,
		NATPMP,
		UPNP
	};

	void run()
	{
		pthread_setname_np(pthread_self(), "PortMapper");
		for (;;)
		{
			Command command;
			unsigned generation;
			{
				std::unique_lock<std::mutex> lock(_mutex);
				_wake.wait(lock, [this] { return _quit || !_queue.empty(); });
				if (_quit) break;
				std::tie(command, generation) = _queue.front();
				_queue.pop_front();
			}
			if (command != Command::REMOVE && generation != _generation.load()) continue;  // stale
			try
			{
				execute(command, generation);
			}
			catch (const Poco::Exception& exc)
			{
				logger().error("port mapper: %s", exc.displayText());
			}
			catch (const std::exception& exc)
			{
				logger().error("port mapper: %s", std::string(exc.what()));
			}
		}
		try
		{
			remove();
		}
		catch (...)
		{
			// The process is shutting down the mapper; nothing left to report to.
		}
		{
			std::lock_guard<std::mutex> lock(_mutex);
			_finished = true;
		}
		_wake.notify_all();
	}

	void execute(Command command, unsigned generation)
	{
		switch (command)
		{
		case Command::MAP:
			deliver(generation, map(generation));
			break;
		case Command::RENEW:
			deliver(generation, renew(generation));
			break;
		case Command::REMOVE:
			remove();
			break;
		}
	}

	void deliver(unsigned generation, const PortMapping& mapping)
	{
		std::lock_guard<std::mutex> lock(_mutex);
		if (_sink) _sink(Result{generation, mapping});
	}

	bool cancelled(unsigned generation) const
	{
		return generation != _generation.load();
	}

	bool beginRequest(unsigned generation, Method method)
		/// Called right before a mapping request goes to a gateway: from then on a mapping may
		/// exist there, and shutdown() waits (bounded) for its removal. False, and nothing
		/// may be sent, once the mapper is stopping or the command is stale.
	{
		std::lock_guard<std::mutex> lock(_mutex);
		if (_quit || cancelled(generation)) return false;
		_mappingRequested = true;
		_requested = method;
		return true;
	}

	void endRequest()
		/// No mapping of ours exists at the gateway (removed, or the request was refused).
	{
		std::lock_guard<std::mutex> lock(_mutex);
		_mappingRequested = false;
		_requested = Method::NONE;
	}

	PortMapping map(unsigned generation)
	{
		std::vector<std::string> errors;
		if (_config.enableNatPmp)
		{
			Attempt attempt = natPmpMap(generation, 0);
			if (attempt.mapping.active) return attempt.mapping;
			if (attempt.gatewayFound) errors.push_back(attempt.mapping.error);
			if (!cancelled(generation)) logger().debug(attempt.mapping.error);   // says "NAT-PMP: ..."
		}
		if (_config.enableUpnp && !cancelled(generation))
		{
			Attempt attempt = upnpMap(generation, false);
			if (attempt.mapping.active) return attempt.mapping;
			if (attempt.gatewayFound) errors.push_back(attempt.mapping.error);
			if (!cancelled(generation)) logger().debug(attempt.mapping.error);   // says "UPnP: ..."
		}
		PortMapping failed;
		if (!_config.enableNatPmp && !_config.enableUpnp)
		{
			failed.error = "port mapping disabled (neither NAT-PMP nor UPnP enabled)";
		}
		else if (errors.empty())
		{
			failed.error = NO_GATEWAY;
		}
		else
		{
			for (const std::string& error : errors)
				failed.error += (failed.error.empty() ? "" : "; ") + error;
		}
		return failed;
	}

	PortMapping renew(unsigned generation)
	{
		Attempt attempt;
		switch (_method)
		{
		case Method::NATPMP:
			attempt = natPmpMap(generation, _externalPort);
			break;
		case Method::UPNP:
			attempt = upnpMap(generation, true);
			break;
		case Method::NONE:
			return map(generation);
		}
		if (!attempt.mapping.active)
			attempt.mapping.error = "renewal failed: " + attempt.mapping.error;
		return attempt.mapping;
	}

	// NAT-PMP --------------------------------------------------------------------------------

	int natPmpExchange(natpmp_t& natpmp, natpmpresp_t& response, Clock::time_point deadline,
		unsigned generation, bool cancellable)
		/// Waits for the answer to the pending request, letting libnatpmp resend it on its
		/// schedule, until deadline. Returns 0 or a libnatpmp / NATPMP_OUR_* error code.
	{
		for (int round = 0; round < 100000; ++round)
		{
			const int rc = readnatpmpresponseorretry(&natpmp, &response);
			if (rc != NATPMP_TRYAGAIN) return rc;
			const Clock::time_point now = Clock::now();
			if (now >= deadline) return NATPMP_OUR_TIMEOUT;
			if (cancellable && cancelled(generation)) return NATPMP_OUR_CANCELLED;
			milliseconds wait = std::chrono::duration_cast<milliseconds>(deadline - now) + milliseconds(1);
			timeval retry{};
			if (getnatpmprequesttimeout(&natpmp, &retry) == 0)
			{
				const milliseconds untilRetry(static_cast<long long>(retry.tv_sec) * 1000 + retry.tv_usec / 1000);
				wait = std::min(wait, std::max(untilRetry, milliseconds(1)));
			}
			wait = std::min(wait, milliseconds(100));   // notices cancellation quickly
			pollfd fd{natpmp.s, POLLIN, 0};
			::poll(&fd, 1, static_cast<int>(wait.count()));
		}
		return NATPMP_OUR_TIMEOUT;
	}

	bool natPmpGateway(bool& force, in_addr_t& gateway) const
	{
		force = !_config.natPmpGateway.isWildcard();
		gateway = 0;
		if (!force) return true;
		if (_config.natPmpGateway.family() != Poco::Net::IPAddress::IPv4) return false;
		std::memcpy(&gateway, _config.natPmpGateway.addr(), sizeof(gateway));
		return true;
	}

	Attempt natPmpMap(unsigned generation, std::uint16_t suggestedPort)
	{
		Attempt attempt;
		bool force = false;
		in_addr_t gateway = 0;
		if (_method == Method::NATPMP)
		{
			force = true;
			gateway = _natPmpGatewayUsed;
		}
		else if (!natPmpGateway(force, gateway))
		{
			attempt.mapping.error = "NAT-PMP: the gateway must be an IPv4 address";
			return attempt;
		}
		NatPmpHandle handle;
		int rc = handle.open(force, gateway);
		if (rc != 0)
		{
			attempt.mapping.error = "NAT-PMP: " + natPmpError(rc);
			return attempt;
		}
		natpmp_t& natpmp = handle.get();
		const Clock::time_point deadline = Clock::now() + _config.discoveryTimeout;

		natpmpresp_t response;
		std::memset(&response, 0, sizeof(response));
		rc = sendpublicaddressrequest(&natpmp);
		if (rc >= 0) rc = natPmpExchange(natpmp, response, deadline, generation, true);
		attempt.gatewayFound = natPmpGatewayAnswered(rc);
		if (rc != 0 || response.type != NATPMP_RESPTYPE_PUBLICADDRESS)
		{
			attempt.mapping.error = "NAT-PMP: " + (rc != 0 ? natPmpError(rc) : std::string("unexpected answer"));
			if (_method == Method::NATPMP) _method = Method::NONE;
			return attempt;
		}
		in_addr publicAddress = response.pnu.publicaddress.addr;

		const auto lease = static_cast<std::uint32_t>(std::max<seconds::rep>(_config.natPmpLease.count(), 1));
		std::memset(&response, 0, sizeof(response));
		const bool hadMapping = _method == Method::NATPMP;
		if (!beginRequest(generation, Method::NATPMP))
		{
			attempt.mapping.error = "NAT-PMP: " + natPmpError(NATPMP_OUR_CANCELLED);
			return attempt;
		}
		_natPmpGatewayUsed = natpmp.gateway;
		rc = sendnewportmappingrequest(&natpmp, NATPMP_PROTOCOL_TCP, _config.internalPort, suggestedPort ? suggestedPort : _config.internalPort, lease);
		if (rc >= 0) rc = natPmpExchange(natpmp, response, deadline, generation, true);
		if (rc != 0 || response.type != NATPMP_RESPTYPE_TCPPORTMAPPING ||
			response.pnu.newportmapping.mappedpublicport == 0 || response.pnu.newportmapping.lifetime == 0)
		{
			attempt.mapping.error = "NAT-PMP: mapping failed: " + (rc != 0 ? natPmpError(rc) : std::string("unexpected answer"));
			if (_method == Method::NATPMP) _method = Method::NONE;
			// A refusal proves no mapping of ours exists; without an answer one may (a lost reply).
			if (!hadMapping && natPmpGatewayAnswered(rc)) endRequest();
			return attempt;
		}
		_method = Method::NATPMP;
		_natPmpGatewayUsed = natpmp.gateway;
		_externalPort = response.pnu.newportmapping.mappedpublicport;

		attempt.mapping.active = true;
		attempt.mapping.protocol = "natpmp";
		attempt.mapping.external = Poco::Net::SocketAddress(
			Poco::Net::IPAddress(&publicAddress, sizeof(publicAddress)), _externalPort);
		attempt.mapping.lease = seconds(response.pnu.newportmapping.lifetime);
		return attempt;
	}

	void natPmpRemove(Clock::time_point deadline)
		/// Deletes our mapping at _natPmpGatewayUsed.
	{
		NatPmpHandle handle;
		if (handle.open(true, _natPmpGatewayUsed) != 0) return;
		natpmpresp_t response;
		std::memset(&response, 0, sizeof(response));
		// RFC 6886 3.4: lifetime 0 and suggested external port 0 delete the mapping.
		int rc = sendnewportmappingrequest(&handle.get(), NATPMP_PROTOCOL_TCP, _config.internalPort, 0, 0);
		if (rc >= 0) rc = natPmpExchange(handle.get(), response, deadline, 0, false);
		if (rc != 0)
			logger().warning("NAT-PMP: removing the mapping failed: %s", natPmpError(rc));
	}

	// UPnP IGD -------------------------------------------------------------------------------

	bool upnpFindIgd(UPNPUrls* pUrls, IGDdatas& data, char* lanAddress, int lanAddressSize, std::string& error)
	{
		if (!_config.upnpRootDescUrl.empty())
		{
			if (UPNP_GetIGDFromUrl(_config.upnpRootDescUrl.c_str(), pUrls, &data, lanAddress, lanAddressSize) == 1)
				return true;
			error = "UPnP: no IGD at " + _config.upnpRootDescUrl;
			return false;
		}
		int discoverError = 0;
		const int delay = static_cast<int>(std::max<milliseconds::rep>(_config.discoveryTimeout.count(), 100));
		// The IGD types upnpDiscover() searches, but all sent at once (searchalltypes): one
		// discovery timeout in total instead of one per type (8 s with no gateway).
		static const char* const DEVICE_TYPES[] = {
			"urn:schemas-upnp-org:device:InternetGatewayDevice:1",
			"urn:schemas-upnp-org:service:WANIPConnection:1",
			"urn:schemas-upnp-org:service:WANPPPConnection:1",
			"upnp:rootdevice",
			nullptr
		};
		UPNPDev* pDevices = upnpDiscoverDevices(DEVICE_TYPES, delay,
			_config.upnpMulticastInterface.empty() ? nullptr : _config.upnpMulticastInterface.c_str(),
			_config.minissdpdSocket.empty() ? nullptr : _config.minissdpdSocket.c_str(),
			UPNP_LOCAL_PORT_ANY, 0, 2, &discoverError, 1);
		if (!pDevices)
		{
			error = "UPnP: no device answered the discovery";
			return false;
		}
#if MINIUPNPC_API_VERSION >= 18
		char wanAddress[64] = {};
		const int igd = UPNP_GetValidIGD(pDevices, pUrls, &data, lanAddress, lanAddressSize, wanAddress, sizeof(wanAddress));
		// 1: connected IGD, 2: connected IGD with a reserved WAN address, 3: not connected, 4: not an IGD.
		const bool usable = igd == 1 || igd == 2;
#else
		const int igd = UPNP_GetValidIGD(pDevices, pUrls, &data, lanAddress, lanAddressSize);
		// 1: connected IGD, 2: IGD reported not connected (may still map), 3: not an IGD.
		const bool usable = igd == 1 || igd == 2;
#endif
		freeUPNPDevlist(pDevices);
		if (!usable)
		{
			error = "UPnP: no internet gateway device found";
			return false;
		}
		return true;
	}

	Attempt upnpMap(unsigned generation, bool renewal)
	{
		Attempt attempt;
		if (!renewal || _method != Method::UPNP)
		{
			UpnpUrlsHandle urls;
			IGDdatas data;
			std::memset(&data, 0, sizeof(data));
			char lanAddress[64] = {};
			std::string error;
			if (!upnpFindIgd(urls.get(), data, lanAddress, sizeof(lanAddress), error))
			{
				attempt.mapping.error = error;
				return attempt;
			}
			if (!urls.get()->controlURL || !*urls.get()->controlURL)
			{
				attempt.mapping.error = "UPnP: the IGD has no control URL";
				return attempt;
			}
			_controlUrl = urls.get()->controlURL;
			_serviceType = data.first.servicetype;
			_lanAddress = lanAddress;
		}
		attempt.gatewayFound = true;
		if (cancelled(generation))
		{
			attempt.mapping.error = "UPnP: cancelled";
			return attempt;
		}

		char externalAddress[40] = {};
		int rc = UPNP_GetExternalIPAddress(_controlUrl.c_str(), _serviceType.c_str(), externalAddress);
		Poco::Net::IPAddress external;
		if (rc != UPNPCOMMAND_SUCCESS || !Poco::Net::IPAddress::tryParse(externalAddress, external))
		{
			attempt.mapping.error = "UPnP: GetExternalIPAddress failed: " + upnpError(rc);
			if (_method == Method::UPNP) _method = Method::NONE;
			return attempt;
		}

		const std::uint16_t externalPort = _method == Method::UPNP ? _externalPort : _config.internalPort;
		const std::string externalPortText = std::to_string(externalPort);
		const std::string internalPortText = std::to_string(_config.internalPort);
		seconds lease = _leaseGranted;
		if (_method != Method::UPNP) lease = std::max(_config.upnpLease, seconds(0));
		const bool hadMapping = _method == Method::UPNP;
		if (!beginRequest(generation, Method::UPNP))
		{
			attempt.mapping.error = "UPnP: cancelled";
			return attempt;
		}
		_requestedExternalPort = externalPort;
		rc = upnpAdd(externalPortText, internalPortText, lease);
		if (rc == UPNP_ONLY_PERMANENT_LEASES && lease.count() != 0)
		{
			lease = seconds(0);
			rc = upnpAdd(externalPortText, internalPortText, lease);
		}
		if (rc != UPNPCOMMAND_SUCCESS)
		{
			attempt.mapping.error = "UPnP: AddPortMapping failed: " + upnpError(rc);
			if (_method == Method::UPNP) _method = Method::NONE;
			if (!hadMapping && rc > 0) endRequest();   // a UPnP error code: the gateway refused
			return attempt;
		}
		_method = Method::UPNP;
		_externalPort = externalPort;
		_leaseGranted = lease;

		attempt.mapping.active = true;
		attempt.mapping.protocol = "upnp";
		attempt.mapping.external = Poco::Net::SocketAddress(external, externalPort);
		attempt.mapping.lease = lease;
		return attempt;
	}

	int upnpAdd(const std::string& externalPort, const std::string& internalPort, seconds lease)
	{
		const std::string leaseText = std::to_string(lease.count());
		return UPNP_AddPortMapping(_controlUrl.c_str(), _serviceType.c_str(), externalPort.c_str(),
			internalPort.c_str(), _lanAddress.c_str(), _config.description.c_str(), "TCP", nullptr,
			leaseText.c_str());
	}

	void upnpRemove()
	{
		const std::string externalPort = std::to_string(_requestedExternalPort);
		const int rc = UPNP_DeletePortMapping(_controlUrl.c_str(), _serviceType.c_str(), externalPort.c_str(), "TCP", nullptr);
		if (rc != UPNPCOMMAND_SUCCESS)
			logger().warning("UPnP: removing the mapping failed: %s", upnpError(rc));
	}

	void remove()
		/// Deletes the mapping we requested, confirmed or not (a reply may have been lost).
	{
		Method method;
		{
			std::lock_guard<std::mutex> lock(_mutex);
			method = _requested;
		}
		_method = Method::NONE;
		if (method == Method::NATPMP)
			natPmpRemove(Clock::now() + _config.stopTimeout);
		else if (method == Method::UPNP)
			upnpRemove();
		endRequest();
	}

	const PortMapperConfig _config;

	// Shared with the loop thread, under _mutex (the generation is atomic).
	std::mutex _mutex;
	std::condition_variable _wake;
	std::deque<std::pair<Command, unsigned>> _queue;
	Sink _sink;
	bool _quit = false;
	bool _finished = false;
	bool _mappingRequested = false;    ///< A mapping of ours may exist at a gateway.
	Method _requested = Method::NONE;  ///< Its protocol (written by the worker under the mutex).
	std::atomic<unsigned> _generation{0};
	std::thread _thread;

	// Worker thread only.
	Method _method = Method::NONE;
	std::uint16_t _externalPort = 0;
	std::uint16_t _requestedExternalPort = 0;  ///< UPnP: the external port of the last request.
	in_addr_t _natPmpGatewayUsed = 0;
	std::string _controlUrl;
	std::string _serviceType;
	std::string _lanAddress;
	seconds _leaseGranted{0};
};


PortMapper::PortMapper(EventLoop& loop, PortMapperConfig config):
	_loop(loop),
	_config(std::move(config)),
	_pAlive(std::make_shared<char>(0))
{
	_loop.assertInLoopThread();
	if (_config.internalPort == 0)
		throw Poco::InvalidArgumentException("PortMapper: internalPort must not be 0");
	if (!_config.natPmpGateway.isWildcard() && _config.natPmpGateway.family() != Poco::Net::IPAddress::IPv4)
		throw Poco::InvalidArgumentException("PortMapper: natPmpGateway must be an IPv4 address");

	// The sink runs on the worker thread: it only posts. The posted task checks the liveness
	// token on the loop thread, where the mapper is destroyed, so `this` is never used late.
	std::weak_ptr<char> alive = _pAlive;
	EventLoop* pLoop = &_loop;
	_pWorker = std::make_shared<Worker>(_config, [pLoop, alive, this](const Result& result)
	{
		pLoop->post([alive, this, result]
		{
			if (alive.lock()) onResult(result);
		});
	});
	_pWorker->startThread(_pWorker);
}


PortMapper::~PortMapper()
{
	try
	{
		stop();
		_pAlive.reset();
		_pWorker->shutdown(_config.idleStopTimeout, _config.stopTimeout);
	}
	catch (...)
	{
		// Destructors never throw; shutdown() only fails if the system is out of resources.
	}
}


void PortMapper::setHandler(Handler handler)
{
	_loop.assertInLoopThread();
	_handler = std::move(handler);
}


void PortMapper::start()
{
	_loop.assertInLoopThread();
	if (_started) return;
	_started = true;
	_failures = 0;
	++_generation;
	_pWorker->setGeneration(_generation);
	_pWorker->submit(Worker::Command::MAP, _generation);
}


void PortMapper::stop()
{
	_loop.assertInLoopThread();
	if (!_started) return;
	_started = false;
	++_generation;
	_timer.cancel();
	_pWorker->setGeneration(_generation);
	_pWorker->submit(Worker::Command::REMOVE, _generation);
	_current = PortMapping();
}


const PortMapping& PortMapper::current() const
{
	_loop.assertInLoopThread();
	return _current;
}


bool PortMapper::started() const
{
	_loop.assertInLoopThread();
	return _started;
}


void PortMapper::onResult(const Result& result)
{
	if (!_started || result.generation != _generation) return;
	if (result.mapping.active)
	{
		_failures = 0;
		// Renew at half the lease; a permanent UPnP mapping is refreshed at half the asked lease
		// (or every 30 minutes) so that a rebooted gateway gets it back.
		seconds lease = result.mapping.lease;
		if (lease.count() == 0) lease = _config.upnpLease.count() > 0 ? _config.upnpLease : seconds(3600);
		schedule(std::max<milliseconds>(std::chrono::duration_cast<milliseconds>(lease) / 2, milliseconds(500)), true);
	}
	else
	{
		milliseconds delay = _config.retryMin;
		for (unsigned i = 0; i < _failures && delay < _config.retryMax; ++i)
			delay *= 2;
		delay = std::min(delay, _config.retryMax);
		++_failures;
		schedule(delay, false);
	}
	report(result.mapping);
}


void PortMapper::schedule(std::chrono::milliseconds delay, bool renew)
{
	// The timer is a member: destroying the mapper cancels it before `this` goes away.
	_timer = _loop.runAfter(delay, [this, renew]
	{
		_pWorker->submit(renew ? Worker::Command::RENEW : Worker::Command::MAP, _generation);
	});
}


void PortMapper::report(const PortMapping& mapping)
{
	const bool changed = mapping.active != _current.active || mapping.protocol != _current.protocol ||
		mapping.external != _current.external || mapping.error != _current.error;
	_current = mapping;
	if (!changed || !_handler) return;
	// Copies: the handler may call stop() or destroy the mapper.
	const Handler handler = _handler;
	const PortMapping reported = _current;
	handler(reported);
}


} } // namespace CrossChat::Chat
