//
// LanDiscovery.cpp
//
// Library: Discovery
//


#include "CrossChat/Discovery/LanDiscovery.h"
#include "CrossChat/FoundationException.h"
#include "Poco/Exception.h"
#include "Poco/Logger.h"
#include "Poco/Net/MulticastSocket.h"
#include "Poco/Net/NetworkInterface.h"
#include "Poco/Net/SocketImpl.h"
#include <algorithm>
#include <map>
#include <optional>
#include <random>
#include <utility>


namespace CrossChat {
namespace Discovery {


namespace {


using Clock = std::chrono::steady_clock;

constexpr int MAX_READS_PER_EVENT = 64;             ///< Then the loop serves other sockets and timers.
constexpr int RECEIVE_BUFFER_SIZE = 256 * 1024;
constexpr std::chrono::milliseconds MIN_EXPIRY_CHECK{50};
constexpr std::chrono::milliseconds MAX_EXPIRY_CHECK{5000};
const Poco::Net::IPAddress LOOPBACK_BROADCAST("127.255.255.255");


std::uint64_t wallClockMs()
{
	return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
		std::chrono::system_clock::now().time_since_epoch()).count());
}


class TokenBucket
	/// Allows rate events per second with bursts of 2 x rate. Exact integer arithmetic:
	/// one token is 1'000'000 credits and each elapsed microsecond adds rate credits.
{
public:
	static constexpr std::uint64_t CREDITS_PER_TOKEN = 1000000;

	TokenBucket(unsigned rate, Clock::time_point now):
		_rate(rate),
		_credits(capacity()),
		_last(now)
	{
	}

	bool take(Clock::time_point now)
	{
		refill(now);
		if (_credits < CREDITS_PER_TOKEN) return false;
		_credits -= CREDITS_PER_TOKEN;
		return true;
	}

	bool full(Clock::time_point now)
	{
		refill(now);
		return _credits >= capacity();
	}

private:
	std::uint64_t capacity() const
	{
		return 2 * static_cast<std::uint64_t>(_rate) * CREDITS_PER_TOKEN;
	}

	void refill(Clock::time_point now)
	{
		if (now <= _last) return;
		// Ten seconds refill any bucket completely; clamping keeps the product small.
		const auto elapsed = std::min<std::chrono::microseconds::rep>(
			std::chrono::duration_cast<std::chrono::microseconds>(now - _last).count(), 10000000);
		_credits = std::min(capacity(), _credits + static_cast<std::uint64_t>(elapsed) * _rate);
		_last = now;
	}

	unsigned _rate;
	std::uint64_t _credits;
	Clock::time_point _last;
};


std::optional<Poco::Net::IPAddress> directedBroadcast(const Poco::Net::IPAddress& address, const Poco::Net::IPAddress& mask)
	/// The subnet's broadcast address, computed from address and mask: Poco 1.11 reports the
	/// interface's own address as its broadcast address when none was configured explicitly
	/// (as with "ip addr add A/24" without "brd +"). None for /31, /32 and non-IPv4 addresses.
{
	if (address.family() != Poco::Net::IPAddress::IPv4 || mask.family() != Poco::Net::IPAddress::IPv4) return std::nullopt;
	if (mask.prefixLength() >= 31) return std::nullopt;
	return (address & mask) | ~mask;
}


bool containsInterface(const std::vector<Poco::Net::NetworkInterface>& list, unsigned index)
{
	return std::any_of(list.begin(), list.end(),
		[index](const Poco::Net::NetworkInterface& iface) { return iface.index() == index; });
}


} // namespace


class LanDiscovery::Impl
{
public:
	struct PeerRecord
		/// Replay state of a peer ID, kept while the peer is present and, after it is lost, until
		/// any datagram it could reject would be too old anyway; plus the present peer itself.
	{
		std::string publicKey;
		std::uint64_t instanceId = 0;
		std::uint64_t highestSequence = 0;
		std::uint64_t lastTimestampMs = 0;
		bool present = false;
		std::uint64_t order = 0;                           ///< First-sighting order, for peers().
		LanPeer peer;                                      ///< Valid while present.
		std::vector<Poco::Net::IPAddress> announced;        ///< As in the last announcement.
		std::uint16_t chatPort = 0;
		std::optional<Poco::Net::IPAddress> sourceV4;       ///< Last IPv4 source host.
		std::optional<Poco::Net::IPAddress> sourceV6;       ///< Last IPv6 source host, with scope.
	};

	struct PendingAnswer
	{
		Clock::time_point due;
		Poco::Net::SocketAddress target;
	};

	struct Event
	{
		Change change;
		LanPeer peer;
	};

