//
// FrameCodecTest.cpp
//
// testsuite: tests for FrameCodec.
//


#include "FrameCodecTest.h"
#include "CrossChat/FrameCodec.h"
#include "CrossChat/FoundationException.h"
#include <algorithm>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>


using CrossChat::Frame;
using CrossChat::FrameCodec;
using CrossChat::FrameView;
using CrossChat::FrameException;
using CrossChat::FrameTooLargeException;


namespace {


void feed(FrameCodec& codec, const std::string& bytes)
{
	codec.feed(bytes.data(), bytes.size());
}


std::vector<Frame> decodeAll(FrameCodec& codec, const char* data, std::size_t size)
	/// decode() of data, with each view copied into a Frame.
{
	std::vector<Frame> frames;
	codec.decode(data, size, [&](const FrameView& view) {
		Frame frame;
		frame.type = view.type;
		frame.body.assign(view.data, view.size);
		frames.push_back(std::move(frame));
	});
	return frames;
}


bool sameFrames(const std::vector<Frame>& a, const std::vector<Frame>& b)
{
	if (a.size() != b.size()) return false;
	for (std::size_t i = 0; i < a.size(); ++i)
		if (a[i].type != b[i].type || a[i].body != b[i].body) return false;
	return true;
}


std::vector<Frame> drain(FrameCodec& codec)
	/// Returns every complete frame the codec holds.
{
	std::vector<Frame> frames;
	while (auto frame = codec.next())
		frames.push_back(std::move(*frame));
	return frames;
}


std::string header(std::uint8_t m0, std::uint8_t m1, std::uint8_t version, std::uint8_t type, std::uint32_t length)
	/// A hand-built header, independent of FrameCodec::encode().
{
	std::string h;
	h += static_cast<char>(m0);
	h += static_cast<char>(m1);
	h += static_cast<char>(version);
	h += static_cast<char>(type);
	h += static_cast<char>((length >> 24) & 0xFF);
	h += static_cast<char>((length >> 16) & 0xFF);
	h += static_cast<char>((length >> 8) & 0xFF);
	h += static_cast<char>(length & 0xFF);
	return h;
}


std::string patterned(std::size_t size)
{
	std::string body(size, '\0');
	for (std::size_t i = 0; i < size; ++i)
		body[i] = static_cast<char>((i*7 + 3) & 0xFF);
	return body;
}


bool messageContains(const std::string& text, const std::string& part)
{
	return text.find(part) != std::string::npos;
}


} // namespace


void FrameCodecTest::testHeaderLayout()
{
	FrameCodec codec;
	const std::string bytes = codec.encode(0x21, std::string(0x010203, 'x'));
	CPPUNIT_ASSERT_EQUAL(std::size_t(8 + 0x010203), bytes.size());
	CPPUNIT_ASSERT(bytes.compare(0, 8, header(0x43, 0x58, 1, 0x21, 0x010203)) == 0);

	std::string appended("prefix");
	codec.encodeTo(appended, 7, "abc");
	CPPUNIT_ASSERT_EQUAL(std::string("prefix") + header(0x43, 0x58, 1, 7, 3) + "abc", appended);
}


void FrameCodecTest::testRoundTrip()
{
	FrameCodec encoder;
	FrameCodec decoder;
	const std::vector<std::pair<std::uint8_t, std::string>> samples = {
		{0, "hello"},
		{1, std::string("nul\0inside", 10)},
		{127, patterned(300)},
		{255, "{\"json\":true}"},
		{42, patterned(70000)},
	};
	for (const auto& sample: samples)
	{
		feed(decoder, encoder.encode(sample.first, sample.second));
		auto frame = decoder.next();
		CPPUNIT_ASSERT(frame.has_value());
		CPPUNIT_ASSERT_EQUAL(static_cast<int>(sample.first), static_cast<int>(frame->type));
		CPPUNIT_ASSERT(sample.second == frame->body);
		CPPUNIT_ASSERT(!decoder.next().has_value());
		CPPUNIT_ASSERT_EQUAL(std::size_t(0), decoder.buffered());
	}
}


