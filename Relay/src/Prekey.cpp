//
// Prekey.cpp
//
// Library: Relay
//


#include "CrossChat/Relay/Prekey.h"
#include "RelayRequests.h"
#include "CrossChat/FoundationException.h"
#include "CrossChat/Relay/RelayProtocol.h"
#include "Poco/Exception.h"
#include <set>


namespace CrossChat {
namespace Relay {


namespace {


std::string decodeField(const Poco::JSON::Object& object, const char* field, std::size_t size)
{
	if (!object.has(field) || !object.get(field).isString())
		throw MessageException(std::string("pre-key: ") + field + " must be a string");
	std::string raw;
	try
	{
		raw = base64Decode(object.getValue<std::string>(field), size);
	}
	catch (const BadRequestException&)
	{
		raw.clear();
	}
	if (raw.size() != size)
		throw MessageException(std::string("pre-key: ") + field + " must be base64 of " + std::to_string(size) + " bytes");
	return raw;
}


std::int64_t integerField(const Poco::JSON::Object& object, const char* field, std::int64_t minimum, std::int64_t maximum)
{
	if (!object.has(field)) throw MessageException(std::string("pre-key: ") + field + " is missing");
	const Poco::Dynamic::Var value = object.get(field);
	if (!value.isInteger()) throw MessageException(std::string("pre-key: ") + field + " must be an integer");
	std::int64_t number = 0;
	try
	{
		number = value.convert<Poco::Int64>();
	}
	catch (const Poco::Exception&)
	{
		throw MessageException(std::string("pre-key: ") + field + " is out of range");
	}
	if (number < minimum || number > maximum) throw MessageException(std::string("pre-key: ") + field + " is out of range");
	return number;
}


} // namespace


Prekey Prekey::sign(const Identity& identity, std::uint64_t id, const std::string& publicKey, std::int64_t expiresMs)
{
	if (id == 0 || id > MAX_ID) throw Poco::InvalidArgumentException("a pre-key ID is 1 to 2^53 - 1");
	if (publicKey.size() != RelayProtocol::PREKEY_SIZE) throw Poco::InvalidArgumentException("a pre-key is 32 bytes");
	Prekey prekey;
	prekey.id = id;
	prekey.publicKey = publicKey;
	prekey.expiresMs = expiresMs;
	prekey.signature = identity.sign(RelayProtocol::prekeySigningString(id, publicKey, expiresMs));
	return prekey;
}


bool Prekey::verify(const PublicKey& owner) const
{
	if (publicKey.size() != RelayProtocol::PREKEY_SIZE || signature.size() != PublicKey::SIGNATURE_SIZE) return false;
	return owner.verify(RelayProtocol::prekeySigningString(id, publicKey, expiresMs), signature);
}


Poco::JSON::Object::Ptr Prekey::toJson() const
{
	Poco::JSON::Object::Ptr pObject = new Poco::JSON::Object(Poco::JSON_PRESERVE_KEY_ORDER);
	pObject->set("id", static_cast<Poco::UInt64>(id));
	pObject->set("key", base64Encode(publicKey));
	pObject->set("expires_ms", static_cast<Poco::Int64>(expiresMs));
	pObject->set("signature", base64Encode(signature));
	return pObject;
}


Prekey Prekey::fromJson(const Poco::JSON::Object& object)
{
	Prekey prekey;
	prekey.id = static_cast<std::uint64_t>(integerField(object, "id", 1, static_cast<std::int64_t>(MAX_ID)));
	prekey.publicKey = decodeField(object, "key", RelayProtocol::PREKEY_SIZE);
	prekey.expiresMs = integerField(object, "expires_ms", 0, INT64_MAX);
	prekey.signature = decodeField(object, "signature", PublicKey::SIGNATURE_SIZE);
	return prekey;
}


std::vector<Prekey> Prekey::listFromJson(const Poco::JSON::Array& array, std::size_t maxCount)
{
	if (array.size() > maxCount) throw MessageException("at most " + std::to_string(maxCount) + " pre-keys");
	std::vector<Prekey> prekeys;
	std::set<std::uint64_t> ids;
	for (std::size_t i = 0; i < array.size(); ++i)
	{
		Poco::JSON::Object::Ptr pObject = array.getObject(static_cast<unsigned>(i));
		if (!pObject) throw MessageException("a pre-key must be an object");
		Prekey prekey = fromJson(*pObject);
		if (!ids.insert(prekey.id).second) throw MessageException("two pre-keys with the ID " + std::to_string(prekey.id));
		prekeys.push_back(prekey);
	}
	return prekeys;
}


Poco::JSON::Array::Ptr Prekey::listToJson(const std::vector<Prekey>& prekeys)
{
	Poco::JSON::Array::Ptr pArray = new Poco::JSON::Array;
	for (const Prekey& prekey: prekeys) pArray->add(prekey.toJson());
	return pArray;
}


} } // namespace CrossChat::Relay
