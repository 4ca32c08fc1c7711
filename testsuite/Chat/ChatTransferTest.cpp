//
// ChatTransferTest.cpp
//
// testsuite: file transfers between ChatNodes over loopback: real sessions, real files, real
// stores. All nodes share one EventLoop in the test thread (the FileWorkers have their own
// threads). Tests wait for events (runUntil); the limits only turn a hang into a failure.
//


#include "ChatTransferTest.h"
#include "../TestSupport.h"
#include "CrossChat/Chat/ChatNode.h"
#include "CrossChat/Chat/ChatStore.h"
#include "CrossChat/EventLoop.h"
#include "CrossChat/Identity.h"
#include "CrossChat/TcpConnection.h"
#include "CrossChat/TcpListener.h"
#include "Poco/Exception.h"
#include "Poco/File.h"
#include "Poco/Path.h"
#include <cstdio>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <sys/stat.h>
#include <vector>


using namespace CrossChat;
using namespace CrossChat::Chat;
using namespace std::chrono_literals;


using CrossChat::Test::runUntil;


namespace {


std::string randomBytes(std::size_t size, unsigned seed)
{
	std::mt19937 generator(seed);
	std::string bytes(size, '\0');
	for (char& c: bytes) c = static_cast<char>(generator() & 0xFF);
	return bytes;
}


void writeFile(const std::string& path, const std::string& contents)
{
	std::ofstream out(path, std::ios::binary | std::ios::trunc);
	out << contents;
	out.close();
	CPPUNIT_ASSERT(out.good());
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


std::vector<std::string> filesIn(const std::string& directory)
{
	std::vector<std::string> names;
	if (!Poco::File(directory).exists()) return names;
	Poco::File(directory).list(names);
	std::sort(names.begin(), names.end());
	return names;
}


class Node
	/// One ChatNode with its identity, configuration and what its transfer handler reported.
{
public:
	Node(EventLoop& loop, const std::string& name, const std::string& dir, bool withStore):
		_loop(loop),
		_identity(Identity::generate())
	{
		config.name = name;
		config.listenAddress = Poco::Net::SocketAddress("127.0.0.1", 0);
		config.enableLan = false;
		config.portMapping = false;
		config.reconnectMin = 20ms;
		config.reconnectMax = 200ms;
		config.connectTimeout = 2000ms;
		config.transfers.downloadDirectory = Poco::Path(dir).append(name + "-downloads").toString();
		config.transfers.minFreeSpace = 0;
		config.transfers.progressInterval = 0ms;
		if (withStore) config.databasePath = Poco::Path(dir).append(name + ".db").toString();
	}

	~Node()
	{
		stop();
	}

	void start()
	{
		node = std::make_unique<ChatNode>(_loop, _identity, config);
		node->setTransferHandler([this](const TransferInfo& info, bool progressOnly) {
			latest[info.id] = info;
			if (!progressOnly) states[info.id].push_back(info.state);
			else ++progressReports;
		});
		node->setMessageHandler([this](const ChatMessage& message) { messages.push_back(message); });
		node->start();
	}

	void stop()
	{
		if (node) node->stop();
		node.reset();
	}

	ChatNode& operator*()
	{
		return *node;
	}

	ChatNode* operator->()
	{
		return node.get();
	}

	const PeerId& id() const
	{
		return _identity.peerId();
	}

	TransferState state(const std::string& id) const
	{
		auto it = latest.find(id);
		return it == latest.end() ? TransferState::PREPARING : it->second.state;
	}

	bool saw(const std::string& id, TransferState state) const
	{
		auto it = states.find(id);
		return it != states.end() && std::find(it->second.begin(), it->second.end(), state) != it->second.end();
	}

	std::string offered() const
		/// The ID of the last incoming transfer reported.
	{
		std::string id;
		for (const auto& entry: latest)
			if (entry.second.direction == TransferDirection::INCOMING && entry.second.state == TransferState::OFFERED) id = entry.first;
		return id;
	}

	ChatNodeConfig config;
	std::unique_ptr<ChatNode> node;
	std::map<std::string, TransferInfo> latest;
	std::map<std::string, std::vector<TransferState>> states;
	std::vector<ChatMessage> messages;
	std::size_t progressReports = 0;

private:
	EventLoop& _loop;
	Identity _identity;
};


class CutProxy
	/// A TCP forwarder on the loop whose connections the test can cut (a broken path).
{
public:
	CutProxy(EventLoop& loop, const Poco::Net::SocketAddress& target):
		_loop(loop),
		_target(target),
		_listener(loop, Poco::Net::SocketAddress("127.0.0.1", 0), [this](const Poco::Net::StreamSocket& socket) { accept(socket); })
	{
	}

	~CutProxy()
	{
		cut();
	}

	Poco::Net::SocketAddress address() const
	{
		return _listener.address();
	}

	void cut()
	{
		for (auto& pair: _pairs)
		{
			pair.first->abort("cut by the test");
			pair.second->abort("cut by the test");
		}
		_pairs.clear();
		++cuts;
	}

	std::size_t accepted = 0;
	std::size_t cuts = 0;

private:
	void accept(const Poco::Net::StreamSocket& socket)
	{
		++accepted;
		TcpConnection::Ptr inside = TcpConnection::adopt(_loop, socket);
		TcpConnection::Ptr outside = TcpConnection::connect(_loop, _target, 2000ms);
		std::weak_ptr<TcpConnection> weakIn = inside;
		std::weak_ptr<TcpConnection> weakOut = outside;
		inside->setDataHandler([weakOut](const char* data, std::size_t size) {
			if (auto out = weakOut.lock()) out->send(data, size);
		});
		outside->setDataHandler([weakIn](const char* data, std::size_t size) {
			if (auto in = weakIn.lock()) in->send(data, size);
		});
		inside->setCloseHandler([weakOut](const std::string& reason) {
			if (auto out = weakOut.lock()) out->abort(reason.empty() ? "closed" : reason);
		});
		outside->setCloseHandler([weakIn](const std::string& reason) {
			if (auto in = weakIn.lock()) in->abort(reason.empty() ? "closed" : reason);
		});
		_pairs.emplace_back(inside, outside);
	}

	EventLoop& _loop;
	const Poco::Net::SocketAddress _target;
	TcpListener _listener;
	std::vector<std::pair<TcpConnection::Ptr, TcpConnection::Ptr>> _pairs;
};


void connectPair(Node& a, Node& b)
{
	a->addPeerAddress(b.id(), Poco::Net::SocketAddress("127.0.0.1", b->port()));
	b->addPeerAddress(a.id(), Poco::Net::SocketAddress("127.0.0.1", a->port()));
}


std::size_t blocksOf(std::uint64_t size)
{
	const std::uint64_t blockSize = 128 * 1024;
	return static_cast<std::size_t>((size + blockSize - 1) / blockSize);
}


} // namespace


void ChatTransferTest::setUp()
{
	_pTempDir = std::make_unique<CrossChat::Test::TempDirectory>();
}


void ChatTransferTest::tearDown()
{
	_pTempDir.reset();
}


std::string ChatTransferTest::path(const std::string& name) const
{
	return _pTempDir->path(name);
}


void ChatTransferTest::testOfferAcceptVerify()
{
	EventLoop loop;
	Node a(loop, "alice", _pTempDir->directory(), false);
	Node b(loop, "bob", _pTempDir->directory(), false);
	a.start();
	b.start();
	connectPair(a, b);
	const std::string contents = randomBytes(3 * 1024 * 1024 + 12345, 1);
	writeFile(path("report.bin"), contents);

	const std::string id = a->sendFile(b.id(), path("report.bin"));
	CPPUNIT_ASSERT_EQUAL(std::size_t(32), id.size());
	// Bob is offered the file by a peer he never chose: a request.
	CPPUNIT_ASSERT(runUntil(loop, [&] { return b.state(id) == TransferState::OFFERED; }));
	const TransferInfo offer = b.latest[id];
	CPPUNIT_ASSERT(offer.request);
	CPPUNIT_ASSERT_EQUAL(std::string("report.bin"), offer.name);
	CPPUNIT_ASSERT_EQUAL(std::uint64_t(contents.size()), offer.size);
	CPPUNIT_ASSERT_EQUAL(std::size_t(64), offer.sha256.size());
	CPPUNIT_ASSERT(offer.peer == a.id());
	CPPUNIT_ASSERT_EQUAL(TransferState::OFFERED, a.state(id));
	CPPUNIT_ASSERT(filesIn(b.config.transfers.downloadDirectory).empty());   // nothing on disk before the answer

	// A prefix finds it; accepting makes Alice a contact.
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), b->findTransfers(id.substr(0, 6)).size());
	b->acceptFile(id);
	CPPUNIT_ASSERT(b->peer(a.id())->relation == Relation::CONTACT);
	CPPUNIT_ASSERT(runUntil(loop, [&] { return b.state(id) == TransferState::COMPLETE && a.state(id) == TransferState::COMPLETE; }));

	const std::string saved = b.latest[id].localPath;
	CPPUNIT_ASSERT_EQUAL(Poco::Path(b.config.transfers.downloadDirectory).append("report.bin").toString(), saved);
	CPPUNIT_ASSERT(readFile(saved) == contents);
	struct stat st;
	CPPUNIT_ASSERT_EQUAL(0, ::stat(saved.c_str(), &st));
	CPPUNIT_ASSERT_EQUAL(mode_t(0600), st.st_mode & 07777);
	CPPUNIT_ASSERT(!exists(saved + ".part"));
	struct stat dir;
	CPPUNIT_ASSERT_EQUAL(0, ::stat(b.config.transfers.downloadDirectory.c_str(), &dir));
	CPPUNIT_ASSERT_EQUAL(mode_t(0700), dir.st_mode & 07777);
	CPPUNIT_ASSERT(b.saw(id, TransferState::TRANSFERRING));
	CPPUNIT_ASSERT(b.saw(id, TransferState::VERIFYING));
	CPPUNIT_ASSERT(a.saw(id, TransferState::PREPARING));
	CPPUNIT_ASSERT(a.saw(id, TransferState::TRANSFERRING));
	CPPUNIT_ASSERT_EQUAL(std::uint64_t(blocksOf(contents.size())), b->transferStats().blocksVerified);
	CPPUNIT_ASSERT_EQUAL(std::uint64_t(0), b->transferStats().blocksCorrupt);
	CPPUNIT_ASSERT_EQUAL(std::uint64_t(blocksOf(contents.size())), a->transferStats().blocksSent);
	CPPUNIT_ASSERT_EQUAL(std::uint64_t(contents.size()), b.latest[id].bytesDone);
	CPPUNIT_ASSERT(b.progressReports > 0);
	// Both sides list it.
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), a->transfers().size());
	CPPUNIT_ASSERT_EQUAL(TransferDirection::OUTGOING, a->transfers()[0].direction);
	// Accepting again is an error, not a second download.
	CPPUNIT_ASSERT_THROW(b->acceptFile(id), Poco::IllegalStateException);
	CPPUNIT_ASSERT_THROW(b->acceptFile("0123456789abcdef0123456789abcdef"), Poco::NotFoundException);
}