void FrameCodecTest::testEmptyAndMaximumBody()
{
	FrameCodec codec(1000);
	CPPUNIT_ASSERT_EQUAL(std::size_t(1000), codec.maxBodySize());

	feed(codec, codec.encode(3, ""));
	auto empty = codec.next();
	CPPUNIT_ASSERT(empty.has_value());
	CPPUNIT_ASSERT_EQUAL(3, static_cast<int>(empty->type));
	CPPUNIT_ASSERT(empty->body.empty());

	const std::string largest = patterned(1000);
	feed(codec, codec.encode(4, largest));
	auto full = codec.next();
	CPPUNIT_ASSERT(full.has_value());
	CPPUNIT_ASSERT(largest == full->body);

	FrameCodec defaults;
	CPPUNIT_ASSERT_EQUAL(FrameCodec::DEFAULT_MAX_BODY_SIZE, defaults.maxBodySize());
	const std::string defaultLargest = patterned(FrameCodec::DEFAULT_MAX_BODY_SIZE);
	feed(defaults, defaults.encode(5, defaultLargest));
	auto defaultFull = defaults.next();
	CPPUNIT_ASSERT(defaultFull.has_value());
	CPPUNIT_ASSERT(defaultLargest == defaultFull->body);
}


void FrameCodecTest::testManyFramesInOneFeed()
{
	FrameCodec codec;
	std::string stream;
	for (int i = 0; i < 100; ++i)
		codec.encodeTo(stream, static_cast<std::uint8_t>(i), patterned(static_cast<std::size_t>(i)) + std::to_string(i));
	feed(codec, stream);

	const std::vector<Frame> frames = drain(codec);
	CPPUNIT_ASSERT_EQUAL(std::size_t(100), frames.size());
	for (int i = 0; i < 100; ++i)
	{
		CPPUNIT_ASSERT_EQUAL(i, static_cast<int>(frames[i].type));
		CPPUNIT_ASSERT(patterned(static_cast<std::size_t>(i)) + std::to_string(i) == frames[i].body);
	}
	CPPUNIT_ASSERT_EQUAL(std::size_t(0), codec.buffered());
}


void FrameCodecTest::testByteByByte()
{
	FrameCodec codec;
	std::string stream = codec.encode(1, "first") + codec.encode(2, "") + codec.encode(3, patterned(40));
	std::vector<Frame> frames;
	for (std::size_t i = 0; i < stream.size(); ++i)
	{
		codec.feed(&stream[i], 1);
		for (Frame& frame: drain(codec))
			frames.push_back(std::move(frame));
		// A frame is returned exactly when its last byte arrives.
		if (i + 1 == 13) CPPUNIT_ASSERT_EQUAL(std::size_t(1), frames.size());
		if (i + 1 == 12) CPPUNIT_ASSERT_EQUAL(std::size_t(0), frames.size());
	}
	CPPUNIT_ASSERT_EQUAL(std::size_t(3), frames.size());
	CPPUNIT_ASSERT_EQUAL(std::string("first"), frames[0].body);
	CPPUNIT_ASSERT_EQUAL(2, static_cast<int>(frames[1].type));
	CPPUNIT_ASSERT(frames[1].body.empty());
	CPPUNIT_ASSERT(patterned(40) == frames[2].body);
}


void FrameCodecTest::testTruncatedHeaderWaits()
{
	FrameCodec codec;
	const std::string frame = codec.encode(9, "payload");
	for (std::size_t cut = 0; cut < FrameCodec::HEADER_SIZE; ++cut)
	{
		codec.reset();
		feed(codec, frame.substr(0, cut));
		CPPUNIT_ASSERT(!codec.next().has_value());
		CPPUNIT_ASSERT(!codec.failed());
		CPPUNIT_ASSERT_EQUAL(cut, codec.buffered());

		feed(codec, frame.substr(cut));
		auto decoded = codec.next();
		CPPUNIT_ASSERT(decoded.has_value());
		CPPUNIT_ASSERT_EQUAL(std::string("payload"), decoded->body);
	}
}


