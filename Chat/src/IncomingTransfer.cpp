//
// IncomingTransfer.cpp
//
// Library: Chat
//


#include "IncomingTransfer.h"
#include "FileWorker.h"
#include "SafeFileName.h"
#include "CrossChat/Chat/ChatStore.h"
#include "CrossChat/Chat/SessionProtocol.h"
#include "CrossChat/FoundationException.h"
#include "CrossChat/Text.h"
#include "Poco/Exception.h"
#include "Poco/Logger.h"
#include "Poco/Path.h"
#include <algorithm>


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


TransferWindow::Params windowParams(const TransferConfig& config)
{
	TransferWindow::Params params;
	params.target = std::chrono::duration_cast<std::chrono::microseconds>(config.targetDelay);
	return params;
}


std::string digestBytes(const Sha256Digest& digest)
{
	return std::string(reinterpret_cast<const char*>(digest.data()), digest.size());
}


constexpr std::uint32_t HASHES_PER_PAGE = static_cast<std::uint32_t>(SessionProtocol::MAX_HASHES_PER_MESSAGE);


} // namespace


constexpr std::chrono::seconds IncomingTransfer::CHECKPOINT_INTERVAL;


IncomingTransfer::IncomingTransfer(TransferHost& host, const PeerId& peer, const FileOffer& offer, bool request):
	_host(host),
	_peer(peer),
	_offer(offer),
	_plan(offer.plan()),
	_request(request),
	_createdMs(wallClockMs()),
	_hashes(_plan.blockCount()),
	_hashPageDone((_plan.blockCount() + HASHES_PER_PAGE - 1) / HASHES_PER_PAGE, false),
	_have(_plan.blockCount(), false),
	_window(offer.blockSize, windowParams(host.config())),
	_lastData(host.scheduler().now()),
	_lastReport(host.scheduler().now())
{
}


IncomingTransfer::~IncomingTransfer()
{
	shutdown();
	releaseBudget(_budgetHeld);   // blocks still asked for, and writes whose answer will not come back
}


IncomingTransfer::Ptr IncomingTransfer::restore(TransferHost& host, const StoredTransfer& stored)
{
	FileOffer offer;
	offer.id = TransferId::parse(stored.id);
	offer.name = stored.name;
	offer.size = stored.size;
	if (stored.sha256.size() != offer.sha256.size()) throw Poco::DataFormatException("a stored transfer without its SHA-256");
	std::copy(stored.sha256.begin(), stored.sha256.end(), offer.sha256.begin());
	offer.blockSize = stored.blockSize;
	offer.group = stored.group;
	if (offer.blockSize < TransferProtocol::MIN_BLOCK_SIZE || offer.blockSize > TransferProtocol::MAX_BLOCK_SIZE
		|| offer.plan().blockCount() > TransferProtocol::MAX_BLOCKS)
		throw Poco::DataFormatException("a stored transfer with an impossible block plan");
	Ptr transfer = std::make_shared<IncomingTransfer>(host, stored.peer, offer, false);
	transfer->_createdMs = stored.createdMs;
	transfer->_localPath = stored.localPath;
	const std::uint32_t count = transfer->_plan.blockCount();
	if (stored.hashes.size() == std::size_t(count) * 32)
	{
		for (std::uint32_t i = 0; i < count; ++i)
			std::copy(stored.hashes.begin() + i * 32, stored.hashes.begin() + (i + 1) * 32, transfer->_hashes[i].begin());
		std::fill(transfer->_hashPageDone.begin(), transfer->_hashPageDone.end(), true);
	}
	try
	{
		transfer->_part = PartFile::reopen(stored.localPath, transfer->_plan);
		transfer->_have = decodeBits(stored.have, count);
	}
	catch (const Poco::FileNotFoundException&)
	{
		// The .part is gone (deleted by the user): the download starts over, under a free name.
		const Poco::Path final(stored.localPath);
		transfer->_part = PartFile::create(final.parent().toString(), final.getFileName(), transfer->_plan);
		transfer->_localPath = transfer->_part->finalPath();
		logger().information("the partial download of %s was gone; starting it again as %s", Text::quoted(stored.name),
			transfer->_localPath);
	}
	for (std::uint32_t i = 0; i < count; ++i)
	{
		if (!transfer->_have[i]) continue;
		++transfer->_haveCount;
		transfer->_haveBytes += transfer->_plan.blockLength(i);
	}
	transfer->_state = TransferState::TRANSFERRING;
	PartFile::Ptr part = transfer->_part;
	const std::vector<bool> have = transfer->_have;
	host.worker().submit([part, have](const std::atomic<bool>&) { part->restore(have); });
	transfer->save();
	transfer->armTimers();
	if (transfer->_haveCount == count && transfer->hashesComplete())
	{
		transfer->verify();   // stopped while verifying
		return transfer;
	}
	if (transfer->hashesComplete() && transfer->_haveCount < count)
	{
		// Blocks verified and written after the last checkpoint are in the .part but not in the
		// store (a kill between two checkpoints): find them by their hashes before asking for any.
		transfer->_recovering = true;
		const std::vector<Sha256Digest> hashes = transfer->_hashes;
		std::weak_ptr<IncomingTransfer> weak = transfer;
		Scheduler* pScheduler = &host.scheduler();
		host.worker().submit([part, have, hashes, weak, pScheduler](const std::atomic<bool>&) {
			std::vector<std::uint32_t> blocks;
			std::string error;
			try
			{
				blocks = part->recover(have, hashes);
			}
			catch (const Poco::Exception& exc)
			{
				error = exc.displayText();
			}
			pScheduler->post([weak, blocks, error] {
				if (auto self = weak.lock()) self->recovered(blocks, error);
			});
		});
	}
	return transfer;
}


