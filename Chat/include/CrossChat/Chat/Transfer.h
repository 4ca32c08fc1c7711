//
// Transfer.h
//
// Library: Chat
// File transfers as ChatNode's users see them: settings, the state of one transfer, and what
// the store keeps of it.
//


#ifndef CrossChat_Chat_Transfer_INCLUDED
#define CrossChat_Chat_Transfer_INCLUDED


#include "CrossChat/PeerId.h"
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>


namespace CrossChat {
namespace Chat {


enum class TransferDirection
	/// The numbers are stored in the database: never renumber.
{
	OUTGOING = 0,   ///< We send the file.
	INCOMING = 1    ///< We receive it.
};


enum class TransferState
	/// Where a transfer stands. The numbers are stored in the database: never renumber.
{
	PREPARING = 0,     ///< Outgoing: the file is being read and hashed before it is offered.
	OFFERED = 1,       ///< Offered: the receiving user has not answered yet.
	TRANSFERRING = 2,  ///< Accepted: blocks move (or will, as soon as the peer is connected).
	VERIFYING = 3,     ///< Incoming: every block is in; the whole file is being checked.
	COMPLETE = 4,      ///< The receiver has the whole file, verified. Final.
	REJECTED = 5,      ///< The receiving user (or its limits) said no. Final.
	CANCELLED = 6,     ///< A user stopped it. Final.
	FAILED = 7         ///< Given up (the file changed, corrupt data, a disk error); see error. Final.
};


const char* transferStateName(TransferState state);
	/// "preparing", "offered", "transferring", "verifying", "complete", "rejected", "cancelled",
	/// "failed" (the JSON names). Safe to call from any thread.

const char* transferDirectionName(TransferDirection direction);
	/// "out" or "in". Safe to call from any thread.

bool transferStateFinal(TransferState state);
	/// COMPLETE, REJECTED, CANCELLED or FAILED. Safe to call from any thread.


struct TransferConfig
	/// File transfer settings (ChatNodeConfig::transfers), with crosschat's defaults.
{
	std::string downloadDirectory;                    ///< Where received files land (created 0700 if missing);
	                                                  ///< empty: "downloads" next to the database, else
	                                                  ///< "crosschat-downloads" in the working directory.
	std::uint64_t maxFileSize = 0;                    ///< Offers above it are refused ("too_large"); 0: only the
	                                                  ///< protocol's limit (1 TiB).
	std::uint64_t minFreeSpace = 256 * 1024 * 1024;   ///< Disk space left free: an offer that would eat into it
	                                                  ///< (with the downloads already accepted) is refused ("no_space").
	std::size_t maxPendingOffers = 32;                ///< Strangers' offers waiting for the user, in all...
	std::size_t maxPendingOffersPerPeer = 4;          ///< ... and from one peer (beyond: refused "busy").
	std::size_t maxActiveIncoming = 64;               ///< Accepted downloads not finished, in all.
	std::size_t downloadMemory = 256 * 1024 * 1024;   ///< Memory all downloads may hold at once: blocks requested
	                                                  ///< and not yet written, and complete blocks waiting for
	                                                  ///< the disk (shared fairly; at least one block is always
	                                                  ///< allowed when nothing else is held).
	std::chrono::milliseconds progressInterval{500};  ///< Progress reports per transfer at most this often.
	std::chrono::milliseconds targetDelay{5};         ///< Queueing delay a transfer may add in front of chat
	                                                  ///< messages (TransferWindow; plus a quarter of the path's
	                                                  ///< round trip).
	std::chrono::milliseconds stallTimeout{20000};    ///< No data for this long while blocks are requested: ask again.
	std::int64_t testCorruptBlock = -1;               ///< Test hook, off (-1) by default: as a sender, flip one bit
	                                                  ///< of this block the first time it is sent, so that the
	                                                  ///< receiver's verification and refetch can be seen to work.
};


struct TransferInfo
	/// One transfer as the node sees it now.
{
	std::string id;                   ///< 32 hex characters; the sender chose it (unique per sender).
	PeerId peer;                      ///< The other side.
	std::string peerName;             ///< Its name or alias (untrusted text: make it terminal-safe).
	TransferDirection direction = TransferDirection::OUTGOING;
	TransferState state = TransferState::OFFERED;
	std::string name;                 ///< The file name as offered (untrusted for incoming: never a path).
	std::uint64_t size = 0;
	std::string sha256;               ///< 64 hex characters, of the whole file (empty while PREPARING).
	std::uint64_t bytesDone = 0;      ///< Verified (incoming) or acknowledged as verified (outgoing, approximate).
	double rate = 0;                  ///< Bytes per second over the last seconds (0 when not moving).
	std::optional<std::int64_t> etaSeconds;   ///< Time left at that rate, when known.
	std::string localPath;            ///< Outgoing: the file sent. Incoming: where it is (or will be) saved.
	bool request = false;             ///< Incoming from a stranger: shown as a request.
	bool connected = false;           ///< The peer is connected now (else the transfer waits for it).
	std::string group;                ///< For a file shared with a group: the group's ID.
	std::string error;                ///< Why it was rejected, cancelled or failed.
	std::int64_t createdMs = 0;       ///< When it was offered (our clock, ms since the epoch).
};


struct TransferStats
	/// Counters of the file transfers since the node started.
{
	std::uint64_t offersReceived = 0;
	std::uint64_t filesHashed = 0;          ///< Files read to offer them (a file shared with a group: once
	                                        ///< for all its members).
	std::uint64_t offersRefused = 0;        ///< Refused without asking: over a limit, too large, no space, blocked.
	std::uint64_t blocksVerified = 0;       ///< Received blocks whose SHA-256 matched (written to disk).
	std::uint64_t blocksCorrupt = 0;        ///< Received blocks whose SHA-256 did not match (fetched again).
	std::uint64_t blocksRecovered = 0;      ///< Blocks found verified in a .part after a restart though the
	                                        ///< store had not recorded them yet (a kill between checkpoints).
	std::uint64_t blocksSent = 0;           ///< Blocks we started sending (a resend counts again).
	std::uint64_t bytesReceived = 0;        ///< File data received, verified or not.
	std::uint64_t bytesSent = 0;            ///< File data sent.
	std::uint64_t chunksDropped = 0;        ///< File data for an old round, an unrequested block or out of order.
	std::uint64_t stalls = 0;               ///< Rounds restarted because no data came for stallTimeout.
	std::uint64_t inputRefused = 0;         ///< Malformed or out-of-place transfer messages from peers.
	std::uint64_t resumed = 0;              ///< Transfers resumed from the store at start.
	std::uint64_t downloadMemoryPeak = 0;   ///< The most download memory held at once (TransferConfig::downloadMemory).
	std::uint64_t budgetWaits = 0;          ///< Times a download had to wait for download memory.
};


struct StoredTransfer
	/// What ChatStore keeps of a transfer, so that it resumes after a restart.
{
	std::string id;                   ///< 32 hex characters.
	PeerId peer;
	TransferDirection direction = TransferDirection::OUTGOING;
	TransferState state = TransferState::OFFERED;
	std::string name;                 ///< As offered.
	std::uint64_t size = 0;
	std::string sha256;               ///< 32 raw bytes.
	std::uint32_t blockSize = 0;
	std::string hashes;               ///< The blocks' SHA-256, 32 raw bytes each, in order (may be partial).
	std::string have;                 ///< Incoming: one bit per block (LSB first) verified and on disk.
	std::string localPath;            ///< Outgoing: the source file. Incoming: the final file's path.
	std::int64_t fileMtimeNs = 0;     ///< Outgoing: the source file's modification time when it was hashed.
	std::string group;
	std::int64_t createdMs = 0;
	std::int64_t stateMs = 0;
	std::string error;
};


} } // namespace CrossChat::Chat


#endif // CrossChat_Chat_Transfer_INCLUDED
