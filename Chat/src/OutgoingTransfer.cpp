//
// OutgoingTransfer.cpp
//
// Library: Chat
//


#include "OutgoingTransfer.h"
#include "FileWorker.h"
#include "CrossChat/Chat/ChatStore.h"
#include "CrossChat/Chat/SessionProtocol.h"
#include "CrossChat/FoundationException.h"
#include "CrossChat/Text.h"
#include "Poco/Bugcheck.h"
#include "Poco/Exception.h"
#include "Poco/Logger.h"
#include "Poco/Path.h"
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>


namespace CrossChat {
namespace Chat {


namespace {


Poco::Logger& logger()
{
	return Poco::Logger::get("CrossChat.Chat");
}


std::int64_t wallClockMs()
{
	return std::chrono::duration_cast<std::chrono::milliseconds>(
		std::chrono::system_clock::now().time_since_epoch()).count();
}


std::int64_t mtimeOf(const struct stat& st)
{
	return static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
}


std::string offeredName(const std::string& path)
	/// The file's own name, as UTF-8 of at most 255 bytes (the receiver makes it safe).
{
	std::string name = Poco::Path(path).getFileName();
	if (!Text::isValidUtf8(name)) name = Text::replaceInvalidUtf8(name);
	if (name.size() > SessionProtocol::MAX_FILE_NAME_SIZE)
	{
		std::size_t end = SessionProtocol::MAX_FILE_NAME_SIZE;
		while (end > 0 && (static_cast<unsigned char>(name[end]) & 0xC0) == 0x80) --end;
		name.resize(end);
	}
	return name.empty() ? "file" : name;
}


std::string digestBytes(const Sha256Digest& digest)
{
	return std::string(reinterpret_cast<const char*>(digest.data()), digest.size());
}


} // namespace


OutgoingTransfer::OutgoingTransfer(TransferHost& host, const PeerId& peer, const std::string& path, const std::string& group):
	_host(host),
	_peer(peer),
	_path(path),
	_createdMs(wallClockMs()),
	_lastReport(host.scheduler().now())
{
	_offer.id = TransferId::random();
	_offer.name = offeredName(path);
	_offer.group = group;
}


OutgoingTransfer::~OutgoingTransfer()
{
	shutdown();
}


OutgoingTransfer::Ptr OutgoingTransfer::restore(TransferHost& host, const StoredTransfer& stored)
{
	Ptr transfer = std::make_shared<OutgoingTransfer>(host, stored.peer, stored.localPath, stored.group);
	FileOffer& offer = transfer->_offer;
	offer.id = TransferId::parse(stored.id);
	offer.name = stored.name;
	offer.size = stored.size;
	if (stored.sha256.size() != offer.sha256.size()) throw Poco::DataFormatException("a stored transfer without its SHA-256");
	std::copy(stored.sha256.begin(), stored.sha256.end(), offer.sha256.begin());
	offer.blockSize = stored.blockSize;
	transfer->_plan = offer.plan();
	const std::uint32_t count = transfer->_plan.blockCount();
	if (offer.blockSize < TransferProtocol::MIN_BLOCK_SIZE || count > TransferProtocol::MAX_BLOCKS
		|| stored.hashes.size() != std::size_t(count) * 32)
		throw Poco::DataFormatException("a stored transfer without its block hashes");
	transfer->_hashes.resize(count);
	for (std::uint32_t i = 0; i < count; ++i)
		std::copy(stored.hashes.begin() + i * 32, stored.hashes.begin() + (i + 1) * 32, transfer->_hashes[i].begin());
	transfer->_mtimeNs = stored.fileMtimeNs;
	transfer->_createdMs = stored.createdMs;
	offer.timestampMs = stored.createdMs;
	transfer->_state = stored.state == TransferState::TRANSFERRING ? TransferState::TRANSFERRING : TransferState::OFFERED;
	transfer->_sent.assign(count, false);
	return transfer;
}


void OutgoingTransfer::prepare()
{
	prepare(_host, {shared_from_this()});
}


void OutgoingTransfer::prepare(TransferHost& host, const std::vector<Ptr>& transfers)
{
	std::vector<Ptr> waiting;
	for (const Ptr& transfer: transfers)
		if (transfer->_state == TransferState::PREPARING && !transfer->_hashing) waiting.push_back(transfer);
	if (waiting.empty()) return;
	const std::string path = waiting.front()->_path;
	const auto hashing = std::make_shared<std::atomic<std::size_t>>(waiting.size());
	std::vector<std::weak_ptr<OutgoingTransfer>> weak;
	for (const Ptr& transfer: waiting)
	{
		poco_assert(transfer->_path == path && &transfer->_host == &host);
		transfer->_hashing = hashing;
		weak.push_back(transfer);
		transfer->report(false);
	}
	++host.counters().filesHashed;
	Scheduler* pScheduler = &host.scheduler();
	host.hasher().submit([path, hashing, weak, pScheduler](const std::atomic<bool>& stopping) {
		const Hashed result = hashFile(path, stopping, *hashing);
		if (stopping || *hashing == 0) return;
		pScheduler->post([weak, result] {
			for (const auto& transfer: weak)
				if (auto self = transfer.lock()) self->hashed(result);
		});
	});
}


OutgoingTransfer::Hashed OutgoingTransfer::hashFile(const std::string& path, const std::atomic<bool>& stopping,
	const std::atomic<std::size_t>& waiting)
	/// On the hasher thread: one pass over the file for the whole file's SHA-256 and each
	/// block's. The file must not change meanwhile (size and modification time are compared).
{
	Hashed result;
	const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
	if (fd < 0)
	{
		result.error = "cannot open " + path + ": " + std::strerror(errno);
		return result;
	}
	struct stat before;
	if (::fstat(fd, &before) != 0 || !S_ISREG(before.st_mode))
	{
		::close(fd);
		result.error = path + " is not a regular file";
		return result;
	}
	result.size = static_cast<std::uint64_t>(before.st_size);
	result.mtimeNs = mtimeOf(before);
	if (result.size > TransferProtocol::MAX_FILE_SIZE)
	{
		::close(fd);
		result.error = path + " is larger than the largest file a transfer carries (1 TiB)";
		return result;
	}
	BlockPlan plan;
	plan.size = result.size;
	plan.blockSize = TransferProtocol::blockSizeFor(result.size);
	result.hashes.reserve(plan.blockCount());
	Sha256 whole;
	Sha256 block;
	std::string buffer(HASH_READ_SIZE, '\0');
	std::uint64_t offset = 0;
	std::uint64_t blockLeft = plan.blockLength(0);
	while (offset < result.size)
	{
		if (stopping || waiting == 0)
		{
			::close(fd);
			result.error = "stopped";
			return result;
		}
		const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>({buffer.size(), result.size - offset, blockLeft}));
		const ssize_t got = ::pread(fd, &buffer[0], want, static_cast<off_t>(offset));
		if (got < 0 && errno == EINTR) continue;
		if (got <= 0)
		{
			::close(fd);
			result.error = got < 0 ? "cannot read " + path + ": " + std::strerror(errno) : path + " became shorter while it was read";
			return result;
		}
		whole.update(buffer.data(), static_cast<std::size_t>(got));
		block.update(buffer.data(), static_cast<std::size_t>(got));
		offset += static_cast<std::uint64_t>(got);
		blockLeft -= static_cast<std::uint64_t>(got);
		if (blockLeft == 0)
		{
			result.hashes.push_back(block.finish());
			blockLeft = plan.blockLength(static_cast<std::uint32_t>(result.hashes.size()));
		}
	}
	struct stat after;
	const bool same = ::fstat(fd, &after) == 0 && after.st_size == before.st_size && mtimeOf(after) == result.mtimeNs;
	::close(fd);
	if (!same)
	{
		result.error = path + " changed while it was read";
		return result;
	}
	result.sha256 = whole.finish();
	return result;
}


void OutgoingTransfer::hashed(const Hashed& result)
{
	if (_state != TransferState::PREPARING) return;
	_hashing.reset();
	if (!result.error.empty())
	{
		end(TransferState::FAILED, std::string(), result.error);
		return;
	}
	_offer.size = result.size;
	_offer.sha256 = result.sha256;
	_offer.blockSize = TransferProtocol::blockSizeFor(result.size);
	_offer.timestampMs = wallClockMs();
	_plan = _offer.plan();
	_hashes = result.hashes;
	_mtimeNs = result.mtimeNs;
	_sent.assign(_plan.blockCount(), false);
	_state = TransferState::OFFERED;
	try
	{
		save();
	}
	catch (const Poco::Exception& exc)
	{
		end(TransferState::FAILED, std::string(), "cannot record the transfer: " + exc.displayText());
		return;
	}
	logger().information("offering %s (%Lu bytes, %u blocks of %u bytes) to %s", Text::quoted(_offer.name),
		static_cast<Poco::UInt64>(_offer.size), _plan.blockCount(), _offer.blockSize, _peer.shortString());
	report(false);
	sendOffer();
}


const PeerId& OutgoingTransfer::peer() const
{
	return _peer;
}


const TransferId& OutgoingTransfer::id() const
{
	return _offer.id;
}


TransferState OutgoingTransfer::state() const
{
	return _state;
}


TransferInfo OutgoingTransfer::info() const
{
	const auto now = _host.scheduler().now();
	TransferInfo info;
	info.id = _offer.id.toString();
	info.peer = _peer;
	info.direction = TransferDirection::OUTGOING;
	info.state = _state;
	info.name = _offer.name;
	info.size = _offer.size;
	if (_state != TransferState::PREPARING) info.sha256 = Sha256::hex(_offer.sha256);
	info.bytesDone = _state == TransferState::COMPLETE ? _offer.size : std::min(_sentBytes, _offer.size);
	if (_state == TransferState::TRANSFERRING)
	{
		info.rate = _meter.rate(now);
		const std::uint64_t left = _offer.size - info.bytesDone;
		if (info.rate > 0) info.etaSeconds = static_cast<std::int64_t>(static_cast<double>(left) / info.rate + 0.5);
	}
	info.localPath = _path;
	info.connected = _host.connected(_peer);
	info.group = _offer.group;
	info.error = _error;
	info.createdMs = _createdMs;
	return info;
}


void OutgoingTransfer::cancel(const std::string& reason)
{
	if (transferStateFinal(_state)) return;
	end(TransferState::CANCELLED, TransferProtocol::CANCELLED, reason);
}


// The peer -----------------------------------------------------------------------------------


void OutgoingTransfer::onAccept()
{
	if (_state != TransferState::OFFERED) return;
	setState(TransferState::TRANSFERRING);
	logger().information("%s accepted %s", _peer.shortString(), Text::quoted(_offer.name));
	report(false);
}


void OutgoingTransfer::onHashesGet(std::uint32_t first, std::uint32_t count)
{
	if (_state == TransferState::OFFERED) onAccept();   // its file-accept was lost: the request says as much
	if (_state != TransferState::TRANSFERRING) return;
	const std::uint32_t blocks = _plan.blockCount();
	if (first >= blocks || count == 0 || count > SessionProtocol::MAX_HASHES_PER_MESSAGE || count > blocks - first)
		throw MessageException("hashes asked for outside the file");
	HashPage page;
	page.id = _offer.id;
	page.first = first;
	page.hashes.assign(_hashes.begin() + first, _hashes.begin() + first + count);
	_host.sendMessage(_peer, "file-hashes", TransferProtocol::hashesBody(page));
}


void OutgoingTransfer::onGet(const BlockRequest& request)
{
	if (_state == TransferState::OFFERED) onAccept();
	if (_state != TransferState::TRANSFERRING) return;
	const std::uint32_t blocks = _plan.blockCount();
	for (std::uint32_t block: request.blocks)
		if (block >= blocks) throw MessageException("block " + std::to_string(block) + " asked for, the file has " + std::to_string(blocks));
	if (request.round < _round) return;   // asked on an older session: the receiver asks again
	if (request.round > _round)
	{
		clearQueue();
		_round = request.round;
	}
	const bool wasIdle = !hasData();
	for (std::uint32_t block: request.blocks)
	{
		if (_queued.size() >= MAX_QUEUED_BLOCKS) break;
		if (_current == block || !_queued.insert(block).second) continue;
		_queue.push_back(block);
	}
	if (wasIdle && hasData()) _host.dataReady(_peer);
}


void OutgoingTransfer::onDone()
{
	if (_state != TransferState::TRANSFERRING && _state != TransferState::OFFERED) return;
	closeFile();
	clearQueue();
	_sentBytes = _offer.size;
	setState(TransferState::COMPLETE);
	logger().information("%s has %s, verified", _peer.shortString(), Text::quoted(_offer.name));
	report(false);
}


void OutgoingTransfer::peerCancelled(const std::string& code, const std::string& reason)
{
	if (transferStateFinal(_state)) return;
	TransferState state = TransferState::FAILED;
	if (code == TransferProtocol::REJECTED || code == TransferProtocol::BUSY || code == TransferProtocol::TOO_LARGE
		|| code == TransferProtocol::NO_SPACE || code == TransferProtocol::BLOCKED)
		state = TransferState::REJECTED;
	else if (code == TransferProtocol::CANCELLED)
		state = TransferState::CANCELLED;
	end(state, std::string(), "the receiver " + std::string(state == TransferState::REJECTED ? "refused it" : "ended it")
		+ " (" + code + (reason.empty() ? "" : ": " + reason) + ")");
}


void OutgoingTransfer::connected()
{
	clearQueue();
	if (_state == TransferState::OFFERED) sendOffer();
}


void OutgoingTransfer::disconnected()
{
	clearQueue();
}


// The pump -----------------------------------------------------------------------------------


bool OutgoingTransfer::hasData() const
{
	return _state == TransferState::TRANSFERRING && (_current.has_value() || !_queue.empty());
}


bool OutgoingTransfer::nextChunk(std::string& body)
{
	if (!hasData()) return false;
	TransferStats& stats = _host.counters();
	if (!_current)
	{
		std::string problem;
		if (!openFile(problem))
		{
			end(TransferState::FAILED, TransferProtocol::CHANGED, problem);
			return false;
		}
		_current = _queue.front();
		_queue.pop_front();
		_queued.erase(*_current);
		_offset = 0;
		++stats.blocksSent;
		::posix_fadvise(_fd, static_cast<off_t>(_plan.blockOffset(*_current)), static_cast<off_t>(_plan.blockLength(*_current)),
			POSIX_FADV_WILLNEED);
	}
	const std::uint32_t block = *_current;
	const std::uint32_t length = _plan.blockLength(block);
	const std::size_t size = std::min<std::size_t>(TransferProtocol::CHUNK_SIZE, length - _offset);
	DataHeader header;
	header.id = _offer.id;
	header.round = _round;
	header.block = block;
	header.offset = _offset;
	body.resize(TransferProtocol::DATA_HEADER_SIZE + size);
	TransferProtocol::writeHeader(&body[0], header);
	char* p = &body[TransferProtocol::DATA_HEADER_SIZE];
	std::size_t left = size;
	off_t offset = static_cast<off_t>(_plan.blockOffset(block) + _offset);
	while (left > 0)
	{
		const ssize_t got = ::pread(_fd, p, left, offset);
		if (got < 0 && errno == EINTR) continue;
		if (got <= 0)
		{
			end(TransferState::FAILED, TransferProtocol::CHANGED,
				got < 0 ? "cannot read " + _path + ": " + std::strerror(errno) : _path + " became shorter");
			return false;
		}
		p += got;
		left -= static_cast<std::size_t>(got);
		offset += got;
	}
	if (_host.config().testCorruptBlock == static_cast<std::int64_t>(block) && _offset == 0 && _corrupted.insert(block).second)
	{
		// Test hook (TransferConfig::testCorruptBlock): one bit of this block flipped, once.
		logger().warning("test hook: corrupting block %u of %s on the wire", block, Text::quoted(_offer.name));
		body[TransferProtocol::DATA_HEADER_SIZE] = static_cast<char>(body[TransferProtocol::DATA_HEADER_SIZE] ^ 0x01);
	}
	_offset += static_cast<std::uint32_t>(size);
	stats.bytesSent += size;
	if (!_sent[block])
	{
		_sentBytes += size;
		_meter.add(_host.scheduler().now(), size);
	}
	if (_offset >= length)
	{
		_sent[block] = true;
		_current.reset();
		report(true);
	}
	return true;
}


void OutgoingTransfer::shutdown()
{
	leaveHashing();
	closeFile();
}


// Inside -------------------------------------------------------------------------------------


void OutgoingTransfer::sendOffer()
{
	_host.sendMessage(_peer, "file-offer", TransferProtocol::offerBody(_offer));
}


void OutgoingTransfer::save()
{
	ChatStore* pStore = _host.store();
	if (!pStore) return;
	StoredTransfer stored;
	stored.id = _offer.id.toString();
	stored.peer = _peer;
	stored.direction = TransferDirection::OUTGOING;
	stored.state = _state;
	stored.name = _offer.name;
	stored.size = _offer.size;
	stored.sha256 = digestBytes(_offer.sha256);
	stored.blockSize = _offer.blockSize;
	stored.hashes.reserve(_hashes.size() * 32);
	for (const Sha256Digest& hash: _hashes) stored.hashes += digestBytes(hash);
	stored.localPath = _path;
	stored.fileMtimeNs = _mtimeNs;
	stored.group = _offer.group;
	stored.createdMs = _createdMs;
	stored.error = _error;
	pStore->saveTransfer(stored);
}


void OutgoingTransfer::setState(TransferState state, const std::string& error)
{
	const bool stored = _state != TransferState::PREPARING;   // not in the store before its offer
	_state = state;
	_error = error;
	if (stored) recordTransferState(_host, _peer, TransferDirection::OUTGOING, _offer.id.toString(), _offer.name, state, error);
}


void OutgoingTransfer::report(bool progressOnly)
{
	if (transferReportDue(_host, _lastReport, progressOnly)) _host.changed(info(), progressOnly);
}


void OutgoingTransfer::end(TransferState state, const std::string& code, const std::string& reason)
{
	if (state == TransferState::FAILED)
		logger().warning("sending %s to %s failed: %s", Text::quoted(_offer.name), _peer.shortString(), reason);
	leaveHashing();
	const bool offered = _state != TransferState::PREPARING;
	closeFile();
	clearQueue();
	setState(state, reason);
	if (offered && !code.empty()) _host.sendMessage(_peer, "file-cancel", TransferProtocol::cancelBody(_offer.id, code, reason));
	report(false);
}


bool OutgoingTransfer::openFile(std::string& problem)
{
	struct stat st;
	if (_fd < 0)
	{
		_fd = ::open(_path.c_str(), O_RDONLY | O_CLOEXEC);
		if (_fd < 0)
		{
			problem = "cannot open " + _path + ": " + std::strerror(errno);
			return false;
		}
	}
	if (::fstat(_fd, &st) != 0 || !S_ISREG(st.st_mode) || static_cast<std::uint64_t>(st.st_size) != _offer.size
		|| mtimeOf(st) != _mtimeNs)
	{
		closeFile();
		problem = _path + " changed since it was offered";
		return false;
	}
	return true;
}


void OutgoingTransfer::closeFile()
{
	if (_fd >= 0)
	{
		::close(_fd);
		_fd = -1;
	}
}


void OutgoingTransfer::clearQueue()
{
	_queue.clear();
	_queued.clear();
	_current.reset();
	_offset = 0;
}


void OutgoingTransfer::leaveHashing()
	/// This transfer no longer waits for its file's hashing: the reading stops when none does.
{
	if (!_hashing) return;
	--*_hashing;
	_hashing.reset();
}


} } // namespace CrossChat::Chat
