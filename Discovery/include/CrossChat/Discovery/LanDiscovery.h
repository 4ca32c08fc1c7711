//
// LanDiscovery.h
//
// Library: Discovery
// Finds peers on the local network by signed UDP broadcast and multicast announcements.
//


#ifndef CrossChat_Discovery_LanDiscovery_INCLUDED
#define CrossChat_Discovery_LanDiscovery_INCLUDED


#include "CrossChat/Discovery/Announcement.h"
#include "CrossChat/EventLoop.h"
#include "CrossChat/Identity.h"
#include "CrossChat/PeerId.h"
#include "Poco/Net/IPAddress.h"
#include "Poco/Net/SocketAddress.h"
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>


namespace CrossChat {
namespace Discovery {


struct LanPeer
	/// What discovery knows about one peer. A plain value.
{
	PeerId id;                                           ///< Derived from publicKey, never taken from the wire.
	std::string publicKey;                               ///< Raw Ed25519 key (32 bytes).
	std::string name;
	std::vector<Poco::Net::SocketAddress> addresses;     ///< Chat endpoints, best first; unspecified hosts already replaced by the datagram source. Empty while the peer announces chat port 0.
	Poco::Net::SocketAddress source;                     ///< Where the last datagram came from.
	std::uint64_t instanceId = 0;
	std::chrono::steady_clock::time_point firstSeen;
	std::chrono::steady_clock::time_point lastSeen;
};


struct LanDiscoveryConfig
	/// Settings, with the defaults used by crosschat.
{
	std::uint16_t port = 54545;                          ///< UDP port of announcements (--lan-port); 0 binds an ephemeral port (tests).
	Poco::Net::IPAddress multicastGroupV4{"239.255.84.83"};
	Poco::Net::IPAddress multicastGroupV6{"ff02::8453"};
	bool useBroadcast = true;                            ///< To every IPv4 interface's broadcast address.
	bool useLoopback = true;                             ///< Also to 127.255.255.255: instances on one host meet even without a network.
	bool useMulticastV4 = true;
	bool useMulticastV6 = true;
	std::vector<Poco::Net::SocketAddress> extraTargets;  ///< Unicast targets announced to as well (tests, static peers).
	std::chrono::milliseconds announceInterval{30000};   ///< Periodic re-announce, jittered by +-10 %.
	std::chrono::milliseconds interfaceScanInterval{5000}; ///< How often new interfaces are picked up.
	std::chrono::milliseconds maxAnswerDelay{20};        ///< Answers to a query wait a random 0..this.
	unsigned expiryIntervals = 3;                        ///< A peer silent this many (local) announce intervals is lost.
	unsigned perSourceRate = 50;                         ///< Datagrams per second accepted from one source address and port (burst = 2x); 0 = unlimited.
	bool sendGoodbye = true;                             ///< Send GOODBYE on stop(); tests turn it off to simulate a crash.
	unsigned maxPeersPerSource = 8;                      ///< Peers present at once from one source host: a new key from a host
	                                                     ///< at the cap replaces the one heard from least recently (reported
	                                                     ///< LOST), so a flood of fake keys from one host churns only its own
	                                                     ///< entries and never keeps other peers from being found.
};


struct LanDiscoveryStats
	/// Counters, for logs, tests and /metrics. Read on the loop thread.
	/// Every received datagram is counted in received and in exactly one of accepted or dropped*.
{
	std::uint64_t sent = 0;               ///< Datagrams sent (one per target).
	std::uint64_t answersSent = 0;        ///< FLAG_REPLY datagrams sent (also counted in sent).
	std::uint64_t received = 0;
	std::uint64_t accepted = 0;
	std::uint64_t droppedMalformed = 0;   ///< Garbage, truncated, oversized, bad magic/version.
	std::uint64_t droppedSignature = 0;   ///< Bad key or signature.
	std::uint64_t droppedReplay = 0;      ///< Old sequence or stale timestamp.
	std::uint64_t droppedDuplicate = 0;   ///< The newest datagram of an instance again (e.g. got by broadcast and multicast).
	std::uint64_t droppedConflict = 0;    ///< Another peer's ID with a different key (cannot happen unless SHA-256 breaks; counted anyway).
	std::uint64_t droppedRateLimited = 0; ///< Over perSourceRate, or too many sources or peers tracked at once.
	std::uint64_t evictedPerSource = 0;   ///< Present peers replaced by a newer key from the same host (maxPeersPerSource).
	std::uint64_t droppedOwn = 0;         ///< Our own datagrams looped back (or another process with our identity).
	std::uint64_t sendErrors = 0;
	std::uint64_t receiveErrors = 0;
};


class LanDiscovery
	/// Announces this peer and tracks the peers announcing themselves on the local network.
	/// See docs/PROTOCOL.md, "LAN discovery", for the wire rules.
	///
	/// Start-up sends an announcement with FLAG_QUERY to every IPv4 interface's broadcast
	/// address, to the IPv4 multicast group and to the IPv6 link-local group on every
	/// interface; peers answer at once (jittered, rate-limited), so discovery takes one round
	/// trip rather than one interval. Several instances on one host share the port
	/// (SO_REUSEADDR, never SO_REUSEPORT) and each sends from its own ephemeral socket, to
	/// which answers are unicast. Everything runs on the loop: no threads.
	///
	/// Thread rules: every member function, including construction and destruction, must be
	/// called from the loop thread (asserted). Events are delivered on the loop thread; a
	/// handler may call stop() or destroy this object.
	/// Ownership: does not own the loop or the identity, which must outlive it.
{
public:
	enum class Change
	{
		FOUND,
		UPDATED,   ///< Name, addresses or instance (restart) changed.
		LOST       ///< Goodbye received or silent for expiryIntervals intervals.
	};

	using PeerHandler = std::function<void(Change change, const LanPeer& peer)>;

	static constexpr std::chrono::minutes MAX_CLOCK_SKEW{10};
		///< Datagrams whose timestamp is further than this from our clock are replays.
	static constexpr std::chrono::milliseconds MIN_ANSWER_INTERVAL{500};
		///< At most one answer per source address and port in this time.
	static constexpr std::size_t MAX_TRACKED_PEERS = 4096;
		///< Peers (present or remembered for replay checks) kept at most.
	static constexpr std::size_t MAX_TRACKED_SOURCES = 4096;
		///< Rate-limit buckets kept at most; datagrams from further sources are dropped.

	LanDiscovery(EventLoop& loop, const Identity& identity, LanDiscoveryConfig config = {});
		/// Must be called from the loop thread. Does not own loop or identity.

	~LanDiscovery();
		/// Calls stop(). Must be called from the loop thread.

	LanDiscovery(const LanDiscovery&) = delete;
	LanDiscovery& operator=(const LanDiscovery&) = delete;

	void setPeerHandler(PeerHandler handler);
		/// Sets the function told about FOUND, UPDATED and LOST. Must be called from the loop thread.

	void setLocalInfo(const std::string& name, std::uint16_t chatPort);
		/// What we announce; announces again at once if already started. A name that is too long
		/// or invalid throws Poco::InvalidArgumentException. Must be called from the loop thread.

	void start();
		/// Opens the sockets and sends the first query. Does nothing if already started; after
		/// stop() it starts again as a new instance. Throws Poco::Net::NetException (or another
		/// Poco::IOException) if the discovery port cannot be bound.
		/// Must be called from the loop thread.

	void stop();
		/// Sends a goodbye (unless config.sendGoodbye is false), closes the sockets and forgets
		/// all peers without LOST events. Idempotent. Must be called from the loop thread.

	bool running() const;
		/// True between start() and stop(). Must be called from the loop thread.

	std::vector<LanPeer> peers() const;
		/// The peers currently known, by first sighting. Must be called from the loop thread.

	const LanDiscoveryStats& stats() const;
		/// Must be called from the loop thread.

	std::uint16_t port() const;
		/// The bound discovery port (useful when config.port was 0 in tests); 0 before start().
		/// Must be called from the loop thread.

	std::uint64_t instanceId() const;
		/// This instance's random ID, chosen at construction and again by a start() after stop().
		/// Must be called from the loop thread.

private:
	class Impl;
	std::unique_ptr<Impl> _pImpl;
};


} } // namespace CrossChat::Discovery


#endif // CrossChat_Discovery_LanDiscovery_INCLUDED
