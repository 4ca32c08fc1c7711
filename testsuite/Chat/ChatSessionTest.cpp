//
// ChatSessionTest.cpp
//
// testsuite: tests for ChatSession's binary texts and receipts.
//


#include "ChatSessionTest.h"
#include "ChatSession.h"
#include "SessionReader.h"
#include "CrossChat/Chat/SessionProtocol.h"
#include "CrossChat/EventLoop.h"
#include "CrossChat/FoundationException.h"
#include "CrossChat/FrameCodec.h"
#include "CrossChat/Identity.h"
#include "CrossChat/TcpConnection.h"
#include "CrossChat/TcpListener.h"
#include "CrossChat/TlsChannel.h"
#include "../TestSupport.h"
#include "Poco/JSON/Array.h"
#include "Poco/JSON/Object.h"
#include "Poco/Net/SocketAddress.h"
#include "Poco/Net/StreamSocket.h"
#include <cppunit/extensions/HelperMacros.h>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>


using namespace CrossChat;
using namespace CrossChat::Chat;
using Poco::Net::SocketAddress;
using Poco::Net::StreamSocket;


namespace {


const std::string ID_A = "3274be1a-97ab-49f4-a9a7-10b52e23536f";
const std::string ID_B = "8a1c2e44-0b9f-4c1e-9f0e-5d2a7b3c9e10";
const std::string ID_C = "c";


std::string frame(std::uint8_t type, const std::string& body)
{
	return FrameCodec(SessionProtocol::MAX_FRAME_SIZE).encode(type, body);
}


std::string helloFrame(bool binaryCap)
{
	Poco::JSON::Object body;
	body.set("version", SessionProtocol::VERSION);
	body.set("name", std::string("peer"));
	Poco::JSON::Array::Ptr pCaps = new Poco::JSON::Array;
	pCaps->add(std::string("refuse"));
	if (binaryCap) pCaps->add(std::string(SessionProtocol::CAP_BINARY_TEXT));
	body.set("caps", pCaps);
	FrameCodec codec(SessionProtocol::MAX_FRAME_SIZE);
	return SessionProtocol::catalog().encode(codec, "hello", body);
}


std::string textBody(const std::string& id, std::uint64_t ts, const std::string& text)
	/// A TEXT_BIN body written by hand from PROTOCOL.md, not by the codec under test.
{
	std::string body;
	body += static_cast<char>(id.size());
	body += id;
	for (int shift = 56; shift >= 0; shift -= 8) body += static_cast<char>((ts >> shift) & 0xFF);
	body += text;
	return body;
}


std::string receiptsBody(const std::vector<std::string>& ids)
	/// A RECEIPTS body written by hand from PROTOCOL.md.
{
	std::string body;
	body += static_cast<char>(ids.size() >> 8);
	body += static_cast<char>(ids.size() & 0xFF);
	for (const std::string& id: ids)
	{
		body += static_cast<char>(id.size());
		body += id;
	}
	return body;
}


struct Recorded
{
	std::string id;
	std::int64_t ts = 0;
	std::string text;
};


class ReaderRecorder: public SessionReader::Handler
{
public:
	void onHello(const std::string&, const std::vector<std::string>& caps) override
	{
		helloCaps = caps;
	}

	void onMessage(const Message& message) override
	{
		messages.push_back(message.name);
	}

	void onRefused(const std::string& messageId, const char* code, const std::string&) override
	{
		refusedIds.push_back(messageId);
		refusedCodes.push_back(code);
	}

	void onText(std::string_view id, std::int64_t timestampMs, std::string_view text) override
	{
		texts.push_back({std::string(id), timestampMs, std::string(text)});
	}

	void onReceipt(std::string_view id) override
	{
		receipts.emplace_back(id);
	}

	bool stopped() const override
	{
		return false;
	}

