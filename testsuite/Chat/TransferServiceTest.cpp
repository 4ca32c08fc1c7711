//
// TransferServiceTest.cpp
//
// testsuite: two TransferServices, each behind the Peer object of a fake node, joined by fake
// sessions that carry messages through the real catalog, on one manual clock; file work runs
// inline. What a hostile peer can send is injected on the sessions.
//


#include "TransferServiceTest.h"
#include "PeerTestSupport.h"
#include "TransferProtocol.h"
#include "TransferService.h"
#include "CrossChat/Chat/SessionProtocol.h"
#include "CrossChat/ManualScheduler.h"
#include "Poco/File.h"
#include "Poco/JSON/Parser.h"
#include "Poco/Path.h"
#include <fstream>
#include <random>
#include <sstream>
#include <sys/stat.h>


using namespace CrossChat;
using namespace CrossChat::Chat;
using namespace CrossChat::Test;
using namespace std::chrono_literals;


namespace {


constexpr std::size_t BLOCK = 128 * 1024;


std::string randomBytes(std::size_t size, unsigned seed)
{
	std::mt19937 generator(seed);
	std::string bytes(size, '\0');
	for (char& c: bytes) c = static_cast<char>(generator() & 0xFF);
	return bytes;
}


std::string readFile(const std::string& path)
{
	std::ifstream in(path, std::ios::binary);
	std::ostringstream contents;
	contents << in.rdbuf();
	return contents.str();
}


bool exists(const std::string& path)
{
	struct stat st;
	return ::lstat(path.c_str(), &st) == 0;
}


Poco::JSON::Object::Ptr parse(const std::string& json)
{
	return Poco::JSON::Parser().parse(json).extract<Poco::JSON::Object::Ptr>();
}


class FakeNode: public TransferService::Node
{
public:
	FakeNode(ManualScheduler& clock, Side& side):
		_clock(clock),
		_side(side)
	{
	}

	Scheduler& transferScheduler() override
	{
		return _clock;
	}

	Peer* transferPeer(const PeerId& id) override
	{
		return _side.peer && _side.peer->id() == id ? _side.peer.get() : nullptr;
	}

	ChatStore* transferStore() override
	{
		return nullptr;
	}

	bool transferGroupMember(const std::string& group, const PeerId& peer) override
	{
		return groups.count(group) && _side.peer && _side.peer->id() == peer;
	}

