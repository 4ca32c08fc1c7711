//
// SessionBenchmark.cpp
//
// testsuite: CrossChat's pinned TLS 1.3 session (TcpConnection + TlsChannel on EventLoops)
// against raw OpenSSL TLS 1.3 (blocking sockets, RawTls.h) and against plain TCP with the
// same framing, side by side in one run, with both ends pinned to CPUs:
//   - setup: connect + mutual TLS 1.3 handshake with key pinning, until the server's first
//     frame arrives (so the server's verification of the client is included)
//   - round trip of a 100-byte frame (p50, p99)
//   - 100-byte messages per second, sent in batches of B frames: ours calls send() B times in
//     one loop iteration, raw OpenSSL copies the B frames into one buffer and writes it with one
//     SSL_write (the same copy per message that ours makes into the channel's queue)
//   - bulk MB/s in 64 KiB frames, with backpressure
//   - chat: 100-byte texts with ids and receipts between two ChatSessions (Chat/src): the sender
//     calls sendText() B times per loop iteration, the receiver answers each text with
//     sendReceipt(), timed until the sender has every receipt; binary frames (cap text-bin/1)
//     and JSON (both sessions without the cap). Raw OpenSSL sends the same text-bin frames, B
//     per SSL_write; its server answers each read with one receipts frame (no validation).
// Every measurement is repeated (--rounds, default 3) alternating ours and the baseline, and
// the median of the rounds is reported. Both placements are measured and reported separately:
// "one CPU" (client and server pinned to CPU 0) and "across CPUs" (client on CPU 0, server on
// CPU 1). Rates are in units of 10^6 (MB/s = 10^6 bytes/s).
//
// Usage: Session-benchmark [--quick] [--rounds N] [--only setup|rtt|rate|bulk|chat]
//                          [--placement one|across] [--impl ours|raw|json] [--batch N]
// (--impl runs one side only, for perf record: setup, rtt, rate and chat support it; --batch
// limits the rate and chat measurements to one batch size.)
//


#include "RawTls.h"
#include "ChatSession.h"
#include "CrossChat/Chat/SessionProtocol.h"
#include "CrossChat/EventLoopThread.h"
#include "CrossChat/FrameCodec.h"
#include "CrossChat/Identity.h"
#include "CrossChat/TcpConnection.h"
#include "CrossChat/TcpListener.h"
#include "CrossChat/TlsChannel.h"
#include <pthread.h>
#include <sched.h>
#include <string_view>
#include <time.h>
#include <unistd.h>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>


using namespace CrossChat;
using CrossChat::Benchmark::RawTlsConnection;
using CrossChat::Benchmark::RawTlsContext;
using Clock = std::chrono::steady_clock;


namespace {


enum : std::uint8_t
{
	ECHO = 1,      ///< The server answers with the same frame.
	SINK = 2,      ///< The server counts it.
	REPORT = 3,    ///< The server answers with the number of SINK frames seen so far.
	READY = 4      ///< The server's first frame, sent once its handshake is done.
};

constexpr std::size_t MESSAGE_SIZE = 100;
constexpr std::size_t BULK_FRAME = 64 * 1024;


struct Placement
{
	const char* name;
	int clientCpu;
	int serverCpu;
};


void pinThisThread(int cpu)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (pthread_setaffinity_np(pthread_self(), sizeof(set), &set) != 0)
	{
		std::fprintf(stderr, "cannot pin a thread to CPU %d\n", cpu);
		std::exit(1);
	}
}


void pinLoop(EventLoopThread& thread, int cpu)
{
	std::promise<void> done;
	thread.loop().post([&] { pinThisThread(cpu); done.set_value(); });
	done.get_future().wait();
}


double seconds(Clock::duration d)
{
	return std::chrono::duration<double>(d).count();
}


double micros(Clock::duration d)
{
	return std::chrono::duration<double, std::micro>(d).count();
}


double median(std::vector<double> values)
{
	std::sort(values.begin(), values.end());
	return values[values.size() / 2];
}


double percentile(std::vector<double> samples, double p)
{
	std::sort(samples.begin(), samples.end());
	return samples[static_cast<std::size_t>(p * static_cast<double>(samples.size() - 1))];
}


