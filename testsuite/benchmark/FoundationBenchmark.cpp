//
// FoundationBenchmark.cpp
//
// testsuite: micro benchmarks of the Foundation library, each beside a baseline measured in
// the same run (run-benchmarks.py prints the ratios):
//   - cross-thread post throughput: EventLoop::post() vs a mutex + condition variable queue
//   - timer schedule + cancel: EventLoop::runAfter() + cancel vs std::multimap insert + erase
//   - frame encode / decode: FrameCodec vs a plain memcpy of the same bytes
//   - frame decode: decode() handing out views vs feed() + next() copying each body
//   - output queue: 128 MiB queued at once and written out, ByteQueue vs the std::string
//     erased from the front that TcpConnection used before
//   - PublicKey from raw bytes vs the OpenSSL 3.0 encoder path it replaced, and PublicKey +
//     verify vs the bare OpenSSL calls (a relay's per-announce key work)
//


#include "CrossChat/ByteQueue.h"
#include "CrossChat/EventLoop.h"
#include "CrossChat/EventLoopThread.h"
#include "CrossChat/FrameCodec.h"
#include "CrossChat/Identity.h"
#include "CrossChat/PublicKey.h"
#include <benchmark/benchmark.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <sys/resource.h>


using CrossChat::ByteQueue;
using CrossChat::EventLoop;
using CrossChat::EventLoopThread;
using CrossChat::FrameCodec;
using CrossChat::Identity;
using CrossChat::PublicKey;
using CrossChat::TimerHandle;


namespace {


constexpr int BATCH = 10000;


void waitFor(const std::atomic<int>& counter, int value)
{
	while (counter.load(std::memory_order_acquire) < value) std::this_thread::yield();
}


class BaselineQueue
	/// The textbook alternative: a worker thread draining a mutex + condition variable queue.
{
public:
	BaselineQueue(): _thread([this] { run(); })
	{
	}

	~BaselineQueue()
	{
		post({});
		_thread.join();
	}

	void post(std::function<void()> task)
	{
		{
			std::lock_guard<std::mutex> lock(_mutex);
			_tasks.push_back(std::move(task));
		}
		_cond.notify_one();
	}

private:
	void run()
	{
		for (;;)
		{
			std::function<void()> task;
			{
				std::unique_lock<std::mutex> lock(_mutex);
				_cond.wait(lock, [this] { return !_tasks.empty(); });
				task = std::move(_tasks.front());
				_tasks.pop_front();
			}
			if (!task) return;
			task();
		}
	}

	std::mutex _mutex;
	std::condition_variable _cond;
	std::deque<std::function<void()>> _tasks;
	std::thread _thread;
};


void BM_Post_EventLoop(benchmark::State& state)
{
	EventLoopThread thread;
	std::atomic<int> done{0};
	for (auto _: state)
	{
		done = 0;
		for (int i = 0; i < BATCH; ++i)
			thread.loop().post([&done] { done.fetch_add(1, std::memory_order_release); });
		waitFor(done, BATCH);
	}
	state.SetItemsProcessed(state.iterations() * BATCH);
}
BENCHMARK(BM_Post_EventLoop)->UseRealTime()->Unit(benchmark::kMillisecond);


void BM_Post_Baseline_MutexCondvarQueue(benchmark::State& state)
{
	BaselineQueue queue;
	std::atomic<int> done{0};
	for (auto _: state)
	{
		done = 0;
		for (int i = 0; i < BATCH; ++i)
			queue.post([&done] { done.fetch_add(1, std::memory_order_release); });
		waitFor(done, BATCH);
	}
	state.SetItemsProcessed(state.iterations() * BATCH);
}
BENCHMARK(BM_Post_Baseline_MutexCondvarQueue)->UseRealTime()->Unit(benchmark::kMillisecond);


void BM_TimerScheduleCancel_EventLoop(benchmark::State& state)
{
	// Scheduled and cancelled on the loop thread, as protocol code does with its timeouts.
	EventLoop loop;
	int counter = 0;
	for (auto _: state)
	{
		TimerHandle handle = loop.runAfter(std::chrono::seconds(30), [&counter] { ++counter; });
		handle.cancel();
	}
	benchmark::DoNotOptimize(counter);
	state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_TimerScheduleCancel_EventLoop);


void BM_TimerScheduleCancel_Baseline_Multimap(benchmark::State& state)
{
	std::multimap<std::chrono::steady_clock::time_point, std::function<void()>> timers;
	int counter = 0;
	for (auto _: state)
	{
		auto it = timers.emplace(std::chrono::steady_clock::now() + std::chrono::seconds(30), [&counter] { ++counter; });
		timers.erase(it);
	}
	benchmark::DoNotOptimize(counter);
	state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_TimerScheduleCancel_Baseline_Multimap);


std::string makeStream(std::size_t bodySize, int frames)
{
	FrameCodec codec;
	std::string stream;
	const std::string body(bodySize, 'x');
	for (int i = 0; i < frames; ++i) codec.encodeTo(stream, 1, body);
	return stream;
}


void BM_FrameEncodeDecode_FrameCodec(benchmark::State& state)
{
	const std::size_t bodySize = static_cast<std::size_t>(state.range(0));
	const std::string body(bodySize, 'x');
	FrameCodec encoder;
	FrameCodec decoder;
	std::string wire;
	for (auto _: state)
	{
		wire.clear();
		for (int i = 0; i < 64; ++i) encoder.encodeTo(wire, 1, body);
		decoder.feed(wire.data(), wire.size());
		while (auto frame = decoder.next()) benchmark::DoNotOptimize(frame->body.data());
	}
	state.SetBytesProcessed(state.iterations() * 64 * static_cast<std::int64_t>(bodySize + FrameCodec::HEADER_SIZE));
}
BENCHMARK(BM_FrameEncodeDecode_FrameCodec)->Arg(100)->Arg(16 * 1024);


void BM_FrameEncodeDecode_Baseline_Memcpy(benchmark::State& state)
{
	// The floor: copy the same bytes into a wire buffer and out again into a body string.
	const std::size_t bodySize = static_cast<std::size_t>(state.range(0));
	const std::string stream = makeStream(bodySize, 64);
	std::string wire;
	std::string body;
	for (auto _: state)
	{
		wire.assign(stream);
		for (std::size_t pos = 0; pos < wire.size(); pos += bodySize + FrameCodec::HEADER_SIZE)
		{
			body.assign(wire.data() + pos + FrameCodec::HEADER_SIZE, bodySize);
			benchmark::DoNotOptimize(body.data());
		}
	}
	state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(stream.size()));
}
BENCHMARK(BM_FrameEncodeDecode_Baseline_Memcpy)->Arg(100)->Arg(16 * 1024);


