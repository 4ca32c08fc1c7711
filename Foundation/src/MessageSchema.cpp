//
// MessageSchema.cpp
//
// Library: Foundation
// Declarative validation of JSON message bodies.
//
// Rules the header leaves open, decided here:
//   - A declared field that is present with the value JSON null is a type error, for
//     optional fields as well as required ones ("null is not absent"): a peer that means
//     "no value" leaves the field out.
//   - INTEGER accepts JSON integers only: no floats (not even 1.0), no numeric strings,
//     no booleans. A value outside the signed 64-bit range is out of bounds.
//   - Poco 1.11's parser silently wraps integer literals outside [INT64_MIN, UINT64_MAX];
//     parseObject() therefore rejects such literals anywhere in the body as malformed,
//     rather than hand the application a wrong number.
//   - Declaring the same field name twice, or bounds with min > max, throws
//     Poco::InvalidArgumentException.
//


#include "CrossChat/MessageSchema.h"
#include "CrossChat/FoundationException.h"
#include "Poco/Exception.h"
#include "Poco/JSON/Array.h"
#include "Poco/JSON/Parser.h"
#include <algorithm>
#include <cstring>


namespace CrossChat {


namespace {


std::int64_t toBound(std::size_t length)
{
	const auto maximum = static_cast<std::uint64_t>(MessageSchema::INT_MAX_VALUE);
	return static_cast<std::int64_t>(std::min<std::uint64_t>(length, maximum));
}


const char* typeName(MessageSchema::Type type)
{
	switch (type)
	{
	case MessageSchema::Type::STRING:  return "string";
	case MessageSchema::Type::INTEGER: return "integer";
	case MessageSchema::Type::BOOLEAN: return "boolean";
	case MessageSchema::Type::OBJECT:  return "object";
	case MessageSchema::Type::ARRAY:   return "array";
	}
	return "value";
}


const char* describe(const Poco::JSON::Object& message, const std::string& name)
	/// A short name for the JSON type of the present field name, for error messages.
{
	if (message.isNull(name)) return "null";
	if (message.isObject(name)) return "object";
	if (message.isArray(name)) return "array";
	const Poco::Dynamic::Var value = message.get(name);
	if (value.isBoolean()) return "boolean";
	if (value.isInteger()) return "integer";
	if (value.isNumeric()) return "number";
	if (value.isString()) return "string";
	return "unsupported value";
}


[[noreturn]] void fail(const std::string& name, const std::string& what)
{
	throw MessageException("field '" + name + "': " + what);
}


[[noreturn]] void failType(const Poco::JSON::Object& message, const MessageSchema::Field& field)
{
	fail(field.name, std::string("expected ") + typeName(field.type) + ", got " + describe(message, field.name));
}


void checkLength(const MessageSchema::Field& field, std::size_t length)
{
	const auto value = static_cast<std::uint64_t>(length);
	if (value > static_cast<std::uint64_t>(field.max))
		fail(field.name, "length " + std::to_string(length) + " exceeds " + std::to_string(field.max));
	if (value < static_cast<std::uint64_t>(field.min))
		fail(field.name, "length " + std::to_string(length) + " is below " + std::to_string(field.min));
}


void checkInteger(const Poco::JSON::Object& message, const MessageSchema::Field& field)
{
	const Poco::Dynamic::Var value = message.get(field.name);
	// Poco reports booleans as integers too, so they are excluded first.
	if (value.isEmpty() || value.isBoolean() || !value.isInteger()) failType(message, field);

	if (value.isSigned())
	{
		const auto number = value.convert<Poco::Int64>();
		if (number < field.min)
			fail(field.name, std::to_string(number) + " is below the minimum " + std::to_string(field.min));
		if (number > field.max)
			fail(field.name, std::to_string(number) + " is above the maximum " + std::to_string(field.max));
	}
	else
	{
		// Unsigned values up to UINT64_MAX: compare without converting to Int64, which would throw.
		const auto number = value.convert<Poco::UInt64>();
		if (field.min > 0 && number < static_cast<std::uint64_t>(field.min))
			fail(field.name, std::to_string(number) + " is below the minimum " + std::to_string(field.min));
		if (field.max < 0 || number > static_cast<std::uint64_t>(field.max))
			fail(field.name, std::to_string(number) + " is above the maximum " + std::to_string(field.max));
	}
}


std::size_t arraySize(const Poco::Dynamic::Var& value)
{
	if (value.type() == typeid(Poco::JSON::Array::Ptr))
	{
		const auto& pArray = value.extract<Poco::JSON::Array::Ptr>();
		return pArray ? pArray->size() : 0;
	}
	return value.extract<Poco::JSON::Array>().size();
}


bool isObjectValue(const Poco::JSON::Object& message, const std::string& name)
{
	if (!message.isObject(name)) return false;
	const Poco::Dynamic::Var value = message.get(name);
	return value.type() != typeid(Poco::JSON::Object::Ptr) || !value.extract<Poco::JSON::Object::Ptr>().isNull();
}


bool isArrayValue(const Poco::JSON::Object& message, const std::string& name)
{
	if (!message.isArray(name)) return false;
	const Poco::Dynamic::Var value = message.get(name);
	return value.type() != typeid(Poco::JSON::Array::Ptr) || !value.extract<Poco::JSON::Array::Ptr>().isNull();
}


bool integerLiteralFits(const char* begin, const char* end)
	/// True if the integer literal [begin, end) ("-"? digits) lies in [INT64_MIN, UINT64_MAX],
	/// the range Poco 1.11 represents without wrapping.
{
	const bool negative = *begin == '-';
	if (negative) ++begin;
	while (end - begin > 1 && *begin == '0') ++begin;
	const char* limit = negative ? "9223372036854775808" : "18446744073709551615";
	const auto digits = static_cast<std::size_t>(end - begin);
	const std::size_t limitDigits = std::strlen(limit);
	if (digits != limitDigits) return digits < limitDigits;
	return std::memcmp(begin, limit, digits) <= 0;
}


void checkIntegerLiterals(const std::string& body)
	/// Throws MessageException if an integer literal of the (syntactically valid) JSON text
	/// body lies outside the range that Poco can represent.
{
	const char* p = body.data();
	const char* const end = p + body.size();
	while (p < end)
	{
		if (*p == '"')
		{
			for (++p; p < end && *p != '"'; ++p)
			{
				if (*p == '\\' && end - p > 1) ++p;
			}
			if (p < end) ++p;
		}
		else if (*p == '-' || (*p >= '0' && *p <= '9'))
		{
			const char* const begin = p;
			bool integer = true;
			for (; p < end && *p != '\0' && std::strchr("0123456789+-.eE", *p) != nullptr; ++p)
			{
				if (*p == '.' || *p == 'e' || *p == 'E') integer = false;
			}
			if (integer && !integerLiteralFits(begin, p))
			{
				const std::string literal(begin, std::min<std::size_t>(p - begin, 40));
				throw MessageException("malformed JSON: integer " + literal + (p - begin > 40 ? "..." : "") + " is out of range");
			}
		}
		else
		{
			++p;
		}
	}
}


} // namespace


MessageSchema& MessageSchema::requireString(const std::string& name, std::size_t minLength, std::size_t maxLength)
{
	return add(Field{name, Type::STRING, true, toBound(minLength), toBound(maxLength)});
}


MessageSchema& MessageSchema::optionalString(const std::string& name, std::size_t minLength, std::size_t maxLength)
{
	return add(Field{name, Type::STRING, false, toBound(minLength), toBound(maxLength)});
}


MessageSchema& MessageSchema::requireInteger(const std::string& name, std::int64_t min, std::int64_t max)
{
	return add(Field{name, Type::INTEGER, true, min, max});
}


MessageSchema& MessageSchema::optionalInteger(const std::string& name, std::int64_t min, std::int64_t max)
{
	return add(Field{name, Type::INTEGER, false, min, max});
}


MessageSchema& MessageSchema::requireBoolean(const std::string& name)
{
	return add(Field{name, Type::BOOLEAN, true, 0, 0});
}


MessageSchema& MessageSchema::optionalBoolean(const std::string& name)
{
	return add(Field{name, Type::BOOLEAN, false, 0, 0});
}


MessageSchema& MessageSchema::requireObject(const std::string& name)
{
	return add(Field{name, Type::OBJECT, true, 0, 0});
}


MessageSchema& MessageSchema::optionalObject(const std::string& name)
{
	return add(Field{name, Type::OBJECT, false, 0, 0});
}


MessageSchema& MessageSchema::requireArray(const std::string& name, std::size_t maxLength)
{
	return add(Field{name, Type::ARRAY, true, 0, toBound(maxLength)});
}


MessageSchema& MessageSchema::optionalArray(const std::string& name, std::size_t maxLength)
{
	return add(Field{name, Type::ARRAY, false, 0, toBound(maxLength)});
}


void MessageSchema::validate(const Poco::JSON::Object& message) const
{
	for (const Field& field: _fields)
	{
		if (!message.has(field.name))
		{
			if (field.required) throw MessageException("missing required field '" + field.name + "'");
			continue;
		}
		switch (field.type)
		{
		case Type::STRING:
			{
				const Poco::Dynamic::Var value = message.get(field.name);
				if (value.type() != typeid(std::string)) failType(message, field);
				checkLength(field, value.extract<std::string>().size());
			}
			break;
		case Type::INTEGER:
			checkInteger(message, field);
			break;
		case Type::BOOLEAN:
			if (!message.get(field.name).isBoolean()) failType(message, field);
			break;
		case Type::OBJECT:
			if (!isObjectValue(message, field.name)) failType(message, field);
			break;
		case Type::ARRAY:
			if (!isArrayValue(message, field.name)) failType(message, field);
			checkLength(field, arraySize(message.get(field.name)));
			break;
		}
	}
}


Poco::JSON::Object::Ptr MessageSchema::parse(const std::string& body) const
{
	Poco::JSON::Object::Ptr pMessage = parseObject(body);
	validate(*pMessage);
	return pMessage;
}


const std::vector<MessageSchema::Field>& MessageSchema::fields() const
{
	return _fields;
}


Poco::JSON::Object::Ptr MessageSchema::parseObject(const std::string& body)
{
	const std::size_t first = body.find_first_not_of(" \t\r\n");
	if (first != std::string::npos && body[first] != '{')
		throw MessageException("message body must be a JSON object");

	Poco::Dynamic::Var root;
	try
	{
		Poco::JSON::Parser parser;
		parser.setDepth(MAX_DEPTH);
		root = parser.parse(body);
	}
	catch (Poco::Exception& exc)
	{
		// JSONException, SyntaxException (bad numbers) and anything else the parser throws.
		throw MessageException("malformed JSON: " + (exc.message().empty() ? exc.displayText() : exc.message()));
	}
	checkIntegerLiterals(body);

	if (root.type() != typeid(Poco::JSON::Object::Ptr) || root.extract<Poco::JSON::Object::Ptr>().isNull())
		throw MessageException("message body must be a JSON object");
	return root.extract<Poco::JSON::Object::Ptr>();
}


MessageSchema& MessageSchema::add(Field field)
{
	const bool duplicate = std::any_of(_fields.begin(), _fields.end(),
		[&field](const Field& existing) { return existing.name == field.name; });
	if (duplicate) throw Poco::InvalidArgumentException("field declared twice", field.name);
	if (field.min > field.max) throw Poco::InvalidArgumentException("minimum above maximum for field", field.name);
	_fields.push_back(std::move(field));
	return *this;
}


} // namespace CrossChat
