//
// TransferWindowTest.cpp
//
// testsuite: the receiver's delay-based window, driven with made-up delay samples.
//


#include "TransferWindowTest.h"
#include "TransferWindow.h"
#include <chrono>


using namespace CrossChat::Chat;
using namespace std::chrono_literals;


namespace {


constexpr std::size_t BLOCK = 128 * 1024;


TransferWindow::Params params()
{
	TransferWindow::Params p;
	p.target = 5000us;
	p.initial = 512 * 1024;
	p.maximum = 32 * 1024 * 1024;
	return p;
}


void feed(TransferWindow& window, std::chrono::microseconds delay, int samples)
{
	for (int i = 0; i < samples; ++i) window.sample(delay);
}


} // namespace


void TransferWindowTest::testStartsSmallAndAlwaysAllowsOne()
{
	TransferWindow window(BLOCK, params());
	CPPUNIT_ASSERT_EQUAL(std::size_t(512 * 1024), window.bytes());
	CPPUNIT_ASSERT(window.slowStart());
	CPPUNIT_ASSERT(window.allows(0));
	CPPUNIT_ASSERT(window.allows(3 * BLOCK));
	CPPUNIT_ASSERT(!window.allows(3 * BLOCK + 1));
	// A block bigger than the window still goes, alone.
	TransferWindow huge(16 * 1024 * 1024, params());
	CPPUNIT_ASSERT(huge.allows(0));
	CPPUNIT_ASSERT(huge.bytes() >= 2 * 16 * 1024 * 1024);
}


void TransferWindowTest::testSlowStartGrows()
{
	TransferWindow window(BLOCK, params());
	window.sample(200us);   // the base: a LAN round trip
	const std::size_t before = window.bytes();
	feed(window, 300us, 10);   // well under half the target
	CPPUNIT_ASSERT(window.slowStart());
	CPPUNIT_ASSERT_EQUAL(before + 10 * BLOCK, window.bytes());
	CPPUNIT_ASSERT(window.baseDelay() == std::chrono::duration_cast<TransferWindow::Duration>(200us));
	CPPUNIT_ASSERT(window.queueDelay() == std::chrono::duration_cast<TransferWindow::Duration>(100us));
	// Queueing past half the target ends slow start.
	window.sample(3200us);
	CPPUNIT_ASSERT(!window.slowStart());
}


void TransferWindowTest::testQueueShrinks()
{
	TransferWindow window(BLOCK, params());
	window.sample(1ms);
	feed(window, 1ms, 60);   // grows in slow start
	const std::size_t grown = window.bytes();
	CPPUNIT_ASSERT(grown > 4 * 1024 * 1024);
	// A queue of 3 times the target halves the window, at most once per window's worth of samples.
	window.sample(16ms);
	CPPUNIT_ASSERT(!window.slowStart());
	CPPUNIT_ASSERT_EQUAL(grown / 2, window.bytes());
	window.sample(16ms);
	CPPUNIT_ASSERT_EQUAL(grown / 2, window.bytes());
	feed(window, 16ms, static_cast<int>(grown / BLOCK));
	CPPUNIT_ASSERT(window.bytes() <= grown / 4 + BLOCK);
	// Over the target (but under twice it): shrinks a little per sample.
	TransferWindow other(BLOCK, params());
	feed(other, 1ms, 21);
	const std::size_t now = other.bytes();
	other.sample(9ms);   // 8 ms of queue against a target of 5.25 ms
	CPPUNIT_ASSERT(!other.slowStart());
	CPPUNIT_ASSERT(other.bytes() < now);
	CPPUNIT_ASSERT(other.bytes() > now - BLOCK);
}


void TransferWindowTest::testSettlesNearTarget()
{
	// A simulated path: 10 MB/s, 20 ms round trip. The first block of a round has nothing ahead
	// of it: its delay is the round trip. Later ones see the round trip plus what the window
	// holds beyond the path's bandwidth-delay product, drained at 10 MB/s.
	TransferWindow window(BLOCK, params());
	const double rate = 10e6;
	const double rtt = 0.020;
	window.sample(std::chrono::duration_cast<TransferWindow::Duration>(std::chrono::duration<double>(rtt)));
	for (int i = 0; i < 5000; ++i)
	{
		const double queued = std::max(0.0, static_cast<double>(window.bytes()) - rate * rtt);
		window.sample(std::chrono::duration_cast<TransferWindow::Duration>(std::chrono::duration<double>(rtt + queued / rate)));
	}
	// The target is 5 ms + a quarter of the 20 ms base: 10 ms of queue, about 100 KB beyond the
	// 200 KB in flight. The window ends within a block of it, and never starves the path.
	const double expected = rate * (rtt + 0.010);
	CPPUNIT_ASSERT(window.target() > std::chrono::duration_cast<TransferWindow::Duration>(9990us));
	CPPUNIT_ASSERT(window.target() < std::chrono::duration_cast<TransferWindow::Duration>(10010us));
	CPPUNIT_ASSERT(static_cast<double>(window.bytes()) >= rate * rtt);
	CPPUNIT_ASSERT(std::abs(static_cast<double>(window.bytes()) - expected) <= static_cast<double>(BLOCK));
}


void TransferWindowTest::testBounds()
{
	TransferWindow::Params p = params();
	p.maximum = 4 * 1024 * 1024;
	TransferWindow window(BLOCK, p);
	window.sample(0us);
	feed(window, 0us, 1000);
	CPPUNIT_ASSERT_EQUAL(std::size_t(4 * 1024 * 1024), window.bytes());
	feed(window, 1s, 1000);
	CPPUNIT_ASSERT_EQUAL(BLOCK, window.bytes());   // never below one block
	CPPUNIT_ASSERT(window.allows(0));
	CPPUNIT_ASSERT(!window.allows(1));
	window.sample(-5ms);   // a clock oddity is a zero delay, not a crash
	CPPUNIT_ASSERT(window.baseDelay() == TransferWindow::Duration::zero());
}


void TransferWindowTest::testResetForgetsBase()
{
	TransferWindow window(BLOCK, params());
	window.sample(100ms);   // a relay path
	feed(window, 100ms, 5);
	CPPUNIT_ASSERT(window.target() == std::chrono::duration_cast<TransferWindow::Duration>(30ms));
	window.reset();   // the path switched to direct
	CPPUNIT_ASSERT(window.slowStart());
	CPPUNIT_ASSERT_EQUAL(std::size_t(512 * 1024), window.bytes());
	window.sample(300us);
	CPPUNIT_ASSERT(window.baseDelay() == std::chrono::duration_cast<TransferWindow::Duration>(300us));
	CPPUNIT_ASSERT(window.target() < std::chrono::duration_cast<TransferWindow::Duration>(6ms));
}