void ChatTransferTest::testEmptyAndOddSizes()
{
	EventLoop loop;
	Node a(loop, "alice", _pTempDir->directory(), false);
	Node b(loop, "bob", _pTempDir->directory(), false);
	a.start();
	b.start();
	connectPair(a, b);
	b->accept(a.id());
	b->setAutoAccept(a.id(), 1ull << 30);
	const std::vector<std::size_t> sizes = {0, 1, 128 * 1024 - 1, 128 * 1024, 128 * 1024 + 1, 700 * 1024};
	std::vector<std::string> ids;
	for (std::size_t i = 0; i < sizes.size(); ++i)
	{
		writeFile(path("f" + std::to_string(i)), randomBytes(sizes[i], static_cast<unsigned>(i + 10)));
		ids.push_back(a->sendFile(b.id(), path("f" + std::to_string(i))));
	}
	CPPUNIT_ASSERT(runUntil(loop, [&] {
		for (const std::string& id: ids)
			if (b.state(id) != TransferState::COMPLETE || a.state(id) != TransferState::COMPLETE) return false;
		return true;
	}));
	for (std::size_t i = 0; i < sizes.size(); ++i)
	{
		const std::string saved = b.latest[ids[i]].localPath;
		CPPUNIT_ASSERT_EQUAL(Poco::Path(b.config.transfers.downloadDirectory).append("f" + std::to_string(i)).toString(), saved);
		CPPUNIT_ASSERT(readFile(saved) == readFile(path("f" + std::to_string(i))));
		CPPUNIT_ASSERT(!b.latest[ids[i]].request);   // from a contact
	}
}


