//
// MessageSchemaTest.cpp
//
// testsuite: tests for MessageSchema and MessageCatalog.
//


#include "MessageSchemaTest.h"
#include "CrossChat/MessageSchema.h"
#include "CrossChat/MessageCatalog.h"
#include "CrossChat/FrameCodec.h"
#include "CrossChat/FoundationException.h"
#include "Poco/Exception.h"
#include "Poco/JSON/Array.h"
#include "Poco/JSON/Object.h"
#include <string>
#include <utility>
#include <vector>


using CrossChat::Frame;
using CrossChat::FrameCodec;
using CrossChat::FrameTooLargeException;
using CrossChat::Message;
using CrossChat::MessageCatalog;
using CrossChat::MessageException;
using CrossChat::MessageSchema;


namespace {


MessageSchema textSchema()
{
	MessageSchema schema;
	schema.requireString("id", 1, 64)
		.requireInteger("ts", 0)
		.requireString("text", 0, 16*1024)
		.optionalBoolean("urgent")
		.optionalObject("meta")
		.optionalArray("tags", 3)
		.optionalInteger("prio", -5, 5);
	return schema;
}


const std::vector<std::pair<std::string, std::string>> VALID_FIELDS = {
	{"id", R"("m1")"},
	{"ts", "1700000000"},
	{"text", R"("hi")"},
	{"urgent", "true"},
	{"meta", R"({"a":1})"},
	{"tags", R"(["x","y"])"},
	{"prio", "-5"},
};


std::string withField(const std::string& name, const std::string& json)
	/// A valid text message in which field name has the raw JSON value json instead.
{
	std::string body;
	for (const auto& field: VALID_FIELDS)
	{
		body += body.empty() ? "{" : ",";
		body += '"' + field.first + "\":" + (field.first == name ? json : field.second);
	}
	return body + "}";
}


const std::string VALID = withField("", "");


std::string errorOf(const MessageSchema& schema, const std::string& body)
	/// The message of the MessageException that parsing body throws; fails if nothing is thrown.
{
	try
	{
		schema.parse(body);
	}
	catch (MessageException& exc)
	{
		return exc.message();
	}
	CPPUNIT_FAIL("accepted: " + body);
	return std::string();
}


void assertRejected(const MessageSchema& schema, const std::string& body, const std::string& expected)
{
	const std::string message = errorOf(schema, body);
	CPPUNIT_ASSERT_MESSAGE("'" + message + "' lacks '" + expected + "' for " + body,
		message.find(expected) != std::string::npos);
}


std::string nested(std::size_t depth)
	/// An object nested depth containers deep: {"a":{"a":...{}...}}.
{
	std::string body;
	for (std::size_t i = 1; i < depth; ++i) body += R"({"a":)";
	body += "{}";
	body += std::string(depth - 1, '}');
	return body;
}


MessageCatalog sessionCatalog()
{
	MessageCatalog catalog("session");
	catalog.declare(1, "hello", MessageSchema().requireInteger("version", 1, 255).requireString("peer", 1, 64));
	catalog.declare(2, "text", textSchema());
	catalog.declare(3, "bye", MessageSchema());
	return catalog;
}


} // namespace


void MessageSchemaTest::testValidMessage()
{
	const MessageSchema schema = textSchema();
	Poco::JSON::Object::Ptr pMessage = schema.parse(VALID);
	CPPUNIT_ASSERT(!pMessage.isNull());
	CPPUNIT_ASSERT_EQUAL(std::string("m1"), pMessage->getValue<std::string>("id"));
	CPPUNIT_ASSERT_EQUAL(Poco::Int64(1700000000), pMessage->getValue<Poco::Int64>("ts"));
	CPPUNIT_ASSERT_EQUAL(true, pMessage->getValue<bool>("urgent"));
	CPPUNIT_ASSERT_EQUAL(std::size_t(2), pMessage->getArray("tags")->size());
	CPPUNIT_ASSERT_EQUAL(std::size_t(7), schema.fields().size());
	CPPUNIT_ASSERT_EQUAL(std::string("ts"), schema.fields()[1].name);
	CPPUNIT_ASSERT(schema.fields()[1].type == MessageSchema::Type::INTEGER);
	CPPUNIT_ASSERT(schema.fields()[1].required);
	CPPUNIT_ASSERT(!schema.fields()[3].required);

	// withField() itself builds valid messages, so the rejections below are due to the field.
	CPPUNIT_ASSERT(!schema.parse(withField("text", R"("other")")).isNull());
}


