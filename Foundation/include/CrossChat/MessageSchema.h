//
// MessageSchema.h
//
// Library: Foundation
// Declarative validation of JSON message bodies.
//


#ifndef CrossChat_Foundation_MessageSchema_INCLUDED
#define CrossChat_Foundation_MessageSchema_INCLUDED


#include "Poco/JSON/Object.h"
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>


namespace CrossChat {


class MessageSchema
	/// The declared shape of one JSON message: its fields, their types and bounds.
	///
	///     MessageSchema text;
	///     text.requireString("id", 1, 64)
	///         .requireInteger("ts", 0)
	///         .requireString("text", 0, 16 * 1024)
	///         .optionalBoolean("urgent");
	///
	/// validate() checks that the body is a JSON object, that every required field is present,
	/// and that every declared field present has the declared type and lies within its bounds
	/// (string length in bytes, integer range, array length). Fields that are not declared are
	/// allowed and ignored, so later protocol versions can add fields. Violations throw
	/// MessageException naming the field.
	///
	/// Thread rules: build a schema once, then validate() from any thread.
{
public:
	enum class Type
	{
		STRING,
		INTEGER,
		BOOLEAN,
		OBJECT,
		ARRAY
	};

	struct Field
	{
		std::string name;
		Type type = Type::STRING;
		bool required = true;
		std::int64_t min = 0;   ///< INTEGER: smallest value; STRING/ARRAY: shortest length.
		std::int64_t max = 0;   ///< INTEGER: largest value; STRING/ARRAY: longest length.
	};

	static constexpr std::int64_t INT_MIN_VALUE = std::numeric_limits<std::int64_t>::min();
	static constexpr std::int64_t INT_MAX_VALUE = std::numeric_limits<std::int64_t>::max();

	MessageSchema& requireString(const std::string& name, std::size_t minLength = 0, std::size_t maxLength = 4096);
	MessageSchema& optionalString(const std::string& name, std::size_t minLength = 0, std::size_t maxLength = 4096);
	MessageSchema& requireInteger(const std::string& name, std::int64_t min = INT_MIN_VALUE, std::int64_t max = INT_MAX_VALUE);
	MessageSchema& optionalInteger(const std::string& name, std::int64_t min = INT_MIN_VALUE, std::int64_t max = INT_MAX_VALUE);
	MessageSchema& requireBoolean(const std::string& name);
	MessageSchema& optionalBoolean(const std::string& name);
	MessageSchema& requireObject(const std::string& name);
	MessageSchema& optionalObject(const std::string& name);
	MessageSchema& requireArray(const std::string& name, std::size_t maxLength = 256);
	MessageSchema& optionalArray(const std::string& name, std::size_t maxLength = 256);

	void validate(const Poco::JSON::Object& message) const;
		/// Throws MessageException if message violates the schema.

	Poco::JSON::Object::Ptr parse(const std::string& body) const;
		/// Parses body (JSON nested at most MAX_DEPTH deep) and validates it.
		/// Throws MessageException for malformed JSON, a non-object or a schema violation.

	const std::vector<Field>& fields() const;

	static constexpr std::size_t MAX_DEPTH = 16;

	static Poco::JSON::Object::Ptr parseObject(const std::string& body);
		/// Parses body as a JSON object (at most MAX_DEPTH deep) without a schema.
		/// Throws MessageException.

private:
	MessageSchema& add(Field field);

	std::vector<Field> _fields;
};


} // namespace CrossChat


#endif // CrossChat_Foundation_MessageSchema_INCLUDED