void ChatTransferTest::testCorruptBlockFetchedAgain()
{
	EventLoop loop;
	Node a(loop, "alice", _pTempDir->directory(), false);
	Node b(loop, "bob", _pTempDir->directory(), false);
	a.config.transfers.testCorruptBlock = 2;   // the test hook: one bit of block 2 flipped on the wire, once
	a.start();
	b.start();
	connectPair(a, b);
	const std::string contents = randomBytes(5 * 128 * 1024 + 77, 2);
	writeFile(path("data.bin"), contents);
	const std::string id = a->sendFile(b.id(), path("data.bin"));
	CPPUNIT_ASSERT(runUntil(loop, [&] { return b.state(id) == TransferState::OFFERED; }));
	b->acceptFile(id);
	CPPUNIT_ASSERT(runUntil(loop, [&] { return b.state(id) == TransferState::COMPLETE; }));
	CPPUNIT_ASSERT(readFile(b.latest[id].localPath) == contents);
	CPPUNIT_ASSERT_EQUAL(std::uint64_t(1), b->transferStats().blocksCorrupt);
	CPPUNIT_ASSERT_EQUAL(std::uint64_t(6), b->transferStats().blocksVerified);
	CPPUNIT_ASSERT_EQUAL(std::uint64_t(7), a->transferStats().blocksSent);   // block 2 twice
}


