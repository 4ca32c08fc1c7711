//
// OutboxTest.cpp
//
// testsuite: tests for Outbox, the send queue of one peer (a plain value: no clock, no
// sockets; times are made up).
//


#include "OutboxTest.h"
#include "Outbox.h"
#include "Poco/Exception.h"
#include <chrono>
#include <string>
#include <vector>


using CrossChat::Chat::Outbox;
using CrossChat::Scheduler;
using namespace std::chrono_literals;


namespace {


Outbox::Entry entry(const std::string& id, const std::string& text = "hello")
{
	Outbox::Entry e;
	e.id = id;
	e.timestampMs = 1700000000000;
	e.text = text;
	return e;
}


std::vector<std::string> ids(const std::vector<const Outbox::Entry*>& entries)
{
	std::vector<std::string> result;
	for (const Outbox::Entry* pEntry: entries) result.push_back(pEntry->id);
	return result;
}


const Scheduler::TimePoint T0 = Scheduler::TimePoint(std::chrono::hours(5));


} // namespace


void OutboxTest::testOrder()
{
	Outbox outbox;
	CPPUNIT_ASSERT(outbox.empty());
	outbox.push(entry("c", "third?"));
	outbox.push(entry("a", "no: first id pushed second"));
	outbox.push(entry("b"));
	CPPUNIT_ASSERT(!outbox.empty());
	CPPUNIT_ASSERT_EQUAL(std::size_t(3), outbox.size());
	// The order of acceptance, not of ids.
	const std::vector<std::string> expected{"c", "a", "b"};
	CPPUNIT_ASSERT(ids(outbox.unwritten(1)) == expected);
	CPPUNIT_ASSERT_EQUAL(std::string("c"), outbox.entries().front().id);
	CPPUNIT_ASSERT_EQUAL(std::string("third?"), outbox.entries().front().text);
	CPPUNIT_ASSERT(outbox.contains("a"));
	CPPUNIT_ASSERT(!outbox.contains("d"));
	// Removing from the middle keeps the others in order.
	CPPUNIT_ASSERT(outbox.acknowledge("a"));
	const std::vector<std::string> rest{"c", "b"};
	CPPUNIT_ASSERT(ids(outbox.unwritten(1)) == rest);
	outbox.clear();
	CPPUNIT_ASSERT(outbox.empty());
}


void OutboxTest::testUnwrittenPerSession()
{
	Outbox outbox;
	outbox.push(entry("m1"));
	outbox.push(entry("m2"));
	outbox.push(entry("m3"));
	outbox.markWritten("m1", 7, T0);
	outbox.markWritten("m2", 7, T0 + 1s);
	// Session 7 still needs m3 only; any other session needs all of them, in order.
	CPPUNIT_ASSERT(ids(outbox.unwritten(7)) == std::vector<std::string>{"m3"});
	CPPUNIT_ASSERT((ids(outbox.unwritten(8)) == std::vector<std::string>{"m1", "m2", "m3"}));
	// Written on a newer session: the old one would need it again, the new one not.
	outbox.markWritten("m1", 8, T0 + 2s);
	CPPUNIT_ASSERT((ids(outbox.unwritten(7)) == std::vector<std::string>{"m1", "m3"}));
	CPPUNIT_ASSERT((ids(outbox.unwritten(8)) == std::vector<std::string>{"m2", "m3"}));
	CPPUNIT_ASSERT_EQUAL(std::uint64_t(8), outbox.entries().front().writtenOn);
	CPPUNIT_ASSERT(outbox.entries().front().writtenAt == T0 + 2s);
	// An unknown id changes nothing.
	outbox.markWritten("nope", 8, T0 + 3s);
	CPPUNIT_ASSERT((ids(outbox.unwritten(8)) == std::vector<std::string>{"m2", "m3"}));
	// A pushed entry starts unwritten, whatever the caller put in it.
	Outbox::Entry stale = entry("m4");
	stale.writtenOn = 8;
	stale.writtenAt = T0;
	outbox.push(stale);
	CPPUNIT_ASSERT((ids(outbox.unwritten(8)) == std::vector<std::string>{"m2", "m3", "m4"}));
	CPPUNIT_ASSERT_EQUAL(std::uint64_t(0), outbox.entries().back().writtenOn);
}


void OutboxTest::testAcknowledgeAndRefuse()
{
	Outbox outbox;
	outbox.push(entry("m1", "one"));
	outbox.push(entry("m2", "two"));
	outbox.push(entry("m3", "three"));
	const auto acknowledged = outbox.acknowledge("m2");
	CPPUNIT_ASSERT(acknowledged.has_value());
	CPPUNIT_ASSERT_EQUAL(std::string("two"), acknowledged->text);
	CPPUNIT_ASSERT(!outbox.contains("m2"));
	// A receipt for a retransmission that was acknowledged already: nothing.
	CPPUNIT_ASSERT(!outbox.acknowledge("m2").has_value());
	CPPUNIT_ASSERT(!outbox.acknowledge("unknown").has_value());
	CPPUNIT_ASSERT_EQUAL(std::size_t(2), outbox.size());
	const auto refused = outbox.refuse("m1");
	CPPUNIT_ASSERT(refused.has_value());
	CPPUNIT_ASSERT_EQUAL(std::string("one"), refused->text);
	CPPUNIT_ASSERT(!outbox.refuse("m1").has_value());
	CPPUNIT_ASSERT(!outbox.refuse("unknown").has_value());
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), outbox.size());
	CPPUNIT_ASSERT_EQUAL(std::string("m3"), outbox.entries().front().id);
}


void OutboxTest::testOldestWaiting()
{
	Outbox outbox;
	CPPUNIT_ASSERT(!outbox.oldestWaiting(1).has_value());
	outbox.push(entry("m1"));
	outbox.push(entry("m2"));
	// Not written anywhere yet: nothing to watch.
	CPPUNIT_ASSERT(!outbox.oldestWaiting(1).has_value());
	CPPUNIT_ASSERT(!outbox.oldestWaiting(0).has_value());
	outbox.markWritten("m1", 1, T0);
	outbox.markWritten("m2", 1, T0 + 4s);
	CPPUNIT_ASSERT(outbox.oldestWaiting(1) == T0);
	// Another session is not delivering anything of ours.
	CPPUNIT_ASSERT(!outbox.oldestWaiting(2).has_value());
	// The oldest acknowledged: the watch moves to the next one.
	outbox.acknowledge("m1");
	CPPUNIT_ASSERT(outbox.oldestWaiting(1) == T0 + 4s);
	// Rewritten on a new session: the old session is no longer watched, the new one is.
	outbox.markWritten("m2", 2, T0 + 9s);
	CPPUNIT_ASSERT(!outbox.oldestWaiting(1).has_value());
	CPPUNIT_ASSERT(outbox.oldestWaiting(2) == T0 + 9s);
	outbox.refuse("m2");
	CPPUNIT_ASSERT(!outbox.oldestWaiting(2).has_value());
}


void OutboxTest::testDuplicateIdRefused()
{
	Outbox outbox;
	outbox.push(entry("m1", "first"));
	CPPUNIT_ASSERT_THROW(outbox.push(entry("m1", "second")), Poco::InvalidArgumentException);
	CPPUNIT_ASSERT_EQUAL(std::size_t(1), outbox.size());
	CPPUNIT_ASSERT_EQUAL(std::string("first"), outbox.entries().front().text);
	// Once it is gone, the id may be queued again.
	outbox.acknowledge("m1");
	outbox.push(entry("m1", "again"));
	CPPUNIT_ASSERT_EQUAL(std::string("again"), outbox.entries().front().text);
}
