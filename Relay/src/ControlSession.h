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
#include "RelayStream.h"
#include "TokenBucket.h"
#include "CrossChat/FrameCodec.h"
#include "CrossChat/Relay/ControlMessages.h"
#include "CrossChat/PeerId.h"
#include "CrossChat/PublicKey.h"
#include "Poco/JSON/Object.h"
#include "Poco/Net/SocketAddress.h"
#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>


namespace CrossChat {
namespace Relay {


struct AccessToken;


class ControlSession: public LoopSession, public std::enable_shared_from_this<ControlSession>
	/// hello -> challenge -> auth -> welcome, then invites, punch messages and the client's
	/// keepalive pings (RelayProtocol). Any protocol violation gets an error frame and closes the
	/// channel.
	///
	/// Keepalive: only the client pings (every welcome.ping_s = controlKeepalive); the relay
	/// answers each ping and resets a channel from which nothing has arrived for
	/// 3 x controlKeepalive. welcome.keepalive_s is twice ping_s, so that clients that ping every
	/// keepalive_s / 2 (the first protocol version) ping at the same period.
	///
	/// Mailbox: after mail_fetch {window} the relay sends the peer's envelopes (mail), oldest
	/// first, at most window unacknowledged at once, and new ones as they are deposited; each
	/// mail_ack deletes one. Unacknowledged envelopes are sent again on the next channel.
	///
	/// Private relays: the channel was opened with an access token (the upgrade request's); its
	/// peer counts against the token's quota of peers online, and the channel ends (error
	/// "token_revoked") when the token is revoked or expires.
	///
	/// Hole punching: punch messages are rate-limited per channel and forwarded through the hub.
	/// A peer learns another peer's address from the relay only inside a punch both take part
	/// in: a connect with reply (the answer) is forwarded only to a peer that sent this one a
	/// connect within PUNCH_WINDOW, a sync only to a peer whose answer this one received; the
	/// relay adds the sender's observed address (as it sees it) to those two, never to the
	/// first connect.
	///
	/// Thread rules: every method must be called from the session's loop thread.
	/// Ownership: kept alive by its stream's handlers until the stream ends; registered with
	/// its RelayLoop (ticks: handshake and silence timeouts).
{
public:
	static constexpr std::size_t MAX_FRAME_BODY = 4096;   ///< What a client may send.
	static constexpr double PUNCH_RATE = 10;     ///< Punch messages per second a peer may send...
	static constexpr double PUNCH_BURST = 20;    ///< ...with this burst.
	static constexpr std::chrono::seconds PUNCH_WINDOW{10};
	static constexpr std::size_t MAX_PUNCH_PARTNERS = 16;   ///< Punches remembered per channel.
	static constexpr unsigned SILENT_PERIODS = 3;

	static std::shared_ptr<ControlSession> start(ServerContext& context, RelayLoop& relayLoop,
		const RelayStream::Ptr& pStream, ConnectionSlot slot, const Poco::Net::SocketAddress& observed,
		bool addressKnown, const std::string& leftover, std::shared_ptr<const AccessToken> token = nullptr);
		/// Takes over the upgraded stream and waits for hello; leftover holds bytes that arrived
		/// with the upgrade request. observed is the client's address (after any PROXY header or
		/// X-Forwarded-For); addressKnown is false when its port (or the address) is not the
		/// client's own, and then the relay offers no NAT probing or punch coordination.

	~ControlSession() override;

	void sendInvite(const std::string& token, const PeerId& from, const std::string& name);
	void sendPunch(const PeerId& from, const PunchMessage& punch, const Poco::Net::SocketAddress& observed);
		/// Forwards a punch message of peer from (observed: from's address, for replies and syncs).
	void replace();
		/// Another channel authenticated for the same ID.
	void tokenEnded();
		/// The channel's access token was revoked or has expired: error "token_revoked", closed.
	void mailArrived();
		/// The peer's mailbox has a new envelope: send it if the window allows.
	void shutdown() override;
	void drain() override;
		/// Tells the client the relay is going away (error "going_away" with retry_after_s) and closes.
	void tick(Clock::time_point now) override;

private:
	enum class State
	{
		AWAIT_HELLO,
		AWAIT_AUTH,
		ONLINE,
		CLOSED
	};

	struct PunchPartner
	{
		PeerId peer;
		Clock::time_point offered{};    ///< The peer sent us a connect (we may answer).
		Clock::time_point answered{};   ///< The peer answered our connect (we may sync).
	};

	ControlSession(ServerContext& context, RelayLoop& relayLoop, const RelayStream::Ptr& pStream, ConnectionSlot slot,
		const Poco::Net::SocketAddress& observed, bool addressKnown);
	void onData(const char* data, std::size_t size);
	void handle(const Frame& frame);
	void handleHello(const Frame& frame);
	void handleAuth(const Frame& frame);
	void handlePunch(const Frame& frame);
	void handleMailFetch(const Frame& frame);
	void handleMailAck(const Frame& frame);
	void pumpMail();
	PunchPartner& partner(const PeerId& peer);
	PunchPartner* findPartner(const PeerId& peer);
	void sendPunchError(const std::string& code, const std::string& message, const PeerId& peer);
	static FrameCodec& sendCodec();
		/// Frames what the relay sends: up to RelayProtocol::CLIENT_CONTROL_FRAME, since mail
		/// frames carry envelopes (what it receives stays within MAX_FRAME_BODY). Shared by
		/// every loop: encoding is const.

	template <class M, class... Args>
	void send(const M& message, Args... args)
	{
		_pStream->send(encodeControl(sendCodec(), message, args...));
	}
	void fail(Rejection reason, const std::string& code, const std::string& message);
	void leaveHub();
	void ended();

	ServerContext& _context;
	RelayLoop& _relayLoop;
	RelayStream::Ptr _pStream;
	ConnectionSlot _slot;
	const Poco::Net::SocketAddress _observed;
	const bool _addressKnown;
	FrameCodec _codec;
	State _state = State::AWAIT_HELLO;
	std::optional<PublicKey> _key;
	std::string _nonce;
	std::uint64_t _serial = 0;
	Clock::time_point _started;
	Clock::time_point _lastHeard;
	TokenBucket _punchRate;
	std::vector<PunchPartner> _punchPartners;
	std::shared_ptr<const AccessToken> _token;
	bool _mailSubscribed = false;
	std::size_t _mailWindow = 0;
	std::set<std::string> _mailInFlight;   ///< Envelopes sent and not yet acknowledged (raw IDs).
};


} } // namespace CrossChat::Relay


#endif // CrossChat_Relay_ControlSession_INCLUDED