	std::vector<std::string> helloCaps;
	std::vector<std::string> messages;
	std::vector<std::string> refusedIds;
	std::vector<std::string> refusedCodes;
	std::vector<Recorded> texts;
	std::vector<std::string> receipts;
};


class SessionRecorder: public Session::Listener
	/// Records what a ChatSession reports; answers every text with a receipt if asked to.
{
public:
	void onSessionTlsReady(Session&) override
	{
	}

	void onSessionEstablished(Session&) override
	{
		++established;
	}

	void onSessionMessage(Session& session, const Message& message) override
	{
		if (message.name == "text")
		{
			jsonTexts.push_back({message.body->getValue<std::string>("id"), message.body->getValue<Poco::Int64>("ts"),
				message.body->getValue<std::string>("text")});
			if (answer) session.sendReceipt(message.body->getValue<std::string>("id"));
		}
		else if (message.name == "receipt")
		{
			jsonReceipts.push_back(message.body->getValue<std::string>("id"));
		}
	}

	void onSessionText(Session& session, std::string_view id, std::int64_t timestampMs, std::string_view text) override
	{
		binaryTexts.push_back({std::string(id), timestampMs, std::string(text)});
		if (answer) session.sendReceipt(id);
	}

	void onSessionReceipt(Session&, std::string_view id) override
	{
		binaryReceipts.emplace_back(id);
	}

	void onSessionRefusedInput(Session&, const std::string& messageId, const std::string&) override
	{
		refused.push_back(messageId);
	}

	void onSessionClosed(Session&, const std::string&) override
	{
		++closed;
	}

	bool answer = true;
	int established = 0;
	int closed = 0;
	std::vector<Recorded> jsonTexts;
	std::vector<Recorded> binaryTexts;
	std::vector<std::string> jsonReceipts;
	std::vector<std::string> binaryReceipts;
	std::vector<std::string> refused;
};


class SessionPair
	/// Two ChatSessions over loopback TLS on one loop, both established.
{
public:
	SessionPair(EventLoop& loop, bool clientBinary, bool serverBinary):
		_serverIdentity(Identity::generate()),
		_clientIdentity(Identity::generate()),
		_listener(loop, SocketAddress("127.0.0.1", 0), [this, &loop, serverBinary](const StreamSocket& socket) {
			ChatSession::Options options;
			options.localName = "server";
			options.binaryText = serverBinary;
			server = ChatSession::create(TlsChannel::server(TcpConnection::adopt(loop, socket), _serverIdentity), false, 1,
				&serverEvents, options);
			server->start();
		})
	{
		ChatSession::Options options;
		options.localName = "client";
		options.binaryText = clientBinary;
		client = ChatSession::create(TlsChannel::client(TcpConnection::connect(loop, _listener.address()), _clientIdentity,
			_serverIdentity.peerId()), true, 2, &clientEvents, options);
		client->start();
		CPPUNIT_ASSERT(CrossChat::Test::runUntil(loop, [this] {
			return clientEvents.established == 1 && serverEvents.established == 1;
		}));
	}

	~SessionPair()
	{
		if (client) client->detach();
		if (server) server->detach();
	}

	SessionRecorder clientEvents;
	SessionRecorder serverEvents;
	ChatSession::Ptr client;
	ChatSession::Ptr server;

private:
	Identity _serverIdentity;
	Identity _clientIdentity;
	TcpListener _listener;
};


class WirePeer
	/// A hand-written peer: a TLS client that sends bytes as given and records the frames the
	/// ChatSession under test sends back, against one ChatSession server.
{
public:
	WirePeer(EventLoop& loop, bool serverBinary):
		_serverIdentity(Identity::generate()),
		_clientIdentity(Identity::generate()),
		_listener(loop, SocketAddress("127.0.0.1", 0), [this, &loop, serverBinary](const StreamSocket& socket) {
			ChatSession::Options options;
			options.localName = "server";
			options.binaryText = serverBinary;
			server = ChatSession::create(TlsChannel::server(TcpConnection::adopt(loop, socket), _serverIdentity), false, 1,
				&serverEvents, options);
			server->start();
		}),
		_codec(SessionProtocol::MAX_FRAME_SIZE)
	{
		channel = TlsChannel::client(TcpConnection::connect(loop, _listener.address()), _clientIdentity, _serverIdentity.peerId());
		channel->setDataHandler([this](const char* data, std::size_t size) {
			_codec.decode(data, size, [this](const FrameView& f) {
				Frame copy;
				copy.type = f.type;
				copy.body.assign(f.data, f.size);
				frames.push_back(copy);
			});
		});
		CPPUNIT_ASSERT(CrossChat::Test::runUntil(loop, [this] { return !frames.empty(); }));   // the server's hello
	}

	~WirePeer()
	{
		if (server) server->detach();
		channel->abort("test over");
	}

	std::vector<Frame> framesOf(std::uint8_t type) const
	{
		std::vector<Frame> result;
		for (const Frame& f: frames)
			if (f.type == type) result.push_back(f);
		return result;
	}

	SessionRecorder serverEvents;
	ChatSession::Ptr server;
	TlsChannel::Ptr channel;
	std::vector<Frame> frames;

private:
	Identity _serverIdentity;
	Identity _clientIdentity;
	TcpListener _listener;
	FrameCodec _codec;
};


} // namespace