	Impl(EventLoop& loop, const Identity& identity, LanDiscoveryConfig config):
		_loop(loop),
		_identity(identity),
		_config(std::move(config)),
		_logger(Poco::Logger::get("CrossChat.Discovery")),
		_pAlive(std::make_shared<char>(0))
	{
		std::random_device device;
		_random.seed((static_cast<std::uint64_t>(device()) << 32) ^ device());
		_instanceId = newInstanceId();
	}

	std::uint64_t newInstanceId()
	{
		std::random_device device;
		std::uint64_t id = 0;
		while (id == 0) id = (static_cast<std::uint64_t>(device()) << 32) ^ device();
		return id;
	}

	// Sockets ----------------------------------------------------------------

	bool wantV6() const
	{
		return _config.useMulticastV6 || std::any_of(_config.extraTargets.begin(), _config.extraTargets.end(),
			[](const Poco::Net::SocketAddress& target) { return target.family() == Poco::Net::SocketAddress::IPv6; });
	}

	void watch(const Poco::Net::DatagramSocket& socket)
	{
		Poco::Net::DatagramSocket copy(socket);
		_loop.addSocket(socket, EventLoop::SOCKET_READABLE, [this, copy](int) { onReadable(copy); });
	}

	static void tune(Poco::Net::MulticastSocket& socket)
	{
		socket.setBlocking(false);
		try
		{
			socket.setReceiveBufferSize(RECEIVE_BUFFER_SIZE);
		}
		catch (const Poco::Exception&)
		{
			// The default size works too; it only overflows sooner under a flood.
		}
	}

	void openSockets()
	{
		using Poco::Net::IPAddress;
		using Poco::Net::MulticastSocket;
		using Poco::Net::SocketAddress;

		// SO_REUSEADDR lets several instances share the port. Not SO_REUSEPORT: on Linux it
		// load-balances unicast and broadcast between the sockets instead of copying.
		_pReceive4 = std::make_unique<MulticastSocket>(SocketAddress::IPv4);
		_pReceive4->bind(SocketAddress(IPAddress(IPAddress::IPv4), _config.port), true, false);
		_port = _pReceive4->address().port();
		tune(*_pReceive4);

		_pSend4 = std::make_unique<MulticastSocket>(SocketAddress::IPv4);
		_pSend4->bind(SocketAddress(IPAddress(IPAddress::IPv4), 0), false, false);
		_pSend4->setBroadcast(true);
		_pSend4->setTimeToLive(1);
		_pSend4->setLoopback(true);
		tune(*_pSend4);

		if (wantV6())
		{
			try
			{
				auto pReceive6 = std::make_unique<MulticastSocket>(SocketAddress::IPv6);
				pReceive6->impl()->bind6(SocketAddress(IPAddress(IPAddress::IPv6), _port), true, false, true);
				tune(*pReceive6);
				auto pSend6 = std::make_unique<MulticastSocket>(SocketAddress::IPv6);
				pSend6->impl()->bind6(SocketAddress(IPAddress(IPAddress::IPv6), 0), false, false, true);
				pSend6->setTimeToLive(1);
				pSend6->setLoopback(true);
				tune(*pSend6);
				_pReceive6 = std::move(pReceive6);
				_pSend6 = std::move(pSend6);
			}
			catch (const Poco::Exception& exc)
			{
				_logger.debug("IPv6 unavailable, discovery continues on IPv4 only: %s", exc.displayText());
			}
		}

		watch(*_pReceive4);
		watch(*_pSend4);
		if (_pReceive6) watch(*_pReceive6);
		if (_pSend6) watch(*_pSend6);
	}

	void closeSockets()
	{
		for (auto* ppSocket: {&_pReceive4, &_pSend4, &_pReceive6, &_pSend6})
		{
			if (!*ppSocket) continue;
			_loop.removeSocket(**ppSocket);
			try
			{
				(*ppSocket)->close();
			}
			catch (const Poco::Exception&)
			{
				// Closing cannot fail in a way that matters here.
			}
			ppSocket->reset();
		}
	}

	// Start and stop ---------------------------------------------------------

	void start()
	{
		if (_running) return;
		if (_startedBefore) _instanceId = newInstanceId();
		try
		{
			openSockets();
		}
		catch (...)
		{
			closeSockets();
			throw;
		}
		_startedBefore = true;
		_running = true;
		_logger.debug("LAN discovery started on port %s, instance %s", std::to_string(_port), std::to_string(_instanceId));
		scanInterfaces(false);
		announce(Announcement::FLAG_QUERY);
		scheduleAnnounce();
		const auto check = std::clamp(
			std::chrono::duration_cast<std::chrono::milliseconds>(_config.announceInterval / 2),
			MIN_EXPIRY_CHECK, MAX_EXPIRY_CHECK);
		_expiryTimer = _loop.runEvery(check, [this] { expire(); });
		if (usesInterfaces() && _config.interfaceScanInterval > std::chrono::milliseconds::zero())
			_scanTimer = _loop.runEvery(_config.interfaceScanInterval, [this] { scanInterfaces(true); });
	}