	std::set<std::string> groups;   ///< The groups (IDs' text) we share with the other node.

private:
	ManualScheduler& _clock;
	Side& _side;
};


struct Party
	/// One node: its side of the pair (fake host, the Peer of the other node), the service.
{
	Party(ManualScheduler& clock, const PeerId& self, const PeerId& other, const std::string& downloads, TransferConfig config):
		side(self, other, ChatNodeConfig(), &clock),
		node(clock, side),
		service(node, withDownloads(config, downloads), false)
	{
		side.host.pService = &service;
		service.setHandler([this](const TransferInfo& info, bool) { latest[info.id] = info; });
		service.start();
	}

	~Party()
	{
		service.stop();
		side.host.pService = nullptr;
	}

	static TransferConfig withDownloads(TransferConfig config, const std::string& downloads)
	{
		config.downloadDirectory = downloads;
		config.minFreeSpace = 0;
		config.progressInterval = 0ms;
		return config;
	}

	TransferState state(const std::string& id) const
	{
		auto it = latest.find(id);
		return it == latest.end() ? TransferState::PREPARING : it->second.state;
	}

	std::vector<Poco::JSON::Object::Ptr> sent(const FakeSession::Ptr& session, const std::string& name) const
	{
		std::vector<Poco::JSON::Object::Ptr> bodies;
		for (const auto& message: session->messagesSent())
			if (message.first == name) bodies.push_back(parse(message.second));
		return bodies;
	}

	Side side;
	FakeNode node;
	TransferService service;
	std::map<std::string, TransferInfo> latest;
};


struct Pair
	/// Alice (the smaller ID) and Bob, contacts of each other, on one clock, with a session.
{
	Pair(const std::string& dir, TransferConfig configA = TransferConfig(), TransferConfig configB = TransferConfig(), bool contacts = true):
		a(clock, testId(0x11), testId(0x77), Poco::Path(dir).append("a").toString(), configA),
		b(clock, testId(0x77), testId(0x11), Poco::Path(dir).append("b").toString(), configB)
	{
		if (contacts)
		{
			a.side.consent();
			b.side.consent();
		}
		connect();
	}

	void connect()
	{
		sessionA = a.side.host.outgoingSession(Path::DIRECT);
		sessionB = b.side.host.incoming(Path::DIRECT);
		sessionA->link(sessionB);
		sessionA->forwardTo(sessionB);
		sessionB->forwardTo(sessionA);
		sessionA->setPeerCaps({SessionProtocol::FILES_CAP});
		sessionB->setPeerCaps({SessionProtocol::FILES_CAP});
		a.side.adoptEstablished(sessionA);
		b.side.adoptEstablished(sessionB);
	}

	void run()
	{
		clock.runPending();
		for (int i = 0; i < 10000 && (clock.pendingTasks() > 0 || clock.pendingTimers() > 0); ++i)
		{
			clock.advance(Scheduler::Duration::zero());
			if (clock.pendingTasks() == 0) break;
		}
	}

	void runFor(Scheduler::Duration duration)
	{
		clock.runPending();
		clock.advance(duration);
		clock.runPending();
	}

	ManualScheduler clock;
	Party a;
	Party b;
	FakeSession::Ptr sessionA;
	FakeSession::Ptr sessionB;
};


std::string writeSample(const std::string& dir, const std::string& name, std::size_t size, unsigned seed)
{
	const std::string path = Poco::Path(dir).append(name).toString();
	std::ofstream(path, std::ios::binary | std::ios::trunc) << randomBytes(size, seed);
	return path;
}


Poco::JSON::Object offerFor(const std::string& name, std::uint64_t size, const TransferId& id = TransferId::random(),
	const std::string& group = std::string())
{
	FileOffer offer;
	offer.group = group;
	offer.id = id;
	offer.name = name;
	offer.size = size;
	offer.sha256 = Sha256::of("whatever", 8);
	offer.blockSize = TransferProtocol::blockSizeFor(size);
	offer.timestampMs = 1;
	return TransferProtocol::offerBody(offer);
}


} // namespace


void TransferServiceTest::setUp()
{
	_pTempDir = std::make_unique<CrossChat::Test::TempDirectory>();
}


void TransferServiceTest::tearDown()
{
	_pTempDir.reset();
}


std::string TransferServiceTest::path(const std::string& name) const
{
	return _pTempDir->path(name);
}


void TransferServiceTest::testHostileNameLandsSafely()
{
	Pair pair(_pTempDir->directory());
	const TransferId id = TransferId::random();
	pair.sessionB->deliverMessage("file-offer", offerFor("../../../../tmp/evil\xE2\x80\xAEgnp.exe", 1000, id));
	CPPUNIT_ASSERT_EQUAL(TransferState::OFFERED, pair.b.state(id.toString()));
	CPPUNIT_ASSERT_EQUAL(std::string("../../../../tmp/evil\xE2\x80\xAEgnp.exe"), pair.b.latest[id.toString()].name);   // as offered, for display
	const TransferInfo accepted = pair.b.service.accept(id.toString());
	const std::string downloads = Poco::Path(_pTempDir->directory()).append("b").toString();
	CPPUNIT_ASSERT_EQUAL(Poco::Path(downloads).append("evil_gnp.exe").toString(), accepted.localPath);
	CPPUNIT_ASSERT(exists(accepted.localPath + ".part"));
	CPPUNIT_ASSERT(!exists("/tmp/evil_gnp.exe.part"));
	// Alice has no such transfer: she says so, and Bob's download ends (its .part is gone).
	pair.run();
	CPPUNIT_ASSERT(!pair.a.sent(pair.sessionA, "file-cancel").empty());
	CPPUNIT_ASSERT_EQUAL(std::string("unknown"), pair.a.sent(pair.sessionA, "file-cancel")[0]->getValue<std::string>("code"));
	CPPUNIT_ASSERT_EQUAL(TransferState::FAILED, pair.b.state(id.toString()));
	CPPUNIT_ASSERT(!exists(accepted.localPath + ".part"));
	CPPUNIT_ASSERT(!exists(accepted.localPath));
}


