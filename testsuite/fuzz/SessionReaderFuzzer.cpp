//
// SessionReaderFuzzer.cpp
//
// testsuite: libFuzzer target for the receiving half of a chat session (Chat/src/
// SessionReader): the byte stream a peer sends inside TLS — frames, hello first, then any
// message — fed in chunks whose sizes come from the input. A stream may be refused only with
// FrameException or MessageException (the session ends); any other exception escapes and
// crashes the fuzzer, as does a memory error or a broken rule: nothing but hello before
// hello, one hello, schema-valid messages with UTF-8 texts, binary texts and receipts
// (text-bin, receipts) with ids and texts within their bounds and UTF-8, refused ids that are
// UTF-8 and within the ID size, binary frames (file data) only after hello and within the frame
// limit.
//
// max_len: 200000


#include "SessionReader.h"
#include "CrossChat/Chat/SessionProtocol.h"
#include "CrossChat/FoundationException.h"
#include "CrossChat/Text.h"
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>


using namespace CrossChat;
using namespace CrossChat::Chat;


namespace {


void check(bool condition, const char* what)
{
	if (!condition)
	{
		std::fprintf(stderr, "SessionReaderFuzzer: rule broken: %s\n", what);
		std::abort();
	}
}


class Recorder: public SessionReader::Handler
{
public:
	void onHello(const std::string& name, const std::vector<std::string>& caps) override
	{
		check(caps.size() <= 32, "at most 32 caps");
		check(hellos == 0, "one hello");
		check(Text::isValidUtf8(name) && name.size() <= SessionProtocol::MAX_NAME_SIZE, "hello name");
		++hellos;
	}

	void onMessage(const Message& message) override
	{
		check(hellos == 1, "messages only after hello");
		check(message.name != "hello", "hello is not a message");
		check(SessionProtocol::catalog().has(SessionProtocol::catalog().typeOf(message.name)), "a declared message");
		if (message.name == "text")
		{
			check(Text::isValidUtf8(message.body->getValue<std::string>("text")), "texts are UTF-8");
			check(message.body->getValue<std::string>("text").size() <= SessionProtocol::MAX_TEXT_SIZE, "text size");
		}
		++messages;
	}

	void onText(std::string_view id, std::int64_t timestampMs, std::string_view text) override
	{
		check(hellos == 1, "texts only after hello");
		check(!id.empty() && id.size() <= SessionProtocol::MAX_MESSAGE_ID_SIZE && Text::isValidUtf8(id.data(), id.size()), "text id");
		check(timestampMs >= 0, "text timestamp");
		check(text.size() <= SessionProtocol::MAX_TEXT_SIZE && Text::isValidUtf8(text.data(), text.size()), "binary texts are UTF-8 within the size");
		++messages;
	}

	void onReceipt(std::string_view id) override
	{
		check(hellos == 1, "receipts only after hello");
		check(!id.empty() && id.size() <= SessionProtocol::MAX_MESSAGE_ID_SIZE && Text::isValidUtf8(id.data(), id.size()), "receipt id");
		++messages;
	}

	void onRefused(const std::string& messageId, const char* code, const std::string& problem) override
	{
		check(hellos == 1, "refusals only after hello");
		check(messageId.size() <= SessionProtocol::MAX_MESSAGE_ID_SIZE && Text::isValidUtf8(messageId), "refused id");
		check(code != nullptr && !problem.empty(), "refusal reason");
		++refusals;
	}

	void onBinary(const Frame& frame) override
	{
		check(hellos == 1, "binary frames only after hello");
		check(SessionProtocol::isBinary(frame.type), "a binary type");
		check(frame.body.size() <= SessionProtocol::MAX_FRAME_SIZE, "binary frame size");
		++binaries;
	}

	bool stopped() const override
	{
		return false;
	}

	int hellos = 0;
	std::uint64_t binaries = 0;
	std::uint64_t messages = 0;
	std::uint64_t refusals = 0;
};


} // namespace


extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
	if (size == 0) return 0;
	// The first byte sets the chunk size (1..256 bytes per read), as TCP may split anything.
	const std::size_t chunk = static_cast<std::size_t>(data[0]) + 1;
	Recorder recorder;
	SessionReader reader(recorder);
	try
	{
		for (std::size_t offset = 1; offset < size; offset += chunk)
			reader.feed(reinterpret_cast<const char*>(data) + offset, std::min(chunk, size - offset));
	}
	catch (const FrameException&)
	{
		// the stream is broken: the session ends
	}
	catch (const MessageException&)
	{
		// the handshake is broken: the session ends
	}
	check(reader.skipped() == recorder.refusals, "every skipped message reported once");
	return 0;
}