	void stop()
	{
		if (!_running) return;
		if (_config.sendGoodbye) sendToTargets(encode(Announcement::GOODBYE, 0));
		_running = false;
		_announceTimer.cancel();
		_expiryTimer.cancel();
		_scanTimer.cancel();
		_answerTimer.cancel();
		closeSockets();
		_pendingAnswers.clear();
		_lastAnswer.clear();
		_buckets.clear();
		_records.clear();
		_broadcastTargets.clear();
		_multicastV4.clear();
		_multicastV6.clear();
		_logger.debug("LAN discovery stopped");
	}

	// Sending ----------------------------------------------------------------

	std::string encode(Announcement::Kind kind, std::uint8_t flags)
	{
		Announcement announcement;
		announcement.kind = kind;
		announcement.flags = flags;
		announcement.name = _name;
		announcement.chatPort = _chatPort;
		// Unspecified hosts: each receiver fills in the source address it sees.
		announcement.addresses.push_back(Poco::Net::IPAddress(Poco::Net::IPAddress::IPv4));
		if (_pSend6) announcement.addresses.push_back(Poco::Net::IPAddress(Poco::Net::IPAddress::IPv6));
		announcement.instanceId = _instanceId;
		announcement.sequence = ++_sequence;
		announcement.timestampMs = wallClockMs();
		return announcement.encode(_identity);
	}

	void sendTo(Poco::Net::MulticastSocket& socket, const std::string& datagram, const Poco::Net::SocketAddress& target)
	{
		try
		{
			const int sent = socket.sendTo(datagram.data(), static_cast<int>(datagram.size()), target);
			if (sent == static_cast<int>(datagram.size()))
			{
				++_stats.sent;
				return;
			}
			++_stats.sendErrors;
			_logger.debug("send to %s incomplete (%s bytes)", target.toString(), std::to_string(sent));
		}
		catch (const Poco::Exception& exc)
		{
			++_stats.sendErrors;
			_logger.debug("send to %s failed: %s", target.toString(), exc.displayText());
		}
	}

	void sendToTargets(const std::string& datagram)
	{
		using Poco::Net::IPAddress;
		using Poco::Net::SocketAddress;

		if (_config.useLoopback) sendTo(*_pSend4, datagram, SocketAddress(LOOPBACK_BROADCAST, _port));
		for (const SocketAddress& target: _broadcastTargets) sendTo(*_pSend4, datagram, target);
		for (const Poco::Net::NetworkInterface& iface: _multicastV4)
		{
			try
			{
				_pSend4->setInterface(iface);
			}
			catch (const Poco::Exception& exc)
			{
				++_stats.sendErrors;
				_logger.debug("cannot send multicast on %s: %s", iface.name(), exc.displayText());
				continue;
			}
			sendTo(*_pSend4, datagram, SocketAddress(_config.multicastGroupV4, _port));
		}
		if (_pSend6)
		{
			for (const Poco::Net::NetworkInterface& iface: _multicastV6)
			{
				try
				{
					_pSend6->setInterface(iface);
				}
				catch (const Poco::Exception& exc)
				{
					++_stats.sendErrors;
					_logger.debug("cannot send multicast on %s: %s", iface.name(), exc.displayText());
					continue;
				}
				const IPAddress& group = _config.multicastGroupV6;
				const IPAddress scoped(group.addr(), group.length(), iface.index());
				sendTo(*_pSend6, datagram, SocketAddress(scoped, _port));
			}
		}
		for (const SocketAddress& target: _config.extraTargets)
		{
			if (target.family() == SocketAddress::IPv4)
				sendTo(*_pSend4, datagram, target);
			else if (_pSend6)
				sendTo(*_pSend6, datagram, target);
		}
	}

	void announce(std::uint8_t flags)
	{
		if (!_running) return;
		sendToTargets(encode(Announcement::ANNOUNCE, flags));
	}

	void scheduleAnnounce()
	{
		const auto base = _config.announceInterval.count();
		const auto spread = base / 10;
		std::uniform_int_distribution<std::chrono::milliseconds::rep> jitter(-spread, spread);
		const std::chrono::milliseconds delay(std::max<std::chrono::milliseconds::rep>(1, base + jitter(_random)));
		_announceTimer = _loop.runAfter(delay, [this]
		{
			announce(0);
			scheduleAnnounce();
		});
	}

