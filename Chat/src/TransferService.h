//
// TransferService.h
//
// Library: Chat
// Private: file transfer, the node's PeerService for the file-* session messages.
// This is an internal header file, it is not installed; do not include it from outside Chat/src.
//


#ifndef CrossChat_Chat_TransferService_INCLUDED
#define CrossChat_Chat_TransferService_INCLUDED


#include "DownloadBudget.h"
#include "FileWorker.h"
#include "IncomingTransfer.h"
#include "OutgoingTransfer.h"
#include "PeerService.h"
#include "TransferHost.h"
#include "CrossChat/Chat/Transfer.h"
#include "CrossChat/LogThrottle.h"
#include "CrossChat/PeerId.h"
#include "CrossChat/TimerHandle.h"
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>


namespace CrossChat {
namespace Chat {


class ChatStore;
class Peer;


class TransferService: public PeerService, private TransferHost
	/// Every file transfer of the node (docs/PROTOCOL.md, "File transfer"): one IncomingTransfer
	/// or OutgoingTransfer object per transfer, keyed by peer, direction and ID, and the things
	/// they share:
	///   - consent and bounds for offers: a blocked peer's are refused; a stranger's are shown
	///     as requests and never accepted without the user; at most maxPendingOffersPerPeer
	///     offers wait per peer and maxPendingOffers from strangers in all (beyond: "busy";
	///     a contact's offer is never refused for strangers' offers); an offer over
	///     maxFileSize is refused ("too_large"), as is one that would leave less than
	///     minFreeSpace on the downloads' disk with the accepted downloads ("no_space"); a
	///     contact's offers up to its auto-accept limit are accepted without asking;
	///   - the downloads directory (created 0700, refused if it is a symbolic link or another
	///     user's);
	///   - two FileWorker threads: one hashes files before they are offered, one writes,
	///     syncs and checks downloads;
	///   - the download memory (DownloadBudget, TransferConfig::downloadMemory): blocks asked
	///     for and blocks waiting for the disk, over all downloads, shared fairly;
	///   - per peer, the pump that sends file data: chunk by chunk, round robin over that peer's
	///     transfers, only while the session's unsent bytes are at most Session::DRAIN_MARK
	///     (then the session's drain handler resumes it), and at most PUMP_BUDGET bytes per
	///     turn of the loop (then it continues on the next turn, after what waits there), so a
	///     chat frame never queues behind more than about DRAIN_MARK + CHUNK_SIZE of file data;
	///   - peer changes: a new session (CONNECTED, PATH) resumes every transfer with that peer,
	///     DISCONNECTED pauses them, a peer blocked ends them;
	///   - the store: what resumes at start(), and progress recorded at stop().
	/// Malformed or out-of-place messages cost one error each (counted, logged at most a few
	/// times a minute, a file-cancel "unknown" for requests about transfers it does not have).
	///
	/// Thread rules: loop thread only (the node's scheduler's); file work on its FileWorkers.
	/// Ownership: owned by the node (ChatNode::Impl), which it does not own; owns the
	/// transfers and the workers.
{
public:
	class Node
		/// What the service needs of the node; ChatNode::Impl implements it, tests fake it.
	{
	public:
		virtual ~Node() = default;
		virtual Scheduler& transferScheduler() = 0;
		virtual Peer* transferPeer(const PeerId& id) = 0;
			/// The peer if the node has it in memory, else null.
		virtual ChatStore* transferStore() = 0;
			/// The open store, or null.
		virtual bool transferGroupMember(const std::string& group, const PeerId& peer) = 0;
			/// True if we are a member of the group (its ID's text form, as offers carry it)
			/// and so is peer.
	};

	using Handler = std::function<void(const TransferInfo& info, bool progressOnly)>;

	static constexpr std::size_t PUMP_BUDGET = 256 * 1024;   ///< File data written per peer per turn of the loop.
	static constexpr std::size_t MAX_FINISHED = 256;         ///< Finished transfers kept in memory (the store keeps all).

	TransferService(Node& node, TransferConfig config, bool threaded = true);
		/// threaded = false runs file work inline (unit tests on a ManualScheduler).
	~TransferService() override;

	TransferService(const TransferService&) = delete;
	TransferService& operator=(const TransferService&) = delete;

	void setHandler(Handler handler);

	// PeerService ---------------------------------------------------------------------------

	std::vector<std::string> messages() const override;
	std::vector<std::string> caps() const override;
	std::vector<std::uint8_t> dataTypes() const override;
	void onMessage(Peer& peer, const Message& message) override;
	void onData(Peer& peer, std::uint8_t type, const std::string& body) override;
	void onPeerChanged(Peer& peer, ChatNode::PeerChange change) override;
	void start() override;
	void stop() override;

	// The node's API --------------------------------------------------------------------------

	std::string sendFile(const PeerId& to, const std::string& path);
		/// Starts an outgoing transfer (the file is hashed, then offered); returns its ID.
		/// Throws Poco::FileNotFoundException / Poco::FileException if path is not a readable
		/// regular file.
	std::vector<std::string> shareFile(const std::vector<PeerId>& members, const std::string& path, const std::string& group);
		/// Starts one outgoing transfer per member, each offer marked with the group (its ID's
		/// text form); the file is hashed once for all of them. Returns the IDs in the order of
		/// members. Throws as sendFile(), and Poco::InvalidArgumentException without members.
	TransferInfo accept(const std::string& id);
		/// Accepts an offer (the node has made its sender a contact). Throws
		/// Poco::NotFoundException, Poco::IllegalStateException (not an offer waiting for us),
		/// Poco::RuntimeException (not enough space, too many downloads), Poco::FileException.
	TransferInfo reject(const std::string& id);
	TransferInfo cancel(const std::string& id);
		/// Ends an unfinished transfer in either direction.
	std::vector<TransferInfo> transfers() const;
		/// In memory: unfinished ones, and the last finished ones; oldest first.
	std::vector<TransferInfo> find(const std::string& idPrefix) const;
		/// Transfers whose ID starts with idPrefix (hex, any case).
	std::optional<PeerId> peerOf(const std::string& id) const;
		/// The other side of the transfer with this exact ID, if exactly one has it.
	void setAutoAccept(const PeerId& peer, std::uint64_t maxBytes);
	std::uint64_t autoAccept(const PeerId& peer) const;
	const TransferStats& stats() const;
	std::size_t downloadMemory() const;
		/// The download memory the incoming transfers hold now (at most
		/// TransferConfig::downloadMemory, or one block).
	std::string downloadDirectory() const;
	void setDownloadFallback(const std::string& directory);
		/// Where downloads go if the configuration names no directory (the node's choice).

private:
	using Key = std::tuple<PeerId, TransferId>;

	// TransferHost
	TransferHost& host();
	Scheduler& scheduler() override;
	const TransferConfig& config() const override;
	ChatStore* store() override;
	FileWorker& worker() override;
	FileWorker& hasher() override;
	DownloadBudget& budget() override;
	bool sendMessage(const PeerId& peer, const std::string& name, const Poco::JSON::Object& body) override;
	bool connected(const PeerId& peer) const override;
	void dataReady(const PeerId& peer) override;
	void changed(const TransferInfo& info, bool progressOnly) override;
	TransferStats& counters() override;

	void handle(Peer& peer, const Message& message);
	void onOffer(Peer& peer, const FileOffer& offer);
	static bool isRequest(const Peer& peer, const FileOffer& offer);
		/// Whether an offer from peer is a stranger's request (shown as such, never auto-accepted,
		/// counted in maxPendingOffers): not from a contact, and not a fellow member's group file.
	bool refuseOffer(Peer& peer, const FileOffer& offer, std::string& code, std::string& reason);
	void refuseInput(Peer& peer, const std::string& what, const std::string& problem);
	std::string checkedPath(const std::string& path) const;
	IncomingTransfer::Ptr incoming(const PeerId& peer, const TransferId& id) const;
	OutgoingTransfer::Ptr outgoing(const PeerId& peer, const TransferId& id) const;
	void replyUnknown(const PeerId& peer, const TransferId& id);
	IncomingTransfer::Ptr uniqueIncoming(const std::string& id) const;
	std::uint64_t freeSpace(std::string& problem) const;
	std::string ensureDownloadDirectory();
	std::uint64_t committedBytes() const;
	void pump(const PeerId& peer);
	void pruneFinished();
	void updateWaiting(const PeerId& peer);
	TransferInfo named(TransferInfo info) const;
	void forEachWith(const PeerId& peer, const std::function<void(IncomingTransfer&)>& in,
		const std::function<void(OutgoingTransfer&)>& out);

	struct Pump
	{
		std::uint64_t drainSession = 0;   ///< The session whose drain handler calls us.
		std::uint64_t resumed = 0;        ///< The session the transfers were last resumed on.
		std::size_t turn = 0;         ///< Round robin position over the peer's transfers.
		TimerHandle next;             ///< The next turn, when the budget ran out.
	};

	Node& _node;
	TransferConfig _config;
	const bool _threaded;
	std::string _fallbackDirectory;
	TransferStats _stats;
	DownloadBudget _budget;                        ///< Before the transfers: they give theirs back as they go.
	std::unique_ptr<FileWorker> _worker;
	std::unique_ptr<FileWorker> _hasher;
	std::map<Key, IncomingTransfer::Ptr> _incoming;
	std::map<Key, OutgoingTransfer::Ptr> _outgoing;
	std::deque<std::pair<bool, Key>> _finished;   ///< Finished transfers in memory (incoming?, key), oldest first.
	std::map<PeerId, std::uint64_t> _autoAccept;   ///< Without a store.
	std::map<PeerId, Pump> _pumps;
	std::shared_ptr<bool> _alive = std::make_shared<bool>(true);
	LogThrottle _logThrottle;
	Handler _handler;
	bool _started = false;
};


} } // namespace CrossChat::Chat


#endif // CrossChat_Chat_TransferService_INCLUDED
