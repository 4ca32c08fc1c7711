//
// ChatStoreCrashWriter.cpp
//
// testsuite: the child process of ChatStoreTest::testKilledWriterLosesNothing. It writes to a
// ChatStore as fast as it can and reports every write that returned (was acknowledged) on
// stdout, one line each, written with write(2) only after the call returned:
//   q <n>    message "m<n>" queued for the peer (QUEUED, durable)
//   s <n>    message "m<n>" marked SENT
//   d <n>    message "m<n>" marked DELIVERED
//   r <n>    message "r<n>" received from the peer (RECEIVED, durable)
// Every 10th step queues 5 messages in one transaction() and reports them after it returns.
// The parent kills it with SIGKILL in the middle of this and checks the database.
//
// Usage: ChatStore-crashwriter <database> <first number> <peer ID>
//


#include "CrossChat/Chat/ChatStore.h"
#include "CrossChat/ManualScheduler.h"
#include "CrossChat/PeerId.h"
#include "Poco/Exception.h"
#include <cerrno>
#include <cstdlib>
#include <iostream>
#include <string>
#include <unistd.h>


namespace {


constexpr long MAX_STEPS = 200000;   // a bound should the parent never kill us


void report(char kind, long number)
{
	const std::string line = std::string(1, kind) + " " + std::to_string(number) + "\n";
	// One short write: atomic on a pipe, so the parent never sees half a line.
	ssize_t n;
	do
	{
		n = ::write(STDOUT_FILENO, line.data(), line.size());
	}
	while (n < 0 && errno == EINTR);
	if (n != static_cast<ssize_t>(line.size())) std::_Exit(3);
}


std::string text(long number)
{
	return "crash test message " + std::to_string(number) + " with some words to index";
}


} // namespace


int main(int argc, char** argv)
{
	if (argc != 4)
	{
		std::cerr << "usage: ChatStore-crashwriter <database> <first number> <peer ID>\n";
		return 2;
	}
	try
	{
		const std::string path = argv[1];
		const long first = std::stol(argv[2]);
		const CrossChat::PeerId peer = CrossChat::PeerId::parse(argv[3]);

		CrossChat::ManualScheduler loop;
		CrossChat::Chat::ChatStore store(loop);
		store.open(path);
		long n = first;
		for (long step = 0; step < MAX_STEPS; ++step)
		{
			if (step % 10 == 9)
			{
				const long batch = n;
				store.transaction([&] {
					for (int i = 0; i < 5; ++i, ++n) store.queueOutgoing(peer, "m" + std::to_string(n), text(n), n);
				});
				for (long i = batch; i < n; ++i) report('q', i);
				continue;
			}
			store.queueOutgoing(peer, "m" + std::to_string(n), text(n), n);
			report('q', n);
			if (step % 3 == 1 && n - 1 >= first && store.markSent(peer, "m" + std::to_string(n - 1))) report('s', n - 1);
			if (step % 7 == 6 && n - 3 >= first && store.markDelivered(peer, "m" + std::to_string(n - 3), "direct"))
				report('d', n - 3);
			if (step % 5 == 4 && store.storeIncoming(peer, "r" + std::to_string(n), text(n), n, "relay")) report('r', n);
			++n;
		}
		return 0;
	}
	catch (const Poco::Exception& exc)
	{
		std::cerr << "ChatStore-crashwriter: " << exc.displayText() << "\n";
		return 1;
	}
	catch (const std::exception& exc)
	{
		std::cerr << "ChatStore-crashwriter: " << exc.what() << "\n";
		return 1;
	}
}
