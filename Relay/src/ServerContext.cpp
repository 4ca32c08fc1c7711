//
// ServerContext.cpp
//
// Library: Relay
//


#include "ServerContext.h"
#include "CrossChat/FoundationException.h"
#include "Poco/DigestEngine.h"
#include <openssl/rand.h>
#include <vector>


namespace CrossChat {
namespace Relay {


LoopSession::~LoopSession() = default;


RelayLoop::RelayLoop(const std::string& name):
	_thread(name)
{
}


EventLoop& RelayLoop::loop()
{
	return _thread.loop();
}


void RelayLoop::add(const std::shared_ptr<LoopSession>& pSession)
{
	_thread.loop().assertInLoopThread();
	_sessions[pSession.get()] = pSession;
}


void RelayLoop::remove(const LoopSession* pSession)
{
	_thread.loop().assertInLoopThread();
	_sessions.erase(pSession);
}


void RelayLoop::shutdownAll()
{
	_thread.loop().assertInLoopThread();
	std::vector<std::shared_ptr<LoopSession>> live;
	for (const auto& entry: _sessions)
	{
		if (auto pSession = entry.second.lock()) live.push_back(pSession);
	}
	_sessions.clear();
	for (const auto& pSession: live) pSession->shutdown();
}


void RelayLoop::stop()
{
	_thread.stop();
}


ConnectionSlot::ConnectionSlot(std::atomic<unsigned>* pCounter):
	_pCounter(pCounter)
{
}


ConnectionSlot::ConnectionSlot(ConnectionSlot&& other) noexcept:
	_pCounter(other._pCounter)
{
	other._pCounter = nullptr;
}


ConnectionSlot& ConnectionSlot::operator=(ConnectionSlot&& other) noexcept
{
	if (this != &other)
	{
		if (_pCounter) _pCounter->fetch_sub(1);
		_pCounter = other._pCounter;
		other._pCounter = nullptr;
	}
	return *this;
}


ConnectionSlot::~ConnectionSlot()
{
	if (_pCounter) _pCounter->fetch_sub(1);
}


ConnectionSlot ConnectionSlot::tryReserve(std::atomic<unsigned>& counter, unsigned limit)
{
	unsigned current = counter.load();
	do
	{
		if (current >= limit) return ConnectionSlot();
	}
	while (!counter.compare_exchange_weak(current, current + 1));
	return ConnectionSlot(&counter);
}


bool ConnectionSlot::valid() const
{
	return _pCounter != nullptr;
}


ServerContext::Clock::time_point ServerContext::now() const
{
	return config.clock ? config.clock() : Clock::now();
}


std::string randomHex(std::size_t bytes)
{
	std::vector<unsigned char> buffer(bytes);
	if (RAND_bytes(buffer.data(), static_cast<int>(buffer.size())) != 1)
		throw CryptoException("RAND_bytes failed");
	return Poco::DigestEngine::digestToHex(Poco::DigestEngine::Digest(buffer.begin(), buffer.end()));
}


} } // namespace CrossChat::Relay
