//
// GroupBenchmark.cpp
//
// testsuite: group message fan-out against the same number of pairwise messages, in one run.
// N ChatNodes (default 50) on loopback in one process share one EventLoop (one thread, so the
// numbers include every node's work: TLS, signature checks, forwarding). Node 0 founds a
// group, invites the others, which accept; every node connects to every other (a full mesh,
// as group peers do). Then, alternating round by round:
//   - group: node 0 writes one group message; time until the last of the N-1 members has it
//     (each member hands it on to the others: duplicates are dropped);
//   - pairwise: node 0 sends one text message to each of the N-1 members over the same
//     sessions; time until the last one has arrived;
//   - single: node 0 sends one text message to one member (the floor: one hop).
// Reported: p50, p90, p99 and max in microseconds, the ratio group / pairwise, and the frames
// and signature checks per group message.
//
// Usage: Group-benchmark [--quick] [--members N] [--rounds R]
//   --quick       smoke run for CI: 10 members, 10 rounds (seconds)
//


#include "GroupWire.h"
#include "CrossChat/Chat/ChatNode.h"
#include "CrossChat/Chat/SessionProtocol.h"
#include "CrossChat/FrameCodec.h"
#include "CrossChat/PublicKey.h"
#include "CrossChat/EventLoop.h"
#include "CrossChat/Identity.h"
#include "CrossChat/TimerHandle.h"
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>


using namespace CrossChat;
using namespace CrossChat::Chat;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;


namespace {


struct Node
{
	Identity identity = Identity::generate();
	std::unique_ptr<ChatNode> node;
	std::size_t groupMessages = 0;
	std::size_t textMessages = 0;
};


struct Bench
{
	EventLoop loop;
	std::vector<std::unique_ptr<Node>> nodes;
	std::size_t expected = 0;            ///< Arrivals that end the current round.
	std::size_t arrived = 0;
	Clock::time_point last;
	std::function<void()> onTimeout;   ///< Says what is missing before the program gives up.

	void arrive()
	{
		++arrived;
		last = Clock::now();
		if (arrived == expected) loop.stop();
	}

	bool runUntil(const std::function<bool()>& done, std::chrono::seconds limit)
	{
		bool timedOut = false;
		TimerHandle check = loop.runEvery(5ms, [&] { if (done()) loop.stop(); });
		TimerHandle guard = loop.runAfter(limit, [&] { timedOut = true; loop.stop(); });
		// run() may return at once for a stop() asked while it was not running: loop again.
		while (!done() && !timedOut) loop.run();
		return !timedOut && done();
	}

	double waitRound(std::size_t count, Clock::time_point start)
		/// Runs the loop until count arrivals; returns the time to the last one in µs.
	{
		expected = count;
		arrived = 0;
		bool timedOut = false;
		TimerHandle guard = loop.runAfter(30s, [this, &timedOut] { timedOut = true; loop.stop(); });
		// run() may return at once for a stop() asked while it was not running: loop again.
		while (arrived < expected && !timedOut) loop.run();
		if (arrived < expected)
		{
			std::fprintf(stderr, "Group-benchmark: a round timed out (%zu of %zu arrived)\n", arrived, expected);
			if (onTimeout) onTimeout();
			std::exit(1);
		}
		return std::chrono::duration<double, std::micro>(last - start).count();
	}
};


struct Summary
{
	double p50 = 0, p90 = 0, p99 = 0, max = 0;
};


Summary summarize(std::vector<double> samples)
{
	std::sort(samples.begin(), samples.end());
	auto at = [&samples](double q) { return samples[std::min(samples.size() - 1, static_cast<std::size_t>(q * samples.size()))]; };
	return Summary{at(0.50), at(0.90), at(0.99), samples.back()};
}


void print(const char* name, const Summary& s)
{
	std::printf("%-44s p50 %9.0f  p90 %9.0f  p99 %9.0f  max %9.0f\n", name, s.p50, s.p90, s.p99, s.max);
}


} // namespace