const PeerId& IncomingTransfer::peer() const
{
	return _peer;
}


const TransferId& IncomingTransfer::id() const
{
	return _offer.id;
}


const FileOffer& IncomingTransfer::offer() const
{
	return _offer;
}


TransferState IncomingTransfer::state() const
{
	return _state;
}


bool IncomingTransfer::request() const
{
	return _request;
}


std::uint64_t IncomingTransfer::remainingBytes() const
{
	return _offer.size - std::min(_offer.size, _haveBytes);
}


TransferInfo IncomingTransfer::info() const
{
	const auto now = _host.scheduler().now();
	TransferInfo info;
	info.id = _offer.id.toString();
	info.peer = _peer;
	info.direction = TransferDirection::INCOMING;
	info.state = _state;
	info.name = _offer.name;
	info.size = _offer.size;
	info.sha256 = Sha256::hex(_offer.sha256);
	info.bytesDone = _haveBytes;
	if (_state == TransferState::TRANSFERRING)
	{
		info.rate = _meter.rate(now);
		if (info.rate > 0) info.etaSeconds = static_cast<std::int64_t>(static_cast<double>(remainingBytes()) / info.rate + 0.5);
	}
	info.localPath = _localPath;
	info.request = _request;
	info.connected = _host.connected(_peer);
	info.group = _offer.group;
	info.error = _error;
	info.createdMs = _createdMs;
	return info;
}


// The user -----------------------------------------------------------------------------------


void IncomingTransfer::accept(const std::string& directory)
{
	if (_state != TransferState::OFFERED) throw Poco::IllegalStateException("the transfer is " + std::string(transferStateName(_state)));
	_part = PartFile::create(directory, SafeFileName::make(_offer.name), _plan);
	_localPath = _part->finalPath();
	_state = TransferState::TRANSFERRING;
	save();
	logger().information("accepted %s (%Lu bytes) into %s", Text::quoted(_offer.name), static_cast<Poco::UInt64>(_offer.size),
		_localPath);
	report(false);
	armTimers();
	if (_plan.blockCount() == 0)
	{
		verify();
		return;
	}
	connected();
}