class ServerLogic
	/// What every server does with the bytes of one connection, ours and raw alike: decode
	/// frames, answer ECHO and REPORT, count SINK. Answers to one read go out as one write.
	/// (The raw server also answers chat texts, text-bin frames, with one receipts frame per
	/// read: the id of each is copied, nothing is validated.)
{
public:
	void onBytes(const char* data, std::size_t size, std::string& out)
	{
		std::size_t receipts = 0;
		_entries.clear();
		_codec.decode(data, size, [&](const FrameView& frame) {
			if (frame.type == ECHO)
				_codec.encodeTo(out, ECHO, frame.data, frame.size);
			else if (frame.type == SINK)
				++_sunk;
			else if (frame.type == REPORT)
				_codec.encodeTo(out, REPORT, std::to_string(_sunk));
			else if (frame.type == Chat::SessionProtocol::TEXT_BIN && frame.size > 0)
			{
				const std::size_t idSize = static_cast<unsigned char>(frame.data[0]);
				if (1 + idSize > frame.size) return;
				_entries.append(frame.data, 1 + idSize);
				if (++receipts == Chat::SessionProtocol::MAX_RECEIPTS_PER_FRAME) appendReceipts(out, receipts);
			}
		});
		if (receipts > 0) appendReceipts(out, receipts);
	}

private:
	void appendReceipts(std::string& out, std::size_t& count)
	{
		char header[FrameCodec::HEADER_SIZE + 2];
		_codec.encodeHeader(header, Chat::SessionProtocol::RECEIPTS, 2 + _entries.size());
		header[FrameCodec::HEADER_SIZE] = static_cast<char>(count >> 8);
		header[FrameCodec::HEADER_SIZE + 1] = static_cast<char>(count & 0xFF);
		out.append(header, sizeof(header));
		out.append(_entries);
		_entries.clear();
		count = 0;
	}

	FrameCodec _codec;
	std::uint64_t _sunk = 0;
	std::string _entries;
};


const std::vector<std::string>& chatIds()
	/// 4,096 message IDs in the form of the reference's UUIDs (36 characters), used in turn.
{
	static const std::vector<std::string> ids = [] {
		std::vector<std::string> result;
		for (unsigned i = 0; i < 4096; ++i)
		{
			char id[40];
			std::snprintf(id, sizeof(id), "%08x-97ab-49f4-a9a7-%012x", i * 2654435761u, i);
			result.emplace_back(id);
		}
		return result;
	}();
	return ids;
}


//
// Ours: TcpConnection (+ TlsChannel) on EventLoopThreads.
//


struct Pipe
	/// A connected byte pipe: plain TcpConnection or TlsChannel, used the same way (a direct
	/// call, as an application makes it).
{
	TlsChannel::Ptr channel;         ///< Null for plain TCP.
	TcpConnection::Ptr connection;

	void send(const std::string& data) const
	{
		if (channel)
			channel->send(data);
		else
			connection->send(data);
	}

	void close() const
	{
		if (channel)
			channel->close();
		else if (connection)
			connection->close();
	}

	bool open() const
	{
		return connection != nullptr;
	}
};


class OurServer
{
public:
	OurServer(bool tls, const Identity& identity, int cpu): _tls(tls), _identity(identity)
	{
		pinLoop(_thread, cpu);
		std::promise<std::uint16_t> port;
		_thread.loop().post([this, &port] {
			_pListener = std::make_unique<TcpListener>(_thread.loop(), Poco::Net::SocketAddress("127.0.0.1", 0),
				[this](const Poco::Net::StreamSocket& socket) { accept(socket); });
			port.set_value(_pListener->address().port());
		});
		_port = port.get_future().get();
	}

	~OurServer()
	{
		std::promise<void> done;
		_thread.loop().post([this, &done] {
			_pListener.reset();
			done.set_value();
		});
		done.get_future().wait();
	}

	std::uint16_t port() const
	{
		return _port;
	}

private:
	void accept(const Poco::Net::StreamSocket& socket)
	{
		auto connection = TcpConnection::adopt(_thread.loop(), socket);
		auto logic = std::make_shared<ServerLogic>();
		FrameCodec codec;
		if (_tls)
		{
			auto channel = TlsChannel::server(connection, _identity);
			std::weak_ptr<TlsChannel> weak = channel;
			channel->setReadyHandler([weak, codec](const PeerId&, const PublicKey&) {
				if (auto pChannel = weak.lock()) pChannel->send(codec.encode(READY, ""));
			});
			channel->setDataHandler([weak, logic](const char* data, std::size_t size) {
				std::string out;
				logic->onBytes(data, size, out);
				if (!out.empty())
					if (auto pChannel = weak.lock()) pChannel->send(out);
			});
		}
		else
		{
			std::weak_ptr<TcpConnection> weak = connection;
			connection->setDataHandler([weak, logic](const char* data, std::size_t size) {
				std::string out;
				logic->onBytes(data, size, out);
				if (!out.empty())
					if (auto pConnection = weak.lock()) pConnection->send(out);
			});
			connection->send(codec.encode(READY, ""));
		}
	}

	bool _tls;
	const Identity& _identity;
	EventLoopThread _thread{"bench-server"};
	std::unique_ptr<TcpListener> _pListener;
	std::uint16_t _port = 0;
};