void TransferServiceTest::testStrangerOffersBounded()
{
	TransferConfig config;
	config.maxPendingOffersPerPeer = 4;
	config.maxPendingOffers = 3;
	config.maxFileSize = 1 << 20;
	Pair pair(_pTempDir->directory(), TransferConfig(), config, false);   // strangers
	std::vector<TransferId> ids;
	for (int i = 0; i < 10; ++i)
	{
		ids.push_back(TransferId::random());
		pair.sessionB->deliverMessage("file-offer", offerFor("f" + std::to_string(i), 100, ids.back()));
	}
	// Three wait (the total cap is the smaller here), as requests; seven are refused "busy".
	for (int i = 0; i < 10; ++i)
	{
		auto it = pair.b.latest.find(ids[static_cast<std::size_t>(i)].toString());
		CPPUNIT_ASSERT_EQUAL(i < 3, it != pair.b.latest.end());
		if (i < 3) CPPUNIT_ASSERT(it->second.request);
	}
	const auto refusals = pair.b.sent(pair.sessionB, "file-cancel");
	CPPUNIT_ASSERT_EQUAL(std::size_t(7), refusals.size());
	for (const auto& refusal: refusals) CPPUNIT_ASSERT_EQUAL(std::string("busy"), refusal->getValue<std::string>("code"));
	// The same offer again costs nothing; an offer over the size cap is refused "too_large".
	pair.sessionB->deliverMessage("file-offer", offerFor("f0", 100, ids[0]));
	pair.sessionB->deliverMessage("file-offer", offerFor("big", 2 << 20));
	CPPUNIT_ASSERT_EQUAL(std::size_t(8), pair.b.sent(pair.sessionB, "file-cancel").size());
	CPPUNIT_ASSERT_EQUAL(std::string("too_large"), pair.b.sent(pair.sessionB, "file-cancel").back()->getValue<std::string>("code"));
	CPPUNIT_ASSERT_EQUAL(std::uint64_t(8), pair.b.service.stats().offersRefused);
	// Nothing of a stranger's offer is on disk before the user accepts it.
	CPPUNIT_ASSERT(!Poco::File(Poco::Path(_pTempDir->directory()).append("b").toString()).exists());
	// Strangers filled the total; a contact's offer still waits for the user (its own cap only).
	pair.b.side.peer->setRelation(Relation::CONTACT);
	const TransferId fromContact = TransferId::random();
	pair.sessionB->deliverMessage("file-offer", offerFor("from a friend", 100, fromContact));
	CPPUNIT_ASSERT(pair.b.latest.count(fromContact.toString()) == 1);
	CPPUNIT_ASSERT(!pair.b.latest[fromContact.toString()].request);
	CPPUNIT_ASSERT_EQUAL(std::size_t(8), pair.b.sent(pair.sessionB, "file-cancel").size());
	// ... up to the per-peer cap (4 waiting from this peer now).
	pair.sessionB->deliverMessage("file-offer", offerFor("one too many", 100));
	CPPUNIT_ASSERT_EQUAL(std::size_t(9), pair.b.sent(pair.sessionB, "file-cancel").size());
	CPPUNIT_ASSERT_EQUAL(std::string("busy"), pair.b.sent(pair.sessionB, "file-cancel").back()->getValue<std::string>("code"));
	// A blocked peer's offers are refused "blocked".
	pair.b.side.peer->setRelation(Relation::BLOCKED);
	pair.sessionB->deliverMessage("file-offer", offerFor("g", 100));
	CPPUNIT_ASSERT_EQUAL(std::string("blocked"), pair.b.sent(pair.sessionB, "file-cancel").back()->getValue<std::string>("code"));
}