void FrameCodecTest::testTruncatedBodyWaits()
{
	FrameCodec codec;
	const std::string frame = codec.encode(9, "0123456789");
	feed(codec, frame.substr(0, frame.size() - 1));
	CPPUNIT_ASSERT(!codec.next().has_value());
	CPPUNIT_ASSERT(!codec.next().has_value());
	CPPUNIT_ASSERT(!codec.failed());
	CPPUNIT_ASSERT_EQUAL(frame.size() - 1, codec.buffered());

	feed(codec, frame.substr(frame.size() - 1));
	auto decoded = codec.next();
	CPPUNIT_ASSERT(decoded.has_value());
	CPPUNIT_ASSERT_EQUAL(std::string("0123456789"), decoded->body);
}


void FrameCodecTest::testOversizedLengthRejectedFromHeader()
{
	// Only the header is fed: the length must be rejected before any body byte arrives.
	FrameCodec codec(1024);
	feed(codec, header(0x43, 0x58, 1, 1, 1025));
	try
	{
		codec.next();
		CPPUNIT_FAIL("oversized length accepted");
	}
	catch (FrameTooLargeException& exc)
	{
		CPPUNIT_ASSERT(messageContains(exc.message(), "frame body of 1025 bytes exceeds the maximum of 1024"));
	}
	CPPUNIT_ASSERT(codec.failed());
	CPPUNIT_ASSERT_EQUAL(std::size_t(0), codec.buffered());

	FrameCodec defaults;
	feed(defaults, header(0x43, 0x58, 1, 1, 0xFFFFFFFF));
	CPPUNIT_ASSERT_THROW(defaults.next(), FrameTooLargeException);

	FrameCodec exact(1024);
	feed(exact, header(0x43, 0x58, 1, 1, 1024));
	CPPUNIT_ASSERT(!exact.next().has_value());
	CPPUNIT_ASSERT(!exact.failed());
}


void FrameCodecTest::testEncodeOversizedBodyThrows()
{
	FrameCodec codec(16);
	CPPUNIT_ASSERT_THROW(codec.encode(1, std::string(17, 'x')), FrameTooLargeException);

	std::string out("keep");
	CPPUNIT_ASSERT_THROW(codec.encodeTo(out, 1, std::string(100, 'x')), FrameTooLargeException);
	CPPUNIT_ASSERT_EQUAL(std::string("keep"), out);

	CPPUNIT_ASSERT_EQUAL(std::size_t(24), codec.encode(1, std::string(16, 'x')).size());

	FrameCodec defaults;
	try
	{
		defaults.encode(1, std::string(300000, 'x'));
		CPPUNIT_FAIL("oversized body encoded");
	}
	catch (FrameTooLargeException& exc)
	{
		CPPUNIT_ASSERT(messageContains(exc.message(), "frame body of 300000 bytes exceeds the maximum of 262144"));
	}
}


void FrameCodecTest::testBadMagic()
{
	FrameCodec codec;
	feed(codec, header('A', 'B', 1, 1, 0));
	try
	{
		codec.next();
		CPPUNIT_FAIL("bad magic accepted");
	}
	catch (FrameTooLargeException&)
	{
		CPPUNIT_FAIL("bad magic reported as a length error");
	}
	catch (FrameException& exc)
	{
		CPPUNIT_ASSERT(messageContains(exc.message(), "bad magic 0x4142"));
	}
	CPPUNIT_ASSERT(codec.failed());

	// The second magic byte alone is wrong.
	FrameCodec second;
	feed(second, header(0x43, 0x59, 1, 1, 0));
	CPPUNIT_ASSERT_THROW(second.next(), FrameException);
}


