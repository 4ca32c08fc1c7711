//
// TransferProtocol.h
//
// Library: Chat
// Private: the file transfer's wire forms, encoded and parsed in one place (both ends, and the
// fuzzer): transfer IDs, SHA-256 digests, the block plan, the JSON control messages and the
// binary file-data frame.
// This is an internal header file, it is not installed; do not include it from outside Chat/src.
//


#ifndef CrossChat_Chat_TransferProtocol_INCLUDED
#define CrossChat_Chat_TransferProtocol_INCLUDED


#include "Poco/JSON/Object.h"
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>


struct evp_md_ctx_st;


namespace CrossChat {
namespace Chat {


class TransferId
	/// 16 random bytes naming one transfer, chosen by the sender; on the wire as 32 lowercase
	/// hex characters in JSON and as the raw bytes in file-data frames. Unique per sender (a
	/// receiver keys transfers by sender and ID, so two senders cannot collide on purpose).
	///
	/// Thread rules: a value; safe from any thread.
{
public:
	static constexpr std::size_t SIZE = 16;
	using Bytes = std::array<std::uint8_t, SIZE>;

	TransferId();
		/// All zero (isNull()).

	static TransferId random();
		/// From OpenSSL's random generator.

	static TransferId fromBytes(const Bytes& bytes);

	static TransferId parse(const std::string& hex);
		/// Exactly 32 hex characters (either case). Throws MessageException otherwise.

	const Bytes& bytes() const;
	std::string toString() const;
		/// 32 lowercase hex characters.
	bool isNull() const;

	bool operator==(const TransferId& other) const;
	bool operator!=(const TransferId& other) const;
	bool operator<(const TransferId& other) const;

private:
	Bytes _bytes{};
};


using Sha256Digest = std::array<std::uint8_t, 32>;


class Sha256
	/// SHA-256 through OpenSSL's EVP interface (which uses the CPU's SHA extensions where there
	/// are some): incremental, or in one call with of().
	///
	/// Thread rules: an object is used by one thread at a time; of() is safe from any thread.
{
public:
	Sha256();
	~Sha256();

	Sha256(const Sha256&) = delete;
	Sha256& operator=(const Sha256&) = delete;

	void update(const void* data, std::size_t size);
	Sha256Digest finish();
		/// The digest of everything updated since construction or the last finish(); the object
		/// starts over.

	static Sha256Digest of(const void* data, std::size_t size);

	static std::string hex(const Sha256Digest& digest);
		/// 64 lowercase hex characters.
	static Sha256Digest parseHex(const std::string& hex);
		/// Exactly 64 hex characters (either case). Throws MessageException otherwise.

private:
	evp_md_ctx_st* _pContext;
};


struct BlockPlan
	/// How a file of a given size is cut into blocks: every block has blockSize bytes except
	/// the last, which has the rest (a file of 0 bytes has no block).
{
	std::uint64_t size = 0;
	std::uint32_t blockSize = 0;

	std::uint32_t blockCount() const;
	std::uint32_t blockLength(std::uint32_t block) const;
		/// 0 for a block past the end.
	std::uint64_t blockOffset(std::uint32_t block) const;
};


struct FileOffer
	/// A file-offer message: what the sender says about the file (untrusted input at the
	/// receiver: the name is never used as a path, see SafeFileName).
{
	TransferId id;
	std::string name;          ///< The sender's name for the file (UTF-8, 1..255 bytes).
	std::uint64_t size = 0;
	Sha256Digest sha256{};     ///< Of the whole file.
	std::uint32_t blockSize = 0;
	std::int64_t timestampMs = 0;   ///< The sender's clock when it offered the file.
	std::string group;         ///< For a file shared with a group: the group's ID; empty otherwise.

	BlockPlan plan() const;
};


struct HashPage
	/// A file-hashes message: the SHA-256 of blocks first .. first + hashes.size() - 1.
{
	TransferId id;
	std::uint32_t first = 0;
	std::vector<Sha256Digest> hashes;
};


struct BlockRequest
	/// A file-get message: the receiver asks for these blocks, in this order, in round round.
	/// A round higher than the last one seen replaces everything asked before.
{
	TransferId id;
	std::uint32_t round = 0;
	std::vector<std::uint32_t> blocks;
};


struct DataHeader
	/// The fixed header of a file-data frame body (all integers big-endian):
	///
	///     offset 0   16 bytes  transfer ID
	///     offset 16   4 bytes  round (of the file-get being answered)
	///     offset 20   4 bytes  block index
	///     offset 24   4 bytes  offset of these bytes in the block
	///     offset 28            the bytes (1 .. MAX_CHUNK_SIZE of them)
{
	TransferId id;
	std::uint32_t round = 0;
	std::uint32_t block = 0;
	std::uint32_t offset = 0;
};


struct DataChunk
	/// A parsed file-data frame: the header, and where its bytes are in the body it was parsed
	/// from (valid while that body lives).
{
	DataHeader header;
	const char* data = nullptr;
	std::size_t size = 0;
};


class TransferProtocol
	/// The rules of the file transfer's messages (docs/PROTOCOL.md, "File transfer"), used by both
	/// ends. Every parse function takes a schema-checked JSON body (SessionProtocol's catalog) or,
	/// for file-data, the raw frame body, checks what the schema cannot (hex forms, powers of two,
	/// lengths against each other) and throws MessageException for anything else: each message
	/// is refused alone.
	///
	/// Thread rules: stateless; safe from any thread.
{
public:
	static constexpr std::uint32_t MIN_BLOCK_SIZE = 128 * 1024;
	static constexpr std::uint32_t MAX_BLOCK_SIZE = 16 * 1024 * 1024;
	static constexpr std::uint64_t DESIRED_BLOCKS = 2000;
		/// Syncthing's rule: the smallest block size (a power of two from 128 KiB to 16 MiB) that
		/// cuts the file into fewer than this many blocks.
	static constexpr std::uint32_t MAX_BLOCKS = 65536;
		/// A receiver refuses an offer with more blocks (its hash list would not stay small).
	static constexpr std::uint64_t MAX_FILE_SIZE = std::uint64_t(MAX_BLOCK_SIZE) * MAX_BLOCKS;   ///< 1 TiB.
	static constexpr std::size_t DATA_HEADER_SIZE = 28;
	static constexpr std::size_t CHUNK_SIZE = 32 * 1024;
		/// What the reference sender puts in one file-data frame: a chat frame waits behind at
		/// most one of them (plus Session::DRAIN_MARK) in the sender's output.
	static constexpr std::size_t MAX_CHUNK_SIZE = 64 * 1024 - DATA_HEADER_SIZE;
		/// The most a file-data frame may carry (the session's frame limit).

	static std::uint32_t blockSizeFor(std::uint64_t fileSize);
		/// Syncthing's block size rule (see DESIRED_BLOCKS).

	// JSON control messages ----------------------------------------------------------------

	static Poco::JSON::Object offerBody(const FileOffer& offer);
	static FileOffer parseOffer(const Poco::JSON::Object& body);
		/// Also checks: a valid UTF-8 name, a block size that is a power of two in
		/// [MIN_BLOCK_SIZE, MAX_BLOCK_SIZE], at most MAX_BLOCKS blocks, size <= MAX_FILE_SIZE.

	static Poco::JSON::Object idBody(const TransferId& id);
		/// file-accept, file-done.
	static TransferId parseId(const Poco::JSON::Object& body);

	static Poco::JSON::Object cancelBody(const TransferId& id, const std::string& code, const std::string& reason);
		/// reason is cut to 256 bytes (at a character boundary) and made UTF-8 if it is not.

	static Poco::JSON::Object hashesGetBody(const TransferId& id, std::uint32_t first, std::uint32_t count);

	static Poco::JSON::Object hashesBody(const HashPage& page);
	static HashPage parseHashes(const Poco::JSON::Object& body);
		/// Each element a 64-character hex string.

	static Poco::JSON::Object getBody(const BlockRequest& request);
	static BlockRequest parseGet(const Poco::JSON::Object& body);
		/// 1 .. SessionProtocol::MAX_BLOCKS_PER_GET block indexes, each an integer in
		/// [0, MAX_BLOCKS); the receiver of the request checks them against the file.

	// The binary file-data frame -----------------------------------------------------------

	static void writeHeader(char* out, const DataHeader& header);
		/// DATA_HEADER_SIZE bytes at out.
	static std::string dataBody(const DataHeader& header, const char* data, std::size_t size);
	static DataChunk parseData(const std::string& body);
		/// Throws MessageException if the body is shorter than the header plus one byte, or
		/// carries more than MAX_CHUNK_SIZE bytes.

	// Cancel codes (file-cancel "code"; unknown ones are treated like "failed") ----------

	static constexpr const char* REJECTED = "rejected";     ///< The receiver's user said no.
	static constexpr const char* CANCELLED = "cancelled";   ///< Either user stopped it.
	static constexpr const char* BUSY = "busy";             ///< Too many offers waiting; offer again later.
	static constexpr const char* TOO_LARGE = "too_large";   ///< Over the receiver's size cap.
	static constexpr const char* NO_SPACE = "no_space";     ///< Not enough free disk space.
	static constexpr const char* BLOCKED = "blocked";       ///< The receiver blocked the sender.
	static constexpr const char* NOT_MEMBER = "not_member"; ///< A group's file from someone not (or no
	                                                        ///< longer) in that group with the receiver.
	static constexpr const char* UNKNOWN = "unknown";       ///< No such transfer (anymore).
	static constexpr const char* CHANGED = "changed";       ///< The sender's file changed or vanished.
	static constexpr const char* FAILED = "failed";         ///< Anything else (corrupt data, I/O error).
};


} } // namespace CrossChat::Chat


#endif // CrossChat_Chat_TransferProtocol_INCLUDED