void TransferServiceTest::testOutOfPlaceDataDropped()
{
	Pair pair(_pTempDir->directory());
	const std::string file = writeSample(_pTempDir->directory(), "sample.bin", 5 * BLOCK + 100, 1);
	pair.sessionA->setUnsent(Session::DRAIN_MARK + 1);   // Alice holds her data until the test is ready
	const std::string id = pair.a.service.sendFile(testId(0x77), file);
	pair.run();
	pair.b.service.accept(id);
	pair.run();
	CPPUNIT_ASSERT(pair.sessionA->dataSent().empty());
	const auto gets = pair.b.sent(pair.sessionB, "file-get");
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), gets.size());
	const std::uint32_t round = static_cast<std::uint32_t>(gets[0]->getValue<Poco::Int64>("round"));
	// Data nobody asked for: another transfer, an old round, a block not requested, a gap.
	DataHeader header;
	header.id = TransferId::random();
	header.round = round;
	pair.sessionB->deliverData(SessionProtocol::FILE_DATA, TransferProtocol::dataBody(header, "xx", 2));
	header.id = TransferId::parse(id);
	header.round = round + 1;
	pair.sessionB->deliverData(SessionProtocol::FILE_DATA, TransferProtocol::dataBody(header, "xx", 2));
	header.round = round;
	header.block = 5;
	pair.sessionB->deliverData(SessionProtocol::FILE_DATA, TransferProtocol::dataBody(header, "xx", 2));   // block 5 is outside the window
	header.block = 0;
	header.offset = 4096;
	pair.sessionB->deliverData(SessionProtocol::FILE_DATA, TransferProtocol::dataBody(header, "xx", 2));
	CPPUNIT_ASSERT_EQUAL(std::uint64_t(4), pair.b.service.stats().chunksDropped);
	// A frame too short to be file data is refused on its own.
	pair.sessionB->deliverData(SessionProtocol::FILE_DATA, std::string(10, 'x'));
	CPPUNIT_ASSERT_EQUAL(std::uint64_t(1), pair.b.service.stats().inputRefused);
	// Then the real data flows, and the file is whole.
	pair.sessionA->drain();
	for (int i = 0; i < 100 && pair.b.state(id) != TransferState::COMPLETE; ++i) pair.run();
	CPPUNIT_ASSERT_EQUAL(TransferState::COMPLETE, pair.b.state(id));
	CPPUNIT_ASSERT_EQUAL(TransferState::COMPLETE, pair.a.state(id));
	CPPUNIT_ASSERT(readFile(pair.b.latest[id].localPath) == readFile(file));
	CPPUNIT_ASSERT_EQUAL(std::uint64_t(6), pair.b.service.stats().blocksVerified);
}


void TransferServiceTest::testBadRequestsRefused()
{
	Pair pair(_pTempDir->directory());
	const std::string file = writeSample(_pTempDir->directory(), "s.bin", 2 * BLOCK, 2);
	const std::string id = pair.a.service.sendFile(testId(0x77), file);
	pair.run();
	CPPUNIT_ASSERT_EQUAL(TransferState::OFFERED, pair.a.state(id));
	const TransferId transfer = TransferId::parse(id);
	// A request beyond the file, hashes outside it: refused, counted, the session goes on.
	BlockRequest request;
	request.id = transfer;
	request.round = 1;
	request.blocks = {0, 2};
	pair.sessionA->deliverMessage("file-get", TransferProtocol::getBody(request));
	pair.sessionA->deliverMessage("file-hashes-get", TransferProtocol::hashesGetBody(transfer, 1, 2));
	pair.sessionA->deliverMessage("file-hashes-get", TransferProtocol::hashesGetBody(transfer, 5, 1));
	CPPUNIT_ASSERT_EQUAL(std::uint64_t(3), pair.a.service.stats().inputRefused);
	CPPUNIT_ASSERT(pair.sessionA->dataSent().empty());
	CPPUNIT_ASSERT(!pair.sessionA->closed());
	// A request for a transfer Alice does not have is answered "unknown".
	request.id = TransferId::random();
	request.blocks = {0};
	pair.sessionA->deliverMessage("file-get", TransferProtocol::getBody(request));
	const auto cancels = pair.a.sent(pair.sessionA, "file-cancel");
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), cancels.size());
	CPPUNIT_ASSERT_EQUAL(request.id.toString(), cancels[0]->getValue<std::string>("id"));
	// A page of hashes that does not fit Bob's file is refused; the transfer still completes.
	pair.b.service.accept(id);
	HashPage page;
	page.id = transfer;
	page.first = 1;
	page.hashes.resize(1);
	pair.sessionB->deliverMessage("file-hashes", TransferProtocol::hashesBody(page));
	CPPUNIT_ASSERT_EQUAL(std::uint64_t(1), pair.b.service.stats().inputRefused);
	for (int i = 0; i < 100 && pair.b.state(id) != TransferState::COMPLETE; ++i) pair.run();
	CPPUNIT_ASSERT_EQUAL(TransferState::COMPLETE, pair.b.state(id));
	CPPUNIT_ASSERT(readFile(pair.b.latest[id].localPath) == readFile(file));
}


