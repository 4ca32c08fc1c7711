//
// ControlMessageFuzzer.cpp
//
// testsuite: libFuzzer target for the relay control channel's messages (ControlMessages.h),
// the one parser both the relay server and RelayClient use. The first input byte picks the
// message and, for punch, the direction; the rest is the frame body. A parser may reject its
// input only with MessageException (schema and semantic errors); any other exception escapes
// and crashes the fuzzer, as does a memory error. First bytes from 0xF0 on pick the mailbox
// messages (mail_fetch, mail, mail_ack by the byte modulo 3). An accepted message must re-encode (the
// catalog validates it) and parse back to the same value.
//
// max_len: 8192


#include "CrossChat/Relay/ControlMessages.h"
#include "CrossChat/FoundationException.h"
#include "CrossChat/FrameCodec.h"
#include "CrossChat/Relay/RelayProtocol.h"
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>


using namespace CrossChat;
using namespace CrossChat::Relay;


namespace {


void check(bool condition, const char* what)
{
	if (!condition)
	{
		std::fprintf(stderr, "ControlMessageFuzzer: invariant violated: %s\n", what);
		std::abort();
	}
}


std::string bodyOf(const std::string& frame)
{
	return frame.substr(FrameCodec::HEADER_SIZE);
}


template <class M>
void roundTrip(const std::string& input)
{
	const M message = M::parse(input);
	FrameCodec codec(64 * 1024);
	const M again = M::parse(bodyOf(encodeControl(codec, message)));
	check(again.toBody().size() == message.toBody().size(), "round trip keeps the fields");
}


void punch(const std::string& input, PunchMessage::Direction direction)
{
	const PunchMessage message = PunchMessage::parse(input, direction);
	check(!message.peer.isNull(), "punch names a real peer");
	check(message.addresses.size() <= RelayProtocol::PUNCH_MAX_ADDRESSES, "address count within limit");
	for (const auto& address: message.addresses) check(address.port() != 0, "punch addresses have a port");
	check(message.attempt >= 1 && message.attempt <= RelayProtocol::PUNCH_MAX_ATTEMPT, "attempt within bounds");
	// What the relay forwards must pass the catalog again, in the other direction.
	FrameCodec codec(64 * 1024);
	const auto other = direction == PunchMessage::Direction::TO_RELAY
		? PunchMessage::Direction::FROM_RELAY : PunchMessage::Direction::TO_RELAY;
	const PunchMessage forwarded = PunchMessage::parse(bodyOf(encodeControl(codec, message, other)), other);
	check(forwarded.peer == message.peer && forwarded.addresses == message.addresses && forwarded.nat == message.nat
		&& forwarded.phase == message.phase && forwarded.attempt == message.attempt && forwarded.reply == message.reply,
		"forwarded punch keeps every field");
}


} // namespace


extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
	if (size == 0) return 0;
	const std::string input(reinterpret_cast<const char*>(data) + 1, size - 1);
	try
	{
		if (data[0] >= 0xF0)   // the mailbox messages (issue 10); below 0xF0 the original mapping stays
		{
			switch (data[0] % 3)
			{
			case 0: roundTrip<ControlMailFetch>(input); break;
			case 1: roundTrip<ControlMail>(input); break;
			default: roundTrip<ControlMailAck>(input); break;
			}
			return 0;
		}
		switch (data[0] % 10)
		{
		case 0: roundTrip<ControlHello>(input); break;
		case 1: roundTrip<ControlChallenge>(input); break;
		case 2: roundTrip<ControlAuth>(input); break;
		case 3: roundTrip<ControlWelcome>(input); break;
		case 4: roundTrip<ControlInvite>(input); break;
		case 5: roundTrip<ControlPing>(input); break;
		case 6: roundTrip<ControlPong>(input); break;
		case 7: roundTrip<ControlError>(input); break;
		case 8: punch(input, PunchMessage::Direction::TO_RELAY); break;
		default: punch(input, PunchMessage::Direction::FROM_RELAY); break;
		}
	}
	catch (const MessageException&)
	{
		// Rejected input: the expected outcome for most of it.
	}
	return 0;
}
