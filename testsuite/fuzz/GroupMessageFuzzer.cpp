//
// GroupMessageFuzzer.cpp
//
// testsuite: libFuzzer target for the group session messages (types 16..22, Chat/src/
// GroupWire, GroupLog, GroupService). The first byte picks the message type, the rest is its
// JSON body, as a peer would send it inside a session. The body goes through the session
// catalog (schema), then to a GroupService in which the sender is a member of a group (and,
// for the bytes of an ID that is not that group's, a stranger). A body may be refused only
// with MessageException; any other exception escapes and crashes the fuzzer, as does a memory
// error or a broken rule: nothing a peer sends makes the service deliver a message, change the
// membership log or hold more than its bounds.
//
// max_len: 70000


#include "GroupService.h"
#include "GroupWire.h"
#include "CrossChat/Chat/SessionProtocol.h"
#include "CrossChat/FoundationException.h"
#include "CrossChat/Identity.h"
#include "CrossChat/ManualScheduler.h"
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>


using namespace CrossChat;
using namespace CrossChat::Chat;


namespace {


void check(bool condition, const char* what)
{
	if (!condition)
	{
		std::fprintf(stderr, "GroupMessageFuzzer: rule broken: %s\n", what);
		std::abort();
	}
}


class Host: public GroupHost
{
public:
	Host():
		identity(Identity::generate()),
		peer(Identity::generate())
	{
	}

	Scheduler& groupScheduler() override { return scheduler; }
	const Identity& groupIdentity() const override { return identity; }
	GroupStore* groupStore() override { return nullptr; }
	bool sendTo(const PeerId&, const std::string& name, const Poco::JSON::Object& body) override
	{
		// What the service answers must pass the catalog too.
		SessionProtocol::catalog().encode(codec, name, body);
		++sent;
		return true;
	}
	bool groupConnected(const PeerId&) const override { return true; }
	Relation groupRelation(const PeerId&) const override { return Relation::STRANGER; }
	std::string groupPeerName(const PeerId& id) const override { return id.shortString(); }
	void setGroupPeers(const std::set<PeerId>&) override {}
	void makeContact(const PeerId&) override {}
	void groupMessage(const GroupMessage&) override { ++delivered; }
	void groupChanged(const GroupChange&) override {}

	ManualScheduler scheduler;
	FrameCodec codec{SessionProtocol::MAX_FRAME_SIZE};
	Identity identity;
	Identity peer;      ///< The fuzzer's sender: a member of the group.
	std::size_t sent = 0;
	std::size_t delivered = 0;
};


struct World
{
	World():
		service(host)
	{
		service.start();
		group = service.create("fuzz", false);
		// The sender joins as a real member would (invited, signed join, added).
		service.invite(*GroupIds::fromText(group), host.peer.peerId());
		GroupWire::Accept accept;
		accept.group = *GroupIds::fromText(group);
		accept.key = host.peer.publicKey().raw();
		accept.join = host.peer.sign(GroupEntry::joinBytes(accept.group, host.peer.peerId()));
		Message message;
		message.type = SessionProtocol::catalog().typeOf("group_accept");
		message.name = "group_accept";
		message.body = new Poco::JSON::Object(GroupWire::accept(accept));
		service.receive(host.peer.peerId(), message);
		version = service.info(*GroupIds::fromText(group)).version;
		check(version == 2, "the sender is a member");
	}

	Host host;
	GroupService service;
	std::string group;
	std::uint64_t version = 0;
};


} // namespace


extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
	static World world;
	if (size < 1) return 0;
	const std::uint8_t type = static_cast<std::uint8_t>(16 + data[0] % 7);
	const Frame frame{type, std::string(reinterpret_cast<const char*>(data) + 1, size - 1)};
	Message message;
	try
	{
		message = SessionProtocol::catalog().decode(frame);
	}
	catch (const MessageException&)
	{
		return 0;
	}
	// The parsers alone, as both ends use them.
	try
	{
		if (message.name == "group_msg") GroupPost::fromJson(*message.body).verify();
		else if (message.name == "group_log") GroupWire::parseLog(*message.body);
		else if (message.name == "group_sync") GroupWire::parseSync(*message.body);
		else if (message.name == "group_want") GroupWire::parseWant(*message.body);
		else if (message.name == "group_invite") GroupWire::parseInvite(*message.body);
		else if (message.name == "group_accept") GroupWire::parseAccept(*message.body);
		else if (message.name == "group_log_request") GroupWire::parseLogRequest(*message.body);
	}
	catch (const MessageException&)
	{
	}
	// The service, from a member and from a stranger.
	const std::size_t delivered = world.host.delivered;
	world.service.receive(world.host.peer.peerId(), message);
	static const PeerId stranger = Identity::generate().peerId();
	world.service.receive(stranger, message);
	world.host.scheduler.advance(std::chrono::seconds(1));
	check(world.host.delivered == delivered, "no forged message delivered");
	const GroupInfo info = world.service.info(*GroupIds::fromText(world.group));
	check(info.version == world.version, "the membership log unchanged");
	check(info.members == 2, "the membership unchanged");
	check(world.service.groups().size() <= GroupService::MAX_GROUPS, "groups bounded");
	return 0;
}