void FrameCodecTest::testBadVersion()
{
	FrameCodec codec;
	feed(codec, header(0x43, 0x58, 7, 1, 0));
	try
	{
		codec.next();
		CPPUNIT_FAIL("bad version accepted");
	}
	catch (FrameException& exc)
	{
		CPPUNIT_ASSERT(messageContains(exc.message(), "unsupported version 7"));
	}
	CPPUNIT_ASSERT(codec.failed());

	FrameCodec zero;
	feed(zero, header(0x43, 0x58, 0, 1, 0));
	CPPUNIT_ASSERT_THROW(zero.next(), FrameException);
}


void FrameCodecTest::testFailedStateSticks()
{
	FrameCodec codec;
	// A good frame, then a bad one, then another good one in the same feed.
	feed(codec, codec.encode(1, "good") + header('X', 'X', 1, 1, 0) + codec.encode(2, "later"));
	auto first = codec.next();
	CPPUNIT_ASSERT(first.has_value());
	CPPUNIT_ASSERT_EQUAL(std::string("good"), first->body);
	CPPUNIT_ASSERT(!codec.failed());

	CPPUNIT_ASSERT_THROW(codec.next(), FrameException);
	CPPUNIT_ASSERT(codec.failed());
	for (int i = 0; i < 3; ++i)
		CPPUNIT_ASSERT_THROW(codec.next(), FrameException);

	// Valid bytes fed afterwards are rejected too, and not buffered.
	feed(codec, codec.encode(3, "valid"));
	CPPUNIT_ASSERT_EQUAL(std::size_t(0), codec.buffered());
	CPPUNIT_ASSERT_THROW(codec.next(), FrameException);
	CPPUNIT_ASSERT(codec.failed());
}


void FrameCodecTest::testReset()
{
	FrameCodec codec;
	feed(codec, header(0x43, 0x58, 9, 1, 0));
	CPPUNIT_ASSERT_THROW(codec.next(), FrameException);
	CPPUNIT_ASSERT(codec.failed());

	codec.reset();
	CPPUNIT_ASSERT(!codec.failed());
	CPPUNIT_ASSERT_EQUAL(std::size_t(0), codec.buffered());
	feed(codec, codec.encode(5, "again"));
	auto frame = codec.next();
	CPPUNIT_ASSERT(frame.has_value());
	CPPUNIT_ASSERT_EQUAL(std::string("again"), frame->body);

	// reset() also drops a partial frame.
	feed(codec, codec.encode(6, "partial").substr(0, 10));
	CPPUNIT_ASSERT_EQUAL(std::size_t(10), codec.buffered());
	codec.reset();
	CPPUNIT_ASSERT_EQUAL(std::size_t(0), codec.buffered());
	feed(codec, codec.encode(7, "fresh"));
	frame = codec.next();
	CPPUNIT_ASSERT(frame.has_value());
	CPPUNIT_ASSERT_EQUAL(7, static_cast<int>(frame->type));
}


void FrameCodecTest::testBufferedAccounting()
{
	FrameCodec codec;
	const std::string a = codec.encode(1, "aaaa");     // 12 bytes
	const std::string b = codec.encode(2, "bbbbbb");   // 14 bytes
	CPPUNIT_ASSERT_EQUAL(std::size_t(0), codec.buffered());

	feed(codec, a + b.substr(0, 5));
	CPPUNIT_ASSERT_EQUAL(std::size_t(17), codec.buffered());
	CPPUNIT_ASSERT(codec.next().has_value());
	CPPUNIT_ASSERT_EQUAL(std::size_t(5), codec.buffered());
	CPPUNIT_ASSERT(!codec.next().has_value());
	CPPUNIT_ASSERT_EQUAL(std::size_t(5), codec.buffered());

	feed(codec, b.substr(5) + a);
	CPPUNIT_ASSERT_EQUAL(std::size_t(26), codec.buffered());
	CPPUNIT_ASSERT_EQUAL(std::string("bbbbbb"), codec.next()->body);
	CPPUNIT_ASSERT_EQUAL(std::size_t(12), codec.buffered());
	CPPUNIT_ASSERT_EQUAL(std::string("aaaa"), codec.next()->body);
	CPPUNIT_ASSERT_EQUAL(std::size_t(0), codec.buffered());

	codec.feed(nullptr, 0);
	CPPUNIT_ASSERT_EQUAL(std::size_t(0), codec.buffered());
}


