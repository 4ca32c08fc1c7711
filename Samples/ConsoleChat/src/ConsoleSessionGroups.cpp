//
// ConsoleSessionGroups.cpp
//
// Sample: ConsoleChat
// The group commands of ConsoleSession (/group ..., /groups, /msg #group) and the group
// events it prints (docs/PROTOCOL.md, "Groups"; README, "Groups").
//


#include "ConsoleSession.h"
#include "CrossChat/Chat/SessionProtocol.h"
#include "Poco/DateTimeFormatter.h"
#include "Poco/Exception.h"
#include "Poco/JSON/Array.h"
#include "Poco/LocalDateTime.h"
#include "Poco/NumberParser.h"
#include "Poco/String.h"
#include "Poco/Timestamp.h"
#include <sstream>


namespace CrossChat {


namespace {


std::pair<std::string, std::string> firstWord(const std::string& text)
{
	const std::string trimmed = Poco::trim(text);
	const std::string::size_type space = trimmed.find(' ');
	if (space == std::string::npos) return {trimmed, std::string()};
	return {trimmed.substr(0, space), Poco::trim(trimmed.substr(space + 1))};
}


std::string clock(std::int64_t ms)
{
	const Poco::LocalDateTime when(Poco::Timestamp(static_cast<Poco::Timestamp::TimeVal>(ms) * 1000));
	return Poco::DateTimeFormatter::format(when, "%H:%M:%S");
}


const char* GROUP_USAGE =
	"usage: /group create <name> | invite <group> <peer> | accept <group> | leave [group] | kick [group] <peer> | "
	"members [group] | promote [group] <peer> | rename [group] <name> | history [group] [count]";


} // namespace


void ConsoleSession::registerGroupCommands()
{
	// The handlers capture this: the interpreter is a member, so they cannot outlive the session.
	_interpreter.add("/group <create|invite|accept|leave|kick|members|promote|rename|history> ...",
		"group conversations: /group create <name>, /group invite <group> <peer>, /group accept <group> (an "
		"invitation), /group leave [group], /group kick [group] <peer>, /group members [group], /group promote "
		"[group] <peer>, /group rename [group] <name>, /group history [group] [count]; a group is #name, a unique "
		"ID prefix or its ID, and defaults to the current conversation",
		[this](const std::string& arguments) { return group(arguments); });
	_interpreter.add("/groups", "list your groups and invitations",
		[this](const std::string&) { return groupList(); });
}


void ConsoleSession::startGroups()
{
	_pNode->setGroupMessageHandler([this](const Chat::GroupMessage& message) { onGroupMessage(message); });
	_pNode->setGroupHandler([this](const Chat::GroupChange& change) { onGroupChange(change); });
}


std::optional<std::string> ConsoleSession::resolveGroup(const std::string& query)
{
	const std::string name = !query.empty() && query[0] == '#' ? query.substr(1) : query;
	if (name.empty())
	{
		_console.error("name a group: #name, a unique ID prefix or its ID (/groups lists them)");
		return std::nullopt;
	}
	const std::vector<std::string> matches = _pNode->resolveGroup(name);
	if (matches.size() == 1) return matches.front();
	if (matches.empty())
	{
		_console.error("no group matches '" + Console::printable(query) + "'; /groups lists them");
		return std::nullopt;
	}
	std::string names;
	for (const std::string& id: matches) names += (names.empty() ? "" : ", ") + groupLabel(id) + " " + id.substr(0, 8);
	_console.error("'" + Console::printable(query) + "' matches several groups (" + names + "); give more of the ID");
	return std::nullopt;
}


std::string ConsoleSession::groupLabel(const std::string& id) const
{
	for (const Chat::GroupInfo& info: _pNode->groups())
		if (info.id == id) return "#" + Console::printable(info.name);
	return "#" + id.substr(0, 8);
}


std::optional<std::string> ConsoleSession::groupArgument(std::string& arguments, std::size_t wordsAfter)
	/// The group named first in arguments (which lose it), or the current conversation's group
	/// when arguments hold only the wordsAfter words that follow a group.
{
	std::size_t words = 0;
	std::istringstream in(arguments);
	for (std::string word; in >> word;) ++words;
	if (words <= wordsAfter && _groupConversation) return _groupConversation;
	const auto split = firstWord(arguments);
	if (split.first.empty())
	{
		_console.error(GROUP_USAGE);
		return std::nullopt;
	}
	arguments = split.second;
	return resolveGroup(split.first);
}


CommandInterpreter::Action ConsoleSession::group(const std::string& arguments)
{
	auto [verb, rest] = firstWord(arguments);
	verb = Poco::toLower(verb);
	try
	{
		if (verb == "create")
		{
			if (rest.empty())
			{
				_console.error("usage: /group create <name>");
				return CommandInterpreter::Action::CONTINUE;
			}
			const std::string id = _pNode->createGroup(rest);
			_groupConversation = id;
			_conversation.reset();
		}
		else if (verb == "invite")
		{
			auto id = groupArgument(rest, 1);
			if (!id) return CommandInterpreter::Action::CONTINUE;
			if (rest.empty())
			{
				_console.error("usage: /group invite <group> <peer>");
				return CommandInterpreter::Action::CONTINUE;
			}
			const std::optional<PeerId> peer = resolvePeer(rest);
			if (!peer) return CommandInterpreter::Action::CONTINUE;
			_pNode->inviteToGroup(*id, *peer);
			Poco::JSON::Object::Ptr pEvent = Console::makeEvent("group");
			pEvent->set("kind", std::string("inviting"));
			pEvent->set("group", *id);
			pEvent->set("name", groupLabel(*id).substr(1));
			pEvent->set("peer", peer->toString());
			pEvent->set("peerName", nameOf(*peer));
			_console.print(*pEvent, "* " + groupLabel(*id) + ": invitation for " + nameOf(*peer)
				+ " (sent when it is reachable; it joins when it accepts)");
		}
		else if (verb == "accept" || verb == "join")
		{
			auto id = groupArgument(rest, 0);
			if (!id) return CommandInterpreter::Action::CONTINUE;
			_pNode->acceptGroupInvitation(*id);
			Poco::JSON::Object::Ptr pEvent = Console::makeEvent("group");
			pEvent->set("kind", std::string("joining"));
			pEvent->set("group", *id);
			pEvent->set("name", groupLabel(*id).substr(1));
			_console.print(*pEvent, "* " + groupLabel(*id) + ": accepted; waiting for an admin to add you");
			_groupConversation = id;
			_conversation.reset();
		}
		else if (verb == "leave" || verb == "decline")
		{
			auto id = groupArgument(rest, 0);
			if (!id) return CommandInterpreter::Action::CONTINUE;
			_pNode->leaveGroup(*id);
			if (_groupConversation == id) _groupConversation.reset();
		}
		else if (verb == "kick" || verb == "remove" || verb == "promote")
		{
			auto id = groupArgument(rest, 1);
			if (!id) return CommandInterpreter::Action::CONTINUE;
			if (rest.empty())
			{
				_console.error("usage: /group " + verb + " [group] <peer>");
				return CommandInterpreter::Action::CONTINUE;
			}
			std::optional<PeerId> peer = memberByName(*id, rest);
			if (!peer) peer = resolvePeer(rest);
			if (!peer) return CommandInterpreter::Action::CONTINUE;
			if (verb == "promote") _pNode->promoteInGroup(*id, *peer);
			else _pNode->kickFromGroup(*id, *peer);
		}
		else if (verb == "rename")
		{
			auto id = firstWord(rest).second.empty() && _groupConversation ? _groupConversation : groupArgument(rest, 0);
			if (!id) return CommandInterpreter::Action::CONTINUE;
			if (rest.empty())
			{
				_console.error("usage: /group rename [group] <name>");
				return CommandInterpreter::Action::CONTINUE;
			}
			_pNode->renameGroup(*id, rest);
		}
		else if (verb == "members")
		{
			auto id = groupArgument(rest, 0);
			if (!id) return CommandInterpreter::Action::CONTINUE;
			return groupMembers(*id);
		}
		else if (verb == "history")
		{
			// [--before ORDER]: the page before the message with that "order" (as the event gives it).
			std::int64_t before = 0;
			if (!takeBefore(rest, "order", before)) return CommandInterpreter::Action::CONTINUE;
			auto split = firstWord(rest);
			unsigned count = 20;
			std::optional<std::string> id;
			if (!split.first.empty() && Poco::NumberParser::tryParseUnsigned(split.first, count) && split.second.empty())
				id = _groupConversation;
			else
			{
				count = 20;
				id = groupArgument(rest, 0);
				if (!id) return CommandInterpreter::Action::CONTINUE;
				if (!rest.empty() && (!Poco::NumberParser::tryParseUnsigned(rest, count) || count == 0))
				{
					_console.error("the count must be a number from 1 to " + std::to_string(Chat::ChatStore::MAX_PAGE));
					return CommandInterpreter::Action::CONTINUE;
				}
			}
			if (!id)
			{
				_console.error("usage: /group history [group] [count] [--before ORDER]");
				return CommandInterpreter::Action::CONTINUE;
			}
			return groupHistory(*id, count, before);
		}
		else
		{
			_console.error(GROUP_USAGE);
		}
	}
	catch (const Poco::Exception& exc)
	{
		_console.error("/group " + verb + ": " + exc.message());
	}
	return CommandInterpreter::Action::CONTINUE;
}


std::optional<PeerId> ConsoleSession::memberByName(const std::string& group, const std::string& query)
	/// A member of group by its display name or ID prefix (members need not be known peers).
{
	std::vector<PeerId> matches;
	for (const Chat::GroupMember& member: _pNode->groupMembers(group).memberList)
	{
		if (Poco::icompare(member.name, query) == 0 || PeerId::isPrefixOf(query, member.id)) matches.push_back(member.id);
	}
	if (matches.size() == 1) return matches.front();
	return std::nullopt;
}


CommandInterpreter::Action ConsoleSession::groupList()
{
	const std::vector<Chat::GroupInfo> all = _pNode->groups();
	Poco::JSON::Object::Ptr pEvent = Console::makeEvent("groups");
	Poco::JSON::Array::Ptr pList = new Poco::JSON::Array;
	std::ostringstream text;
	if (all.empty()) text << "No groups yet: /group create <name>.";
	for (const Chat::GroupInfo& info: all)
	{
		Poco::JSON::Object::Ptr pGroup = new Poco::JSON::Object(Poco::JSON_PRESERVE_KEY_ORDER);
		pGroup->set("id", info.id);
		pGroup->set("name", info.name);
		pGroup->set("state", info.state);
		pGroup->set("role", info.role);
		pGroup->set("members", static_cast<Poco::UInt64>(info.members));
		pGroup->set("version", static_cast<Poco::UInt64>(info.version));
		if (!info.inviter.isNull()) pGroup->set("inviter", info.inviter.toString());
		pList->add(pGroup);
		if (text.tellp() > 0) text << "\n";
		text << "#" << Console::printable(info.name) << "  " << info.id.substr(0, 8) << "  " << info.state;
		if (!info.role.empty()) text << " (" << info.role << ")";
		if (info.state == "member") text << ", " << info.members << (info.members == 1 ? " member" : " members");
		if (info.state == "invited") text << " by " << nameOf(info.inviter) << ": /group accept " << info.id.substr(0, 8);
		if (_groupConversation == info.id) text << "  <- current";
	}
	pEvent->set("groups", pList);
	_console.print(*pEvent, text.str());
	return CommandInterpreter::Action::CONTINUE;
}


CommandInterpreter::Action ConsoleSession::groupMembers(const std::string& id)
{
	const Chat::GroupInfo info = _pNode->groupMembers(id);
	Poco::JSON::Object::Ptr pEvent = Console::makeEvent("members");
	pEvent->set("group", info.id);
	pEvent->set("name", info.name);
	Poco::JSON::Array::Ptr pList = new Poco::JSON::Array;
	std::ostringstream text;
	text << "#" << Console::printable(info.name) << " (" << info.id.substr(0, 8) << "), " << info.members
		<< (info.members == 1 ? " member:" : " members:");
	for (const Chat::GroupMember& member: info.memberList)
	{
		Poco::JSON::Object::Ptr pMember = new Poco::JSON::Object(Poco::JSON_PRESERVE_KEY_ORDER);
		pMember->set("id", member.id.toString());
		pMember->set("name", member.name);
		pMember->set("role", member.role);
		pMember->set("connected", member.connected);
		pList->add(pMember);
		text << "\n  " << member.name << "  " << member.id.shortString() << "  " << member.role
			<< (member.id == _identity->peerId() ? " (you)" : member.connected ? " (connected)" : "");
	}
	pEvent->set("members", pList);
	_console.print(*pEvent, text.str());
	return CommandInterpreter::Action::CONTINUE;
}


CommandInterpreter::Action ConsoleSession::groupHistory(const std::string& id, unsigned count, std::int64_t before)
{
	if (count == 0 || count > Chat::ChatStore::MAX_PAGE)
	{
		_console.error("the count must be a number from 1 to " + std::to_string(Chat::ChatStore::MAX_PAGE));
		return CommandInterpreter::Action::CONTINUE;
	}
	const std::vector<Chat::GroupMessage> messages = _pNode->groupHistory(id, count, before);
	Poco::JSON::Object::Ptr pEvent = Console::makeEvent("history");
	pEvent->set("group", id);
	if (before > 0) pEvent->set("before", before);
	Poco::JSON::Array::Ptr pList = new Poco::JSON::Array;
	std::ostringstream text;
	if (messages.empty()) text << "No messages in " << groupLabel(id) << " yet.";
	for (const Chat::GroupMessage& message: messages)
	{
		Poco::JSON::Object::Ptr pMessage = new Poco::JSON::Object(Poco::JSON_PRESERVE_KEY_ORDER);
		pMessage->set("id", message.id);
		pMessage->set("from", message.from.toString());
		pMessage->set("seq", static_cast<Poco::UInt64>(message.seq));
		pMessage->set("order", message.sequence);
		pMessage->set("name", message.name);
		pMessage->set("text", message.text);
		pMessage->set("time", message.timestampMs);
		pList->add(pMessage);
		if (text.tellp() > 0) text << "\n";
		text << "[" << clock(message.timestampMs) << "] " << groupLabel(id) << " " << message.name << ": "
			<< Console::printable(message.text);
	}
	pEvent->set("messages", pList);
	_console.print(*pEvent, text.str());
	return CommandInterpreter::Action::CONTINUE;
}


CommandInterpreter::Action ConsoleSession::groupConversation(const std::string& query, const std::string& text)
	/// /msg #group [text]
{
	const auto id = resolveGroup(query);
	if (!id) return CommandInterpreter::Action::CONTINUE;
	_groupConversation = id;
	_conversation.reset();
	if (text.empty())
	{
		Poco::JSON::Object::Ptr pEvent = Console::makeEvent("conversation");
		pEvent->set("group", *id);
		pEvent->set("name", groupLabel(*id).substr(1));
		_console.print(*pEvent, "Now talking in " + groupLabel(*id) + ".");
	}
	else
	{
		sendToGroup(*id, text);
	}
	return CommandInterpreter::Action::CONTINUE;
}


void ConsoleSession::sendToGroup(const std::string& id, const std::string& text)
{
	Chat::GroupMessage message;
	try
	{
		message = _pNode->sendToGroup(id, text);
	}
	catch (const Poco::Exception& exc)
	{
		_console.error("not sent: " + exc.message());
		return;
	}
	Poco::JSON::Object::Ptr pEvent = Console::makeEvent("sent");
	pEvent->set("id", message.id);
	pEvent->set("group", id);
	pEvent->set("seq", static_cast<Poco::UInt64>(message.seq));
	pEvent->set("text", text);
	_console.print(*pEvent, std::string());   // no line in human mode: the typed line says it
}


void ConsoleSession::onGroupMessage(const Chat::GroupMessage& message)
{
	if (!_conversation && !_groupConversation) _groupConversation = message.group;
	const std::string label = groupLabel(message.group);
	Poco::JSON::Object::Ptr pEvent = Console::makeEvent("message");
	pEvent->set("from", message.from.toString());
	pEvent->set("name", message.name);
	pEvent->set("id", message.id);
	pEvent->set("text", message.text);
	pEvent->set("ts", message.timestampMs);
	pEvent->set("group", message.group);
	pEvent->set("groupName", label.substr(1));
	pEvent->set("seq", static_cast<Poco::UInt64>(message.seq));
	_console.print(*pEvent, "[" + clock(message.timestampMs) + "] " + label + " " + message.name + ": " + Console::printable(message.text));
}


void ConsoleSession::onGroupChange(const Chat::GroupChange& change)
{
	const std::string label = "#" + Console::printable(change.name);
	const std::string who = change.peer.isNull() ? std::string() : change.peer == _identity->peerId() ? "you" : nameOf(change.peer);
	const std::string by = change.by.isNull() ? std::string() : change.by == _identity->peerId() ? "you" : nameOf(change.by);
	Poco::JSON::Object::Ptr pEvent = Console::makeEvent("group");
	pEvent->set("kind", change.kind);
	pEvent->set("group", change.group);
	pEvent->set("name", change.name);
	if (!change.peer.isNull())
	{
		pEvent->set("peer", change.peer.toString());
		pEvent->set("peerName", who);
	}
	if (!change.by.isNull()) pEvent->set("by", change.by.toString());
	pEvent->set("version", static_cast<Poco::UInt64>(change.version));
	std::string text = "* " + label + ": ";
	const std::string shortId = change.group.substr(0, 8);
	if (change.kind == "created") text += "group created (" + shortId + "); /group invite " + shortId + " <peer> to invite";
	else if (change.kind == "invited")
		text += who + " (" + change.peer.shortString() + ") invites you: /group accept " + shortId + " to join, /group leave "
			+ shortId + " to decline";
	else if (change.kind == "joined") text += "you joined";
	else if (change.kind == "added") text += who + " joined (added by " + by + ")";
	else if (change.kind == "removed") text += who + " removed by " + by;
	else if (change.kind == "left") text += who + (who == "you" ? " left" : " left the group");
	else if (change.kind == "promoted") text += who + " is now an admin (by " + by + ")";
	else if (change.kind == "renamed") text += "renamed by " + by;
	else if (change.kind == "declined") text += "invitation declined";
	else text += change.kind;
	if ((change.kind == "removed" || change.kind == "left") && change.peer == _identity->peerId() && _groupConversation == change.group)
		_groupConversation.reset();
	_console.print(*pEvent, text);
}


} // namespace CrossChat