void ChatTransferTest::testRejectAndLimits()
{
	EventLoop loop;
	Node a(loop, "alice", _pTempDir->directory(), false);
	Node b(loop, "bob", _pTempDir->directory(), false);
	b.config.transfers.maxFileSize = 1000;
	b.config.transfers.maxPendingOffersPerPeer = 2;
	a.start();
	b.start();
	connectPair(a, b);
	writeFile(path("small"), "small file");
	writeFile(path("large"), std::string(1001, 'x'));

	// Declined by the user.
	const std::string declined = a->sendFile(b.id(), path("small"));
	CPPUNIT_ASSERT(runUntil(loop, [&] { return b.state(declined) == TransferState::OFFERED; }));
	b->rejectFile(declined);
	CPPUNIT_ASSERT(runUntil(loop, [&] { return a.state(declined) == TransferState::REJECTED; }));
	CPPUNIT_ASSERT(a.latest[declined].error.find("rejected") != std::string::npos);

	// Over the size cap: refused without asking.
	const std::string large = a->sendFile(b.id(), path("large"));
	CPPUNIT_ASSERT(runUntil(loop, [&] { return a.state(large) == TransferState::REJECTED; }));
	CPPUNIT_ASSERT(a.latest[large].error.find("too_large") != std::string::npos);
	CPPUNIT_ASSERT(b.latest.count(large) == 0);

	// Two offers may wait from one peer; the third is refused "busy".
	const std::string first = a->sendFile(b.id(), path("small"));
	const std::string second = a->sendFile(b.id(), path("small"));
	CPPUNIT_ASSERT(runUntil(loop, [&] { return b.state(first) == TransferState::OFFERED && b.state(second) == TransferState::OFFERED; }));
	const std::string third = a->sendFile(b.id(), path("small"));
	CPPUNIT_ASSERT(runUntil(loop, [&] { return a.state(third) == TransferState::REJECTED; }));
	CPPUNIT_ASSERT(a.latest[third].error.find("busy") != std::string::npos);
	CPPUNIT_ASSERT_EQUAL(std::uint64_t(2), b->transferStats().offersRefused);
	CPPUNIT_ASSERT(filesIn(b.config.transfers.downloadDirectory).empty());

	// Blocked: the sender may not even offer (and what waits ends).
	a->block(b.id());
	CPPUNIT_ASSERT_THROW(a->sendFile(b.id(), path("small")), Poco::InvalidArgumentException);
	CPPUNIT_ASSERT_THROW(a->sendFile(a.id(), path("small")), Poco::InvalidArgumentException);
	CPPUNIT_ASSERT_THROW(b->sendFile(a.id(), path("no such file")), Poco::FileNotFoundException);
	CPPUNIT_ASSERT_THROW(b->sendFile(a.id(), _pTempDir->directory()), Poco::FileException);
	CPPUNIT_ASSERT(runUntil(loop, [&] { return a.state(first) == TransferState::CANCELLED && a.state(second) == TransferState::CANCELLED; }));
}