void IncomingTransfer::reject(const std::string& code, const std::string& reason)
{
	if (_state != TransferState::OFFERED) return;
	_state = TransferState::REJECTED;
	_error = reason;
	_host.sendMessage(_peer, "file-cancel", TransferProtocol::cancelBody(_offer.id, code, reason));
	report(false);
}


void IncomingTransfer::cancel(const std::string& reason)
{
	if (transferStateFinal(_state)) return;
	end(TransferState::CANCELLED, TransferProtocol::CANCELLED, reason);
}


void IncomingTransfer::end(TransferState state, const std::string& code, const std::string& reason)
	/// Ends the transfer: tells the sender (unless it ended it), drops the .part, records it.
{
	const bool wasAccepted = _state != TransferState::OFFERED;
	_state = state;
	_error = reason;
	shutdown();
	releaseRequested();   // the blocks on the FileWorker give theirs back when their answer comes (written())
	_retry.clear();
	if (!code.empty()) _host.sendMessage(_peer, "file-cancel", TransferProtocol::cancelBody(_offer.id, code, reason));
	if (_part)
	{
		PartFile::Ptr part = _part;
		_host.worker().submit([part](const std::atomic<bool>&) { part->remove(); });
	}
	if (wasAccepted) setState(state, reason);
	report(false);
}


void IncomingTransfer::fail(const std::string& reason)
{
	if (transferStateFinal(_state)) return;
	logger().warning("download of %s from %s failed: %s", Text::quoted(_offer.name), _peer.shortString(), reason);
	end(TransferState::FAILED, TransferProtocol::FAILED, reason);
}


// The peer -----------------------------------------------------------------------------------


void IncomingTransfer::peerCancelled(const std::string& code, const std::string& reason)
{
	if (transferStateFinal(_state)) return;
	const bool failed = code != TransferProtocol::CANCELLED && code != TransferProtocol::REJECTED;
	end(failed ? TransferState::FAILED : TransferState::CANCELLED, std::string(),
		"the sender " + std::string(failed ? "gave up" : "cancelled") + " (" + code + (reason.empty() ? "" : ": " + reason) + ")");
}


void IncomingTransfer::onHashes(const HashPage& page)
{
	if (_state != TransferState::TRANSFERRING || hashesComplete()) return;   // late or repeated: harmless
	const std::uint32_t count = _plan.blockCount();
	const std::uint32_t pageIndex = page.first / HASHES_PER_PAGE;
	if (page.first % HASHES_PER_PAGE != 0 || page.first >= count
		|| page.hashes.size() != std::min<std::uint32_t>(HASHES_PER_PAGE, count - page.first))
		throw MessageException("a hash page that does not fit the file");
	if (_hashPageDone[pageIndex]) return;
	std::copy(page.hashes.begin(), page.hashes.end(), _hashes.begin() + page.first);
	_hashPageDone[pageIndex] = true;
	_hashPagesAsked.erase(pageIndex);
	_lastData = _host.scheduler().now();
	if (!hashesComplete())
	{
		requestHashes();
		return;
	}
	save();   // the hash list is kept: a resume needs it before any block
	fill();
}


void IncomingTransfer::onData(const DataChunk& chunk)
{
	TransferStats& stats = _host.counters();
	stats.bytesReceived += chunk.size;
	const std::uint32_t block = chunk.header.block;
	auto it = _requested.find(block);
	if (_state != TransferState::TRANSFERRING || chunk.header.round != _round || it == _requested.end())
	{
		++stats.chunksDropped;   // an old round's, or not asked for
		return;
	}
	Request& request = it->second;
	const auto now = _host.scheduler().now();
	const std::uint32_t length = _plan.blockLength(block);
	if (chunk.header.offset != request.received || request.received + chunk.size > length)
	{
		++stats.chunksDropped;
		drop(block, true);
		fill();
		return;
	}
	if (request.received == 0)
	{
		if (request.sample) _window.sample(now - request.at);
		request.data.reserve(length);
	}
	request.data.append(chunk.data, chunk.size);
	request.received += static_cast<std::uint32_t>(chunk.size);
	_inFlight -= std::min(_inFlight, chunk.size);
	_lastData = now;
	if (request.received == length) blockComplete(block, request);
}