void FrameCodecTest::testBufferStaysBounded()
{
	// A long stream fed in uneven chunks, drained after every feed as documented: the
	// decoder never holds more than one frame plus one feed, and every frame arrives intact.
	const std::size_t maxBody = 512;
	FrameCodec codec(maxBody);
	std::string stream;
	for (int i = 0; i < 2000; ++i)
		codec.encodeTo(stream, static_cast<std::uint8_t>(i), patterned(static_cast<std::size_t>(i*37) % (maxBody + 1)));

	std::mt19937 random(1234);
	std::size_t pos = 0;
	int count = 0;
	while (pos < stream.size())
	{
		const std::size_t chunk = std::min<std::size_t>(1 + random() % 700, stream.size() - pos);
		codec.feed(stream.data() + pos, chunk);
		pos += chunk;
		for (const Frame& frame: drain(codec))
		{
			CPPUNIT_ASSERT_EQUAL(count & 0xFF, static_cast<int>(frame.type));
			CPPUNIT_ASSERT(patterned(static_cast<std::size_t>(count*37) % (maxBody + 1)) == frame.body);
			++count;
		}
		CPPUNIT_ASSERT(codec.buffered() < FrameCodec::HEADER_SIZE + maxBody);
	}
	CPPUNIT_ASSERT_EQUAL(2000, count);
	CPPUNIT_ASSERT_EQUAL(std::size_t(0), codec.buffered());
}


void FrameCodecTest::testGarbage()
{
	std::mt19937 random(42);
	int threw = 0;
	int decoded = 0;
	for (int round = 0; round < 2000; ++round)
	{
		FrameCodec codec(256);
		std::string bytes(random() % 64, '\0');
		for (char& c: bytes) c = static_cast<char>(random() & 0xFF);
		// Make valid-looking headers common, so that the length and body paths are reached.
		if (round % 2 == 0 && bytes.size() >= 8)
		{
			bytes[0] = 0x43;
			bytes[1] = 0x58;
			bytes[2] = 0x01;
			if (round % 4 == 0)
			{
				bytes[4] = bytes[5] = bytes[6] = 0;
				bytes[7] = static_cast<char>(random() % 48);
			}
		}
		feed(codec, bytes);
		try
		{
			for (const Frame& frame: drain(codec))
			{
				CPPUNIT_ASSERT(frame.body.size() <= codec.maxBodySize());
				++decoded;
			}
			CPPUNIT_ASSERT(!codec.failed());
			CPPUNIT_ASSERT(codec.buffered() <= bytes.size());
		}
		catch (FrameException&)
		{
			CPPUNIT_ASSERT(codec.failed());
			++threw;
		}
	}
	// Both outcomes are reached, so the loop really exercised the decoder.
	CPPUNIT_ASSERT(threw > 0);
	CPPUNIT_ASSERT(decoded > 0);
}


void FrameCodecTest::testDecodeEverySplit()
{
	// A stream of frames of different sizes, cut into two pieces at every offset and into
	// single bytes: decode() must return the same frames in the same order each time.
	FrameCodec encoder;
	std::string stream;
	std::vector<Frame> expected;
	const std::size_t sizes[] = {0, 1, 7, 8, 9, 100, 300, 0, 2};
	std::uint8_t type = 1;
	for (std::size_t size: sizes)
	{
		Frame frame;
		frame.type = type++;
		frame.body = patterned(size);
		encoder.encodeTo(stream, frame.type, frame.body);
		expected.push_back(frame);
	}
	for (std::size_t cut = 0; cut <= stream.size(); ++cut)
	{
		FrameCodec codec;
		std::vector<Frame> frames = decodeAll(codec, stream.data(), cut);
		const std::vector<Frame> rest = decodeAll(codec, stream.data() + cut, stream.size() - cut);
		frames.insert(frames.end(), rest.begin(), rest.end());
		CPPUNIT_ASSERT(sameFrames(expected, frames));
		CPPUNIT_ASSERT_EQUAL(std::size_t(0), codec.buffered());
	}
	FrameCodec codec;
	std::vector<Frame> frames;
	for (char c: stream)
	{
		const std::vector<Frame> got = decodeAll(codec, &c, 1);
		frames.insert(frames.end(), got.begin(), got.end());
	}
	CPPUNIT_ASSERT(sameFrames(expected, frames));
}


