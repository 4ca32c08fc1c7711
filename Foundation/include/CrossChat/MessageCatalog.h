//
// MessageCatalog.h
//
// Library: Foundation
// A protocol's messages, declared once: frame type code, name and schema.
//


#ifndef CrossChat_Foundation_MessageCatalog_INCLUDED
#define CrossChat_Foundation_MessageCatalog_INCLUDED


#include "CrossChat/FrameCodec.h"
#include "CrossChat/MessageSchema.h"
#include "Poco/JSON/Object.h"
#include <cstdint>
#include <map>
#include <string>


namespace CrossChat {


struct Message
	/// A decoded, validated message.
{
	std::uint8_t type = 0;
	std::string name;
	Poco::JSON::Object::Ptr body;
};


class MessageCatalog
	/// Maps frame type codes to message names and schemas, so that a protocol built on
	/// FrameCodec declares each message once and gets validation on both send and receive:
	///
	///     MessageCatalog session("session");
	///     session.declare(1, "hello", MessageSchema().requireInteger("version", 1, 255));
	///     std::string bytes = session.encode(codec, "hello", body);   // validates, frames
	///     Message m = session.decode(frame);                          // parses, validates
	///
	/// Thread rules: declare() everything before use; afterwards encode()/decode() are const
	/// and safe from any thread.
{
public:
	explicit MessageCatalog(std::string protocolName);

	MessageCatalog& declare(std::uint8_t type, const std::string& name, MessageSchema schema);
		/// Declares a message. Throws Poco::InvalidArgumentException on a duplicate type or name.

	Message decode(const Frame& frame) const;
	Message decode(const FrameView& frame) const;
		/// Parses and validates a received frame. Throws MessageException for an unknown type,
		/// malformed JSON or a schema violation. The FrameView overload lets a session decode
		/// straight from FrameCodec::decode() without a Frame per message.

	std::string encode(const FrameCodec& codec, const std::string& name, const Poco::JSON::Object& body) const;
		/// Validates body against the named message's schema and returns the framed bytes.
		/// Throws MessageException (invalid body), Poco::NotFoundException (unknown name) or
		/// FrameTooLargeException.

	bool has(std::uint8_t type) const;
	std::uint8_t typeOf(const std::string& name) const;
		/// Throws Poco::NotFoundException for an unknown name.
	const std::string& protocolName() const;

private:
	struct Entry
	{
		std::string name;
		MessageSchema schema;
	};

	std::string _protocolName;
	std::map<std::uint8_t, Entry> _byType;
	std::map<std::string, std::uint8_t> _byName;
};


} // namespace CrossChat


#endif // CrossChat_Foundation_MessageCatalog_INCLUDED
