//
// SessionProtocolTest.cpp
//
// testsuite: tests for the session protocol catalog.
//


#include "SessionProtocolTest.h"
#include "CrossChat/Chat/SessionProtocol.h"
#include "CrossChat/FoundationException.h"
#include "CrossChat/FrameCodec.h"


using CrossChat::Chat::SessionProtocol;
using CrossChat::FrameCodec;
using CrossChat::MessageException;


void SessionProtocolTest::testRoundTrip()
{
	FrameCodec codec(SessionProtocol::MAX_FRAME_SIZE);
	Poco::JSON::Object text;
	text.set("id", "m-1");
	text.set("ts", Poco::Int64(1700000000000));
	text.set("text", std::string(SessionProtocol::MAX_TEXT_SIZE, 'a'));
	const std::string wire = SessionProtocol::catalog().encode(codec, "text", text);
	codec.feed(wire.data(), wire.size());
	auto frame = codec.next();
	CPPUNIT_ASSERT(frame.has_value());
	CrossChat::Message message = SessionProtocol::catalog().decode(*frame);
	CPPUNIT_ASSERT_EQUAL(std::string("text"), message.name);
	CPPUNIT_ASSERT_EQUAL(SessionProtocol::MAX_TEXT_SIZE, message.body->getValue<std::string>("text").size());
	CPPUNIT_ASSERT_EQUAL(std::string("m-1"), message.body->getValue<std::string>("id"));
}


void SessionProtocolTest::testRejectsInvalid()
{
	FrameCodec codec(SessionProtocol::MAX_FRAME_SIZE);
	Poco::JSON::Object text;
	text.set("id", "m-1");
	text.set("ts", Poco::Int64(1));
	text.set("text", std::string(SessionProtocol::MAX_TEXT_SIZE + 1, 'a'));
	CPPUNIT_ASSERT_THROW(SessionProtocol::catalog().encode(codec, "text", text), MessageException);
	Poco::JSON::Object hello;
	hello.set("version", 0);
	hello.set("name", "x");
	CPPUNIT_ASSERT_THROW(SessionProtocol::catalog().encode(codec, "hello", hello), MessageException);
	CrossChat::Frame unknown{99, "{}"};
	CPPUNIT_ASSERT_THROW(SessionProtocol::catalog().decode(unknown), MessageException);
	CrossChat::Frame noId{3, "{\"id\":5}"};
	CPPUNIT_ASSERT_THROW(SessionProtocol::catalog().decode(noId), MessageException);
}