void ChatSessionTest::testCodecRoundTrip()
{
	FrameCodec codec(SessionProtocol::MAX_FRAME_SIZE);
	std::string out;
	SessionProtocol::encodeText(codec, out, ID_A, 1795715534839, "hello bob");
	CPPUNIT_ASSERT_EQUAL(frame(SessionProtocol::TEXT_BIN, textBody(ID_A, 1795715534839, "hello bob")), out);
	std::string_view id, text;
	std::int64_t ts = 0;
	CPPUNIT_ASSERT(SessionProtocol::parseText(std::string_view(out).substr(FrameCodec::HEADER_SIZE), id, ts, text) == nullptr);
	CPPUNIT_ASSERT_EQUAL(ID_A, std::string(id));
	CPPUNIT_ASSERT_EQUAL(std::int64_t(1795715534839), ts);
	CPPUNIT_ASSERT_EQUAL(std::string("hello bob"), std::string(text));

	std::string entries;
	SessionProtocol::appendReceiptId(entries, ID_A);
	SessionProtocol::appendReceiptId(entries, ID_C);
	out.clear();
	SessionProtocol::encodeReceipts(codec, out, 2, entries);
	CPPUNIT_ASSERT_EQUAL(frame(SessionProtocol::RECEIPTS, receiptsBody({ID_A, ID_C})), out);
	std::vector<std::string_view> ids;
	CPPUNIT_ASSERT(SessionProtocol::parseReceipts(std::string_view(out).substr(FrameCodec::HEADER_SIZE), ids) == nullptr);
	CPPUNIT_ASSERT_EQUAL(std::size_t(2), ids.size());
	CPPUNIT_ASSERT_EQUAL(ID_A, std::string(ids[0]));
	CPPUNIT_ASSERT_EQUAL(ID_C, std::string(ids[1]));

	// The examples in PROTOCOL.md, byte for byte.
	out.clear();
	SessionProtocol::encodeText(codec, out, "c1", 1795715534839, "hi");
	CPPUNIT_ASSERT_EQUAL(std::string("\x43\x58\x01\x0a\x00\x00\x00\x0d\x02\x63\x31\x00\x00\x01\xa2\x18\xfc\x8f\xf7\x68\x69", 21), out);
	entries.clear();
	SessionProtocol::appendReceiptId(entries, "c1");
	SessionProtocol::appendReceiptId(entries, "c2");
	out.clear();
	SessionProtocol::encodeReceipts(codec, out, 2, entries);
	CPPUNIT_ASSERT_EQUAL(std::string("\x43\x58\x01\x0b\x00\x00\x00\x08\x00\x02\x02\x63\x31\x02\x63\x32", 16), out);

	// The largest texts and receipt frames stay within the session's frame limit.
	out.clear();
	SessionProtocol::encodeText(codec, out, std::string(SessionProtocol::MAX_MESSAGE_ID_SIZE, 'i'), 0,
		std::string(SessionProtocol::MAX_TEXT_SIZE, 't'));
	entries.clear();
	for (std::size_t i = 0; i < SessionProtocol::MAX_RECEIPTS_PER_FRAME; ++i)
		SessionProtocol::appendReceiptId(entries, std::string(SessionProtocol::MAX_MESSAGE_ID_SIZE, 'i'));
	out.clear();
	SessionProtocol::encodeReceipts(codec, out, SessionProtocol::MAX_RECEIPTS_PER_FRAME, entries);
	CPPUNIT_ASSERT(out.size() - FrameCodec::HEADER_SIZE <= SessionProtocol::MAX_FRAME_SIZE);
}