	void scheduleAnswer(const Poco::Net::SocketAddress& target, Clock::time_point now)
	{
		const auto last = _lastAnswer.find(target);
		if (last != _lastAnswer.end() && now - last->second < MIN_ANSWER_INTERVAL)
		{
			_logger.debug("not answering %s again so soon", target.toString());
			return;
		}
		const auto maxDelay = std::chrono::duration_cast<std::chrono::microseconds>(_config.maxAnswerDelay).count();
		std::uniform_int_distribution<std::chrono::microseconds::rep> pick(0, std::max<std::chrono::microseconds::rep>(0, maxDelay));
		const Clock::time_point due = now + std::chrono::microseconds(pick(_random));
		_lastAnswer[target] = now;
		_pendingAnswers.push_back(PendingAnswer{due, target});
		armAnswerTimer();
	}

	void armAnswerTimer()
	{
		if (_pendingAnswers.empty())
		{
			_answerTimer.cancel();
			return;
		}
		const auto earliest = std::min_element(_pendingAnswers.begin(), _pendingAnswers.end(),
			[](const PendingAnswer& a, const PendingAnswer& b) { return a.due < b.due; });
		const auto delay = std::max(Clock::duration::zero(), earliest->due - Clock::now());
		_answerTimer = _loop.runAfter(delay, [this] { sendDueAnswers(); });
	}

	void sendDueAnswers()
	{
		if (!_running) return;
		const Clock::time_point now = Clock::now();
		std::vector<PendingAnswer> due;
		auto notDue = std::stable_partition(_pendingAnswers.begin(), _pendingAnswers.end(),
			[now](const PendingAnswer& answer) { return answer.due <= now; });
		due.assign(_pendingAnswers.begin(), notDue);
		_pendingAnswers.erase(_pendingAnswers.begin(), notDue);
		for (const PendingAnswer& answer: due)
		{
			Poco::Net::MulticastSocket* pSocket =
				answer.target.family() == Poco::Net::SocketAddress::IPv4 ? _pSend4.get() : _pSend6.get();
			if (!pSocket) continue;
			const std::uint64_t before = _stats.sent;
			sendTo(*pSocket, encode(Announcement::ANNOUNCE, Announcement::FLAG_REPLY), answer.target);
			_stats.answersSent += _stats.sent - before;
		}
		armAnswerTimer();
	}

	// Interfaces -------------------------------------------------------------

	bool usesInterfaces() const
	{
		return _config.useBroadcast || _config.useMulticastV4 || _config.useMulticastV6;
	}

	void scanInterfaces(bool announceIfNew)
	{
		if (!_running || !usesInterfaces()) return;
		using Poco::Net::NetworkInterface;
		using Poco::Net::SocketAddress;

		NetworkInterface::Map interfaces;
		try
		{
			interfaces = NetworkInterface::map(true, true);
		}
		catch (const Poco::Exception& exc)
		{
			_logger.debug("cannot list network interfaces: %s", exc.displayText());
			return;
		}
		std::vector<SocketAddress> broadcast;
		std::vector<NetworkInterface> v4;
		std::vector<NetworkInterface> v6;
		for (const auto& entry: interfaces)
		{
			const NetworkInterface& iface = entry.second;
			if (iface.isLoopback() || !iface.isUp()) continue;
			if (_config.useBroadcast && iface.supportsIPv4() && iface.supportsBroadcast())
			{
				for (const NetworkInterface::AddressTuple& tuple: iface.addressList())
				{
					const auto broadcastAddress = directedBroadcast(tuple.get<NetworkInterface::IP_ADDRESS>(),
						tuple.get<NetworkInterface::SUBNET_MASK>());
					if (!broadcastAddress) continue;
					const SocketAddress target(*broadcastAddress, _port);
					if (std::find(broadcast.begin(), broadcast.end(), target) == broadcast.end()) broadcast.push_back(target);
				}
			}
			if (!iface.supportsMulticast()) continue;
			if (_config.useMulticastV4 && iface.supportsIPv4()) v4.push_back(iface);
			if (_config.useMulticastV6 && _pReceive6 && iface.supportsIPv6()) v6.push_back(iface);
		}

		bool added = false;
		for (const SocketAddress& target: broadcast)
		{
			if (std::find(_broadcastTargets.begin(), _broadcastTargets.end(), target) == _broadcastTargets.end())
			{
				_logger.debug("broadcasting to %s", target.toString());
				added = true;
			}
		}
		_broadcastTargets = std::move(broadcast);
		added |= updateGroups(*_pReceive4, _config.multicastGroupV4, v4, _multicastV4);
		if (_pReceive6) added |= updateGroups(*_pReceive6, _config.multicastGroupV6, v6, _multicastV6);
		if (added && announceIfNew) announce(Announcement::FLAG_QUERY);
	}

