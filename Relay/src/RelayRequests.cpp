//
// RelayRequests.cpp
//
// Library: Relay
//


#include "RelayRequests.h"
#include "CrossChat/FoundationException.h"
#include "CrossChat/MessageSchema.h"
#include "CrossChat/Relay/RelayProtocol.h"
#include "Poco/Base64Decoder.h"
#include "Poco/Base64Encoder.h"
#include "Poco/JSON/Array.h"
#include "Poco/NumberParser.h"
#include "Poco/URI.h"
#include <algorithm>
#include <sstream>
#include <typeinfo>


namespace CrossChat {
namespace Relay {


POCO_IMPLEMENT_EXCEPTION(BadRequestException, Poco::DataFormatException, "Bad request")


namespace {


const MessageSchema& announceSchema()
{
	static const MessageSchema schema = MessageSchema()
		.optionalString("name", 0, AnnounceRequest::MAX_NAME_SIZE)
		.optionalArray("addresses", AnnounceRequest::MAX_ADDRESSES)
		.optionalInteger("port", 0, 65535)
		.optionalBoolean("directory")
		.optionalArray("prekeys", RelayProtocol::MAX_PREKEYS);
	return schema;
}


const MessageSchema& handleSchema()
{
	static const MessageSchema schema = MessageSchema()
		.requireString("handle", RelayProtocol::HANDLE_MIN_SIZE, RelayProtocol::HANDLE_MAX_SIZE)
		.requireInteger("ts", 0)
		.requireString("signature", 1, 128);
	return schema;
}


const MessageSchema& tunnelSchema()
{
	static const MessageSchema schema = MessageSchema().requireString("to", 1, 80);
	return schema;
}


Poco::JSON::Object::Ptr parseBody(const MessageSchema& schema, const std::string& body)
{
	try
	{
		return schema.parse(body);
	}
	catch (const MessageException& exc)
	{
		throw BadRequestException(exc.message());
	}
}


std::uint16_t parsePort(const std::string& text)
{
	unsigned value = 0;
	if (text.empty() || text.size() > 5 || !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })
		|| !Poco::NumberParser::tryParseUnsigned(text, value) || value > 65535)
	{
		throw BadRequestException("bad port '" + text + "'");
	}
	return static_cast<std::uint16_t>(value);
}


Poco::Net::IPAddress parseHost(const std::string& text)
{
	Poco::Net::IPAddress host;
	// Poco 1.11's IPAddress::tryParse() refuses "::" itself.
	if (text == "::") return Poco::Net::IPAddress::wildcard(Poco::Net::IPAddress::IPv6);
	// IPAddress::tryParse never resolves names; it also accepts IPv6 scope suffixes, refused here.
	if (text.empty() || text.find('%') != std::string::npos || !Poco::Net::IPAddress::tryParse(text, host))
		throw BadRequestException("bad IP address '" + text + "'");
	return host;
}


std::size_t parseCount(const std::string& name, const std::string& text, std::size_t maximum)
{
	if (text.empty() || text.size() > 9 || !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; }))
		throw BadRequestException("parameter '" + name + "' must be a non-negative integer");
	const std::size_t value = static_cast<std::size_t>(std::stoul(text));
	if (value > maximum) throw BadRequestException("parameter '" + name + "' is too large");
	return value;
}


} // namespace


AnnouncedAddress parseAnnouncedAddress(const std::string& text)
{
	if (text.empty() || text.size() > 64) throw BadRequestException("bad address length");
	AnnouncedAddress result;
	if (text[0] == '[')
	{
		const std::size_t close = text.find(']');
		if (close == std::string::npos) throw BadRequestException("bad address '" + text + "'");
		result.host = parseHost(text.substr(1, close - 1));
		if (result.host.family() != Poco::Net::IPAddress::IPv6) throw BadRequestException("bad address '" + text + "'");
		const std::string rest = text.substr(close + 1);
		if (!rest.empty())
		{
			if (rest[0] != ':') throw BadRequestException("bad address '" + text + "'");
			result.port = parsePort(rest.substr(1));
		}
		return result;
	}
	const std::size_t colons = static_cast<std::size_t>(std::count(text.begin(), text.end(), ':'));
	if (colons == 1)
	{
		const std::size_t colon = text.find(':');
		result.host = parseHost(text.substr(0, colon));
		if (result.host.family() != Poco::Net::IPAddress::IPv4) throw BadRequestException("bad address '" + text + "'");
		result.port = parsePort(text.substr(colon + 1));
	}
	else
	{
		result.host = parseHost(text);
	}
	return result;
}


