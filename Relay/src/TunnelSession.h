//
// TunnelSession.h
//
// Library: Relay
// Internal header: one forwarding tunnel, copying bytes between its two ends, which may live
// on different event loops.
// This is an internal header file, you should not include this.
//


#ifndef CrossChat_Relay_TunnelSession_INCLUDED
#define CrossChat_Relay_TunnelSession_INCLUDED


#include "ConnectionBudget.h"
#include "RelayStream.h"
#include "ServerContext.h"
#include "SourceKey.h"
#include "TokenBucket.h"
#include "CrossChat/EventLoop.h"
#include "CrossChat/TimerHandle.h"
#include <array>
#include <atomic>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>


namespace CrossChat {
namespace Relay {


class TunnelSession;


class TunnelEnd: public LoopSession, public std::enable_shared_from_this<TunnelEnd>
	/// One joined end of a tunnel, on the loop that accepted its connection. It reads from its
	/// stream, rate-limits what it read (its own bucket and the relay-wide one), and hands it to
	/// the other end: directly when both are on one loop, else as a task posted to the other
	/// end's loop. Bytes handed over and not yet written out by the other end are credit: above
	/// TunnelSession::HIGH_WATER_MARK this end stops reading (TCP pushes back on the sender)
	/// until the other end has written enough to fall below half of it.
	///
	/// Thread rules: every method must be called from its loop thread, except credit() and the
	/// atomics it touches, which the other end's loop uses.
	/// Ownership: held by its TunnelSession while the tunnel runs, and by its stream's handlers.
{
public:
	TunnelEnd(TunnelSession& session, int side, RelayLoop& relayLoop, const RelayStream::Ptr& pStream, ConnectionSlot slot);
	~TunnelEnd() override;

	void start(const std::string& leftover);
	void pump();
	void receive(const std::shared_ptr<const std::string>& pChunk, const std::shared_ptr<TunnelEnd>& pFrom);
		/// Writes bytes the other end read (on this end's loop).
	void credit(std::size_t bytes);
		/// The other end has written bytes of ours out; may resume reading. Any thread.
	void terminate(bool abort, const std::string& reason);
		/// Closes this end (gracefully after what it has to write, or at once).
	RelayLoop& relayLoop() const;

	void shutdown() override;

private:
	void onData(const char* data, std::size_t size);
	void onDrain();
	void onClosed(const std::string& reason);

	std::shared_ptr<TunnelSession> _pSession;   ///< Reset once the end has closed (breaks the cycle).
	const int _side;
	RelayLoop& _relayLoop;
	RelayStream::Ptr _pStream;
	ConnectionSlot _slot;
	TokenBucket _bucket;                        ///< Limits what is read from this end.
	std::string _held;                          ///< Read, not yet handed to the other end.
	std::shared_ptr<TunnelEnd> _pOwedTo;        ///< The end whose bytes wait in our stream's buffer.
	std::size_t _owed = 0;                      ///< How many (credited once our stream drains).
	std::atomic<std::size_t> _inFlight{0};      ///< Handed to the other end, not yet credited.
	std::atomic<bool> _waitingForCredit{false};
	TimerHandle _resumeTimer;
	bool _ended = false;                        ///< Our stream's peer closed (FIN).
	bool _terminated = false;
};


class TunnelSession: public std::enable_shared_from_this<TunnelSession>
	/// Side 0 is the caller (who asked for the tunnel), side 1 the callee (invited). Bytes are
	/// copied unread (over TLS: the relay decrypts its own transport, never the chat's TLS
	/// inside). Each direction has its own token bucket (tunnelRateBytesPerSecond, burst twice
	/// that) and also draws from the relay-wide bucket; while a bucket is empty, or the other
	/// end has too much unwritten, the sending end is not read. Bytes sent before the partner
	/// has joined are held, up to HOLD_LIMIT. The session ends when either end closes (after
	/// forwarding what it sent), when it is idle for tunnelIdleTimeout, or when both ends have
	/// not joined within tunnelJoinTimeout. Both ends' connection slots are charged to the
	/// caller's source (owner()).
	///
	/// Thread rules: create(), start(), cancel(), owner() from any thread; join() from the
	/// joining stream's loop thread.
	/// Ownership: held by the TunnelManager until it ends, and by its ends.
{
public:
	using Ptr = std::shared_ptr<TunnelSession>;
	static constexpr std::size_t HOLD_LIMIT = 64 * 1024;
	static constexpr std::size_t HIGH_WATER_MARK = 256 * 1024;

	static Ptr create(ServerContext& context, const std::string& callerToken, const std::string& calleeToken,
		const SourceKey& owner);
		/// Must be called from a RelayLoop's thread (its loop runs the session's timers).

	~TunnelSession();

	void start();
		/// Arms the join timeout and the idle check.
	void cancel();
		/// Ends the tunnel at once (an end could not be joined, the invite failed).
	const SourceKey& owner() const;

	void join(int side, RelayLoop& relayLoop, const RelayStream::Ptr& pStream, ConnectionSlot slot,
		const std::string& leftover);
		/// Adopts the upgraded stream of one end; leftover holds bytes already read after its
		/// upgrade request.

private:
	friend class TunnelEnd;

	TunnelSession(ServerContext& context, EventLoop& timerLoop, const std::string& callerToken,
		const std::string& calleeToken, const SourceKey& owner);
	std::shared_ptr<TunnelEnd> partnerOf(int side);
	void endClosed(int side, bool orderly);
	void finish(const std::string& reason, bool abort);
	void touch();
	void checkIdle();

	ServerContext& _context;
	EventLoop& _timerLoop;
	const std::string _callerToken;
	const std::string _calleeToken;
	const SourceKey _owner;
	std::mutex _mutex;                                   ///< Guards _ends, _finished and the two timer handles.
	std::array<std::shared_ptr<TunnelEnd>, 2> _ends;
	bool _finished = false;
	std::atomic<ServerContext::Clock::rep> _lastActivity{0};
	TimerHandle _joinTimer;
	TimerHandle _idleTimer;
};


} } // namespace CrossChat::Relay


#endif // CrossChat_Relay_TunnelSession_INCLUDED