void IncomingTransfer::blockComplete(std::uint32_t block, Request& request)
	/// The block is checked and written on the FileWorker (write()); the answer comes to written().
{
	std::string data = std::move(request.data);
	_requested.erase(block);
	write(block, std::move(data));
	fill();
}


void IncomingTransfer::corrupt(std::uint32_t block)
{
	++_host.counters().blocksCorrupt;
	const unsigned failures = ++_failures[block];
	logger().warning("block %u of %s from %s failed its SHA-256 check (%u of %u times); fetching it again", block,
		Text::quoted(_offer.name), _peer.shortString(), failures, MAX_BLOCK_FAILURES);
	if (failures >= MAX_BLOCK_FAILURES)
	{
		fail("block " + std::to_string(block) + " failed its SHA-256 check " + std::to_string(failures) + " times");
		return;
	}
	_retry.push_front(block);
	fill();
}


void IncomingTransfer::connected()
{
	if (_state == TransferState::COMPLETE)
	{
		_host.sendMessage(_peer, "file-done", TransferProtocol::idBody(_offer.id));
		return;
	}
	if (_state != TransferState::TRANSFERRING) return;
	// The sender learns that we still want the file (after a restart of either side) ...
	_host.sendMessage(_peer, "file-accept", TransferProtocol::idBody(_offer.id));
	_lastData = _host.scheduler().now();
	if (!hashesComplete())
	{
		_hashPagesAsked.clear();
		requestHashes();
		return;
	}
	// ... and what was asked on the old session is asked again on this one.
	newRound();
	fill();
}


void IncomingTransfer::disconnected()
{
	if (_state != TransferState::TRANSFERRING) return;
	_hashPagesAsked.clear();
	newRound();
}


// The service --------------------------------------------------------------------------------


void IncomingTransfer::shutdown()
{
	_checkpointTimer.cancel();
	_stallTimer.cancel();
}


std::size_t IncomingTransfer::budgetHeld() const
{
	return _budgetHeld;
}


void IncomingTransfer::budgetFreed()
{
	fill();
}


void IncomingTransfer::checkpointNow()
{
	if (!_part || _state != TransferState::TRANSFERRING) return;
	try
	{
		_part->sync();
		if (ChatStore* pStore = _host.store()) pStore->setTransferHave(_peer, _offer.id.toString(), encodeBits(_have));
		_dirty = false;
	}
	catch (const Poco::Exception& exc)
	{
		logger().warning("cannot record the progress of %s: %s", Text::quoted(_offer.name), exc.displayText());
	}
}


std::string IncomingTransfer::encodeBits(const std::vector<bool>& bits)
{
	std::string bytes((bits.size() + 7) / 8, '\0');
	for (std::size_t i = 0; i < bits.size(); ++i)
		if (bits[i]) bytes[i / 8] = static_cast<char>(static_cast<unsigned char>(bytes[i / 8]) | (1u << (i % 8)));
	return bytes;
}


std::vector<bool> IncomingTransfer::decodeBits(const std::string& bytes, std::size_t count)
{
	std::vector<bool> bits(count, false);
	for (std::size_t i = 0; i < count && i / 8 < bytes.size(); ++i)
		bits[i] = (static_cast<unsigned char>(bytes[i / 8]) >> (i % 8)) & 1u;
	return bits;
}


// Inside -------------------------------------------------------------------------------------


void IncomingTransfer::save()
{
	ChatStore* pStore = _host.store();
	if (!pStore) return;
	StoredTransfer stored;
	stored.id = _offer.id.toString();
	stored.peer = _peer;
	stored.direction = TransferDirection::INCOMING;
	stored.state = _state;
	stored.name = _offer.name;
	stored.size = _offer.size;
	stored.sha256 = digestBytes(_offer.sha256);
	stored.blockSize = _offer.blockSize;
	if (hashesComplete())
	{
		stored.hashes.reserve(_hashes.size() * 32);
		for (const Sha256Digest& hash: _hashes) stored.hashes += digestBytes(hash);
	}
	stored.have = encodeBits(_have);
	stored.localPath = _localPath;
	stored.group = _offer.group;
	stored.createdMs = _createdMs;
	stored.error = _error;
	pStore->saveTransfer(stored);
}


