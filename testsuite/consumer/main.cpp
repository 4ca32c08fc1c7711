//
// main.cpp
//
// CrossChat consumer test: proves that an installed CrossChat can be used from another project.
// Creates an EventLoop, generates an Identity, prints its PeerId from a timer, then stops;
// then stores a message in a ChatStore (CrossChat::Chat with its SQLite dependencies) in a
// temporary data directory and reads it back.
//


#include "CrossChat/Chat/ChatStore.h"
#include "CrossChat/DataDirectory.h"
#include "CrossChat/EventLoop.h"
#include "CrossChat/Identity.h"
#include "CrossChat/PeerId.h"
#include "CrossChat/TimerHandle.h"
#include "Poco/Exception.h"
#include "Poco/File.h"
#include "Poco/TemporaryFile.h"
#include <chrono>
#include <iostream>


int main()
{
	try
	{
		CrossChat::EventLoop loop;
		const CrossChat::Identity identity = CrossChat::Identity::generate();
		bool printed = false;

		CrossChat::TimerHandle timer = loop.runAfter(std::chrono::milliseconds(10), [&]
		{
			std::cout << "consumer: peer ID " << identity.peerId().toString() << std::endl;
			printed = true;
			loop.stop();
		});
		loop.run();

		if (!printed || identity.peerId().isNull())
		{
			std::cerr << "consumer: the timer did not run" << std::endl;
			return 1;
		}

		const std::string dir = Poco::TemporaryFile::tempName();
		std::size_t stored = 0;
		{
			const CrossChat::DataDirectory data = CrossChat::DataDirectory::open(dir);
			CrossChat::Chat::ChatStore store(loop);
			store.open(data.filePath(CrossChat::Chat::ChatStore::FILE_NAME));
			store.queueOutgoing(identity.peerId(), "consumer-1", "hello from the consumer", 0);
			stored = store.history(identity.peerId(), 10).size();
		}
		Poco::File(dir).remove(true);
		if (stored != 1)
		{
			std::cerr << "consumer: the chat store lost the message" << std::endl;
			return 1;
		}
		std::cout << "consumer: chat store OK" << std::endl;
		return 0;
	}
	catch (const Poco::Exception& exc)
	{
		std::cerr << "consumer: " << exc.displayText() << std::endl;
		return 1;
	}
}
