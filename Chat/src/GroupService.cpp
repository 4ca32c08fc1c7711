//
// GroupService.cpp
//
// Library: Chat
//


#include "GroupService.h"
#include "Peer.h"
#include "CrossChat/Chat/SessionProtocol.h"
#include "CrossChat/FoundationException.h"
#include "CrossChat/Text.h"
#include "Poco/Exception.h"
#include "Poco/JSON/Parser.h"
#include "Poco/Logger.h"
#include "Poco/String.h"
#include "Poco/UUIDGenerator.h"
#include <algorithm>


namespace CrossChat {
namespace Chat {


namespace {


Poco::Logger& logger()
{
	return Poco::Logger::get("CrossChat.Chat.Groups");
}


std::int64_t wallClockMs()
{
	return std::chrono::duration_cast<std::chrono::milliseconds>(
		std::chrono::system_clock::now().time_since_epoch()).count();
}


constexpr std::uint64_t LOG_STEP_BACK = 32;   ///< How much further back each repeated log request starts.


} // namespace


const char* groupStateName(GroupService::State state)
{
	switch (state)
	{
	case GroupService::State::INVITED: return "invited";
	case GroupService::State::JOINING: return "joining";
	case GroupService::State::MEMBER: return "member";
	case GroupService::State::LEFT: return "left";
	case GroupService::State::REMOVED: return "removed";
	}
	return "unknown";
}


GroupService::GroupService(GroupHost& host):
	_host(host)
{
}


GroupService::~GroupService()
{
	_holdTimer.cancel();
	_syncTimer.cancel();
}


// PeerService -----------------------------------------------------------------------------


std::vector<std::string> GroupService::messages() const
{
	return {"group_invite", "group_accept", "group_log", "group_log_request", "group_msg", "group_sync", "group_want"};
}


std::vector<std::string> GroupService::caps() const
{
	return {CAPABILITY};
}


void GroupService::onMessage(Peer& peer, const Message& message)
{
	receive(peer.id(), message);
}


void GroupService::onPeerChanged(Peer& peer, ChatNode::PeerChange change)
{
	// A new session, or the session in use replaced by one on another path: what was written
	// on the old one may be lost with it.
	if (change == ChatNode::PeerChange::CONNECTED || change == ChatNode::PeerChange::PATH) connected(peer.id());
	if (change == ChatNode::PeerChange::DISCONNECTED)
	{
		// What we asked of it will not come: ask someone else at the next chance.
		for (auto& entry: _groups)
		{
			auto& asked = entry.second->asked;
			for (auto it = asked.begin(); it != asked.end();)
				it = it->second.peer == peer.id() ? asked.erase(it) : std::next(it);
		}
	}
}


void GroupService::start()
{
	_host.groupScheduler().assertInLoopThread();
	if (_started) return;
	_started = true;
	restore();
	updatePeers();
	_syncTimer = _host.groupScheduler().runEvery(SYNC_INTERVAL, [this] { antiEntropy(); });
}


void GroupService::antiEntropy()
{
	const PeerId& self = _host.groupIdentity().peerId();
	for (auto& entry: _groups)
	{
		Group& group = *entry.second;
		if (group.state != State::MEMBER) continue;
		std::vector<PeerId> connected;
		for (const auto& member: group.log.state().members)
			if (member.first != self && _host.groupConnected(member.first)) connected.push_back(member.first);
		for (std::size_t i = 0; i < std::min(SYNC_PEERS, connected.size()); ++i)
			sendSync(group, connected[(group.syncTurn + i) % connected.size()], false);
		group.syncTurn += SYNC_PEERS;
	}
}


void GroupService::stop()
{
	_holdTimer.cancel();
	_syncTimer.cancel();
	_started = false;
	_groups.clear();
	_allowances.clear();
	_keys.clear();
}


void GroupService::restore()
{
	GroupStore* pStore = _host.groupStore();
	if (!pStore) return;
	for (const GroupStore::GroupRow& row: pStore->groups())
	{
		auto group = std::make_unique<Group>(row.group);
		group->state = static_cast<State>(row.state);
		group->inviter = row.inviter;
		group->invitedName = row.name;
		group->invitedShare = row.shareHistory;
		std::vector<GroupEntry> entries;
		try
		{
			for (const std::string& json: row.entries)
			{
				Poco::JSON::Parser parser;
				Poco::JSON::Object::Ptr object = parser.parse(json).extract<Poco::JSON::Object::Ptr>();
				GroupEntry entry = GroupEntry::fromJson(*object);
				entry.group = row.group;
				entries.push_back(std::move(entry));
			}
		}
		catch (const Poco::Exception& exc)
		{
			logger().error("group %s: stored log unreadable (%s); its members will send it again", GroupIds::shortText(row.group), exc.displayText());
			entries.clear();
		}
		// Checked again, like any log: a damaged entry ends the chain there.
		for (std::size_t i = 0; i < entries.size(); i += GroupWire::MAX_LOG_PAGE)
		{
			std::vector<GroupEntry> page(entries.begin() + static_cast<std::ptrdiff_t>(i),
				entries.begin() + static_cast<std::ptrdiff_t>(std::min(entries.size(), i + GroupWire::MAX_LOG_PAGE)));
			if (group->log.offer(page) != GroupLog::Offer::ADOPTED) break;
		}
		for (const GroupStore::AuthorRow& author: pStore->authors(row.group))
		{
			Author& state = group->authors[author.author];
			state.last = author.last;
			state.lastVersion = author.lastVersion;
		}
		_groups[row.group] = std::move(group);
	}
	if (!_groups.empty()) logger().information("%z group(s) restored", _groups.size());
}


// Receiving -------------------------------------------------------------------------------


void GroupService::receive(const PeerId& from, const Message& message)
{
	_host.groupScheduler().assertInLoopThread();
	if (!_started) return;
	try
	{
		if (message.name == "group_invite") onInvite(from, message);
		else if (message.name == "group_accept") onAccept(from, message);
		else if (message.name == "group_log") onLog(from, message);
		else if (message.name == "group_log_request") onLogRequest(from, message);
		else if (message.name == "group_msg") onPost(from, message);
		else if (message.name == "group_sync") onSync(from, message);
		else if (message.name == "group_want") onWant(from, message);
	}
	catch (const MessageException& exc)
	{
		refuse(from, message.name + ": " + exc.message());
	}
}


void GroupService::refuse(const PeerId& from, const std::string& what)
{
	++_stats.refused;
	if (_logThrottle.allow(_host.groupScheduler().now()))
	{
		logger().warning("group input from %s refused: %s (%Lu similar suppressed)", from.shortString(),
			Text::terminalSafe(what, 200), static_cast<Poco::UInt64>(_logThrottle.takeSuppressed()));
	}
}


bool GroupService::allowed(const PeerId& from, const Group* pGroup)
	/// Members of the group go through; anyone else within a small rate (their input is
	/// checked, and mostly dropped).
{
	if (pGroup && (pGroup->log.state().isMember(from) || pGroup->inviter == from)) return true;
	const auto now = _host.groupScheduler().now();
	auto it = _allowances.find(from);
	if (it == _allowances.end())
	{
		if (_allowances.size() >= 1024) _allowances.erase(_allowances.begin());   // bounded
		it = _allowances.emplace(from, Allowance{NON_MEMBER_BURST, now}).first;
	}
	Allowance& allowance = it->second;
	const double refill = std::chrono::duration<double>(now - allowance.refill) / NON_MEMBER_PERIOD;
	allowance.refill = now;
	allowance.tokens = std::min<double>(NON_MEMBER_BURST, allowance.tokens + refill);
	if (allowance.tokens < 1)
	{
		refuse(from, "group input from a non-member beyond its allowance");
		return false;
	}
	allowance.tokens -= 1;
	return true;
}


GroupService::Group* GroupService::lookup(const std::string& group)
{
	auto it = _groups.find(group);
	return it == _groups.end() ? nullptr : it->second.get();
}


void GroupService::onInvite(const PeerId& from, const Message& message)
{
	const GroupWire::Invite invite = GroupWire::parseInvite(*message.body);
	Group* pGroup = lookup(invite.group);
	if (!allowed(from, pGroup)) return;
	if (_host.groupRelation(from) == Relation::BLOCKED) return;
	if (pGroup)
	{
		// Known: a repeated invitation, or one to a group we are in (our inviter may resend).
		if (pGroup->state == State::JOINING && pGroup->inviter == from) sendAccept(*pGroup);
		if (pGroup->state != State::LEFT && pGroup->state != State::REMOVED) return;
	}
	// Strangers share MAX_INVITATIONS among them; a contact's are bounded per peer only (the
	// user chose its contacts), so a crowd of throwaway keys cannot keep a friend's out.
	const bool fromStranger = _host.groupRelation(from) == Relation::STRANGER;
	std::size_t fromPeer = 0;
	std::size_t fromStrangers = 0;
	for (const auto& entry: _groups)
	{
		if (entry.second->state != State::INVITED) continue;
		if (entry.second->inviter == from) ++fromPeer;
		if (fromStranger && _host.groupRelation(entry.second->inviter) == Relation::STRANGER) ++fromStrangers;
	}
	if (fromPeer >= MAX_INVITATIONS_PER_PEER || fromStrangers >= MAX_INVITATIONS || (!pGroup && _groups.size() >= MAX_GROUPS))
	{
		refuse(from, "too many unanswered invitations");
		return;
	}
	if (!Text::isValidUtf8(invite.name) || Text::terminalSafe(invite.name) != invite.name)
	{
		refuse(from, "group_invite: the name is not plain text");
		return;
	}
	if (!pGroup)
	{
		_groups[invite.group] = std::make_unique<Group>(invite.group);
		pGroup = _groups[invite.group].get();
	}
	// Invited again after leaving: the old log and what was delivered stay (our own sequence
	// numbers go on from where they were, so members do not take new messages for old ones).
	pGroup->state = State::INVITED;
	pGroup->inviter = from;
	pGroup->invitedName = invite.name;
	pGroup->invitedShare = invite.shareHistory;
	save(*pGroup);
	logger().information("%s invites us to group %s", _host.groupPeerName(from), GroupIds::shortText(invite.group));
	emit(*pGroup, "invited", from, from);
}


void GroupService::onAccept(const PeerId& from, const Message& message)
{
	const GroupWire::Accept accept = GroupWire::parseAccept(*message.body);
	Group* pGroup = lookup(accept.group);
	if (!pGroup || pGroup->invited.count(from) == 0)
	{
		refuse(from, "group_accept without our invitation");
		return;
	}
	pGroup->invited.erase(from);
	if (pGroup->state != State::MEMBER || !pGroup->log.state().isAdmin(_host.groupIdentity().peerId())) return;
	if (pGroup->log.state().isMember(from))
	{
		sendLog(*pGroup, from, 1);
		return;
	}
	GroupEntry entry;
	entry.op = GroupOp::ADD;
	entry.target = from;
	entry.targetKey = accept.key;
	entry.join = accept.join;
	entry.timestampMs = wallClockMs();
	const GroupState before = pGroup->log.state();
	if (!pGroup->log.append(_host.groupIdentity(), entry))
	{
		refuse(from, "group_accept: " + pGroup->log.error());
		return;
	}
	logChanged(*pGroup, before, pGroup->log.state().version, PeerId());
}


void GroupService::onLog(const PeerId& from, const Message& message)
{
	Group* pGroup = lookup(GroupWire::group(*message.body));
	if (!pGroup || pGroup->state == State::INVITED) return;   // nothing asked for
	if (!allowed(from, pGroup)) return;
	const std::vector<GroupEntry> entries = GroupWire::parseLog(*message.body);
	if (entries.empty()) return;
	const GroupState before = pGroup->log.state();
	const std::vector<GroupEntry> previous = pGroup->log.entries();
	std::uint64_t firstChanged = 0;
	switch (pGroup->log.offer(entries, &firstChanged))
	{
	case GroupLog::Offer::ADOPTED:
		++_stats.logAdopted;
		pGroup->logRequests.erase(from);
		logChanged(*pGroup, before, firstChanged, from);
		reissue(*pGroup, previous, firstChanged);
		break;
	case GroupLog::Offer::NEED_EARLIER:
	{
		const std::uint64_t first = entries.front().version;
		const std::uint64_t start = std::min<std::uint64_t>(first, pGroup->log.state().version + 1);
		const std::uint64_t from1 = start > LOG_STEP_BACK ? start - LOG_STEP_BACK : 1;
		auto asked = pGroup->logRequests.find(from);
		if (asked != pGroup->logRequests.end() && asked->second <= from1 && from1 > 1) break;   // asked already
		if (asked != pGroup->logRequests.end() && asked->second == 1) break;                     // nothing further back
		requestLog(*pGroup, from, from1);
		break;
	}
	case GroupLog::Offer::INVALID:
		refuse(from, "group_log: " + pGroup->log.error());
		break;
	case GroupLog::Offer::UNCHANGED:
		if (!pGroup->log.error().empty()) refuse(from, "group_log: " + pGroup->log.error());
		break;
	}
}


void GroupService::onLogRequest(const PeerId& from, const Message& message)
{
	const std::uint64_t first = GroupWire::parseLogRequest(*message.body);
	Group* pGroup = lookup(GroupWire::group(*message.body));
	if (!pGroup || pGroup->state != State::MEMBER) return;
	const GroupState& state = pGroup->log.state();
	// Members, and former members (so that they learn why they are out).
	if (!state.isMember(from) && state.departed.count(from) == 0)
	{
		refuse(from, "group_log_request from a non-member");
		return;
	}
	sendLog(*pGroup, from, first);
}


void GroupService::onPost(const PeerId& from, const Message& message)
{
	const GroupPost post = GroupPost::fromJson(*message.body);
	Group* pGroup = lookup(post.group);
	if (!pGroup || pGroup->state != State::MEMBER)
	{
		if (allowed(from, nullptr)) ++_stats.refused;
		return;
	}
	const GroupState& state = pGroup->log.state();
	if (!state.isMember(from))
	{
		if (!allowed(from, nullptr)) return;
		// Perhaps a member our log does not know yet: compare logs (theirs is self-proving).
		if (post.version > state.version) sendSync(*pGroup, from, false);
		else refuse(from, "group_msg from a non-member");
		return;
	}
	Author& author = pGroup->authors[post.author];
	if (post.seq <= author.last || author.held.count(post.seq))
	{
		++_stats.duplicates;
		return;
	}
	auto member = state.members.find(post.author);
	if (member == state.members.end())
	{
		auto departed = state.departed.find(post.author);
		if (departed == state.departed.end() || post.seq > departed->second)
		{
			if (author.last == 0 && author.held.empty()) pGroup->authors.erase(post.author);
			if (post.version > state.version)
			{
				// Written by someone our log does not know yet: fetch the newer log.
				sendSync(*pGroup, from, false);
				return;
			}
			refuse(from, "group_msg by " + post.author.shortString() + ", not a member");
			return;
		}
	}
	else if (member->second.key != post.authorKey)
	{
		refuse(from, "group_msg with another key than its author's");
		return;
	}
	if (!authorAllowance(author))
	{
		refuse(from, "group_msg by " + post.author.shortString() + " beyond its rate; fetched later");
		return;
	}
	if (!verified(post))
	{
		refuse(from, "group_msg with a bad signature");
		return;
	}
	if (deliverable(*pGroup, author, post))
	{
		deliver(*pGroup, post, from);
		drain(*pGroup, post.author, from);
		return;
	}
	// A predecessor is missing: hold this one back and ask the sender for the gap.
	if (author.held.size() >= MAX_HELD_PER_AUTHOR || heldCount() >= MAX_HELD)
	{
		++_stats.heldDropped;
	}
	else
	{
		author.held.emplace(post.seq, Held{post, _host.groupScheduler().now()});
		++_stats.held;
		armHoldTimer();
	}
	const std::uint64_t gapEnd = author.held.empty() ? post.seq - 1 : author.held.begin()->first - 1;
	if (gapEnd > author.last)
	{
		const GroupWire::Want want{post.author, author.last + 1, std::min(gapEnd, author.last + MAX_ANSWER_MESSAGES)};
		if (ask(*pGroup, from, want) && _host.sendTo(from, "group_want", GroupWire::want(post.group, {want}))) ++_stats.gapRequests;
	}
}


void GroupService::onSync(const PeerId& from, const Message& message)
{
	const GroupWire::Sync sync = GroupWire::parseSync(*message.body);
	Group* pGroup = lookup(sync.group);
	if (!pGroup) return;
	if (pGroup->state == State::JOINING && pGroup->inviter == from && sync.version > 0)
	{
		// Our inviter has a log: it may already hold our ADD.
		requestLog(*pGroup, from, 1);
		return;
	}
	if (pGroup->state != State::MEMBER) return;
	const GroupState& state = pGroup->log.state();
	if (!state.isMember(from))
	{
		if (!allowed(from, nullptr)) return;
		if (state.departed.count(from) && !sync.reply)
			sendLog(*pGroup, from, std::max<std::uint64_t>(1, std::min(sync.version, state.version)));
		else if (sync.version > state.version)
			requestLog(*pGroup, from, std::max<std::uint64_t>(1, state.version));   // perhaps a member we do not know yet
		else
			refuse(from, "group_sync from a non-member");
		return;
	}
	// Different logs: each side asks for the other's from where they may fork (the version and
	// head do not say which chain wins: GroupLog::offer() decides).
	bool weAreAhead = false;
	if (sync.head != state.head)
	{
		requestLog(*pGroup, from, std::max<std::uint64_t>(1, std::min(sync.version, state.version)));
		weAreAhead = true;
	}
	// Messages: what they have that we lack (bounded ranges), and whether we have more.
	std::map<PeerId, std::uint64_t> theirs(sync.seen.begin(), sync.seen.end());
	std::vector<GroupWire::Want> wants;
	for (const auto& entry: theirs)
	{
		const PeerId& author = entry.first;
		const bool known = state.isMember(author) || state.departed.count(author);
		if (!known) continue;
		auto it = pGroup->authors.find(author);
		const std::uint64_t ours = it == pGroup->authors.end() ? 0 : it->second.last;
		std::uint64_t last = entry.second;
		auto departed = state.departed.find(author);
		if (departed != state.departed.end()) last = std::min(last, departed->second);
		if (last > ours && wants.size() < GroupWire::MAX_WANTS)
		{
			const GroupWire::Want want{author, ours + 1, std::min(last, ours + MAX_ANSWER_MESSAGES)};
			if (ask(*pGroup, from, want)) wants.push_back(want);
		}
	}
	for (const auto& entry: pGroup->authors)
	{
		auto it = theirs.find(entry.first);
		if (entry.second.last > (it == theirs.end() ? 0 : it->second)) weAreAhead = true;
	}
	if (!wants.empty() && _host.sendTo(from, "group_want", GroupWire::want(sync.group, wants))) ++_stats.gapRequests;
	if (weAreAhead && !sync.reply) sendSync(*pGroup, from, true);
}


void GroupService::onWant(const PeerId& from, const Message& message)
{
	const std::vector<GroupWire::Want> wants = GroupWire::parseWant(*message.body);
	Group* pGroup = lookup(GroupWire::group(*message.body));
	if (!pGroup || pGroup->state != State::MEMBER) return;
	if (!pGroup->log.state().isMember(from))
	{
		refuse(from, "group_want from a non-member");
		return;
	}
	std::size_t count = 0;
	std::size_t bytes = 0;
	for (const GroupWire::Want& want: wants)
	{
		if (count >= MAX_ANSWER_MESSAGES || bytes >= MAX_ANSWER_BYTES) break;
		for (const GroupPost& post: postsFor(*pGroup, want.author, want.from, want.to, MAX_ANSWER_MESSAGES - count))
		{
			if (!visibleTo(*pGroup, post, from)) continue;
			if (bytes + post.wireSize() > MAX_ANSWER_BYTES) break;
			if (!_host.sendTo(from, "group_msg", post.toJson())) return;
			++count;
			bytes += post.wireSize();
			++_stats.gapAnswers;
		}
	}
	// A round ends with where we stand, so that the other side asks for the next one.
	if (count > 0) sendSync(*pGroup, from, false);
}


// Sending ---------------------------------------------------------------------------------


void GroupService::connected(const PeerId& peer)
{
	_host.groupScheduler().assertInLoopThread();
	if (!_started) return;
	for (auto& entry: _groups)
	{
		Group& group = *entry.second;
		if (group.state == State::JOINING && group.inviter == peer) sendAccept(group);
		if (group.state != State::MEMBER) continue;
		if (group.invited.count(peer)) sendInvite(group, peer);
		if (group.log.state().isMember(peer)) sendSync(group, peer, false);
	}
}


void GroupService::sendSync(Group& group, const PeerId& peer, bool reply)
{
	GroupWire::Sync sync;
	sync.group = group.log.group();
	sync.version = group.log.state().version;
	sync.head = group.log.state().head;
	sync.reply = reply;
	for (const auto& entry: group.authors)
	{
		if (entry.second.last == 0) continue;
		if (sync.seen.size() >= GroupWire::MAX_SEEN) break;
		sync.seen.emplace_back(entry.first, entry.second.last);
	}
	_host.sendTo(peer, "group_sync", GroupWire::sync(sync));
}


void GroupService::sendLog(const Group& group, const PeerId& peer, std::uint64_t from)
{
	const std::vector<GroupEntry>& entries = group.log.entries();
	for (std::size_t i = from == 0 ? 0 : from - 1; i < entries.size(); i += GroupWire::MAX_LOG_PAGE)
	{
		std::vector<GroupEntry> page(entries.begin() + static_cast<std::ptrdiff_t>(i),
			entries.begin() + static_cast<std::ptrdiff_t>(std::min(entries.size(), i + GroupWire::MAX_LOG_PAGE)));
		if (!_host.sendTo(peer, "group_log", GroupWire::log(group.log.group(), page))) return;
	}
}


void GroupService::requestLog(Group& group, const PeerId& peer, std::uint64_t from)
{
	if (group.logRequests.size() >= GroupLog::MAX_MEMBERS && !group.logRequests.count(peer)) group.logRequests.clear();
	group.logRequests[peer] = from;
	_host.sendTo(peer, "group_log_request", GroupWire::logRequest(group.log.group(), from));
}


void GroupService::sendAccept(const Group& group)
{
	const Identity& identity = _host.groupIdentity();
	GroupWire::Accept accept;
	accept.group = group.log.group();
	accept.key = identity.publicKey().raw();
	accept.join = identity.sign(GroupEntry::joinBytes(accept.group, identity.peerId()));
	_host.sendTo(group.inviter, "group_accept", GroupWire::accept(accept));
}


void GroupService::sendInvite(const Group& group, const PeerId& peer)
{
	GroupWire::Invite invite;
	invite.group = group.log.group();
	invite.name = group.log.state().name;
	invite.members = group.log.state().members.size();
	invite.shareHistory = group.log.state().shareHistory;
	_host.sendTo(peer, "group_invite", GroupWire::invite(invite));
}


void GroupService::appendEntry(Group& group, GroupEntry entry)
{
	if (group.state != State::MEMBER) throw Poco::IllegalStateException("not a member of the group");
	entry.timestampMs = wallClockMs();
	const GroupState before = group.log.state();
	if (!group.log.append(_host.groupIdentity(), entry)) throw Poco::InvalidArgumentException(group.log.error());
	logChanged(group, before, group.log.state().version, PeerId());
}


void GroupService::reissue(Group& group, const std::vector<GroupEntry>& previous, std::uint64_t firstChanged)
	/// Entries of ours that lost a tie to the adopted chain are signed again on top of it,
	/// if they still apply (a removal, a rename, ...): losing a race does not undo a decision.
{
	const PeerId& self = _host.groupIdentity().peerId();
	for (std::size_t i = firstChanged == 0 ? 0 : firstChanged - 1; i < previous.size(); ++i)
	{
		const GroupEntry& lost = previous[i];
		if (lost.author != self || lost.op == GroupOp::CREATE) continue;
		const auto& entries = group.log.entries();
		const bool kept = std::any_of(entries.begin(), entries.end(), [&lost](const GroupEntry& entry) {
			return entry.signature == lost.signature;
		});
		if (kept || group.state != State::MEMBER) continue;
		GroupEntry again;
		again.op = lost.op;
		again.target = lost.target;
		again.targetKey = lost.targetKey;
		again.join = lost.join;
		again.name = lost.name;
		again.seq = lost.op == GroupOp::REMOVE || lost.op == GroupOp::LEAVE
			? std::max(lost.seq, group.authors.count(lost.target) ? group.authors[lost.target].last : 0) : lost.seq;
		again.timestampMs = wallClockMs();
		const GroupState before = group.log.state();
		if (group.log.append(_host.groupIdentity(), again))
		{
			logger().information("group %s: our %s lost a tie; signed again as version %Lu", GroupIds::shortText(group.log.group()),
				std::string(groupOpName(again.op)), static_cast<Poco::UInt64>(group.log.state().version));
			logChanged(group, before, group.log.state().version, PeerId());
		}
	}
}


void GroupService::logChanged(Group& group, const GroupState& before, std::uint64_t firstChanged, const PeerId& from)
	/// Our chain changed from firstChanged on: store it, tell the user, hand it on, and
	/// look again at what is missing.
{
	const PeerId& self = _host.groupIdentity().peerId();
	const GroupState& state = group.log.state();
	const std::vector<GroupEntry>& entries = group.log.entries();
	const std::size_t firstIndex = firstChanged == 0 ? 0 : firstChanged - 1;
	const bool joining = group.state == State::JOINING;
	const bool joined = joining && state.isMember(self);
	const bool departed = group.state == State::MEMBER && before.isMember(self) && !state.isMember(self);
	if (joined) group.state = State::MEMBER;
	if (departed)
	{
		const GroupEntry& last = entries.back();
		group.state = last.op == GroupOp::LEAVE && last.author == self ? State::LEFT : State::REMOVED;
	}
	if (GroupStore* pStore = _host.groupStore())
	{
		pStore->transaction([&] {
			save(group);
			pStore->saveLog(group.log.group(), entries, firstChanged == 0 ? 1 : firstChanged);
		});
	}
	if (joined) emit(group, "joined", self, group.inviter);
	// The user hears about each change the new chain made (a member that just joined: only
	// that it joined, not the group's past).
	for (std::size_t i = joining ? entries.size() : firstIndex; i < entries.size(); ++i)
	{
		const GroupEntry& entry = entries[i];
		switch (entry.op)
		{
		case GroupOp::CREATE: break;
		case GroupOp::ADD: emit(group, "added", entry.target, entry.author); break;
		case GroupOp::REMOVE: emit(group, "removed", entry.target, entry.author); break;
		case GroupOp::LEAVE: emit(group, "left", entry.target, entry.author); break;
		case GroupOp::PROMOTE: emit(group, "promoted", entry.target, entry.author); break;
		case GroupOp::RENAME: emit(group, "renamed", PeerId(), entry.author); break;
		}
	}
	// Hand the change on: to every connected member, and to those it removed.
	std::set<PeerId> targets;
	for (const auto& member: state.members) targets.insert(member.first);
	for (std::size_t i = firstIndex; i < entries.size(); ++i) targets.insert(entries[i].target);
	targets.erase(self);
	targets.erase(from);
	targets.erase(PeerId());
	for (const PeerId& peer: targets)
	{
		if (!_host.groupConnected(peer)) continue;
		// A new member needs the whole chain; the others the changed part.
		sendLog(group, peer, before.isMember(peer) ? firstIndex + 1 : 1);
	}
	updatePeers();
	if (group.state == State::MEMBER)
	{
		// New members and changed visibility: compare notes with everyone connected.
		for (const auto& member: state.members)
			if (member.first != self && _host.groupConnected(member.first)) sendSync(group, member.first, false);
	}
}


bool GroupService::deliverable(const Group& group, const Author& author, const GroupPost& post) const
{
	if (post.seq == author.last + 1) return true;
	if (post.seq <= author.last) return false;
	// Its predecessor was written before we joined (and the group shares no history): we
	// will never see it, so this one starts the author's messages for us.
	const PeerId& self = _host.groupIdentity().peerId();
	const GroupState& state = group.log.state();
	auto us = state.members.find(self);
	if (state.shareHistory || us == state.members.end()) return false;
	return post.prevVersion < us->second.addedVersion && post.version >= us->second.addedVersion;
}


bool GroupService::visibleTo(const Group& group, const GroupPost& post, const PeerId& member) const
	/// A member sees messages written from its joining on, unless the group shares history.
{
	const GroupState& state = group.log.state();
	if (state.shareHistory) return true;
	auto it = state.members.find(member);
	return it != state.members.end() && post.version >= it->second.addedVersion;
}


void GroupService::deliver(Group& group, const GroupPost& post, const PeerId& from)
{
	Author& author = group.authors[post.author];
	std::int64_t sequence = 0;
	if (GroupStore* pStore = _host.groupStore())
	{
		const auto stored = pStore->addMessage(post);
		if (!stored)
		{
			++_stats.duplicates;
			author.last = std::max(author.last, post.seq);
			return;
		}
		sequence = *stored;
	}
	else
	{
		group.cache.push_back(post);
		if (group.cache.size() > MAX_CACHED) group.cache.pop_front();
	}
	author.last = post.seq;
	author.lastVersion = post.version;
	const bool own = post.author == _host.groupIdentity().peerId();
	if (!own)
	{
		++_stats.delivered;
		GroupMessage message;
		message.group = GroupIds::toText(post.group);
		message.id = post.id;
		message.from = post.author;
		message.name = _host.groupPeerName(post.author);
		message.text = post.text;
		message.timestampMs = post.timestampMs;
		message.seq = post.seq;
		message.sequence = sequence;
		_host.groupMessage(message);
	}
	fanOut(group, post, from);
}


void GroupService::drain(Group& group, const PeerId& authorId, const PeerId& from)
	/// Held messages of the author that can follow now.
{
	for (;;)
	{
		auto it = group.authors.find(authorId);
		if (it == group.authors.end() || it->second.held.empty()) return;
		Author& author = it->second;
		auto next = author.held.begin();
		if (next->first <= author.last)
		{
			author.held.erase(next);
			continue;
		}
		if (!deliverable(group, author, next->second.post)) return;
		const GroupPost post = std::move(next->second.post);
		author.held.erase(next);
		deliver(group, post, from);
	}
}


void GroupService::fanOut(const Group& group, const GroupPost& post, const PeerId& except)
	/// The author sends to every member it has a session with and names, in the copies, the
	/// members it could not reach; a receiver hands the message on to those of them it has a
	/// session with, naming the ones still left, and so on. In a full mesh each member gets one
	/// copy; members reached by no one get it from the gap exchange when a session comes up.
{
	const PeerId& self = _host.groupIdentity().peerId();
	const GroupState& state = group.log.state();
	std::vector<PeerId> wanted;
	if (post.author == self)
	{
		for (const auto& member: state.members) wanted.push_back(member.first);
	}
	else
	{
		for (const PeerId& peer: post.forwardTo)
			if (state.isMember(peer)) wanted.push_back(peer);
	}
	std::vector<PeerId> reached;
	std::vector<PeerId> left;
	for (const PeerId& peer: wanted)
	{
		if (peer == self || peer == except || peer == post.author || !visibleTo(group, post, peer)) continue;
		if (_host.groupConnected(peer) && reached.size() < GroupLog::MAX_MEMBERS) reached.push_back(peer);
		else left.push_back(peer);
	}
	if (reached.empty()) return;
	GroupPost copy = post;
	copy.forwardTo = left;
	const Poco::JSON::Object body = copy.toJson();
	for (const PeerId& peer: reached)
		if (_host.sendTo(peer, "group_msg", body)) ++_stats.forwarded;
}


bool GroupService::authorAllowance(Author& author)
{
	const auto now = _host.groupScheduler().now();
	if (author.refill == Scheduler::TimePoint()) author.refill = now;
	const double refill = std::chrono::duration<double>(now - author.refill).count() * AUTHOR_RATE;
	author.refill = now;
	author.tokens = std::min<double>(AUTHOR_BURST, author.tokens + refill);
	if (author.tokens < 1) return false;
	author.tokens -= 1;
	return true;
}


bool GroupService::verified(const GroupPost& post)
{
	auto it = _keys.find(post.authorKey);
	if (it == _keys.end())
	{
		try
		{
			PublicKey key = PublicKey::fromRaw(post.authorKey);
			if (key.peerId() != post.author) return false;
			// Only members' keys get here (checked before): bounded by the groups' members.
			if (_keys.size() >= 4 * GroupLog::MAX_MEMBERS) _keys.clear();
			it = _keys.emplace(post.authorKey, key).first;
		}
		catch (const Poco::Exception&)
		{
			return false;
		}
	}
	if (it->second.peerId() != post.author) return false;
	return it->second.verify(post.signedBytes(), post.signature);
}


bool GroupService::ask(Group& group, const PeerId& peer, const GroupWire::Want& want)
{
	const auto now = _host.groupScheduler().now();
	auto it = group.asked.find(want.author);
	const std::uint64_t last = group.authors.count(want.author) ? group.authors[want.author].last : 0;
	if (it != group.asked.end() && last < it->second.to && now - it->second.when < WANT_TIMEOUT) return false;
	group.asked[want.author] = Asked{peer, want.to, now};
	return true;
}


std::vector<GroupPost> GroupService::postsFor(const Group& group, const PeerId& author, std::uint64_t from, std::uint64_t to,
	std::size_t limit) const
{
	if (GroupStore* pStore = _host.groupStore()) return pStore->range(group.log.group(), author, from, to, limit);
	std::vector<GroupPost> result;
	for (const GroupPost& post: group.cache)
	{
		if (result.size() >= limit) break;
		if (post.author == author && post.seq >= from && post.seq <= to) result.push_back(post);
	}
	std::sort(result.begin(), result.end(), [](const GroupPost& a, const GroupPost& b) { return a.seq < b.seq; });
	return result;
}


std::size_t GroupService::heldCount() const
{
	std::size_t count = 0;
	for (const auto& group: _groups)
		for (const auto& author: group.second->authors) count += author.second.held.size();
	return count;
}


void GroupService::armHoldTimer()
{
	if (_holdTimer.active()) return;
	_holdTimer = _host.groupScheduler().runAfter(std::chrono::seconds(1), [this] { expireHeld(); });
}


void GroupService::expireHeld()
{
	const auto now = _host.groupScheduler().now();
	bool any = false;
	for (auto& group: _groups)
	{
		for (auto& author: group.second->authors)
		{
			auto& held = author.second.held;
			for (auto it = held.begin(); it != held.end();)
			{
				if (now - it->second.since >= HOLD_TIME)
				{
					it = held.erase(it);
					++_stats.heldDropped;
				}
				else
				{
					++it;
				}
			}
			any = any || !held.empty();
		}
	}
	if (any) armHoldTimer();
}


// State -----------------------------------------------------------------------------------


void GroupService::setState(Group& group, State state)
{
	group.state = state;
	save(group);
}


void GroupService::save(const Group& group)
{
	GroupStore* pStore = _host.groupStore();
	if (!pStore) return;
	const bool known = !group.log.empty();
	pStore->saveGroup(group.log.group(), static_cast<int>(group.state), group.inviter,
		known ? group.log.state().name : group.invitedName, known ? group.log.state().shareHistory : group.invitedShare);
}


void GroupService::updatePeers()
{
	const PeerId& self = _host.groupIdentity().peerId();
	std::set<PeerId> peers;
	for (const auto& entry: _groups)
	{
		const Group& group = *entry.second;
		if (group.state == State::JOINING && !group.inviter.isNull()) peers.insert(group.inviter);
		if (group.state != State::MEMBER) continue;
		for (const auto& member: group.log.state().members) peers.insert(member.first);
		for (const auto& invited: group.invited) peers.insert(invited.first);
	}
	peers.erase(self);
	_host.setGroupPeers(peers);
}


void GroupService::emit(const Group& group, const std::string& kind, const PeerId& peer, const PeerId& by)
{
	GroupChange change;
	change.kind = kind;
	change.group = GroupIds::toText(group.log.group());
	change.name = group.log.empty() ? group.invitedName : group.log.state().name;
	change.peer = peer;
	change.by = by;
	change.version = group.log.state().version;
	_host.groupChanged(change);
}


GroupInfo GroupService::describe(const Group& group) const
{
	const PeerId& self = _host.groupIdentity().peerId();
	const GroupState& state = group.log.state();
	GroupInfo info;
	info.id = GroupIds::toText(group.log.group());
	info.name = group.log.empty() ? group.invitedName : state.name;
	info.state = groupStateName(group.state);
	if (group.state == State::MEMBER)
		if (auto role = state.role(self)) info.role = groupRoleName(*role);
	info.inviter = group.inviter;
	info.members = state.members.size();
	info.version = state.version;
	info.shareHistory = group.log.empty() ? group.invitedShare : state.shareHistory;
	return info;
}


// API -------------------------------------------------------------------------------------


GroupService::Group& GroupService::find(const std::string& group)
{
	Group* pGroup = lookup(group);
	if (!pGroup) throw Poco::NotFoundException("no group " + GroupIds::toText(group));
	return *pGroup;
}


const GroupService::Group& GroupService::find(const std::string& group) const
{
	auto it = _groups.find(group);
	if (it == _groups.end()) throw Poco::NotFoundException("no group " + GroupIds::toText(group));
	return *it->second;
}


std::string GroupService::create(const std::string& name, bool shareHistory)
{
	_host.groupScheduler().assertInLoopThread();
	if (!_started) throw Poco::IllegalStateException("the node is not running");
	if (_groups.size() >= MAX_GROUPS) throw Poco::IllegalStateException("too many groups (" + std::to_string(MAX_GROUPS) + ")");
	if (name.empty() || name.size() > GroupLog::MAX_NAME_SIZE || !Text::isValidUtf8(name) || Text::terminalSafe(name) != name)
		throw Poco::InvalidArgumentException("a group name is 1 to 64 bytes of UTF-8 text without control characters");
	GroupLog log = GroupLog::create(_host.groupIdentity(), name, shareHistory, wallClockMs());
	const std::string id = log.group();
	auto group = std::make_unique<Group>(id);
	group->log = std::move(log);
	group->state = State::MEMBER;
	Group& created = *group;
	_groups[id] = std::move(group);
	if (GroupStore* pStore = _host.groupStore())
	{
		pStore->transaction([&] {
			save(created);
			pStore->saveLog(id, created.log.entries(), 1);
		});
	}
	emit(created, "created", _host.groupIdentity().peerId(), _host.groupIdentity().peerId());
	return GroupIds::toText(id);
}


void GroupService::invite(const std::string& id, const PeerId& peer)
{
	_host.groupScheduler().assertInLoopThread();
	Group& group = find(id);
	const PeerId& self = _host.groupIdentity().peerId();
	if (group.state != State::MEMBER) throw Poco::IllegalStateException("not a member of the group");
	if (!group.log.state().isAdmin(self)) throw Poco::IllegalStateException("only the group's admins can invite");
	if (peer == self) throw Poco::InvalidArgumentException("cannot invite yourself");
	if (group.log.state().isMember(peer)) throw Poco::InvalidArgumentException("already a member");
	if (_host.groupRelation(peer) == Relation::BLOCKED) throw Poco::InvalidArgumentException("the peer is blocked; /accept it first");
	if (group.log.state().members.size() >= GroupLog::MAX_MEMBERS) throw Poco::IllegalStateException("the group is full");
	if (group.invited.size() >= MAX_PENDING_INVITES && !group.invited.count(peer))
		throw Poco::IllegalStateException("too many invitations waiting for an answer");
	group.invited[peer] = _host.groupScheduler().now();
	_host.makeContact(peer);
	updatePeers();
	if (_host.groupConnected(peer)) sendInvite(group, peer);
}


void GroupService::acceptInvitation(const std::string& id)
{
	_host.groupScheduler().assertInLoopThread();
	Group& group = find(id);
	if (group.state == State::MEMBER || group.state == State::JOINING) return;
	if (group.state != State::INVITED) throw Poco::IllegalStateException("no invitation to this group");
	setState(group, State::JOINING);
	updatePeers();
	if (_host.groupConnected(group.inviter)) sendAccept(group);
}


void GroupService::leave(const std::string& id)
{
	_host.groupScheduler().assertInLoopThread();
	Group& group = find(id);
	const PeerId& self = _host.groupIdentity().peerId();
	if (group.state == State::INVITED || group.state == State::JOINING)
	{
		const bool invited = group.state == State::INVITED;
		setState(group, State::LEFT);
		updatePeers();
		emit(group, invited ? "declined" : "left", self, PeerId());
		return;
	}
	if (group.state != State::MEMBER) return;
	GroupEntry entry;
	entry.op = GroupOp::LEAVE;
	entry.target = self;
	auto it = group.authors.find(self);
	entry.seq = it == group.authors.end() ? 0 : it->second.last;
	appendEntry(group, entry);
}


void GroupService::kick(const std::string& id, const PeerId& peer)
{
	_host.groupScheduler().assertInLoopThread();
	Group& group = find(id);
	GroupEntry entry;
	entry.op = GroupOp::REMOVE;
	entry.target = peer;
	auto it = group.authors.find(peer);
	entry.seq = it == group.authors.end() ? 0 : it->second.last;
	appendEntry(group, entry);
	group.invited.erase(peer);
}


void GroupService::promote(const std::string& id, const PeerId& peer)
{
	_host.groupScheduler().assertInLoopThread();
	GroupEntry entry;
	entry.op = GroupOp::PROMOTE;
	entry.target = peer;
	appendEntry(find(id), entry);
}


void GroupService::rename(const std::string& id, const std::string& name)
{
	_host.groupScheduler().assertInLoopThread();
	GroupEntry entry;
	entry.op = GroupOp::RENAME;
	entry.name = name;
	appendEntry(find(id), entry);
}


GroupMessage GroupService::send(const std::string& id, const std::string& text)
{
	_host.groupScheduler().assertInLoopThread();
	Group& group = find(id);
	if (group.state != State::MEMBER) throw Poco::IllegalStateException("not a member of the group");
	if (text.size() > SessionProtocol::MAX_TEXT_SIZE)
		throw Poco::InvalidArgumentException("message of " + std::to_string(text.size()) + " bytes exceeds the limit of "
			+ std::to_string(SessionProtocol::MAX_TEXT_SIZE));
	const std::size_t bad = Text::invalidUtf8Offset(text);
	if (bad != std::string::npos)
		throw Poco::InvalidArgumentException("the message is not valid UTF-8 (byte " + std::to_string(bad + 1) + ")");
	const Identity& identity = _host.groupIdentity();
	Author& self = group.authors[identity.peerId()];
	GroupPost post;
	post.group = id;
	post.seq = self.last + 1;
	post.id = Poco::UUIDGenerator::defaultGenerator().createRandom().toString();
	post.version = group.log.state().version;
	post.prevVersion = self.lastVersion;
	post.timestampMs = wallClockMs();
	post.text = text;
	post.sign(identity);
	++_stats.posted;
	deliver(group, post, PeerId());
	GroupMessage message;
	message.group = GroupIds::toText(id);
	message.id = post.id;
	message.from = identity.peerId();
	message.name = _host.groupPeerName(identity.peerId());
	message.text = text;
	message.timestampMs = post.timestampMs;
	message.seq = post.seq;
	message.own = true;
	return message;
}


std::vector<GroupInfo> GroupService::groups() const
{
	std::vector<GroupInfo> result;
	for (const auto& entry: _groups) result.push_back(describe(*entry.second));
	std::sort(result.begin(), result.end(), [](const GroupInfo& a, const GroupInfo& b) {
		return Poco::icompare(a.name, b.name) < 0 || (Poco::icompare(a.name, b.name) == 0 && a.id < b.id);
	});
	return result;
}


bool GroupService::shares(const std::string& id, const PeerId& peer) const
{
	auto it = _groups.find(id);
	return it != _groups.end() && it->second->state == State::MEMBER && it->second->log.state().isMember(peer)
		&& peer != _host.groupIdentity().peerId();
}


std::vector<PeerId> GroupService::otherMembers(const std::string& id) const
{
	const Group& group = find(id);
	if (group.state != State::MEMBER) throw Poco::IllegalStateException("not a member of the group");
	std::vector<PeerId> members;
	for (const auto& member: group.log.state().members)
		if (member.first != _host.groupIdentity().peerId()) members.push_back(member.first);
	return members;
}


GroupInfo GroupService::info(const std::string& id) const
{
	const Group& group = find(id);
	GroupInfo info = describe(group);
	for (const auto& member: group.log.state().members)
	{
		GroupMember item;
		item.id = member.first;
		item.role = groupRoleName(member.second.role);
		item.name = _host.groupPeerName(member.first);
		item.connected = member.first == _host.groupIdentity().peerId() || _host.groupConnected(member.first);
		info.memberList.push_back(item);
	}
	return info;
}


std::vector<GroupMessage> GroupService::history(const std::string& id, std::size_t count, std::int64_t beforeSequence) const
{
	const Group& group = find(id);
	const PeerId& self = _host.groupIdentity().peerId();
	std::vector<GroupMessage> result;
	if (GroupStore* pStore = _host.groupStore())
	{
		result = pStore->history(id, count, beforeSequence);
	}
	else
	{
		const std::size_t take = std::min({count, group.cache.size(), ChatStore::MAX_PAGE});
		for (auto it = group.cache.end() - static_cast<std::ptrdiff_t>(take); it != group.cache.end(); ++it)
		{
			GroupMessage message;
			message.group = GroupIds::toText(id);
			message.id = it->id;
			message.from = it->author;
			message.text = it->text;
			message.timestampMs = it->timestampMs;
			message.seq = it->seq;
			result.push_back(std::move(message));
		}
	}
	for (GroupMessage& message: result)
	{
		message.own = message.from == self;
		message.name = _host.groupPeerName(message.from);
	}
	return result;
}


std::vector<std::string> GroupService::resolve(const std::string& query) const
{
	std::vector<std::string> byId;
	std::vector<std::string> byName;
	const std::string lower = Poco::toLower(query);
	for (const auto& entry: _groups)
	{
		const std::string text = GroupIds::toText(entry.first);
		if (lower.size() >= 4 && text.compare(0, lower.size(), lower) == 0) byId.push_back(entry.first);
		const std::string name = entry.second->log.empty() ? entry.second->invitedName : entry.second->log.state().name;
		if (Poco::icompare(name, query) == 0) byName.push_back(entry.first);
	}
	return byId.empty() ? byName : byId;
}


const GroupStats& GroupService::stats() const
{
	return _stats;
}


} } // namespace CrossChat::Chat
