//
// OutgoingTransfer.h
//
// Library: Chat
// Private: one file we offer a peer, from hashing it to the receiver's file-done.
// This is an internal header file, it is not installed; do not include it from outside Chat/src.
//


#ifndef CrossChat_Chat_OutgoingTransfer_INCLUDED
#define CrossChat_Chat_OutgoingTransfer_INCLUDED


#include "TransferHost.h"
#include "TransferProtocol.h"
#include "CrossChat/Chat/Transfer.h"
#include "CrossChat/PeerId.h"
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>


namespace CrossChat {
namespace Chat {


class OutgoingTransfer: public std::enable_shared_from_this<OutgoingTransfer>
	/// The sending side of one transfer. The receiver drives it; the sender answers:
	///   - PREPARING: prepare() reads the file once on the hasher thread (the whole file's
	///     SHA-256 and each block's, blocks by Syncthing's size rule); then the offer is stored
	///     and sent (again on every new session, until it is answered);
	///   - file-accept (or a first request): TRANSFERRING; file-hashes-get is answered with pages
	///     of block hashes; file-get queues blocks (a higher round replaces the queue, a lower one
	///     is ignored) that nextChunk() reads from the file, one CHUNK_SIZE piece per frame, as
	///     the service's pump asks for them (it sends only while the session's unsent bytes are
	///     small, so chat frames pass the file data);
	///   - file-done: COMPLETE; file-cancel: REJECTED, CANCELLED or FAILED.
	/// The file is checked (size and modification time as hashed) whenever a block starts: a
	/// file changed or gone fails the transfer ("changed"), as its blocks could never verify.
	///
	/// Thread rules: loop thread only; hashing on the host's hasher, whose result comes back
	/// through a posted task holding a weak_ptr.
	/// Ownership: held by std::shared_ptr (the service's table); owns its file descriptor.
{
public:
	using Ptr = std::shared_ptr<OutgoingTransfer>;

	static constexpr std::size_t MAX_QUEUED_BLOCKS = 4096;   ///< Requested blocks kept; more are ignored.
	static constexpr std::size_t HASH_READ_SIZE = 1024 * 1024;

	OutgoingTransfer(TransferHost& host, const PeerId& peer, const std::string& path, const std::string& group);
		/// A new transfer (PREPARING) of the file at path.

	static Ptr restore(TransferHost& host, const StoredTransfer& stored);
		/// An offered or accepted transfer from the store. Throws Poco::Exception if the record
		/// cannot be used.

	~OutgoingTransfer();

	OutgoingTransfer(const OutgoingTransfer&) = delete;
	OutgoingTransfer& operator=(const OutgoingTransfer&) = delete;

	void prepare();
		/// Starts hashing the file (on the hasher); the offer follows.

	static void prepare(TransferHost& host, const std::vector<Ptr>& transfers);
		/// Starts hashing the file of transfers, new transfers of the same file to different
		/// peers (a file shared with a group), once for all of them: each offers it when the
		/// result comes (or fails with it). The reading stops early only if every one of them
		/// has ended meanwhile.

	const PeerId& peer() const;
	const TransferId& id() const;
	TransferState state() const;
	TransferInfo info() const;

	void cancel(const std::string& reason);
		/// By our user: CANCELLED; the receiver is told.

	// The peer --------------------------------------------------------------------------------

	void onAccept();
	void onHashesGet(std::uint32_t first, std::uint32_t count);
		/// Throws MessageException for a range outside the file.
	void onGet(const BlockRequest& request);
		/// Throws MessageException for a block outside the file.
	void onDone();
	void peerCancelled(const std::string& code, const std::string& reason);
	void connected();
	void disconnected();

	// The service's pump ----------------------------------------------------------------------

	bool hasData() const;
		/// Blocks are waiting to be sent.
	bool nextChunk(std::string& body);
		/// The next file-data frame body; false if there is nothing to send (or the file could
		/// not be read: the transfer has then failed).

	void shutdown();
		/// The node stops: hashing is abandoned, the file closed.

private:
	struct Hashed
	{
		std::uint64_t size = 0;
		std::int64_t mtimeNs = 0;
		Sha256Digest sha256{};
		std::vector<Sha256Digest> hashes;
		std::string error;
	};

	static Hashed hashFile(const std::string& path, const std::atomic<bool>& stopping, const std::atomic<std::size_t>& waiting);
	void hashed(const Hashed& result);
	void sendOffer();
	void save();
	void setState(TransferState state, const std::string& error = std::string());
	void report(bool progressOnly);
	void end(TransferState state, const std::string& code, const std::string& reason);
	bool openFile(std::string& problem);
	void closeFile();
	void clearQueue();
	void leaveHashing();

	TransferHost& _host;
	const PeerId _peer;
	FileOffer _offer;
	BlockPlan _plan;
	TransferState _state = TransferState::PREPARING;
	std::string _path;
	std::int64_t _mtimeNs = 0;
	std::vector<Sha256Digest> _hashes;
	std::string _error;
	std::int64_t _createdMs = 0;
	std::shared_ptr<std::atomic<std::size_t>> _hashing;   ///< While PREPARING: the transfers still waiting for the
	                                                       ///< hashing this one waits for (shared by a group share).

	int _fd = -1;
	std::uint32_t _round = 0;
	std::deque<std::uint32_t> _queue;
	std::set<std::uint32_t> _queued;
	std::optional<std::uint32_t> _current;   ///< The block being sent.
	std::uint32_t _offset = 0;               ///< Of the next chunk in it.
	std::vector<bool> _sent;                 ///< Blocks sent whole at least once (for progress).
	std::uint64_t _sentBytes = 0;
	std::set<std::uint32_t> _corrupted;      ///< Test hook: blocks already corrupted once.
	ProgressMeter _meter;
	Scheduler::TimePoint _lastReport;
};


} } // namespace CrossChat::Chat


#endif // CrossChat_Chat_OutgoingTransfer_INCLUDED
