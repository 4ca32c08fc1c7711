//
// RelayRequests.h
//
// Library: Relay
// Internal header: parsers for what clients send the relay server (request bodies, query
// strings, signed-request headers, control hello/auth). Every one is a libFuzzer target.
// This is an internal header file, you should not include this.
//


#ifndef CrossChat_Relay_RelayRequests_INCLUDED
#define CrossChat_Relay_RelayRequests_INCLUDED


#include "CrossChat/PeerId.h"
#include "CrossChat/PublicKey.h"
#include "CrossChat/Relay/Prekey.h"
#include "Poco/Exception.h"
#include "Poco/JSON/Object.h"
#include "Poco/Net/IPAddress.h"
#include "Poco/Net/NameValueCollection.h"
#include "Poco/Net/SocketAddress.h"
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>


namespace CrossChat {
namespace Relay {


POCO_DECLARE_EXCEPTION(, BadRequestException, Poco::DataFormatException)
	/// A request is malformed or has a wrong field; answered with 400 and the message.


struct AnnouncedAddress
	/// One entry of an announce's addresses, before the unspecified parts are filled in.
{
	Poco::Net::IPAddress host;
	std::uint16_t port = 0;      ///< 0 if the entry gave no port (or port 0).
};


struct AnnounceRequest
	/// The body of POST /api/v1/announce.
{
	static constexpr std::size_t MAX_NAME_SIZE = 64;
	static constexpr std::size_t MAX_ADDRESSES = 16;

	std::string name;
	std::vector<AnnouncedAddress> addresses;
	std::uint16_t port = 0;      ///< The chat port; fills entries without a port.
	bool directory = false;
	std::optional<std::vector<Prekey>> prekeys;   ///< Mailbox pre-keys (shape checked), if the field is there;
	                                              ///< an empty list withdraws the published ones.

	static AnnounceRequest parse(const std::string& body);
		/// Throws BadRequestException (malformed JSON, wrong or out-of-range field, an address
		/// that is not an IP literal with an optional port, a name with control characters).

	bool asksForObserved() const;
		/// True if the peer asks the relay to publish the address it sees: an entry with an
		/// unspecified host, or no entries but a chat port (see resolve()).

	std::vector<Poco::Net::SocketAddress> resolve(const Poco::Net::SocketAddress& observed) const;
		/// The addresses to record: an unspecified host is replaced by the observed host, a missing
		/// port by the chat port; entries still without a port are dropped; duplicates removed.
		/// With no entries at all and a chat port, the observed host with the chat port.
};


struct HandleClaimRequest
	/// The body of POST /api/v1/handles: {handle, ts, signature}.
{
	std::string handle;          ///< RelayProtocol::isValidHandle().
	std::int64_t timestampMs = 0;
	std::string signature;       ///< 64 bytes: the claimant's Ed25519 signature of
	                             ///< RelayProtocol::handleSigningString(handle, timestampMs).

	static HandleClaimRequest parse(const std::string& body);
		/// Throws BadRequestException (the signature is checked by the caller, who has the key).
};


struct EnvelopeHeader
	/// The cleartext header of a mailbox envelope (docs/PROTOCOL.md, "Mailbox"), all the relay
	/// reads of one.
{
	PeerId recipient;
	std::uint64_t prekeyId = 0;

	static EnvelopeHeader parse(const std::string& envelope, std::size_t maxSize);
		/// Checks the size (RelayProtocol::MAIL_MIN_SIZE .. maxSize), magic, version and suite.
		/// Throws BadRequestException.
};


struct TunnelOpenRequest
	/// The body of POST /api/v1/tunnels.
{
	PeerId to;

	static TunnelOpenRequest parse(const std::string& body);
		/// Throws BadRequestException.
};


struct DirectoryQuery
	/// The query string of GET /api/v1/directory.
{
	static constexpr std::size_t DEFAULT_LIMIT = 50;
	static constexpr std::size_t MAX_LIMIT = 200;
	static constexpr std::size_t MAX_OFFSET = 1000000;
	static constexpr std::size_t MAX_QUERY_SIZE = 64;

	std::string text;            ///< q, matched case-insensitively against names.
	std::size_t offset = 0;
	std::size_t limit = DEFAULT_LIMIT;   ///< A larger limit is lowered to MAX_LIMIT.

	static DirectoryQuery parse(const std::string& rawQuery);
		/// rawQuery is the percent-encoded part after '?'. Unknown parameters are ignored.
		/// Throws BadRequestException.
};


struct SignedHeaders
	/// The authentication headers of a signed request, syntactically checked.
{
	static constexpr std::size_t MIN_NONCE_SIZE = 16;
	static constexpr std::size_t MAX_NONCE_SIZE = 64;

	std::string publicKeyRaw;    ///< 32 bytes.
	std::int64_t timestampMs = 0;
	std::string nonce;
	std::string signature;       ///< 64 bytes.

	static SignedHeaders parse(const Poco::Net::NameValueCollection& headers);
		/// Throws BadRequestException if a header is missing or malformed (answered with 401).
};


std::string base64Encode(const std::string& bytes);
	/// Standard base64 without line breaks.

std::string base64Decode(const std::string& text, std::size_t maxSize);
	/// Decodes standard base64 (no whitespace); throws BadRequestException if malformed or the
	/// result would exceed maxSize bytes.

AnnouncedAddress parseAnnouncedAddress(const std::string& text);
	/// Parses "ip", "ip:port", "[ipv6]" or "[ipv6]:port" (bare IPv6 too) without any name
	/// lookup. Throws BadRequestException.


} } // namespace CrossChat::Relay


#endif // CrossChat_Relay_RelayRequests_INCLUDED