void ChatSessionTest::testCodecRejects()
{
	FrameCodec codec(SessionProtocol::MAX_FRAME_SIZE);
	std::string out;
	CPPUNIT_ASSERT_THROW(SessionProtocol::encodeText(codec, out, "", 1, "x"), MessageException);
	CPPUNIT_ASSERT_THROW(SessionProtocol::encodeText(codec, out, std::string(65, 'i'), 1, "x"), MessageException);
	CPPUNIT_ASSERT_THROW(SessionProtocol::encodeText(codec, out, ID_A, -1, "x"), MessageException);
	CPPUNIT_ASSERT_THROW(SessionProtocol::encodeText(codec, out, ID_A, 1, std::string(SessionProtocol::MAX_TEXT_SIZE + 1, 't')), MessageException);
	CPPUNIT_ASSERT_THROW(SessionProtocol::encodeText(codec, out, ID_A, 1, "caf\xe9"), MessageException);
	CPPUNIT_ASSERT(out.empty());
	std::string entries;
	CPPUNIT_ASSERT_THROW(SessionProtocol::appendReceiptId(entries, ""), MessageException);
	CPPUNIT_ASSERT_THROW(SessionProtocol::appendReceiptId(entries, "\xff"), MessageException);
	CPPUNIT_ASSERT_THROW(SessionProtocol::encodeReceipts(codec, out, 0, entries), MessageException);
	CPPUNIT_ASSERT_THROW(SessionProtocol::encodeReceipts(codec, out, SessionProtocol::MAX_RECEIPTS_PER_FRAME + 1, entries), MessageException);

	std::string_view id, text;
	std::int64_t ts = 0;
	CPPUNIT_ASSERT(SessionProtocol::parseText("", id, ts, text) != nullptr);
	CPPUNIT_ASSERT(SessionProtocol::parseText(textBody("", 1, "x"), id, ts, text) != nullptr);
	CPPUNIT_ASSERT(SessionProtocol::parseText(textBody(std::string(65, 'i'), 1, "x"), id, ts, text) != nullptr);
	CPPUNIT_ASSERT(SessionProtocol::parseText(textBody(ID_A, 1, "x").substr(0, 1 + ID_A.size() + 7), id, ts, text) != nullptr);
	const std::string badTs = textBody(ID_A, std::uint64_t(1) << 63, "x");
	CPPUNIT_ASSERT(SessionProtocol::parseText(badTs, id, ts, text) != nullptr);
	CPPUNIT_ASSERT_EQUAL(ID_A, std::string(id));   // readable, so the text can be refused by it
	CPPUNIT_ASSERT(SessionProtocol::parseText(textBody(ID_A, 1, std::string(SessionProtocol::MAX_TEXT_SIZE + 1, 't')), id, ts, text) != nullptr);
	CPPUNIT_ASSERT(SessionProtocol::parseText(textBody("\xff", 1, "x"), id, ts, text) != nullptr);
	CPPUNIT_ASSERT(id.empty());

	std::vector<std::string_view> ids;
	CPPUNIT_ASSERT(SessionProtocol::parseReceipts("", ids) != nullptr);
	CPPUNIT_ASSERT(SessionProtocol::parseReceipts(std::string("\x00\x00", 2), ids) != nullptr);
	CPPUNIT_ASSERT(SessionProtocol::parseReceipts(receiptsBody({ID_A}) + "x", ids) != nullptr);
	CPPUNIT_ASSERT(SessionProtocol::parseReceipts(receiptsBody({ID_A}).substr(0, 10), ids) != nullptr);
	CPPUNIT_ASSERT(SessionProtocol::parseReceipts(receiptsBody({ID_A, ""}), ids) != nullptr);
	CPPUNIT_ASSERT(SessionProtocol::parseReceipts(receiptsBody({ID_A, "\xff"}), ids) != nullptr);
	CPPUNIT_ASSERT(ids.empty());   // all or nothing
	std::string tooMany = receiptsBody(std::vector<std::string>(SessionProtocol::MAX_RECEIPTS_PER_FRAME + 1, "i"));
	CPPUNIT_ASSERT(SessionProtocol::parseReceipts(tooMany, ids) != nullptr);
}


