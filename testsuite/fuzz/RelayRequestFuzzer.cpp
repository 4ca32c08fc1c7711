//
// RelayRequestFuzzer.cpp
//
// testsuite: libFuzzer target for every parser of what clients send the relay server:
// the announce and tunnel-open bodies, the directory query string, the signed-request headers,
// and announced addresses (the control channel's messages: ControlMessageFuzzer).
// The first input byte picks the parser (modulo 8; 3, 4, 6, 7: addresses; from 0xF0 on, the
// bodies of issue 10: 0xF0 a handle claim, 0xF1 a mailbox envelope's header, 0xF2 a pre-key
// list), the rest is its input. A parser may reject its input
// only with BadRequestException; any other exception escapes and crashes the fuzzer, as does
// any memory error or a violated invariant of an accepted input.
//
// max_len: 16384


#include "RelayRequests.h"
#include "CrossChat/FrameCodec.h"
#include "CrossChat/PublicKey.h"
#include "CrossChat/Relay/RelayProtocol.h"
#include "CrossChat/FoundationException.h"
#include "CrossChat/Relay/Prekey.h"
#include "Poco/JSON/Parser.h"
#include "Poco/Net/NameValueCollection.h"
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>


using namespace CrossChat::Relay;


namespace {


void check(bool condition, const char* what)
{
	if (!condition)
	{
		std::fprintf(stderr, "RelayRequestFuzzer: invariant violated: %s\n", what);
		std::abort();
	}
}


Poco::Net::NameValueCollection headersOf(const std::string& text)
	/// "Name: value" lines.
{
	Poco::Net::NameValueCollection headers;
	std::istringstream lines(text);
	std::string line;
	while (std::getline(lines, line))
	{
		const std::size_t colon = line.find(':');
		if (colon == std::string::npos) continue;
		std::string value = line.substr(colon + 1);
		if (!value.empty() && value[0] == ' ') value.erase(0, 1);
		headers.add(line.substr(0, colon), value);
	}
	return headers;
}


} // namespace


extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
	if (size == 0) return 0;
	const std::string input(reinterpret_cast<const char*>(data) + 1, size - 1);
	try
	{
		if (data[0] >= 0xF0)
		{
			if (data[0] == 0xF0)
			{
				const HandleClaimRequest claim = HandleClaimRequest::parse(input);
				check(RelayProtocol::isValidHandle(claim.handle), "a claimed handle is valid");
				check(claim.signature.size() == 64, "a claim's signature has 64 bytes");
			}
			else if (data[0] == 0xF1)
			{
				const EnvelopeHeader header = EnvelopeHeader::parse(input, RelayProtocol::MAX_ENVELOPE_SIZE);
				check(input.size() >= RelayProtocol::MAIL_MIN_SIZE, "an envelope has at least a header and a tag");
				check(!header.recipient.isNull(), "an envelope names a recipient");
			}
			else
			{
				Poco::JSON::Array::Ptr pArray;
				try
				{
					Poco::JSON::Parser parser;
					const Poco::Dynamic::Var parsed = parser.parse(input);
					if (parsed.type() == typeid(Poco::JSON::Array::Ptr)) pArray = parsed.extract<Poco::JSON::Array::Ptr>();
				}
				catch (const Poco::Exception&)
				{
					// not JSON: not what this case fuzzes
				}
				if (pArray)
				{
					try
					{
						const std::vector<Prekey> prekeys = Prekey::listFromJson(*pArray, RelayProtocol::MAX_PREKEYS);
						check(prekeys.size() <= RelayProtocol::MAX_PREKEYS, "at most MAX_PREKEYS pre-keys");
						for (const Prekey& prekey: prekeys)
						{
							check(prekey.publicKey.size() == RelayProtocol::PREKEY_SIZE, "a pre-key has 32 bytes");
							check(prekey.id >= 1 && prekey.id <= Prekey::MAX_ID, "a pre-key ID is in range");
						}
					}
					catch (const CrossChat::MessageException&)
					{
						// rejected
					}
				}
			}
			return 0;
		}
		switch (data[0] % 8)
		{
		case 0:
		{
			const AnnounceRequest request = AnnounceRequest::parse(input);
			check(request.name.size() <= AnnounceRequest::MAX_NAME_SIZE, "name within limit");
			check(request.addresses.size() <= AnnounceRequest::MAX_ADDRESSES, "address count within limit");
			const auto resolved = request.resolve(Poco::Net::SocketAddress("203.0.113.1", 4000));
			check(resolved.size() <= AnnounceRequest::MAX_ADDRESSES, "resolved count within limit");
			for (const auto& address: resolved) check(address.port() != 0, "resolved addresses have a port");
			break;
		}
		case 1:
			check(!TunnelOpenRequest::parse(input).to.isNull(), "tunnel target is a real ID");
			break;
		case 2:
		{
			const DirectoryQuery query = DirectoryQuery::parse(input);
			check(query.limit >= 1 && query.limit <= DirectoryQuery::MAX_LIMIT, "limit within bounds");
			check(query.offset <= DirectoryQuery::MAX_OFFSET, "offset within bounds");
			check(query.text.size() <= DirectoryQuery::MAX_QUERY_SIZE, "query within limit");
			break;
		}
		case 5:
		{
			const SignedHeaders headers = SignedHeaders::parse(headersOf(input));
			check(headers.publicKeyRaw.size() == CrossChat::PublicKey::RAW_SIZE, "key size");
			check(headers.signature.size() == CrossChat::PublicKey::SIGNATURE_SIZE, "signature size");
			check(headers.nonce.size() >= SignedHeaders::MIN_NONCE_SIZE && headers.nonce.size() <= SignedHeaders::MAX_NONCE_SIZE, "nonce size");
			check(headers.timestampMs >= 0, "timestamp not negative");
			break;
		}
		default:
			parseAnnouncedAddress(input);
			break;
		}
	}
	catch (const BadRequestException&)
	{
		// Rejected input: the expected outcome for most of it.
	}
	return 0;
}
