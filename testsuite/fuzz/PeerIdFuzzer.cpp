//
// PeerIdFuzzer.cpp
//
// testsuite: libFuzzer target for PeerId::parse, tryParse, isPrefixOf and fromBytes.
// Invariants: parse() and tryParse() agree; parse() throws nothing but InvalidPeerIdException;
// any accepted text round-trips (parse(id.toString()) == id) and is a prefix of its own ID.
//
// max_len: 256


#include "CrossChat/PeerId.h"
#include "CrossChat/FoundationException.h"
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>


using CrossChat::InvalidPeerIdException;
using CrossChat::PeerId;


namespace {


void check(bool condition, const char* what)
{
	if (!condition)
	{
		std::fprintf(stderr, "PeerIdFuzzer: invariant violated: %s\n", what);
		std::abort();
	}
}


void checkRoundTrip(const PeerId& id)
{
	const std::string text = id.toString();
	check(text.size() == 63, "toString() has 63 characters");
	check(PeerId::parse(text) == id, "parse(id.toString()) == id");
	check(PeerId::fromBytes(id.byteString()) == id, "fromBytes(id.byteString()) == id");
	check(PeerId::isPrefixOf(text, id), "an ID's own text is its prefix");
	check(PeerId::isPrefixOf(id.shortString(), id), "shortString() is a prefix");
}


} // namespace


extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
	const std::string text(reinterpret_cast<const char*>(data), size);

	const std::optional<PeerId> tried = PeerId::tryParse(text);
	std::optional<PeerId> parsed;
	try
	{
		parsed = PeerId::parse(text);
	}
	catch (InvalidPeerIdException& exc)
	{
		check(!exc.message().empty(), "a parse error names the problem");
	}
	check(tried.has_value() == parsed.has_value(), "parse() and tryParse() agree");

	if (parsed)
	{
		check(*tried == *parsed, "parse() and tryParse() give the same ID");
		checkRoundTrip(*parsed);
		check(PeerId::isPrefixOf(text, *parsed), "accepted text is a prefix of its ID");
	}

	// Arbitrary prefixes against a fixed ID and against an ID made from the input's bytes.
	const PeerId fixed = PeerId::fromPublicKeyDer("PeerIdFuzzer");
	const bool prefixOfFixed = PeerId::isPrefixOf(text, fixed);
	if (prefixOfFixed) check(!text.empty(), "the empty prefix matches nothing");

	if (size >= PeerId::SIZE)
	{
		const PeerId fromInput = PeerId::fromBytes(text.substr(0, PeerId::SIZE));
		checkRoundTrip(fromInput);
		PeerId::isPrefixOf(text.substr(PeerId::SIZE), fromInput);
	}

	bool threw = false;
	try
	{
		PeerId::fromBytes(text);
	}
	catch (InvalidPeerIdException&)
	{
		threw = true;
	}
	check(threw == (size != PeerId::SIZE), "fromBytes() throws exactly on a wrong length");
	return 0;
}
