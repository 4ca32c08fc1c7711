//
// RelayServer.cpp
//
// Library: Relay
//
// Start-up order: limits (from the descriptor limit), shared state, loops, the listening
// socket on the first loop (a taken port fails here), the probe port. Accept: the first loop
// reserves the connection's place in its source's budget (nothing is read before that),
// then hands the socket to a loop in turn, where an HttpConnection serves it.
//


#include "CrossChat/Relay/RelayServer.h"
#include "ControlHub.h"
#include "HandleBook.h"
#include "HttpConnection.h"
#include "IpRateLimiter.h"
#include "Mailbox.h"
#include "PeerRegistry.h"
#include "PrekeyBook.h"
#include "ProxyPreface.h"
#include "ProxyProtocol.h"
#include "RelayApi.h"
#include "RelayMetrics.h"
#include "RelayStream.h"
#include "RelayStore.h"
#include "RequestAuth.h"
#include "ServerContext.h"
#include "StoredPeerRegistry.h"
#include "TokenBook.h"
#include "TokenBucket.h"
#include "TunnelManager.h"
#include "CrossChat/DataDirectory.h"
#include "CrossChat/Relay/RelayProtocol.h"
#include "CrossChat/TcpConnection.h"
#include "CrossChat/TcpListener.h"
#include "CrossChat/TlsServerContext.h"
#include "Poco/Exception.h"
#include "Poco/Logger.h"
#include "Poco/Net/NetException.h"
#include <sys/resource.h>
#include <algorithm>
#include <cerrno>
#include <cmath>
#include <future>
#include <optional>
#include <thread>
#include <vector>


namespace CrossChat {
namespace Relay {


namespace {


using Clock = std::chrono::steady_clock;

constexpr std::size_t MAX_DESCRIPTORS = 1u << 20;   ///< Used when the hard limit is unlimited.


std::size_t raiseDescriptorLimit(Poco::Logger& logger)
	/// Raises RLIMIT_NOFILE's soft limit to the hard limit; returns the soft limit in force.
{
	rlimit limit{};
	if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return 1024;
	rlim_t wanted = limit.rlim_max == RLIM_INFINITY ? static_cast<rlim_t>(MAX_DESCRIPTORS) : limit.rlim_max;
	if (limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur < wanted)
	{
		rlimit raised = limit;
		raised.rlim_cur = wanted;
		if (setrlimit(RLIMIT_NOFILE, &raised) == 0)
		{
			logger.information("descriptor limit raised from %?u to %?u", static_cast<unsigned long long>(limit.rlim_cur),
				static_cast<unsigned long long>(wanted));
			limit.rlim_cur = wanted;
		}
	}
	if (limit.rlim_cur == RLIM_INFINITY) return MAX_DESCRIPTORS;
	return static_cast<std::size_t>(limit.rlim_cur);
}


unsigned share(std::size_t budget, unsigned percent)
{
	return static_cast<unsigned>(std::max<std::size_t>(1, budget * percent / 100));
}


unsigned orAuto(unsigned setting, unsigned automatic)
{
	return setting != 0 ? setting : automatic;
}


RelayLimits deriveLimits(const RelayServerConfig& config, std::size_t descriptors)
{
	RelayLimits limits;
	limits.descriptorLimit = descriptors;
	// The reserve covers the listening sockets, each loop's epoll and wake-up descriptors,
	// log files and whatever the process opens besides connections.
	const std::size_t reserve = config.descriptorReserve + 4 * std::max(1u, config.eventLoops);
	limits.descriptorBudget = descriptors > reserve + 64 ? descriptors - reserve : 64;
	const std::size_t budget = limits.descriptorBudget;
	auto& total = limits.connections.total;
	auto& perSource = limits.connections.perSource;
	const auto http = static_cast<std::size_t>(ConnectionKind::HTTP);
	const auto control = static_cast<std::size_t>(ConnectionKind::CONTROL);
	const auto tunnel = static_cast<std::size_t>(ConnectionKind::TUNNEL);
	const auto probe = static_cast<std::size_t>(ConnectionKind::PROBE);
	total[http] = orAuto(config.maxHttpConnections, share(budget, 15));
	total[control] = orAuto(config.maxControlConnections, share(budget, 70));
	limits.maxTunnels = orAuto(config.maxTunnels, std::max(1u, share(budget, 13) / 2));
	total[tunnel] = 2 * limits.maxTunnels;
	total[probe] = orAuto(config.maxProbeConnections, share(budget, 2));
	perSource[http] = std::min(total[http], orAuto(config.maxHttpConnectionsPerIp, std::max(1u, total[http] / 8)));
	perSource[control] = std::min(total[control], orAuto(config.maxControlConnectionsPerIp, std::max(1u, total[control] / 8)));
	limits.maxTunnelsPerSource = std::min(limits.maxTunnels, orAuto(config.maxTunnelsPerIp, std::max(1u, limits.maxTunnels / 8)));
	perSource[tunnel] = 2 * limits.maxTunnelsPerSource;
	perSource[probe] = std::min(total[probe], orAuto(config.maxProbeConnectionsPerIp, std::max(2u, total[probe] / 16)));
	limits.maxPeers = config.maxPeers;
	limits.maxRecordsPerSource = config.maxPeersPerIp != 0 ? config.maxPeersPerIp : std::max<std::size_t>(1, config.maxPeers / 64);
	limits.replayCapacity = config.replayCacheSize;
	// What one source can have in the window at its request rate: the burst plus 130 s of rate
	// (the window is 120 s, entries live up to one slot longer).
	const auto automatic = static_cast<std::size_t>(std::ceil(132 * std::max(0.0, config.requestsPerSecondPerIp)));
	limits.replayPerSource = std::min(config.replayCacheSize, config.replayCachePerIp != 0 ? config.replayCachePerIp : std::max<std::size_t>(1, automatic));
	limits.maxRateLimitedSources = config.maxRateLimitedClients;
	limits.maxHandlesPerSource = config.maxHandlesPerIp != 0 ? config.maxHandlesPerIp : std::max<std::size_t>(1, config.maxHandles / 64);
	limits.mailboxBytesPerSource = config.mailboxBytesPerIp != 0 ? config.mailboxBytesPerIp
		: std::max<std::uint64_t>(config.maxEnvelopeSize, config.mailboxMaxBytes / 64);
	limits.mailboxPerSourcePerRecipient = config.mailboxPerIpPerRecipient != 0 ? config.mailboxPerIpPerRecipient
		: std::max<std::size_t>(1, config.mailboxPerRecipient / 4);
	return limits;
}


} // namespace


class RelayServer::Impl
{
public:
	explicit Impl(RelayServerConfig config);
	~Impl();