void ChatTransferTest::testCancelMidway()
{
	EventLoop loop;
	Node a(loop, "alice", _pTempDir->directory(), false);
	Node b(loop, "bob", _pTempDir->directory(), false);
	a.start();
	b.start();
	connectPair(a, b);
	const std::string contents = randomBytes(48 * 1024 * 1024, 3);
	writeFile(path("big.bin"), contents);
	const std::string id = a->sendFile(b.id(), path("big.bin"));
	CPPUNIT_ASSERT(runUntil(loop, [&] { return b.state(id) == TransferState::OFFERED; }));
	b->acceptFile(id);
	CPPUNIT_ASSERT(runUntil(loop, [&] { return b.latest[id].bytesDone > 0; }));
	const std::string saved = b.latest[id].localPath;
	CPPUNIT_ASSERT(exists(saved + ".part"));
	a->cancelFile(id);
	CPPUNIT_ASSERT(runUntil(loop, [&] { return b.state(id) == TransferState::CANCELLED; }));
	CPPUNIT_ASSERT_EQUAL(TransferState::CANCELLED, a.state(id));
	// The partial download is gone (the writer deletes it after what it had queued).
	CPPUNIT_ASSERT(runUntil(loop, [&] { return !exists(saved + ".part"); }));
	CPPUNIT_ASSERT(!exists(saved));
	CPPUNIT_ASSERT_THROW(a->cancelFile(id), Poco::NotFoundException);
}


