//
// GroupService.h
//
// Library: Chat
// Private: group conversations — membership logs, signed messages fanned out over the
// members' pairwise sessions, gap exchange, invitations (see docs/PROTOCOL.md, "Groups").
// This is an internal header file, it is not installed; do not include it from outside Chat/src.
//


#ifndef CrossChat_Chat_GroupService_INCLUDED
#define CrossChat_Chat_GroupService_INCLUDED


#include "GroupLog.h"
#include "GroupStore.h"
#include "GroupWire.h"
#include "PeerService.h"
#include "CrossChat/Chat/Group.h"
#include "CrossChat/Chat/Relation.h"
#include "CrossChat/Identity.h"
#include "CrossChat/LogThrottle.h"
#include "CrossChat/PublicKey.h"
#include "CrossChat/Scheduler.h"
#include "CrossChat/TimerHandle.h"
#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>


namespace CrossChat {
namespace Chat {


class GroupHost
	/// What the group service needs from the node (ChatNode::Impl); faked in unit tests.
	///
	/// Thread rules: every call on the loop thread; sendTo() never calls back into the service.
{
public:
	virtual ~GroupHost() = default;

	virtual Scheduler& groupScheduler() = 0;
	virtual const Identity& groupIdentity() const = 0;
	virtual GroupStore* groupStore() = 0;
		/// Null without a database (everything in memory).
	virtual bool sendTo(const PeerId& peer, const std::string& name, const Poco::JSON::Object& body) = 0;
		/// On the peer's session in use if it is up and announced "groups/1"; false otherwise.
	virtual bool groupConnected(const PeerId& peer) const = 0;
		/// A session with peer is up and it announced "groups/1".
	virtual Relation groupRelation(const PeerId& peer) const = 0;
	virtual std::string groupPeerName(const PeerId& peer) const = 0;
		/// Terminal-safe display name.
	virtual void setGroupPeers(const std::set<PeerId>& peers) = 0;
		/// The peers we share a group with (or invited, or wait for as our inviter): the node
		/// may dial and upgrade them as it does contacts, and keeps sessions to them.
	virtual void makeContact(const PeerId& peer) = 0;
		/// Our user chose peer (an invitation): a contact from now on.
	virtual void groupMessage(const GroupMessage& message) = 0;
	virtual void groupChanged(const GroupChange& change) = 0;
};


class GroupService: public PeerService
	/// Every group we know, and its messages on the wire:
	///   - a group's membership is its GroupLog (signed entries; the same winner everywhere);
	///   - a message is signed by its author with its sequence number, sent to every connected
	///     member and handed on by each member to the others it is connected to (fan-out over
	///     pairwise sessions); copies are dropped by (author, sequence);
	///   - each author's messages are delivered in its order: one whose predecessor is missing
	///     is held back (MAX_HELD_PER_AUTHOR, MAX_HELD, HOLD_TIME) and the gap asked for;
	///   - when a session with a member comes up (or changes path), and every SYNC_INTERVAL with a
	///     few connected members, "group_sync" (log version and head, the last sequence delivered
	///     per author) is sent; the one behind asks for log entries
	///     ("group_log_request") and messages ("group_want"), answered in rounds bounded in
	///     count (MAX_ANSWER_MESSAGES) and bytes (MAX_ANSWER_BYTES);
	///   - consent: an invitation is a request our user accepts or ignores; accepting sends our
	///     signed join to the inviter, an admin, who adds us; the members of our groups (and our
	///     inviter while we wait) become group peers the node may connect to; leaving or being
	///     removed ends that. Nothing a non-member says is acted on (beyond a bounded rate of
	///     group input that is checked and dropped).
	///
	/// Thread rules: loop thread only. Ownership: owned by the node; does not own its host.
{
public:
	enum class State
		/// Our standing in a group. The numbers are stored: never renumber.
	{
		INVITED = 0,
		JOINING = 1,
		MEMBER = 2,
		LEFT = 3,
		REMOVED = 4
	};

	static constexpr const char* CAPABILITY = "groups/1";
	static constexpr std::size_t MAX_GROUPS = 256;                ///< Groups kept (any state).
	static constexpr std::size_t MAX_INVITATIONS_PER_PEER = 4;    ///< Unanswered invitations from one peer.
	static constexpr std::size_t MAX_INVITATIONS = 64;            ///< Unanswered invitations from strangers in all.
	static constexpr std::size_t MAX_PENDING_INVITES = 64;        ///< Our invitations waiting for an answer, per group.
	static constexpr std::size_t MAX_HELD_PER_AUTHOR = 256;       ///< Messages held back per author.
	static constexpr std::size_t MAX_HELD = 2048;                 ///< ... in all.
	static constexpr std::chrono::seconds HOLD_TIME{30};          ///< Held longer: dropped (fetched again by the gap exchange).
	static constexpr std::size_t MAX_ANSWER_MESSAGES = 64;        ///< Messages per gap answer (a round).
	static constexpr std::size_t MAX_ANSWER_BYTES = 256 * 1024;   ///< ... and bytes.
	static constexpr std::chrono::seconds WANT_TIMEOUT{10};       ///< A gap asked for is not asked for again before.
	static constexpr std::chrono::seconds SYNC_INTERVAL{30};      ///< Anti-entropy: each group compares notes with
	static constexpr std::size_t SYNC_PEERS = 2;                  ///< this many connected members per interval.
	static constexpr std::size_t MAX_CACHED = 4096;               ///< Messages kept in memory per group without a database.
	static constexpr int AUTHOR_BURST = 500;                      ///< Messages of one author taken at once...
	static constexpr int AUTHOR_RATE = 100;                       ///< ... then this many per second; beyond, they are
	                                                              ///< dropped and fetched later by the gap exchange.
	static constexpr int NON_MEMBER_BURST = 20;                   ///< Group messages taken from a non-member at once...
	static constexpr std::chrono::seconds NON_MEMBER_PERIOD{2};   ///< ... then one per period (each checked and dropped).

	explicit GroupService(GroupHost& host);
	~GroupService() override;

	GroupService(const GroupService&) = delete;
	GroupService& operator=(const GroupService&) = delete;

	// PeerService ---------------------------------------------------------------------------

	std::vector<std::string> messages() const override;
	std::vector<std::string> caps() const override;
	void onMessage(Peer& peer, const Message& message) override;
	void onPeerChanged(Peer& peer, ChatNode::PeerChange change) override;
	void start() override;
	void stop() override;

	// The same, by peer ID (unit tests drive these) ----------------------------------------

	void receive(const PeerId& from, const Message& message);
	void connected(const PeerId& peer);
		/// A session with peer came up: exchange what is missing.

	// API -------------------------------------------------------------------------------

	std::string create(const std::string& name, bool shareHistory);
		/// Founds a group and returns its ID's text form. Throws Poco::InvalidArgumentException
		/// for an invalid name (1..64 bytes of UTF-8 without control characters).
	void invite(const std::string& group, const PeerId& peer);
		/// Invites peer (sent when a session is up). Throws unless we are an admin and peer is
		/// not a member.
	void acceptInvitation(const std::string& group);
	void leave(const std::string& group);
		/// Leaves a group (or declines an invitation, or stops joining).
	void kick(const std::string& group, const PeerId& peer);
	void promote(const std::string& group, const PeerId& peer);
	void rename(const std::string& group, const std::string& name);
	GroupMessage send(const std::string& group, const std::string& text);
		/// Writes a message; throws unless we are a member.
	std::vector<GroupInfo> groups() const;
	GroupInfo info(const std::string& group) const;
		/// With memberList. Throws Poco::NotFoundException.
	bool shares(const std::string& group, const PeerId& peer) const;
		/// True if we are a member of the group and so is peer (false for an unknown group).
	std::vector<PeerId> otherMembers(const std::string& group) const;
		/// The group's members but us. Throws Poco::NotFoundException, and
		/// Poco::IllegalStateException unless we are a member.
	std::vector<GroupMessage> history(const std::string& group, std::size_t count, std::int64_t beforeSequence) const;
	std::vector<std::string> resolve(const std::string& query) const;
		/// Groups (raw IDs) whose ID text starts with query (at least 4 digits), else whose
		/// name equals it (case-insensitive).
	const GroupStats& stats() const;

private:
	struct Held
	{
		GroupPost post;
		Scheduler::TimePoint since;
	};

	struct Author
	{
		std::uint64_t last = 0;           ///< Last delivered sequence.
		std::uint64_t lastVersion = 0;    ///< Its log version.
		std::map<std::uint64_t, Held> held;
		double tokens = AUTHOR_BURST;     ///< Its messages we may still take now (AUTHOR_RATE).
		Scheduler::TimePoint refill;
	};

	struct Asked
	{
		PeerId peer;                      ///< Asked of.
		std::uint64_t to = 0;             ///< Up to this sequence.
		Scheduler::TimePoint when;
	};

	struct Group
	{
		explicit Group(const std::string& id): log(id) {}
		GroupLog log;
		State state = State::INVITED;
		PeerId inviter;
		std::string invitedName;
		bool invitedShare = false;
		std::map<PeerId, Author> authors;
		std::map<PeerId, Scheduler::TimePoint> invited;   ///< Our invitations not answered yet.
		std::deque<GroupPost> cache;                      ///< Without a database: recent messages for gap answers.
		std::map<PeerId, std::uint64_t> logRequests;      ///< The "from" of our last log request per peer.
		std::map<PeerId, Asked> asked;                    ///< Per author: the gap we asked for and have not got.
		std::size_t syncTurn = 0;                         ///< Where the next anti-entropy round starts.
	};

	struct Allowance
	{
		double tokens = NON_MEMBER_BURST;
		Scheduler::TimePoint refill;
	};

	Group& find(const std::string& group);
	const Group& find(const std::string& group) const;
	Group* lookup(const std::string& group);
	void onInvite(const PeerId& from, const Message& message);
	void onAccept(const PeerId& from, const Message& message);
	void onLog(const PeerId& from, const Message& message);
	void onLogRequest(const PeerId& from, const Message& message);
	void onPost(const PeerId& from, const Message& message);
	void onSync(const PeerId& from, const Message& message);
	void onWant(const PeerId& from, const Message& message);
	bool allowed(const PeerId& from, const Group* pGroup);
	void refuse(const PeerId& from, const std::string& what);
	void sendSync(Group& group, const PeerId& peer, bool reply);
	void sendLog(const Group& group, const PeerId& peer, std::uint64_t from);
	void requestLog(Group& group, const PeerId& peer, std::uint64_t from);
	void sendAccept(const Group& group);
	void sendInvite(const Group& group, const PeerId& peer);
	void appendEntry(Group& group, GroupEntry entry);
	void logChanged(Group& group, const GroupState& before, std::uint64_t firstChanged, const PeerId& from);
	void reissue(Group& group, const std::vector<GroupEntry>& previous, std::uint64_t firstChanged);
	void deliver(Group& group, const GroupPost& post, const PeerId& from);
	void drain(Group& group, const PeerId& author, const PeerId& from);
	bool deliverable(const Group& group, const Author& author, const GroupPost& post) const;
	bool visibleTo(const Group& group, const GroupPost& post, const PeerId& member) const;
	bool verified(const GroupPost& post);
	bool authorAllowance(Author& author);
		/// A token of the author's rate (a member that writes without end costs bounded work and disk).
		/// post.verify() with the author's key parsed once (members' keys are cached).
	bool ask(Group& group, const PeerId& peer, const GroupWire::Want& want);
		/// Records want as asked of peer unless the same gap is being asked for already.
	void fanOut(const Group& group, const GroupPost& post, const PeerId& except);
	std::vector<GroupPost> postsFor(const Group& group, const PeerId& author, std::uint64_t from, std::uint64_t to, std::size_t limit) const;
	void expireHeld();
	void antiEntropy();
		/// Every SYNC_INTERVAL: a sync with SYNC_PEERS connected members of each group, so that a
		/// message lost with a session that closed (nothing follows it to show the gap) comes.
	void armHoldTimer();
	std::size_t heldCount() const;
	void setState(Group& group, State state);
	void save(const Group& group);
	void updatePeers();
	GroupInfo describe(const Group& group) const;
	void emit(const Group& group, const std::string& kind, const PeerId& peer, const PeerId& by);
	void restore();

	GroupHost& _host;
	std::map<std::string, std::unique_ptr<Group>> _groups;   ///< By raw ID.
	std::map<PeerId, Allowance> _allowances;                   ///< Non-members' group input.
	std::map<std::string, PublicKey> _keys;                    ///< Authors' raw keys, parsed (their ID checked).
	TimerHandle _holdTimer;
	TimerHandle _syncTimer;
	LogThrottle _logThrottle;
	GroupStats _stats;
	bool _started = false;
};


const char* groupStateName(GroupService::State state);
	/// "invited", "joining", "member", "left", "removed".


} } // namespace CrossChat::Chat


#endif // CrossChat_Chat_GroupService_INCLUDED
