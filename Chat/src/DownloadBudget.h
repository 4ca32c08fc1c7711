//
// DownloadBudget.h
//
// Library: Chat
// Private: the memory all the downloads of a node may hold at once, shared fairly among them.
// This is an internal header file, it is not installed; do not include it from outside Chat/src.
//


#ifndef CrossChat_Chat_DownloadBudget_INCLUDED
#define CrossChat_Chat_DownloadBudget_INCLUDED


#include "CrossChat/Chat/Transfer.h"
#include "CrossChat/Scheduler.h"
#include <cstddef>
#include <deque>
#include <memory>


namespace CrossChat {
namespace Chat {


class DownloadBudget
	/// The node-wide bound on download memory (TransferConfig::downloadMemory): the bytes of
	/// the blocks requested and not yet written (arriving, or gathered in memory) plus the
	/// complete blocks waiting for their check and the disk, over all downloads. Each download
	/// acquires a block's length before it requests the block and releases it when the block is
	/// written, dropped or asked again in a new round, or when the download ends.
	///
	/// The budget is hard: used() never exceeds limit(), except that a block larger than the
	/// whole budget may be taken when nothing else is held (so that every download can go on
	/// with any budget). It is fair: a download that finds too little left waits in a queue,
	/// first come first served; while others wait, a download that has budget to spare is
	/// refused too and queues behind them; and when budget is released the waiting downloads
	/// are called back (Client::budgetFreed()) in their order, on a later turn of the loop, each
	/// given one block per turn (the same queue then brings it back for more). So no download
	/// waits for ever: what the others hold is released as their blocks are written, or when
	/// they stall (a new round) or end.
	///
	/// Thread rules: loop thread only (the scheduler's).
	/// Ownership: owned by the service (TransferService), which outlives its downloads; holds
	/// the waiting clients weakly.
{
public:
	class Client
		/// A download that waits for budget.
	{
	public:
		virtual ~Client() = default;
		virtual void budgetFreed() = 0;
			/// Budget was released and it is this client's turn: it acquires what it needs now.
	};

	static constexpr std::size_t TURNS_PER_PUMP = 1024;   ///< Clients called back per turn of the loop.

	DownloadBudget(Scheduler& scheduler, std::size_t limit, TransferStats& stats);
		/// Keeps stats.downloadMemoryPeak and stats.budgetWaits. Does not own scheduler or stats.
	~DownloadBudget();

	DownloadBudget(const DownloadBudget&) = delete;
	DownloadBudget& operator=(const DownloadBudget&) = delete;

	bool acquire(const std::shared_ptr<Client>& client, std::size_t bytes);
		/// Takes bytes for client if they fit and it is its turn (nobody waits, or the budget is
		/// calling it back); else queues client (once) and returns false: budgetFreed() follows
		/// when its turn comes. Does not own client.
	void release(std::size_t bytes);
		/// Gives back bytes acquired before; the waiting clients are called back.

	std::size_t limit() const;
	std::size_t used() const;
	std::size_t peak() const;
		/// The most used at once since the budget was made.
	std::size_t waiting() const;
		/// Clients in the queue (some may have ended meanwhile).

private:
	bool queued(const Client* pClient) const;
	void schedulePump();
	void pump();

	Scheduler& _scheduler;
	const std::size_t _limit;
	TransferStats& _stats;
	std::size_t _used = 0;
	std::size_t _peak = 0;
	std::deque<std::weak_ptr<Client>> _waiters;
	const Client* _pTurn = nullptr;   ///< The client being called back (it may acquire before the queue).
	bool _blocked = false;            ///< The client called back did not fit: it keeps its place, the pump stops.
	bool _pumpPosted = false;
	std::shared_ptr<bool> _alive = std::make_shared<bool>(true);
};


} } // namespace CrossChat::Chat


#endif // CrossChat_Chat_DownloadBudget_INCLUDED