void IncomingTransfer::setState(TransferState state, const std::string& error)
{
	_state = state;
	_error = error;
	recordTransferState(_host, _peer, TransferDirection::INCOMING, _offer.id.toString(), _offer.name, state, error);
}


void IncomingTransfer::report(bool progressOnly)
{
	if (transferReportDue(_host, _lastReport, progressOnly)) _host.changed(info(), progressOnly);
}


bool IncomingTransfer::hashesComplete() const
{
	return std::all_of(_hashPageDone.begin(), _hashPageDone.end(), [](bool done) { return done; });
}


void IncomingTransfer::requestHashes()
{
	const std::uint32_t count = _plan.blockCount();
	for (std::uint32_t page = 0; page < _hashPageDone.size() && _hashPagesAsked.size() < HASH_PAGES_AT_ONCE; ++page)
	{
		if (_hashPageDone[page] || _hashPagesAsked.count(page)) continue;
		const std::uint32_t first = page * HASHES_PER_PAGE;
		if (!_host.sendMessage(_peer, "file-hashes-get",
			TransferProtocol::hashesGetBody(_offer.id, first, std::min(HASHES_PER_PAGE, count - first))))
			return;
		_hashPagesAsked.insert(page);
	}
}


void IncomingTransfer::newRound()
{
	++_round;
	for (auto it = _requested.rbegin(); it != _requested.rend(); ++it) _retry.push_front(it->first);
	releaseRequested();
	_window.reset();
}


void IncomingTransfer::releaseRequested()
	/// Forgets every block asked for and not complete, and gives back their budget.
{
	std::size_t bytes = 0;
	for (const auto& entry: _requested) bytes += _plan.blockLength(entry.first);
	_requested.clear();
	_inFlight = 0;
	releaseBudget(bytes);
}


void IncomingTransfer::releaseBudget(std::size_t bytes)
{
	bytes = std::min(bytes, _budgetHeld);
	if (bytes == 0) return;
	_budgetHeld -= bytes;
	_host.budget().release(bytes);
}


void IncomingTransfer::drop(std::uint32_t block, bool retry)
{
	auto it = _requested.find(block);
	if (it == _requested.end()) return;
	const std::uint32_t length = _plan.blockLength(block);
	_inFlight -= std::min<std::size_t>(_inFlight, length - it->second.received);
	_requested.erase(it);
	releaseBudget(length);
	if (retry) _retry.push_front(block);
}


bool IncomingTransfer::takeNext(std::uint32_t& block)
{
	auto wanted = [this](std::uint32_t b) { return !_have[b] && !_requested.count(b) && !_writing.count(b); };
	while (!_retry.empty())
	{
		block = _retry.front();
		_retry.pop_front();
		if (wanted(block)) return true;
	}
	const std::uint32_t count = _plan.blockCount();
	while (_scan < count)
	{
		block = _scan++;
		if (wanted(block)) return true;
	}
	return false;
}


void IncomingTransfer::fill()
{
	if (_state != TransferState::TRANSFERRING || _recovering || !hashesComplete() || !_host.connected(_peer)) return;
	const auto now = _host.scheduler().now();
	BlockRequest get;
	get.id = _offer.id;
	get.round = _round;
	auto flush = [&] {
		if (get.blocks.empty()) return true;
		const bool sent = _host.sendMessage(_peer, "file-get", TransferProtocol::getBody(get));
		get.blocks.clear();
		return sent;
	};
	DownloadBudget& budget = _host.budget();
	const std::shared_ptr<DownloadBudget::Client> self = shared_from_this();
	std::uint32_t block = 0;
	while (_window.allows(_inFlight) && _writingBytes < MAX_WRITE_BACKLOG && takeNext(block))
	{
		const std::uint32_t length = _plan.blockLength(block);
		if (!budget.acquire(self, length))
		{
			_retry.push_front(block);   // the first asked for when our turn comes (budgetFreed())
			break;
		}
		_budgetHeld += length;
		Request& request = _requested[block];
		request.at = now;
		request.sample = get.blocks.empty();
		_inFlight += length;
		get.blocks.push_back(block);
		if (get.blocks.size() == SessionProtocol::MAX_BLOCKS_PER_GET && !flush()) break;
	}
	flush();
}