void ChatSessionTest::testReaderBinaryFrames()
{
	ReaderRecorder recorder;
	SessionReader reader(recorder);
	const std::string stream = helloFrame(true)
		+ frame(SessionProtocol::TEXT_BIN, textBody(ID_A, 42, "h\xc3\xa9llo"))
		+ frame(SessionProtocol::RECEIPTS, receiptsBody({ID_B, ID_C}))
		+ frame(SessionProtocol::TEXT_BIN, textBody(ID_B, 43, ""));
	// One byte at a time: frames cut anywhere are completed by the next bytes.
	for (char c: stream) reader.feed(&c, 1);
	CPPUNIT_ASSERT_EQUAL(std::size_t(2), recorder.helloCaps.size());
	CPPUNIT_ASSERT_EQUAL(std::string(SessionProtocol::CAP_BINARY_TEXT), recorder.helloCaps[1]);
	CPPUNIT_ASSERT_EQUAL(std::size_t(2), recorder.texts.size());
	CPPUNIT_ASSERT_EQUAL(ID_A, recorder.texts[0].id);
	CPPUNIT_ASSERT_EQUAL(std::int64_t(42), recorder.texts[0].ts);
	CPPUNIT_ASSERT_EQUAL(std::string("h\xc3\xa9llo"), recorder.texts[0].text);
	CPPUNIT_ASSERT_EQUAL(std::string(), recorder.texts[1].text);
	CPPUNIT_ASSERT_EQUAL(std::size_t(2), recorder.receipts.size());
	CPPUNIT_ASSERT_EQUAL(ID_B, recorder.receipts[0]);
	CPPUNIT_ASSERT_EQUAL(ID_C, recorder.receipts[1]);
	CPPUNIT_ASSERT(recorder.messages.empty());
	CPPUNIT_ASSERT_EQUAL(std::uint64_t(0), reader.skipped());

	// Before hello a binary text is a protocol error, like any message.
	ReaderRecorder early;
	SessionReader earlyReader(early);
	const std::string before = frame(SessionProtocol::TEXT_BIN, textBody(ID_A, 1, "x"));
	CPPUNIT_ASSERT_THROW(earlyReader.feed(before.data(), before.size()), MessageException);
	CPPUNIT_ASSERT(early.texts.empty());
}


void ChatSessionTest::testReaderSkipsMalformedBinary()
{
	ReaderRecorder recorder;
	SessionReader reader(recorder);
	const std::string stream = helloFrame(true)
		+ frame(SessionProtocol::TEXT_BIN, textBody(ID_A, 1, "caf\xe9"))                         // not UTF-8: refused by id
		+ frame(SessionProtocol::TEXT_BIN, textBody(ID_B, std::uint64_t(1) << 63, "x"))           // ts out of range: by id
		+ frame(SessionProtocol::TEXT_BIN, std::string("\x41") + ID_A)                            // id length past the end
		+ frame(SessionProtocol::RECEIPTS, receiptsBody({ID_A}) + "x")                            // trailing byte
		+ frame(SessionProtocol::RECEIPTS, std::string("\x00\x00", 2))                            // count 0
		+ frame(SessionProtocol::TEXT_BIN, textBody(ID_C, 7, "fine"));                            // the session goes on
	reader.feed(stream.data(), stream.size());
	CPPUNIT_ASSERT_EQUAL(std::uint64_t(5), reader.skipped());
	CPPUNIT_ASSERT_EQUAL(std::size_t(5), recorder.refusedIds.size());
	CPPUNIT_ASSERT_EQUAL(ID_A, recorder.refusedIds[0]);
	CPPUNIT_ASSERT_EQUAL(std::string(SessionProtocol::REFUSE_INVALID_UTF8), recorder.refusedCodes[0]);
	CPPUNIT_ASSERT_EQUAL(ID_B, recorder.refusedIds[1]);
	CPPUNIT_ASSERT_EQUAL(std::string(SessionProtocol::REFUSE_MALFORMED), recorder.refusedCodes[1]);
	CPPUNIT_ASSERT_EQUAL(std::string(), recorder.refusedIds[2]);
	CPPUNIT_ASSERT_EQUAL(std::string(), recorder.refusedIds[3]);
	CPPUNIT_ASSERT_EQUAL(std::string(), recorder.refusedIds[4]);
	CPPUNIT_ASSERT(recorder.receipts.empty());
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), recorder.texts.size());
	CPPUNIT_ASSERT_EQUAL(ID_C, recorder.texts[0].id);
}