	bool updateGroups(Poco::Net::MulticastSocket& socket, const Poco::Net::IPAddress& group,
		const std::vector<Poco::Net::NetworkInterface>& wanted, std::vector<Poco::Net::NetworkInterface>& joined)
		/// Joins group on the wanted interfaces not joined yet and leaves the ones gone.
		/// Returns true if it joined any.
	{
		bool added = false;
		std::vector<Poco::Net::NetworkInterface> result;
		for (const Poco::Net::NetworkInterface& iface: joined)
		{
			if (containsInterface(wanted, iface.index()))
			{
				result.push_back(iface);
				continue;
			}
			try
			{
				socket.leaveGroup(group, iface);
			}
			catch (const Poco::Exception&)
			{
				// The interface is gone; so is the membership.
			}
			_logger.debug("left %s on %s", group.toString(), iface.name());
		}
		for (const Poco::Net::NetworkInterface& iface: wanted)
		{
			if (containsInterface(joined, iface.index())) continue;
			try
			{
				socket.joinGroup(group, iface);
				result.push_back(iface);
				added = true;
				_logger.debug("joined %s on %s", group.toString(), iface.name());
			}
			catch (const Poco::Exception& exc)
			{
				_logger.debug("cannot join %s on %s: %s", group.toString(), iface.name(), exc.displayText());
			}
		}
		joined = std::move(result);
		return added;
	}

	// Receiving --------------------------------------------------------------

	void onReadable(Poco::Net::DatagramSocket socket)
	{
		const std::weak_ptr<char> alive = _pAlive;
		char buffer[Announcement::MAX_DATAGRAM_SIZE + 1];
		for (int i = 0; i < MAX_READS_PER_EVENT && _running; ++i)
		{
			Poco::Net::SocketAddress source;
			int size = 0;
			try
			{
				size = socket.receiveFrom(buffer, static_cast<int>(sizeof(buffer)), source);
			}
			catch (const Poco::Exception& exc)
			{
				++_stats.receiveErrors;
				_logger.debug("receive failed: %s", exc.displayText());
				return;
			}
			if (size < 0) return;   // nothing more to read
			handleDatagram(buffer, static_cast<std::size_t>(size), source);
			if (alive.expired()) return;
		}
	}

	void drop(std::uint64_t& counter, const char* reason, const Poco::Net::SocketAddress& source, const std::string& detail)
	{
		++counter;
		if (_logger.debug())
			_logger.debug("dropped datagram from %s: %s%s", source.toString(), std::string(reason), detail.empty() ? detail : " (" + detail + ")");
	}

	bool admit(const Poco::Net::SocketAddress& source, Clock::time_point now)
		/// The per-source token bucket; checked before the (expensive) signature check.
	{
		if (_config.perSourceRate == 0) return true;
		auto it = _buckets.find(source);
		if (it == _buckets.end())
		{
			if (_buckets.size() >= MAX_TRACKED_SOURCES) pruneBuckets(now);
			if (_buckets.size() >= MAX_TRACKED_SOURCES) return false;
			it = _buckets.emplace(source, TokenBucket(_config.perSourceRate, now)).first;
		}
		return it->second.take(now);
	}

	void pruneBuckets(Clock::time_point now)
	{
		for (auto it = _buckets.begin(); it != _buckets.end();)
			it = it->second.full(now) ? _buckets.erase(it) : std::next(it);
	}

	bool makeRoomForPeer()
		/// Forgets the remembered (not present) peer heard from longest ago. False if all are present.
	{
		auto oldest = _records.end();
		for (auto it = _records.begin(); it != _records.end(); ++it)
		{
			if (!it->second.present && (oldest == _records.end() || it->second.lastTimestampMs < oldest->second.lastTimestampMs))
				oldest = it;
		}
		if (oldest == _records.end()) return false;
		_records.erase(oldest);
		return true;
	}

	void makeRoomForSource(const Poco::Net::SocketAddress& source, const PeerId& newcomer)
		/// A new peer from a host that has maxPeersPerSource present already replaces the one
		/// from that host heard from least recently.
	{
		if (_config.maxPeersPerSource == 0) return;
		std::size_t present = 0;
		PeerRecord* pOldest = nullptr;
		for (auto& entry: _records)
		{
			PeerRecord& candidate = entry.second;
			if (!candidate.present || entry.first == newcomer || candidate.peer.source.host() != source.host()) continue;
			++present;
			if (!pOldest || candidate.peer.lastSeen < pOldest->peer.lastSeen) pOldest = &candidate;
		}
		if (present < _config.maxPeersPerSource || !pOldest) return;
		++_stats.evictedPerSource;
		pOldest->present = false;
		_logger.debug("peer %s replaced: %u peers present from %s", pOldest->peer.id.shortString(), _config.maxPeersPerSource,
			source.host().toString());
		emit(Change::LOST, pOldest->peer);
	}