void FrameCodecTest::testDecodeWithoutCopy()
{
	// Whole frames are handed out as views into the caller's bytes; only a cut frame is kept.
	FrameCodec codec;
	std::string stream = codec.encode(1, "first") + codec.encode(2, "second") + codec.encode(3, "third");
	const std::string cutFrame = codec.encode(4, "cut in two");
	stream += cutFrame.substr(0, 11);
	std::vector<const char*> where;
	std::vector<std::string> bodies;
	codec.decode(stream.data(), stream.size(), [&](const FrameView& view) {
		where.push_back(view.data);
		bodies.push_back(std::string(view.body()));
	});
	CPPUNIT_ASSERT_EQUAL(std::size_t(3), bodies.size());
	CPPUNIT_ASSERT(where[0] == stream.data() + FrameCodec::HEADER_SIZE);
	CPPUNIT_ASSERT(where[1] == stream.data() + 2 * FrameCodec::HEADER_SIZE + 5);
	CPPUNIT_ASSERT_EQUAL(std::string("second"), bodies[1]);
	CPPUNIT_ASSERT_EQUAL(std::size_t(11), codec.buffered());
	const std::string rest = cutFrame.substr(11);
	std::vector<Frame> frames = decodeAll(codec, rest.data(), rest.size());
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), frames.size());
	CPPUNIT_ASSERT_EQUAL(std::string("cut in two"), frames[0].body);
	CPPUNIT_ASSERT_EQUAL(std::uint8_t(4), frames[0].type);
	CPPUNIT_ASSERT_EQUAL(std::size_t(0), codec.buffered());
}


void FrameCodecTest::testDecodeHandlerThrows()
{
	// A handler that throws stops decoding there; the frames after it are kept, not lost.
	FrameCodec codec;
	const std::string partial = codec.encode(5, "five");
	const std::string stream = codec.encode(1, "one") + codec.encode(2, "two") + codec.encode(3, "three")
		+ partial.substr(0, 6);
	std::vector<std::string> seen;
	CPPUNIT_ASSERT_THROW(codec.decode(stream.data(), stream.size(), [&](const FrameView& view) {
		seen.push_back(std::string(view.body()));
		if (view.type == 2) throw std::runtime_error("handler failed");
	}), std::runtime_error);
	CPPUNIT_ASSERT(seen == std::vector<std::string>({"one", "two"}));
	CPPUNIT_ASSERT(!codec.failed());
	const std::string rest = partial.substr(6);
	const std::vector<Frame> frames = decodeAll(codec, rest.data(), rest.size());
	CPPUNIT_ASSERT_EQUAL(std::size_t(2), frames.size());
	CPPUNIT_ASSERT_EQUAL(std::string("three"), frames[0].body);
	CPPUNIT_ASSERT_EQUAL(std::string("five"), frames[1].body);
	// The same when the throwing frame was completed from bytes kept by an earlier call.
	FrameCodec codec2;
	const std::string two = codec2.encode(2, "two") + codec2.encode(3, "three");
	decodeAll(codec2, two.data(), 4);
	CPPUNIT_ASSERT_THROW(codec2.decode(two.data() + 4, two.size() - 4, [](const FrameView& view) {
		if (view.type == 2) throw std::runtime_error("handler failed");
	}), std::runtime_error);
	const std::vector<Frame> after = decodeAll(codec2, nullptr, 0);
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), after.size());
	CPPUNIT_ASSERT_EQUAL(std::string("three"), after[0].body);
}