void ChatSessionTest::testBinaryBetweenSessions()
{
	EventLoop loop;
	SessionPair pair(loop, true, true);
	CPPUNIT_ASSERT(pair.client->binaryText());
	CPPUNIT_ASSERT(pair.server->binaryText());
	pair.client->sendText(ID_A, 100, "one");
	pair.client->sendText(ID_B, 101, "two \xe2\x9c\x93");
	pair.server->sendText(ID_C, 102, "three");
	CPPUNIT_ASSERT(CrossChat::Test::runUntil(loop, [&] {
		return pair.clientEvents.binaryReceipts.size() == 2 && pair.serverEvents.binaryReceipts.size() == 1;
	}));
	CPPUNIT_ASSERT_EQUAL(std::size_t(2), pair.serverEvents.binaryTexts.size());
	CPPUNIT_ASSERT_EQUAL(ID_A, pair.serverEvents.binaryTexts[0].id);
	CPPUNIT_ASSERT_EQUAL(std::int64_t(100), pair.serverEvents.binaryTexts[0].ts);
	CPPUNIT_ASSERT_EQUAL(std::string("one"), pair.serverEvents.binaryTexts[0].text);
	CPPUNIT_ASSERT_EQUAL(std::string("two \xe2\x9c\x93"), pair.serverEvents.binaryTexts[1].text);
	CPPUNIT_ASSERT_EQUAL(ID_A, pair.clientEvents.binaryReceipts[0]);
	CPPUNIT_ASSERT_EQUAL(ID_B, pair.clientEvents.binaryReceipts[1]);
	CPPUNIT_ASSERT_EQUAL(std::string("three"), pair.clientEvents.binaryTexts.at(0).text);
	CPPUNIT_ASSERT_EQUAL(ID_C, pair.serverEvents.binaryReceipts[0]);
	CPPUNIT_ASSERT(pair.serverEvents.jsonTexts.empty() && pair.clientEvents.jsonReceipts.empty());
	CPPUNIT_ASSERT_EQUAL(std::uint64_t(0), pair.server->skippedMessages());

	// A text the JSON path would refuse to send is refused here too, before anything leaves.
	CPPUNIT_ASSERT_THROW(pair.client->sendText("", 1, "x"), MessageException);
}


void ChatSessionTest::testJsonWhenEitherLacksCap()
{
	for (const auto& caps: {std::make_pair(true, false), std::make_pair(false, true), std::make_pair(false, false)})
	{
		EventLoop loop;
		SessionPair pair(loop, caps.first, caps.second);
		CPPUNIT_ASSERT(!pair.client->binaryText());
		CPPUNIT_ASSERT(!pair.server->binaryText());
		pair.client->sendText(ID_A, 100, "one");
		pair.server->sendText(ID_B, 200, "two");
		CPPUNIT_ASSERT(CrossChat::Test::runUntil(loop, [&] {
			return pair.clientEvents.jsonReceipts.size() == 1 && pair.serverEvents.jsonReceipts.size() == 1;
		}));
		CPPUNIT_ASSERT_EQUAL(std::size_t(1), pair.serverEvents.jsonTexts.size());
		CPPUNIT_ASSERT_EQUAL(ID_A, pair.serverEvents.jsonTexts[0].id);
		CPPUNIT_ASSERT_EQUAL(std::int64_t(100), pair.serverEvents.jsonTexts[0].ts);
		CPPUNIT_ASSERT_EQUAL(std::string("one"), pair.serverEvents.jsonTexts[0].text);
		CPPUNIT_ASSERT_EQUAL(std::string("two"), pair.clientEvents.jsonTexts.at(0).text);
		CPPUNIT_ASSERT_EQUAL(ID_A, pair.clientEvents.jsonReceipts[0]);
		CPPUNIT_ASSERT_EQUAL(ID_B, pair.serverEvents.jsonReceipts[0]);
		CPPUNIT_ASSERT(pair.serverEvents.binaryTexts.empty() && pair.clientEvents.binaryReceipts.empty());
	}
}