void TransferServiceTest::testWindowBoundsRequests()
{
	Pair pair(_pTempDir->directory());
	const std::string file = writeSample(_pTempDir->directory(), "w.bin", 100 * BLOCK, 3);
	pair.sessionA->setUnsent(Session::DRAIN_MARK + 1);
	const std::string id = pair.a.service.sendFile(testId(0x77), file);
	pair.run();
	pair.b.service.accept(id);
	pair.runFor(5s);
	// The initial window is 512 KiB: four blocks asked for, whatever the time, until data comes.
	std::size_t asked = 0;
	for (const auto& get: pair.b.sent(pair.sessionB, "file-get")) asked += get->getArray("blocks")->size();
	CPPUNIT_ASSERT_EQUAL(std::size_t(4), asked);
	CPPUNIT_ASSERT_EQUAL(std::size_t(0), pair.sessionA->dataSent().size());
	pair.sessionA->drain();
	for (int i = 0; i < 1000 && pair.b.state(id) != TransferState::COMPLETE; ++i) pair.run();
	CPPUNIT_ASSERT_EQUAL(TransferState::COMPLETE, pair.b.state(id));
	CPPUNIT_ASSERT_EQUAL(std::uint64_t(100), pair.b.service.stats().blocksVerified);
	CPPUNIT_ASSERT_EQUAL(std::uint64_t(100), pair.a.service.stats().blocksSent);
}


void TransferServiceTest::testPumpWaitsForDrain()
{
	Pair pair(_pTempDir->directory());
	const std::string file = writeSample(_pTempDir->directory(), "p.bin", 8 * BLOCK, 4);
	const std::string id = pair.a.service.sendFile(testId(0x77), file);
	pair.run();
	pair.sessionA->setUnsent(Session::DRAIN_MARK + 1);
	pair.b.service.accept(id);
	pair.run();
	CPPUNIT_ASSERT(pair.sessionA->dataSent().empty());   // above the drain mark: nothing more goes out
	// The connection drains: one turn writes at most PUMP_BUDGET (plus the chunk that crossed it).
	pair.sessionB->forwardTo(nullptr);   // hold Bob's requests: only what Alice has now
	pair.sessionA->forwardTo(nullptr);
	pair.sessionA->drain();
	std::size_t bytes = 0;
	for (const auto& data: pair.sessionA->dataSent()) bytes += data.second.size();
	CPPUNIT_ASSERT(bytes > 0);
	CPPUNIT_ASSERT(bytes <= TransferService::PUMP_BUDGET + TransferProtocol::DATA_HEADER_SIZE + TransferProtocol::CHUNK_SIZE);
	// Every frame carries at most one chunk, so a chat frame never waits behind more.
	for (const auto& data: pair.sessionA->dataSent())
	{
		CPPUNIT_ASSERT_EQUAL(SessionProtocol::FILE_DATA, data.first);
		CPPUNIT_ASSERT(data.second.size() <= TransferProtocol::DATA_HEADER_SIZE + TransferProtocol::CHUNK_SIZE);
	}
	// The rest follows on the next turn of the loop.
	const std::size_t frames = pair.sessionA->dataSent().size();
	pair.clock.advance(Scheduler::Duration::zero());
	CPPUNIT_ASSERT(pair.sessionA->dataSent().size() > frames);
}


void TransferServiceTest::testCorruptBlocksGiveUp()
{
	Pair pair(_pTempDir->directory());
	const std::string file = writeSample(_pTempDir->directory(), "c.bin", 3 * BLOCK, 5);
	// Every copy of block 1 is damaged on the way.
	pair.sessionA->dataHook = [](std::uint8_t, std::string& body) {
		const DataChunk chunk = TransferProtocol::parseData(body);
		if (chunk.header.block == 1 && chunk.header.offset == 0) body[TransferProtocol::DATA_HEADER_SIZE + 7] ^= 0x40;
	};
	const std::string id = pair.a.service.sendFile(testId(0x77), file);
	pair.run();
	pair.b.service.accept(id);
	for (int i = 0; i < 100 && pair.b.state(id) == TransferState::TRANSFERRING; ++i) pair.run();
	CPPUNIT_ASSERT_EQUAL(TransferState::FAILED, pair.b.state(id));
	CPPUNIT_ASSERT_EQUAL(std::uint64_t(IncomingTransfer::MAX_BLOCK_FAILURES), pair.b.service.stats().blocksCorrupt);
	CPPUNIT_ASSERT(pair.b.latest[id].error.find("block 1") != std::string::npos);
	pair.run();
	CPPUNIT_ASSERT_EQUAL(TransferState::FAILED, pair.a.state(id));
	CPPUNIT_ASSERT(!exists(pair.b.latest[id].localPath + ".part"));
}