AnnounceRequest AnnounceRequest::parse(const std::string& body)
{
	const Poco::JSON::Object::Ptr pObject = parseBody(announceSchema(), body);
	AnnounceRequest request;
	if (pObject->has("name"))
	{
		request.name = pObject->getValue<std::string>("name");
		for (char c: request.name)
		{
			const unsigned char u = static_cast<unsigned char>(c);
			if (u < 0x20 || u == 0x7F) throw BadRequestException("field 'name': control character");
		}
	}
	if (pObject->has("port")) request.port = static_cast<std::uint16_t>(pObject->getValue<std::int64_t>("port"));
	if (pObject->has("directory")) request.directory = pObject->getValue<bool>("directory");
	if (pObject->has("addresses"))
	{
		const Poco::JSON::Array::Ptr pArray = pObject->getArray("addresses");
		for (std::size_t i = 0; i < pArray->size(); ++i)
		{
			const Poco::Dynamic::Var& item = pArray->get(static_cast<unsigned>(i));
			if (!item.isString()) throw BadRequestException("field 'addresses': entries must be strings");
			request.addresses.push_back(parseAnnouncedAddress(item.extract<std::string>()));
		}
	}
	if (pObject->has("prekeys"))
	{
		try
		{
			request.prekeys = Prekey::listFromJson(*pObject->getArray("prekeys"), RelayProtocol::MAX_PREKEYS);
		}
		catch (const MessageException& exc)
		{
			throw BadRequestException("field 'prekeys': " + exc.message());
		}
	}
	return request;
}


HandleClaimRequest HandleClaimRequest::parse(const std::string& body)
{
	const Poco::JSON::Object::Ptr pObject = parseBody(handleSchema(), body);
	HandleClaimRequest request;
	request.handle = pObject->getValue<std::string>("handle");
	if (!RelayProtocol::isValidHandle(request.handle))
		throw BadRequestException("field 'handle': 3 to 32 characters, a lower-case letter first, then lower-case letters, digits, - or _");
	request.timestampMs = pObject->getValue<std::int64_t>("ts");
	request.signature = base64Decode(pObject->getValue<std::string>("signature"), PublicKey::SIGNATURE_SIZE);
	if (request.signature.size() != PublicKey::SIGNATURE_SIZE) throw BadRequestException("field 'signature': expected 64 bytes");
	return request;
}


EnvelopeHeader EnvelopeHeader::parse(const std::string& envelope, std::size_t maxSize)
{
	if (envelope.size() < RelayProtocol::MAIL_MIN_SIZE) throw BadRequestException("envelope too short");
	if (envelope.size() > maxSize) throw BadRequestException("envelope too large");
	if (envelope.compare(0, 4, RelayProtocol::MAIL_MAGIC) != 0) throw BadRequestException("not a mailbox envelope (magic)");
	if (static_cast<std::uint8_t>(envelope[4]) != RelayProtocol::MAIL_VERSION)
		throw BadRequestException("unsupported envelope version " + std::to_string(static_cast<std::uint8_t>(envelope[4])));
	if (static_cast<std::uint8_t>(envelope[5]) != RelayProtocol::MAIL_SUITE_HPKE_X25519_CHACHA20)
		throw BadRequestException("unsupported envelope suite " + std::to_string(static_cast<std::uint8_t>(envelope[5])));
	EnvelopeHeader header;
	header.recipient = PeerId::fromBytes(envelope.substr(RelayProtocol::MAIL_RECIPIENT_OFFSET, PeerId::SIZE));
	if (header.recipient.isNull()) throw BadRequestException("the envelope names no recipient");
	for (std::size_t i = 0; i < 8; ++i)
		header.prekeyId = (header.prekeyId << 8) | static_cast<std::uint8_t>(envelope[RelayProtocol::MAIL_PREKEY_OFFSET + i]);
	return header;
}


bool AnnounceRequest::asksForObserved() const
{
	if (addresses.empty()) return port != 0;
	return std::any_of(addresses.begin(), addresses.end(), [](const AnnouncedAddress& entry) { return entry.host.isWildcard(); });
}


std::vector<Poco::Net::SocketAddress> AnnounceRequest::resolve(const Poco::Net::SocketAddress& observed) const
{
	std::vector<Poco::Net::SocketAddress> result;
	auto add = [&result](const Poco::Net::IPAddress& host, std::uint16_t hostPort)
	{
		if (hostPort == 0) return;
		const Poco::Net::SocketAddress address(host, hostPort);
		if (std::find(result.begin(), result.end(), address) == result.end()) result.push_back(address);
	};
	for (const AnnouncedAddress& entry: addresses)
	{
		const Poco::Net::IPAddress host = entry.host.isWildcard() ? observed.host() : entry.host;
		add(host, entry.port != 0 ? entry.port : port);
	}
	if (addresses.empty()) add(observed.host(), port);
	return result;
}


