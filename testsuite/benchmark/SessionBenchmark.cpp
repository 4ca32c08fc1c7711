//
// SessionBenchmark.cpp
//
// testsuite: end-to-end transport benchmark on loopback. The same FrameCodec framing runs
// over plain TCP (the baseline) and over a pinned TLS 1.3 TlsChannel, side by side in one run:
//   - round-trip latency of a 100-byte message (p50, p99)
//   - messages per second, 100-byte messages, one direction
//   - bulk throughput, 64 KiB frames, one direction
// The server runs on its own EventLoopThread, the client on another.
//
// Usage: Session-benchmark [--quick]
//


#include "CrossChat/EventLoopThread.h"
#include "CrossChat/FrameCodec.h"
#include "CrossChat/Identity.h"
#include "CrossChat/TcpConnection.h"
#include "CrossChat/TcpListener.h"
#include "CrossChat/TlsChannel.h"
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <future>
#include <memory>
#include <string>
#include <vector>


using namespace CrossChat;
using Clock = std::chrono::steady_clock;


namespace {


enum : std::uint8_t
{
	ECHO = 1,       ///< Server answers with the same frame.
	SINK = 2,       ///< Server counts it.
	REPORT = 3      ///< Server answers with the number of SINK bytes seen so far.
};


struct Transport
	/// A connected byte pipe: plain TcpConnection or TlsChannel, used the same way.
{
	std::function<void(const std::string&)> send;
	std::function<void(std::function<void(const char*, std::size_t)>)> onData;
	std::function<void()> close;
};


class Server
	/// Echo / sink server on its own loop thread.
{
public:
	Server(bool tls, const Identity& identity): _tls(tls), _identity(identity)
	{
		std::promise<std::uint16_t> port;
		_thread.loop().post([this, &port] {
			_pListener = std::make_unique<TcpListener>(_thread.loop(), Poco::Net::SocketAddress("127.0.0.1", 0),
				[this](const Poco::Net::StreamSocket& socket) { accept(socket); });
			port.set_value(_pListener->address().port());
		});
		_port = port.get_future().get();
	}

	~Server()
	{
		std::promise<void> done;
		_thread.loop().post([this, &done] {
			_pListener.reset();
			for (auto& t: _transports) t.close();
			_transports.clear();
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
		auto codec = std::make_shared<FrameCodec>(FrameCodec::DEFAULT_MAX_BODY_SIZE);
		auto sunk = std::make_shared<std::uint64_t>(0);
		Transport t;
		if (_tls)
		{
			auto channel = TlsChannel::server(connection, _identity);
			t.send = [channel](const std::string& data) { channel->send(data); };
			t.onData = [channel](std::function<void(const char*, std::size_t)> h) { channel->setDataHandler(std::move(h)); };
			t.close = [channel] { channel->close(); };
		}
		else
		{
			t.send = [connection](const std::string& data) { connection->send(data); };
			t.onData = [connection](std::function<void(const char*, std::size_t)> h) { connection->setDataHandler(std::move(h)); };
			t.close = [connection] { connection->close(); };
		}
		auto send = t.send;
		t.onData([codec, sunk, send](const char* data, std::size_t size) {
			codec->feed(data, size);
			while (auto frame = codec->next())
			{
				if (frame->type == ECHO) send(codec->encode(ECHO, frame->body));
				else if (frame->type == SINK) *sunk += frame->body.size();
				else if (frame->type == REPORT) send(codec->encode(REPORT, std::to_string(*sunk)));
			}
		});
		_transports.push_back(std::move(t));
	}

	bool _tls;
	const Identity& _identity;
	EventLoopThread _thread{"bench-server"};
	std::unique_ptr<TcpListener> _pListener;
	std::vector<Transport> _transports;
	std::uint16_t _port = 0;
};


class Client
	/// Runs one measurement at a time on its own loop thread.
{
public:
	Client(bool tls, const Identity& identity, const PeerId& server, std::uint16_t port)
	{
		std::promise<void> ready;
		_thread.loop().post([&, tls, port] {
			auto connection = TcpConnection::connect(_thread.loop(), Poco::Net::SocketAddress("127.0.0.1", port));
			if (tls)
			{
				auto channel = TlsChannel::client(connection, identity, server);
				_t.send = [channel](const std::string& data) { channel->send(data); };
				_t.onData = [channel](std::function<void(const char*, std::size_t)> h) { channel->setDataHandler(std::move(h)); };
				_t.close = [channel] { channel->close(); };
				channel->setReadyHandler([&ready](const PeerId&, const PublicKey&) { ready.set_value(); });
			}
			else
			{
				_t.send = [connection](const std::string& data) { connection->send(data); };
				_t.onData = [connection](std::function<void(const char*, std::size_t)> h) { connection->setDataHandler(std::move(h)); };
				_t.close = [connection] { connection->close(); };
				connection->setConnectHandler([&ready] { ready.set_value(); });
			}
			_t.onData([this](const char* data, std::size_t size) {
				_codec.feed(data, size);
				while (auto frame = _codec.next()) if (_onFrame) _onFrame(*frame);
			});
		});
		ready.get_future().wait();
	}

	~Client()
	{
		std::promise<void> done;
		_thread.loop().post([this, &done] { _t.close(); done.set_value(); });
		done.get_future().wait();
	}

	std::vector<double> roundTrips(int count, std::size_t size)
		/// Latencies in microseconds.
	{
		std::vector<double> samples;
		std::promise<void> done;
		const std::string frame = _codec.encode(ECHO, std::string(size, 'r'));
		Clock::time_point sentAt;
		_thread.loop().post([&] {
			_onFrame = [&](const Frame&) {
				samples.push_back(std::chrono::duration<double, std::micro>(Clock::now() - sentAt).count());
				if (static_cast<int>(samples.size()) == count) { done.set_value(); return; }
				sentAt = Clock::now();
				_t.send(frame);
			};
			sentAt = Clock::now();
			_t.send(frame);
		});
		done.get_future().wait();
		return samples;
	}

	double oneWay(std::uint64_t count, std::size_t size)
		/// Seconds until the server has seen count frames of size bytes.
	{
		std::promise<void> done;
		const Clock::time_point start = Clock::now();
		const std::string body(size, 'm');
		_thread.loop().post([&] {
			const std::uint64_t expected = _sunkBase + count * size;
			_onFrame = [&, expected](const Frame& frame) {
				if (std::stoull(frame.body) >= expected) { _sunkBase = expected; done.set_value(); }
				else _t.send(_codec.encode(REPORT, ""));
			};
			// One send() per message, as a chat program does: one TLS record each.
			for (std::uint64_t i = 0; i < count; ++i) _t.send(_codec.encode(SINK, body));
			_t.send(_codec.encode(REPORT, ""));
		});
		done.get_future().wait();
		return std::chrono::duration<double>(Clock::now() - start).count();
	}

private:
	EventLoopThread _thread{"bench-client"};
	Transport _t;
	FrameCodec _codec;
	std::function<void(const Frame&)> _onFrame;
	std::uint64_t _sunkBase = 0;
};


double percentile(std::vector<double> samples, double p)
{
	std::sort(samples.begin(), samples.end());
	return samples[static_cast<std::size_t>(p * static_cast<double>(samples.size() - 1))];
}


struct Result
{
	double p50Us, p99Us, messagesPerSecond, bulkMiBPerSecond;
};


Result measure(bool tls, bool quick)
{
	Identity serverId = Identity::generate();
	Identity clientId = Identity::generate();
	Server server(tls, serverId);
	Client client(tls, clientId, serverId.peerId(), server.port());
	const int rtts = quick ? 500 : 5000;
	const std::uint64_t messages = quick ? 20000 : 200000;
	const std::uint64_t bulkFrames = quick ? 256 : 2048;   // x 64 KiB
	client.roundTrips(100, 100);   // warm-up
	auto samples = client.roundTrips(rtts, 100);
	const double messageSeconds = client.oneWay(messages, 100);
	const double bulkSeconds = client.oneWay(bulkFrames, 64 * 1024);
	return Result{percentile(samples, 0.50), percentile(samples, 0.99),
		static_cast<double>(messages) / messageSeconds,
		static_cast<double>(bulkFrames) * 64.0 / 1024.0 / bulkSeconds};
}


} // namespace


int main(int argc, char** argv)
{
	const bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
	const Result plain = measure(false, quick);
	const Result tls = measure(true, quick);
	std::printf("%-34s %14s %14s %8s\n", "loopback, same framing", "plain TCP", "TLS 1.3", "TLS/TCP");
	std::printf("%-34s %14.1f %14.1f %8.2f\n", "round trip p50 (us), 100 B", plain.p50Us, tls.p50Us, tls.p50Us / plain.p50Us);
	std::printf("%-34s %14.1f %14.1f %8.2f\n", "round trip p99 (us), 100 B", plain.p99Us, tls.p99Us, tls.p99Us / plain.p99Us);
	std::printf("%-34s %14.0f %14.0f %8.2f\n", "messages/s, 100 B", plain.messagesPerSecond, tls.messagesPerSecond, tls.messagesPerSecond / plain.messagesPerSecond);
	std::printf("%-34s %14.1f %14.1f %8.2f\n", "bulk MiB/s, 64 KiB frames", plain.bulkMiBPerSecond, tls.bulkMiBPerSecond, tls.bulkMiBPerSecond / plain.bulkMiBPerSecond);
	return 0;
}