void ChatSessionTest::testReceiptsBatchedOnWire()
{
	EventLoop loop;
	WirePeer peer(loop, true);
	// The server's hello lists the cap.
	const Message hello = SessionProtocol::catalog().decode(peer.frames.at(0));
	const Poco::JSON::Array::Ptr pCaps = hello.body->getArray("caps");
	bool listed = false;
	for (std::size_t i = 0; i < pCaps->size(); ++i) listed = listed || pCaps->getElement<std::string>(static_cast<unsigned>(i)) == SessionProtocol::CAP_BINARY_TEXT;
	CPPUNIT_ASSERT(listed);
	// Three texts in one write arrive in one read: their receipts leave as one frame.
	peer.channel->send(helloFrame(true)
		+ frame(SessionProtocol::TEXT_BIN, textBody(ID_A, 1, "a"))
		+ frame(SessionProtocol::TEXT_BIN, textBody(ID_B, 2, "b"))
		+ frame(SessionProtocol::TEXT_BIN, textBody(ID_C, 3, "c")));
	CPPUNIT_ASSERT(CrossChat::Test::runUntil(loop, [&] { return peer.serverEvents.binaryTexts.size() == 3 && !peer.framesOf(SessionProtocol::RECEIPTS).empty(); }));
	// Let anything else the server might send arrive: a ping from us is answered after them.
	Poco::JSON::Object ping;
	ping.set("n", 7);
	FrameCodec codec(SessionProtocol::MAX_FRAME_SIZE);
	peer.channel->send(SessionProtocol::catalog().encode(codec, "ping", ping));
	CPPUNIT_ASSERT(CrossChat::Test::runUntil(loop, [&] { return !peer.framesOf(5).empty(); }));
	const std::vector<Frame> receipts = peer.framesOf(SessionProtocol::RECEIPTS);
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), receipts.size());
	CPPUNIT_ASSERT_EQUAL(receiptsBody({ID_A, ID_B, ID_C}), receipts[0].body);
	CPPUNIT_ASSERT(peer.framesOf(3).empty());   // no JSON receipts

	// The server's text goes out binary, as PROTOCOL.md lays it out.
	peer.server->sendText(ID_A, 1795715534839, "hi");
	CPPUNIT_ASSERT(CrossChat::Test::runUntil(loop, [&] { return !peer.framesOf(SessionProtocol::TEXT_BIN).empty(); }));
	CPPUNIT_ASSERT_EQUAL(textBody(ID_A, 1795715534839, "hi"), peer.framesOf(SessionProtocol::TEXT_BIN)[0].body);

	// More receipts than one frame holds: split at MAX_RECEIPTS_PER_FRAME.
	std::string many;
	for (std::size_t i = 0; i < SessionProtocol::MAX_RECEIPTS_PER_FRAME + 3; ++i)
		many += frame(SessionProtocol::TEXT_BIN, textBody("m" + std::to_string(i), 1, "x"));
	peer.channel->send(many);
	CPPUNIT_ASSERT(CrossChat::Test::runUntil(loop, [&] { return peer.serverEvents.binaryTexts.size() == SessionProtocol::MAX_RECEIPTS_PER_FRAME + 6; }));
	std::size_t ids = 0;
	CPPUNIT_ASSERT(CrossChat::Test::runUntil(loop, [&] {
		ids = 0;
		for (const Frame& f: peer.framesOf(SessionProtocol::RECEIPTS))
		{
			std::vector<std::string_view> parsed;
			CPPUNIT_ASSERT(SessionProtocol::parseReceipts(f.body, parsed) == nullptr);
			ids += parsed.size();
		}
		return ids == SessionProtocol::MAX_RECEIPTS_PER_FRAME + 6;
	}));
	CPPUNIT_ASSERT(peer.framesOf(SessionProtocol::RECEIPTS).size() >= 3);
}


