//
// MessageCatalog.cpp
//
// Library: Foundation
// A protocol's messages, declared once: frame type code, name and schema.
//


#include "CrossChat/MessageCatalog.h"
#include "CrossChat/FoundationException.h"
#include "Poco/Exception.h"
#include "Poco/JSON/Stringifier.h"
#include <sstream>
#include <utility>


namespace CrossChat {


MessageCatalog::MessageCatalog(std::string protocolName):
	_protocolName(std::move(protocolName))
{
}


MessageCatalog& MessageCatalog::declare(std::uint8_t type, const std::string& name, MessageSchema schema)
{
	const auto it = _byType.find(type);
	if (it != _byType.end())
	{
		throw Poco::InvalidArgumentException(_protocolName + " message type " + std::to_string(type)
			+ " is already declared as '" + it->second.name + "'");
	}
	if (_byName.count(name) != 0)
		throw Poco::InvalidArgumentException(_protocolName + " message '" + name + "' is already declared");

	_byType.emplace(type, Entry{name, std::move(schema)});
	_byName.emplace(name, type);
	return *this;
}


Message MessageCatalog::decode(const Frame& frame) const
{
	FrameView view;
	view.type = frame.type;
	view.data = frame.body.data();
	view.size = frame.body.size();
	return decode(view);
}


Message MessageCatalog::decode(const FrameView& frame) const
{
	const auto it = _byType.find(frame.type);
	if (it == _byType.end())
		throw MessageException("unknown " + _protocolName + " message type " + std::to_string(frame.type));

	Message message;
	message.type = frame.type;
	message.name = it->second.name;
	try
	{
		// Poco 1.11's JSON parser reads from a std::string.
		message.body = it->second.schema.parse(std::string(frame.data, frame.size));
	}
	catch (MessageException& exc)
	{
		throw MessageException(_protocolName + " message '" + message.name + "': " + exc.message());
	}
	return message;
}


std::string MessageCatalog::encode(const FrameCodec& codec, const std::string& name, const Poco::JSON::Object& body) const
{
	const std::uint8_t type = typeOf(name);
	try
	{
		_byType.at(type).schema.validate(body);
	}
	catch (MessageException& exc)
	{
		throw MessageException(_protocolName + " message '" + name + "': " + exc.message());
	}

	std::ostringstream json;
	Poco::JSON::Stringifier::condense(Poco::Dynamic::Var(body), json);
	return codec.encode(type, json.str());
}


bool MessageCatalog::has(std::uint8_t type) const
{
	return _byType.count(type) != 0;
}


std::uint8_t MessageCatalog::typeOf(const std::string& name) const
{
	const auto it = _byName.find(name);
	if (it == _byName.end())
		throw Poco::NotFoundException("unknown " + _protocolName + " message '" + name + "'");
	return it->second;
}


const std::string& MessageCatalog::protocolName() const
{
	return _protocolName;
}


} // namespace CrossChat