void BM_FrameDecode_Views(benchmark::State& state)
	/// FrameCodec::decode(): each frame handed out as a view into the received bytes.
{
	const std::size_t bodySize = static_cast<std::size_t>(state.range(0));
	const std::string stream = makeStream(bodySize, 64);
	FrameCodec decoder;
	std::size_t bytes = 0;
	for (auto _: state)
	{
		decoder.decode(stream.data(), stream.size(), [&](const CrossChat::FrameView& frame) {
			bytes += frame.size;
			benchmark::DoNotOptimize(frame.data);
		});
	}
	benchmark::DoNotOptimize(bytes);
	state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(stream.size()));
}
BENCHMARK(BM_FrameDecode_Views)->Arg(100)->Arg(16 * 1024);


void BM_FrameDecode_Baseline_FeedNext(benchmark::State& state)
	/// feed() + next(): the bytes appended to the codec, each body copied into a Frame.
{
	const std::size_t bodySize = static_cast<std::size_t>(state.range(0));
	const std::string stream = makeStream(bodySize, 64);
	FrameCodec decoder;
	for (auto _: state)
	{
		decoder.feed(stream.data(), stream.size());
		while (auto frame = decoder.next()) benchmark::DoNotOptimize(frame->body.data());
	}
	state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(stream.size()));
}
BENCHMARK(BM_FrameDecode_Baseline_FeedNext)->Arg(100)->Arg(16 * 1024);


// A connection's output queue: 128 MiB queued at once (a sender much faster than its socket),
// then written out in 256 KiB pieces, as TcpConnection does when the socket takes them.


long minorFaults()
{
	rusage usage{};
	::getrusage(RUSAGE_SELF, &usage);
	return usage.ru_minflt;
}


constexpr std::size_t QUEUE_TOTAL = 128 * 1024 * 1024;
constexpr std::size_t QUEUE_PIECE = 64 * 1024;
constexpr std::size_t SOCKET_WRITE = 256 * 1024;


void BM_OutputQueue_ByteQueue(benchmark::State& state)
{
	const std::string piece(QUEUE_PIECE, 'q');
	ByteQueue queue;
	const long faults = minorFaults();
	for (auto _: state)
	{
		for (std::size_t queued = 0; queued < QUEUE_TOTAL; queued += piece.size()) queue.append(piece.data(), piece.size());
		while (!queue.empty())
		{
			struct iovec iov[64];
			const std::size_t count = queue.peek(iov, 64, SOCKET_WRITE);
			benchmark::DoNotOptimize(iov[0].iov_base);
			std::size_t bytes = 0;
			for (std::size_t i = 0; i < count; ++i) bytes += iov[i].iov_len;
			queue.consume(bytes);
		}
	}
	state.counters["page_faults"] = benchmark::Counter(static_cast<double>(minorFaults() - faults),
		benchmark::Counter::kAvgIterations);
	state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(QUEUE_TOTAL));
}
BENCHMARK(BM_OutputQueue_ByteQueue)->Unit(benchmark::kMillisecond);