class OurClient
	/// Runs measurements on its own loop thread; each one is posted there and awaited.
{
public:
	OurClient(bool tls, const Identity& identity, const PeerId& server, std::uint16_t port, int cpu):
		_tls(tls),
		_identity(identity),
		_server(server),
		_port(port)
	{
		pinLoop(_thread, cpu);
	}

	~OurClient()
	{
		std::promise<void> done;
		_thread.loop().post([this, &done] {
			_pipe.close();
			_pipe = Pipe();
			done.set_value();
		});
		done.get_future().wait();
	}

	void open()
		/// Connects and waits for READY.
	{
		std::promise<void> ready;
		_thread.loop().post([&] {
			connect([&] { ready.set_value(); });
		});
		ready.get_future().wait();
	}

	std::vector<double> setups(int count)
		/// Microseconds from connect() to the server's READY frame, count times in a row.
	{
		std::vector<double> samples;
		std::promise<void> done;
		Clock::time_point start;
		std::function<void()> next = [&] {
			if (static_cast<int>(samples.size()) == count)
			{
				done.set_value();
				return;
			}
			start = Clock::now();
			connect([&] {
				samples.push_back(micros(Clock::now() - start));
				_pipe.close();
				_pipe = Pipe();
				_thread.loop().post(next);
			});
		};
		_thread.loop().post(next);
		done.get_future().wait();
		return samples;
	}

	std::vector<double> roundTrips(int count)
		/// Microseconds per round trip of a 100-byte ECHO frame.
	{
		std::vector<double> samples;
		samples.reserve(static_cast<std::size_t>(count));
		std::promise<void> done;
		const std::string frame = _codec.encode(ECHO, std::string(MESSAGE_SIZE, 'r'));
		Clock::time_point sentAt;
		_thread.loop().post([&] {
			_onFrame = [&](const FrameView&) {
				samples.push_back(micros(Clock::now() - sentAt));
				if (static_cast<int>(samples.size()) == count)
				{
					_onFrame = nullptr;
					done.set_value();
					return;
				}
				sentAt = Clock::now();
				_pipe.send(frame);
			};
			sentAt = Clock::now();
			_pipe.send(frame);
		});
		done.get_future().wait();
		return samples;
	}

	double sink(std::uint64_t total, std::size_t batch, std::size_t frameSize)
		/// Seconds until the server has counted total SINK frames of frameSize bytes, sent
		/// batch frames per loop iteration (one send() each), with backpressure.
	{
		std::promise<void> done;
		const std::string frame = _codec.encode(SINK, std::string(frameSize, 'm'));
		const std::string report = _codec.encode(REPORT, "");
		std::uint64_t sent = 0;
		const std::uint64_t expected = _sunkBase + total;
		std::function<void()> sendBatch;
		const Clock::time_point start = Clock::now();
		_thread.loop().post([&] {
			_onFrame = [&](const FrameView& f) {
				if (std::stoull(std::string(f.body())) >= expected)
				{
					_sunkBase = expected;
					_onFrame = nullptr;
					done.set_value();
				}
				else
				{
					_pipe.send(report);
				}
			};
			sendBatch = [&] {
				for (std::size_t i = 0; i < batch && sent < total; ++i, ++sent) _pipe.send(frame);
				if (sent == total)
				{
					_pipe.send(report);
					return;
				}
				if (_pipe.connection->aboveHighWaterMark())
					_pipe.connection->setDrainHandler([&] { _thread.loop().post(sendBatch); });
				else
					_thread.loop().post(sendBatch);
			};
			sendBatch();
		});
		done.get_future().wait();
		const double elapsed = seconds(Clock::now() - start);
		std::promise<void> cleared;
		_thread.loop().post([&] {
			_pipe.connection->setDrainHandler(nullptr);
			cleared.set_value();
		});
		cleared.get_future().wait();
		return elapsed;
	}

private:
	void connect(std::function<void()> onReady)
		/// Loop thread: connects; onReady runs when the READY frame has arrived.
	{
		auto connection = TcpConnection::connect(_thread.loop(), Poco::Net::SocketAddress("127.0.0.1", _port));
		_codec.reset();
		_pipe.connection = connection;
		auto onData = [this, onReady](const char* data, std::size_t size) {
			_codec.decode(data, size, [&](const FrameView& frame) {
				if (frame.type == READY)
					onReady();
				else if (_onFrame)
					_onFrame(frame);
			});
		};
		if (_tls)
		{
			_pipe.channel = TlsChannel::client(connection, _identity, _server);
			_pipe.channel->setDataHandler(onData);
		}
		else
		{
			_pipe.channel = nullptr;
			connection->setDataHandler(onData);
		}
	}

	bool _tls;
	const Identity& _identity;
	PeerId _server;
	std::uint16_t _port;
	EventLoopThread _thread{"bench-client"};
	Pipe _pipe;
	FrameCodec _codec;
	std::function<void(const FrameView&)> _onFrame;
	std::uint64_t _sunkBase = 0;
};


//
// Raw OpenSSL: one blocking thread per end.
//


