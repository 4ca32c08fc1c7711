//
// TunnelSession.h
//
// Library: Relay
// Internal header: one forwarding tunnel, copying bytes between its two ends.
// This is an internal header file, you should not include this.
//


#ifndef CrossChat_Relay_TunnelSession_INCLUDED
#define CrossChat_Relay_TunnelSession_INCLUDED


#include "ServerContext.h"
#include "TokenBucket.h"
#include "CrossChat/PeerId.h"
#include "CrossChat/TcpConnection.h"
#include "CrossChat/TimerHandle.h"
#include "Poco/Net/StreamSocket.h"
#include <array>
#include <cstddef>
#include <memory>
#include <string>


namespace CrossChat {
namespace Relay {


class TunnelSession: public LoopSession, public std::enable_shared_from_this<TunnelSession>
	/// Side 0 is the caller (who asked for the tunnel), side 1 the callee (invited). Bytes are
	/// copied unread. Each direction has its own token bucket (tunnelRateBytesPerSecond, burst
	/// twice that) and also draws from the relay-wide bucket; while a bucket is empty, or the
	/// receiving end has more than HIGH_WATER_MARK bytes unsent, the sending end is not read,
	/// so TCP pushes back on it. Bytes sent before the partner has joined are held, up to
	/// HOLD_LIMIT. The session ends when either end closes (after forwarding what it sent),
	/// when it is idle for tunnelIdleTimeout, or when both ends have not joined within
	/// tunnelJoinTimeout.
	///
	/// Thread rules: created on any thread; every other method must be called from its loop
	/// thread.
	/// Ownership: held by the TunnelManager until it ends, and by its connections' handlers.
{
public:
	static constexpr std::size_t HOLD_LIMIT = 64 * 1024;
	static constexpr std::size_t HIGH_WATER_MARK = 256 * 1024;

	TunnelSession(ServerContext& context, RelayLoop& relayLoop, std::string callerToken,
		std::string calleeToken);
	~TunnelSession() override;

	RelayLoop& relayLoop() const;

	void start();
		/// Arms the join timeout. Must be called from the loop thread.

	void join(int side, const Poco::Net::StreamSocket& socket, ConnectionSlot slot);
		/// Adopts the upgraded socket of one end.

	void shutdown() override;

private:
	struct End
	{
		explicit End(TokenBucket initialBucket);

		TcpConnection::Ptr pConnection;
		ConnectionSlot slot;
		std::string held;            ///< Read from this end, not yet forwarded.
		TokenBucket bucket;          ///< Limits what is read from this end.
		TimerHandle resumeTimer;
		bool joined = false;
		bool ended = false;
	};

	void onData(int side, const char* data, std::size_t size);
	void pump(int side);
	void onEnded(int side);
	void finish(const std::string& reason, bool abort);
	void checkIdle();

	ServerContext& _context;
	RelayLoop& _relayLoop;
	const std::string _callerToken;
	const std::string _calleeToken;
	std::array<End, 2> _ends;
	ServerContext::Clock::time_point _lastActivity;
	TimerHandle _joinTimer;
	TimerHandle _idleTimer;
	bool _finished = false;
};


} } // namespace CrossChat::Relay


#endif // CrossChat_Relay_TunnelSession_INCLUDED
