//
// TransferHost.h
//
// Library: Chat
// Private: what one transfer (IncomingTransfer, OutgoingTransfer) needs from the service that
// owns it, so that a transfer can be unit-tested with a fake host and a manual clock.
// This is an internal header file, it is not installed; do not include it from outside Chat/src.
//


#ifndef CrossChat_Chat_TransferHost_INCLUDED
#define CrossChat_Chat_TransferHost_INCLUDED


#include "CrossChat/Chat/Transfer.h"
#include "CrossChat/PeerId.h"
#include "CrossChat/Scheduler.h"
#include "Poco/JSON/Object.h"
#include <chrono>
#include <cstdint>
#include <deque>
#include <string>
#include <utility>


namespace CrossChat {
namespace Chat {


class ChatStore;
class DownloadBudget;
class FileWorker;


class TransferHost
	/// Implemented by TransferService; faked in unit tests.
	///
	/// Thread rules: every call on the loop thread.
{
public:
	virtual ~TransferHost() = default;

	virtual Scheduler& scheduler() = 0;
	virtual const TransferConfig& config() const = 0;
	virtual ChatStore* store() = 0;
		/// Null when the node keeps no database (transfers then do not survive a restart).
	virtual FileWorker& worker() = 0;
		/// For block writes, syncs and the final check of incoming transfers.
	virtual FileWorker& hasher() = 0;
		/// For hashing files before they are offered (a big file takes seconds: downloads do not
		/// wait behind it).
	virtual DownloadBudget& budget() = 0;
		/// The download memory all incoming transfers share (TransferConfig::downloadMemory).
	virtual bool sendMessage(const PeerId& peer, const std::string& name, const Poco::JSON::Object& body) = 0;
		/// On the session in use, if the peer is connected and speaks file transfer; false if not.
	virtual bool connected(const PeerId& peer) const = 0;
		/// The peer has a session in use that speaks file transfer.
	virtual void dataReady(const PeerId& peer) = 0;
		/// An outgoing transfer to peer has blocks to send: the host pumps them.
	virtual void changed(const TransferInfo& info, bool progressOnly) = 0;
		/// Reports a transfer's new state (or, with progressOnly, its progress).
	virtual TransferStats& counters() = 0;
};


void recordTransferState(TransferHost& host, const PeerId& peer, TransferDirection direction, const std::string& id,
	const std::string& name, TransferState state, const std::string& error);
	/// Records a transfer's new state (and error) in the host's store, if it keeps one; a store
	/// that fails is logged (naming the file name), never thrown: the transfer goes on in memory.
	/// Must be called from the loop thread.

bool transferReportDue(TransferHost& host, Scheduler::TimePoint& lastReport, bool progressOnly);
	/// Whether a transfer reports now: always for a change of state, for progress only once per
	/// the config's progressInterval since lastReport; when it does, lastReport is set to now.
	/// Must be called from the loop thread.


class ProgressMeter
	/// Bytes over time, for the rate and the time left of a transfer: a sliding window of
	/// samples (the last RATE_WINDOW).
	///
	/// Thread rules: a plain value.
{
public:
	using TimePoint = Scheduler::TimePoint;

	static constexpr std::chrono::seconds RATE_WINDOW{5};

	void add(TimePoint now, std::uint64_t bytes);
	double rate(TimePoint now) const;
		/// Bytes per second over the window; 0 without two samples in it.
	void clear();

private:
	std::deque<std::pair<TimePoint, std::uint64_t>> _samples;   ///< (time, bytes done by then)
	std::uint64_t _total = 0;
};


} } // namespace CrossChat::Chat


#endif // CrossChat_Chat_TransferHost_INCLUDED