void TransferServiceTest::testRoundsAfterNewSession()
{
	Pair pair(_pTempDir->directory());
	const std::string file = writeSample(_pTempDir->directory(), "r.bin", 40 * BLOCK + 1, 6);
	const std::string id = pair.a.service.sendFile(testId(0x77), file);
	pair.run();
	pair.b.service.accept(id);
	// Ten blocks go through (then Alice's connection stalls), then the session breaks.
	std::size_t chunks = 0;
	FakeSession* pSessionA = pair.sessionA.get();
	pair.sessionA->dataHook = [&chunks, pSessionA](std::uint8_t, std::string&) {
		if (++chunks == 10 * BLOCK / TransferProtocol::CHUNK_SIZE) pSessionA->setUnsent(Session::DRAIN_MARK + 1);
	};
	pair.run();
	const std::uint64_t before = pair.b.service.stats().blocksVerified;
	CPPUNIT_ASSERT_MESSAGE(std::to_string(before), before == 10);
	pair.sessionA->closeByPeer("path lost");
	pair.clock.runPending();
	CPPUNIT_ASSERT(!pair.b.side.peer->current());
	// A new session (a reconnect, or another path): both resume, nothing verified twice.
	pair.connect();
	for (int i = 0; i < 1000 && pair.b.state(id) != TransferState::COMPLETE; ++i) pair.run();
	CPPUNIT_ASSERT_EQUAL(TransferState::COMPLETE, pair.b.state(id));
	CPPUNIT_ASSERT_EQUAL(TransferState::COMPLETE, pair.a.state(id));
	CPPUNIT_ASSERT_EQUAL(std::uint64_t(41), pair.b.service.stats().blocksVerified);
	CPPUNIT_ASSERT(readFile(pair.b.latest[id].localPath) == readFile(file));
	// The second session's requests are of a newer round.
	const auto gets = pair.b.sent(pair.sessionB, "file-get");
	CPPUNIT_ASSERT(!gets.empty());
	CPPUNIT_ASSERT(gets[0]->getValue<Poco::Int64>("round") >= 2);
}