class RawServer
	/// Serves connections one after the other on its own thread: handshake, READY, then the
	/// same ServerLogic as ours until the client closes.
{
public:
	RawServer(const Identity& identity, int cpu):
		_context(identity, true),
		_listener(Benchmark::listenTcp(_port)),
		_thread([this, cpu] { run(cpu); })
	{
	}

	~RawServer()
	{
		_stopping = true;
		::shutdown(_listener, SHUT_RDWR);
		_thread.join();
		::close(_listener);
	}

	std::uint16_t port() const
	{
		return _port;
	}

private:
	void run(int cpu)
	{
		pinThisThread(cpu);
		FrameCodec codec;
		const std::string ready = codec.encode(READY, "");
		std::vector<char> buffer(64 * 1024);
		while (!_stopping)
		{
			const int fd = Benchmark::acceptTcp(_listener);
			if (fd < 0) continue;
			RawTlsConnection connection(_context, fd, true);
			if (!connection.handshake() || !connection.writeAll(ready.data(), ready.size())) continue;
			ServerLogic logic;
			std::string out;
			for (;;)
			{
				const int n = connection.read(buffer.data(), buffer.size());
				if (n <= 0) break;
				out.clear();
				logic.onBytes(buffer.data(), static_cast<std::size_t>(n), out);
				if (!out.empty() && !connection.writeAll(out.data(), out.size())) break;
			}
		}
	}

	RawTlsContext _context;
	std::uint16_t _port = 0;
	int _listener;
	std::atomic<bool> _stopping{false};
	std::thread _thread;
};


class RawClient
{
public:
	RawClient(const Identity& identity, const Identity& server, std::uint16_t port):
		_context(identity, false),
		_serverRaw(server.publicKey().raw()),
		_port(port)
	{
	}

	std::unique_ptr<RawTlsConnection> open()
		/// Connects, runs the handshake and waits for READY; null on failure.
	{
		auto pConnection = std::make_unique<RawTlsConnection>(_context, Benchmark::connectTcp(_port), false, _serverRaw);
		if (!pConnection->handshake()) return nullptr;
		_codec.reset();
		if (!nextFrame(*pConnection) || _frame.type != READY) return nullptr;
		return pConnection;
	}

	bool nextFrame(RawTlsConnection& connection)
		/// Reads until a whole frame has arrived; it is in _frame. (The server sends one frame
		/// per request, so no frame is left behind.)
	{
		bool got = false;
		while (!got)
		{
			const int n = connection.read(_buffer, sizeof(_buffer));
			if (n <= 0) return false;
			_codec.decode(_buffer, static_cast<std::size_t>(n), [&](const FrameView& frame) {
				_frame.type = frame.type;
				_frame.body.assign(frame.data, frame.size);
				got = true;
			});
		}
		return true;
	}

	std::vector<double> setups(int count)
	{
		std::vector<double> samples;
		for (int i = 0; i < count; ++i)
		{
			const Clock::time_point start = Clock::now();
			if (!open()) fail("raw setup");
			samples.push_back(micros(Clock::now() - start));
		}
		return samples;
	}

	std::vector<double> roundTrips(RawTlsConnection& connection, int count)
	{
		std::vector<double> samples;
		samples.reserve(static_cast<std::size_t>(count));
		const std::string frame = _codec.encode(ECHO, std::string(MESSAGE_SIZE, 'r'));
		for (int i = 0; i < count; ++i)
		{
			const Clock::time_point start = Clock::now();
			if (!connection.writeAll(frame.data(), frame.size()) || !nextFrame(connection)) fail("raw round trip");
			samples.push_back(micros(Clock::now() - start));
		}
		return samples;
	}

	double sink(RawTlsConnection& connection, std::uint64_t total, std::size_t batch, std::size_t frameSize)
		/// The same work as ours per message: each frame is copied into the batch, and the batch
		/// goes out with one SSL_write (ours copies each send() into the channel's queue and
		/// encrypts the iteration's queue with one SSL_write).
	{
		std::string batchBytes;
		batchBytes.reserve(batch * (frameSize + FrameCodec::HEADER_SIZE));
		const std::string frame = _codec.encode(SINK, std::string(frameSize, 'm'));
		const std::string report = _codec.encode(REPORT, "");
		const std::uint64_t expected = _sunkBase + total;
		const Clock::time_point start = Clock::now();
		std::uint64_t sent = 0;
		while (sent < total)
		{
			batchBytes.clear();
			for (std::size_t i = 0; i < batch && sent < total; ++i, ++sent) batchBytes.append(frame);
			if (!connection.writeAll(batchBytes.data(), batchBytes.size())) fail("raw write");
		}
		for (;;)
		{
			if (!connection.writeAll(report.data(), report.size()) || !nextFrame(connection)) fail("raw report");
			if (std::stoull(_frame.body) >= expected) break;
		}
		_sunkBase = expected;
		return seconds(Clock::now() - start);
	}

private:
	[[noreturn]] static void fail(const char* what)
	{
		std::fprintf(stderr, "%s failed\n", what);
		std::exit(1);
	}

	RawTlsContext _context;
	std::string _serverRaw;
	std::uint16_t _port;
	FrameCodec _codec;
	Frame _frame;
	char _buffer[64 * 1024];
	std::uint64_t _sunkBase = 0;
};


//
// Chat: two ChatSessions (texts with ids, receipts) on EventLoopThreads.
//


