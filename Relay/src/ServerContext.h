//
// ServerContext.h
//
// Library: Relay
// Internal header: what the relay server's sessions share (settings, clock, counters,
// registries) and the per-loop bookkeeping of live sessions.
// This is an internal header file, you should not include this.
//


#ifndef CrossChat_Relay_ServerContext_INCLUDED
#define CrossChat_Relay_ServerContext_INCLUDED


#include "CrossChat/EventLoopThread.h"
#include "CrossChat/Relay/RelayServer.h"
#include "Poco/Logger.h"
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>


namespace CrossChat {
namespace Relay {


class ControlHub;
class PeerRegistry;
class RelayMetrics;
class SharedTokenBucket;
class TunnelManager;


class LoopSession
	/// A long-lived session (control channel or tunnel) living on one RelayLoop.
{
public:
	virtual ~LoopSession();

	virtual void shutdown() = 0;
		/// Closes everything at once (server stop). Called on the loop thread.
};


class RelayLoop
	/// One event-loop thread and the sessions living on it (so stop() can close them).
	///
	/// Thread rules: loop() and post through it from any thread; add()/remove()/shutdownAll()
	/// must be called from the loop thread.
{
public:
	explicit RelayLoop(const std::string& name);

	EventLoop& loop();
	void add(const std::shared_ptr<LoopSession>& pSession);
	void remove(const LoopSession* pSession);
	void shutdownAll();
	void stop();
		/// Stops and joins the thread (from the controlling thread).

private:
	EventLoopThread _thread;
	std::unordered_map<const LoopSession*, std::weak_ptr<LoopSession>> _sessions;
};


class ConnectionSlot
	/// One reserved place in a connection count; releases it when destroyed. Move-only.
{
public:
	ConnectionSlot() = default;
	explicit ConnectionSlot(std::atomic<unsigned>* pCounter);
	ConnectionSlot(ConnectionSlot&& other) noexcept;
	ConnectionSlot& operator=(ConnectionSlot&& other) noexcept;
	ConnectionSlot(const ConnectionSlot&) = delete;
	ConnectionSlot& operator=(const ConnectionSlot&) = delete;
	~ConnectionSlot();

	static ConnectionSlot tryReserve(std::atomic<unsigned>& counter, unsigned limit);
		/// An empty slot (valid() false) if the counter is at the limit.

	bool valid() const;

private:
	std::atomic<unsigned>* _pCounter = nullptr;
};


struct ServerContext
	/// Shared by the HTTP handlers and the sessions. Every member outlives the loops.
	///
	/// Thread rules: the referenced objects are thread-safe; config is immutable.
{
	using Clock = std::chrono::steady_clock;

	const RelayServerConfig& config;
	RelayMetrics& metrics;
	ControlHub& hub;
	TunnelManager& tunnels;
	PeerRegistry& registry;
	SharedTokenBucket& globalRate;
	std::atomic<unsigned>& controlConnections;
	std::atomic<unsigned>& tunnelConnections;
	Poco::Logger& logger;
	std::uint16_t probePort = 0;   ///< The NAT probe port (0: none); set before any session starts.

	Clock::time_point now() const;
		/// config.clock if set, else the steady clock.
};


std::string randomHex(std::size_t bytes);
	/// bytes random bytes (OpenSSL RAND_bytes) in lower-case hex. Throws CryptoException.


} } // namespace CrossChat::Relay


#endif // CrossChat_Relay_ServerContext_INCLUDED