void IncomingTransfer::write(std::uint32_t block, std::string data)
{
	_writing.insert(block);
	_writingBytes += data.size();
	PartFile::Ptr part = _part;
	std::weak_ptr<IncomingTransfer> weak = shared_from_this();
	Scheduler* pScheduler = &_host.scheduler();
	auto shared = std::make_shared<std::string>(std::move(data));
	const Sha256Digest expected = _hashes[block];
	_host.worker().submit([part, block, shared, expected, weak, pScheduler](const std::atomic<bool>&) {
		bool matched = false;
		std::string error;
		try
		{
			matched = part->writeVerified(block, *shared, expected);
		}
		catch (const Poco::Exception& exc)
		{
			error = exc.displayText();
		}
		pScheduler->post([weak, block, matched, error] {
			if (auto self = weak.lock()) self->written(block, matched, error);
		});
	});
}


void IncomingTransfer::written(std::uint32_t block, bool matched, const std::string& error)
{
	if (!_writing.erase(block)) return;
	const std::uint32_t length = _plan.blockLength(block);
	_writingBytes -= std::min<std::size_t>(_writingBytes, length);
	releaseBudget(length);
	if (_state != TransferState::TRANSFERRING) return;
	if (!error.empty())
	{
		fail("cannot write the file: " + error);
		return;
	}
	if (!matched)
	{
		corrupt(block);
		return;
	}
	_have[block] = true;
	++_haveCount;
	_haveBytes += length;
	_dirty = true;
	++_host.counters().blocksVerified;
	_meter.add(_host.scheduler().now(), length);
	if (_haveCount == _plan.blockCount())
	{
		verify();
		return;
	}
	report(true);
	fill();
}


void IncomingTransfer::verify()
{
	_checkpointTimer.cancel();
	_stallTimer.cancel();
	setState(TransferState::VERIFYING);
	report(false);
	PartFile::Ptr part = _part;
	const Sha256Digest expected = _offer.sha256;
	std::weak_ptr<IncomingTransfer> weak = shared_from_this();
	Scheduler* pScheduler = &_host.scheduler();
	_host.worker().submit([part, expected, weak, pScheduler](const std::atomic<bool>&) {
		bool ok = false;
		std::string path;
		std::string error;
		try
		{
			ok = part->check(expected);
			if (ok) path = part->finish();
		}
		catch (const Poco::Exception& exc)
		{
			ok = false;
			error = exc.displayText();
		}
		pScheduler->post([weak, ok, path, error] {
			if (auto self = weak.lock()) self->verified(ok, path, error);
		});
	});
}


void IncomingTransfer::verified(bool ok, const std::string& path, const std::string& error)
{
	if (_state != TransferState::VERIFYING) return;
	if (!ok)
	{
		_state = TransferState::TRANSFERRING;   // so that fail() ends it
		fail(error.empty() ? "the file does not match the SHA-256 of the offer" : "cannot finish the file: " + error);
		return;
	}
	_localPath = path;
	_state = TransferState::COMPLETE;
	_error.clear();
	try
	{
		save();
	}
	catch (const Poco::Exception& exc)
	{
		logger().error("cannot record the completed download %s: %s", path, exc.displayText());
	}
	logger().information("received %s (%Lu bytes, SHA-256 verified) as %s", Text::quoted(_offer.name),
		static_cast<Poco::UInt64>(_offer.size), path);
	_host.sendMessage(_peer, "file-done", TransferProtocol::idBody(_offer.id));
	report(false);
}