	void handleDatagram(const char* data, std::size_t size, const Poco::Net::SocketAddress& source)
	{
		++_stats.received;
		const Clock::time_point now = Clock::now();
		if (!admit(source, now)) return drop(_stats.droppedRateLimited, "rate limited", source, "");

		Announcement announcement;
		try
		{
			announcement = Announcement::parse(data, size);
		}
		catch (const CryptoException& exc)
		{
			return drop(_stats.droppedSignature, "bad signature", source, exc.displayText());
		}
		catch (const Poco::DataFormatException& exc)
		{
			return drop(_stats.droppedMalformed, "malformed", source, exc.displayText());
		}

		if (announcement.peerId == _identity.peerId())
		{
			const bool sameInstance = announcement.instanceId == _instanceId;
			return drop(_stats.droppedOwn, "own", source, sameInstance ? "" : "another process with our identity");
		}
		const std::uint64_t wallNow = wallClockMs();
		const std::uint64_t skew = announcement.timestampMs > wallNow ?
			announcement.timestampMs - wallNow : wallNow - announcement.timestampMs;
		if (skew > static_cast<std::uint64_t>(std::chrono::milliseconds(MAX_CLOCK_SKEW).count()))
			return drop(_stats.droppedReplay, "replay", source, "timestamp " + std::to_string(skew) + " ms away from our clock");

		auto it = _records.find(announcement.peerId);
		if (it != _records.end())
		{
			const PeerRecord& known = it->second;
			if (known.publicKey != announcement.publicKey)
				return drop(_stats.droppedConflict, "conflict", source, "known peer ID with another key");
			if (announcement.instanceId == known.instanceId)
			{
				if (announcement.sequence == known.highestSequence)
				{
					drop(_stats.droppedDuplicate, "duplicate", source, "sequence " + std::to_string(announcement.sequence));
					return learnSource(it->second, source, now);
				}
				if (announcement.sequence < known.highestSequence)
				{
					return drop(_stats.droppedReplay, "replay", source, "sequence " + std::to_string(announcement.sequence) +
						" <= " + std::to_string(known.highestSequence));
				}
			}
			else if (announcement.timestampMs < known.lastTimestampMs)
			{
				return drop(_stats.droppedReplay, "replay", source, "another instance, older than the last accepted datagram");
			}
		}
		else
		{
			if (_records.size() >= MAX_TRACKED_PEERS && !makeRoomForPeer())
				return drop(_stats.droppedRateLimited, "too many peers", source, "");
			it = _records.emplace(announcement.peerId, PeerRecord()).first;
			it->second.publicKey = announcement.publicKey;
		}
		++_stats.accepted;

		PeerRecord& record = it->second;
		record.instanceId = announcement.instanceId;
		record.highestSequence = announcement.sequence;
		record.lastTimestampMs = std::max(record.lastTimestampMs, announcement.timestampMs);

		if (announcement.kind == Announcement::GOODBYE)
		{
			if (!record.present) return;
			record.present = false;
			_logger.debug("peer %s said goodbye", announcement.peerId.shortString());
			emit(Change::LOST, record.peer);
			return;
		}

		const bool isNew = !record.present;
		const bool restarted = !isNew && record.peer.instanceId != announcement.instanceId;
		if (isNew) makeRoomForSource(source, announcement.peerId);
		if (isNew)
		{
			record.sourceV4.reset();
			record.sourceV6.reset();
		}
		if (source.family() == Poco::Net::SocketAddress::IPv4)
			record.sourceV4 = source.host();
		else
			record.sourceV6 = source.host();
		record.announced = announcement.addresses;
		record.chatPort = announcement.chatPort;

		LanPeer peer = isNew ? LanPeer() : record.peer;
		peer.id = announcement.peerId;
		peer.publicKey = announcement.publicKey;
		peer.name = announcement.name;
		peer.addresses = chatAddresses(record);
		peer.source = source;
		peer.instanceId = announcement.instanceId;
		peer.lastSeen = now;
		if (isNew)
		{
			peer.firstSeen = now;
			record.order = _nextOrder++;
		}
		const bool changed = !isNew && (peer.name != record.peer.name || peer.addresses != record.peer.addresses || restarted);
		record.peer = peer;
		record.present = true;

		if (!announcement.hasFlag(Announcement::FLAG_REPLY) &&
			(announcement.hasFlag(Announcement::FLAG_QUERY) || isNew || restarted))
		{
			scheduleAnswer(source, now);
		}
		if (isNew)
		{
			_logger.debug("found peer %s \"%s\" at %s", peer.id.shortString(), peer.name, source.toString());
			emit(Change::FOUND, peer);
		}
		else if (changed)
		{
			_logger.debug("peer %s updated%s", peer.id.shortString(), std::string(restarted ? " (restarted)" : ""));
			emit(Change::UPDATED, peer);
		}
	}

