//
// RelayClient.h
//
// Library: Relay
// A peer's side of the relay: announce, lookup, control channel and tunnels, on an EventLoop.
//


#ifndef CrossChat_Relay_RelayClient_INCLUDED
#define CrossChat_Relay_RelayClient_INCLUDED


#include "CrossChat/ByteStream.h"
#include "CrossChat/EventLoop.h"
#include "CrossChat/Identity.h"
#include "CrossChat/PeerId.h"
#include "CrossChat/Relay/ControlMessages.h"
#include "CrossChat/Relay/Prekey.h"
#include "CrossChat/TcpConnection.h"
#include "Poco/Net/SocketAddress.h"
#include "Poco/URI.h"
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>


namespace CrossChat {
namespace Relay {


struct RelayClientConfig
{
	Poco::URI url;                                   ///< http://host[:port] (port 80 by default) or https://host[:port]
	                                                 ///< (443); the path is not used.
	std::string caFile;                              ///< https: trust the CA certificates of this PEM file instead of
	                                                 ///< the system trust store (Debian: ca-certificates).
	std::string name;
	std::uint16_t chatPort = 0;                      ///< Announced; the relay fills an unspecified host.
	std::vector<Poco::Net::SocketAddress> addresses; ///< Extra announced addresses (LAN, mapped).
	bool directory = false;                          ///< List us in the relay's directory.
	std::chrono::milliseconds requestTimeout{10000}; ///< Per HTTP request, connect included; also the control handshake.
	std::chrono::milliseconds retryMin{1000};        ///< Reconnect/re-announce backoff, doubled up to retryMax, jittered.
	std::chrono::milliseconds retryMax{60000};
	std::string accessToken;                         ///< A private relay's access token: sent as "Authorization:
	                                                 ///< Bearer <token>" with every request and upgrade.
	std::vector<Prekey> prekeys;                     ///< Mailbox pre-keys to publish with every announce.
};


struct RelayPrekeys
	/// A peer's pre-key bundle as a relay handed it out, checked: the key hashes to the ID, and
	/// only pre-keys whose signature by that key verifies and that have not expired are kept.
{
	PeerId id;
	std::string publicKeyRaw;
	std::vector<Prekey> prekeys;   ///< Newest expiry first.
};


struct RelayHandle
	/// A handle's binding as a relay answered it, checked: the key hashes to the ID and signed
	/// the claim of exactly this handle. A relay can withhold or replay a binding, never forge one.
{
	std::string handle;
	PeerId id;
	std::string publicKeyRaw;
	std::int64_t claimTs = 0;
};


struct RelayMail
	/// One envelope from our mailbox at the relay (acknowledge it with acknowledgeMail()).
{
	std::string id;                 ///< The relay's ID for it.
	std::int64_t depositedMs = 0;
	std::string envelope;
};


struct RelayPeerRecord
	/// A lookup answer.
{
	PeerId id;
	std::string name;
	std::vector<Poco::Net::SocketAddress> addresses;   ///< Announced, with unspecified hosts filled by the relay.
	std::optional<Poco::Net::SocketAddress> observed;  ///< The peer's address as the relay saw it.
	bool online = false;                               ///< Its control channel is connected.
	std::int64_t lastSeenMs = 0;
};


struct RelayTunnel
	/// A joined relay tunnel: a byte pipe to the peer through the relay, which copies bytes both
	/// ways without reading them (run TLS over it, e.g. a TlsChannel on connection). Over an
	/// https:// relay the pipe is the plaintext of the client's TLS to the relay, so the TLS run
	/// over it is a second layer inside that one.
	///
	/// Leftover bytes: the peer may send right after joining, so bytes of the tunnel can arrive in
	/// the same read as the relay's 101 response. Those bytes are in leftover; they come BEFORE
	/// anything the connection delivers later and must be processed first (for TLS: fed to the
	/// TLS engine as the first ciphertext). When a TunnelHandler or InviteHandler is called, the
	/// connection has no handlers set (data arriving without a data handler is discarded), and the
	/// loop reads nothing more from it until the handler returns: install your handlers (or call
	/// connection->pauseReading()) before returning.
{
	ByteStream::Ptr connection;      ///< Connected; owned by whoever keeps it (its loop registration keeps it open).
	std::string leftover;            ///< Tunnel bytes that arrived with the 101 response; often empty.
	PeerId peer;                     ///< The other end as the relay names it; unverified (verify it with TLS).
	std::string peerName;            ///< The name from the invitation (empty for openTunnel()).
};


struct NatInfo
	/// What the relay taught us about our NAT: the control channel's and the probe connection's
	/// source addresses as the relay saw them. Both connections leave from the same local port
	/// (RelayClient::punchPort()), so equal observed ports mean the NAT keeps one mapping for
	/// every destination. See docs/PROTOCOL.md, "NAT probing".
{
	NatType mapping = NatType::UNKNOWN;
	std::optional<Poco::Net::SocketAddress> reflexive;        ///< The control channel as the relay saw it (challenge.observed).
	std::optional<Poco::Net::SocketAddress> probeReflexive;   ///< The probe connection as the relay saw it.
	std::uint16_t localPort = 0;                              ///< The local port of both; 0 while offline.

	static NatType classify(const Poco::Net::SocketAddress& local,
		const std::optional<Poco::Net::SocketAddress>& reflexive,
		const std::optional<Poco::Net::SocketAddress>& probeReflexive);
		/// NONE if reflexive has local's IP; else UNKNOWN without both observations;
		/// ENDPOINT_INDEPENDENT if they are equal, else ENDPOINT_DEPENDENT. IPv4-mapped IPv6
		/// addresses compare as IPv4.

	bool operator==(const NatInfo& other) const;
	bool operator!=(const NatInfo& other) const;
};


class RelayClient
	/// Keeps this peer announced and its control channel open, with automatic reconnect
	/// (jittered exponential backoff) and periodic re-announce; performs lookups; opens tunnels
	/// and joins the tunnels the relay invites it to. All network I/O is non-blocking on the loop:
	/// HTTP requests are written with Poco::Net::HTTPRequest and read with Poco::Net::HTTPResponse
	/// over a TcpConnection, one connection per request. Only the relay's host name resolution is
	/// blocking (the system resolver, at start() and after failures; numeric hosts need none).
	///
	/// https:// relays: every request, the control channel and every tunnel run over TLS (a
	/// TlsChannel in X.509 mode) whose server certificate is verified against the system trust
	/// store, or config.caFile, and must be valid for the URL's host (sent as SNI). A failed
	/// verification is a failed attempt whose detail names the host and the reason ("relay
	/// https://relay.example.org unreachable: TLS certificate verification failed for
	/// relay.example.org: certificate has expired (...)"); the client retries with its backoff.
	/// Tunnels are then the TLS channel's plaintext (RelayTunnel::connection), so the chat's own
	/// TLS runs inside the relay's. The NAT probe stays plain TCP (it carries only the observed
	/// address).
	///
	/// Connection cycle: announce (signed POST /api/v1/announce), then the control channel (HTTP
	/// upgrade, hello/challenge/auth/welcome) -> ONLINE. Re-announces at the relay's reannounce_s
	/// hint and whenever setChatPort()/setAddresses() change what is announced. Any failure of the
	/// cycle, a lost or silent control channel (3 keepalive periods without a byte) -> OFFLINE with
	/// a detail naming the relay and the cause, then the whole cycle again after the backoff.
	///
	/// Shared local port: the control channel leaves from a port bound with SO_REUSEADDR and
	/// SO_REUSEPORT (punchPort()); once ONLINE, the client connects from the same port to the
	/// relay's probe port (welcome.probe_port) and classifies the NAT (natInfo()), again after
	/// every reconnect. Hole-punch sockets bind punchPort() with both options too
	/// (TcpConnection::connectFrom()).
	///
	/// Hole punching: the client only carries punch messages (sendPunch(), setPunchHandler());
	/// the coordination itself (who dials when) belongs to the chat node's connection ladder.
	///
	/// Thread rules: every method must be called from the loop thread (asserted); callbacks
	/// run on it. No callback runs after stop() or after destruction.
	/// Ownership: does not own the loop (it must outlive the client); keeps a copy of the
	/// identity (which shares the key).
{
public:
	enum class State
	{
		OFFLINE,      ///< Not started, stopped, or the relay is unreachable (retrying; the detail says when).
		CONNECTING,   ///< The first attempt after start(); retries after a failure stay OFFLINE.
		ONLINE        ///< Announced and the control channel is authenticated.
	};

	using StateHandler = std::function<void(State state, const std::string& detail)>;
		/// Called on every change of state or detail, e.g. (OFFLINE, "relay http://x:5000
		/// unreachable: connection refused; retrying in 4 s").
	using LookupHandler = std::function<void(const std::optional<RelayPeerRecord>& record, const std::string& error)>;
		/// record is empty with an empty error for "not found"; error describes a failure.
	using TunnelHandler = std::function<void(RelayTunnel tunnel, const std::string& error)>;
		/// tunnel.connection is a joined tunnel (bytes now flow to the peer; mind tunnel.leftover),
		/// or null with error. See RelayTunnel.
	using InviteHandler = std::function<void(RelayTunnel tunnel)>;
		/// A tunnel the relay invited us to, already joined; tunnel.peer is the caller (we are
		/// the TLS server side). See RelayTunnel.
	using InviteFilter = std::function<bool(const PeerId& from)>;
		/// Decides whether to join an invitation from a peer at all (false: ignored, the
		/// caller's tunnel times out at the relay). The relay vouches for from.
	using NatHandler = std::function<void(const NatInfo& info)>;
		/// Called whenever natInfo() changes: after each probe (once per connection to the relay)
		/// and when the control channel is lost (back to an empty NatInfo).
	using PunchMessageHandler = std::function<void(const PunchMessage& message)>;
		/// A peer's punch message, forwarded by the relay; message.peer is the sender (the relay
		/// vouches for it: it is the key that authenticated the sender's control channel).
	using PunchErrorHandler = std::function<void(const PeerId& peer, const std::string& error)>;
		/// The relay could not forward our punch message to peer (offline, rate limited, ...).
	using PrekeysHandler = std::function<void(const std::optional<RelayPrekeys>& prekeys, const std::string& error)>;
		/// Empty with an empty error: the relay has no usable pre-key of that peer.
	using DepositHandler = std::function<void(bool kept, const std::string& error)>;
		/// kept: the relay has stored the envelope durably.
	using HandleHandler = std::function<void(const std::optional<RelayHandle>& handle, const std::string& error)>;
		/// A lookup: empty with an empty error if nobody holds the handle; a claim: the handle
		/// now ours, or an error ("handle alice is taken", ...).
	using MailHandler = std::function<void(const RelayMail& mail)>;

	RelayClient(EventLoop& loop, const Identity& identity, RelayClientConfig config);
		/// Must be called from the loop thread. Nothing happens before start().

	~RelayClient();
		/// Calls stop(). Must be called from the loop thread.

	RelayClient(const RelayClient&) = delete;
	RelayClient& operator=(const RelayClient&) = delete;

	void setStateHandler(StateHandler handler);
	void setInviteHandler(InviteHandler handler);
		/// Invitations are joined automatically; the handler gets the joined tunnel. Without an
		/// invite handler, invitations are ignored.

	void setInviteFilter(InviteFilter filter);
		/// Without a filter, every invitation is joined (when there is an invite handler).

	void setNatHandler(NatHandler handler);
	void setPunchHandler(PunchMessageHandler handler);
		/// Without a handler, punch messages from peers are ignored.
	void setPunchErrorHandler(PunchErrorHandler handler);

	void start();
		/// Starts the connection cycle. An unusable URL (not http or https, no host), a caFile
		/// with an http:// URL, or trust anchors that cannot be loaded (an unreadable caFile, or
		/// one without certificates) are reported as OFFLINE with the reason, without retries.
		/// Does nothing if already started or stopped.
	void stop();
		/// Unregisters (signed DELETE /api/v1/announce, fire and forget), closes everything and
		/// cancels pending lookups and tunnels without calling their handlers. Idempotent; the
		/// client cannot be started again.

	void setChatPort(std::uint16_t port);
	void setName(const std::string& name);
	void setAddresses(const std::vector<Poco::Net::SocketAddress>& addresses);
		/// Changes what is announced; re-announces at once if announced (or after the announce in
		/// flight).

	void lookup(const PeerId& peer, LookupHandler handler);
		/// GET /api/v1/peers/<id>. Works before start() too. The handler is always called later
		/// (never from inside lookup()), unless the client is stopped first.
	void openTunnel(const PeerId& peer, TunnelHandler handler);
		/// Asks the relay for a tunnel to peer (signed POST /api/v1/tunnels) and joins it; errors
		/// name the cause ("peer ... is not connected to the relay", "relay refused the tunnel:
		/// <reason>", network errors). Works before start() too. The handler is always called
		/// later, unless the client is stopped first.

	bool sendPunch(const PunchMessage& message);
		/// Sends a punch message to message.peer through the relay (message.peer is the target).
		/// Returns false, sending nothing, unless the control channel is online.

	// Private relays, handles, pre-keys and the mailbox ----------------------------------------

	std::string refusal() const;
		/// The relay's code when it refused our access token ("token_required", "token_invalid",
		/// "token_revoked", "token_expired"): the client then stays OFFLINE and does not retry
		/// (a token does not get better by asking again); empty otherwise.

	void setPrekeys(const std::vector<Prekey>& prekeys);
		/// The pre-keys published with every announce; re-announces at once if they changed.

	void fetchPrekeys(const PeerId& peer, PrekeysHandler handler);
		/// GET /api/v1/prekeys/<id>, checked (see RelayPrekeys). Works before start(); the handler
		/// is called later, unless the client is stopped first.

	void deposit(const PeerId& recipient, const std::string& envelope, DepositHandler handler);
		/// POST /api/v1/mailbox/<id> with the envelope (not signed: the relay does not learn the
		/// sender). Works before start().

	void claimHandle(const std::string& handle, HandleHandler handler);
		/// Signed POST /api/v1/handles with our signed claim of handle (lower-case, see
		/// RelayProtocol::isValidHandle()). Works before start().

	void releaseHandle(std::function<void(const std::string& error)> handler);
		/// Signed DELETE /api/v1/handles. Works before start().

	void lookupHandle(const std::string& handle, HandleHandler handler);
		/// GET /api/v1/handles/<handle>, checked (see RelayHandle). Works before start().

	void setMailHandler(MailHandler handler);
		/// With a handler, the client asks a relay that keeps mail (welcome.mailbox) for its
		/// envelopes every time the control channel comes up (mail_fetch), and passes each one on.

	void acknowledgeMail(const std::string& mailId);
		/// The envelope is kept (or refused for good): the relay deletes it. Ignored while the
		/// control channel is down (the relay sends it again next time).

	std::uint16_t punchPort() const;
		/// The control channel's local port (bound with SO_REUSEADDR and SO_REUSEPORT), which the
		/// relay's view (natInfo().reflexive) maps; 0 without a control channel.
	NatInfo natInfo() const;
		/// The latest NAT classification of this connection to the relay (UNKNOWN until the probe
		/// completed; empty while offline).

	State state() const;
	std::string stateDetail() const;
		/// The detail of the last state change.
	std::optional<Poco::Net::SocketAddress> reflexiveAddress() const;
		/// Our address as the relay observed it (from announce or the control challenge). The
		/// port is that of whichever connection reported last; for hole punching use
		/// natInfo().reflexive (the control channel, whose port is punchPort()).
	const Poco::URI& url() const;

private:
	class Impl;
	std::shared_ptr<Impl> _pImpl;
};


} } // namespace CrossChat::Relay


#endif // CrossChat_Relay_RelayClient_INCLUDED