void FrameCodecTest::testDecodeMalformedAfterGoodFrames()
{
	FrameCodec codec;
	const std::string stream = codec.encode(1, "good") + header(0x43, 0x59, 1, 1, 0) + codec.encode(2, "never");
	std::vector<std::string> seen;
	CPPUNIT_ASSERT_THROW(codec.decode(stream.data(), stream.size(), [&](const FrameView& view) {
		seen.push_back(std::string(view.body()));
	}), FrameException);
	CPPUNIT_ASSERT(seen == std::vector<std::string>({"good"}));
	CPPUNIT_ASSERT(codec.failed());
	CPPUNIT_ASSERT_EQUAL(std::size_t(0), codec.buffered());
	const std::string more = codec.encode(3, "after");
	CPPUNIT_ASSERT_THROW(decodeAll(codec, more.data(), more.size()), FrameException);
	codec.reset();
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), decodeAll(codec, more.data(), more.size()).size());
}


void FrameCodecTest::testDecodeAfterFeed()
{
	// feed() and decode() share the buffer: frames come out in stream order.
	FrameCodec codec;
	const std::string stream = codec.encode(1, "a") + codec.encode(2, "b") + codec.encode(3, "c");
	feed(codec, stream.substr(0, 14));   // "a" whole, "b" cut
	const std::string rest = stream.substr(14);
	const std::vector<Frame> frames = decodeAll(codec, rest.data(), rest.size());
	CPPUNIT_ASSERT_EQUAL(std::size_t(3), frames.size());
	CPPUNIT_ASSERT_EQUAL(std::string("a"), frames[0].body);
	CPPUNIT_ASSERT_EQUAL(std::string("b"), frames[1].body);
	CPPUNIT_ASSERT_EQUAL(std::string("c"), frames[2].body);
	CPPUNIT_ASSERT_EQUAL(std::size_t(0), codec.buffered());
}


void FrameCodecTest::testDecodeOversizedRejectedFromHeader()
{
	// The length is checked as soon as the header is complete, before any body is buffered.
	FrameCodec codec(1000);
	const std::string h = header(0x43, 0x58, 1, 1, 1001);
	decodeAll(codec, h.data(), 5);
	CPPUNIT_ASSERT_EQUAL(std::size_t(5), codec.buffered());
	CPPUNIT_ASSERT_THROW(decodeAll(codec, h.data() + 5, 3), FrameTooLargeException);
	CPPUNIT_ASSERT(codec.failed());
	CPPUNIT_ASSERT_EQUAL(std::size_t(0), codec.buffered());
	FrameCodec direct(1000);
	const std::string whole = h + std::string(1001, 'x');
	CPPUNIT_ASSERT_THROW(decodeAll(direct, whole.data(), whole.size()), FrameTooLargeException);
	CPPUNIT_ASSERT_EQUAL(std::size_t(0), direct.buffered());
	// A frame of exactly the maximum, cut, is buffered and completed.
	FrameCodec maximum(1000);
	const std::string full = maximum.encode(9, std::string(1000, 'm'));
	CPPUNIT_ASSERT(decodeAll(maximum, full.data(), 500).empty());
	const std::vector<Frame> frames = decodeAll(maximum, full.data() + 500, full.size() - 500);
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), frames.size());
	CPPUNIT_ASSERT_EQUAL(std::size_t(1000), frames[0].body.size());
}


void FrameCodecTest::testEncodeHeader()
{
	FrameCodec codec(100);
	char h[FrameCodec::HEADER_SIZE];
	codec.encodeHeader(h, 7, 42);
	CPPUNIT_ASSERT_EQUAL(header(0x43, 0x58, 1, 7, 42), std::string(h, sizeof(h)));
	std::string out = "prefix";
	codec.encodeTo(out, 7, "body bytes", 4);
	CPPUNIT_ASSERT_EQUAL("prefix" + header(0x43, 0x58, 1, 7, 4) + "body", out);
	CPPUNIT_ASSERT_THROW(codec.encodeHeader(h, 7, 101), FrameTooLargeException);
}