void ChatTransferTest::testReceiverRestartResumes()
{
	EventLoop loop;
	Node a(loop, "alice", _pTempDir->directory(), true);
	Node b(loop, "bob", _pTempDir->directory(), true);
	b.config.transfers.targetDelay = 1ms;   // a small window: the transfer is still running when Bob stops
	a.start();
	b.start();
	connectPair(a, b);
	const std::string contents = randomBytes(64 * 1024 * 1024 + 5, 4);
	writeFile(path("movie.bin"), contents);
	const std::string id = a->sendFile(b.id(), path("movie.bin"));
	CPPUNIT_ASSERT(runUntil(loop, [&] { return b.state(id) == TransferState::OFFERED; }));
	b->acceptFile(id);
	const std::uint64_t total = blocksOf(contents.size());
	CPPUNIT_ASSERT(runUntil(loop, [&] { return b->transferStats().blocksVerified >= total / 4; }));
	CPPUNIT_ASSERT(b.state(id) == TransferState::TRANSFERRING);
	b.stop();   // a clean stop: what was written is recorded
	{
		// The store has the progress: every recorded block is on disk.
		ChatStore store(loop);
		store.open(b.config.databasePath);
		const auto active = store.activeTransfers();
		CPPUNIT_ASSERT_EQUAL(std::size_t(1), active.size());
		CPPUNIT_ASSERT_EQUAL(TransferDirection::INCOMING, active[0].direction);
		CPPUNIT_ASSERT_EQUAL(std::size_t(total * 32), active[0].hashes.size());
		std::size_t have = 0;
		for (char byte: active[0].have)
			for (int bit = 0; bit < 8; ++bit) have += (static_cast<unsigned char>(byte) >> bit) & 1;
		CPPUNIT_ASSERT(have >= total / 4);
		CPPUNIT_ASSERT(have < total);
	}
	b.latest.clear();
	b.start();
	CPPUNIT_ASSERT_EQUAL(std::uint64_t(1), b->transferStats().resumed);
	b->addPeerAddress(a.id(), Poco::Net::SocketAddress("127.0.0.1", a->port()));
	a->addPeerAddress(b.id(), Poco::Net::SocketAddress("127.0.0.1", b->port()));
	CPPUNIT_ASSERT(runUntil(loop, [&] { return b.state(id) == TransferState::COMPLETE && a.state(id) == TransferState::COMPLETE; }, 60s));
	CPPUNIT_ASSERT(readFile(b.latest[id].localPath) == contents);
	// Verified blocks were kept: the second run fetched only the rest.
	CPPUNIT_ASSERT(b->transferStats().blocksVerified < total);
	CPPUNIT_ASSERT(b->transferStats().blocksVerified > 0);
}


void ChatTransferTest::testSenderRestartResumes()
{
	EventLoop loop;
	Node a(loop, "alice", _pTempDir->directory(), true);
	Node b(loop, "bob", _pTempDir->directory(), true);
	b.config.transfers.targetDelay = 1ms;
	a.start();
	b.start();
	connectPair(a, b);
	const std::string contents = randomBytes(40 * 1024 * 1024 + 999, 5);
	writeFile(path("archive.tar"), contents);
	const std::string id = a->sendFile(b.id(), path("archive.tar"));
	CPPUNIT_ASSERT(runUntil(loop, [&] { return b.state(id) == TransferState::OFFERED; }));
	b->acceptFile(id);
	const std::uint64_t total = blocksOf(contents.size());
	CPPUNIT_ASSERT(runUntil(loop, [&] { return b->transferStats().blocksVerified >= total / 4; }));
	a.stop();
	a.start();
	CPPUNIT_ASSERT_EQUAL(std::uint64_t(1), a->transferStats().resumed);
	a->addPeerAddress(b.id(), Poco::Net::SocketAddress("127.0.0.1", b->port()));
	b->addPeerAddress(a.id(), Poco::Net::SocketAddress("127.0.0.1", a->port()));
	CPPUNIT_ASSERT(runUntil(loop, [&] { return b.state(id) == TransferState::COMPLETE && a.state(id) == TransferState::COMPLETE; }, 60s));
	CPPUNIT_ASSERT(readFile(b.latest[id].localPath) == contents);
	CPPUNIT_ASSERT_EQUAL(total, b->transferStats().blocksVerified);   // no block twice
	CPPUNIT_ASSERT(a->transferStats().blocksSent < total);            // the restarted sender sent the rest only
}