void ChatSessionTest::testJsonOnWireWithoutCap()
{
	EventLoop loop;
	WirePeer peer(loop, true);
	// An older peer: no cap in its hello, JSON texts.
	FrameCodec codec(SessionProtocol::MAX_FRAME_SIZE);
	Poco::JSON::Object text;
	text.set("id", ID_A);
	text.set("ts", 5);
	text.set("text", std::string("old"));
	std::string bytes = helloFrame(false) + SessionProtocol::catalog().encode(codec, "text", text);
	text.set("id", ID_B);
	bytes += SessionProtocol::catalog().encode(codec, "text", text);
	peer.channel->send(bytes);
	CPPUNIT_ASSERT(CrossChat::Test::runUntil(loop, [&] { return peer.framesOf(3).size() == 2; }));
	CPPUNIT_ASSERT(!peer.server->binaryText());
	CPPUNIT_ASSERT_EQUAL(ID_A, SessionProtocol::catalog().decode(peer.framesOf(3)[0]).body->getValue<std::string>("id"));
	CPPUNIT_ASSERT_EQUAL(ID_B, SessionProtocol::catalog().decode(peer.framesOf(3)[1]).body->getValue<std::string>("id"));
	peer.server->sendText(ID_C, 9, "to an old peer");
	CPPUNIT_ASSERT(CrossChat::Test::runUntil(loop, [&] { return !peer.framesOf(2).empty(); }));
	CPPUNIT_ASSERT_EQUAL(std::string("to an old peer"), SessionProtocol::catalog().decode(peer.framesOf(2)[0]).body->getValue<std::string>("text"));
	CPPUNIT_ASSERT(peer.framesOf(SessionProtocol::RECEIPTS).empty() && peer.framesOf(SessionProtocol::TEXT_BIN).empty());
}


void ChatSessionTest::testMalformedBinaryRefusedOnWire()
{
	EventLoop loop;
	WirePeer peer(loop, true);
	peer.channel->send(helloFrame(true)
		+ frame(SessionProtocol::TEXT_BIN, textBody(ID_A, 1, "caf\xe9"))
		+ frame(SessionProtocol::RECEIPTS, std::string("\x00\x01\x50", 3))
		+ frame(SessionProtocol::TEXT_BIN, textBody(ID_B, 2, "ok")));
	CPPUNIT_ASSERT(CrossChat::Test::runUntil(loop, [&] {
		return peer.serverEvents.binaryTexts.size() == 1 && !peer.framesOf(7).empty() && !peer.framesOf(SessionProtocol::RECEIPTS).empty();
	}));
	CPPUNIT_ASSERT_EQUAL(std::uint64_t(2), peer.server->skippedMessages());
	CPPUNIT_ASSERT_EQUAL(std::size_t(2), peer.serverEvents.refused.size());
	const Message refuse = SessionProtocol::catalog().decode(peer.framesOf(7).at(0));
	CPPUNIT_ASSERT_EQUAL(ID_A, refuse.body->getValue<std::string>("id"));
	CPPUNIT_ASSERT_EQUAL(std::string(SessionProtocol::REFUSE_INVALID_UTF8), refuse.body->getValue<std::string>("code"));
	CPPUNIT_ASSERT_EQUAL(receiptsBody({ID_B}), peer.framesOf(SessionProtocol::RECEIPTS).at(0).body);
	CPPUNIT_ASSERT(!peer.server->closed());
	CPPUNIT_ASSERT_EQUAL(0, peer.serverEvents.closed);
}