class ChatEvents: public Chat::Session::Listener
	/// One end of the chat measurement: answers every text with a receipt and counts receipts.
{
public:
	void onSessionTlsReady(Chat::Session&) override
	{
	}

	void onSessionEstablished(Chat::Session&) override
	{
		if (onEstablished) onEstablished();
	}

	void onSessionMessage(Chat::Session& session, const Message& message) override
	{
		if (message.name == "text")
			session.sendReceipt(message.body->getValue<std::string>("id"));
		else if (message.name == "receipt")
			countReceipt();
	}

	void onSessionText(Chat::Session& session, std::string_view id, std::int64_t, std::string_view) override
	{
		session.sendReceipt(id);
	}

	void onSessionReceipt(Chat::Session&, std::string_view) override
	{
		countReceipt();
	}

	void onSessionRefusedInput(Chat::Session&, const std::string&, const std::string& problem) override
	{
		std::fprintf(stderr, "chat: refused input: %s\n", problem.c_str());
		std::exit(1);
	}

	void onSessionClosed(Chat::Session&, const std::string&) override
	{
	}

	std::function<void()> onEstablished;
	std::function<void()> onDone;
	std::uint64_t receipts = 0;
	std::uint64_t target = 0;

private:
	void countReceipt()
	{
		if (++receipts == target && onDone) onDone();
	}
};


class OurChat
	/// A sender ChatSession (dialing, on the client CPU) and a receiver (on the server CPU),
	/// established; binary selects the cap text-bin/1 on both.
{
public:
	OurChat(bool binary, const Identity& serverId, const Identity& clientId, const Placement& placement)
	{
		pinLoop(_receiverThread, placement.serverCpu);
		pinLoop(_senderThread, placement.clientCpu);
		Chat::ChatSession::Options options;
		options.binaryText = binary;
		std::promise<std::uint16_t> port;
		_receiverThread.loop().post([&] {
			EventLoop& loop = _receiverThread.loop();
			_pListener = std::make_unique<TcpListener>(loop, Poco::Net::SocketAddress("127.0.0.1", 0),
				[this, &loop, &serverId, options](const Poco::Net::StreamSocket& socket) {
					_receiver = Chat::ChatSession::create(TlsChannel::server(TcpConnection::adopt(loop, socket), serverId), false, 1,
						&_receiverEvents, options);
					_receiver->start();
				});
			port.set_value(_pListener->address().port());
		});
		const std::uint16_t serverPort = port.get_future().get();
		std::promise<void> established;
		_senderEvents.onEstablished = [&] { established.set_value(); };
		_senderThread.loop().post([&] {
			EventLoop& loop = _senderThread.loop();
			_sender = Chat::ChatSession::create(TlsChannel::client(TcpConnection::connect(loop, Poco::Net::SocketAddress("127.0.0.1", serverPort)),
				clientId, serverId.peerId()), true, 2, &_senderEvents, options);
			_sender->start();
		});
		established.get_future().wait();
		std::promise<void> cleared;
		_senderThread.loop().post([&] {
			_senderEvents.onEstablished = nullptr;
			cleared.set_value();
		});
		cleared.get_future().wait();
	}

	~OurChat()
	{
		std::promise<void> senderDone;
		_senderThread.loop().post([&] {
			if (_sender) _sender->detach();
			_sender.reset();
			senderDone.set_value();
		});
		senderDone.get_future().wait();
		std::promise<void> receiverDone;
		_receiverThread.loop().post([&] {
			if (_receiver) _receiver->detach();
			_receiver.reset();
			_pListener.reset();
			receiverDone.set_value();
		});
		receiverDone.get_future().wait();
	}

	double run(std::uint64_t total, std::size_t batch)
		/// Seconds from the first sendText() until the sender has the receipt of the last of
		/// total texts, sent batch per loop iteration, with backpressure (DRAIN_MARK).
	{
		const std::vector<std::string>& ids = chatIds();
		const std::string text(MESSAGE_SIZE, 'm');
		std::promise<void> done;
		std::uint64_t sent = 0;
		std::function<void()> sendBatch;
		EventLoop& loop = _senderThread.loop();
		const Clock::time_point start = Clock::now();
		loop.post([&] {
			_senderEvents.target = _senderEvents.receipts + total;
			_senderEvents.onDone = [&] { done.set_value(); };
			sendBatch = [&] {
				for (std::size_t i = 0; i < batch && sent < total; ++i, ++sent)
					_sender->sendText(ids[sent % ids.size()], 1795715534839, text);
				if (sent == total) return;
				if (_sender->unsentBytes() > Chat::Session::DRAIN_MARK)
				{
					_sender->setDrainHandler([&] {
						_sender->setDrainHandler(nullptr);
						loop.post(sendBatch);
					});
				}
				else
				{
					loop.post(sendBatch);
				}
			};
			sendBatch();
		});
		done.get_future().wait();
		const double elapsed = seconds(Clock::now() - start);
		std::promise<void> cleared;
		loop.post([&] {
			_senderEvents.onDone = nullptr;
			cleared.set_value();
		});
		cleared.get_future().wait();
		return elapsed;
	}

private:
	EventLoopThread _receiverThread{"chat-receiver"};
	EventLoopThread _senderThread{"chat-sender"};
	std::unique_ptr<TcpListener> _pListener;
	ChatEvents _receiverEvents;
	ChatEvents _senderEvents;
	Chat::ChatSession::Ptr _receiver;
	Chat::ChatSession::Ptr _sender;
};