void ChatTransferTest::testReconnectResumes()
{
	EventLoop loop;
	Node a(loop, "alice", _pTempDir->directory(), false);
	Node b(loop, "bob", _pTempDir->directory(), false);
	b.config.transfers.targetDelay = 1ms;
	a.start();
	b.start();
	CutProxy proxy(loop, Poco::Net::SocketAddress("127.0.0.1", b->port()));
	a->addPeerAddress(b.id(), proxy.address());   // only Alice dials, through the proxy
	const std::string contents = randomBytes(40 * 1024 * 1024 + 3, 6);
	writeFile(path("disk.img"), contents);
	const std::string id = a->sendFile(b.id(), path("disk.img"));
	CPPUNIT_ASSERT(runUntil(loop, [&] { return b.state(id) == TransferState::OFFERED; }));
	b->acceptFile(id);
	const std::uint64_t total = blocksOf(contents.size());
	CPPUNIT_ASSERT(runUntil(loop, [&] { return b->transferStats().blocksVerified >= total / 3; }));
	proxy.cut();   // the path breaks mid-transfer; Alice's transfer makes her dial again
	CPPUNIT_ASSERT(runUntil(loop, [&] { return b.state(id) == TransferState::COMPLETE && a.state(id) == TransferState::COMPLETE; }, 60s));
	CPPUNIT_ASSERT(proxy.accepted >= 2);
	CPPUNIT_ASSERT(readFile(b.latest[id].localPath) == contents);
	CPPUNIT_ASSERT_EQUAL(total, b->transferStats().blocksVerified);   // verified blocks kept, none fetched twice
}


void ChatTransferTest::testChatDuringTransfer()
{
	EventLoop loop;
	Node a(loop, "alice", _pTempDir->directory(), false);
	Node b(loop, "bob", _pTempDir->directory(), false);
	a.start();
	b.start();
	connectPair(a, b);
	b->accept(a.id());
	b->setAutoAccept(a.id(), 1ull << 30);
	const std::string contents = randomBytes(64 * 1024 * 1024, 7);
	writeFile(path("big.bin"), contents);
	const std::string id = a->sendFile(b.id(), path("big.bin"));
	CPPUNIT_ASSERT(runUntil(loop, [&] { return b.latest[id].bytesDone > 0; }));
	// Messages both ways while the data flows, each delivered while the transfer still runs.
	std::size_t sent = 0;
	while (b.state(id) == TransferState::TRANSFERRING && sent < 20)
	{
		a->send(b.id(), "during " + std::to_string(sent));
		b->send(a.id(), "reply " + std::to_string(sent));
		++sent;
		const std::size_t expected = sent;
		CPPUNIT_ASSERT(runUntil(loop, [&] { return b.messages.size() == expected && a.messages.size() == expected; }));
	}
	CPPUNIT_ASSERT(sent > 0);
	CPPUNIT_ASSERT(runUntil(loop, [&] { return b.state(id) == TransferState::COMPLETE; }, 60s));
	for (std::size_t i = 0; i < sent; ++i) CPPUNIT_ASSERT_EQUAL("during " + std::to_string(i), b.messages[i].text);
	CPPUNIT_ASSERT(readFile(b.latest[id].localPath) == contents);
}


