//
// IncomingTransfer.h
//
// Library: Chat
// Private: one file a peer offered us, from the offer to the verified file on disk.
// This is an internal header file, it is not installed; do not include it from outside Chat/src.
//


#ifndef CrossChat_Chat_IncomingTransfer_INCLUDED
#define CrossChat_Chat_IncomingTransfer_INCLUDED


#include "DownloadBudget.h"
#include "PartFile.h"
#include "TransferHost.h"
#include "TransferProtocol.h"
#include "TransferWindow.h"
#include "CrossChat/Chat/Transfer.h"
#include "CrossChat/PeerId.h"
#include "CrossChat/TimerHandle.h"
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>


namespace CrossChat {
namespace Chat {


class IncomingTransfer: public std::enable_shared_from_this<IncomingTransfer>, public DownloadBudget::Client
	/// The receiving side of one transfer; it drives it (the sender only answers):
	///   - OFFERED: the offer waits for the user (accept(), reject()); nothing is on disk.
	///   - accept(): a .part file with a safe, free name (PartFile), the record in the store,
	///     file-accept; then the block hashes are fetched (file-hashes-get, a few pages at once)
	///     and kept in the store, and blocks are requested (file-get) within the TransferWindow,
	///     lowest first (so the running whole-file hash follows), and only as far as the host's
	///     DownloadBudget allows: each block requested holds its length of the node-wide
	///     download memory until it is written, dropped or asked again in a new round, or the
	///     transfer ends (when the budget is short, the transfer waits its turn and is called
	///     back, budgetFreed()).
	///   - each block arrives as file-data chunks in order and is gathered on the loop; once
	///     complete it goes to the FileWorker, which checks its SHA-256 and writes it only if it
	///     matches (PartFile::writeVerified: the loop hashes nothing, and the whole file's
	///     SHA-256 follows the written prefix from the same bytes in memory). A block that fails
	///     its check is requested again (at most MAX_BLOCK_FAILURES times, then the transfer
	///     fails); data for an old round, a block not requested or out of order is dropped and
	///     counted.
	///   - every CHECKPOINT_INTERVAL the .part is synced and then the blocks written before the
	///     sync are recorded in the store: a block recorded is on disk, so after a crash (kill -9
	///     or power loss) only the blocks since the last checkpoint are fetched again — and not
	///     even those after a kill: restore() first searches the .part for blocks not recorded
	///     whose bytes match their hash (PartFile::recover, on the FileWorker) and requests
	///     nothing until that is done.
	///   - when every block is written: VERIFYING, the whole file's SHA-256 (mostly computed
	///     already as blocks came), the rename to the final name, file-done: COMPLETE.
	///   - a new session with the sender (reconnect, path change): a new round; blocks asked
	///     for on the old session and not received are asked again, and the window starts over
	///     on the new path. No data for stallTimeout while blocks are asked for: the same.
	///
	/// Thread rules: loop thread only (the host's scheduler's); file work on the host's
	/// FileWorker, whose results come back through posted tasks holding a weak_ptr.
	/// Ownership: held by std::shared_ptr (the service's table); owns its PartFile (shared with
	/// the jobs in flight) and its timers.
{
public:
	using Ptr = std::shared_ptr<IncomingTransfer>;

	static constexpr unsigned MAX_BLOCK_FAILURES = 3;
	static constexpr std::size_t MAX_WRITE_BACKLOG = 64 * 1024 * 1024;   ///< Complete blocks waiting for their check and the disk.
	static constexpr std::chrono::seconds CHECKPOINT_INTERVAL{2};
	static constexpr std::uint32_t HASH_PAGES_AT_ONCE = 4;

	IncomingTransfer(TransferHost& host, const PeerId& peer, const FileOffer& offer, bool request);
		/// A new offer (OFFERED).

	static Ptr restore(TransferHost& host, const StoredTransfer& stored);
		/// An accepted transfer from the store (after a restart): its .part is opened again
		/// (or, if it is gone, a new one is started). Throws Poco::Exception if the record cannot
		/// be used (the caller marks it failed).

	~IncomingTransfer() override;
		/// Gives back the download memory it still holds.

	IncomingTransfer(const IncomingTransfer&) = delete;
	IncomingTransfer& operator=(const IncomingTransfer&) = delete;

	const PeerId& peer() const;
	const TransferId& id() const;
	const FileOffer& offer() const;
	TransferState state() const;
	bool request() const;
		/// Offered by a stranger.
	std::uint64_t remainingBytes() const;
		/// Bytes still to be written to disk.
	TransferInfo info() const;

	// The user --------------------------------------------------------------------------------

	void accept(const std::string& directory);
		/// OFFERED -> TRANSFERRING. Throws Poco::FileException (and stays OFFERED) if the
		/// download cannot be created.
	void reject(const std::string& code, const std::string& reason);
		/// OFFERED -> REJECTED; tells the sender (file-cancel with code).
	void cancel(const std::string& reason);
		/// Any state before COMPLETE -> CANCELLED; tells the sender; the .part is deleted.

	// The peer --------------------------------------------------------------------------------

	void peerCancelled(const std::string& code, const std::string& reason);
	void onHashes(const HashPage& page);
		/// Throws MessageException for a page that does not fit the file.
	void onData(const DataChunk& chunk);
	void connected();
		/// A session with the sender is up (new, or on a new path).
	void disconnected();

	// The service -----------------------------------------------------------------------------

	void shutdown();
		/// The node stops: timers off, nothing more is sent or requested. Call checkpointNow()
		/// after the worker has drained to record what was written.
	void checkpointNow();
		/// Syncs the .part and records the blocks written, on the calling (loop) thread; only
		/// when the FileWorker is idle (FileWorker::drain()).

	std::size_t budgetHeld() const;
		/// Bytes of the host's DownloadBudget this transfer holds now.

	void budgetFreed() override;
		/// DownloadBudget::Client: its turn for budget; it requests blocks again.

	static std::string encodeBits(const std::vector<bool>& bits);
		/// One bit per block, LSB first in each byte (the store's "have").
	static std::vector<bool> decodeBits(const std::string& bytes, std::size_t count);

private:
	struct Request
	{
		Scheduler::TimePoint at;
		bool sample = false;        ///< The first block of its file-get: its first bytes measure the delay.
		std::uint32_t received = 0;
		std::string data;
	};

	void start();
	void save();
	void setState(TransferState state, const std::string& error = std::string());
	void report(bool progressOnly);
	void fail(const std::string& reason);
	void end(TransferState state, const std::string& code, const std::string& reason);
	bool hashesComplete() const;
	void requestHashes();
	void newRound();
	void fill();
	bool takeNext(std::uint32_t& block);
	void drop(std::uint32_t block, bool retry);
	void releaseRequested();
	void releaseBudget(std::size_t bytes);
	void blockComplete(std::uint32_t block, Request& request);
	void write(std::uint32_t block, std::string data);
	void written(std::uint32_t block, bool matched, const std::string& error);
	void corrupt(std::uint32_t block);
	void verify();
	void verified(bool ok, const std::string& path, const std::string& error);
	void checkpoint();
	void recovered(const std::vector<std::uint32_t>& blocks, const std::string& error);
	void checkStall();
	void armTimers();

	TransferHost& _host;
	const PeerId _peer;
	const FileOffer _offer;
	const BlockPlan _plan;
	const bool _request;
	TransferState _state = TransferState::OFFERED;
	std::string _error;
	std::string _localPath;
	std::int64_t _createdMs = 0;
	PartFile::Ptr _part;

	std::vector<Sha256Digest> _hashes;
	std::vector<bool> _hashPageDone;
	std::set<std::uint32_t> _hashPagesAsked;

	std::vector<bool> _have;               ///< Verified and written.
	std::uint32_t _haveCount = 0;
	std::uint64_t _haveBytes = 0;
	std::set<std::uint32_t> _writing;      ///< Complete blocks on the FileWorker (checked, then written).
	std::size_t _writingBytes = 0;
	std::map<std::uint32_t, unsigned> _failures;

	std::uint32_t _round = 0;
	std::map<std::uint32_t, Request> _requested;
	std::size_t _inFlight = 0;             ///< Bytes requested and not received.
	std::size_t _budgetHeld = 0;           ///< Of the host's DownloadBudget: the blocks in _requested and _writing.
	std::deque<std::uint32_t> _retry;      ///< Blocks to ask for before new ones.
	std::uint32_t _scan = 0;               ///< Blocks below it were asked for at least once.
	TransferWindow _window;

	ProgressMeter _meter;
	Scheduler::TimePoint _lastData;
	Scheduler::TimePoint _lastReport;
	bool _dirty = false;                   ///< Blocks written since the last checkpoint.
	bool _checkpointing = false;
	bool _recovering = false;              ///< After a restart: the .part is searched for unrecorded blocks.
	TimerHandle _checkpointTimer;
	TimerHandle _stallTimer;
};


} } // namespace CrossChat::Chat


#endif // CrossChat_Chat_IncomingTransfer_INCLUDED
