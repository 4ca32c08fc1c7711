//
// Mailbox.cpp
//
// Library: Relay
//


#include "Mailbox.h"
#include "RelayStore.h"
#include "Poco/Data/LOB.h"
#include "Poco/Data/Statement.h"
#include "Poco/Tuple.h"
#include <openssl/rand.h>
#include <algorithm>
#include <stdexcept>


using namespace Poco::Data::Keywords;
using Poco::Data::BLOB;


namespace CrossChat {
namespace Relay {


namespace {


constexpr std::size_t ID_BYTES = 16;


std::string textOf(const BLOB& blob)
{
	if (blob.size() == 0) return std::string();
	return std::string(reinterpret_cast<const char*>(blob.rawContent()), blob.size());
}


BLOB blobOf(const std::string& bytes)
{
	return BLOB(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size());
}


} // namespace


Mailbox::Mailbox(RelayStore* pStore, const MailLimits& limits):
	_pStore(pStore),
	_limits(limits)
{
}


Mailbox::~Mailbox() = default;


std::string Mailbox::hexId(const std::string& id)
{
	static const char* const DIGITS = "0123456789abcdef";
	std::string out;
	for (const char c: id)
	{
		out += DIGITS[(static_cast<unsigned char>(c) >> 4) & 0xF];
		out += DIGITS[static_cast<unsigned char>(c) & 0xF];
	}
	return out;
}


std::optional<std::string> Mailbox::parseHexId(const std::string& hex)
{
	if (hex.size() != 2 * ID_BYTES) return std::nullopt;
	std::string out;
	for (std::size_t i = 0; i < hex.size(); i += 2)
	{
		int value = 0;
		for (std::size_t j = i; j < i + 2; ++j)
		{
			const char c = hex[j];
			int digit = -1;
			if (c >= '0' && c <= '9') digit = c - '0';
			else if (c >= 'a' && c <= 'f') digit = c - 'a' + 10;
			if (digit < 0) return std::nullopt;
			value = value * 16 + digit;
		}
		out += static_cast<char>(value);
	}
	return out;
}


std::string Mailbox::senderKey(const SourceKey& source, const PeerId& recipient) const
{
	const auto& bytes = recipient.bytes();
	return source.toString() + '|' + std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}


void Mailbox::addLocked(const MailItem& item, std::string envelope)
{
	Box& box = _boxes[item.recipient];
	box.items.push_back(item);
	box.bytes += item.size;
	_perSourceBytes[item.source] += item.size;
	++_perSourceRecipient[senderKey(item.source, item.recipient)];
	if (!item.token.empty()) _perTokenBytes[item.token] += item.size;
	_expiryOf[item.id] = _expiry.emplace(item.expiresMs, std::make_pair(item.recipient, item.id));
	if (!_pStore) _bytes[item.id] = std::move(envelope);
	++_count;
	_total += item.size;
}


bool Mailbox::removeLocked(const PeerId& recipient, const std::string& id)
{
	const auto boxIt = _boxes.find(recipient);
	if (boxIt == _boxes.end()) return false;
	Box& box = boxIt->second;
	const auto it = std::find_if(box.items.begin(), box.items.end(), [&id](const MailItem& item) { return item.id == id; });
	if (it == box.items.end()) return false;
	const MailItem item = *it;
	box.items.erase(it);
	box.bytes -= item.size;
	if (box.items.empty()) _boxes.erase(boxIt);
	const auto source = _perSourceBytes.find(item.source);
	if (source != _perSourceBytes.end() && (source->second -= std::min<std::uint64_t>(source->second, item.size)) == 0)
		_perSourceBytes.erase(source);
	const auto pair = _perSourceRecipient.find(senderKey(item.source, item.recipient));
	if (pair != _perSourceRecipient.end() && --pair->second == 0) _perSourceRecipient.erase(pair);
	if (!item.token.empty())
	{
		const auto token = _perTokenBytes.find(item.token);
		if (token != _perTokenBytes.end() && (token->second -= std::min<std::uint64_t>(token->second, item.size)) == 0)
			_perTokenBytes.erase(token);
	}
	const auto expiry = _expiryOf.find(id);
	if (expiry != _expiryOf.end())
	{
		_expiry.erase(expiry->second);
		_expiryOf.erase(expiry);
	}
	_bytes.erase(id);
	--_count;
	_total -= std::min<std::uint64_t>(_total, item.size);
	return true;
}


bool Mailbox::fairShareLocked(const Box& box, const SourceKey& source, std::size_t size, std::vector<std::string>& victims) const
{
	std::size_t count = box.items.size();
	std::uint64_t bytes = box.bytes;
	if (count < _limits.perRecipient && bytes + size <= _limits.bytesPerRecipient) return true;
	// The box is full: the sources holding the most in it give way, newest envelope first, as long
	// as each keeps more than the depositor will hold. Planned before anything is removed.
	std::unordered_map<SourceKey, std::vector<const MailItem*>, SourceKeyHash> bySource;   // oldest first
	for (const MailItem& item: box.items) bySource[item.source].push_back(&item);
	const auto own = bySource.find(source);
	const std::size_t mine = (own != bySource.end() ? own->second.size() : 0) + 1;
	while (count >= _limits.perRecipient || bytes + size > _limits.bytesPerRecipient)
	{
		auto largest = bySource.end();
		for (auto it = bySource.begin(); it != bySource.end(); ++it)
		{
			if (it->first == source) continue;
			if (largest == bySource.end() || it->second.size() > largest->second.size()) largest = it;
		}
		if (largest == bySource.end() || largest->second.size() <= mine)
		{
			victims.clear();
			return false;
		}
		const MailItem* pVictim = largest->second.back();
		largest->second.pop_back();
		victims.push_back(pVictim->id);
		--count;
		bytes -= pVictim->size;
	}
	return true;
}


Mailbox::DepositResult Mailbox::deposit(const PeerId& recipient, const std::string& envelope, const SourceKey& source,
	const std::string& token, std::uint64_t tokenQuota, std::int64_t nowMs, const CommitTicket::Ptr& durable, std::string& id)
{
	MailItem item;
	item.recipient = recipient;
	item.depositedMs = nowMs;
	item.expiresMs = nowMs + _limits.ttlMs;
	item.source = source;
	item.token = token;
	item.size = envelope.size();
	item.id.assign(ID_BYTES, '\0');
	if (RAND_bytes(reinterpret_cast<unsigned char*>(&item.id[0]), static_cast<int>(ID_BYTES)) != 1)
		throw std::runtime_error("no random bytes for a mail ID");
	std::function<void(const PeerId&)> onDeposit;
	std::vector<std::string> evicted;
	{
		std::lock_guard<std::mutex> lock(_mutex);
		if (_total + item.size > _limits.maxBytes) return DepositResult::FULL;
		if (_limits.perRecipient == 0 || item.size > _limits.bytesPerRecipient) return DepositResult::RECIPIENT_FULL;
		const auto sourceBytes = _perSourceBytes.find(source);
		if ((sourceBytes != _perSourceBytes.end() ? sourceBytes->second : 0) + item.size > _limits.bytesPerSource)
			return DepositResult::SOURCE_FULL;
		const auto pair = _perSourceRecipient.find(senderKey(source, recipient));
		if ((pair != _perSourceRecipient.end() ? pair->second : 0) >= _limits.perSourcePerRecipient)
			return DepositResult::SOURCE_FULL;
		if (!token.empty() && tokenQuota != 0)
		{
			const auto tokenBytes = _perTokenBytes.find(token);
			if ((tokenBytes != _perTokenBytes.end() ? tokenBytes->second : 0) + item.size > tokenQuota)
				return DepositResult::TOKEN_FULL;
		}
		const auto boxIt = _boxes.find(recipient);
		if (boxIt != _boxes.end())
		{
			if (!fairShareLocked(boxIt->second, source, item.size, evicted)) return DepositResult::RECIPIENT_FULL;
			for (const std::string& victim: evicted) removeLocked(recipient, victim);
			_evicted += evicted.size();
		}
		addLocked(item, _pStore ? std::string() : envelope);
		onDeposit = _onDeposit;
	}
	id = item.id;
	if (_pStore)
	{
		// The recipient hears of it only once it is durable: what it fetches survives a crash.
		const CommitTicket::Ptr ticket = durable;
		_pStore->submit([item, envelope, evicted](Poco::Data::Session& session) {
			BLOB blobId = blobOf(item.id);
			const auto& bytes = item.recipient.bytes();
			BLOB recipientId(bytes.data(), bytes.size());
			Poco::Int64 deposited = item.depositedMs;
			Poco::Int64 expires = item.expiresMs;
			std::string sourceText = item.source.toString();
			std::string tokenText = item.token;
			BLOB body = blobOf(envelope);
			session << "INSERT INTO mail (id, recipient, deposited_ms, expires_ms, source, token, envelope)"
				" VALUES (?, ?, ?, ?, ?, ?, ?)", use(blobId), use(recipientId), use(deposited), use(expires), use(sourceText),
				use(tokenText), use(body), now;
			for (const std::string& victim: evicted)
			{
				BLOB victimId = blobOf(victim);
				session << "DELETE FROM mail WHERE id = ?", use(victimId), now;
			}
		}, [ticket, onDeposit, recipient](bool ok) {
			if (ticket) ticket->complete(ok);
			if (ok && onDeposit) onDeposit(recipient);
		});
	}
	else
	{
		if (durable) durable->complete(true);
		if (onDeposit) onDeposit(recipient);
	}
	return DepositResult::OK;
}


std::vector<MailItem> Mailbox::pending(const PeerId& recipient, std::size_t count, const std::set<std::string>& skip,
	std::int64_t nowMs) const
{
	std::vector<MailItem> items;
	std::lock_guard<std::mutex> lock(_mutex);
	const auto boxIt = _boxes.find(recipient);
	if (boxIt == _boxes.end()) return items;
	for (const MailItem& item: boxIt->second.items)
	{
		if (items.size() >= count) break;
		if (item.expiresMs <= nowMs || skip.count(item.id)) continue;
		items.push_back(item);
	}
	return items;
}


std::optional<std::string> Mailbox::envelope(const MailItem& item) const
{
	if (!_pStore)
	{
		std::lock_guard<std::mutex> lock(_mutex);
		const auto it = _bytes.find(item.id);
		if (it == _bytes.end()) return std::nullopt;
		return it->second;
	}
	std::vector<BLOB> bodies;
	_pStore->read([&item, &bodies](Poco::Data::Session& session) {
		BLOB id = blobOf(item.id);
		session << "SELECT envelope FROM mail WHERE id = ?", use(id), into(bodies), now;
	});
	if (bodies.empty()) return std::nullopt;
	return textOf(bodies.front());
}


bool Mailbox::acknowledge(const PeerId& recipient, const std::string& id)
{
	{
		std::lock_guard<std::mutex> lock(_mutex);
		if (!removeLocked(recipient, id)) return false;
	}
	if (_pStore)
	{
		_pStore->submit([id](Poco::Data::Session& session) {
			BLOB blobId = blobOf(id);
			session << "DELETE FROM mail WHERE id = ?", use(blobId), now;
		});
	}
	return true;
}


std::size_t Mailbox::sweep(std::int64_t nowMs)
{
	std::size_t removed = 0;
	{
		std::lock_guard<std::mutex> lock(_mutex);
		while (!_expiry.empty() && _expiry.begin()->first <= nowMs)
		{
			const auto entry = _expiry.begin()->second;
			if (removeLocked(entry.first, entry.second)) ++removed;
			else _expiry.erase(_expiry.begin());   // cannot happen: the index and the boxes change together
		}
	}
	if (_pStore && removed > 0)
	{
		_pStore->submit([nowMs](Poco::Data::Session& session) {
			Poco::Int64 cutoff = nowMs;
			session << "DELETE FROM mail WHERE expires_ms <= ?", use(cutoff), now;
		});
	}
	return removed;
}


std::size_t Mailbox::load(std::int64_t nowMs)
{
	if (!_pStore) return 0;
	using Row = Poco::Tuple<BLOB, BLOB, Poco::Int64, Poco::Int64, std::string, std::string, Poco::Int64>;
	std::vector<Row> rows;
	Poco::Int64 cutoff = nowMs;
	_pStore->read([&rows, &cutoff](Poco::Data::Session& session) {
		session << "SELECT id, recipient, deposited_ms, expires_ms, source, token, length(envelope) FROM mail"
			" WHERE expires_ms > ? ORDER BY recipient, deposited_ms", use(cutoff), into(rows), now;
	});
	std::lock_guard<std::mutex> lock(_mutex);
	std::size_t loaded = 0;
	for (const Row& row: rows)
	{
		MailItem item;
		item.id = textOf(row.get<0>());
		const std::string recipient = textOf(row.get<1>());
		if (item.id.size() != ID_BYTES || recipient.size() != PeerId::SIZE || _expiryOf.count(item.id)) continue;
		item.recipient = PeerId::fromBytes(recipient);
		item.depositedMs = row.get<2>();
		item.expiresMs = row.get<3>();
		item.source = SourceKey::parse(row.get<4>());
		item.token = row.get<5>();
		item.size = static_cast<std::size_t>(std::max<Poco::Int64>(0, row.get<6>()));
		addLocked(item, std::string());
		++loaded;
	}
	return loaded;
}


void Mailbox::setDepositHandler(std::function<void(const PeerId& recipient)> handler)
{
	std::lock_guard<std::mutex> lock(_mutex);
	_onDeposit = std::move(handler);
}


std::size_t Mailbox::size() const
{
	std::lock_guard<std::mutex> lock(_mutex);
	return _count;
}


std::uint64_t Mailbox::bytes() const
{
	std::lock_guard<std::mutex> lock(_mutex);
	return _total;
}


std::uint64_t Mailbox::evicted() const
{
	std::lock_guard<std::mutex> lock(_mutex);
	return _evicted;
}


std::size_t Mailbox::waiting(const PeerId& recipient) const
{
	std::lock_guard<std::mutex> lock(_mutex);
	const auto it = _boxes.find(recipient);
	return it == _boxes.end() ? 0 : it->second.items.size();
}


} } // namespace CrossChat::Relay