	void learnSource(PeerRecord& record, const Poco::Net::SocketAddress& source, Clock::time_point now)
		/// A verified duplicate that arrived over the other address family (broadcast over IPv4,
		/// multicast over IPv6, say) tells us the peer's source address in that family.
	{
		std::optional<Poco::Net::IPAddress>& known =
			source.family() == Poco::Net::SocketAddress::IPv4 ? record.sourceV4 : record.sourceV6;
		if (!record.present || known) return;
		known = source.host();
		std::vector<Poco::Net::SocketAddress> addresses = chatAddresses(record);
		record.peer.lastSeen = now;
		if (addresses == record.peer.addresses) return;
		record.peer.addresses = std::move(addresses);
		_logger.debug("peer %s also reachable over %s", record.peer.id.shortString(), source.host().toString());
		emit(Change::UPDATED, record.peer);
	}

	std::vector<Poco::Net::SocketAddress> chatAddresses(const PeerRecord& record) const
		/// The announced addresses with unspecified hosts replaced by the source of that family,
		/// IPv6 link-local ones given the scope of the IPv6 source, and the chat port applied;
		/// best first: the source hosts, then IPv4, IPv6, IPv6 link-local.
	{
		using Poco::Net::IPAddress;
		std::vector<Poco::Net::SocketAddress> result;
		if (record.chatPort == 0) return result;
		std::vector<IPAddress> hosts;
		if (record.announced.empty())
		{
			if (record.sourceV4) hosts.push_back(*record.sourceV4);
			if (record.sourceV6) hosts.push_back(*record.sourceV6);
		}
		for (const IPAddress& address: record.announced)
		{
			if (address.isWildcard())
			{
				const auto& source = address.family() == IPAddress::IPv4 ? record.sourceV4 : record.sourceV6;
				if (source) hosts.push_back(*source);
			}
			else if (address.family() == IPAddress::IPv6 && address.isLinkLocal())
			{
				if (record.sourceV6 && record.sourceV6->scope() != 0)
					hosts.emplace_back(address.addr(), address.length(), record.sourceV6->scope());
			}
			else
			{
				hosts.push_back(address);
			}
		}
		auto rank = [&record](const IPAddress& host)
		{
			if ((record.sourceV4 && host == *record.sourceV4) || (record.sourceV6 && host == *record.sourceV6)) return 0;
			if (host.family() == IPAddress::IPv4) return 1;
			return host.isLinkLocal() ? 3 : 2;
		};
		std::vector<IPAddress> unique;
		for (const IPAddress& host: hosts)
		{
			const bool seen = std::any_of(unique.begin(), unique.end(),
				[&host](const IPAddress& other) { return other == host && other.scope() == host.scope(); });
			if (!seen) unique.push_back(host);
		}
		std::stable_sort(unique.begin(), unique.end(),
			[&rank](const IPAddress& a, const IPAddress& b) { return rank(a) < rank(b); });
		for (const IPAddress& host: unique) result.emplace_back(host, record.chatPort);
		return result;
	}

	// Expiry -----------------------------------------------------------------

	void expire()
	{
		if (!_running) return;
		const Clock::time_point now = Clock::now();
		const auto limit = _config.announceInterval * static_cast<long>(std::max(1u, _config.expiryIntervals));
		std::vector<LanPeer> lost;
		for (auto& entry: _records)
		{
			PeerRecord& record = entry.second;
			if (record.present && now - record.peer.lastSeen > limit)
			{
				record.present = false;
				lost.push_back(record.peer);
			}
		}
		// Remembered peers are forgotten once any datagram they could reject is stale anyway.
		const std::uint64_t wallNow = wallClockMs();
		const auto skew = static_cast<std::uint64_t>(std::chrono::milliseconds(MAX_CLOCK_SKEW).count());
		for (auto it = _records.begin(); it != _records.end();)
		{
			const bool forget = !it->second.present && it->second.lastTimestampMs + skew < wallNow;
			it = forget ? _records.erase(it) : std::next(it);
		}
		pruneBuckets(now);
		for (auto it = _lastAnswer.begin(); it != _lastAnswer.end();)
			it = now - it->second >= MIN_ANSWER_INTERVAL ? _lastAnswer.erase(it) : std::next(it);

		const std::weak_ptr<char> alive = _pAlive;
		for (const LanPeer& peer: lost)
		{
			_logger.debug("peer %s expired", peer.id.shortString());
			emit(Change::LOST, peer);
			if (alive.expired() || !_running) return;
		}
	}

