//
// RelayProtocol.h
//
// Library: Relay
// What the relay server and its client agree on: paths, headers, request signing and the
// control channel's messages (see docs/PROTOCOL.md, "Relay").
//


#ifndef CrossChat_Relay_RelayProtocol_INCLUDED
#define CrossChat_Relay_RelayProtocol_INCLUDED


#include "CrossChat/MessageCatalog.h"
#include <chrono>
#include <cstdint>
#include <string>


namespace CrossChat {
namespace Relay {


class RelayProtocol
	/// HTTP API under /api/v1 (JSON bodies, at most MAX_BODY_SIZE bytes):
	///
	///   POST   /api/v1/announce        signed  {name, addresses: ["ip:port"|"ip"...], port, directory}
	///                                          -> 200 {id, observed, ttl_s, reannounce_s}
	///   DELETE /api/v1/announce        signed  -> 204
	///   GET    /api/v1/peers/<id>              -> 200 {id, name, public_key, addresses, observed,
	///                                             last_seen_ms, online} | 404 + Retry-After
	///   GET    /api/v1/directory?q=&offset=&limit=  -> 200 {peers: [...], total, offset, limit}
	///   POST   /api/v1/tunnels         signed  {to: <id>} -> 201 {token, expires_s, limits}
	///                                          | 404 (peer offline) | 503 {error, reason}
	///   GET    /api/v1/control         Upgrade: crosschat-control/1   -> 101, then control frames
	///   GET    /api/v1/tunnels/<token> Upgrade: crosschat-tunnel/1    -> 101, then raw bytes
	///   GET /  (HTML status)   GET /health (JSON)   GET /metrics (Prometheus text)
	///
	/// Errors are JSON {"error": "<code>", "message": "<text>"} with a fitting status.
	///
	/// Signed requests carry HEADER_KEY (base64 of the raw 32-byte Ed25519 key), HEADER_TIMESTAMP
	/// (ms since the Unix epoch, within MAX_CLOCK_SKEW of the server's clock), HEADER_NONCE
	/// (16 to 64 characters, never reused within the skew window) and HEADER_SIGNATURE (base64 of
	/// the Ed25519 signature of signingString()). The peer ID is derived from the key.
	///
	/// Upgrades: after sending an upgrade request the client sends nothing until it has read the
	/// whole 101 response; the server may send data right after the 101.
	///
	/// Control channel (FrameCodec frames, JSON bodies, catalog control()):
	///   client -> hello {key, version}        relay -> challenge {nonce, observed}
	///   client -> auth {signature}            relay -> welcome {id, keepalive_s, limits}
	///   relay -> invite {token, from, name}   either -> ping {n} / pong {n}
	///   relay -> error {code, message} (then closes)
	///   client -> punch {to, phase, addrs, nat, attempt, reply}
	///                                         relay -> punch {from, phase, addrs, nat, attempt, reply}
	///   relay -> error {code, message, peer}  (about a punch to peer; the channel stays open)
	///   client -> mail_fetch {window}        relay -> mail {id, ts, envelope}   client -> mail_ack {id}
	/// auth.signature signs controlSigningString(nonce). welcome.probe_port (optional) names the
	/// relay's NAT probe port: a TCP connection to it gets one line {"observed":"ip:port"} and
	/// is closed. punch: hole-punch coordination (DCUtR-like), see docs/PROTOCOL.md, "Hole punching".
	///
	/// Tunnel: the dialer (TLS client) asks POST /tunnels and joins with its token; the relay
	/// sends an invite with the other token to the callee over its control channel, which joins
	/// too; the relay then copies bytes both ways, unread and uninterpreted.
	///
	/// Thread rules: stateless functions; safe from any thread.
{
public:
	static constexpr const char* API_PREFIX = "/api/v1";
	static constexpr const char* HEADER_KEY = "X-CrossChat-Key";
	static constexpr const char* HEADER_TIMESTAMP = "X-CrossChat-Timestamp";
	static constexpr const char* HEADER_NONCE = "X-CrossChat-Nonce";
	static constexpr const char* HEADER_SIGNATURE = "X-CrossChat-Signature";
	static constexpr const char* UPGRADE_CONTROL = "crosschat-control/1";
	static constexpr const char* UPGRADE_TUNNEL = "crosschat-tunnel/1";
	static constexpr std::chrono::seconds MAX_CLOCK_SKEW{60};
	static constexpr std::size_t MAX_BODY_SIZE = 16 * 1024;
	static constexpr std::int64_t VERSION = 1;
	static constexpr std::size_t PUNCH_MAX_ADDRESSES = 16;   ///< Candidates in one punch message.
	static constexpr std::int64_t PUNCH_MAX_ATTEMPT = 1000;
	static constexpr std::size_t PROBE_MAX_LINE = 128;       ///< The probe port's answer, newline included.

	// Private relays, handles, pre-keys and the mailbox (docs/PROTOCOL.md, "Private relays",
	// "Handles", "Mailbox").
	static constexpr const char* HEADER_AUTHORIZATION = "Authorization";   ///< "Bearer <token>" (RFC 6750).
	static constexpr std::size_t HANDLE_MIN_SIZE = 3;
	static constexpr std::size_t HANDLE_MAX_SIZE = 32;
	static constexpr std::size_t MAX_PREKEYS = 4;            ///< Pre-keys in one announce.
	static constexpr std::size_t PREKEY_SIZE = 32;           ///< An X25519 public key.
	static constexpr const char* MAIL_MAGIC = "CXM1";
	static constexpr std::uint8_t MAIL_VERSION = 1;
	static constexpr std::uint8_t MAIL_SUITE_HPKE_X25519_CHACHA20 = 1;   ///< HPKE base, DHKEM(X25519, HKDF-SHA256),
	                                                                      ///< HKDF-SHA256, ChaCha20-Poly1305.
	static constexpr std::size_t MAIL_RECIPIENT_OFFSET = 6;  ///< magic 4, version 1, suite 1.
	static constexpr std::size_t MAIL_PREKEY_OFFSET = 38;    ///< ... recipient ID 32.
	static constexpr std::size_t MAIL_ENC_OFFSET = 46;       ///< ... pre-key ID 8.
	static constexpr std::size_t MAIL_HEADER_SIZE = 78;      ///< ... enc 32: the cleartext header.
	static constexpr std::size_t MAIL_MIN_SIZE = MAIL_HEADER_SIZE + 16;   ///< Header and an AEAD tag.
	static constexpr std::size_t MAX_ENVELOPE_SIZE = 64 * 1024;   ///< What relay.maxEnvelopeSize may be at most
	                                                              ///< (its default: 24 KiB).
	static constexpr std::size_t CLIENT_CONTROL_FRAME = 96 * 1024;   ///< A client takes control frames this large
	                                                              ///< (a mail frame carries a base64 envelope).
	static constexpr std::int64_t MAIL_MAX_WINDOW = 64;      ///< Envelopes in flight on a control channel.

	static bool isValidHandle(const std::string& handle);
		/// 3 to 32 characters: a lower-case ASCII letter, then lower-case letters, digits, '-' or '_'.

	static std::string handleSigningString(const std::string& handle, std::int64_t timestampMs);
		/// "CXR1-handle\n" handle "\n" timestamp: what a peer signs to claim a handle.

	static std::string prekeySigningString(std::uint64_t id, const std::string& publicKey, std::int64_t expiresMs);
		/// "CXP1" || id (8 bytes) || publicKey (32 bytes) || expiresMs (8 bytes), big-endian:
		/// what a peer signs to publish a pre-key.

	static std::string signingString(const std::string& method, const std::string& pathAndQuery,
		const std::string& body, std::int64_t timestampMs, const std::string& nonce);
		/// "CXR1\n" METHOD "\n" PATH "\n" hex(SHA-256(body)) "\n" timestamp "\n" nonce

	static std::string controlSigningString(const std::string& nonce);
		/// "CXR1-control\n" nonce

	static const MessageCatalog& control();
		/// The control channel's messages.
};


} } // namespace CrossChat::Relay


#endif // CrossChat_Relay_RelayProtocol_INCLUDED