void TransferServiceTest::testDownloadMemoryShared()
{
	// Bob's downloads may hold four blocks in all; Alice offers five files of 30 blocks.
	const std::size_t limit = 4 * BLOCK;
	TransferConfig configB;
	configB.downloadMemory = limit;
	configB.maxPendingOffersPerPeer = 5;
	Pair pair(_pTempDir->directory(), TransferConfig(), configB);
	std::vector<std::string> files;
	std::vector<std::string> ids;
	for (unsigned i = 0; i < 5; ++i)
	{
		files.push_back(writeSample(_pTempDir->directory(), "m" + std::to_string(i) + ".bin", 30 * BLOCK, 20 + i));
		ids.push_back(pair.a.service.sendFile(testId(0x77), files.back()));
	}
	pair.run();
	// Every chunk Alice sends: Bob holds no more than the budget. After 20 blocks' worth of
	// chunks her connection stalls.
	bool exceeded = false;
	std::size_t chunks = 0;
	TransferService& bob = pair.b.service;
	auto watch = [&](const FakeSession::Ptr& session, bool stall) {
		FakeSession* pSession = session.get();
		session->dataHook = [&, pSession, stall](std::uint8_t, std::string&) {
			if (bob.downloadMemory() > limit) exceeded = true;
			if (stall && ++chunks == 20 * BLOCK / TransferProtocol::CHUNK_SIZE) pSession->setUnsent(Session::DRAIN_MARK + 1);
		};
	};
	watch(pair.sessionA, true);
	for (const std::string& id: ids) bob.accept(id);
	pair.run();
	CPPUNIT_ASSERT(!exceeded);
	// (Alice sends chunk by chunk in turn over the five, so some blocks are still partial.)
	const std::uint64_t verified = bob.stats().blocksVerified;
	CPPUNIT_ASSERT_MESSAGE(std::to_string(verified), verified >= 10 && verified <= 20);
	// The budget was shared: every download got blocks while the others had theirs in flight.
	for (const std::string& id: ids)
		CPPUNIT_ASSERT_MESSAGE(id, pair.b.latest[id].bytesDone > 0 && pair.b.state(id) == TransferState::TRANSFERRING);
	CPPUNIT_ASSERT(bob.stats().budgetWaits > 0);
	CPPUNIT_ASSERT(bob.downloadMemory() > 0 && bob.downloadMemory() <= limit);
	// A download cancelled gives its share back; so does a broken session (a new round).
	bob.cancel(ids[4]);
	pair.run();
	CPPUNIT_ASSERT(bob.downloadMemory() <= limit);
	pair.sessionA->closeByPeer("path lost");
	pair.run();
	CPPUNIT_ASSERT_EQUAL(std::size_t(0), bob.downloadMemory());
	// On a new session the four others all finish, within the budget.
	pair.connect();
	watch(pair.sessionA, false);
	for (int i = 0; i < 2000; ++i)
	{
		bool done = true;
		for (std::size_t k = 0; k < 4; ++k) done = done && pair.b.state(ids[k]) == TransferState::COMPLETE;
		if (done) break;
		pair.run();
	}
	CPPUNIT_ASSERT(!exceeded);
	for (std::size_t k = 0; k < 4; ++k)
	{
		CPPUNIT_ASSERT_EQUAL(TransferState::COMPLETE, pair.b.state(ids[k]));
		CPPUNIT_ASSERT(readFile(pair.b.latest[ids[k]].localPath) == readFile(files[k]));
	}
	CPPUNIT_ASSERT_EQUAL(TransferState::CANCELLED, pair.b.state(ids[4]));
	CPPUNIT_ASSERT_EQUAL(std::size_t(0), bob.downloadMemory());
	CPPUNIT_ASSERT(bob.stats().downloadMemoryPeak > 0 && bob.stats().downloadMemoryPeak <= limit);
	CPPUNIT_ASSERT_EQUAL(std::uint64_t(120), bob.stats().blocksVerified - pair.b.latest[ids[4]].bytesDone / BLOCK);
}


void TransferServiceTest::testGroupOffers()
{
	// Bob and Alice are not contacts; they share the group G (64 hex digits) and not H.
	const std::string g(64, 'a');
	const std::string h(64, 'b');
	Pair pair(_pTempDir->directory(), TransferConfig(), TransferConfig(), false);
	pair.b.node.groups.insert(g);

	// From a member of a group we are in: an offer like a contact's (not a request), marked.
	const TransferId shared = TransferId::random();
	pair.sessionB->deliverMessage("file-offer", offerFor("shared.txt", 100, shared, g));
	CPPUNIT_ASSERT_EQUAL(TransferState::OFFERED, pair.b.state(shared.toString()));
	CPPUNIT_ASSERT(!pair.b.latest[shared.toString()].request);
	CPPUNIT_ASSERT_EQUAL(g, pair.b.latest[shared.toString()].group);

	// The same sender's offer without the group is a stranger's: a request.
	const TransferId plain = TransferId::random();
	pair.sessionB->deliverMessage("file-offer", offerFor("plain.txt", 100, plain));
	CPPUNIT_ASSERT(pair.b.latest[plain.toString()].request);

	// Naming a group we do not share with the sender: refused "not_member", nothing kept.
	const TransferId foreign = TransferId::random();
	pair.sessionB->deliverMessage("file-offer", offerFor("foreign.txt", 100, foreign, h));
	CPPUNIT_ASSERT(pair.b.latest.count(foreign.toString()) == 0);
	CPPUNIT_ASSERT_EQUAL(std::string("not_member"), pair.b.sent(pair.sessionB, "file-cancel").back()->getValue<std::string>("code"));
	CPPUNIT_ASSERT_EQUAL(std::uint64_t(1), pair.b.service.stats().offersRefused);

	// The sender's auto-accept setting applies to its group offers.
	pair.b.service.setAutoAccept(testId(0x11), 1000);
	const TransferId automatic = TransferId::random();
	pair.sessionB->deliverMessage("file-offer", offerFor("auto.txt", 100, automatic, g));
	CPPUNIT_ASSERT(pair.b.state(automatic.toString()) != TransferState::OFFERED);   // accepted without asking
	CPPUNIT_ASSERT(!pair.b.latest[automatic.toString()].localPath.empty());
	const TransferId large = TransferId::random();
	pair.sessionB->deliverMessage("file-offer", offerFor("large.txt", 1001, large, g));
	CPPUNIT_ASSERT_EQUAL(TransferState::OFFERED, pair.b.state(large.toString()));

	// Once the sender is out of the group (or we are), its group offers are refused.
	pair.b.node.groups.clear();
	const TransferId late = TransferId::random();
	pair.sessionB->deliverMessage("file-offer", offerFor("late.txt", 100, late, g));
	CPPUNIT_ASSERT(pair.b.latest.count(late.toString()) == 0);
	CPPUNIT_ASSERT_EQUAL(std::string("not_member"), pair.b.sent(pair.sessionB, "file-cancel").back()->getValue<std::string>("code"));
}


