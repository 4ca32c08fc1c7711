//
// FrameDecoderFuzzer.cpp
//
// testsuite: libFuzzer target for FrameCodec's incremental decoder.
//
// Input layout: byte 0 picks the maximum body size (1 .. 1021), byte 1 seeds the sizes of
// the chunks the rest of the input is fed in; the rest is the byte stream.
//
// Checked for every input:
//   - next() only ever throws FrameException, after which failed() is true, next() keeps
//     throwing and buffered() is 0;
//   - every frame's body is at most the maximum, and re-encoding it gives back exactly the
//     bytes it was decoded from;
//   - after each feed() is drained, less than one header plus one maximum body is buffered;
//   - feeding the stream in chunks gives the same frames and the same outcome as feeding it
//     at once;
//   - decode() (views, no copy) in the same chunks gives the same frames and outcome, keeps
//     less than one partial frame, and stays failed after a FrameException.
//


#include "CrossChat/FoundationException.h"
#include "CrossChat/FrameCodec.h"
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>


namespace {


using CrossChat::Frame;
using CrossChat::FrameCodec;
using CrossChat::FrameException;
using CrossChat::FrameView;


void check(bool condition, const char* what)
{
	if (!condition)
	{
		std::fprintf(stderr, "FrameDecoderFuzzer: invariant violated: %s\n", what);
		std::abort();
	}
}


struct Outcome
{
	std::vector<Frame> frames;
	bool failed = false;
};


void drain(FrameCodec& codec, Outcome& outcome)
	/// Takes every complete frame; records a failure and checks the failed state after it.
{
	try
	{
		while (auto frame = codec.next())
		{
			check(frame->body.size() <= codec.maxBodySize(), "body larger than the maximum");
			outcome.frames.push_back(std::move(*frame));
		}
		check(!codec.failed(), "failed() without a throw");
	}
	catch (FrameException&)
	{
		outcome.failed = true;
		check(codec.failed(), "threw but failed() is false");
		check(codec.buffered() == 0, "failed decoder still buffers bytes");
		bool threwAgain = false;
		try
		{
			codec.next();
		}
		catch (FrameException&)
		{
			threwAgain = true;
		}
		check(threwAgain, "failed decoder did not throw again");
	}
}


} // namespace


extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
	if (size < 2) return 0;
	const std::size_t maxBody = 1 + std::size_t(data[0])*4;
	std::uint32_t state = 0x9E3779B9u ^ data[1];
	const auto* stream = reinterpret_cast<const char*>(data + 2);
	const std::size_t length = size - 2;

	// Chunked: uneven feeds (1 .. 2*maxBody + 16 bytes), drained after each as documented.
	FrameCodec chunked(maxBody);
	Outcome chunkedOutcome;
	std::size_t pos = 0;
	while (pos < length && !chunkedOutcome.failed)
	{
		state ^= state << 13;
		state ^= state >> 17;
		state ^= state << 5;
		std::size_t chunk = 1 + state % (2*maxBody + 16);
		if (chunk > length - pos) chunk = length - pos;
		chunked.feed(stream + pos, chunk);
		pos += chunk;
		drain(chunked, chunkedOutcome);
		check(chunked.buffered() < FrameCodec::HEADER_SIZE + maxBody, "buffer exceeds one partial frame");
	}
	if (chunkedOutcome.failed)
	{
		// A failed decoder drops whatever else arrives.
		chunked.feed(stream, length);
		check(chunked.buffered() == 0, "failed decoder buffered new bytes");
	}

	// decode() in chunks of the same sizes.
	FrameCodec viewing(maxBody);
	Outcome viewOutcome;
	state = 0x9E3779B9u ^ data[1];
	pos = 0;
	while (pos < length && !viewOutcome.failed)
	{
		state ^= state << 13;
		state ^= state >> 17;
		state ^= state << 5;
		std::size_t chunk = 1 + state % (2*maxBody + 16);
		if (chunk > length - pos) chunk = length - pos;
		try
		{
			viewing.decode(stream + pos, chunk, [&](const FrameView& view) {
				check(view.size <= viewing.maxBodySize(), "view larger than the maximum");
				Frame frame;
				frame.type = view.type;
				frame.body.assign(view.data, view.size);
				viewOutcome.frames.push_back(std::move(frame));
			});
			check(!viewing.failed(), "decode: failed() without a throw");
			check(viewing.buffered() < FrameCodec::HEADER_SIZE + maxBody, "decode: buffer exceeds one partial frame");
		}
		catch (FrameException&)
		{
			viewOutcome.failed = true;
			check(viewing.failed() && viewing.buffered() == 0, "decode: threw but not failed and empty");
			bool threwAgain = false;
			try
			{
				viewing.decode(stream, length, [](const FrameView&) {});
			}
			catch (FrameException&)
			{
				threwAgain = true;
			}
			check(threwAgain, "decode: failed decoder did not throw again");
		}
		pos += chunk;
	}

	// At once.
	FrameCodec whole(maxBody);
	Outcome wholeOutcome;
	whole.feed(stream, length);
	drain(whole, wholeOutcome);

	check(chunkedOutcome.failed == wholeOutcome.failed, "chunking changed the outcome");
	check(chunkedOutcome.frames.size() == wholeOutcome.frames.size(), "chunking changed the frame count");
	check(viewOutcome.failed == wholeOutcome.failed, "decode() changed the outcome");
	check(viewOutcome.frames.size() == wholeOutcome.frames.size(), "decode() changed the frame count");

	std::string reencoded;
	for (std::size_t i = 0; i < wholeOutcome.frames.size(); ++i)
	{
		const Frame& a = chunkedOutcome.frames[i];
		const Frame& b = wholeOutcome.frames[i];
		check(a.type == b.type && a.body == b.body, "chunking changed a frame");
		const Frame& c = viewOutcome.frames[i];
		check(c.type == b.type && c.body == b.body, "decode() changed a frame");
		whole.encodeTo(reencoded, b.type, b.body);
	}
	check(reencoded.compare(0, std::string::npos, stream, reencoded.size()) == 0, "re-encoding differs from the input");
	if (!wholeOutcome.failed)
		check(reencoded.size() + whole.buffered() == length, "bytes lost or invented");
	return 0;
}