void ChatTransferTest::testAutoAccept()
{
	EventLoop loop;
	Node a(loop, "alice", _pTempDir->directory(), true);
	Node b(loop, "bob", _pTempDir->directory(), true);
	a.start();
	b.start();
	connectPair(a, b);
	writeFile(path("small"), randomBytes(1000, 8));
	writeFile(path("bigger"), randomBytes(3000, 9));
	b->setAutoAccept(a.id(), 2000);
	CPPUNIT_ASSERT_EQUAL(std::uint64_t(2000), b->autoAccept(a.id()));
	CPPUNIT_ASSERT(b->peer(a.id())->relation == Relation::CONTACT);
	const std::string small = a->sendFile(b.id(), path("small"));
	const std::string bigger = a->sendFile(b.id(), path("bigger"));
	CPPUNIT_ASSERT(runUntil(loop, [&] { return b.state(small) == TransferState::COMPLETE && b.state(bigger) == TransferState::OFFERED; }));
	b->setAutoAccept(a.id(), 0);
	CPPUNIT_ASSERT_EQUAL(std::uint64_t(0), b->autoAccept(a.id()));
	// A stranger's offer is never accepted without asking.
	Node c(loop, "carol", _pTempDir->directory(), false);
	c.start();
	c->addPeerAddress(b.id(), Poco::Net::SocketAddress("127.0.0.1", b->port()));
	const std::string fromStranger = c->sendFile(b.id(), path("small"));
	CPPUNIT_ASSERT(runUntil(loop, [&] { return b.state(fromStranger) == TransferState::OFFERED; }));
	CPPUNIT_ASSERT(b.latest[fromStranger].request);
}


void ChatTransferTest::testChangedFileFails()
{
	EventLoop loop;
	Node a(loop, "alice", _pTempDir->directory(), false);
	Node b(loop, "bob", _pTempDir->directory(), false);
	a.start();
	b.start();
	connectPair(a, b);
	writeFile(path("draft.txt"), randomBytes(400 * 1024, 11));
	const std::string id = a->sendFile(b.id(), path("draft.txt"));
	CPPUNIT_ASSERT(runUntil(loop, [&] { return b.state(id) == TransferState::OFFERED; }));
	writeFile(path("draft.txt"), randomBytes(300 * 1024, 12));   // edited after it was offered
	b->acceptFile(id);
	CPPUNIT_ASSERT(runUntil(loop, [&] { return a.state(id) == TransferState::FAILED && b.state(id) == TransferState::FAILED; }));
	CPPUNIT_ASSERT(a.latest[id].error.find("changed") != std::string::npos);
	CPPUNIT_ASSERT(runUntil(loop, [&] { return filesIn(b.config.transfers.downloadDirectory).empty(); }));
}


void ChatTransferTest::testNeverOverwrites()
{
	EventLoop loop;
	Node a(loop, "alice", _pTempDir->directory(), false);
	Node b(loop, "bob", _pTempDir->directory(), false);
	a.start();
	b.start();
	connectPair(a, b);
	b->accept(a.id());
	b->setAutoAccept(a.id(), 1ull << 20);
	Poco::File(b.config.transfers.downloadDirectory).createDirectories();
	CPPUNIT_ASSERT_EQUAL(0, ::chmod(b.config.transfers.downloadDirectory.c_str(), 0700));
	const std::string existing = Poco::Path(b.config.transfers.downloadDirectory).append("notes.txt").toString();
	writeFile(existing, "mine, not to be overwritten");
	const std::string hidden = path(".notes.txt");
	writeFile(hidden, "from alice");
	// The dot file is offered as ".notes.txt": it lands as "notes (1).txt", visible, beside Bob's own.
	const std::string id = a->sendFile(b.id(), hidden);
	CPPUNIT_ASSERT(runUntil(loop, [&] { return b.state(id) == TransferState::COMPLETE; }));
	CPPUNIT_ASSERT_EQUAL(std::string("mine, not to be overwritten"), readFile(existing));
	CPPUNIT_ASSERT_EQUAL(Poco::Path(b.config.transfers.downloadDirectory).append("notes (1).txt").toString(), b.latest[id].localPath);
	CPPUNIT_ASSERT_EQUAL(std::string("from alice"), readFile(b.latest[id].localPath));
	const std::string again = a->sendFile(b.id(), hidden);
	CPPUNIT_ASSERT(runUntil(loop, [&] { return b.state(again) == TransferState::COMPLETE; }));
	CPPUNIT_ASSERT_EQUAL(Poco::Path(b.config.transfers.downloadDirectory).append("notes (2).txt").toString(), b.latest[again].localPath);
}
