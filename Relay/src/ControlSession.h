//
// ControlSession.h
//
// Library: Relay
// Internal header: the relay's end of one control channel.
// This is an internal header file, you should not include this.
//


#ifndef CrossChat_Relay_ControlSession_INCLUDED
#define CrossChat_Relay_ControlSession_INCLUDED


#include "ServerContext.h"
#include "RelayMetrics.h"
#include "TokenBucket.h"
#include "CrossChat/FrameCodec.h"
#include "CrossChat/PeerId.h"
#include "CrossChat/PublicKey.h"
#include "CrossChat/Relay/ControlMessages.h"
#include "CrossChat/TcpConnection.h"
#include "CrossChat/TimerHandle.h"
#include "Poco/JSON/Object.h"
#include "Poco/Net/StreamSocket.h"
#include <cstdint>
#include <memory>
#include <optional>
#include <string>


namespace CrossChat {
namespace Relay {


class ControlSession: public LoopSession, public std::enable_shared_from_this<ControlSession>
	/// hello -> challenge -> auth -> welcome, then keepalives, invites and punch messages
	/// (RelayProtocol); punch messages are rate-limited per channel and forwarded through the hub.
	/// Any protocol violation gets an error frame and closes the channel.
	///
	/// Thread rules: every method must be called from the session's loop thread.
	/// Ownership: kept alive by its connection's handlers until the connection ends.
{
public:
	static constexpr std::size_t MAX_FRAME_BODY = 4096;
	static constexpr double PUNCH_RATE = 10;     ///< Punch messages per second a peer may send...
	static constexpr double PUNCH_BURST = 20;    ///< ...with this burst.

	static std::shared_ptr<ControlSession> start(ServerContext& context, RelayLoop& relayLoop,
		const Poco::Net::StreamSocket& socket, ConnectionSlot slot);
		/// Adopts the upgraded socket and waits for hello.

	~ControlSession() override;

	void sendInvite(const std::string& token, const PeerId& from, const std::string& name);
	void sendPunch(const PeerId& from, const PunchMessage& punch);
		/// Forwards a punch message of peer from.
	void replace();
		/// Another channel authenticated for the same ID.
	void shutdown() override;

private:
	enum class State
	{
		AWAIT_HELLO,
		AWAIT_AUTH,
		ONLINE,
		CLOSED
	};

	ControlSession(ServerContext& context, RelayLoop& relayLoop, ConnectionSlot slot);
	void onData(const char* data, std::size_t size);
	void handle(const Frame& frame);
	void handleHello(const Frame& frame);
	void handleAuth(const Frame& frame);
	void handlePunch(const Frame& frame);
	void sendPunchError(const std::string& code, const std::string& message, const PeerId& peer);
	void keepalive();
	template <class M, class... Args>
	void send(const M& message, Args... args)
	{
		_pConnection->send(encodeControl(_codec, message, args...));
	}
	void fail(Rejection reason, const std::string& code, const std::string& message);
	void ended();

	ServerContext& _context;
	RelayLoop& _relayLoop;
	ConnectionSlot _slot;
	TcpConnection::Ptr _pConnection;
	FrameCodec _codec;
	State _state = State::AWAIT_HELLO;
	std::optional<PublicKey> _key;
	std::string _nonce;
	std::uint64_t _serial = 0;
	std::int64_t _pingCounter = 0;
	ServerContext::Clock::time_point _lastHeard;
	TimerHandle _helloTimer;
	TimerHandle _keepaliveTimer;
	TokenBucket _punchRate;
};


} } // namespace CrossChat::Relay


#endif // CrossChat_Relay_ControlSession_INCLUDED