void MessageSchemaTest::testMissingRequiredField()
{
	const MessageSchema schema = textSchema();
	for (const std::string name: {"id", "ts", "text"})
	{
		Poco::JSON::Object::Ptr pMessage = MessageSchema::parseObject(VALID);
		pMessage->remove(name);
		try
		{
			schema.validate(*pMessage);
			CPPUNIT_FAIL("missing field accepted: " + name);
		}
		catch (MessageException& exc)
		{
			CPPUNIT_ASSERT_EQUAL(std::string("missing required field '") + name + "'", exc.message());
		}
	}
	assertRejected(schema, "{}", "missing required field 'id'");
}


void MessageSchemaTest::testOptionalFieldMayBeAbsent()
{
	const MessageSchema schema = textSchema();
	Poco::JSON::Object::Ptr pMessage = schema.parse(R"({"id":"x","ts":0,"text":""})");
	CPPUNIT_ASSERT(!pMessage->has("urgent"));
	CPPUNIT_ASSERT_EQUAL(std::size_t(3), pMessage->size());
}


void MessageSchemaTest::testWrongTypes()
{
	const MessageSchema schema = textSchema();
	// Integer field.
	assertRejected(schema, withField("ts", R"("5")"), "field 'ts': expected integer, got string");
	assertRejected(schema, withField("ts", "5.0"), "field 'ts': expected integer, got number");
	assertRejected(schema, withField("ts", "1e3"), "field 'ts': expected integer");
	assertRejected(schema, withField("ts", "true"), "field 'ts': expected integer, got boolean");
	assertRejected(schema, withField("ts", "false"), "field 'ts': expected integer, got boolean");
	assertRejected(schema, withField("ts", "[1]"), "field 'ts': expected integer, got array");
	assertRejected(schema, withField("ts", R"({"v":1})"), "field 'ts': expected integer, got object");
	// String field.
	assertRejected(schema, withField("text", "5"), "field 'text': expected string, got integer");
	assertRejected(schema, withField("text", "true"), "field 'text': expected string, got boolean");
	assertRejected(schema, withField("text", R"(["a"])"), "field 'text': expected string, got array");
	// Boolean field.
	assertRejected(schema, withField("urgent", "1"), "field 'urgent': expected boolean, got integer");
	assertRejected(schema, withField("urgent", R"("true")"), "field 'urgent': expected boolean, got string");
	// Object field.
	assertRejected(schema, withField("meta", "[]"), "field 'meta': expected object, got array");
	assertRejected(schema, withField("meta", R"("{}")"), "field 'meta': expected object, got string");
	// Array field.
	assertRejected(schema, withField("tags", "{}"), "field 'tags': expected array, got object");
	assertRejected(schema, withField("tags", R"("x")"), "field 'tags': expected array, got string");
}


void MessageSchemaTest::testNullIsTypeError()
{
	const MessageSchema schema = textSchema();
	assertRejected(schema, withField("id", "null"), "field 'id': expected string, got null");
	assertRejected(schema, withField("ts", "null"), "field 'ts': expected integer, got null");
	// Optional fields too: null is not the same as absent.
	assertRejected(schema, withField("urgent", "null"), "field 'urgent': expected boolean, got null");
	assertRejected(schema, withField("meta", "null"), "field 'meta': expected object, got null");
	assertRejected(schema, withField("tags", "null"), "field 'tags': expected array, got null");
	assertRejected(schema, withField("prio", "null"), "field 'prio': expected integer, got null");
}


void MessageSchemaTest::testStringBounds()
{
	MessageSchema schema;
	schema.requireString("name", 2, 64);
	CPPUNIT_ASSERT(!schema.parse(R"({"name":"ab"})").isNull());
	CPPUNIT_ASSERT(!schema.parse(R"({"name":")" + std::string(64, 'n') + R"("})").isNull());
	assertRejected(schema, R"({"name":")" + std::string(300, 'n') + R"("})", "field 'name': length 300 exceeds 64");
	assertRejected(schema, R"({"name":")" + std::string(65, 'n') + R"("})", "field 'name': length 65 exceeds 64");
	assertRejected(schema, R"({"name":"a"})", "field 'name': length 1 is below 2");
	assertRejected(schema, R"({"name":""})", "field 'name': length 0 is below 2");
	// Lengths are in bytes: "\u00e9" is two bytes of UTF-8.
	CPPUNIT_ASSERT(!schema.parse(R"({"name":"\u00e9"})").isNull());
	MessageSchema tight;
	tight.requireString("name", 0, 1);
	assertRejected(tight, R"({"name":"\u00e9"})", "length 2 exceeds 1");
}


