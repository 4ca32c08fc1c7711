//
// DownloadBudgetTest.cpp
//
// testsuite: fake clients that want a number of blocks of a fixed size, on a manual clock.
//


#include "DownloadBudgetTest.h"
#include "DownloadBudget.h"
#include "CrossChat/ManualScheduler.h"
#include <memory>
#include <string>
#include <vector>


using namespace CrossChat;
using namespace CrossChat::Chat;


namespace {


class FakeClient: public DownloadBudget::Client, public std::enable_shared_from_this<FakeClient>
	/// Wants `wanted` more blocks of `block` bytes; takes what the budget gives, in order.
{
public:
	FakeClient(DownloadBudget& budget, std::vector<std::string>& log, std::string name, std::size_t block):
		_budget(budget),
		_log(log),
		_name(std::move(name)),
		_block(block)
	{
	}

	void want(std::size_t blocks)
	{
		wanted += blocks;
		take();
	}

	void take()
	{
		while (wanted > 0 && _budget.acquire(shared_from_this(), _block))
		{
			--wanted;
			++held;
			_log.push_back(_name);
		}
	}

	void giveBack(std::size_t blocks)
	{
		held -= blocks;
		_budget.release(blocks * _block);
	}

	void budgetFreed() override
	{
		take();
	}

	std::size_t wanted = 0;
	std::size_t held = 0;

private:
	DownloadBudget& _budget;
	std::vector<std::string>& _log;
	const std::string _name;
	const std::size_t _block;
};


std::string joined(const std::vector<std::string>& log)
{
	std::string text;
	for (const std::string& entry: log) text += entry;
	return text;
}


} // namespace


void DownloadBudgetTest::testHardLimit()
{
	ManualScheduler clock;
	TransferStats stats;
	DownloadBudget budget(clock, 1000, stats);
	std::vector<std::string> log;
	auto a = std::make_shared<FakeClient>(budget, log, "a", 300);
	a->want(5);
	CPPUNIT_ASSERT_EQUAL(std::size_t(3), a->held);
	CPPUNIT_ASSERT_EQUAL(std::size_t(900), budget.used());
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), budget.waiting());
	CPPUNIT_ASSERT_EQUAL(std::uint64_t(1), stats.budgetWaits);
	// Released: it gets the rest, never more than the limit.
	a->giveBack(2);
	clock.runPending();
	CPPUNIT_ASSERT_EQUAL(std::size_t(3), a->held);
	CPPUNIT_ASSERT_EQUAL(std::size_t(0), a->wanted);
	CPPUNIT_ASSERT_EQUAL(std::size_t(900), budget.used());
	CPPUNIT_ASSERT_EQUAL(std::uint64_t(900), stats.downloadMemoryPeak);
	a->giveBack(3);
	CPPUNIT_ASSERT_EQUAL(std::size_t(0), budget.used());
	// A block larger than the whole budget: only when nothing else is held.
	auto big = std::make_shared<FakeClient>(budget, log, "B", 1500);
	a->want(1);
	big->want(1);
	CPPUNIT_ASSERT_EQUAL(std::size_t(0), big->held);
	a->giveBack(1);
	clock.runPending();
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), big->held);
	CPPUNIT_ASSERT_EQUAL(std::size_t(1500), budget.used());
}


void DownloadBudgetTest::testWaitersServedInTurn()
{
	ManualScheduler clock;
	TransferStats stats;
	DownloadBudget budget(clock, 4 * 100, stats);
	std::vector<std::string> log;
	auto a = std::make_shared<FakeClient>(budget, log, "a", 100);
	auto b = std::make_shared<FakeClient>(budget, log, "b", 100);
	auto c = std::make_shared<FakeClient>(budget, log, "c", 100);
	a->want(10);
	b->want(10);
	c->want(10);
	CPPUNIT_ASSERT_EQUAL(std::string("aaaa"), joined(log));
	// a (the first to wait) gives everything back: then the three are served in turn, one
	// block each, until the budget is used again.
	a->giveBack(4);
	a->take();   // not before its turn comes
	CPPUNIT_ASSERT_EQUAL(std::size_t(0), a->held);
	clock.runPending();
	CPPUNIT_ASSERT_EQUAL(std::string("aaaaabca"), joined(log));
	CPPUNIT_ASSERT_EQUAL(std::size_t(400), budget.used());
	// Until all are done, every release goes round: nobody waits for ever.
	while (a->wanted + b->wanted + c->wanted > 0)
	{
		for (auto* pClient: {a.get(), b.get(), c.get()})
			if (pClient->held > 0) pClient->giveBack(1);
		clock.runPending();
		CPPUNIT_ASSERT(budget.used() <= 400);
	}
	CPPUNIT_ASSERT_EQUAL(std::size_t(0), budget.waiting());
}


void DownloadBudgetTest::testBlockedHeadKeepsItsPlace()
{
	ManualScheduler clock;
	TransferStats stats;
	DownloadBudget budget(clock, 1000, stats);
	std::vector<std::string> log;
	auto small = std::make_shared<FakeClient>(budget, log, "s", 100);
	auto big = std::make_shared<FakeClient>(budget, log, "B", 800);
	auto other = std::make_shared<FakeClient>(budget, log, "o", 100);
	small->want(8);
	big->want(1);
	other->want(1);
	CPPUNIT_ASSERT_EQUAL(std::size_t(800), budget.used());
	// 100 released: not enough for the head (B); the one behind it waits too.
	small->giveBack(1);
	clock.runPending();
	CPPUNIT_ASSERT_EQUAL(std::size_t(0), big->held);
	CPPUNIT_ASSERT_EQUAL(std::size_t(0), other->held);
	CPPUNIT_ASSERT_EQUAL(std::size_t(2), budget.waiting());
	// Enough for B: B first, then the one behind.
	small->giveBack(6);
	clock.runPending();
	CPPUNIT_ASSERT_EQUAL(std::string("ssssssssBo"), joined(log));
	CPPUNIT_ASSERT_EQUAL(std::size_t(1000), budget.used());
}


void DownloadBudgetTest::testEndedClientsSkipped()
{
	ManualScheduler clock;
	TransferStats stats;
	DownloadBudget budget(clock, 200, stats);
	std::vector<std::string> log;
	auto a = std::make_shared<FakeClient>(budget, log, "a", 100);
	auto gone = std::make_shared<FakeClient>(budget, log, "g", 100);
	auto c = std::make_shared<FakeClient>(budget, log, "c", 100);
	a->want(2);
	gone->want(1);
	c->want(1);
	gone.reset();
	a->giveBack(1);
	clock.runPending();
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), c->held);
	CPPUNIT_ASSERT_EQUAL(std::size_t(0), budget.waiting());
	// A client that no longer wants anything just leaves the queue.
	a->want(1);
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), budget.waiting());
	a->wanted = 0;
	c->giveBack(1);
	clock.runPending();
	CPPUNIT_ASSERT_EQUAL(std::size_t(0), budget.waiting());
	CPPUNIT_ASSERT_EQUAL(std::size_t(100), budget.used());
}