void IncomingTransfer::armTimers()
{
	std::weak_ptr<IncomingTransfer> weak = weak_from_this();
	_checkpointTimer = _host.scheduler().runEvery(CHECKPOINT_INTERVAL, [weak] {
		if (auto self = weak.lock()) self->checkpoint();
	});
	const auto interval = std::max<Scheduler::Duration>(_host.config().stallTimeout / 4, std::chrono::milliseconds(100));
	_stallTimer = _host.scheduler().runEvery(interval, [weak] {
		if (auto self = weak.lock()) self->checkStall();
	});
}


void IncomingTransfer::checkpoint()
	/// The .part is synced first; only then are the blocks written before the sync recorded.
{
	if (!_dirty || _checkpointing || !_part || _state != TransferState::TRANSFERRING) return;
	_dirty = false;
	_checkpointing = true;
	PartFile::Ptr part = _part;
	auto snapshot = std::make_shared<std::vector<bool>>(_have);
	std::weak_ptr<IncomingTransfer> weak = shared_from_this();
	Scheduler* pScheduler = &_host.scheduler();
	_host.worker().submit([part, snapshot, weak, pScheduler](const std::atomic<bool>&) {
		std::string error;
		try
		{
			part->sync();
		}
		catch (const Poco::Exception& exc)
		{
			error = exc.displayText();
		}
		pScheduler->post([weak, snapshot, error] {
			auto self = weak.lock();
			if (!self) return;
			self->_checkpointing = false;
			if (!error.empty())
			{
				self->fail("cannot sync the file: " + error);
				return;
			}
			if (self->_state != TransferState::TRANSFERRING) return;
			if (ChatStore* pStore = self->_host.store())
			{
				try
				{
					pStore->setTransferHave(self->_peer, self->_offer.id.toString(), encodeBits(*snapshot));
				}
				catch (const Poco::Exception& exc)
				{
					logger().warning("cannot record the progress of %s: %s", Text::quoted(self->_offer.name), exc.displayText());
					self->_dirty = true;
				}
			}
		});
	});
}


void IncomingTransfer::recovered(const std::vector<std::uint32_t>& blocks, const std::string& error)
{
	_recovering = false;
	if (_state != TransferState::TRANSFERRING) return;
	if (!error.empty())
		logger().warning("cannot search the partial download of %s for unrecorded blocks: %s", Text::quoted(_offer.name), error);
	std::uint64_t bytes = 0;
	for (std::uint32_t block: blocks)
	{
		if (block >= _have.size() || _have[block]) continue;
		_have[block] = true;
		++_haveCount;
		_haveBytes += _plan.blockLength(block);
		bytes += _plan.blockLength(block);
		++_host.counters().blocksRecovered;
	}
	if (!blocks.empty())
	{
		_dirty = true;
		logger().information("%s: %z blocks (%Lu bytes) written before the stop and not yet recorded were found in the "
			"partial download and kept", Text::quoted(_offer.name), blocks.size(), static_cast<Poco::UInt64>(bytes));
	}
	if (_haveCount == _plan.blockCount())
	{
		verify();
		return;
	}
	report(false);
	fill();
}


void IncomingTransfer::checkStall()
{
	if (_state != TransferState::TRANSFERRING || !_host.connected(_peer)) return;
	const bool waiting = !_requested.empty() || !_hashPagesAsked.empty();
	if (!waiting || _host.scheduler().now() - _lastData < _host.config().stallTimeout) return;
	++_host.counters().stalls;
	logger().information("no data for %s from %s for %Ld ms: asking again", Text::quoted(_offer.name), _peer.shortString(),
		static_cast<Poco::Int64>(std::chrono::duration_cast<std::chrono::milliseconds>(_host.config().stallTimeout).count()));
	_lastData = _host.scheduler().now();
	if (!hashesComplete())
	{
		_hashPagesAsked.clear();
		requestHashes();
		return;
	}
	newRound();
	fill();
}


} } // namespace CrossChat::Chat