void MessageSchemaTest::testIntegerBounds()
{
	const MessageSchema schema = textSchema();
	CPPUNIT_ASSERT(!schema.parse(withField("ts", "0")).isNull());
	assertRejected(schema, withField("ts", "-1"), "field 'ts': -1 is below the minimum 0");
	assertRejected(schema, withField("prio", "-6"), "field 'prio': -6 is below the minimum -5");
	assertRejected(schema, withField("prio", "6"), "field 'prio': 6 is above the maximum 5");
	CPPUNIT_ASSERT(!schema.parse(withField("prio", "5")).isNull());

	MessageSchema wide;
	wide.requireInteger("n");
	CPPUNIT_ASSERT_EQUAL(MessageSchema::INT_MAX_VALUE,
		wide.parse(R"({"n":9223372036854775807})")->getValue<Poco::Int64>("n"));
	CPPUNIT_ASSERT_EQUAL(MessageSchema::INT_MIN_VALUE,
		wide.parse(R"({"n":-9223372036854775808})")->getValue<Poco::Int64>("n"));
	// Parsed as UInt64 by Poco, but outside the signed range of INTEGER.
	assertRejected(wide, R"({"n":9223372036854775808})", "9223372036854775808 is above the maximum 9223372036854775807");
	assertRejected(wide, R"({"n":18446744073709551615})", "is above the maximum");

	MessageSchema positive;
	positive.requireInteger("n", 10, 20);
	assertRejected(positive, R"({"n":4000000000})", "4000000000 is above the maximum 20");
}


void MessageSchemaTest::testArrayBounds()
{
	const MessageSchema schema = textSchema();
	CPPUNIT_ASSERT(!schema.parse(withField("tags", "[]")).isNull());
	CPPUNIT_ASSERT(!schema.parse(withField("tags", "[1,2,3]")).isNull());
	assertRejected(schema, withField("tags", "[1,2,3,4]"), "field 'tags': length 4 exceeds 3");

	MessageSchema defaults;
	defaults.requireArray("list");
	std::string big = "[0";
	for (int i = 1; i < 257; ++i) big += ",0";
	big += "]";
	assertRejected(defaults, R"({"list":)" + big + "}", "field 'list': length 257 exceeds 256");
}


void MessageSchemaTest::testUndeclaredFieldsIgnored()
{
	const MessageSchema schema = textSchema();
	const std::string body = R"({"id":"a","ts":1,"text":"t","extra":[1,{"x":null}],"v2":"new","n":1.5})";
	Poco::JSON::Object::Ptr pMessage = schema.parse(body);
	CPPUNIT_ASSERT(pMessage->has("extra"));
	CPPUNIT_ASSERT_EQUAL(std::string("new"), pMessage->getValue<std::string>("v2"));

	MessageSchema empty;
	CPPUNIT_ASSERT_EQUAL(std::size_t(6), empty.parse(body)->size());
}


void MessageSchemaTest::testNonObjectRoot()
{
	const MessageSchema schema;
	for (const std::string body: {"[]", R"([{"id":"a"}])", R"("text")", "42", "-1", "true", "null", " \n [1]"})
		assertRejected(schema, body, "must be a JSON object");
	CPPUNIT_ASSERT_THROW(MessageSchema::parseObject("[1,2]"), MessageException);
	CPPUNIT_ASSERT(!MessageSchema::parseObject(" \t{}\n").isNull());
}


void MessageSchemaTest::testMalformedJson()
{
	const MessageSchema schema;
	const std::vector<std::string> bodies = {"", "   ", "{", R"({"a":})", R"({"a":1,})", R"({"a":1} x)", R"({"a":1}{"b":2})",
		R"({'a':1})", R"({"a":01})", R"({"a":NaN})", R"({"a":1e400})", "{\"a\":\"\xff\xfe\"}", R"({"a":"\ud800"})",
		std::string("{\"a\":\"x\0y\"}", 11)};
	for (const std::string& body: bodies)
		assertRejected(schema, body, "malformed JSON");
	CPPUNIT_ASSERT_THROW(MessageSchema::parseObject(R"({"a":[1,2)"), MessageException);
}


void MessageSchemaTest::testMaximumDepth()
{
	CPPUNIT_ASSERT_EQUAL(std::size_t(16), MessageSchema::MAX_DEPTH);
	const MessageSchema schema;
	CPPUNIT_ASSERT(!schema.parse(nested(MessageSchema::MAX_DEPTH)).isNull());
	assertRejected(schema, nested(MessageSchema::MAX_DEPTH + 1), "malformed JSON");
	assertRejected(schema, nested(10000), "malformed JSON");

	// Arrays count as well as objects.
	const std::string arrays = R"({"a":)" + std::string(MessageSchema::MAX_DEPTH, '[') + std::string(MessageSchema::MAX_DEPTH, ']') + "}";
	CPPUNIT_ASSERT_THROW(MessageSchema::parseObject(arrays), MessageException);
	const std::string fits = R"({"a":)" + std::string(MessageSchema::MAX_DEPTH - 1, '[') + std::string(MessageSchema::MAX_DEPTH - 1, ']') + "}";
	CPPUNIT_ASSERT(!MessageSchema::parseObject(fits).isNull());
}