double rawChat(RawTlsConnection& connection, std::uint64_t total, std::size_t batch)
	/// Raw OpenSSL's side of the chat measurement: the same text-bin frames (id, ts, 100-byte
	/// text) written batch per SSL_write; receipts frames read whenever the socket has some
	/// between batches, then until all have arrived. Seconds.
{
	const std::vector<std::string>& ids = chatIds();
	const std::string text(MESSAGE_SIZE, 'm');
	FrameCodec codec;
	std::string batchBytes;
	std::vector<char> buffer(64 * 1024);
	std::uint64_t sent = 0;
	std::uint64_t received = 0;
	auto readReceipts = [&] {
		const int n = connection.read(buffer.data(), buffer.size());
		if (n <= 0)
		{
			std::fprintf(stderr, "raw chat read failed\n");
			std::exit(1);
		}
		codec.decode(buffer.data(), static_cast<std::size_t>(n), [&](const FrameView& frame) {
			if (frame.type == Chat::SessionProtocol::RECEIPTS && frame.size >= 2)
				received += (static_cast<std::uint64_t>(static_cast<unsigned char>(frame.data[0])) << 8) | static_cast<unsigned char>(frame.data[1]);
		});
	};
	const Clock::time_point start = Clock::now();
	while (sent < total)
	{
		batchBytes.clear();
		for (std::size_t i = 0; i < batch && sent < total; ++i, ++sent)
		{
			const std::string& id = ids[sent % ids.size()];
			const std::size_t bodySize = 1 + id.size() + 8 + text.size();
			const std::size_t at = batchBytes.size();
			batchBytes.resize(at + FrameCodec::HEADER_SIZE + bodySize);
			char* p = &batchBytes[at];
			codec.encodeHeader(p, Chat::SessionProtocol::TEXT_BIN, bodySize);
			p += FrameCodec::HEADER_SIZE;
			*p++ = static_cast<char>(id.size());
			std::memcpy(p, id.data(), id.size());
			p += id.size();
			const std::uint64_t ts = 1795715534839;
			for (int shift = 56; shift >= 0; shift -= 8) *p++ = static_cast<char>((ts >> shift) & 0xFF);
			std::memcpy(p, text.data(), text.size());
		}
		if (!connection.writeAll(batchBytes.data(), batchBytes.size()))
		{
			std::fprintf(stderr, "raw chat write failed\n");
			std::exit(1);
		}
		while (received < sent && connection.readable()) readReceipts();
	}
	while (received < total) readReceipts();
	return seconds(Clock::now() - start);
}


//
// The measurements.
//


struct Options
{
	bool quick = false;
	int rounds = 3;
	std::string only;
	std::string placement;
	std::string impl;   ///< "ours", "raw" ("tcp" for the round trip, "json" for chat) to run one side only (perf record).
	std::size_t batch = 0;   ///< Only this batch size in the rate measurement; all if 0.

	bool runs(const char* side) const
	{
		return impl.empty() || impl == side;
	}
};


double processCpuMicros()
	/// CPU time of the whole process (both ends run in it), in microseconds.
{
	timespec ts{};
	::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return static_cast<double>(ts.tv_sec) * 1e6 + static_cast<double>(ts.tv_nsec) / 1e3;
}


template <typename Fn>
double onPinnedThread(int cpu, Fn fn)
	/// Runs fn on a new thread pinned to cpu and returns its result.
{
	double result = 0;
	std::thread thread([&] {
		pinThisThread(cpu);
		result = fn();
	});
	thread.join();
	return result;
}


void printRow(const char* measure, const char* unit, double ours, double baseline, bool higherIsBetter)
{
	const double ratio = higherIsBetter ? ours / baseline : baseline / ours;
	std::printf("  %-44s %12.2f %12.2f  %-6s %6.2f\n", measure, ours, baseline, unit, ratio);
}


void measureSetup(const Options& options, const Placement& placement, const Identity& serverId, const Identity& clientId)
{
	const int count = options.quick ? 50 : 1000;
	std::vector<double> ours{0}, raw{0}, oursCpu{0}, rawCpu{0};
	if (options.impl.empty()) ours.clear(), raw.clear(), oursCpu.clear(), rawCpu.clear();
	for (int round = 0; round < options.rounds; ++round)
	{
		if (options.runs("ours"))
		{
			OurServer server(true, serverId, placement.serverCpu);
			OurClient client(true, clientId, serverId.peerId(), server.port(), placement.clientCpu);
			client.setups(count / 10);   // warm-up
			const double cpu = processCpuMicros();
			ours.push_back(median(client.setups(count)));
			oursCpu.push_back((processCpuMicros() - cpu) / count);
		}
		if (options.runs("raw"))
		{
			RawServer server(serverId, placement.serverCpu);
			double cpu = 0;
			raw.push_back(onPinnedThread(placement.clientCpu, [&] {
				RawClient client(clientId, serverId, server.port());
				client.setups(count / 10);
				cpu = processCpuMicros();
				const double result = median(client.setups(count));
				cpu = processCpuMicros() - cpu;
				return result;
			}));
			rawCpu.push_back(cpu / count);
		}
	}
	printRow("session setup, median (us)", "us", median(ours), median(raw), false);
	printRow("session setup, CPU of both ends (us)", "us", median(oursCpu), median(rawCpu), false);
}


