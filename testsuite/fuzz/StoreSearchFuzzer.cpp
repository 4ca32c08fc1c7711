//
// StoreSearchFuzzer.cpp
//
// testsuite: libFuzzer target for ChatStore::search() and the FTS5 query it builds from the
// user's words (ChatStore::searchExpression). The input is split at its first NUL byte
// into the words and the match markers.
// Invariants: the expression is well formed (FTS5 strings in double quotes with inner quotes
// doubled, each optionally followed by '*', separated by single spaces, at most maxTerms, and
// empty only when there is no word); search() on a real database never throws, whatever the
// words (no input is FTS5 syntax), and returns at most the limit.
// max_len: 4096
//


#include "CrossChat/Chat/ChatStore.h"
#include "CrossChat/ManualScheduler.h"
#include "CrossChat/PeerId.h"
#include "Poco/Exception.h"
#include "Poco/File.h"
#include "Poco/TemporaryFile.h"
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>


using namespace CrossChat;
using namespace CrossChat::Chat;


namespace {


constexpr std::size_t MAX_TERMS = 16;
constexpr std::size_t LIMIT = 5;


void check(bool condition, const char* what)
{
	if (!condition)
	{
		std::fprintf(stderr, "StoreSearchFuzzer: invariant violated: %s\n", what);
		std::abort();
	}
}


std::size_t checkExpression(const std::string& expression)
	/// Walks expression as FTS5 would and returns the number of strings in it.
{
	std::size_t terms = 0;
	std::size_t i = 0;
	while (i < expression.size())
	{
		if (terms > 0)
		{
			check(expression[i] == ' ', "terms are separated by one space");
			++i;
		}
		check(i < expression.size() && expression[i] == '"', "a term starts with a quote");
		++i;
		std::size_t length = 0;
		for (;;)
		{
			check(i < expression.size(), "a term ends with a quote");
			if (expression[i] == '"')
			{
				if (i + 1 < expression.size() && expression[i + 1] == '"')
				{
					i += 2;
					++length;
					continue;
				}
				++i;
				break;
			}
			check(expression[i] != '\0', "no NUL inside a term");
			++i;
			++length;
		}
		check(length > 0, "no empty term");
		if (i < expression.size() && expression[i] == '*') ++i;
		++terms;
	}
	return terms;
}


class Fixture
	/// One small database for the whole run (in /dev/shm when there is one: fsyncs are cheap).
{
public:
	Fixture()
	{
		const char* base = Poco::File("/dev/shm").exists() ? "/dev/shm" : nullptr;
		_dir = base ? Poco::TemporaryFile::tempName(base) : Poco::TemporaryFile::tempName();
		Poco::File(_dir).createDirectories();
		_pStore = std::make_unique<ChatStore>(_loop);
		_pStore->open(_dir + "/fuzz.db");
		_pStore->setRelation(peer(1), Relation::CONTACT);
		_pStore->transaction([&] {
			const char* texts[] = {"hello world", "NEAR the station OR the park", "she said \"hi\" (twice)",
				"caf\xc3\xa9 au lait", "prefix prefixes prefixed", "x'); DROP TABLE messages; --"};
			int n = 0;
			for (const char* text: texts) _pStore->storeIncoming(peer(1), "m" + std::to_string(n++), text, n, "direct");
		});
	}

	~Fixture()
	{
		_pStore.reset();
		try
		{
			Poco::File(_dir).remove(true);
		}
		catch (...)
		{
		}
	}

	ChatStore& store()
	{
		return *_pStore;
	}

private:
	static PeerId peer(int n)
	{
		return PeerId::fromBytes(std::string(PeerId::SIZE, static_cast<char>(n)));
	}

	ManualScheduler _loop;
	std::string _dir;
	std::unique_ptr<ChatStore> _pStore;
};


} // namespace


extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
	static Fixture fixture;

	const std::string input(reinterpret_cast<const char*>(data), size);
	const std::size_t nul = input.find('\0');
	const std::string words = input.substr(0, nul);
	const std::string markers = nul == std::string::npos ? std::string() : input.substr(nul + 1, 16);

	const std::string expression = ChatStore::searchExpression(words, MAX_TERMS);
	const std::size_t terms = checkExpression(expression);
	check(terms <= MAX_TERMS, "at most maxTerms terms");
	check(ChatStore::searchExpression(words, 1).size() <= expression.size(), "fewer terms, no longer expression");
	if (expression.empty())
	{
		bool onlySpaceAndStars = true;
		for (char c: words) onlySpaceAndStars = onlySpaceAndStars && (c == ' ' || c == '*' || (c >= '\t' && c <= '\r'));
		check(onlySpaceAndStars, "empty only when there is no word");
	}

	try
	{
		const auto results = fixture.store().search(input, LIMIT);
		check(results.size() <= LIMIT, "at most limit results");
		const auto marked = fixture.store().search(words, LIMIT, markers, markers);
		check(marked.size() <= LIMIT, "at most limit results");
	}
	catch (const Poco::Exception& exc)
	{
		std::fprintf(stderr, "StoreSearchFuzzer: search threw %s\n", exc.displayText().c_str());
		std::abort();
	}
	return 0;
}
