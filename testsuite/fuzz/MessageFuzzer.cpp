//
// MessageFuzzer.cpp
//
// testsuite: libFuzzer target for MessageSchema and MessageCatalog.
//
// Input layout: byte 0 is the frame type (1 hello, 2 text, 3 bye; any other is unknown),
// the rest is the JSON body.
//
// Only MessageException may come out of decode(); anything else escapes and crashes the
// run. A message that decodes is re-encoded, framed, decoded again, and must come back
// valid and unchanged.
//


#include "CrossChat/FoundationException.h"
#include "CrossChat/FrameCodec.h"
#include "CrossChat/MessageCatalog.h"
#include "CrossChat/MessageSchema.h"
#include "Poco/JSON/Stringifier.h"
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>


namespace {


using CrossChat::Frame;
using CrossChat::FrameCodec;
using CrossChat::Message;
using CrossChat::MessageCatalog;
using CrossChat::MessageException;
using CrossChat::MessageSchema;


void check(bool condition, const char* what)
{
	if (!condition)
	{
		std::fprintf(stderr, "MessageFuzzer: invariant violated: %s\n", what);
		std::abort();
	}
}


const MessageCatalog& catalog()
{
	static const MessageCatalog session = [] {
		MessageCatalog c("session");
		c.declare(1, "hello", MessageSchema()
			.requireInteger("version", 1, 255)
			.requireString("peer", 1, 64)
			.optionalArray("caps", 8));
		c.declare(2, "text", MessageSchema()
			.requireString("id", 1, 64)
			.requireInteger("ts", 0)
			.requireString("text", 0, 16*1024)
			.optionalBoolean("urgent")
			.optionalObject("meta")
			.optionalInteger("prio", -5, 5));
		c.declare(3, "bye", MessageSchema().optionalString("reason", 0, 200));
		return c;
	}();
	return session;
}


std::string stringify(const Poco::JSON::Object::Ptr& pObject)
{
	std::ostringstream out;
	Poco::JSON::Stringifier::condense(pObject, out);
	return out.str();
}


} // namespace


extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
	if (size < 1) return 0;
	Frame frame;
	frame.type = data[0];
	frame.body.assign(reinterpret_cast<const char*>(data + 1), size - 1);

	Message message;
	try
	{
		message = catalog().decode(frame);
	}
	catch (MessageException&)
	{
		return 0;
	}
	check(catalog().has(frame.type), "decoded an undeclared type");
	check(message.type == frame.type, "type changed");
	check(catalog().typeOf(message.name) == frame.type, "name does not match the type");
	check(!message.body.isNull(), "no body");

	// Schema-less parsing accepts whatever a schema accepts.
	check(!MessageSchema::parseObject(frame.body).isNull(), "parseObject rejected a valid message");

	// Round trip: what we decode, we can send, and it decodes to the same thing.
	FrameCodec codec;
	const std::string bytes = catalog().encode(codec, message.name, *message.body);
	codec.feed(bytes.data(), bytes.size());
	auto reframed = codec.next();
	check(reframed.has_value(), "encoded message did not frame");
	check(!codec.next().has_value() && codec.buffered() == 0, "encoded message left bytes");
	check(reframed->type == frame.type, "re-encoded type differs");

	Message again;
	try
	{
		again = catalog().decode(*reframed);
	}
	catch (MessageException& exc)
	{
		std::fprintf(stderr, "MessageFuzzer: re-encoded message rejected: %s\n%s\n",
			exc.displayText().c_str(), reframed->body.c_str());
		std::abort();
	}
	check(again.name == message.name, "re-decoded name differs");
	check(stringify(again.body) == stringify(message.body), "round trip changed the body");
	return 0;
}