void measureRtt(const Options& options, const Placement& placement, const Identity& serverId, const Identity& clientId)
{
	const int count = options.quick ? 2000 : 20000;
	std::vector<double> oursP50, oursP99, rawP50, rawP99, tcpP50, tcpP99;
	if (!options.impl.empty()) oursP50 = oursP99 = rawP50 = rawP99 = tcpP50 = tcpP99 = {0};
	for (int round = 0; round < options.rounds; ++round)
	{
		for (bool tls: {true, false})
		{
			if (!options.runs(tls ? "ours" : "tcp")) continue;
			OurServer server(tls, serverId, placement.serverCpu);
			OurClient client(tls, clientId, serverId.peerId(), server.port(), placement.clientCpu);
			client.open();
			client.roundTrips(count / 10);
			const auto samples = client.roundTrips(count);
			(tls ? oursP50 : tcpP50).push_back(percentile(samples, 0.50));
			(tls ? oursP99 : tcpP99).push_back(percentile(samples, 0.99));
		}
		if (!options.runs("raw")) continue;
		RawServer server(serverId, placement.serverCpu);
		onPinnedThread(placement.clientCpu, [&] {
			RawClient client(clientId, serverId, server.port());
			auto pConnection = client.open();
			client.roundTrips(*pConnection, count / 10);
			const auto samples = client.roundTrips(*pConnection, count);
			rawP50.push_back(percentile(samples, 0.50));
			rawP99.push_back(percentile(samples, 0.99));
			return 0.0;
		});
	}
	printRow("round trip 100 B, p50 (us)", "us", median(oursP50), median(rawP50), false);
	printRow("round trip 100 B, p99 (us)", "us", median(oursP99), median(rawP99), false);
	printRow("  plain TCP, same framing, p50 (us)", "us", median(tcpP50), median(rawP50), false);
}


void measureRate(const Options& options, const Placement& placement, const Identity& serverId, const Identity& clientId)
{
	const std::size_t batches[] = {1, 4, 16, 64, 256, 630};
	for (std::size_t batch: batches)
	{
		if (options.batch != 0 && batch != options.batch) continue;
		// About half a second per run at the rates measured here.
		std::uint64_t total = batch == 1 ? 150000 : batch == 4 ? 500000 : 2000000;
		if (options.quick) total /= 20;
		std::vector<double> ours{0}, raw{0};
		if (options.impl.empty()) ours.clear(), raw.clear();
		for (int round = 0; round < options.rounds; ++round)
		{
			if (options.runs("ours"))
			{
				OurServer server(true, serverId, placement.serverCpu);
				OurClient client(true, clientId, serverId.peerId(), server.port(), placement.clientCpu);
				client.open();
				client.sink(total / 10, batch, MESSAGE_SIZE);
				ours.push_back(static_cast<double>(total) / client.sink(total, batch, MESSAGE_SIZE) / 1e6);
			}
			if (!options.runs("raw")) continue;
			RawServer server(serverId, placement.serverCpu);
			raw.push_back(onPinnedThread(placement.clientCpu, [&] {
				RawClient client(clientId, serverId, server.port());
				auto pConnection = client.open();
				client.sink(*pConnection, total / 10, batch, MESSAGE_SIZE);
				return static_cast<double>(total) / client.sink(*pConnection, total, batch, MESSAGE_SIZE) / 1e6;
			}));
		}
		char label[64];
		std::snprintf(label, sizeof(label), "100-B messages, batch %zu (M msg/s)", batch);
		printRow(label, "M/s", median(ours), median(raw), true);
	}
}


void measureBulk(const Options& options, const Placement& placement, const Identity& serverId, const Identity& clientId)
{
	const std::uint64_t frames = options.quick ? 256 : 2048;   // x 64 KiB
	const double megabytes = static_cast<double>(frames * (BULK_FRAME + FrameCodec::HEADER_SIZE)) / 1e6;
	std::vector<double> ours, raw, tcp;
	for (int round = 0; round < options.rounds; ++round)
	{
		for (bool tls: {true, false})
		{
			OurServer server(tls, serverId, placement.serverCpu);
			OurClient client(tls, clientId, serverId.peerId(), server.port(), placement.clientCpu);
			client.open();
			client.sink(frames / 8, 1, BULK_FRAME);
			(tls ? ours : tcp).push_back(megabytes / client.sink(frames, 1, BULK_FRAME));
		}
		RawServer server(serverId, placement.serverCpu);
		raw.push_back(onPinnedThread(placement.clientCpu, [&] {
			RawClient client(clientId, serverId, server.port());
			auto pConnection = client.open();
			client.sink(*pConnection, frames / 8, 1, BULK_FRAME);
			return megabytes / client.sink(*pConnection, frames, 1, BULK_FRAME);
		}));
	}
	printRow("bulk, 64 KiB frames (MB/s)", "MB/s", median(ours), median(raw), true);
	printRow("  plain TCP, same framing (MB/s)", "MB/s", median(tcp), median(raw), true);
}


