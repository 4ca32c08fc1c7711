//
// PartFile.h
//
// Library: Chat
// Private: the file an incoming transfer writes (<name>.part while it downloads, <name> when
// the whole file is verified), with the running SHA-256 of its verified prefix.
// This is an internal header file, it is not installed; do not include it from outside Chat/src.
//


#ifndef CrossChat_Chat_PartFile_INCLUDED
#define CrossChat_Chat_PartFile_INCLUDED


#include "TransferProtocol.h"
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>


namespace CrossChat {
namespace Chat {


class PartFile
	/// One download on disk. create() picks a free name in the downloads directory for a safe
	/// name (SafeFileName): "name", else "name (1)", "name (2)", ... such that neither it nor its
	/// ".part" exists, and creates the .part exclusively (O_CREAT | O_EXCL | O_NOFOLLOW, mode 0600:
	/// no other user reads a download), as a sparse file of the final size. Nothing is ever
	/// overwritten: the final rename refuses an existing name (renameat2 RENAME_NOREPLACE) and
	/// takes the next free one instead.
	///
	/// Blocks are written only after their SHA-256 matched (writeVerified() checks it here, on
	/// the FileWorker, so that the loop never hashes); as the prefix of written blocks grows,
	/// the whole file's SHA-256 follows it: from the block in memory when it extends the prefix
	/// (the usual case, as blocks are asked for lowest first: the bytes are still in the cache
	/// from the block's check), read back from the disk only for blocks that were written ahead
	/// of a gap (a block fetched again, a new round) or before a restart (rereadBytes() counts
	/// them). So the whole-file check at the end costs at most the blocks that arrived last.
	///
	/// Thread rules: create() and reopen() on the loop (a few quick system calls); after that
	/// every other method on the FileWorker's thread only (the loop submits jobs and reads
	/// nothing of it but finalPath() / partPath() as they were at creation).
	/// Ownership: held by std::shared_ptr (the transfer and the jobs in flight); closes its file
	/// when the last one lets go.
{
public:
	using Ptr = std::shared_ptr<PartFile>;

	static constexpr unsigned MAX_NUMBER = 9999;   ///< "name (9999)" is the last name tried.

	static Ptr create(const std::string& directory, const std::string& safeName, const BlockPlan& plan);
		/// Throws Poco::FileExistsException if no free name is left, Poco::FileException (with
		/// the system's reason) if the file cannot be created.

	static Ptr reopen(const std::string& finalPath, const BlockPlan& plan);
		/// The .part of finalPath, to resume. Throws Poco::FileNotFoundException if it is gone,
		/// Poco::FileException if it is not a regular file of ours (a symbolic link, another
		/// user's) or has another size.

	~PartFile();

	PartFile(const PartFile&) = delete;
	PartFile& operator=(const PartFile&) = delete;

	const std::string& finalPath() const;
		/// Where the file will be once complete (as chosen at creation).
	const std::string& partPath() const;

	// On the worker thread -----------------------------------------------------------------

	void restore(const std::vector<bool>& written);
		/// The blocks already on disk (a resume): the prefix is hashed again from the disk by
		/// the next write() or check().

	std::vector<std::uint32_t> recover(const std::vector<bool>& written, const std::vector<Sha256Digest>& hashes);
		/// After a restart: the blocks not in written (not yet recorded in the store when the
		/// node stopped, e.g. killed between two checkpoints) whose bytes on disk match their
		/// SHA-256 in hashes. Marks them written and returns them. Ranges that are holes in the
		/// sparse file (never written) are skipped without reading them (SEEK_DATA). Throws
		/// Poco::FileException on an I/O error.

	void write(std::uint32_t block, const std::string& data);
		/// Writes a verified block at its place and hashes the prefix as far as it now goes.
		/// Throws Poco::FileException on an I/O error (a full disk).

	bool writeVerified(std::uint32_t block, const std::string& data, const Sha256Digest& expected);
		/// Checks the block's SHA-256 against expected and, only if it matches, write()s it.
		/// Returns whether it matched (nothing is written otherwise). Throws as write().

	void sync();
		/// fdatasync(): the blocks written so far survive a crash of the system.

	bool check(const Sha256Digest& expected);
		/// Once every block is written: hashes what is left of the prefix and compares the
		/// whole file's SHA-256 with expected.

	std::string finish();
		/// Syncs, closes and renames the .part to its final name (the next free one if that was
		/// taken meanwhile); returns the path. Throws Poco::FileException if it cannot.

	void remove();
		/// Closes and deletes the .part (a cancelled or failed download).

	std::uint32_t hashedBlocks() const;
		/// Blocks of the prefix hashed so far.

	std::uint64_t rereadBytes() const;
		/// Bytes read back from the disk for the whole file's SHA-256 (blocks written out of
		/// order or before a restart); 0 when every block extended the prefix as it came.

private:
	PartFile(int fd, std::string finalPath, const BlockPlan& plan);
	void advance(std::uint32_t justWritten, const std::string* pData);
	void readBlock(std::uint32_t block, std::string& buffer);
	void closeFile();

	int _fd;
	std::string _finalPath;
	std::string _partPath;
	const BlockPlan _plan;
	std::vector<bool> _written;
	Sha256 _stream;
	std::uint32_t _hashed = 0;   ///< Blocks [0, _hashed) are in _stream.
	std::uint64_t _reread = 0;   ///< Bytes read back for _stream.
	int _checked = -1;           ///< The result of check() once the digest is final (0 or 1).
};


} } // namespace CrossChat::Chat


#endif // CrossChat_Chat_PartFile_INCLUDED