	void start();
	void drain();
	void stop();
	void reloadCertificate();
	std::uint16_t port() const;
	std::uint16_t probePort() const;
	std::string healthJson() const;
	void flush();

private:
	void openStore();
	void reloadTokens();
	void startListeners();
	void onAccept(std::shared_ptr<Poco::Net::StreamSocket> pSocket);
	static void serve(ServerContext& context, RelayLoop& relayLoop, const TcpConnection::Ptr& pConnection,
		const Poco::Net::SocketAddress& peer, const Poco::Net::SocketAddress& client, AddressOrigin origin, bool trusted,
		ConnectionSlot slot, const std::string& rest);
	void onProbe(const Poco::Net::StreamSocket& socket);
	void answerProbe(const TcpConnection::Ptr& pConnection, const Poco::Net::SocketAddress& observed, ConnectionSlot slot);
	RelayLoop& nextLoop();
	void sweep();
	void onLoops(const std::function<void(RelayLoop&, bool first)>& work);

	const RelayServerConfig _config;
	Poco::Logger& _logger;
	const TrustedProxies _trustedProxies;
	Clock::time_point _started;
	RelayLimits _limits;
	RelayMetrics _metrics;
	std::optional<DataDirectory> _dataDirectory;       ///< Held while the relay runs: one relay per directory.
	std::unique_ptr<RelayStore> _pStore;               ///< Null without a data directory.
	std::unique_ptr<MemoryPeerRegistry> _pRegistry;    ///< A StoredPeerRegistry with a store.
	std::unique_ptr<ControlHub> _pHub;
	TokenBook _tokens;
	std::unique_ptr<HandleBook> _pHandles;
	std::unique_ptr<PrekeyBook> _pPrekeys;
	std::unique_ptr<Mailbox> _pMailbox;
	TunnelManager _tunnels;
	std::unique_ptr<SharedTokenBucket> _pGlobalRate;
	std::unique_ptr<ConnectionBudget> _pBudget;
	std::unique_ptr<RequestAuth> _pAuth;
	std::unique_ptr<IpRateLimiter> _pRequestRate;
	std::unique_ptr<IpRateLimiter> _pTunnelRate;
	TlsServerContext::Ptr _pTls;
	std::unique_ptr<ServerContext> _pContext;
	std::unique_ptr<RelayApi> _pApi;
	std::vector<std::unique_ptr<RelayLoop>> _loops;
	std::size_t _nextLoop = 0;                         ///< Used on the first loop only (accepts).
	TimerHandle _sweepTimer;
	std::unique_ptr<TcpListener> _pListener;           ///< Lives on _loops.front(), created and destroyed there.
	std::unique_ptr<TcpListener> _pProbeListener;      ///< Likewise.
	std::uint16_t _port = 0;
	std::uint16_t _probePort = 0;
	bool _running = false;
};


RelayServer::Impl::Impl(RelayServerConfig config):
	_config(std::move(config)),
	_logger(Poco::Logger::get("CrossChat.Relay")),
	_trustedProxies(TrustedProxies::parse(_config.trustedProxies)),
	_started(_config.clock ? _config.clock() : Clock::now()),
	_metrics(_started)
{
	if (_config.maxEnvelopeSize > RelayProtocol::MAX_ENVELOPE_SIZE)
		throw Poco::InvalidArgumentException("relay.maxEnvelopeSize is at most " + std::to_string(RelayProtocol::MAX_ENVELOPE_SIZE));
}


RelayServer::Impl::~Impl()
{
	try
	{
		stop();
	}
	catch (...)
	{
		// Destructors never throw.
	}
}


void RelayServer::Impl::start()
{
	if (_running) return;
	if (!_config.tlsCertificateFile.empty() || !_config.tlsKeyFile.empty())
	{
		// Throws TlsConfigException naming the file and the problem.
		_pTls = TlsServerContext::fromFiles(_config.tlsCertificateFile, _config.tlsKeyFile);
		_logger.information("TLS certificate: %s", _pTls->summary());
	}
	_limits = deriveLimits(_config, raiseDescriptorLimit(_logger));
	openStore();
	const auto now = _config.clock ? _config.clock() : Clock::now();
	_pGlobalRate = std::make_unique<SharedTokenBucket>(static_cast<double>(_config.globalRateBytesPerSecond),
		2.0 * static_cast<double>(_config.globalRateBytesPerSecond), now);
	_pBudget = std::make_unique<ConnectionBudget>(_limits.connections);
	_pAuth = std::make_unique<RequestAuth>(_limits.replayCapacity, _limits.replayPerSource);
	_pRequestRate = std::make_unique<IpRateLimiter>(_config.requestsPerSecondPerIp, 2 * _config.requestsPerSecondPerIp,
		_limits.maxRateLimitedSources);
	_pTunnelRate = std::make_unique<IpRateLimiter>(_config.tunnelsPerSecondPerIp, 5 * _config.tunnelsPerSecondPerIp,
		_limits.maxRateLimitedSources);
	_pContext = std::make_unique<ServerContext>(_config, _limits, _metrics, *_pHub, _tunnels, *_pRegistry, *_pGlobalRate,
		*_pBudget, *_pAuth, *_pRequestRate, *_pTunnelRate, _trustedProxies, _logger);
	_pApi = std::make_unique<RelayApi>(*_pContext, _started);
	_pContext->pApi = _pApi.get();
	_pContext->pTls = _pTls;
	_pContext->pStore = _pStore.get();
	_pContext->pTokens = &_tokens;
	_pContext->pHandles = _pHandles.get();
	_pContext->pPrekeys = _pPrekeys.get();
	_pContext->pMailbox = _pMailbox.get();
	ControlHub& hub = *_pHub;
	_pMailbox->setDepositHandler([&hub](const PeerId& recipient) { hub.mailArrived(recipient); });
	if (_pStore) _pStore->setChangeHandler([this] { reloadTokens(); });

	const unsigned loops = std::max(1u, _config.eventLoops);
	const auto clock = _config.clock;
	for (unsigned i = 0; i < loops; ++i)
		_loops.push_back(std::make_unique<RelayLoop>("RelayLoop" + std::to_string(i), clock));
	try
	{
		startListeners();
	}
	catch (...)
	{
		for (const auto& pLoop: _loops) pLoop->stop();
		_loops.clear();
		throw;
	}
	const auto sweepPeriod = std::clamp<std::chrono::milliseconds>(
		std::chrono::duration_cast<std::chrono::milliseconds>(_config.recordTtl) / 2,
		std::chrono::milliseconds(1000), std::chrono::milliseconds(60000));
	_sweepTimer = _loops.front()->loop().runEvery(sweepPeriod, [this] { sweep(); });
	_running = true;
	_logger.information("relay listening on port %hu (%s), %u event loops; descriptor limit %z: up to %u HTTP connections, "
		"%u control channels, %u tunnels, %u probes", _port, std::string(_config.tlsCertificateFile.empty() ? "http" : "https"),
		loops, _limits.descriptorLimit, _pBudget->total(ConnectionKind::HTTP), _pBudget->total(ConnectionKind::CONTROL),
		_limits.maxTunnels, _pBudget->total(ConnectionKind::PROBE));
	if (_probePort != 0) _logger.information("NAT probe port %hu", _probePort);
	if (!_trustedProxies.empty())
		_logger.information("trusted proxies: %s (%s)", _trustedProxies.toString(),
			std::string(_config.proxyProtocol ? "PROXY protocol v2" : "X-Forwarded-For"));
}


void RelayServer::Impl::openStore()
	/// The data directory and its database, and everything loaded from it; or memory only.
{
	const bool persistent = !_config.dataDir.empty() && _config.dataDir != ":memory:";
	MailLimits mail;
	mail.maxBytes = _config.mailboxMaxBytes;
	mail.perRecipient = _config.mailboxPerRecipient;
	mail.bytesPerRecipient = _config.mailboxBytesPerRecipient;
	mail.bytesPerSource = _limits.mailboxBytesPerSource;
	mail.perSourcePerRecipient = _limits.mailboxPerSourcePerRecipient;
	mail.ttlMs = std::chrono::duration_cast<std::chrono::milliseconds>(_config.mailboxTtl).count();
	const std::int64_t releaseMs = std::chrono::duration_cast<std::chrono::milliseconds>(_config.handleRelease).count();
	if (!persistent)
	{
		_pRegistry = std::make_unique<MemoryPeerRegistry>();
		_pHub = std::make_unique<ControlHub>(*_pRegistry);
		_pHandles = std::make_unique<HandleBook>(nullptr, releaseMs);
		_pPrekeys = std::make_unique<PrekeyBook>(nullptr);
		_pMailbox = std::make_unique<Mailbox>(nullptr, mail);
		_logger.information("no data directory: the relay keeps its state in memory only");
		if (_config.access == RelayAccess::TOKEN)
			_logger.warning("relay.access = token without a data directory: no token can be added, so nobody can use this relay");
		return;
	}
	const auto started = std::chrono::steady_clock::now();
	_dataDirectory.emplace(DataDirectory::open(_config.dataDir));
	_pStore = std::make_unique<RelayStore>(_dataDirectory->filePath(RelayStore::FILE_NAME), RelayStore::Mode::SERVER);
	auto pRegistry = std::make_unique<StoredPeerRegistry>(*_pStore);
	const auto now = _config.clock ? _config.clock() : Clock::now();
	const std::int64_t nowMs = ServerContext::wallMs();
	const std::size_t records = pRegistry->load(now, nowMs);
	_pRegistry = std::move(pRegistry);
	_pHub = std::make_unique<ControlHub>(*_pRegistry);
	_pHandles = std::make_unique<HandleBook>(_pStore.get(), releaseMs);
	const std::size_t handles = _pHandles->load(nowMs);
	_pPrekeys = std::make_unique<PrekeyBook>(_pStore.get());
	const std::size_t bundles = _pPrekeys->load(nowMs);
	_pMailbox = std::make_unique<Mailbox>(_pStore.get(), mail);
	const std::size_t envelopes = _pMailbox->load(nowMs);
	std::vector<AccessToken> tokens;
	_pStore->read([&tokens](Poco::Data::Session& session) { tokens = TokenBook::load(session); });
	_tokens.replace(tokens, nowMs);
	const auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count();
	_logger.information("state from %s in %Ld ms: %z records, %z handles, %z pre-key bundles, %z envelopes, %z access tokens",
		_pStore->path(), static_cast<Poco::Int64>(millis), records, handles, bundles, envelopes, tokens.size());
	if (_config.access == RelayAccess::TOKEN && tokens.empty())
		_logger.warning("relay.access = token and no access token yet: add one with crosschat-relay token add");
}


void RelayServer::Impl::reloadTokens()
	/// Another process (crosschat-relay token ...) changed the database: take the tokens again
	/// and end the channels of those no longer in force. On the store's writer thread.
{
	std::vector<AccessToken> tokens;
	try
	{
		_pStore->read([&tokens](Poco::Data::Session& session) { tokens = TokenBook::load(session); });
	}
	catch (const Poco::Exception& exc)
	{
		_logger.error("cannot reload the access tokens: %s", exc.displayText());
		return;
	}
	const std::vector<std::string> ended = _tokens.replace(tokens, ServerContext::wallMs());
	_logger.information("access tokens reloaded: %z", tokens.size());
	for (const std::string& id: ended)
	{
		_logger.information("access token %s is no longer in force: closing its control channels", id);
		_pHub->endToken(id);
	}
}


void RelayServer::Impl::startListeners()
	/// Binds both listeners on the first loop (a TcpListener lives on its loop thread).
{
	std::promise<void> bound;
	RelayLoop& first = *_loops.front();
	first.loop().post([this, &first, &bound]
	{
		try
		{
			try
			{
				_pListener = std::make_unique<TcpListener>(first.loop(), _config.bind,
					[this](std::shared_ptr<Poco::Net::StreamSocket> pSocket) { onAccept(std::move(pSocket)); });
			}
			catch (const Poco::Net::NetException& exc)
			{
				if (exc.code() == EADDRINUSE || exc.message().find("already in use") != std::string::npos)
				{
					throw Poco::Net::NetException("port " + std::to_string(_config.bind.port()) + " is taken: another program (or relay) listens on "
						+ _config.bind.toString(), exc.code());
				}
				throw;
			}
			_port = _pListener->address().port();
			std::uint16_t probe = 0;
			bool wanted = true;
			if (_config.probePort)
			{
				wanted = *_config.probePort != 0;
				probe = *_config.probePort;
			}
			else if (_config.bind.port() != 0)
			{
				wanted = _config.bind.port() != 65535;
				probe = static_cast<std::uint16_t>(_config.bind.port() + 1);
			}
			if (wanted)
			{
				const Poco::Net::SocketAddress address(_config.bind.host(), probe);
				try
				{
					_pProbeListener = std::make_unique<TcpListener>(first.loop(), address,
						[this](const Poco::Net::StreamSocket& socket) { onProbe(socket); });
				}
				catch (const Poco::Net::NetException& exc)
				{
					_pListener.reset();
					throw Poco::Net::NetException("NAT probe port " + std::to_string(probe) + " is taken (set relay.probePort, "
						"or 0 for none): " + exc.displayText(), exc.code());
				}
				_probePort = _pProbeListener->address().port();
			}
			_pContext->probePort = _probePort;
			bound.set_value();
		}
		catch (...)
		{
			bound.set_exception(std::current_exception());
		}
	});
	bound.get_future().get();
}


RelayLoop& RelayServer::Impl::nextLoop()
{
	RelayLoop& relayLoop = *_loops[_nextLoop % _loops.size()];
	++_nextLoop;
	return relayLoop;
}


void RelayServer::Impl::onAccept(std::shared_ptr<Poco::Net::StreamSocket> pSocket)
	/// On the first loop: admission before anything is read, then hand-off (the socket goes
	/// to the serving loop in its shared_ptr, no copy stays here: see TcpListener::HandOffHandler).
{
	const Poco::Net::StreamSocket& socket = *pSocket;
	_metrics.connectionsAccepted++;
	Poco::Net::SocketAddress peer;
	try
	{
		peer = socket.peerAddress();
	}
	catch (const Poco::Exception&)
	{
		return;   // the peer is already gone
	}
	if (_pContext->draining) return;   // the socket closes when it goes out of scope
	const bool trusted = _trustedProxies.contains(peer.host());
	ConnectionBudget::Refusal refusal = ConnectionBudget::Refusal::NONE;
	ConnectionSlot slot = _pBudget->tryReserve(ConnectionKind::HTTP, SourceKey::of(peer.host()), &refusal, trusted);
	if (!slot.valid())
	{
		const bool source = refusal == ConnectionBudget::Refusal::SOURCE;
		_metrics.reject(source ? Rejection::SOURCE_LIMIT : Rejection::CONNECTION_LIMIT);
		if (_logger.debug() && _pContext->logAllowed())
			_logger.debug("connection from %s refused: %s", peer.toString(), std::string(source ? "per-source HTTP limit" : "HTTP connection limit"));
		try
		{
			Poco::Net::StreamSocket(socket).setLinger(true, 0);   // reset: no lingering state for a refused peer
		}
		catch (const Poco::Exception&)
		{
			// Gone already.
		}
		return;
	}
	RelayLoop& relayLoop = nextLoop();
	ServerContext& context = *_pContext;
	auto pSlot = std::make_shared<ConnectionSlot>(std::move(slot));
	auto start = [&context, &relayLoop, pSocket = std::move(pSocket), peer, trusted, pSlot]
	{
		TcpConnection::Ptr pConnection;
		try
		{
			pConnection = TcpConnection::adopt(relayLoop.loop(), *pSocket);
		}
		catch (const Poco::Exception&)
		{
			return;   // reset before we got to it
		}
		if (!(trusted && context.config.proxyProtocol))
		{
			serve(context, relayLoop, pConnection, peer, peer, AddressOrigin::DIRECT, trusted, std::move(*pSlot), std::string());
			return;
		}
		// A trusted proxy speaking PROXY v2: the header comes first (before TLS, too).
		ProxyPreface::read(pConnection, std::chrono::duration_cast<std::chrono::milliseconds>(context.config.firstByteTimeout),
			[&context, &relayLoop, pConnection, peer, pSlot](const ProxyHeader& header, const std::string& rest)
			{
				if (header.status == ProxyHeader::Status::LOCAL)
				{
					serve(context, relayLoop, pConnection, peer, peer, AddressOrigin::DIRECT, true, std::move(*pSlot), rest);
					return;
				}
				// From now on the connection counts against the client's source, not the proxy's.
				ConnectionBudget::Refusal why = ConnectionBudget::Refusal::NONE;
				ConnectionSlot clientSlot = context.budget.tryReserve(ConnectionKind::HTTP, SourceKey::of(header.source.host()), &why);
				if (!clientSlot.valid())
				{
					context.metrics.reject(why == ConnectionBudget::Refusal::SOURCE ? Rejection::SOURCE_LIMIT : Rejection::CONNECTION_LIMIT);
					pConnection->abort("connection limit");
					return;
				}
				pSlot->release();
				serve(context, relayLoop, pConnection, peer, header.source, AddressOrigin::PROXY_PROTOCOL, true, std::move(clientSlot), rest);
			},
			[&context, peer](const std::string& reason)
			{
				context.metrics.reject(Rejection::BAD_REQUEST);
				if (context.logAllowed()) context.logger.warning("connection from proxy %s refused: %s", peer.toString(), reason);
			});
	};
	if (&relayLoop == _loops.front().get()) start();
	else relayLoop.loop().post(std::move(start));   // no copy of the socket stays here
}


void RelayServer::Impl::serve(ServerContext& context, RelayLoop& relayLoop, const TcpConnection::Ptr& pConnection,
	const Poco::Net::SocketAddress& peer, const Poco::Net::SocketAddress& client, AddressOrigin origin, bool trusted,
	ConnectionSlot slot, const std::string& rest)
	/// On the connection's loop: TLS if configured, then the HTTP front.
{
	RelayStream::Ptr pStream;
	if (context.pTls)
	{
		try
		{
			pStream = TlsStream::create(pConnection, context.pTls, rest);
		}
		catch (const Poco::Exception& exc)
		{
			if (context.logAllowed()) context.logger.error("TLS session for %s: %s", peer.toString(), exc.displayText());
			pConnection->abort("TLS setup failed");
			return;
		}
		HttpConnection::start(context, relayLoop, pStream, peer, client, origin, trusted, std::move(slot));
		return;
	}
	HttpConnection::start(context, relayLoop, PlainStream::create(pConnection), peer, client, origin, trusted, std::move(slot), rest);
}


void RelayServer::Impl::onProbe(const Poco::Net::StreamSocket& socket)
	/// On the first loop: one line with the observed address, then a graceful close.
{
	Poco::Net::SocketAddress peer;
	try
	{
		peer = socket.peerAddress();
	}
	catch (const Poco::Exception&)
	{
		return;
	}
	if (_pContext->draining) return;
	const bool trusted = _trustedProxies.contains(peer.host());
	if (trusted && !_config.proxyProtocol)
	{
		// Through a proxy without PROXY headers the source port is the proxy's: no answer is
		// better than a wrong one (clients then report an unknown NAT and use tunnels).
		_metrics.reject(Rejection::UNAVAILABLE);
		return;
	}
	const auto now = _pContext->now();
	Clock::duration retryAfter{};
	if (!trusted && !_pRequestRate->admit(SourceKey::of(peer.host()), now, retryAfter))
	{
		_metrics.reject(Rejection::RATE_LIMITED);
		if (_logger.debug() && _pContext->logAllowed()) _logger.debug("probe from %s refused: rate limited", peer.toString());
		return;
	}
	ConnectionBudget::Refusal refusal = ConnectionBudget::Refusal::NONE;
	ConnectionSlot slot = _pBudget->tryReserve(ConnectionKind::PROBE, SourceKey::of(peer.host()), &refusal, trusted);
	if (!slot.valid())
	{
		_metrics.reject(refusal == ConnectionBudget::Refusal::SOURCE ? Rejection::SOURCE_LIMIT : Rejection::CONNECTION_LIMIT);
		if (_logger.debug() && _pContext->logAllowed()) _logger.debug("probe from %s refused: connection limit", peer.toString());
		return;
	}
	TcpConnection::Ptr pConnection;
	try
	{
		pConnection = TcpConnection::adopt(_loops.front()->loop(), socket);
	}
	catch (const Poco::Exception&)
	{
		return;
	}
	if (!trusted)
	{
		answerProbe(pConnection, peer, std::move(slot));
		return;
	}
	// A trusted proxy with PROXY v2: read the header (bounded in size and time) first.
	auto pSlot = std::make_shared<ConnectionSlot>(std::move(slot));
	std::weak_ptr<TcpConnection> pWeak = pConnection;
	RelayMetrics& metrics = _metrics;
	ProxyPreface::read(pConnection, std::chrono::duration_cast<std::chrono::milliseconds>(_config.firstByteTimeout),
		[this, pWeak, pSlot](const ProxyHeader& header, const std::string&)
		{
			const TcpConnection::Ptr pProbe = pWeak.lock();
			if (!pProbe) return;
			if (header.status == ProxyHeader::Status::PROXY) answerProbe(pProbe, header.source, std::move(*pSlot));
			else pProbe->close();   // the proxy's own health check
		},
		[&metrics](const std::string&) { metrics.reject(Rejection::BAD_REQUEST); });
}


void RelayServer::Impl::answerProbe(const TcpConnection::Ptr& pConnection, const Poco::Net::SocketAddress& observed, ConnectionSlot slot)
{
	auto pSlot = std::make_shared<ConnectionSlot>(std::move(slot));
	pConnection->setDataHandler(nullptr);
	pConnection->setCloseHandler([pSlot](const std::string&) {});   // holds the slot until the connection ends
	pConnection->send("{\"observed\":\"" + observed.toString() + "\"}\n");
	pConnection->close();
	_metrics.probesAnswered++;
}


void RelayServer::Impl::sweep()
{
	const auto now = _pContext->now();
	const std::int64_t nowMs = ServerContext::wallMs();
	const std::size_t expired = _pRegistry->sweep(now);
	_metrics.recordsExpired += expired;
	_metrics.handlesReleased += _pHandles->sweep(nowMs);
	_pPrekeys->sweep(nowMs);
	_metrics.mailExpired += _pMailbox->sweep(nowMs);
	for (const std::string& id: _tokens.expire(nowMs))
	{
		_logger.information("access token %s has expired: closing its control channels", id);
		_pHub->endToken(id);
	}
	_pRequestRate->sweep(now);
	_pTunnelRate->sweep(now);
	if (expired > 0) _logger.debug("%z peer records expired", expired);
}


void RelayServer::Impl::onLoops(const std::function<void(RelayLoop&, bool first)>& work)
	/// Runs work on every loop in turn and waits for each.
{
	for (const auto& pLoop: _loops)
	{
		std::promise<void> done;
		RelayLoop* pRelayLoop = pLoop.get();
		const bool first = pRelayLoop == _loops.front().get();
		pLoop->loop().post([&work, pRelayLoop, first, &done]
		{
			try
			{
				work(*pRelayLoop, first);
			}
			catch (...)
			{
				// Shutting down: nothing to report to.
			}
			done.set_value();
		});
		done.get_future().wait();
	}
}


void RelayServer::Impl::drain()
{
	if (!_running) return;
	_pContext->draining = true;
	_logger.information("draining: no new connections, control channels told to go away, at most "
		+ std::to_string(_config.drainTimeout.count()) + " s for work in progress");
	onLoops([this](RelayLoop& relayLoop, bool first)
	{
		if (first)
		{
			_pListener.reset();
			_pProbeListener.reset();
		}
		relayLoop.drainAll();
	});
	const auto deadline = Clock::now() + _config.drainTimeout;
	while (Clock::now() < deadline)
	{
		if (_pBudget->count(ConnectionKind::HTTP) == 0 && _pBudget->count(ConnectionKind::CONTROL) == 0 && _tunnels.size() == 0) break;
		std::this_thread::sleep_for(std::chrono::milliseconds(20));
	}
	stop();
}


void RelayServer::Impl::stop()
{
	if (!_running) return;
	_running = false;
	_sweepTimer.cancel();
	onLoops([this](RelayLoop& relayLoop, bool first)
	{
		if (first)
		{
			_pListener.reset();
			_pProbeListener.reset();
		}
		relayLoop.shutdownAll();
	});
	// Every write queued so far reaches the disk, and the answers waiting for one are posted to
	// their loops, before the loops go (nothing on them queues an answer after shutdownAll()).
	if (_pStore) _pStore->flush();
	for (const auto& pLoop: _loops) pLoop->stop();
	_loops.clear();
	_tunnels.clear();
}


void RelayServer::Impl::reloadCertificate()
{
	if (!_pTls) throw Poco::IllegalStateException("the relay serves plain HTTP: no certificate to reload");
	_pTls->reload();   // throws TlsConfigException and keeps the old certificate on any problem
	_logger.information("TLS certificate reloaded (for new connections; open ones keep theirs): %s", _pTls->summary());
}


std::uint16_t RelayServer::Impl::port() const
{
	return _port;
}


std::uint16_t RelayServer::Impl::probePort() const
{
	return _probePort;
}


std::string RelayServer::Impl::healthJson() const
{
	return _pApi ? _pApi->healthJson() : std::string();
}


void RelayServer::Impl::flush()
{
	if (_pStore) _pStore->flush();
}


RelayServer::RelayServer(RelayServerConfig config):
	_pImpl(new Impl(std::move(config)))
{
}


RelayServer::~RelayServer() = default;


void RelayServer::start()
{
	_pImpl->start();
}


void RelayServer::drain()
{
	_pImpl->drain();
}


void RelayServer::stop()
{
	_pImpl->stop();
}


void RelayServer::reloadCertificate()
{
	_pImpl->reloadCertificate();
}


std::uint16_t RelayServer::port() const
{
	return _pImpl->port();
}


std::uint16_t RelayServer::probePort() const
{
	return _pImpl->probePort();
}


std::string RelayServer::healthJson() const
{
	return _pImpl->healthJson();
}


void RelayServer::flush()
{
	_pImpl->flush();
}


} } // namespace CrossChat::Relay
