//
// TunnelSession.cpp
//
// Library: Relay
//


#include "TunnelSession.h"
#include "RelayMetrics.h"
#include "TunnelManager.h"
#include "Poco/Exception.h"
#include <algorithm>


namespace CrossChat {
namespace Relay {


namespace {


constexpr std::size_t RESUME_CHUNK = 16 * 1024;   ///< Wait for at least this much budget before reading again.
constexpr std::size_t MAX_CHUNK = 256 * 1024;     ///< Bytes handed over in one piece.
constexpr std::chrono::milliseconds MIN_RESUME_DELAY{1};
constexpr std::chrono::milliseconds MAX_RESUME_DELAY{1000};


} // namespace


// TunnelEnd ------------------------------------------------------------------------------------


TunnelEnd::TunnelEnd(TunnelSession& session, int side, RelayLoop& relayLoop, const RelayStream::Ptr& pStream, ConnectionSlot slot):
	_pSession(session.shared_from_this()),
	_side(side),
	_relayLoop(relayLoop),
	_pStream(pStream),
	_slot(std::move(slot)),
	_bucket(static_cast<double>(session._context.config.tunnelRateBytesPerSecond),
		2.0 * static_cast<double>(session._context.config.tunnelRateBytesPerSecond), session._context.now())
{
}


TunnelEnd::~TunnelEnd() = default;


RelayLoop& TunnelEnd::relayLoop() const
{
	return _relayLoop;
}


void TunnelEnd::start(const std::string& leftover)
{
	std::shared_ptr<TunnelEnd> pSelf = shared_from_this();
	_pStream->setHighWaterMark(TunnelSession::HIGH_WATER_MARK);
	_pStream->setHandlers(
		[pSelf](const char* data, std::size_t size) { pSelf->onData(data, size); },
		[pSelf](const std::string& reason) { pSelf->onClosed(reason); },
		[pSelf] { pSelf->onDrain(); });
	_relayLoop.add(pSelf);
	if (!leftover.empty()) onData(leftover.data(), leftover.size());
}


void TunnelEnd::onData(const char* data, std::size_t size)
{
	if (_terminated || !_pSession) return;
	_pSession->touch();
	_held.append(data, size);
	pump();
}


void TunnelEnd::pump()
{
	if (_terminated || !_pSession) return;
	TunnelSession& session = *_pSession;
	const std::shared_ptr<TunnelEnd> pPartner = session.partnerOf(_side);
	if (!pPartner)
	{
		if (_held.size() >= TunnelSession::HOLD_LIMIT && !_ended) _pStream->pauseReading();
		return;
	}
	ServerContext& context = session._context;
	const bool sameLoop = &pPartner->_relayLoop == &_relayLoop;
	const std::shared_ptr<TunnelEnd> pSelf = shared_from_this();
	bool rateLimited = false;
	std::size_t offset = 0;
	while (offset < _held.size())
	{
		const auto now = context.now();
		const std::size_t inFlight = _inFlight.load();
		const std::size_t window = inFlight >= TunnelSession::HIGH_WATER_MARK ? 0 : TunnelSession::HIGH_WATER_MARK - inFlight;
		const double budget = std::min(_bucket.available(now), context.globalRate.available(now));
		const std::size_t allowed = static_cast<std::size_t>(std::max(0.0, std::min(budget, static_cast<double>(MAX_CHUNK))));
		const std::size_t n = std::min({_held.size() - offset, window, allowed});
		if (n == 0)
		{
			rateLimited = window > 0;
			break;
		}
		_bucket.take(static_cast<double>(n), now);
		context.globalRate.take(static_cast<double>(n), now);
		context.metrics.bytesRelayed.add(n, now);
		_inFlight += n;
		auto pChunk = std::make_shared<const std::string>(_held, offset, n);
		offset += n;
		if (sameLoop)
		{
			pPartner->receive(pChunk, pSelf);
		}
		else
		{
			pPartner->_relayLoop.loop().post([pPartner, pChunk, pSelf] { pPartner->receive(pChunk, pSelf); });
		}
		if (_terminated) return;
	}
	_held.erase(0, offset);
	if (!_held.empty())
	{
		if (!_ended) _pStream->pauseReading();
		if (rateLimited)
		{
			const auto now = context.now();
			const double wanted = static_cast<double>(std::min(_held.size(), RESUME_CHUNK));
			auto delay = std::max(_bucket.timeUntil(wanted, now), context.globalRate.timeUntil(wanted, now));
			delay = std::clamp<ServerContext::Clock::duration>(delay, MIN_RESUME_DELAY, MAX_RESUME_DELAY);
			std::weak_ptr<TunnelEnd> pWeak = pSelf;
			_resumeTimer = _relayLoop.loop().runAfter(delay, [pWeak]
			{
				if (auto pEnd = pWeak.lock()) pEnd->pump();
			});
			return;
		}
	}
	else if (_ended)
	{
		session.endClosed(_side, true);
		return;
	}
	if (_inFlight.load() >= TunnelSession::HIGH_WATER_MARK || !_held.empty())
	{
		if (!_ended) _pStream->pauseReading();
		// Wait for credit; check again after raising the flag, so a credit that came in between
		// is not missed.
		_waitingForCredit = true;
		if (_inFlight.load() <= TunnelSession::HIGH_WATER_MARK / 2 && _waitingForCredit.exchange(false))
			_relayLoop.loop().post([pSelf] { pSelf->pump(); });
		return;
	}
	if (!_ended) _pStream->resumeReading();
}


void TunnelEnd::receive(const std::shared_ptr<const std::string>& pChunk, const std::shared_ptr<TunnelEnd>& pFrom)
{
	if (_terminated || _pStream->closed())
	{
		pFrom->credit(pChunk->size());   // dropped: the tunnel is ending anyway
		return;
	}
	_pStream->send(*pChunk);
	if (_pStream->aboveHighWaterMark())
	{
		_owed += pChunk->size();
		_pOwedTo = pFrom;
		return;
	}
	pFrom->credit(pChunk->size());
}


void TunnelEnd::onDrain()
{
	if (_owed == 0 || !_pOwedTo) return;
	const std::size_t owed = _owed;
	_owed = 0;
	_pOwedTo->credit(owed);
}


void TunnelEnd::credit(std::size_t bytes)
{
	const std::size_t after = _inFlight.fetch_sub(bytes) - bytes;
	if (after <= TunnelSession::HIGH_WATER_MARK / 2 && _waitingForCredit.exchange(false))
	{
		std::shared_ptr<TunnelEnd> pSelf = shared_from_this();
		_relayLoop.loop().post([pSelf] { pSelf->pump(); });
	}
}


void TunnelEnd::onClosed(const std::string& reason)
{
	_ended = true;
	_slot.release();
	_relayLoop.remove(this);
	const std::shared_ptr<TunnelSession> pSession = _pSession;
	if (!_terminated && pSession)
	{
		if (!reason.empty()) pSession->finish(reason, true);
		else if (_held.empty()) pSession->endClosed(_side, true);
		else pump();   // forwards what is held, then ends the tunnel
	}
	if (_terminated || !pSession)
	{
		_pOwedTo.reset();
		_pSession.reset();
	}
}


void TunnelEnd::terminate(bool abort, const std::string& reason)
{
	if (_terminated) return;
	_terminated = true;
	_resumeTimer.cancel();
	_held.clear();
	if (!_pStream->closed())
	{
		if (abort) _pStream->abort(reason);
		else _pStream->close();
	}
	if (_ended)
	{
		_pOwedTo.reset();
		_pSession.reset();
	}
}


void TunnelEnd::shutdown()
{
	const std::shared_ptr<TunnelSession> pSession = _pSession;
	terminate(true, "relay stopping");
	if (pSession) pSession->finish("relay stopping", true);
}


// TunnelSession --------------------------------------------------------------------------------


TunnelSession::TunnelSession(ServerContext& context, EventLoop& timerLoop, const std::string& callerToken,
	const std::string& calleeToken, const SourceKey& owner):
	_context(context),
	_timerLoop(timerLoop),
	_callerToken(callerToken),
	_calleeToken(calleeToken),
	_owner(owner)
{
	touch();
}


TunnelSession::~TunnelSession() = default;


TunnelSession::Ptr TunnelSession::create(ServerContext& context, const std::string& callerToken, const std::string& calleeToken,
	const SourceKey& owner)
{
	EventLoop* pLoop = EventLoop::current();
	if (!pLoop) throw Poco::IllegalStateException("TunnelSession::create outside an event loop");
	return Ptr(new TunnelSession(context, *pLoop, callerToken, calleeToken, owner));
}


const SourceKey& TunnelSession::owner() const
{
	return _owner;
}


void TunnelSession::start()
{
	std::weak_ptr<TunnelSession> pWeak = shared_from_this();
	const auto idle = std::chrono::duration_cast<std::chrono::milliseconds>(_context.config.tunnelIdleTimeout);
	const auto period = std::clamp(idle / 4, std::chrono::milliseconds(50), std::chrono::milliseconds(5000));
	// The handles are touched from several loops (join, finish): always under _mutex.
	std::lock_guard<std::mutex> lock(_mutex);
	if (_finished) return;
	_joinTimer = _timerLoop.runAfter(_context.config.tunnelJoinTimeout, [pWeak]
	{
		auto pSelf = pWeak.lock();
		if (!pSelf) return;
		bool joined = false;
		{
			std::lock_guard<std::mutex> sessionLock(pSelf->_mutex);
			joined = pSelf->_ends[0] && pSelf->_ends[1];
		}
		if (!joined)
		{
			pSelf->_context.metrics.tunnelsExpired++;
			pSelf->finish("join timeout", true);
		}
	});
	_idleTimer = _timerLoop.runEvery(period, [pWeak]
	{
		if (auto pSelf = pWeak.lock()) pSelf->checkIdle();
	});
}


void TunnelSession::cancel()
{
	finish("cancelled", true);
}


void TunnelSession::touch()
{
	_lastActivity.store(_context.now().time_since_epoch().count());
}


void TunnelSession::checkIdle()
{
	const ServerContext::Clock::time_point last{ServerContext::Clock::duration(_lastActivity.load())};
	if (_context.now() - last >= _context.config.tunnelIdleTimeout)
	{
		if (_context.logger.debug())
			_context.logger.debug("tunnel idle for " + std::to_string(_context.config.tunnelIdleTimeout.count()) + " s, closing");
		finish("idle", true);
	}
}


std::shared_ptr<TunnelEnd> TunnelSession::partnerOf(int side)
{
	std::lock_guard<std::mutex> lock(_mutex);
	return _ends[static_cast<std::size_t>(1 - side)];
}


void TunnelSession::join(int side, RelayLoop& relayLoop, const RelayStream::Ptr& pStream, ConnectionSlot slot,
	const std::string& leftover)
{
	auto pEnd = std::make_shared<TunnelEnd>(*this, side, relayLoop, pStream, std::move(slot));
	std::shared_ptr<TunnelEnd> pOther;
	{
		std::lock_guard<std::mutex> lock(_mutex);
		if (_finished || _ends[static_cast<std::size_t>(side)])
		{
			pStream->abort("tunnel ended");
			return;
		}
		_ends[static_cast<std::size_t>(side)] = pEnd;
		pOther = _ends[static_cast<std::size_t>(1 - side)];
		if (pOther) _joinTimer.cancel();
	}
	touch();
	pEnd->start(leftover);
	if (pOther)
	{
		_context.metrics.tunnelsJoined++;
		pOther->relayLoop().loop().post([pOther] { pOther->pump(); });
	}
}


void TunnelSession::endClosed(int, bool orderly)
{
	finish("", !orderly);
}


void TunnelSession::finish(const std::string& reason, bool abort)
{
	std::array<std::shared_ptr<TunnelEnd>, 2> ends;
	{
		std::lock_guard<std::mutex> lock(_mutex);
		if (_finished) return;
		_finished = true;
		ends.swap(_ends);
		_joinTimer.cancel();
		_idleTimer.cancel();
	}
	const Ptr pKeep = shared_from_this();   // the manager may hold the last reference
	_context.tunnels.remove(_callerToken, _calleeToken, _owner);
	for (const auto& pEnd: ends)
	{
		if (!pEnd) continue;
		// Posted after whatever this end still has to write, so an orderly end flushes it first.
		pEnd->relayLoop().loop().post([pEnd, abort, reason] { pEnd->terminate(abort, reason); });
	}
}


} } // namespace CrossChat::Relay