void MessageSchemaTest::testHugeIntegers()
{
	// Poco 1.11 would wrap these silently; they are rejected wherever they appear.
	MessageSchema schema;
	schema.requireInteger("n");
	assertRejected(schema, R"({"n":18446744073709551616})", "out of range");
	assertRejected(schema, R"({"n":-9223372036854775809})", "out of range");
	assertRejected(schema, R"({"n":123456789012345678901234567890})", "malformed JSON");
	assertRejected(schema, R"({"n":1,"undeclared":[99999999999999999999]})", "malformed JSON");
	assertRejected(schema, R"({"n":1,"undeclared":[-18446744073709551616]})", "malformed JSON");

	// Digits inside strings and floats are not integer literals.
	CPPUNIT_ASSERT(!schema.parse(R"({"n":1,"s":"99999999999999999999","f":99999999999999999999.0,"e":1e30})").isNull());
	CPPUNIT_ASSERT(!schema.parse(R"({"n":1,"s":"\"99999999999999999999"})").isNull());
	CPPUNIT_ASSERT(!MessageSchema::parseObject(R"({"u":18446744073709551615})").isNull());
}


void MessageSchemaTest::testValidateBuiltObject()
{
	const MessageSchema schema = textSchema();
	Poco::JSON::Object message;
	message.set("id", std::string("abc"));
	message.set("ts", 5);
	message.set("text", std::string("hello"));
	Poco::JSON::Array tags;
	tags.add(1);
	message.set("tags", tags);
	message.set("meta", Poco::JSON::Object());
	schema.validate(message);

	message.set("ts", 5.0);
	CPPUNIT_ASSERT_THROW(schema.validate(message), MessageException);
	message.set("ts", Poco::UInt64(7));
	schema.validate(message);
	message.set("ts", true);
	CPPUNIT_ASSERT_THROW(schema.validate(message), MessageException);
	message.set("ts", 5);
	message.set("id", 5);
	CPPUNIT_ASSERT_THROW(schema.validate(message), MessageException);
}


void MessageSchemaTest::testDeclareTwiceThrows()
{
	MessageSchema schema;
	schema.requireString("a");
	CPPUNIT_ASSERT_THROW(schema.optionalInteger("a"), Poco::InvalidArgumentException);
	CPPUNIT_ASSERT_THROW(schema.requireInteger("b", 5, 4), Poco::InvalidArgumentException);
	CPPUNIT_ASSERT_THROW(schema.requireString("c", 10, 9), Poco::InvalidArgumentException);
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), schema.fields().size());
}


void MessageSchemaTest::testCatalogDeclareDuplicates()
{
	MessageCatalog catalog("session");
	catalog.declare(1, "hello", MessageSchema());
	CPPUNIT_ASSERT_THROW(catalog.declare(1, "other", MessageSchema()), Poco::InvalidArgumentException);
	CPPUNIT_ASSERT_THROW(catalog.declare(2, "hello", MessageSchema()), Poco::InvalidArgumentException);
	CPPUNIT_ASSERT(catalog.has(1));
	CPPUNIT_ASSERT(!catalog.has(2));
	CPPUNIT_ASSERT_EQUAL(1, static_cast<int>(catalog.typeOf("hello")));
	CPPUNIT_ASSERT_EQUAL(std::string("session"), catalog.protocolName());
}


