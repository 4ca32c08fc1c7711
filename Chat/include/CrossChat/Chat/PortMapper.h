//
// PortMapper.h
//
// Library: Chat
// Maps the chat port on the local gateway with NAT-PMP or UPnP IGD and keeps the lease renewed.
//


#ifndef CrossChat_Chat_PortMapper_INCLUDED
#define CrossChat_Chat_PortMapper_INCLUDED


#include "CrossChat/EventLoop.h"
#include "CrossChat/TimerHandle.h"
#include "Poco/Net/IPAddress.h"
#include "Poco/Net/SocketAddress.h"
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>


namespace CrossChat {
namespace Chat {


struct PortMapperConfig
	/// Settings, with the defaults crosschat uses. The last group points the protocols at a
	/// given gateway instead of the network's own (tests, labs, unusual networks).
{
	std::uint16_t internalPort = 0;                        ///< The local TCP port to map (the chat port).
	std::string description = "CrossChat";                 ///< UPnP mapping description.
	std::chrono::seconds natPmpLease{7200};                ///< Lease asked for with NAT-PMP (RFC 6886 recommends 7200 s).
	std::chrono::seconds upnpLease{3600};                  ///< Lease asked for with UPnP (0 = permanent).
	std::chrono::milliseconds discoveryTimeout{2000};      ///< Bound of each protocol's discovery / first answer.
	bool enableUpnp = true;
	bool enableNatPmp = true;
	std::chrono::milliseconds retryMin{5000};              ///< First retry after a failure; doubles up to retryMax.
	std::chrono::milliseconds retryMax{300000};
	std::chrono::milliseconds stopTimeout{2000};           ///< Bound of the removal at stop() and of the destructor's wait.
	std::chrono::milliseconds idleStopTimeout{100};        ///< Bound of the destructor's wait when no mapping was ever
	                                                       ///< requested (nothing to remove; a discovery may be running).

	Poco::Net::IPAddress natPmpGateway;                    ///< NAT-PMP gateway; the wildcard address (default) means
	                                                       ///< the gateway of the default route.
	std::string upnpRootDescUrl;                           ///< If set, the IGD's root description URL: SSDP discovery
	                                                       ///< is skipped and nothing is multicast.
	std::string upnpMulticastInterface;                    ///< Interface name or address for SSDP; empty: the default.
	std::string minissdpdSocket;                           ///< Path of a minissdpd socket to ask first; empty: the default.
};


struct PortMapping
	/// The state of the mapping, as reported to the handler.
{
	bool active = false;                       ///< The gateway forwards external to our internal port.
	std::string protocol;                      ///< "natpmp" or "upnp" when active, else empty.
	Poco::Net::SocketAddress external;         ///< The gateway's public address and mapped port, when active.
	std::chrono::seconds lease{0};             ///< Granted lifetime; 0 with UPnP means a permanent mapping.
	std::string error;                         ///< Why there is no mapping (when not active), else empty.
};


class PortMapper
	/// Asks the gateway to forward a TCP port to us: NAT-PMP first (one UDP exchange with the
	/// default gateway), then UPnP IGD (SSDP discovery and SOAP over HTTP). An active mapping
	/// is renewed at half its lease; when a renewal fails, the mapper reports the mapping
	/// inactive and starts over after a backoff (retryMin doubling up to retryMax). stop() and
	/// the destructor delete the mapping at the gateway.
	///
	/// Without a gateway, the handler receives {active=false, error="no UPnP or NAT-PMP gateway
	/// found"} after at most the discovery timeout of each enabled protocol (UPnP searches all
	/// its device types at once, within one timeout).
	///
	/// The gateway libraries (libnatpmp, miniupnpc) block; every call into them runs on one
	/// private worker thread owned by the mapper, never on the loop. Results come back to the
	/// loop through EventLoop::post(), guarded by a liveness token: nothing runs on the loop
	/// after the mapper is destroyed.
	///
	/// Thread rules: every method must be called from the loop thread (asserted); the handler
	/// is called on the loop thread.
	/// Ownership: does not own the loop, which must outlive the mapper; owns the worker thread.
{
public:
	using Handler = std::function<void(const PortMapping& mapping)>;

	PortMapper(EventLoop& loop, PortMapperConfig config);
		/// Creates an idle mapper and its worker thread. Must be called from the loop thread.
		/// Throws Poco::InvalidArgumentException if config.internalPort is 0.

	~PortMapper();
		/// Calls stop(), then waits for the worker to delete the mapping and exit: at most
		/// config.stopTimeout if a mapping was requested from a gateway (granted or not yet
		/// answered), else at most config.idleStopTimeout, since there is nothing to remove
		/// (the worker can only be waiting for a gateway discovery). A worker still blocked in
		/// the gateway libraries after that is left to finish on its own; it no longer touches
		/// the loop or the mapper, and it sends no new mapping request. Must be called from the
		/// loop thread.

	PortMapper(const PortMapper&) = delete;
	PortMapper& operator=(const PortMapper&) = delete;

	void setHandler(Handler handler);
		/// The handler is called whenever the mapping changes: it becomes active, its protocol,
		/// external address or error changes, or it is lost. A renewal that grants the same
		/// mapping again is not reported. The handler may call stop() or destroy the mapper.
		/// Must be called from the loop thread.

	void start();
		/// Starts mapping in the background; returns at once. Does nothing if already started.
		/// Must be called from the loop thread.

	void stop();
		/// Stops renewing and has the worker delete the mapping at the gateway (bounded by
		/// config.stopTimeout); returns at once. current() becomes inactive; the handler is not
		/// called. start() may be called again afterwards. Idempotent. Must be called from
		/// the loop thread.

	const PortMapping& current() const;
		/// The last state reported (inactive with an empty error before the first result).
		/// Must be called from the loop thread.

	const PortMapperConfig& config() const;
		/// The settings. Safe to call from any thread.

	bool started() const;
		/// True between start() and stop(). Must be called from the loop thread.

private:
	class Worker;
	struct Result;

	void onResult(const Result& result);
	void schedule(std::chrono::milliseconds delay, bool renew);
	void report(const PortMapping& mapping);

	EventLoop& _loop;
	const PortMapperConfig _config;
	Handler _handler;
	PortMapping _current;
	bool _started = false;
	unsigned _generation = 0;          ///< Incremented by start() and stop(); stale results are dropped.
	unsigned _failures = 0;            ///< Consecutive failed attempts (backoff exponent).
	TimerHandle _timer;
	std::shared_ptr<Worker> _pWorker;  ///< Shared with the worker thread, which may outlive us (see ~PortMapper).
	std::shared_ptr<char> _pAlive;     ///< Liveness token: posted results hold a weak_ptr to it.
};


//
// inlines
//
inline const PortMapperConfig& PortMapper::config() const
{
	return _config;
}


} } // namespace CrossChat::Chat


#endif // CrossChat_Chat_PortMapper_INCLUDED
