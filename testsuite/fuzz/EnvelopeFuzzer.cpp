//
// EnvelopeFuzzer.cpp
//
// testsuite: libFuzzer target for Envelope::open, what a node does with each envelope a relay
// hands over (anyone can deposit one). The first input byte picks the mode: even, the rest is
// an envelope as it is; odd, the rest edits a valid envelope sealed to us (pairs of position
// and XOR byte, then truncation or extension), so that mutations reach the decrypted inner
// part too. open() may refuse an envelope only with EnvelopeException; an unedited envelope
// must open to what was sealed; any other exception, memory error or violated invariant
// crashes the fuzzer.
//
// max_len: 4096


#include "Envelope.h"
#include "CrossChat/Chat/ChatException.h"
#include "CrossChat/Hpke.h"
#include "CrossChat/Identity.h"
#include "CrossChat/Relay/Prekey.h"
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>


using namespace CrossChat;
using namespace CrossChat::Chat;


namespace {


void check(bool condition, const char* what)
{
	if (!condition)
	{
		std::fprintf(stderr, "EnvelopeFuzzer: invariant violated: %s\n", what);
		std::abort();
	}
}


struct Fixture
{
	Identity self = Identity::generate();
	Identity sender = Identity::generate();
	Hpke::KeyPair pair = Hpke::deriveKeyPair(std::string(32, '\x42'));
	std::uint64_t prekeyId = 7;
	std::string valid;

	Fixture()
	{
		const Relay::Prekey prekey = Relay::Prekey::sign(self, prekeyId, pair.publicKey, 4102444800000);
		MailContent content;
		content.messageId = "fuzz-1";
		content.timestampMs = 1765000000000;
		content.text = "hello through the mailbox";
		valid = Envelope::seal(sender, self.peerId(), prekey, content);
	}

	std::optional<std::string> key(std::uint64_t id) const
	{
		if (id == prekeyId) return pair.privateKey;
		return std::nullopt;
	}
};


const Fixture& fixture()
{
	static const Fixture instance;
	return instance;
}


} // namespace


extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
	if (size == 0) return 0;
	const Fixture& f = fixture();
	std::string envelope;
	if (data[0] % 2 == 0)
	{
		envelope.assign(reinterpret_cast<const char*>(data) + 1, size - 1);
	}
	else
	{
		envelope = f.valid;
		std::size_t i = 1;
		for (; i + 1 < size && data[i] != 0xFF; i += 2)
		{
			const std::size_t position = (static_cast<std::size_t>(data[i]) * 7) % envelope.size();
			const auto flip = static_cast<char>(data[i + 1]);
			envelope[position] = static_cast<char>(envelope[position] ^ flip);
		}
		if (i + 1 < size)
		{
			// 0xFF, then a length: cut to it, or append the rest.
			const std::size_t cut = data[i + 1];
			if (cut < envelope.size())
			{
				envelope.resize(cut);
			}
			else if (i + 2 < size)
			{
				envelope.append(reinterpret_cast<const char*>(data) + i + 2, size - i - 2);
			}
		}
	}
	try
	{
		const OpenedEnvelope opened = Envelope::open(f.self.peerId(), envelope, [&f](std::uint64_t id) { return f.key(id); });
		check(opened.sender == f.sender.peerId(), "only the sender's signature opens");
		check(envelope == f.valid, "only the unedited envelope opens");
		check(opened.content.text == "hello through the mailbox" && opened.content.messageId == "fuzz-1", "the content as sealed");
	}
	catch (const EnvelopeException&)
	{
		check(envelope != f.valid, "the unedited envelope opens");
	}
	return 0;
}
