//
// main.cpp
//
// CrossChat consumer test: proves that an installed CrossChat can be used from another project.
// Creates an EventLoop, generates an Identity, prints its PeerId from a timer, then stops.
//


#include "CrossChat/EventLoop.h"
#include "CrossChat/Identity.h"
#include "CrossChat/PeerId.h"
#include "CrossChat/TimerHandle.h"
#include "Poco/Exception.h"
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
		return 0;
	}
	catch (const Poco::Exception& exc)
	{
		std::cerr << "consumer: " << exc.displayText() << std::endl;
		return 1;
	}
}
