//
// MailDrop.cpp
//
// Library: Chat
//


#include "MailDrop.h"
#include "CrossChat/Chat/ChatException.h"
#include "CrossChat/Hpke.h"
#include "CrossChat/Relay/RelayProtocol.h"
#include "Poco/Exception.h"
#include "Poco/Logger.h"
#include <algorithm>


namespace CrossChat {
namespace Chat {


namespace {


Poco::Logger& logger()
{
	return Poco::Logger::get("CrossChat.Chat");
}


std::int64_t millis(std::chrono::hours hours)
{
	return std::chrono::duration_cast<std::chrono::milliseconds>(hours).count();
}


} // namespace


MailDrop::MailDrop(Scheduler& scheduler, const Identity& identity, Relay::RelayClient& relay, const std::string& relayKey,
	ChatStore* pStore, Hooks hooks):
	_scheduler(scheduler),
	_identity(identity),
	_relay(relay),
	_relayKey(relayKey),
	_pStore(pStore),
	_hooks(std::move(hooks))
{
	if (_pStore) _pBook = std::make_unique<RelayBook>(*_pStore);
}


MailDrop::~MailDrop() = default;


std::int64_t MailDrop::wallMs()
{
	return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}


void MailDrop::start()
{
	_scheduler.assertInLoopThread();
	std::weak_ptr<bool> alive = _alive;
	_relay.setMailHandler([this, alive](const Relay::RelayMail& mail) {
		if (!alive.expired()) onMail(mail);
	});
	check();
	_checkTimer = _scheduler.runEvery(CHECK_PERIOD, [this] { check(); });   // the timer dies with this object
}


const MailDropStats& MailDrop::stats() const
{
	return _stats;
}


// Pre-keys ---------------------------------------------------------------------------------


std::vector<OwnPrekey> MailDrop::ownPrekeys()
{
	if (_pBook) return _pBook->prekeys();
	return _memoryPrekeys;
}


void MailDrop::check()
	/// Deletes private keys past their time, makes a new pre-key when the newest is older than
	/// ROTATION (or there is none), publishes the valid ones.
{
	const std::int64_t now = wallMs();
	std::size_t deleted = 0;
	if (_pBook)
	{
		deleted = _pBook->deletePrekeys(now);
	}
	else
	{
		const auto end = std::remove_if(_memoryPrekeys.begin(), _memoryPrekeys.end(),
			[now](const OwnPrekey& prekey) { return prekey.deleteMs <= now; });
		deleted = static_cast<std::size_t>(std::distance(end, _memoryPrekeys.end()));
		_memoryPrekeys.erase(end, _memoryPrekeys.end());
	}
	if (deleted > 0)
	{
		_stats.prekeysDeleted += deleted;
		logger().information("deleted %z mailbox pre-key(s) past their time: mail sealed to them can no longer be opened", deleted);
	}
	std::vector<OwnPrekey> prekeys = ownPrekeys();
	const bool fresh = !prekeys.empty() && prekeys.front().createdMs + millis(ROTATION) > now && prekeys.front().expiresMs > now;
	if (!fresh)
	{
		const Hpke::KeyPair pair = Hpke::generateKeyPair();
		OwnPrekey prekey;
		// IDs are creation times, so a newer pre-key has a larger ID (and no two collide).
		prekey.id = static_cast<std::uint64_t>(now);
		if (!prekeys.empty() && prekey.id <= prekeys.front().id) prekey.id = prekeys.front().id + 1;
		prekey.privateKey = pair.privateKey;
		prekey.publicKey = pair.publicKey;
		prekey.createdMs = now;
		prekey.expiresMs = now + millis(LIFETIME);
		prekey.deleteMs = prekey.expiresMs + millis(RETENTION);
		if (_pBook) _pBook->addPrekey(prekey);
		else _memoryPrekeys.insert(_memoryPrekeys.begin(), prekey);
		++_stats.prekeysMade;
		prekeys.insert(prekeys.begin(), prekey);
	}
	publish(prekeys);
}


void MailDrop::publish(const std::vector<OwnPrekey>& prekeys)
{
	const std::int64_t now = wallMs();
	std::vector<Relay::Prekey> published;
	for (const OwnPrekey& prekey: prekeys)
	{
		if (prekey.expiresMs <= now) continue;
		published.push_back(Relay::Prekey::sign(_identity, prekey.id, prekey.publicKey, prekey.expiresMs));
		if (published.size() >= Relay::RelayProtocol::MAX_PREKEYS) break;
	}
	_relay.setPrekeys(published);
}


std::optional<std::string> MailDrop::privateKey(std::uint64_t id)
{
	for (const OwnPrekey& prekey: ownPrekeys())
		if (prekey.id == id) return prekey.privateKey;
	return std::nullopt;
}


// Receiving --------------------------------------------------------------------------------


void MailDrop::onMail(const Relay::RelayMail& mail)
{
	OpenedEnvelope opened;
	try
	{
		opened = Envelope::open(_identity.peerId(), mail.envelope, [this](std::uint64_t id) { return privateKey(id); });
	}
	catch (const EnvelopeException& exc)
	{
		++_stats.refused;
		if (_logThrottle.allow(_scheduler.now()))
			logger().warning("dropped an envelope from the relay's mailbox: %s (%Lu similar suppressed)", exc.message(),
				static_cast<Poco::UInt64>(_logThrottle.takeSuppressed()));
		_relay.acknowledgeMail(mail.id);
		return;
	}
	++_stats.received;
	if (opened.content.kind == MailContent::Kind::RECEIPT)
	{
		if (_hooks.receipt) _hooks.receipt(opened.sender, opened.content.messageId);
		_relay.acknowledgeMail(mail.id);
		return;
	}
	const Verdict verdict = _hooks.text ? _hooks.text(opened) : Verdict::DROPPED;
	if (verdict != Verdict::RETRY) _relay.acknowledgeMail(mail.id);
}


// Depositing -------------------------------------------------------------------------------


std::set<std::string> MailDrop::deposited(const PeerId& peer)
{
	if (_pBook) return _pBook->deposited(peer, _relayKey);
	const auto it = _memoryDeposits.find(peer);
	return it == _memoryDeposits.end() ? std::set<std::string>() : it->second;
}


void MailDrop::markDeposited(const PeerId& peer, const std::string& messageId)
{
	if (_pBook) _pBook->markDeposited(peer, messageId, _relayKey, wallMs());
	else _memoryDeposits[peer].insert(messageId);
}


void MailDrop::forget(const PeerId& peer)
{
	_prekeys.erase(peer);
}


void MailDrop::withPrekey(const PeerId& peer, std::function<void(const Relay::Prekey* prekey)> then)
	/// The peer's newest valid pre-key (fetched from the relay at most every PREKEY_CACHE), or null.
{
	const auto now = _scheduler.now();
	const auto cached = _prekeys.find(peer);
	const std::int64_t wall = wallMs();
	if (cached != _prekeys.end() && now - cached->second.fetched < PREKEY_CACHE)
	{
		const Relay::Prekey* pBest = nullptr;
		if (cached->second.prekeys)
		{
			for (const Relay::Prekey& prekey: cached->second.prekeys->prekeys)
				if (prekey.expiresMs > wall && (!pBest || prekey.expiresMs > pBest->expiresMs)) pBest = &prekey;
		}
		then(pBest);
		return;
	}
	std::weak_ptr<bool> alive = _alive;
	_relay.fetchPrekeys(peer, [this, alive, peer, then](const std::optional<Relay::RelayPrekeys>& prekeys, const std::string& error) {
		if (alive.expired()) return;
		if (!error.empty())
		{
			logger().information("no pre-keys of %s from the relay: %s", peer.shortString(), error);
			then(nullptr);
			return;
		}
		Cached& entry = _prekeys[peer];
		entry.prekeys = prekeys;
		entry.fetched = _scheduler.now();
		if (!prekeys) logger().information("%s has published no mailbox pre-key at the relay: its messages wait for a session", peer.shortString());
		withPrekey(peer, then);
	});
}


void MailDrop::depositFor(const PeerId& peer)
{
	_scheduler.assertInLoopThread();
	if (_depositing.count(peer) || !_hooks.waiting) return;
	if (!_relay.refusal().empty()) return;
	const std::set<std::string> done = deposited(peer);
	std::vector<Outbox::Entry> messages;
	for (Outbox::Entry& entry: _hooks.waiting(peer))
		if (!done.count(entry.id)) messages.push_back(std::move(entry));
	if (messages.empty()) return;
	_depositing.insert(peer);
	std::weak_ptr<bool> alive = _alive;
	withPrekey(peer, [this, alive, peer, messages](const Relay::Prekey* pPrekey) {
		if (alive.expired()) return;
		if (!pPrekey)
		{
			_depositing.erase(peer);
			return;
		}
		depositNext(peer, messages, *pPrekey);
	});
}


void MailDrop::depositNext(const PeerId& peer, std::vector<Outbox::Entry> messages, const Relay::Prekey& prekey)
	/// One envelope at a time, in order; the first failure ends the run (the next unreachable
	/// round tries again).
{
	if (messages.empty())
	{
		_depositing.erase(peer);
		return;
	}
	const Outbox::Entry entry = messages.front();
	messages.erase(messages.begin());
	std::string envelope;
	try
	{
		MailContent content;
		content.kind = MailContent::Kind::TEXT;
		content.messageId = entry.id;
		content.timestampMs = entry.timestampMs;
		content.text = entry.text;
		envelope = Envelope::seal(_identity, peer, prekey, content);
	}
	catch (const Poco::Exception& exc)
	{
		logger().error("cannot seal message %s for %s: %s", entry.id, peer.shortString(), exc.displayText());
		_depositing.erase(peer);
		return;
	}
	std::weak_ptr<bool> alive = _alive;
	_relay.deposit(peer, envelope, [this, alive, peer, messages, prekey, id = entry.id](bool kept, const std::string& error) {
		if (alive.expired()) return;
		if (!kept)
		{
			++_stats.depositFailures;
			logger().warning("could not leave message %s in %s's mailbox: %s", id, peer.shortString(), error);
			_prekeys.erase(peer);   // fetch them again next time: the peer may have rotated
			_depositing.erase(peer);
			return;
		}
		++_stats.deposited;
		markDeposited(peer, id);
		if (_hooks.deposited) _hooks.deposited(peer, id);
		depositNext(peer, messages, prekey);
	});
}


void MailDrop::receiptFor(const PeerId& sender, const std::string& messageId)
{
	_scheduler.assertInLoopThread();
	if (!_relay.refusal().empty()) return;
	std::weak_ptr<bool> alive = _alive;
	withPrekey(sender, [this, alive, sender, messageId](const Relay::Prekey* pPrekey) {
		if (alive.expired() || !pPrekey) return;
		std::string envelope;
		try
		{
			MailContent content;
			content.kind = MailContent::Kind::RECEIPT;
			content.messageId = messageId;
			content.timestampMs = wallMs();
			envelope = Envelope::seal(_identity, sender, *pPrekey, content);
		}
		catch (const Poco::Exception& exc)
		{
			logger().error("cannot seal a receipt for %s: %s", sender.shortString(), exc.displayText());
			return;
		}
		_relay.deposit(sender, envelope, [this, alive, sender, messageId](bool kept, const std::string& error) {
			if (alive.expired()) return;
			if (kept)
			{
				++_stats.deposited;
			}
			else
			{
				++_stats.depositFailures;
				logger().information("could not leave the receipt of %s in %s's mailbox: %s (a session will carry it)", messageId,
					sender.shortString(), error);
			}
		});
	});
}


} } // namespace CrossChat::Chat
