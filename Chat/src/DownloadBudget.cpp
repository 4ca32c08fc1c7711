//
// DownloadBudget.cpp
//
// Library: Chat
//


#include "DownloadBudget.h"
#include <algorithm>


namespace CrossChat {
namespace Chat {


DownloadBudget::DownloadBudget(Scheduler& scheduler, std::size_t limit, TransferStats& stats):
	_scheduler(scheduler),
	_limit(limit),
	_stats(stats)
{
}


DownloadBudget::~DownloadBudget() = default;


bool DownloadBudget::acquire(const std::shared_ptr<Client>& client, std::size_t bytes)
{
	_scheduler.assertInLoopThread();
	const bool turn = client.get() == _pTurn;
	const bool fits = _used + bytes <= _limit || _used == 0;
	if ((turn || _waiters.empty()) && fits)
	{
		_used += bytes;
		_peak = std::max(_peak, _used);
		_stats.downloadMemoryPeak = std::max<std::uint64_t>(_stats.downloadMemoryPeak, _peak);
		if (turn) _pTurn = nullptr;   // one block per turn: for more, it queues again
		return true;
	}
	if (turn)
	{
		_waiters.push_front(client);   // it keeps its place until enough is released
		_pTurn = nullptr;
		_blocked = true;
		return false;
	}
	if (!queued(client.get()))
	{
		_waiters.push_back(client);
		++_stats.budgetWaits;
	}
	if (fits) schedulePump();   // refused only because others wait: their turn comes now
	return false;
}


void DownloadBudget::release(std::size_t bytes)
{
	_scheduler.assertInLoopThread();
	_used -= std::min(_used, bytes);
	if (!_waiters.empty()) schedulePump();
}


std::size_t DownloadBudget::limit() const
{
	return _limit;
}


std::size_t DownloadBudget::used() const
{
	return _used;
}


std::size_t DownloadBudget::peak() const
{
	return _peak;
}


std::size_t DownloadBudget::waiting() const
{
	return _waiters.size();
}


bool DownloadBudget::queued(const Client* pClient) const
{
	return std::any_of(_waiters.begin(), _waiters.end(), [pClient](const std::weak_ptr<Client>& waiter) {
		auto client = waiter.lock();
		return client.get() == pClient;
	});
}


void DownloadBudget::schedulePump()
{
	if (_pumpPosted) return;
	_pumpPosted = true;
	std::weak_ptr<bool> alive = _alive;
	_scheduler.post([this, alive] {
		if (!alive.expired()) pump();
	});
}


void DownloadBudget::pump()
	/// Calls the waiting clients back in order, until one does not fit or the queue is empty;
	/// at most TURNS_PER_PUMP of them per turn of the loop (the rest on the next turn).
{
	_pumpPosted = false;
	for (std::size_t turns = 0; turns < TURNS_PER_PUMP && !_waiters.empty(); ++turns)
	{
		std::shared_ptr<Client> client = _waiters.front().lock();
		_waiters.pop_front();
		if (!client) continue;   // ended meanwhile
		_pTurn = client.get();
		_blocked = false;
		client->budgetFreed();   // a client that needs nothing any more just leaves the queue
		_pTurn = nullptr;
		if (_blocked) return;
	}
	if (!_waiters.empty()) schedulePump();
}


} } // namespace CrossChat::Chat