	void emit(Change change, const LanPeer& peer)
		/// Calls the handler with copies, so that it may stop() or destroy this object; the
		/// caller must not touch members afterwards without checking _pAlive.
	{
		if (!_handler) return;
		const PeerHandler handler = _handler;
		const LanPeer copy = peer;
		try
		{
			handler(change, copy);
		}
		catch (const Poco::Exception& exc)
		{
			Poco::Logger::get("CrossChat.Discovery").error("peer handler threw: %s", exc.displayText());
		}
		catch (const std::exception& exc)
		{
			Poco::Logger::get("CrossChat.Discovery").error("peer handler threw: %s", std::string(exc.what()));
		}
	}

	std::vector<LanPeer> peers() const
	{
		std::vector<const PeerRecord*> present;
		for (const auto& entry: _records)
		{
			if (entry.second.present) present.push_back(&entry.second);
		}
		std::sort(present.begin(), present.end(),
			[](const PeerRecord* a, const PeerRecord* b) { return a->order < b->order; });
		std::vector<LanPeer> result;
		result.reserve(present.size());
		for (const PeerRecord* pRecord: present) result.push_back(pRecord->peer);
		return result;
	}

	EventLoop& _loop;
	const Identity& _identity;
	const LanDiscoveryConfig _config;
	Poco::Logger& _logger;
	std::shared_ptr<char> _pAlive;       ///< Expires with this object; handlers may destroy it.
	std::mt19937_64 _random;
	std::uint64_t _instanceId = 0;
	std::uint64_t _sequence = 0;
	std::string _name;
	std::uint16_t _chatPort = 0;
	bool _running = false;
	bool _startedBefore = false;
	std::uint16_t _port = 0;
	std::unique_ptr<Poco::Net::MulticastSocket> _pReceive4;
	std::unique_ptr<Poco::Net::MulticastSocket> _pSend4;
	std::unique_ptr<Poco::Net::MulticastSocket> _pReceive6;
	std::unique_ptr<Poco::Net::MulticastSocket> _pSend6;
	std::vector<Poco::Net::SocketAddress> _broadcastTargets;
	std::vector<Poco::Net::NetworkInterface> _multicastV4;   ///< Interfaces joined and sent on.
	std::vector<Poco::Net::NetworkInterface> _multicastV6;
	std::map<PeerId, PeerRecord> _records;
	std::uint64_t _nextOrder = 0;
	std::map<Poco::Net::SocketAddress, TokenBucket> _buckets;
	std::map<Poco::Net::SocketAddress, Clock::time_point> _lastAnswer;
	std::vector<PendingAnswer> _pendingAnswers;
	LanDiscoveryStats _stats;
	PeerHandler _handler;
	TimerHandle _announceTimer;
	TimerHandle _expiryTimer;
	TimerHandle _scanTimer;
	TimerHandle _answerTimer;
};


LanDiscovery::LanDiscovery(EventLoop& loop, const Identity& identity, LanDiscoveryConfig config)
{
	loop.assertInLoopThread();
	_pImpl = std::make_unique<Impl>(loop, identity, std::move(config));
}


LanDiscovery::~LanDiscovery()
{
	_pImpl->_loop.assertInLoopThread();
	try
	{
		_pImpl->stop();
	}
	catch (...)
	{
		// Destructors never throw; stop() only sends and closes.
	}
}


void LanDiscovery::setPeerHandler(PeerHandler handler)
{
	_pImpl->_loop.assertInLoopThread();
	_pImpl->_handler = std::move(handler);
}


void LanDiscovery::setLocalInfo(const std::string& name, std::uint16_t chatPort)
{
	_pImpl->_loop.assertInLoopThread();
	Announcement probe;
	probe.name = name;
	probe.encode(_pImpl->_identity);   // throws Poco::InvalidArgumentException for a bad name
	_pImpl->_name = name;
	_pImpl->_chatPort = chatPort;
	_pImpl->announce(0);
}


void LanDiscovery::start()
{
	_pImpl->_loop.assertInLoopThread();
	_pImpl->start();
}


void LanDiscovery::stop()
{
	_pImpl->_loop.assertInLoopThread();
	_pImpl->stop();
}


bool LanDiscovery::running() const
{
	_pImpl->_loop.assertInLoopThread();
	return _pImpl->_running;
}


std::vector<LanPeer> LanDiscovery::peers() const
{
	_pImpl->_loop.assertInLoopThread();
	return _pImpl->peers();
}


const LanDiscoveryStats& LanDiscovery::stats() const
{
	_pImpl->_loop.assertInLoopThread();
	return _pImpl->_stats;
}


std::uint16_t LanDiscovery::port() const
{
	_pImpl->_loop.assertInLoopThread();
	return _pImpl->_port;
}


std::uint64_t LanDiscovery::instanceId() const
{
	_pImpl->_loop.assertInLoopThread();
	return _pImpl->_instanceId;
}


} } // namespace CrossChat::Discovery