void measureChat(const Options& options, const Placement& placement, const Identity& serverId, const Identity& clientId)
{
	const std::size_t batches[] = {1, 64, 630};
	for (std::size_t batch: batches)
	{
		if (options.batch != 0 && batch != options.batch) continue;
		std::uint64_t total = batch == 1 ? 100000 : 2000000;
		if (options.quick) total /= 20;
		std::vector<double> binary{0}, json{0}, raw{0};
		if (options.impl.empty()) binary.clear(), json.clear(), raw.clear();
		for (int round = 0; round < options.rounds; ++round)
		{
			if (options.runs("ours"))
			{
				OurChat chat(true, serverId, clientId, placement);
				chat.run(total / 10, batch);
				binary.push_back(static_cast<double>(total) / chat.run(total, batch) / 1e6);
			}
			if (options.runs("json"))
			{
				const std::uint64_t fewer = std::max<std::uint64_t>(total / 4, 1000);   // JSON is slower
				OurChat chat(false, serverId, clientId, placement);
				chat.run(fewer / 10, batch);
				json.push_back(static_cast<double>(fewer) / chat.run(fewer, batch) / 1e6);
			}
			if (!options.runs("raw")) continue;
			RawServer server(serverId, placement.serverCpu);
			raw.push_back(onPinnedThread(placement.clientCpu, [&] {
				RawClient client(clientId, serverId, server.port());
				auto pConnection = client.open();
				rawChat(*pConnection, total / 10, batch);
				return static_cast<double>(total) / rawChat(*pConnection, total, batch) / 1e6;
			}));
		}
		char label[64];
		std::snprintf(label, sizeof(label), "chat, ids+receipts, batch %zu (M msg/s)", batch);
		printRow(label, "M/s", median(binary), median(raw), true);
		std::snprintf(label, sizeof(label), "  same, JSON text/receipt, batch %zu", batch);
		printRow(label, "M/s", median(json), median(raw), true);
	}
}


} // namespace


int main(int argc, char** argv)
{
	Options options;
	for (int i = 1; i < argc; ++i)
	{
		const std::string arg = argv[i];
		if (arg == "--quick")
			options.quick = true;
		else if (arg == "--rounds" && i + 1 < argc)
			options.rounds = std::max(1, std::atoi(argv[++i]));
		else if (arg == "--only" && i + 1 < argc)
			options.only = argv[++i];
		else if (arg == "--placement" && i + 1 < argc)
			options.placement = argv[++i];
		else if (arg == "--impl" && i + 1 < argc)
			options.impl = argv[++i];
		else if (arg == "--batch" && i + 1 < argc)
			options.batch = static_cast<std::size_t>(std::atoi(argv[++i]));
		else
		{
			std::fprintf(stderr, "usage: %s [--quick] [--rounds N] [--only setup|rtt|rate|bulk|chat] [--placement one|across] [--impl ours|raw|json] [--batch N]\n", argv[0]);
			return 2;
		}
	}
	if (options.quick) options.rounds = 1;
	std::setvbuf(stdout, nullptr, _IOLBF, 0);   // one line at a time, also into a pipe
	const Identity serverId = Identity::generate();
	const Identity clientId = Identity::generate();
	const long cpus = ::sysconf(_SC_NPROCESSORS_ONLN);
	std::vector<Placement> placements;
	if (options.placement.empty() || options.placement == "one") placements.push_back({"one CPU (client and server on CPU 0)", 0, 0});
	if ((options.placement.empty() || options.placement == "across") && cpus >= 2)
		placements.push_back({"across CPUs (client on CPU 0, server on CPU 1)", 0, 1});
	std::printf("Session-benchmark: CrossChat TLS 1.3 session vs raw OpenSSL TLS 1.3, medians of %d round(s)\n", options.rounds);
	for (const Placement& placement: placements)
	{
		std::printf("\n%s\n", placement.name);
		std::printf("  %-44s %12s %12s  %-6s %6s\n", "measure", "ours", "raw TLS", "unit", "ratio");
		if (options.only.empty() || options.only == "setup") measureSetup(options, placement, serverId, clientId);
		if (options.only.empty() || options.only == "rtt") measureRtt(options, placement, serverId, clientId);
		if (options.only.empty() || options.only == "rate") measureRate(options, placement, serverId, clientId);
		if (options.only.empty() || options.only == "bulk") measureBulk(options, placement, serverId, clientId);
		if (options.only.empty() || options.only == "chat") measureChat(options, placement, serverId, clientId);
	}
	std::printf("\nratio: ours relative to raw OpenSSL (above 1 = better than raw; for times raw/ours)\n");
	return 0;
}
