//
// TransferService.cpp
//
// Library: Chat
//


#include "TransferService.h"
#include "Peer.h"
#include "Session.h"
#include "CrossChat/Chat/ChatStore.h"
#include "CrossChat/Chat/SessionProtocol.h"
#include "CrossChat/FoundationException.h"
#include "CrossChat/Text.h"
#include "Poco/Exception.h"
#include "Poco/File.h"
#include "Poco/Logger.h"
#include "Poco/Path.h"
#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>


namespace CrossChat {
namespace Chat {


namespace {


Poco::Logger& logger()
{
	return Poco::Logger::get("CrossChat.Chat");
}


std::string lowercase(const std::string& text)
{
	std::string result = text;
	for (char& c: result) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
	return result;
}


std::string bytesText(std::uint64_t bytes)
{
	const char* units[] = {"bytes", "KiB", "MiB", "GiB", "TiB"};
	double value = static_cast<double>(bytes);
	int unit = 0;
	while (value >= 1024 && unit < 4)
	{
		value /= 1024;
		++unit;
	}
	char text[32];
	std::snprintf(text, sizeof(text), unit == 0 ? "%.0f %s" : "%.1f %s", value, units[unit]);
	return text;
}


constexpr std::chrono::milliseconds DRAIN_AT_STOP{1000};   ///< How long stop() lets pending block writes finish.
const std::string WORK = "files";                          ///< Our name for Peer::setWaiting().


} // namespace


TransferService::TransferService(Node& node, TransferConfig config, bool threaded):
	_node(node),
	_config(std::move(config)),
	_threaded(threaded),
	_budget(node.transferScheduler(), std::max<std::size_t>(_config.downloadMemory, 1), _stats)
{
}


TransferService::~TransferService()
{
	stop();
}


void TransferService::setHandler(Handler handler)
{
	_handler = std::move(handler);
}


// PeerService --------------------------------------------------------------------------------


std::vector<std::string> TransferService::messages() const
{
	return {"file-offer", "file-accept", "file-cancel", "file-hashes-get", "file-hashes", "file-get", "file-done"};
}


std::vector<std::string> TransferService::caps() const
{
	return {SessionProtocol::FILES_CAP};
}


std::vector<std::uint8_t> TransferService::dataTypes() const
{
	return {SessionProtocol::FILE_DATA};
}


void TransferService::onMessage(Peer& peer, const Message& message)
{
	try
	{
		handle(peer, message);
	}
	catch (const MessageException& exc)
	{
		refuseInput(peer, message.name, exc.message());
	}
	catch (const Poco::Exception& exc)
	{
		logger().error("file transfer: %s from %s: %s", message.name, peer.id().shortString(), exc.displayText());
	}
}


void TransferService::handle(Peer& peer, const Message& message)
{
	const Poco::JSON::Object& body = *message.body;
	const PeerId& from = peer.id();
	if (message.name == "file-offer")
	{
		onOffer(peer, TransferProtocol::parseOffer(body));
		return;
	}
	const TransferId id = TransferProtocol::parseId(body);
	if (message.name == "file-cancel")
	{
		const std::string code = body.getValue<std::string>("code");
		const std::string reason = body.optValue<std::string>("reason", "");
		if (auto in = incoming(from, id)) in->peerCancelled(code, reason);
		if (auto out = outgoing(from, id)) out->peerCancelled(code, reason);
		return;
	}
	if (message.name == "file-hashes")
	{
		const HashPage page = TransferProtocol::parseHashes(body);
		if (auto in = incoming(from, id)) in->onHashes(page);
		return;
	}
	// The rest are the receiver's requests to us, the sender.
	OutgoingTransfer::Ptr out = outgoing(from, id);
	if (!out)
	{
		if (message.name != "file-done") replyUnknown(from, id);
		return;
	}
	if (message.name == "file-accept")
		out->onAccept();
	else if (message.name == "file-hashes-get")
		out->onHashesGet(static_cast<std::uint32_t>(body.getValue<Poco::Int64>("first")),
			static_cast<std::uint32_t>(body.getValue<Poco::Int64>("count")));
	else if (message.name == "file-get")
		out->onGet(TransferProtocol::parseGet(body));
	else if (message.name == "file-done")
		out->onDone();
}


void TransferService::onData(Peer& peer, std::uint8_t, const std::string& body)
{
	try
	{
		const DataChunk chunk = TransferProtocol::parseData(body);
		if (auto in = incoming(peer.id(), chunk.header.id))
		{
			in->onData(chunk);
			return;
		}
		_stats.bytesReceived += chunk.size;
		++_stats.chunksDropped;
	}
	catch (const MessageException& exc)
	{
		refuseInput(peer, "file-data", exc.message());
	}
}


void TransferService::onPeerChanged(Peer& peer, ChatNode::PeerChange change)
{
	const PeerId id = peer.id();
	switch (change)
	{
	case ChatNode::PeerChange::CONNECTED:
	case ChatNode::PeerChange::PATH:
	{
		if (!peer.supports(SessionProtocol::FILES_CAP)) return;
		Pump& state = _pumps[id];
		const std::uint64_t serial = peer.current()->serial();
		if (state.resumed == serial) return;   // CONNECTED and PATH for one session: resume once
		state.resumed = serial;
		state.next.cancel();
		forEachWith(id, [](IncomingTransfer& in) { in.connected(); }, [](OutgoingTransfer& out) { out.connected(); });
		break;
	}
	case ChatNode::PeerChange::DISCONNECTED:
		_pumps.erase(id);
		forEachWith(id, [](IncomingTransfer& in) { in.disconnected(); }, [](OutgoingTransfer& out) { out.disconnected(); });
		break;
	case ChatNode::PeerChange::UPDATED:
		if (peer.relation() == Relation::BLOCKED)
		{
			forEachWith(id, [](IncomingTransfer& in) { in.cancel("you blocked the sender"); },
				[](OutgoingTransfer& out) { out.cancel("you blocked the receiver"); });
		}
		break;
	default:
		break;
	}
}


void TransferService::start()
{
	if (_started) return;
	_started = true;
	ChatStore* pStore = store();
	if (!pStore) return;
	std::vector<PeerId> resumedPeers;
	for (const StoredTransfer& stored: pStore->activeTransfers())
	{
		try
		{
			TransferId id = TransferId::parse(stored.id);
			if (stored.direction == TransferDirection::INCOMING)
				_incoming[Key(stored.peer, id)] = IncomingTransfer::restore(host(), stored);
			else
				_outgoing[Key(stored.peer, id)] = OutgoingTransfer::restore(host(), stored);
			++_stats.resumed;
			resumedPeers.push_back(stored.peer);
			logger().information("resuming the %s transfer of %s with %s", std::string(stored.direction == TransferDirection::INCOMING
				? "incoming" : "outgoing"), Text::quoted(stored.name), stored.peer.shortString());
		}
		catch (const Poco::Exception& exc)
		{
			logger().warning("cannot resume the transfer of %s: %s", Text::quoted(stored.name), exc.displayText());
			pStore->setTransferState(stored.peer, stored.direction, stored.id, TransferState::FAILED,
				"cannot resume: " + exc.displayText());
		}
	}
	for (const PeerId& peer: resumedPeers) updateWaiting(peer);
}


void TransferService::stop()
{
	if (!_started && _incoming.empty() && _outgoing.empty()) return;
	_started = false;
	_pumps.clear();
	for (auto& entry: _incoming) entry.second->shutdown();
	for (auto& entry: _outgoing) entry.second->shutdown();
	for (auto& entry: _incoming)
		if (Peer* pPeer = _node.transferPeer(std::get<0>(entry.first))) pPeer->setWaiting(WORK, false);
	for (auto& entry: _outgoing)
		if (Peer* pPeer = _node.transferPeer(std::get<0>(entry.first))) pPeer->setWaiting(WORK, false);
	// What the writer still has is written, then recorded: a clean stop loses no verified block.
	if (_worker && !_worker->drain(DRAIN_AT_STOP))
		logger().warning("file writes still pending after %Ld ms; they will be fetched again", static_cast<Poco::Int64>(DRAIN_AT_STOP.count()));
	else
		for (auto& entry: _incoming) entry.second->checkpointNow();
	_worker.reset();
	_hasher.reset();
	_incoming.clear();
	_outgoing.clear();
	_finished.clear();
}


// The node's API -----------------------------------------------------------------------------


std::string TransferService::sendFile(const PeerId& to, const std::string& path)
{
	const std::string absolute = checkedPath(path);
	pruneFinished();
	auto out = std::make_shared<OutgoingTransfer>(host(), to, absolute, std::string());
	_outgoing[Key(to, out->id())] = out;
	out->prepare();
	return out->id().toString();
}


std::vector<std::string> TransferService::shareFile(const std::vector<PeerId>& members, const std::string& path,
	const std::string& group)
{
	if (members.empty()) throw Poco::InvalidArgumentException("the group has no other member to share the file with");
	const std::string absolute = checkedPath(path);
	pruneFinished();
	std::vector<OutgoingTransfer::Ptr> transfers;
	std::vector<std::string> ids;
	for (const PeerId& member: members)
	{
		auto out = std::make_shared<OutgoingTransfer>(host(), member, absolute, group);
		_outgoing[Key(member, out->id())] = out;
		transfers.push_back(out);
		ids.push_back(out->id().toString());
	}
	OutgoingTransfer::prepare(host(), transfers);
	return ids;
}


TransferInfo TransferService::accept(const std::string& id)
{
	IncomingTransfer::Ptr in = uniqueIncoming(id);
	if (in->state() != TransferState::OFFERED)
		throw Poco::IllegalStateException("the transfer is " + std::string(transferStateName(in->state())) + ", not waiting for an answer");
	const auto active = std::count_if(_incoming.begin(), _incoming.end(), [](const auto& entry) {
		const TransferState state = entry.second->state();
		return state == TransferState::TRANSFERRING || state == TransferState::VERIFYING;
	});
	if (static_cast<std::size_t>(active) >= _config.maxActiveIncoming)
		throw Poco::RuntimeException("already " + std::to_string(active) + " downloads at once; accept it when one has ended");
	const std::string directory = ensureDownloadDirectory();
	std::string problem;
	const std::uint64_t free = freeSpace(problem);
	const std::uint64_t needed = committedBytes() + in->remainingBytes() + _config.minFreeSpace;
	if (problem.empty() && needed > free)
	{
		throw Poco::RuntimeException("not enough space in " + directory + ": the accepted downloads and this one need "
			+ bytesText(needed - _config.minFreeSpace) + " and " + bytesText(_config.minFreeSpace) + " stay free, "
			+ bytesText(free) + " are available");
	}
	in->accept(directory);
	return named(in->info());
}


TransferInfo TransferService::reject(const std::string& id)
{
	IncomingTransfer::Ptr in = uniqueIncoming(id);
	if (in->state() != TransferState::OFFERED)
		throw Poco::IllegalStateException("the transfer is " + std::string(transferStateName(in->state())) + ", not waiting for an answer");
	in->reject(TransferProtocol::REJECTED, "declined");
	return in->info();
}


TransferInfo TransferService::cancel(const std::string& id)
{
	const std::string wanted = lowercase(id);
	std::vector<std::function<TransferInfo()>> matches;
	for (auto& entry: _incoming)
	{
		if (entry.second->id().toString() != wanted || transferStateFinal(entry.second->state())) continue;
		IncomingTransfer::Ptr in = entry.second;
		matches.push_back([in] {
			if (in->state() == TransferState::OFFERED) in->reject(TransferProtocol::REJECTED, "declined");
			else in->cancel("cancelled by the receiver");
			return in->info();
		});
	}
	for (auto& entry: _outgoing)
	{
		if (entry.second->id().toString() != wanted || transferStateFinal(entry.second->state())) continue;
		OutgoingTransfer::Ptr out = entry.second;
		matches.push_back([out] {
			out->cancel("cancelled by the sender");
			return out->info();
		});
	}
	if (matches.empty()) throw Poco::NotFoundException("no unfinished transfer " + id);
	if (matches.size() > 1) throw Poco::InvalidArgumentException("more than one transfer has the ID " + id);
	return matches.front()();
}


std::vector<TransferInfo> TransferService::transfers() const
{
	std::vector<TransferInfo> result;
	for (const auto& entry: _incoming) result.push_back(named(entry.second->info()));
	for (const auto& entry: _outgoing) result.push_back(named(entry.second->info()));
	std::stable_sort(result.begin(), result.end(), [](const TransferInfo& a, const TransferInfo& b) { return a.createdMs < b.createdMs; });
	return result;
}


std::vector<TransferInfo> TransferService::find(const std::string& idPrefix) const
{
	const std::string prefix = lowercase(idPrefix);
	std::vector<TransferInfo> result;
	for (const TransferInfo& info: transfers())
		if (!prefix.empty() && info.id.compare(0, prefix.size(), prefix) == 0) result.push_back(info);
	return result;
}


std::optional<PeerId> TransferService::peerOf(const std::string& id) const
{
	std::optional<PeerId> peer;
	std::size_t count = 0;
	for (const TransferInfo& info: transfers())
	{
		if (info.id != lowercase(id)) continue;
		peer = info.peer;
		++count;
	}
	return count == 1 ? peer : std::nullopt;
}


void TransferService::setAutoAccept(const PeerId& peer, std::uint64_t maxBytes)
{
	if (ChatStore* pStore = store())
	{
		pStore->setAutoAccept(peer, maxBytes);
		return;
	}
	if (maxBytes == 0)
		_autoAccept.erase(peer);
	else
		_autoAccept[peer] = maxBytes;
}


std::uint64_t TransferService::autoAccept(const PeerId& peer) const
{
	if (ChatStore* pStore = _node.transferStore()) return pStore->autoAccept(peer);
	auto it = _autoAccept.find(peer);
	return it == _autoAccept.end() ? 0 : it->second;
}


const TransferStats& TransferService::stats() const
{
	return _stats;
}


std::size_t TransferService::downloadMemory() const
{
	return _budget.used();
}


std::string TransferService::downloadDirectory() const
{
	if (!_config.downloadDirectory.empty()) return Poco::Path(_config.downloadDirectory).absolute().toString();
	if (!_fallbackDirectory.empty()) return _fallbackDirectory;
	return Poco::Path(Poco::Path::current()).append("crosschat-downloads").toString();
}


void TransferService::setDownloadFallback(const std::string& directory)
{
	_fallbackDirectory = directory.empty() ? std::string() : Poco::Path(directory).absolute().toString();
}


// TransferHost -------------------------------------------------------------------------------


TransferHost& TransferService::host()
{
	return *this;
}


Scheduler& TransferService::scheduler()
{
	return _node.transferScheduler();
}


const TransferConfig& TransferService::config() const
{
	return _config;
}


ChatStore* TransferService::store()
{
	return _node.transferStore();
}


FileWorker& TransferService::worker()
{
	if (!_worker) _worker = std::make_unique<FileWorker>("FileWriter", _threaded);
	return *_worker;
}


FileWorker& TransferService::hasher()
{
	if (!_hasher) _hasher = std::make_unique<FileWorker>("FileHasher", _threaded);
	return *_hasher;
}


DownloadBudget& TransferService::budget()
{
	return _budget;
}


bool TransferService::sendMessage(const PeerId& peer, const std::string& name, const Poco::JSON::Object& body)
{
	Peer* pPeer = _node.transferPeer(peer);
	if (!pPeer || !pPeer->supports(SessionProtocol::FILES_CAP)) return false;
	try
	{
		return pPeer->sendMessage(name, body);
	}
	catch (const Poco::Exception& exc)
	{
		logger().error("cannot send %s to %s: %s", name, peer.shortString(), exc.displayText());
		return false;
	}
}


bool TransferService::connected(const PeerId& peer) const
{
	const Peer* pPeer = _node.transferPeer(peer);
	return pPeer && pPeer->supports(SessionProtocol::FILES_CAP);
}


void TransferService::dataReady(const PeerId& peer)
{
	Pump& state = _pumps[peer];
	if (state.next.active()) return;
	std::weak_ptr<bool> alive = _alive;
	state.next = scheduler().runAfter(Scheduler::Duration::zero(), [this, alive, peer] {
		if (!alive.expired()) pump(peer);
	});
}


void TransferService::changed(const TransferInfo& info, bool progressOnly)
{
	if (!progressOnly) updateWaiting(info.peer);
	if (!progressOnly && transferStateFinal(info.state))
	{
		try
		{
			const Key key(info.peer, TransferId::parse(info.id));
			const bool in = info.direction == TransferDirection::INCOMING;
			const std::pair<bool, Key> entry(in, key);
			if (std::find(_finished.begin(), _finished.end(), entry) == _finished.end()) _finished.push_back(entry);
		}
		catch (const Poco::Exception&)
		{
			// not one of ours
		}
	}
	if (_handler) _handler(named(info), progressOnly);
}


TransferInfo TransferService::named(TransferInfo info) const
	/// With the peer's alias or name, if the node knows it.
{
	if (const Peer* pPeer = _node.transferPeer(info.peer)) info.peerName = pPeer->alias().empty() ? pPeer->name() : pPeer->alias();
	return info;
}


TransferStats& TransferService::counters()
{
	return _stats;
}


// Inside -------------------------------------------------------------------------------------


void TransferService::onOffer(Peer& peer, const FileOffer& offer)
{
	++_stats.offersReceived;
	const PeerId& from = peer.id();
	if (auto in = incoming(from, offer.id))
	{
		// Offered again: the sender has not heard our answer (lost with a session, or it restarted).
		switch (in->state())
		{
		case TransferState::OFFERED:
			break;
		case TransferState::TRANSFERRING:
		case TransferState::VERIFYING:
		case TransferState::COMPLETE:
			in->connected();
			break;
		default:
			sendMessage(from, "file-cancel", TransferProtocol::cancelBody(offer.id,
				in->state() == TransferState::REJECTED ? TransferProtocol::REJECTED : TransferProtocol::CANCELLED, "already ended"));
			break;
		}
		return;
	}
	if (ChatStore* pStore = store())
	{
		if (auto stored = pStore->transfer(from, TransferDirection::INCOMING, offer.id.toString()))
		{
			if (stored->state == TransferState::COMPLETE)
				sendMessage(from, "file-done", TransferProtocol::idBody(offer.id));
			else if (transferStateFinal(stored->state))
				sendMessage(from, "file-cancel", TransferProtocol::cancelBody(offer.id, TransferProtocol::CANCELLED, "already ended"));
			return;
		}
	}
	pruneFinished();
	std::string code;
	std::string reason;
	if (refuseOffer(peer, offer, code, reason))
	{
		++_stats.offersRefused;
		sendMessage(from, "file-cancel", TransferProtocol::cancelBody(offer.id, code, reason));
		if (_logThrottle.allow(scheduler().now()))
		{
			logger().information("refused the file %s from %s: %s (%Lu similar suppressed)", Text::quoted(offer.name),
				peer.displayName(), reason, static_cast<Poco::UInt64>(_logThrottle.takeSuppressed()));
		}
		return;
	}
	const bool stranger = isRequest(peer, offer);
	auto in = std::make_shared<IncomingTransfer>(host(), from, offer, stranger);
	_incoming[Key(from, offer.id)] = in;
	changed(in->info(), false);
	const std::uint64_t limit = stranger ? 0 : autoAccept(from);
	if (limit > 0 && offer.size <= limit)
	{
		try
		{
			logger().information("accepting %s from %s without asking (auto-accept up to %s)", Text::quoted(offer.name),
				peer.displayName(), bytesText(limit));
			accept(offer.id.toString());
		}
		catch (const Poco::Exception& exc)
		{
			TransferInfo info = in->info();
			info.error = "not accepted automatically: " + exc.message();
			changed(info, false);
		}
	}
}


bool TransferService::isRequest(const Peer& peer, const FileOffer& offer)
{
	// A group's file from a member of a group we are in is taken like a contact's (refuseOffer()
	// refuses it from anyone else).
	return peer.relation() != Relation::CONTACT && offer.group.empty();
}


bool TransferService::refuseOffer(Peer& peer, const FileOffer& offer, std::string& code, std::string& reason)
{
	if (peer.relation() == Relation::BLOCKED)
	{
		code = TransferProtocol::BLOCKED;
		reason = "the receiver does not take files from you";
		return true;
	}
	if (!offer.group.empty() && !_node.transferGroupMember(offer.group, peer.id()))
	{
		code = TransferProtocol::NOT_MEMBER;
		reason = "the receiver does not share that group with you";
		return true;
	}
	if (_config.maxFileSize > 0 && offer.size > _config.maxFileSize)
	{
		code = TransferProtocol::TOO_LARGE;
		reason = "the receiver takes files up to " + bytesText(_config.maxFileSize);
		return true;
	}
	// Strangers share maxPendingOffers among them; a contact's offers (and a fellow member's
	// group files) are bounded per peer only (the user chose its contacts and groups), so a
	// crowd of throwaway keys cannot keep a friend's out.
	const bool fromStranger = isRequest(peer, offer);
	std::size_t fromPeer = 0;
	std::size_t fromStrangers = 0;
	for (const auto& entry: _incoming)
	{
		if (entry.second->state() != TransferState::OFFERED) continue;
		if (entry.second->peer() == peer.id()) ++fromPeer;
		if (entry.second->request()) ++fromStrangers;
	}
	if (fromPeer >= _config.maxPendingOffersPerPeer || (fromStranger && fromStrangers >= _config.maxPendingOffers))
	{
		code = TransferProtocol::BUSY;
		reason = "too many offers are waiting for an answer; offer it again later";
		return true;
	}
	std::string problem;
	const std::uint64_t free = freeSpace(problem);
	if (problem.empty() && committedBytes() + offer.size + _config.minFreeSpace > free)
	{
		code = TransferProtocol::NO_SPACE;
		reason = "the receiver has not enough free disk space";
		return true;
	}
	return false;
}


std::string TransferService::checkedPath(const std::string& path) const
	/// The absolute form of path, if it names a regular file we may read; else throws
	/// Poco::FileNotFoundException, Poco::FileAccessDeniedException or Poco::FileException.
{
	const std::string absolute = Poco::Path(path).absolute().toString();
	struct stat st;
	if (::stat(absolute.c_str(), &st) != 0)
	{
		if (errno == ENOENT) throw Poco::FileNotFoundException(absolute);
		throw Poco::FileException("cannot use " + absolute + ": " + std::strerror(errno));
	}
	if (!S_ISREG(st.st_mode)) throw Poco::FileException(absolute + " is not a regular file");
	if (::access(absolute.c_str(), R_OK) != 0) throw Poco::FileAccessDeniedException(absolute);
	return absolute;
}


void TransferService::refuseInput(Peer& peer, const std::string& what, const std::string& problem)
{
	++_stats.inputRefused;
	if (_logThrottle.allow(scheduler().now()))
	{
		logger().warning("skipped a malformed %s from %s: %s (%Lu similar suppressed)", what, peer.displayName(),
			Text::terminalSafe(problem, 200), static_cast<Poco::UInt64>(_logThrottle.takeSuppressed()));
	}
}


IncomingTransfer::Ptr TransferService::incoming(const PeerId& peer, const TransferId& id) const
{
	auto it = _incoming.find(Key(peer, id));
	return it == _incoming.end() ? nullptr : it->second;
}


OutgoingTransfer::Ptr TransferService::outgoing(const PeerId& peer, const TransferId& id) const
{
	auto it = _outgoing.find(Key(peer, id));
	return it == _outgoing.end() ? nullptr : it->second;
}


void TransferService::replyUnknown(const PeerId& peer, const TransferId& id)
{
	++_stats.inputRefused;
	sendMessage(peer, "file-cancel", TransferProtocol::cancelBody(id, TransferProtocol::UNKNOWN, "no such transfer"));
}


IncomingTransfer::Ptr TransferService::uniqueIncoming(const std::string& id) const
{
	const std::string wanted = lowercase(id);
	IncomingTransfer::Ptr found;
	for (const auto& entry: _incoming)
	{
		if (entry.second->id().toString() != wanted) continue;
		if (found) throw Poco::InvalidArgumentException("more than one offer has the ID " + id);
		found = entry.second;
	}
	if (!found) throw Poco::NotFoundException("no incoming transfer " + id);
	return found;
}


std::uint64_t TransferService::freeSpace(std::string& problem) const
	/// Bytes an unprivileged user may still write on the disk of the downloads directory (or of
	/// its nearest existing parent, before it is created).
{
	Poco::Path path(downloadDirectory());
	for (int depth = 0; depth < 64; ++depth)
	{
		struct statvfs vfs;
		if (::statvfs(path.toString().c_str(), &vfs) == 0) return static_cast<std::uint64_t>(vfs.f_bavail) * vfs.f_frsize;
		if (errno != ENOENT || path.depth() == 0) break;
		path.makeParent();
	}
	problem = std::strerror(errno);
	return 0;
}


std::string TransferService::ensureDownloadDirectory()
	/// Created (0700) if missing; refused if it is not a directory, another user's, or
	/// writable by others (they could replace what lands there).
{
	const std::string directory = downloadDirectory();
	Poco::File file(directory);
	if (!file.exists())
	{
		file.createDirectories();
		::chmod(directory.c_str(), 0700);
	}
	struct stat st;
	if (::stat(directory.c_str(), &st) != 0) throw Poco::FileException("cannot use " + directory + ": " + std::strerror(errno));
	if (!S_ISDIR(st.st_mode)) throw Poco::FileException(directory + " is not a directory");
	if (st.st_uid != ::geteuid()) throw Poco::FileException(directory + " belongs to another user");
	if ((st.st_mode & 022) != 0 && (st.st_mode & S_ISVTX) == 0)
		throw Poco::FileException(directory + " is writable by others; run chmod go-w " + directory);
	return directory;
}


std::uint64_t TransferService::committedBytes() const
{
	std::uint64_t bytes = 0;
	for (const auto& entry: _incoming)
	{
		const TransferState state = entry.second->state();
		if (state == TransferState::TRANSFERRING || state == TransferState::VERIFYING) bytes += entry.second->remainingBytes();
	}
	return bytes;
}


void TransferService::pump(const PeerId& peer)
	/// Sends file data to peer: chunks round robin over its transfers, only while the session's
	/// unsent bytes are small, at most PUMP_BUDGET per turn.
{
	Pump& state = _pumps[peer];
	state.next.cancel();
	Peer* pPeer = _node.transferPeer(peer);
	if (!pPeer || !pPeer->supports(SessionProtocol::FILES_CAP)) return;
	const Session::Ptr session = pPeer->current();
	if (state.drainSession != session->serial())
	{
		std::weak_ptr<bool> alive = _alive;
		session->setDrainHandler([this, alive, peer] {
			if (!alive.expired()) pump(peer);
		});
		state.drainSession = session->serial();
	}
	std::vector<OutgoingTransfer::Ptr> transfers;
	for (auto it = _outgoing.lower_bound(Key(peer, TransferId())); it != _outgoing.end() && std::get<0>(it->first) == peer; ++it)
		transfers.push_back(it->second);
	if (transfers.empty()) return;
	std::size_t sent = 0;
	std::string body;
	for (;;)
	{
		if (session->closed() || session->unsentBytes() > Session::DRAIN_MARK) return;   // the drain handler resumes
		if (sent >= PUMP_BUDGET)
		{
			dataReady(peer);   // the next turn of the loop, after what waits there
			return;
		}
		OutgoingTransfer* pNext = nullptr;
		for (std::size_t i = 0; i < transfers.size() && !pNext; ++i)
		{
			OutgoingTransfer& candidate = *transfers[(state.turn + i) % transfers.size()];
			if (candidate.hasData()) pNext = &candidate;
		}
		if (!pNext) return;
		++state.turn;
		if (!pNext->nextChunk(body)) continue;
		pPeer->sendData(SessionProtocol::FILE_DATA, body);
		sent += body.size();
	}
}


void TransferService::updateWaiting(const PeerId& peer)
	/// A transfer that needs a session makes the peer worth connecting to, as waiting messages do.
{
	Peer* pPeer = _node.transferPeer(peer);
	if (!pPeer) return;
	bool waiting = false;
	forEachWith(peer, [&waiting](IncomingTransfer& in) {
		waiting = waiting || in.state() == TransferState::TRANSFERRING || in.state() == TransferState::VERIFYING;
	}, [&waiting](OutgoingTransfer& out) {
		waiting = waiting || out.state() == TransferState::OFFERED || out.state() == TransferState::TRANSFERRING;
	});
	pPeer->setWaiting(WORK, waiting);
}


void TransferService::pruneFinished()
{
	while (_finished.size() > MAX_FINISHED)
	{
		const auto entry = _finished.front();
		_finished.pop_front();
		if (entry.first)
			_incoming.erase(entry.second);
		else
			_outgoing.erase(entry.second);
	}
}


void TransferService::forEachWith(const PeerId& peer, const std::function<void(IncomingTransfer&)>& in,
	const std::function<void(OutgoingTransfer&)>& out)
{
	std::vector<IncomingTransfer::Ptr> incoming;
	for (auto it = _incoming.lower_bound(Key(peer, TransferId())); it != _incoming.end() && std::get<0>(it->first) == peer; ++it)
		incoming.push_back(it->second);
	std::vector<OutgoingTransfer::Ptr> outgoing;
	for (auto it = _outgoing.lower_bound(Key(peer, TransferId())); it != _outgoing.end() && std::get<0>(it->first) == peer; ++it)
		outgoing.push_back(it->second);
	for (auto& transfer: incoming) in(*transfer);
	for (auto& transfer: outgoing) out(*transfer);
}


} } // namespace CrossChat::Chat