void MessageSchemaTest::testCatalogRoundTrip()
{
	const MessageCatalog catalog = sessionCatalog();
	FrameCodec codec;

	Poco::JSON::Object hello;
	hello.set("version", 1);
	hello.set("peer", std::string("P\"eer \\ \xc3\xa9\n"));
	hello.set("extra", Poco::JSON::Object());
	const std::string bytes = catalog.encode(codec, "hello", hello);
	CPPUNIT_ASSERT(bytes.find('\n') == std::string::npos);   // compact: no indentation
	CPPUNIT_ASSERT(bytes.find(": ") == std::string::npos);

	codec.feed(bytes.data(), bytes.size());
	auto frame = codec.next();
	CPPUNIT_ASSERT(frame.has_value());
	CPPUNIT_ASSERT_EQUAL(1, static_cast<int>(frame->type));

	const Message message = catalog.decode(*frame);
	CPPUNIT_ASSERT_EQUAL(1, static_cast<int>(message.type));
	CPPUNIT_ASSERT_EQUAL(std::string("hello"), message.name);
	CPPUNIT_ASSERT_EQUAL(1, message.body->getValue<int>("version"));
	CPPUNIT_ASSERT_EQUAL(std::string("P\"eer \\ \xc3\xa9\n"), message.body->getValue<std::string>("peer"));
	CPPUNIT_ASSERT(message.body->isObject("extra"));

	const std::string byeBytes = catalog.encode(codec, "bye", Poco::JSON::Object());
	codec.feed(byeBytes.data(), byeBytes.size());
	const Message bye = catalog.decode(*codec.next());
	CPPUNIT_ASSERT_EQUAL(std::string("bye"), bye.name);
	CPPUNIT_ASSERT_EQUAL(std::size_t(0), bye.body->size());

	// The same from FrameCodec::decode()'s views, without a Frame per message.
	std::vector<Message> viewed;
	codec.decode((bytes + byeBytes).data(), bytes.size() + byeBytes.size(), [&](const CrossChat::FrameView& view) {
		viewed.push_back(catalog.decode(view));
	});
	CPPUNIT_ASSERT_EQUAL(std::size_t(2), viewed.size());
	CPPUNIT_ASSERT_EQUAL(std::string("hello"), viewed[0].name);
	CPPUNIT_ASSERT_EQUAL(std::string("P\"eer \\ \xc3\xa9\n"), viewed[0].body->getValue<std::string>("peer"));
	CPPUNIT_ASSERT_EQUAL(std::string("bye"), viewed[1].name);
}


void MessageSchemaTest::testCatalogUnknownType()
{
	const MessageCatalog catalog = sessionCatalog();
	Frame frame;
	frame.type = 9;
	frame.body = "{}";
	try
	{
		catalog.decode(frame);
		CPPUNIT_FAIL("unknown type decoded");
	}
	catch (MessageException& exc)
	{
		CPPUNIT_ASSERT_EQUAL(std::string("unknown session message type 9"), exc.message());
	}
}


void MessageSchemaTest::testCatalogUnknownName()
{
	const MessageCatalog catalog = sessionCatalog();
	FrameCodec codec;
	CPPUNIT_ASSERT_THROW(catalog.encode(codec, "nope", Poco::JSON::Object()), Poco::NotFoundException);
	CPPUNIT_ASSERT_THROW(catalog.typeOf("nope"), Poco::NotFoundException);
}


void MessageSchemaTest::testCatalogEncodeValidates()
{
	const MessageCatalog catalog = sessionCatalog();
	FrameCodec codec;
	Poco::JSON::Object hello;
	hello.set("version", 0);   // below the minimum 1
	hello.set("peer", std::string("p"));
	try
	{
		catalog.encode(codec, "hello", hello);
		CPPUNIT_FAIL("invalid body encoded");
	}
	catch (MessageException& exc)
	{
		CPPUNIT_ASSERT(exc.message().find("field 'version': 0 is below the minimum 1") != std::string::npos);
	}
	hello.set("version", 1);
	hello.remove("peer");
	CPPUNIT_ASSERT_THROW(catalog.encode(codec, "hello", hello), MessageException);

	// A valid body that does not fit in a frame.
	FrameCodec small(16);
	hello.set("peer", std::string(32, 'p'));
	CPPUNIT_ASSERT_THROW(catalog.encode(small, "hello", hello), FrameTooLargeException);
	CPPUNIT_ASSERT(!catalog.encode(codec, "hello", hello).empty());
}


void MessageSchemaTest::testCatalogDecodeValidates()
{
	const MessageCatalog catalog = sessionCatalog();
	Frame frame;
	frame.type = 1;
	frame.body = R"({"version":300,"peer":"p"})";
	try
	{
		catalog.decode(frame);
		CPPUNIT_FAIL("invalid body decoded");
	}
	catch (MessageException& exc)
	{
		CPPUNIT_ASSERT(exc.message().find("session message 'hello'") != std::string::npos);
		CPPUNIT_ASSERT(exc.message().find("field 'version': 300 is above the maximum 255") != std::string::npos);
	}
	frame.body = "not json";
	CPPUNIT_ASSERT_THROW(catalog.decode(frame), MessageException);
	frame.body = R"({"version":3,"peer":"p"})";
	CPPUNIT_ASSERT_EQUAL(3, catalog.decode(frame).body->getValue<int>("version"));
}
