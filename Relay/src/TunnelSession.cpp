//
// TunnelSession.cpp
//
// Library: Relay
//


#include "TunnelSession.h"
#include "RelayMetrics.h"
#include "TunnelManager.h"
#include <algorithm>


namespace CrossChat {
namespace Relay {


namespace {


constexpr std::size_t RESUME_CHUNK = 16 * 1024;   ///< Wait for at least this much budget before reading again.
constexpr std::chrono::milliseconds MIN_RESUME_DELAY{1};
constexpr std::chrono::milliseconds MAX_RESUME_DELAY{1000};


} // namespace


TunnelSession::End::End(TokenBucket initialBucket):
	bucket(initialBucket)
{
}


TunnelSession::TunnelSession(ServerContext& context, RelayLoop& relayLoop, std::string callerToken,
	std::string calleeToken):
	_context(context),
	_relayLoop(relayLoop),
	_callerToken(std::move(callerToken)),
	_calleeToken(std::move(calleeToken)),
	_ends{End(TokenBucket(static_cast<double>(context.config.tunnelRateBytesPerSecond),
			2.0 * static_cast<double>(context.config.tunnelRateBytesPerSecond), context.now())),
		End(TokenBucket(static_cast<double>(context.config.tunnelRateBytesPerSecond),
			2.0 * static_cast<double>(context.config.tunnelRateBytesPerSecond), context.now()))},
	_lastActivity(context.now())
{
}


TunnelSession::~TunnelSession() = default;


RelayLoop& TunnelSession::relayLoop() const
{
	return _relayLoop;
}


void TunnelSession::start()
{
	_relayLoop.add(shared_from_this());
	std::weak_ptr<TunnelSession> pWeak = shared_from_this();
	_joinTimer = _relayLoop.loop().runAfter(_context.config.tunnelJoinTimeout, [pWeak]
	{
		auto pSelf = pWeak.lock();
		if (pSelf && !(pSelf->_ends[0].joined && pSelf->_ends[1].joined))
		{
			pSelf->_context.metrics.tunnelsExpired++;
			pSelf->finish("join timeout", true);
		}
	});
	const auto idle = std::chrono::duration_cast<std::chrono::milliseconds>(_context.config.tunnelIdleTimeout);
	const auto period = std::clamp(idle / 4, std::chrono::milliseconds(50), std::chrono::milliseconds(5000));
	_idleTimer = _relayLoop.loop().runEvery(period, [pWeak]
	{
		if (auto pSelf = pWeak.lock()) pSelf->checkIdle();
	});
}


void TunnelSession::join(int side, const Poco::Net::StreamSocket& socket, ConnectionSlot slot)
{
	End& end = _ends[static_cast<std::size_t>(side)];
	if (_finished || end.joined)
	{
		Poco::Net::StreamSocket(socket).close();
		return;
	}
	end.joined = true;
	end.slot = std::move(slot);
	end.pConnection = TcpConnection::adopt(_relayLoop.loop(), socket);
	end.pConnection->setHighWaterMark(HIGH_WATER_MARK);
	try
	{
		Poco::Net::StreamSocket(socket).setNoDelay(true);
	}
	catch (const Poco::Exception&)
	{
		// Only a latency optimisation.
	}
	std::shared_ptr<TunnelSession> pSelf = shared_from_this();
	end.pConnection->setDataHandler([pSelf, side](const char* data, std::size_t size)
	{
		pSelf->onData(side, data, size);
	});
	end.pConnection->setCloseHandler([pSelf, side](const std::string&)
	{
		pSelf->onEnded(side);
	});
	end.pConnection->setDrainHandler([pSelf, side]
	{
		pSelf->pump(1 - side);   // this end has room again: read more from the other one
	});
	_lastActivity = _context.now();
	if (_ends[0].joined && _ends[1].joined)
	{
		_joinTimer.cancel();
		_context.metrics.tunnelsJoined++;
		pump(0);
		pump(1);
	}
}


void TunnelSession::onData(int side, const char* data, std::size_t size)
{
	if (_finished) return;
	_ends[static_cast<std::size_t>(side)].held.append(data, size);
	_lastActivity = _context.now();
	pump(side);
}


void TunnelSession::pump(int side)
{
	if (_finished) return;
	End& source = _ends[static_cast<std::size_t>(side)];
	End& target = _ends[static_cast<std::size_t>(1 - side)];
	if (!source.pConnection) return;
	if (!target.joined)
	{
		if (source.held.size() >= HOLD_LIMIT) source.pConnection->pauseReading();
		return;
	}
	if (target.ended || target.pConnection->closed())
	{
		source.held.clear();
		return;
	}
	if (!source.held.empty())
	{
		const auto now = _context.now();
		const double budget = std::min(source.bucket.available(now), _context.globalRate.available(now));
		const std::size_t n = std::min(source.held.size(), static_cast<std::size_t>(std::max(0.0, budget)));
		if (n > 0)
		{
			target.pConnection->send(source.held.data(), n);
			source.held.erase(0, n);
			source.bucket.take(static_cast<double>(n), now);
			_context.globalRate.take(static_cast<double>(n), now);
			_context.metrics.bytesRelayed.add(n, now);
			_lastActivity = now;
		}
		if (!source.held.empty())
		{
			source.pConnection->pauseReading();
			const double wanted = static_cast<double>(std::min(source.held.size(), RESUME_CHUNK));
			auto delay = std::max(source.bucket.timeUntil(wanted, now), _context.globalRate.timeUntil(wanted, now));
			delay = std::clamp<ServerContext::Clock::duration>(delay, MIN_RESUME_DELAY, MAX_RESUME_DELAY);
			std::weak_ptr<TunnelSession> pWeak = shared_from_this();
			source.resumeTimer = _relayLoop.loop().runAfter(delay, [pWeak, side]
			{
				if (auto pSelf = pWeak.lock()) pSelf->pump(side);
			});
			return;
		}
	}
	if (source.ended)
	{
		finish("", false);
		return;
	}
	if (target.pConnection->aboveHighWaterMark()) source.pConnection->pauseReading();
	else source.pConnection->resumeReading();
}


void TunnelSession::onEnded(int side)
{
	End& end = _ends[static_cast<std::size_t>(side)];
	end.ended = true;
	const End& other = _ends[static_cast<std::size_t>(1 - side)];
	if (end.held.empty() || !other.joined || other.ended) finish("", false);
	// else pump() forwards what is held and then finishes.
}


void TunnelSession::checkIdle()
{
	if (_finished) return;
	if (_context.now() - _lastActivity >= _context.config.tunnelIdleTimeout)
	{
		_context.logger.debug("tunnel idle for %?d s, closing", static_cast<long long>(_context.config.tunnelIdleTimeout.count()));
		finish("idle", true);
	}
}


void TunnelSession::finish(const std::string& reason, bool abort)
{
	if (_finished) return;
	_finished = true;
	_joinTimer.cancel();
	_idleTimer.cancel();
	for (End& end: _ends)
	{
		end.resumeTimer.cancel();
		end.held.clear();
		if (end.pConnection && !end.pConnection->closed())
		{
			if (abort) end.pConnection->abort(reason);
			else end.pConnection->close();
		}
	}
	_context.tunnels.remove(_callerToken, _calleeToken);
	_relayLoop.remove(this);
}


void TunnelSession::shutdown()
{
	finish("relay stopping", true);
}


} } // namespace CrossChat::Relay
