//
// StoreBenchmark.cpp
//
// testsuite: ChatStore against plain SQLite (the sqlite3 C API, same pragmas), in one run:
//   1. messages persisted per second, one transaction (one fsync) each:
//        ChatStore::queueOutgoing()  vs  INSERT into a one-table schema  vs  the store's own
//        INSERT into the store's schema through sqlite3 directly (what Poco::Data and the
//        store's logic cost) and the plain INSERT with synchronous=NORMAL (what FULL costs);
//   2. the same in batches of 100 messages per transaction (ChatStore::transaction());
//   3. on a generated database of --messages messages (default 1,000,000) in 100
//      conversations: history() and search() latency, p50 and p99, next to the same SQL
//      through sqlite3 directly, and a LIKE scan as the no-index baseline of search.
// Single-threaded; pin it with taskset for stable numbers (docs/BENCHMARKS.md).
//
// Usage: Store-benchmark [--quick] [--messages N] [--dir DIR] [--keep]
//   --quick       smoke run for CI: small counts, a 20,000-message database (seconds)
//   --messages N  size of the generated database (default 1000000)
//   --dir DIR     where the database files go (default: a new directory under $TMPDIR or /tmp);
//                 the file system decides what an fsync costs
//   --keep        keep the generated database in DIR and reuse it when it has N messages
//


#include "CrossChat/Chat/ChatStore.h"
#include "CrossChat/ManualScheduler.h"
#include "CrossChat/PeerId.h"
#include "Poco/Exception.h"
#include "Poco/File.h"
#include "Poco/TemporaryFile.h"
#include <sqlite3.h>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <stdexcept>
#include <string>
#include <sys/stat.h>
#include <vector>


using namespace CrossChat;
using namespace CrossChat::Chat;
using Clock = std::chrono::steady_clock;