int main(int argc, char** argv)
{
	std::size_t members = 50;
	std::size_t rounds = 100;
	for (int i = 1; i < argc; ++i)
	{
		if (std::strcmp(argv[i], "--quick") == 0)
		{
			members = 10;
			rounds = 10;
		}
		else if (std::strcmp(argv[i], "--members") == 0 && i + 1 < argc)
			members = std::strtoul(argv[++i], nullptr, 10);
		else if (std::strcmp(argv[i], "--rounds") == 0 && i + 1 < argc)
			rounds = std::strtoul(argv[++i], nullptr, 10);
		else
		{
			std::fprintf(stderr, "usage: %s [--quick] [--members N] [--rounds R]\n", argv[0]);
			return 2;
		}
	}
	if (members < 2 || members > 200 || rounds == 0)
	{
		std::fprintf(stderr, "Group-benchmark: --members 2..200, --rounds >= 1\n");
		return 2;
	}

	Bench bench;
	const auto setupStart = Clock::now();
	for (std::size_t i = 0; i < members; ++i)
	{
		auto node = std::make_unique<Node>();
		ChatNodeConfig config;
		config.name = "n" + std::to_string(i);
		config.listenAddress = Poco::Net::SocketAddress("127.0.0.1", 0);
		config.enableLan = false;
		config.portMapping = false;
		config.reconnectMin = 20ms;
		config.reconnectMax = 500ms;
		// Every session comes from 127.0.0.1: the per-address caps would stop a mesh of 50.
		config.maxSessionsPerAddress = 4 * members;
		config.maxPendingPerAddress = 4 * members;
		config.maxPendingSessions = 4 * members;
		config.maxSessions = 4 * members;
		node->node = std::make_unique<ChatNode>(bench.loop, node->identity, config);
		Node* pNode = node.get();
		Bench* pBench = &bench;
		node->node->setGroupMessageHandler([pNode, pBench](const GroupMessage&) { ++pNode->groupMessages; pBench->arrive(); });
		node->node->setMessageHandler([pNode, pBench](const ChatMessage&) { ++pNode->textMessages; pBench->arrive(); });
		node->node->start();
		bench.nodes.push_back(std::move(node));
	}
	for (auto& a: bench.nodes)
		for (auto& b: bench.nodes)
			if (a != b) a->node->addPeerAddress(b->identity.peerId(), Poco::Net::SocketAddress("127.0.0.1", b->node->port()));
	ChatNode& founder = *bench.nodes[0]->node;
	const std::string group = founder.createGroup("bench");
	for (std::size_t i = 1; i < members; ++i)
	{
		ChatNode* pMember = bench.nodes[i]->node.get();
		pMember->setGroupHandler([pMember](const GroupChange& change) {
			if (change.kind == "invited") pMember->acceptGroupInvitation(change.group);
		});
		founder.inviteToGroup(group, bench.nodes[i]->identity.peerId());
		// The pairwise baseline writes to contacts (a stranger's messages are rate-limited).
		pMember->accept(bench.nodes[0]->identity.peerId());
	}
	const bool joined = bench.runUntil([&] {
		for (auto& node: bench.nodes)
		{
			const auto all = node->node->groups();
			if (all.empty() || all.front().state != "member" || all.front().members != members) return false;
		}
		return true;
	}, std::chrono::seconds(120));
	const bool meshed = joined && bench.runUntil([&] {
		for (auto& a: bench.nodes)
			for (auto& b: bench.nodes)
			{
				if (a == b) continue;
				const auto info = a->node->peer(b->identity.peerId());
				if (!info || !info->connected) return false;
			}
		return true;
	}, std::chrono::seconds(120));
	if (!meshed)
	{
		std::fprintf(stderr, "Group-benchmark: the group did not form (%s)\n", joined ? "no full mesh" : "members missing");
		return 1;
	}
	std::printf("%zu members joined and fully connected in %.1f s (%zu sessions)\n", members,
		std::chrono::duration<double>(Clock::now() - setupStart).count(), members * (members - 1) / 2);

	std::uint64_t forwardedBefore = 0;
	auto totals = [&bench](std::uint64_t& forwarded, std::uint64_t& duplicates) {
		forwarded = duplicates = 0;
		for (auto& node: bench.nodes)
		{
			const GroupStats stats = node->node->groupStats();
			forwarded += stats.forwarded;
			duplicates += stats.duplicates;
		}
	};
	bench.onTimeout = [&bench, &founder]() {
		for (std::size_t i = 1; i < bench.nodes.size(); ++i)
		{
			const Node& node = *bench.nodes[i];
			const auto there = founder.peer(node.identity.peerId());
			const auto back = node.node->peer(bench.nodes[0]->identity.peerId());
			std::fprintf(stderr, "  member %zu: %zu group, %zu text messages; founder sees it %s, it sees the founder %s\n", i,
				node.groupMessages, node.textMessages, there && there->connected ? "connected" : "not connected",
				back && back->connected ? "connected" : "not connected");
		}
	};
	std::vector<double> groupSamples, pairwiseSamples, singleSamples;
	const std::string text(100, 'x');
	const std::size_t warmup = std::min<std::size_t>(5, rounds);
	std::uint64_t duplicatesBefore = 0;
	for (std::size_t round = 0; round < rounds + warmup; ++round)
	{
		if (round == warmup) totals(forwardedBefore, duplicatesBefore);
		auto start = Clock::now();
		founder.sendToGroup(group, text);
		const double groupUs = bench.waitRound(members - 1, start);
		start = Clock::now();
		for (std::size_t i = 1; i < members; ++i) founder.send(bench.nodes[i]->identity.peerId(), text);
		const double pairwiseUs = bench.waitRound(members - 1, start);
		start = Clock::now();
		founder.send(bench.nodes[1 + round % (members - 1)]->identity.peerId(), text);
		const double singleUs = bench.waitRound(1, start);
		// Let receipts and forwarded copies settle before the next round.
		bench.runUntil([&] { return founder.pendingMessages() == 0; }, std::chrono::seconds(10));
		bool paused = false;
		TimerHandle pause = bench.loop.runAfter(5ms, [&bench, &paused] { paused = true; bench.loop.stop(); });
		while (!paused) bench.loop.run();
		if (round < warmup) continue;
		groupSamples.push_back(groupUs);
		pairwiseSamples.push_back(pairwiseUs);
		singleSamples.push_back(singleUs);
	}
	std::uint64_t forwarded = 0, duplicates = 0;
	totals(forwarded, duplicates);
	const Summary g = summarize(groupSamples);
	const Summary p = summarize(pairwiseSamples);
	const Summary s = summarize(singleSamples);
	std::printf("latency to the last of %zu members, %zu rounds, microseconds:\n", members - 1, rounds);
	print("group message (signed, fanned out)", g);
	print("pairwise: one text message to each member", p);
	print("single: one text message to one member", s);
	std::printf("ratio group / pairwise: p50 %.2f, p90 %.2f\n", g.p50 / p.p50, g.p90 / p.p90);
	std::printf("per group message: %.1f copies sent by all members (forwarded), %.1f dropped as duplicates\n",
		static_cast<double>(forwarded - forwardedBefore) / rounds, static_cast<double>(duplicates - duplicatesBefore) / rounds);
	// Where a group message's extra time goes: its signature, made once, checked by every member.
	{
		const Identity& author = bench.nodes[0]->identity;
		GroupPost post;
		post.group = std::string(32, 'g');
		post.seq = 1;
		post.id = "3274be1a-97ab-49f4-a9a7-10b52e23536f";
		post.version = 50;
		post.text = text;
		const int count = 2000;
		auto t0 = Clock::now();
		for (int i = 0; i < count; ++i) post.sign(author);
		auto t1 = Clock::now();
		const PublicKey key = PublicKey::fromRaw(post.authorKey);
		const std::string bytes = post.signedBytes();
		bool ok = true;
		for (int i = 0; i < count; ++i) ok = key.verify(bytes, post.signature) && ok;
		auto t2 = Clock::now();
		const Poco::JSON::Object body = post.toJson();
		for (int i = 0; i < count; ++i) GroupPost::fromJson(body);
		auto t3 = Clock::now();
		auto each = [count](Clock::time_point a, Clock::time_point b) {
			return std::chrono::duration<double, std::micro>(b - a).count() / count;
		};
		// Decoding a frame (JSON parse and schema) as a session does: a group message against a text.
		const FrameCodec codec(SessionProtocol::MAX_FRAME_SIZE);
		const std::string groupFrame = SessionProtocol::catalog().encode(codec, "group_msg", body);
		Poco::JSON::Object textBody;
		textBody.set("id", post.id);
		textBody.set("ts", static_cast<Poco::Int64>(1795715535334));
		textBody.set("text", text);
		const std::string textFrame = SessionProtocol::catalog().encode(codec, "text", textBody);
		auto t4 = Clock::now();
		for (int i = 0; i < count; ++i) SessionProtocol::catalog().decode(Frame{20, groupFrame.substr(8)});
		auto t5 = Clock::now();
		for (int i = 0; i < count; ++i) SessionProtocol::catalog().decode(Frame{2, textFrame.substr(8)});
		auto t6 = Clock::now();
		std::printf("per message: sign %.1f us, verify %.1f us (x%zu members: %.0f us), parse %.1f us%s\n", each(t0, t1),
			each(t1, t2), members - 1, each(t1, t2) * static_cast<double>(members - 1), each(t2, t3), ok ? "" : " (VERIFY FAILED)");
		std::printf("frame decode (JSON, schema): group_msg %zu bytes %.1f us, text %zu bytes %.1f us\n",
			groupFrame.size(), each(t4, t5), textFrame.size(), each(t5, t6));
	}
	for (auto& node: bench.nodes) node->node->stop();
	return 0;
}
