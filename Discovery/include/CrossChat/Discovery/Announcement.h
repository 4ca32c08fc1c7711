//
// Announcement.h
//
// Library: Discovery
// The signed LAN discovery datagram: encoding, parsing and verification.
//


#ifndef CrossChat_Discovery_Announcement_INCLUDED
#define CrossChat_Discovery_Announcement_INCLUDED


#include "CrossChat/PeerId.h"
#include "Poco/Net/IPAddress.h"
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>


namespace CrossChat {


class Identity;


namespace Discovery {


struct Announcement
	/// The content of one discovery datagram (see docs/PROTOCOL.md, "LAN discovery").
	///
	/// Datagram, all integers big-endian:
	///   magic "CXLD" (4) | version (1) | kind (1) | flags (1) |
	///   public key (32) | name length (1) | name (0..64, UTF-8) | chat port (2) |
	///   address count (1, 0..16) | per address: family (1, 4 or 6) + 4 or 16 bytes |
	///   instance id (8) | sequence (8) | timestamp ms (8) |
	///   Ed25519 signature (64) over every byte before it.
	/// The body carries the sender's raw public key; the PeerId is derived from it, never sent
	/// on its own, so a datagram cannot claim an ID without the matching private key.
	///
	/// Parse untrusted bytes with parse() only; it checks every length before reading, rejects
	/// trailing bytes, and verifies the signature. It does not judge freshness (instance id,
	/// sequence, timestamp): that is LanDiscovery's job.
	///
	/// Thread rules: a plain value; safe to copy between threads.
{
	enum Kind: std::uint8_t
	{
		ANNOUNCE = 1,   ///< "I am here"; flag QUERY asks every receiver to answer at once.
		GOODBYE  = 2    ///< "I am leaving": receivers drop the peer at once.
	};

	enum Flags: std::uint8_t
	{
		FLAG_QUERY = 0x01,   ///< The sender has just started (or restarted) and wants answers.
		FLAG_REPLY = 0x02    ///< This datagram answers a query (it is not itself answered).
	};
		/// Unknown flag bits are carried (they are signed) and ignored by receivers;
		/// senders set them to zero.

	static constexpr const char* MAGIC = "CXLD";
	static constexpr std::size_t MAGIC_SIZE = 4;
	static constexpr std::uint8_t VERSION = 1;
	static constexpr std::size_t HEADER_SIZE = 7;          ///< Magic, version, kind, flags.
	static constexpr std::size_t MAX_NAME_SIZE = 64;       ///< Bytes of UTF-8.
	static constexpr std::size_t MAX_ADDRESSES = 16;
	static constexpr std::size_t SIGNATURE_SIZE = 64;
	static constexpr std::size_t MIN_DATAGRAM_SIZE = HEADER_SIZE + 32 + 1 + 2 + 1 + 3 * 8 + SIGNATURE_SIZE;
		///< 131: empty name, no addresses.
	static constexpr std::size_t MAX_DATAGRAM_SIZE = 1200; ///< Fits any LAN MTU without fragments.

	Kind kind = ANNOUNCE;
	std::uint8_t flags = 0;
	std::string publicKey;               ///< The sender's raw Ed25519 key (32 bytes).
	PeerId peerId;                       ///< Set by parse(): SHA-256 of the key's SubjectPublicKeyInfo.
	std::string name;                    ///< Display name: at most MAX_NAME_SIZE bytes of valid UTF-8, no control characters.
	std::uint16_t chatPort = 0;          ///< TCP port of the chat listener; 0 if there is none (yet).
	std::vector<Poco::Net::IPAddress> addresses; ///< Chat addresses; may hold 0.0.0.0 or ::; empty means "the datagram's source".
	std::uint64_t instanceId = 0;        ///< Random per process start; a new one means "restarted".
	std::uint64_t sequence = 0;          ///< Increases with every datagram of one instance.
	std::uint64_t timestampMs = 0;       ///< Sender's wall clock, ms since the Unix epoch.

	bool hasFlag(Flags flag) const;
		/// True if the flag bit is set.

	std::string encode(const Identity& identity) const;
		/// Serialises and signs with identity; the key written is identity's (the publicKey and
		/// peerId members are ignored). Throws Poco::InvalidArgumentException if a limit is
		/// exceeded (name too long or not valid UTF-8, too many addresses, an address that is
		/// neither IPv4 nor IPv6). The scope of IPv6 addresses is not sent.

	static Announcement parse(const char* data, std::size_t size);
		/// Parses and verifies a datagram. Throws Poco::DataFormatException (oversized, bad
		/// magic, version or kind, truncated, trailing bytes, over-long or invalid field) or
		/// CrossChat::CryptoException (bad key or signature); the message says which.

	static Announcement parse(const std::string& datagram);
		/// As parse(datagram.data(), datagram.size()).
};


//
// inlines
//


inline bool Announcement::hasFlag(Flags flag) const
{
	return (flags & flag) != 0;
}


} } // namespace CrossChat::Discovery


#endif // CrossChat_Discovery_Announcement_INCLUDED