namespace {


constexpr int PEERS = 100;
constexpr int VOCABULARY = 5000;
constexpr std::size_t HISTORY_PAGE = 50;
constexpr std::size_t SEARCH_LIMIT = 20;


struct Options
{
	bool quick = false;
	long messages = 1000000;
	std::string dir;
	bool keep = false;
};


double secondsSince(Clock::time_point start)
{
	return std::chrono::duration<double>(Clock::now() - start).count();
}


struct Latency
{
	double p50Us = 0;
	double p99Us = 0;
};


Latency measure(int runs, const std::function<void(int)>& query)
	/// Runs query(i) runs times after a few warm-up runs; p50 and p99 of the wall time.
{
	for (int i = 0; i < std::min(runs, 5); ++i) query(i);
	std::vector<double> times;
	times.reserve(static_cast<std::size_t>(runs));
	for (int i = 0; i < runs; ++i)
	{
		const Clock::time_point start = Clock::now();
		query(i);
		times.push_back(std::chrono::duration<double, std::micro>(Clock::now() - start).count());
	}
	std::sort(times.begin(), times.end());
	auto at = [&](double q) { return times[std::min(times.size() - 1, static_cast<std::size_t>(q * static_cast<double>(times.size())))]; };
	return {at(0.50), at(0.99)};
}


PeerId peer(int n)
{
	std::string bytes(PeerId::SIZE, '\0');
	for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>(n * 37 + static_cast<int>(i) * 7 + 1);
	return PeerId::fromBytes(bytes);
}


class Words
	/// A made-up vocabulary with a Zipf-like frequency (word k about 1/k as often as the
	/// first), so that some words are in every other message and some in a few.
{
public:
	Words(): _random(2024)
	{
		static const char* syllables[] = {"ka", "lo", "mi", "ne", "ru", "sa", "to", "vi", "be", "da", "fo", "gu",
			"hi", "jo", "pe", "ti"};
		for (int k = 0; k < VOCABULARY; ++k)
		{
			std::string word;
			int n = k + 16;
			while (n > 0)
			{
				word += syllables[n % 16];
				n /= 16;
			}
			_words.push_back(word);
			_weights.push_back(1.0 / (k + 1));
		}
		_pick = std::discrete_distribution<int>(_weights.begin(), _weights.end());
	}

	const std::string& word(int rank) const
	{
		return _words[static_cast<std::size_t>(rank)];
	}

	std::string text()
	{
		std::string text;
		const int count = 5 + static_cast<int>(_random() % 16);
		for (int i = 0; i < count; ++i)
		{
			if (i) text += ' ';
			text += _words[static_cast<std::size_t>(_pick(_random))];
		}
		return text;
	}

	std::mt19937& random()
	{
		return _random;
	}

private:
	std::mt19937 _random;
	std::vector<std::string> _words;
	std::vector<double> _weights;
	std::discrete_distribution<int> _pick;
};


class Sqlite
	/// A plain sqlite3 connection, set up with the store's pragmas.
{
public:
	Sqlite(const std::string& path, const char* synchronous)
	{
		if (sqlite3_open(path.c_str(), &_pDb) != SQLITE_OK) throw std::runtime_error("cannot open " + path);
		exec("PRAGMA locking_mode = EXCLUSIVE");
		exec("PRAGMA journal_mode = WAL");
		exec(std::string("PRAGMA synchronous = ") + synchronous);
		exec("PRAGMA foreign_keys = ON");
		exec("PRAGMA secure_delete = ON");
		exec("PRAGMA cell_size_check = ON");
		exec("PRAGMA temp_store = MEMORY");
	}

	~Sqlite()
	{
		for (sqlite3_stmt* pStatement: _statements) sqlite3_finalize(pStatement);
		sqlite3_close(_pDb);
	}

	Sqlite(const Sqlite&) = delete;
	Sqlite& operator=(const Sqlite&) = delete;

	void exec(const std::string& sql)
	{
		char* pError = nullptr;
		if (sqlite3_exec(_pDb, sql.c_str(), nullptr, nullptr, &pError) != SQLITE_OK)
		{
			const std::string message = pError ? pError : "unknown error";
			sqlite3_free(pError);
			throw std::runtime_error(sql + ": " + message);
		}
	}

	sqlite3_stmt* prepare(const std::string& sql)
	{
		sqlite3_stmt* pStatement = nullptr;
		if (sqlite3_prepare_v2(_pDb, sql.c_str(), -1, &pStatement, nullptr) != SQLITE_OK)
			throw std::runtime_error(sql + ": " + sqlite3_errmsg(_pDb));
		_statements.push_back(pStatement);
		return pStatement;
	}

	void run(sqlite3_stmt* pStatement)
		/// Steps to the end, reading every row's columns as a caller would.
	{
		int rc;
		while ((rc = sqlite3_step(pStatement)) == SQLITE_ROW)
		{
			for (int i = 0; i < sqlite3_column_count(pStatement); ++i) _sink += sqlite3_column_bytes(pStatement, i);
		}
		if (rc != SQLITE_DONE) throw std::runtime_error(sqlite3_errmsg(_pDb));
		sqlite3_reset(pStatement);
	}

private:
	sqlite3* _pDb = nullptr;
	std::vector<sqlite3_stmt*> _statements;
	std::size_t _sink = 0;
};


void bindText(sqlite3_stmt* pStatement, int index, const std::string& text)
{
	sqlite3_bind_text(pStatement, index, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
}


void removeDatabase(const std::string& path)
{
	for (const char* suffix: {"", "-wal", "-shm", "-journal"}) std::remove((path + suffix).c_str());
}


struct Rates
{
	double store = 0;
	double plain = 0;
	double sameSchema = 0;
	double plainNormal = 0;
};


double storeRate(const std::string& path, const std::vector<std::string>& texts, long batch)
	/// ChatStore::queueOutgoing() into a new database.
{
	const long count = static_cast<long>(texts.size());
	const PeerId to = peer(1);
	removeDatabase(path);
	ManualScheduler loop;
	ChatStore store(loop);
	store.open(path);
	const Clock::time_point start = Clock::now();
	for (long i = 0; i < count; i += batch)
	{
		auto write = [&] {
			for (long j = i; j < std::min(count, i + batch); ++j)
				store.queueOutgoing(to, "m" + std::to_string(j), texts[static_cast<std::size_t>(j)], j);
		};
		if (batch == 1) write();
		else store.transaction(write);
	}
	return static_cast<double>(count) / secondsSince(start);
}


double sameSchemaRate(const std::string& path, const std::vector<std::string>& texts, long batch)
	/// The store's own statements through sqlite3, into a new database with the store's schema.
{
	const long count = static_cast<long>(texts.size());
	const PeerId to = peer(1);
	removeDatabase(path);
	{
		ManualScheduler loop;
		ChatStore store(loop);
		store.open(path);
		store.setRelation(to, Relation::CONTACT);
	}
	Sqlite db(path, "FULL");
	sqlite3_stmt* pPeer = db.prepare("SELECT id, relation FROM peers WHERE peer_id = ?");
	sqlite3_stmt* pInsert = db.prepare("INSERT INTO messages (peer, direction, msg_id, state, text, sender_ms,"
		" local_ms, state_ms, path) VALUES (?, 0, ?, 0, ?, ?, ?, ?, '')"
		" ON CONFLICT (peer, direction, msg_id) DO NOTHING RETURNING seq");
	const Clock::time_point start = Clock::now();
	for (long i = 0; i < count; i += batch)
	{
		db.exec("BEGIN IMMEDIATE");
		for (long j = i; j < std::min(count, i + batch); ++j)
		{
			sqlite3_bind_blob(pPeer, 1, to.bytes().data(), static_cast<int>(PeerId::SIZE), SQLITE_STATIC);
			sqlite3_int64 peerRow = 0;
			if (sqlite3_step(pPeer) == SQLITE_ROW) peerRow = sqlite3_column_int64(pPeer, 0);
			sqlite3_reset(pPeer);
			const sqlite3_int64 now = std::chrono::duration_cast<std::chrono::milliseconds>(
				std::chrono::system_clock::now().time_since_epoch()).count();
			sqlite3_bind_int64(pInsert, 1, peerRow);
			bindText(pInsert, 2, "m" + std::to_string(j));
			bindText(pInsert, 3, texts[static_cast<std::size_t>(j)]);
			sqlite3_bind_int64(pInsert, 4, j);
			sqlite3_bind_int64(pInsert, 5, now);
			sqlite3_bind_int64(pInsert, 6, now);
			db.run(pInsert);
		}
		db.exec("COMMIT");
	}
	return static_cast<double>(count) / secondsSince(start);
}


double plainRate(const std::string& path, const std::vector<std::string>& texts, long batch, const char* synchronous)
	/// Plain INSERTs into a one-table database (no index but the rowid, no full-text index).
{
	const long count = static_cast<long>(texts.size());
	const PeerId to = peer(1);
	removeDatabase(path);
	Sqlite db(path, synchronous);
	db.exec("CREATE TABLE plain (seq INTEGER PRIMARY KEY, peer BLOB NOT NULL, id TEXT NOT NULL,"
		" text TEXT NOT NULL, ts INTEGER NOT NULL)");
	sqlite3_stmt* pInsert = db.prepare("INSERT INTO plain (peer, id, text, ts) VALUES (?, ?, ?, ?)");
	const Clock::time_point start = Clock::now();
	for (long i = 0; i < count; i += batch)
	{
		db.exec("BEGIN IMMEDIATE");
		for (long j = i; j < std::min(count, i + batch); ++j)
		{
			sqlite3_bind_blob(pInsert, 1, to.bytes().data(), static_cast<int>(PeerId::SIZE), SQLITE_STATIC);
			bindText(pInsert, 2, "m" + std::to_string(j));
			bindText(pInsert, 3, texts[static_cast<std::size_t>(j)]);
			sqlite3_bind_int64(pInsert, 4, j);
			db.run(pInsert);
		}
		db.exec("COMMIT");
	}
	return static_cast<double>(count) / secondsSince(start);
}


Rates persistRates(const Options& options, Words& words, long count, long batch)
	/// Messages per second with batch messages per transaction: the best of a few rounds,
	/// each on new files, the variants taking turns (the machine's load changes under them).
{
	std::vector<std::string> texts;
	for (long i = 0; i < count; ++i) texts.push_back(words.text());
	const std::string path = options.dir + "/persist.db";
	Rates best;
	const int rounds = options.quick ? 1 : 3;
	for (int round = 0; round < rounds; ++round)
	{
		best.store = std::max(best.store, storeRate(path, texts, batch));
		best.sameSchema = std::max(best.sameSchema, sameSchemaRate(path, texts, batch));
		best.plain = std::max(best.plain, plainRate(path, texts, batch, "FULL"));
		best.plainNormal = std::max(best.plainNormal, plainRate(path, texts, batch, "NORMAL"));
	}
	removeDatabase(path);
	return best;
}


std::size_t fileSize(const std::string& path)
{
	struct stat st;
	return ::stat(path.c_str(), &st) == 0 ? static_cast<std::size_t>(st.st_size) : 0;
}


long generate(const std::string& path, long messages, Words& words)
	/// Fills a new store with messages in PEERS conversations; returns the pending count.
{
	ManualScheduler loop;
	ChatStore store(loop);
	store.open(path);
	for (int p = 0; p < PEERS; ++p) store.setRelation(peer(p), Relation::CONTACT);
	const long batch = 10000;
	long pending = 0;
	const Clock::time_point start = Clock::now();
	for (long i = 0; i < messages; i += batch)
	{
		store.transaction([&] {
			for (long j = i; j < std::min(messages, i + batch); ++j)
			{
				const PeerId other = peer(static_cast<int>(j % PEERS));
				const std::string id = "g" + std::to_string(j);
				if (j % 2 == 0)
				{
					store.queueOutgoing(other, id, words.text(), j);
					// Almost everything was delivered; the newest thousand still wait.
					if (j < messages - 2000) store.markDelivered(other, id, "direct");
					else ++pending;
				}
				else
				{
					store.storeIncoming(other, id, words.text(), j, j % 3 ? "direct" : "relay");
				}
			}
		});
		if ((i / batch) % 10 == 9) std::fprintf(stderr, "  generated %ld messages (%.0f/s)\n", i + batch,
			static_cast<double>(i + batch) / secondsSince(start));
	}
	std::printf("generated %ld messages in %.1f s (%.0f messages/s in transactions of %ld), file %.0f MiB\n",
		messages, secondsSince(start), static_cast<double>(messages) / secondsSince(start), batch,
		static_cast<double>(fileSize(path)) / (1 << 20));
	return pending;
}


void printRate(const char* label, double ours, double baseline)
{
	std::printf("  %-58s %10.0f %10.0f %7.2f\n", label, ours, baseline, ours / baseline);
}


void printLatency(const char* label, const Latency& ours, const Latency& baseline)
{
	std::printf("  %-42s %9.1f %9.1f   %9.1f %9.1f   %6.2f\n", label, ours.p50Us, ours.p99Us,
		baseline.p50Us, baseline.p99Us, ours.p50Us / baseline.p50Us);
}


int run(const Options& options)
{
	Words words;

	const long singles = options.quick ? 100 : 500;
	const long batched = options.quick ? 2000 : 20000;
	std::printf("Store-benchmark: files in %s\n\n", options.dir.c_str());
	std::printf("messages persisted per second (WAL, synchronous=FULL, exclusive locking; best of %d rounds)\n",
		options.quick ? 1 : 3);
	std::printf("  %-58s %10s %10s %7s\n", "", "ours", "baseline", "ratio");
	const Rates one = persistRates(options, words, singles, 1);
	printRate("1 per transaction: queueOutgoing vs plain INSERT", one.store, one.plain);
	printRate("1 per transaction: same schema via sqlite3 vs plain INSERT", one.sameSchema, one.plain);
	printRate("1 per transaction: plain INSERT, FULL vs NORMAL", one.plain, one.plainNormal);
	const Rates hundred = persistRates(options, words, batched, 100);
	printRate("100 per transaction: queueOutgoing vs plain INSERT", hundred.store, hundred.plain);
	printRate("100 per transaction: same schema via sqlite3 vs plain INSERT", hundred.sameSchema, hundred.plain);
	printRate("100 per transaction: plain INSERT, FULL vs NORMAL", hundred.plain, hundred.plainNormal);

	const long messages = options.quick ? 20000 : options.messages;
	const std::string big = options.dir + "/history-" + std::to_string(messages) + ".db";
	bool reuse = false;
	if (options.keep && Poco::File(big).exists())
	{
		Sqlite db(big, "FULL");
		sqlite3_stmt* pCount = db.prepare("SELECT count(*) FROM messages");
		reuse = sqlite3_step(pCount) == SQLITE_ROW && sqlite3_column_int64(pCount, 0) == messages;
	}
	std::printf("\n");
	if (reuse) std::printf("reusing %s\n", big.c_str());
	else
	{
		removeDatabase(big);
		generate(big, messages, words);
	}

	const int queries = options.quick ? 50 : 1000;
	const int searches = options.quick ? 20 : 200;
	const int scans = options.quick ? 3 : 10;

	ManualScheduler loop;
	ChatStore store(loop);
	const Clock::time_point openStart = Clock::now();
	store.open(big);
	const std::size_t pending = store.pendingCount();
	const double openMs = secondsSince(openStart) * 1000;

	std::mt19937 random(99);
	std::vector<int> peers;
	std::vector<std::int64_t> befores;
	for (int i = 0; i < queries + 5; ++i)
	{
		peers.push_back(static_cast<int>(random() % PEERS));
		befores.push_back(1 + static_cast<std::int64_t>(random() % static_cast<unsigned>(messages)));
	}

	std::printf("\nlatency on %ld messages, %d conversations (us)  %19s   %19s   %6s\n", messages, PEERS,
		"ours p50 p99", "baseline p50 p99", "ratio");
	std::printf("  open() + pendingCount() (%zu pending): %.1f ms\n", pending, openMs);

	// The store holds the file exclusively: its calls are measured first, then (closed) the
	// same SQL through sqlite3.
	const Latency historyNewest = measure(queries, [&](int i) { store.history(peer(peers[static_cast<std::size_t>(i)]), HISTORY_PAGE); });
	const Latency historyDeep = measure(queries, [&](int i) {
		store.history(peer(peers[static_cast<std::size_t>(i)]), HISTORY_PAGE, befores[static_cast<std::size_t>(i)]);
	});
	const Latency pendingAll = measure(queries / 10 + 1, [&](int) { store.pending(); });
	struct SearchCase
	{
		std::string label;
		std::string words;
		Latency ours;
		Latency baseline;
	};
	std::vector<SearchCase> cases = {
		{"search: most frequent word", words.word(0), {}, {}},
		{"search: word of rank 100", words.word(100), {}, {}},
		{"search: rare word (rank 4900)", words.word(4900), {}, {}},
		{"search: two words (ranks 3, 40)", words.word(3) + " " + words.word(40), {}, {}},
		{"search: 3-letter prefix of a frequent word", words.word(1).substr(0, 3) + "*", {}, {}},
		{"search: 5-letter prefix of a rare word", words.word(4900).substr(0, 5) + "*", {}, {}},
		{"search: absent word", "zzzzqqq", {}, {}},
	};
	for (SearchCase& c: cases) c.ours = measure(searches, [&](int) { store.search(c.words, SEARCH_LIMIT); });
	store.close();

	Sqlite db(big, "FULL");
	const std::string columns = "SELECT m.seq, p.peer_id, m.msg_id, m.direction, m.state, m.text, m.sender_ms,"
		" m.local_ms, m.state_ms, m.path, m.reason FROM messages m JOIN peers p ON p.id = m.peer ";
	sqlite3_stmt* pHistory = db.prepare(columns +
		"WHERE m.peer = (SELECT id FROM peers WHERE peer_id = ?) AND m.seq < ? ORDER BY m.seq DESC LIMIT ?");
	auto history = [&](int p, std::int64_t before) {
		const PeerId other = peer(p);
		sqlite3_bind_blob(pHistory, 1, other.bytes().data(), static_cast<int>(PeerId::SIZE), SQLITE_STATIC);
		sqlite3_bind_int64(pHistory, 2, before);
		sqlite3_bind_int64(pHistory, 3, HISTORY_PAGE);
		db.run(pHistory);
	};
	const Latency rawNewest = measure(queries, [&](int i) { history(peers[static_cast<std::size_t>(i)], INT64_MAX); });
	const Latency rawDeep = measure(queries, [&](int i) {
		history(peers[static_cast<std::size_t>(i)], befores[static_cast<std::size_t>(i)]);
	});
	sqlite3_stmt* pPending = db.prepare(columns + "WHERE m.state IN (0, 1) ORDER BY m.seq");
	const Latency rawPending = measure(queries / 10 + 1, [&](int) { db.run(pPending); });
	sqlite3_stmt* pLike = db.prepare("SELECT m.seq, p.peer_id, m.msg_id, m.text FROM messages m"
		" JOIN peers p ON p.id = m.peer WHERE m.text LIKE ? ORDER BY m.seq DESC LIMIT ?");
	for (SearchCase& c: cases)
	{
		// No index: what a search costs without FTS5 (prefix and several words as one pattern).
		std::string pattern = "%" + c.words + "%";
		std::replace(pattern.begin(), pattern.end(), '*', '%');
		std::replace(pattern.begin(), pattern.end(), ' ', '%');
		c.baseline = measure(scans, [&](int) {
			bindText(pLike, 1, pattern);
			sqlite3_bind_int64(pLike, 2, SEARCH_LIMIT);
			db.run(pLike);
		});
	}

	printLatency("history: newest 50 (vs same SQL via sqlite3)", historyNewest, rawNewest);
	printLatency("history: 50 before a random point (same)", historyDeep, rawDeep);
	printLatency("pending(): whole outbox (same)", pendingAll, rawPending);
	for (const SearchCase& c: cases) printLatency((c.label + " (vs LIKE scan)").c_str(), c.ours, c.baseline);

	if (!options.keep) removeDatabase(big);
	return 0;
}


} // namespace


int main(int argc, char** argv)
{
	std::setvbuf(stdout, nullptr, _IOLBF, 0);   // results as they come, also into a file
	Options options;
	for (int i = 1; i < argc; ++i)
	{
		const std::string arg = argv[i];
		if (arg == "--help" || arg == "-h")
		{
			std::printf("usage: Store-benchmark [--quick] [--messages N] [--dir DIR] [--keep]\n");
			return 0;
		}
		if (arg == "--quick") options.quick = true;
		else if (arg == "--keep") options.keep = true;
		else if (arg == "--messages" && i + 1 < argc) options.messages = std::atol(argv[++i]);
		else if (arg == "--dir" && i + 1 < argc) options.dir = argv[++i];
		else
		{
			std::fprintf(stderr, "usage: Store-benchmark [--quick] [--messages N] [--dir DIR] [--keep]\n");
			return 2;
		}
	}
	if (options.messages < 1000)
	{
		std::fprintf(stderr, "Store-benchmark: --messages needs at least 1000\n");
		return 2;
	}
	bool madeDir = false;
	if (options.dir.empty())
	{
		options.dir = Poco::TemporaryFile::tempName();
		madeDir = true;
	}
	try
	{
		Poco::File(options.dir).createDirectories();
		::chmod(options.dir.c_str(), 0700);
		const int rc = run(options);
		if (madeDir && !options.keep) Poco::File(options.dir).remove(true);
		return rc;
	}
	catch (const Poco::Exception& exc)
	{
		std::fprintf(stderr, "Store-benchmark: %s\n", exc.displayText().c_str());
	}
	catch (const std::exception& exc)
	{
		std::fprintf(stderr, "Store-benchmark: %s\n", exc.what());
	}
	return 1;
}