void TransferServiceTest::testGroupShareHashedOnce()
{
	const std::string g(64, 'c');
	Pair pair(_pTempDir->directory());
	pair.b.node.groups.insert(g);
	const std::string file = writeSample(_pTempDir->directory(), "shared.bin", 300 * 1024, 5);
	CPPUNIT_ASSERT_THROW(pair.a.service.shareFile({}, file, g), Poco::InvalidArgumentException);
	CPPUNIT_ASSERT_THROW(pair.a.service.shareFile({testId(0x77)}, path("missing"), g), Poco::FileNotFoundException);
	// Bob (connected) and a member who is not: one reading of the file, two offers.
	const std::vector<std::string> ids = pair.a.service.shareFile({testId(0x77), testId(0x99)}, file, g);
	CPPUNIT_ASSERT_EQUAL(std::size_t(2), ids.size());
	pair.run();
	CPPUNIT_ASSERT_EQUAL(std::uint64_t(1), pair.a.service.stats().filesHashed);
	CPPUNIT_ASSERT_EQUAL(TransferState::OFFERED, pair.a.state(ids[0]));
	CPPUNIT_ASSERT_EQUAL(TransferState::OFFERED, pair.a.state(ids[1]));
	CPPUNIT_ASSERT(pair.a.latest[ids[0]].sha256 == pair.a.latest[ids[1]].sha256);
	CPPUNIT_ASSERT_EQUAL(g, pair.a.latest[ids[1]].group);
	// Only Bob's session carried an offer, marked with the group; he sees it as the group's.
	const auto offers = pair.a.sent(pair.sessionA, "file-offer");
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), offers.size());
	CPPUNIT_ASSERT_EQUAL(g, offers[0]->getValue<std::string>("group"));
	CPPUNIT_ASSERT_EQUAL(TransferState::OFFERED, pair.b.state(ids[0]));
	CPPUNIT_ASSERT_EQUAL(g, pair.b.latest[ids[0]].group);
	// He takes it and it arrives whole; the other member's offer still waits for it to connect.
	pair.b.service.accept(ids[0]);
	for (int i = 0; i < 1000 && pair.b.state(ids[0]) != TransferState::COMPLETE; ++i) pair.run();
	CPPUNIT_ASSERT_EQUAL(TransferState::COMPLETE, pair.b.state(ids[0]));
	CPPUNIT_ASSERT_EQUAL(TransferState::COMPLETE, pair.a.state(ids[0]));
	CPPUNIT_ASSERT(readFile(pair.b.latest[ids[0]].localPath) == readFile(file));
	CPPUNIT_ASSERT_EQUAL(TransferState::OFFERED, pair.a.state(ids[1]));
	// Cancelled before its reading ends, a share reads no further than needed: both end.
	const std::vector<std::string> dropped = pair.a.service.shareFile({testId(0x77), testId(0x99)}, file, g);
	pair.a.service.cancel(dropped[0]);
	pair.a.service.cancel(dropped[1]);
	pair.run();
	CPPUNIT_ASSERT_EQUAL(TransferState::CANCELLED, pair.a.state(dropped[0]));
	CPPUNIT_ASSERT_EQUAL(TransferState::CANCELLED, pair.a.state(dropped[1]));
}