TunnelOpenRequest TunnelOpenRequest::parse(const std::string& body)
{
	const Poco::JSON::Object::Ptr pObject = parseBody(tunnelSchema(), body);
	const std::optional<PeerId> to = PeerId::tryParse(pObject->getValue<std::string>("to"));
	if (!to || to->isNull()) throw BadRequestException("field 'to': not a peer ID");
	TunnelOpenRequest request;
	request.to = *to;
	return request;
}


DirectoryQuery DirectoryQuery::parse(const std::string& rawQuery)
{
	DirectoryQuery query;
	if (rawQuery.size() > 1024) throw BadRequestException("query string too long");
	Poco::URI::QueryParameters parameters;
	try
	{
		Poco::URI uri;
		uri.setRawQuery(rawQuery);
		parameters = uri.getQueryParameters();
	}
	catch (const Poco::Exception& exc)
	{
		throw BadRequestException("malformed query string: " + exc.message());
	}
	for (const auto& parameter: parameters)
	{
		if (parameter.first == "q")
		{
			if (parameter.second.size() > MAX_QUERY_SIZE) throw BadRequestException("parameter 'q' is too long");
			query.text = parameter.second;
		}
		else if (parameter.first == "offset")
		{
			query.offset = parseCount("offset", parameter.second, MAX_OFFSET);
		}
		else if (parameter.first == "limit")
		{
			query.limit = std::min(parseCount("limit", parameter.second, 1000000), MAX_LIMIT);
			if (query.limit == 0) throw BadRequestException("parameter 'limit' must be at least 1");
		}
	}
	return query;
}


SignedHeaders SignedHeaders::parse(const Poco::Net::NameValueCollection& headers)
{
	auto required = [&headers](const char* name) -> const std::string&
	{
		const auto it = headers.find(name);
		if (it == headers.end() || it->second.empty()) throw BadRequestException(std::string("missing header ") + name);
		return it->second;
	};
	SignedHeaders result;
	result.publicKeyRaw = base64Decode(required(RelayProtocol::HEADER_KEY), 64);
	if (result.publicKeyRaw.size() != PublicKey::RAW_SIZE) throw BadRequestException("bad key size");
	const std::string& timestamp = required(RelayProtocol::HEADER_TIMESTAMP);
	if (timestamp.size() > 16 || !std::all_of(timestamp.begin(), timestamp.end(), [](char c) { return c >= '0' && c <= '9'; }))
		throw BadRequestException("bad timestamp");
	result.timestampMs = std::stoll(timestamp);
	result.nonce = required(RelayProtocol::HEADER_NONCE);
	if (result.nonce.size() < MIN_NONCE_SIZE || result.nonce.size() > MAX_NONCE_SIZE)
		throw BadRequestException("nonce must have 16 to 64 characters");
	for (char c: result.nonce)
	{
		if (c <= 0x20 || c >= 0x7F) throw BadRequestException("nonce must be printable ASCII");
	}
	result.signature = base64Decode(required(RelayProtocol::HEADER_SIGNATURE), 128);
	if (result.signature.size() != PublicKey::SIGNATURE_SIZE) throw BadRequestException("bad signature size");
	return result;
}


std::string base64Encode(const std::string& bytes)
{
	std::ostringstream out;
	Poco::Base64Encoder encoder(out);
	encoder.rdbuf()->setLineLength(0);
	encoder << bytes;
	encoder.close();
	return out.str();
}


std::string base64Decode(const std::string& text, std::size_t maxSize)
{
	if (text.size() > (maxSize + 2) / 3 * 4 || text.size() % 4 != 0)
		throw BadRequestException("malformed base64");
	for (char c: text)
	{
		const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/' || c == '=';
		if (!ok) throw BadRequestException("malformed base64");
	}
	try
	{
		std::istringstream in(text);
		Poco::Base64Decoder decoder(in);
		std::string result;
		char c = 0;
		while (decoder.get(c))
		{
			if (result.size() >= maxSize) throw BadRequestException("base64 value too long");
			result.push_back(c);
		}
		if (decoder.bad()) throw BadRequestException("malformed base64");
		return result;
	}
	catch (const BadRequestException&)
	{
		throw;
	}
	catch (const Poco::Exception&)
	{
		throw BadRequestException("malformed base64");
	}
}


} } // namespace CrossChat::Relay