void BM_OutputQueue_Baseline_StringEraseFront(benchmark::State& state)
{
	// TcpConnection's queue before: one std::string, appended to, erased from the front once
	// half of it had been written.
	const std::string piece(QUEUE_PIECE, 'q');
	const long faults = minorFaults();
	for (auto _: state)
	{
		std::string output;
		std::size_t position = 0;
		for (std::size_t queued = 0; queued < QUEUE_TOTAL; queued += piece.size()) output.append(piece);
		while (position < output.size())
		{
			benchmark::DoNotOptimize(output.data() + position);
			position += std::min(SOCKET_WRITE, output.size() - position);
			if (position < output.size() && position >= 64 * 1024 && position * 2 >= output.size())
			{
				output.erase(0, position);
				position = 0;
			}
		}
	}
	state.counters["page_faults"] = benchmark::Counter(static_cast<double>(minorFaults() - faults),
		benchmark::Counter::kAvgIterations);
	state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(QUEUE_TOTAL));
}
BENCHMARK(BM_OutputQueue_Baseline_StringEraseFront)->Unit(benchmark::kMillisecond);


// Public keys from the network: a relay verifies each announce's signature with a key that
// arrives as raw bytes; TLS builds one PublicKey per handshake.


const Identity& signer()
{
	static const Identity identity = Identity::generate();
	return identity;
}


void BM_KeyFromRaw_PublicKey(benchmark::State& state)
{
	const std::string raw = signer().publicKey().raw();
	for (auto _: state)
	{
		const PublicKey key = PublicKey::fromRaw(raw);
		benchmark::DoNotOptimize(key.peerId().bytes().data());
	}
	state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_KeyFromRaw_PublicKey);


void BM_KeyFromRaw_Baseline_Encoder(benchmark::State& state)
{
	// The way PublicKey worked before: OpenSSL key object, then the peer ID as SHA-256 of the
	// SubjectPublicKeyInfo produced by OpenSSL 3.0's encoder (i2d_PUBKEY).
	const std::string raw = signer().publicKey().raw();
	for (auto _: state)
	{
		EVP_PKEY* pKey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr,
			reinterpret_cast<const unsigned char*>(raw.data()), raw.size());
		unsigned char* pDer = nullptr;
		const int length = i2d_PUBKEY(pKey, &pDer);
		unsigned char digest[32];
		unsigned int digestLength = 0;
		EVP_Digest(pDer, static_cast<std::size_t>(length), digest, &digestLength, EVP_sha256(), nullptr);
		benchmark::DoNotOptimize(digest);
		OPENSSL_free(pDer);
		EVP_PKEY_free(pKey);
	}
	state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_KeyFromRaw_Baseline_Encoder);


void BM_KeyVerify_PublicKey(benchmark::State& state)
{
	// What a relay does per signed request: key from raw bytes, then one signature check.
	const std::string raw = signer().publicKey().raw();
	const std::string data(138, 's');
	const std::string signature = signer().sign(data);
	for (auto _: state)
	{
		const PublicKey key = PublicKey::fromRaw(raw);
		if (!key.verify(data, signature)) state.SkipWithError("signature did not verify");
	}
	state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_KeyVerify_PublicKey);


void BM_KeyVerify_Baseline_RawOpenSSL(benchmark::State& state)
{
	// The floor with OpenSSL: a key object from the raw bytes and EVP_DigestVerify, nothing else.
	const std::string raw = signer().publicKey().raw();
	const std::string data(138, 's');
	const std::string signature = signer().sign(data);
	for (auto _: state)
	{
		EVP_PKEY* pKey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr,
			reinterpret_cast<const unsigned char*>(raw.data()), raw.size());
		EVP_MD_CTX* pCtx = EVP_MD_CTX_new();
		const bool ok = EVP_DigestVerifyInit(pCtx, nullptr, nullptr, nullptr, pKey) == 1
			&& EVP_DigestVerify(pCtx, reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
				reinterpret_cast<const unsigned char*>(data.data()), data.size()) == 1;
		EVP_MD_CTX_free(pCtx);
		EVP_PKEY_free(pKey);
		if (!ok) state.SkipWithError("signature did not verify");
	}
	state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_KeyVerify_Baseline_RawOpenSSL);


} // namespace


BENCHMARK_MAIN();
