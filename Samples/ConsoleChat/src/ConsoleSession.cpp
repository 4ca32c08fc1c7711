//
// ConsoleSession.cpp
//
// Sample: ConsoleChat
//


#include "ConsoleSession.h"
#include "CrossChat/Chat/ChatException.h"
#include "CrossChat/Chat/SessionProtocol.h"
#include "CrossChat/EventLoop.h"
#include "CrossChat/FoundationException.h"
#include "CrossChat/Text.h"
#include "Poco/DateTimeFormatter.h"
#include "Poco/Exception.h"
#include "Poco/JSON/Array.h"
#include "Poco/LocalDateTime.h"
#include "Poco/Logger.h"
#include "Poco/Net/NetException.h"
#include "Poco/Net/NetworkInterface.h"
#include "Poco/Path.h"
#include "Poco/NumberParser.h"
#include "Poco/String.h"
#include "Poco/StringTokenizer.h"
#include "Poco/TextConverter.h"
#include "Poco/TextEncoding.h"
#include "Poco/Timestamp.h"
#include "Poco/UTF8Encoding.h"
#include "Poco/Util/Application.h"
#include <algorithm>
#include <clocale>
#include <exception>
#include <langinfo.h>
#include <optional>
#include <sstream>
#include <utility>


namespace CrossChat {


namespace {


Poco::Logger& sessionLogger()
{
	return Poco::Logger::get("CrossChat.ConsoleChat");
}


} // namespace


ConsoleSession::ConsoleSession(EventLoop& loop, Settings settings, std::ostream& out, std::ostream& err):
	_loop(loop),
	_settings(std::move(settings)),
	_console(loop, _settings.json ? Console::Mode::JSON : Console::Mode::HUMAN, out, err),
	_interpreter(_console)
{
	_loop.assertInLoopThread();
	// The terminal's character set, for input that is not UTF-8 (a Latin-1 locale, say).
	if (std::setlocale(LC_CTYPE, "") != nullptr)
	{
		const std::string codeset = nl_langinfo(CODESET);
		if (Poco::icompare(codeset, "UTF-8") != 0 && Poco::icompare(codeset, "ANSI_X3.4-1968") != 0) _inputCharset = codeset;
	}

	// The handlers capture this: the interpreter is a member, so they cannot outlive the session.
	_interpreter.add("/whoami", "show your name and peer ID",
		[this](const std::string&) { return whoami(); });
	_interpreter.add("/nick <name>", "change the name others see, for this run (connected peers are told; "
		"--name or crosschat.name keeps one)",
		[this](const std::string& arguments) { return nick(arguments); });
	_interpreter.add("/peers", "list the peers found on the LAN or met before",
		[this](const std::string&) { return peers(); });
	_interpreter.add("/msg <peer|#group> [text]", "send text to a peer (a name, a peer ID, a unique ID prefix, or a handle: "
		"name@relay, or name on your relay) or a group (#name or #ID prefix) and make it the current conversation; "
		"without text, only switch to it",
		[this](const std::string& arguments) { return msg(arguments); });
	registerContactCommands();
	registerGroupCommands();
	registerHandleCommands();
	_interpreter.add("/netinfo", "show what crosschat knows about the network: local addresses, "
		"chat port, address seen by the relay, NAT mapping type, relay state",
		[this](const std::string&) { return netinfo(); });
	_interpreter.add("/quit", "leave crosschat (end of input does the same)",
		[this](const std::string&)
		{
			quit();
			return CommandInterpreter::Action::QUIT;
		});
	_interpreter.setTextHandler([this](const std::string& line) { return text(line); });
	addChatCommands();
	registerFileCommands();
}


int ConsoleSession::start()
{
	using Poco::Util::Application;

	_loop.assertInLoopThread();
	try
	{
		sessionLogger().debug("data directory " + _settings.dataDir);
		// First: a second crosschat on the same identity must stop here, before it touches
		// the key or announces anything (two nodes with one ID would fight over the relay).
		_dataDirectory.emplace(DataDirectory::open(_settings.dataDir));
		_identity.emplace(Identity::loadOrCreate(_dataDirectory->path()));
	}
	catch (const DataDirectoryInUseException& exc)
	{
		_console.fatal(exc.message() + ", probably another crosschat with the same identity. "
			"Each running crosschat needs its own data directory: start this one with --data-dir DIR "
			"(a new directory gets a new identity)");
		return Application::EXIT_TEMPFAIL;
	}
	catch (const DataDirectoryException& exc)
	{
		_console.fatal("cannot use the data directory: " + exc.message());
		return Application::EXIT_CONFIG;
	}
	catch (const IdentityException& exc)
	{
		_console.fatal("cannot load the identity: " + exc.message() + identityAdvice(exc.message()));
		return Application::EXIT_CONFIG;
	}
	catch (const Poco::FileException& exc)
	{
		_console.fatal("cannot use the data directory " + _settings.dataDir + ": " + exc.displayText());
		return Application::EXIT_CONFIG;
	}
	catch (const Poco::Exception& exc)
	{
		_console.fatal(exc.displayText());
		return Application::EXIT_SOFTWARE;
	}
	catch (const std::exception& exc)
	{
		_console.fatal(exc.what());
		return Application::EXIT_SOFTWARE;
	}

	const std::string id = _identity->peerId().toString();
	sessionLogger().debug("identity loaded, peer ID " + id);

	try
	{
		startNode();
	}
	catch (const Chat::StoreLockedException& exc)
	{
		_console.fatal("the chat database is in use: " + exc.message() + "; is another crosschat running with --data-dir "
			+ _settings.dataDir + "?");
		return Application::EXIT_TEMPFAIL;
	}
	catch (const Chat::StoreException& exc)
	{
		_console.fatal("cannot open the chat database: " + exc.message());
		return Application::EXIT_CONFIG;
	}
	catch (const Poco::Net::NetException& exc)
	{
		_console.fatal(portProblem(exc));
		return Application::EXIT_UNAVAILABLE;
	}
	catch (const Poco::IOException& exc)
	{
		_console.fatal(portProblem(exc));
		return Application::EXIT_UNAVAILABLE;
	}
	catch (const Poco::Exception& exc)
	{
		_console.fatal("cannot start chatting: " + exc.displayText());
		return Application::EXIT_SOFTWARE;
	}

	Poco::JSON::Object::Ptr pEvent = Console::makeEvent("ready");
	pEvent->set("id", id);
	pEvent->set("name", _settings.name);
	pEvent->set("data_dir", _settings.dataDir);
	pEvent->set("version", std::string(CROSSCHAT_VERSION));
	pEvent->set("port", _pNode->port());
	pEvent->set("lan_port", _pNode->lanPort());
	pEvent->set("relay", _settings.relay);
	pEvent->set("history", _pNode->durable());
	std::string lan = _settings.lan
		? "Looking for peers on the LAN (UDP port " + std::to_string(_pNode->lanPort()) + ").\n"
		: "LAN discovery is off.\n";
	_console.print(*pEvent,
		"CrossChat " CROSSCHAT_VERSION " \u2014 you are " + _settings.name + "\n"
		"Your peer ID: " + id + "\n"
		"Chat port: " + std::to_string(_pNode->port()) + ". " + lan +
		"Type /help for commands.");
	_ready = true;
	if (!_settings.relay.empty())
	{
		const std::string state = _relayState;
		_relayState.clear();
		onRelay(state, _relayDetail);   // what happened before "ready"
	}
	return Application::EXIT_OK;
}


void ConsoleSession::startNode()
{
	Chat::ChatNodeConfig config;
	config.name = _settings.name;
	config.listenAddress = Poco::Net::SocketAddress("0.0.0.0", _settings.port);
	config.enableLan = _settings.lan;
	config.lan.port = _settings.lanPort;
	config.lan.announceInterval = _settings.lanInterval;
	config.relayUrl = _settings.relay;
	config.relayCaFile = _settings.relayCa;
	config.relayDirectory = _settings.relayDirectory;
	config.relayToken = _settings.relayToken;
	config.relayMailbox = _settings.mailbox;
	config.portMapping = _settings.portMapping;
	config.holePunching = _settings.holePunching;
	config.relayAnnounceAddresses = _settings.publishAddress;
	config.maxSessions = _settings.limits.maxSessions;
	config.maxSessionsPerAddress = _settings.limits.maxSessionsPerAddress;
	config.maxPendingSessions = _settings.limits.maxPendingSessions;
	config.maxPendingPerAddress = _settings.limits.maxPendingPerAddress;
	config.maxStrangers = _settings.limits.maxStrangers;
	config.maxDialsPerMinute = _settings.limits.maxDialsPerMinute;
	config.maxRoundsPerMinute = _settings.limits.maxRoundsPerMinute;
	config.databasePath = Poco::Path(_dataDirectory->path(), Chat::ChatStore::FILE_NAME).toString();
	config.transfers = _settings.transfers;   // an empty downloads directory means <data dir>/downloads
	_pNode = std::make_unique<Chat::ChatNode>(_loop, *_identity, config);
	_pNode->setPeerHandler([this](Chat::ChatNode::PeerChange change, const Chat::PeerInfo& peer) { onPeer(change, peer); });
	_pNode->setMessageHandler([this](const Chat::ChatMessage& message) { onMessage(message); });
	_pNode->setDeliveredHandler([this](const std::string& id, const PeerId& to) { onDelivered(id, to); });
	_pNode->setRefusedHandler([this](const std::string& id, const PeerId& to, const std::string& code, const std::string& reason) {
		onRefused(id, to, code, reason);
	});
	_pNode->setErrorHandler([this](const std::string& message) { _console.error(message); });
	_pNode->setRelayHandler([this](const std::string& state, const std::string& detail) { onRelay(state, detail); });
	_pNode->setTransferHandler([this](const Chat::TransferInfo& transfer, bool progressOnly) { onTransfer(transfer, progressOnly); });
	startGroups();
	_pNode->setDepositedHandler([this](const std::string& id, const PeerId& to) { onDeposited(id, to); });
	_pNode->start();
}


CommandInterpreter::Action ConsoleSession::handleLine(const std::string& line)
{
	_loop.assertInLoopThread();
	std::string input = line;
	if (!validInput(input)) return CommandInterpreter::Action::CONTINUE;
	return _interpreter.execute(input);
}


bool ConsoleSession::validInput(std::string& line)
	/// Only UTF-8 is ever sent. A line in the terminal's own character set (a Latin-1 locale,
	/// say) is converted; any other malformed line is refused with the position of the problem.
{
	if (Text::isValidUtf8(line)) return true;
	if (!_inputCharset.empty())
	{
		try
		{
			Poco::TextEncoding& from = Poco::TextEncoding::byName(_inputCharset);
			Poco::UTF8Encoding utf8;
			Poco::TextConverter converter(from, utf8);
			std::string converted;
			if (converter.convert(line, converted) == 0 && Text::isValidUtf8(converted))
			{
				line = converted;
				return true;
			}
		}
		catch (const Poco::NotFoundException&)
		{
			// no converter for this character set: refused below
		}
	}
	_console.error("not sent: the line is not valid UTF-8 (byte " + std::to_string(Text::invalidUtf8Offset(line) + 1)
		+ "); set a UTF-8 locale in your terminal (e.g. LANG=C.UTF-8)");
	return false;
}


void ConsoleSession::quit()
{
	_loop.assertInLoopThread();
	const std::size_t waiting = _pNode ? _pNode->pendingMessages() : 0;
	const bool durable = _pNode && _pNode->durable();
	if (_pNode) _pNode->stop();   // no event after "bye"
	Poco::JSON::Object::Ptr pEvent = Console::makeEvent("bye");
	pEvent->set("pending", static_cast<Poco::UInt64>(waiting));
	std::string text = "Bye.";
	if (waiting > 0)
	{
		text = std::to_string(waiting) + (waiting == 1 ? " message is" : " messages are") + " still waiting for delivery; "
			+ (durable ? "they are kept and go out when you are back and the peer can be reached.\n"
				: "without a database they are lost.\n") + text;
	}
	_console.print(*pEvent, text);
}


Console& ConsoleSession::console()
{
	_loop.assertInLoopThread();
	return _console;
}


const CommandInterpreter& ConsoleSession::interpreter() const
{
	_loop.assertInLoopThread();
	return _interpreter;
}


CommandInterpreter::Action ConsoleSession::whoami()
{
	const std::string id = _identity->peerId().toString();
	Poco::JSON::Object::Ptr pEvent = Console::makeEvent("whoami");
	pEvent->set("id", id);
	pEvent->set("name", _settings.name);
	_console.print(*pEvent, "You are " + _settings.name + "\nYour peer ID: " + id);
	return CommandInterpreter::Action::CONTINUE;
}


CommandInterpreter::Action ConsoleSession::nick(const std::string& arguments)
{
	const std::string name = Poco::trim(arguments);
	if (name.empty())
	{
		_console.error("usage: /nick <name>");
		return CommandInterpreter::Action::CONTINUE;
	}
	if (std::any_of(name.begin(), name.end(), [](unsigned char c) { return c < 0x20 || c == 0x7f; }))
	{
		_console.error("a name must not contain control characters");
		return CommandInterpreter::Action::CONTINUE;
	}
	try
	{
		_pNode->setName(name);
	}
	catch (const Poco::Exception& exc)
	{
		_console.error("cannot change the name: " + exc.message());
		return CommandInterpreter::Action::CONTINUE;
	}
	_settings.name = name;
	Poco::JSON::Object::Ptr pEvent = Console::makeEvent("nick");
	pEvent->set("name", name);
	_console.print(*pEvent, "You are now " + name + " (for this run).");
	return CommandInterpreter::Action::CONTINUE;
}


CommandInterpreter::Action ConsoleSession::peers()
{
	Poco::JSON::Object::Ptr pEvent = Console::makeEvent("peers");
	Poco::JSON::Array::Ptr pList = new Poco::JSON::Array;
	std::ostringstream text;
	const auto all = _pNode->peers();
	if (all.empty()) text << "No peers yet.";
	for (const Chat::PeerInfo& peer: all)
	{
		const std::string address = peer.addresses.empty() ? std::string() : peer.addresses.front().toString();
		Poco::JSON::Object::Ptr pPeer = new Poco::JSON::Object(Poco::JSON_PRESERVE_KEY_ORDER);
		pPeer->set("id", peer.id.toString());
		pPeer->set("name", peer.name);
		pPeer->set("alias", peer.alias);
		pPeer->set("relation", std::string(Chat::relationName(peer.relation)));
		pPeer->set("address", address);
		pPeer->set("via", peer.via);
		pPeer->set("online", peer.online);
		pPeer->set("connected", peer.connected);
		pPeer->set("path", peer.path);
		pPeer->set("pending", static_cast<Poco::UInt64>(peer.pending));
		pList->add(pPeer);
		if (text.tellp() > 0) text << "\n";
		text << (peer.name.empty() ? std::string("?") : Console::printable(peer.name)) << "  " << peer.id.shortString()
			<< "  " << (address.empty() ? std::string("-") : address)
			<< "  via " << (peer.via.empty() ? std::string("-") : peer.via)
			<< (peer.connected ? "  connected (" + peer.path + ")" : peer.online ? "  online" : "  offline");
		if (peer.pending > 0) text << "  " << peer.pending << " waiting";
	}
	pEvent->set("peers", pList);
	_console.print(*pEvent, text.str());
	return CommandInterpreter::Action::CONTINUE;
}


CommandInterpreter::Action ConsoleSession::netinfo()
{
	Poco::JSON::Object::Ptr pEvent = Console::makeEvent("netinfo");
	std::ostringstream text;
	Poco::JSON::Array::Ptr pLocal = new Poco::JSON::Array;
	try
	{
		for (const auto& interface: Poco::Net::NetworkInterface::list(true, true))
		{
			if (interface.isLoopback()) continue;
			pLocal->add(interface.address().toString());
		}
	}
	catch (const Poco::Exception& exc)
	{
		sessionLogger().debug("cannot list interfaces: " + exc.displayText());
	}
	pEvent->set("local", pLocal);
	pEvent->set("port", _pNode->port());
	pEvent->set("lan_port", _pNode->lanPort());
	const Relay::NatInfo nat = _pNode->natInfo();
	// The control channel's address (its port is the punch port), else the last one seen.
	const auto reflexive = nat.reflexive ? nat.reflexive : _pNode->reflexiveAddress();
	pEvent->set("reflexive", reflexive ? reflexive->toString() : std::string());
	pEvent->set("nat", std::string(Relay::natTypeName(nat.mapping)));
	Poco::JSON::Object::Ptr pRelay = new Poco::JSON::Object(Poco::JSON_PRESERVE_KEY_ORDER);
	pRelay->set("url", _settings.relay);
	pRelay->set("state", _pNode->relayState());
	pEvent->set("relay", pRelay);
	const Chat::PortMapping mapping = _pNode->portMapping();
	Poco::JSON::Object::Ptr pMapping = new Poco::JSON::Object(Poco::JSON_PRESERVE_KEY_ORDER);
	pMapping->set("active", mapping.active);
	pMapping->set("protocol", mapping.protocol);
	pMapping->set("external", mapping.active ? mapping.external.toString() : std::string());
	pMapping->set("lease_s", static_cast<Poco::Int64>(mapping.lease.count()));
	pMapping->set("error", mapping.error);
	pEvent->set("port_mapping", pMapping);
	text << "Local addresses: ";
	for (std::size_t i = 0; i < pLocal->size(); ++i) text << (i ? ", " : "") << pLocal->getElement<std::string>(static_cast<unsigned>(i));
	if (pLocal->size() == 0) text << "-";
	text << "\nChat port: " << _pNode->port() << ", LAN discovery port: " << _pNode->lanPort()
		<< "\nRelay: " << (_settings.relay.empty() ? std::string("none") : _settings.relay + " (" + _pNode->relayState() + ")")
		<< "\nSeen by the relay as: " << (reflexive ? reflexive->toString() : std::string("-"))
		<< "\nNAT mapping: " << Relay::natTypeName(nat.mapping)
		<< "\nPort mapping: " << (mapping.active ? mapping.external.toString() + " (" + mapping.protocol + ")" : "none (" + mapping.error + ")");
	_console.print(*pEvent, text.str());
	return CommandInterpreter::Action::CONTINUE;
}


CommandInterpreter::Action ConsoleSession::msg(const std::string& arguments)
{
	const std::string::size_type space = arguments.find(' ');
	const std::string who = arguments.substr(0, space);
	const std::string text = space == std::string::npos ? std::string() : arguments.substr(space + 1);
	if (who.empty())
	{
		_console.error("usage: /msg <peer|#group> [text]");
		return CommandInterpreter::Action::CONTINUE;
	}
	if (who[0] == '#') return groupConversation(who, text);
	if (msgToHandle(who, text)) return CommandInterpreter::Action::CONTINUE;
	const std::optional<PeerId> peer = resolvePeer(who);
	if (!peer) return CommandInterpreter::Action::CONTINUE;
	_conversation = peer;
	_groupConversation.reset();
	if (text.empty())
	{
		Poco::JSON::Object::Ptr pEvent = Console::makeEvent("conversation");
		pEvent->set("id", peer->toString());
		pEvent->set("name", nameOf(*peer));
		_console.print(*pEvent, "Now talking to " + nameOf(*peer) + ".");
	}
	else
	{
		sendTo(*peer, text);
	}
	return CommandInterpreter::Action::CONTINUE;
}


CommandInterpreter::Action ConsoleSession::text(const std::string& line)
{
	if (_groupConversation)
	{
		sendToGroup(*_groupConversation, line);
		return CommandInterpreter::Action::CONTINUE;
	}
	if (!_conversation)
	{
		_console.error("no current conversation: use /msg <peer> <text> first (/peers lists peers)");
		return CommandInterpreter::Action::CONTINUE;
	}
	sendTo(*_conversation, line);
	return CommandInterpreter::Action::CONTINUE;
}


std::optional<PeerId> ConsoleSession::resolvePeer(const std::string& query)
{
	const std::vector<PeerId> matches = _pNode->resolve(query);
	if (matches.size() == 1) return matches.front();
	if (matches.empty())
	{
		std::string compact;
		for (char c: query) if (c != '-') compact += c;
		try
		{
			if (compact.size() >= 50) PeerId::parse(query);   // as long as an ID: say what is wrong with it
			_console.error("no peer matches '" + Console::printable(query) + "'; /peers lists them, or give a full peer ID");
		}
		catch (const InvalidPeerIdException& exc)
		{
			_console.error("'" + Console::printable(query) + "' is not a valid peer ID (" + exc.message() + "); copy it again from the peer's \"Your peer ID\" line");
		}
	}
	else
	{
		std::string names;
		for (const PeerId& id: matches) names += (names.empty() ? "" : ", ") + nameOf(id) + " " + id.shortString();
		_console.error("'" + Console::printable(query) + "' matches several peers (" + names + "); type more of the ID");
	}
	return std::nullopt;
}


void ConsoleSession::sendTo(const PeerId& peer, const std::string& text)
{
	if (peer == _identity->peerId())
	{
		_console.error("that is you: pick another peer");
		return;
	}
	if (text.size() > Chat::SessionProtocol::MAX_TEXT_SIZE)
	{
		_console.error("message too long: " + std::to_string(text.size()) + " bytes, the limit is "
			+ std::to_string(Chat::SessionProtocol::MAX_TEXT_SIZE));
		return;
	}
	std::string id;
	try
	{
		id = _pNode->send(peer, text);
	}
	catch (const Poco::InvalidArgumentException& exc)
	{
		_console.error("not sent: " + exc.message());
		return;
	}
	Poco::JSON::Object::Ptr pEvent = Console::makeEvent("sent");
	pEvent->set("id", id);
	pEvent->set("to", peer.toString());
	pEvent->set("text", text);
	_console.print(*pEvent, std::string());   // no line in human mode: the typed line says it
	// Remembered until the receipt, which then says which message it confirms (bounded).
	_sentTexts.emplace_back(id, text);
	if (_sentTexts.size() > MAX_SENT_TEXTS) _sentTexts.pop_front();
}


std::string ConsoleSession::nameOf(const PeerId& peer) const
{
	const auto info = _pNode->peer(peer);
	if (!info) return peer.shortString();
	if (!info->alias.empty()) return Console::printable(info->alias);
	return !info->name.empty() ? Console::printable(info->name) : peer.shortString();
}


void ConsoleSession::onPeer(Chat::ChatNode::PeerChange change, const Chat::PeerInfo& peer)
{
	using Change = Chat::ChatNode::PeerChange;
	if (change == Change::PATH)
	{
		Poco::JSON::Object::Ptr pEvent = Console::makeEvent("path");
		pEvent->set("id", peer.id.toString());
		pEvent->set("name", peer.name);
		pEvent->set("path", peer.path);
		_console.print(*pEvent, "* now talking to " + Console::printable(peer.name) + " over a " + peer.path + " path");
		return;
	}
	static const char* const STATES[] = {"found", "updated", "lost", "connected", "disconnected"};
	const char* state = STATES[static_cast<int>(change)];
	Poco::JSON::Object::Ptr pEvent = Console::makeEvent("peer");
	pEvent->set("state", std::string(state));
	pEvent->set("id", peer.id.toString());
	pEvent->set("name", peer.name);
	pEvent->set("via", peer.via);
	Poco::JSON::Array::Ptr pAddresses = new Poco::JSON::Array;
	for (const auto& address: peer.addresses) pAddresses->add(address.toString());
	pEvent->set("addresses", pAddresses);
	pEvent->set("alias", peer.alias);
	pEvent->set("relation", std::string(Chat::relationName(peer.relation)));
	if (change == Change::CONNECTED) pEvent->set("path", peer.path);
	const std::string who = (peer.name.empty() ? std::string("?") : Console::printable(peer.name)) + " (" + peer.id.shortString() + ")";
	// The name each peer was last shown with, to say when one renames itself (/nick); bounded
	// (forgetting only means a rename goes unmentioned).
	if (_shownNames.size() >= MAX_SHOWN_NAMES) _shownNames.clear();
	std::string& shown = _shownNames[peer.id];
	const std::string previous = shown;
	if (!peer.name.empty()) shown = peer.name;
	std::string text;
	switch (change)
	{
	case Change::FOUND:
		text = "* " + who + " is here (" + peer.via + (peer.addresses.empty() ? std::string() : ", " + peer.addresses.front().toString()) + ")";
		break;
	case Change::LOST:
		text = "* " + who + " left";
		break;
	case Change::CONNECTED:
		text = "* connected to " + who + " (" + peer.path + ")";
		break;
	case Change::DISCONNECTED:
		text = "* disconnected from " + who;
		break;
	case Change::UPDATED:
		if (!previous.empty() && !peer.name.empty() && previous != peer.name)
			text = "* " + Console::printable(previous) + " (" + peer.id.shortString() + ") is now known as " + Console::printable(peer.name);
		else if (!_console.isJson())
			return;   // addresses or relation: not worth a line for people
		break;
	case Change::PATH:
		break;   // handled above
	}
	_console.print(*pEvent, text);
}


void ConsoleSession::onMessage(const Chat::ChatMessage& message)
{
	if (!_conversation && !_groupConversation) _conversation = message.from;   // answering needs no /msg
	Poco::JSON::Object::Ptr pEvent = Console::makeEvent("message");
	pEvent->set("from", message.from.toString());
	pEvent->set("name", message.name);
	pEvent->set("id", message.id);
	pEvent->set("text", message.text);
	pEvent->set("path", message.path);
	pEvent->set("ts", message.timestampMs);
	pEvent->set("request", message.request);
	const Poco::LocalDateTime when(Poco::Timestamp(static_cast<Poco::Timestamp::TimeVal>(message.timestampMs) * 1000));
	const std::string who = message.name.empty() ? message.from.shortString() : Console::printable(message.name);
	std::string text = "[" + Poco::DateTimeFormatter::format(when, "%H:%M:%S") + "] " + (message.request ? "(request) " : "")
		+ who + ": " + Console::printable(message.text) + (message.path == "mailbox" ? "  (from the relay mailbox)" : "");
	if (message.request && _requestHinted.insert(message.from).second)
	{
		text += "\n  " + who + " (" + message.from.shortString() + ") is not a contact: reply or /accept "
			+ message.from.shortString() + " to accept, /block " + message.from.shortString() + " to refuse its messages";
	}
	_console.print(*pEvent, text);
}


void ConsoleSession::onRelay(const std::string& state, const std::string& detail)
{
	// JSON readers get every update (the detail says when the next attempt is); people get
	// a line when the state changes.
	const bool changed = state != _relayState;
	_relayState = state;
	_relayDetail = detail;
	// People get one line per change of state; the retries in between are counted and
	// summarised when the relay is back (each one is logged under --verbose).
	if (state == "offline") ++_relayFailures;
	if (!_ready || (!changed && !_console.isJson())) return;
	Poco::JSON::Object::Ptr pEvent = Console::makeEvent("relay");
	pEvent->set("state", state);
	pEvent->set("url", _settings.relay);
	pEvent->set("detail", detail);
	std::string text = "* " + (detail.empty() ? "relay " + _settings.relay + ": " + state : detail);
	if (state == "online")
	{
		if (_relayFailures > 1) text += " (after " + std::to_string(_relayFailures) + " failed attempts)";
		_relayFailures = 0;
	}
	_console.print(*pEvent, text);
	const std::string refusal = _pNode ? _pNode->relayRefusal() : std::string();
	if (!refusal.empty())
	{
		// A private relay refused our token: an error, not a passing state (nothing retries).
		Poco::JSON::Object::Ptr pError = Console::makeEvent("error");
		pError->set("code", refusal);
		pError->set("message", detail);
		_console.print(*pError, "error: the relay refused the access token (" + refusal + "): nothing is retried until you fix it and restart");
	}
}


void ConsoleSession::onRefused(const std::string& messageId, const PeerId& to, const std::string& code, const std::string& reason)
{
	Poco::JSON::Object::Ptr pEvent = Console::makeEvent("error");
	pEvent->set("id", messageId);
	pEvent->set("to", to.toString());
	pEvent->set("code", code);
	pEvent->set("message", "refused by " + nameOf(to) + ": " + Console::printable(reason));
	_console.print(*pEvent, "  \u2717 refused by " + nameOf(to) + " (" + Console::printable(code) + "): " + Console::printable(reason));
}


void ConsoleSession::onDelivered(const std::string& messageId, const PeerId& to)
{
	Poco::JSON::Object::Ptr pEvent = Console::makeEvent("delivered");
	pEvent->set("id", messageId);
	pEvent->set("to", to.toString());
	std::string quote;
	for (auto it = _sentTexts.begin(); it != _sentTexts.end(); ++it)
	{
		if (it->first != messageId) continue;
		quote = ": " + Text::quoted(it->second, 40);
		_sentTexts.erase(it);
		break;
	}
	_console.print(*pEvent, "  \u2713 delivered to " + nameOf(to) + quote);
}


} // namespace CrossChat


namespace CrossChat {


void ConsoleSession::registerContactCommands()
{
	_interpreter.add("/accept <peer>", "make a peer a contact without writing to it (the connection ladder then works "
		"for it); also unblocks it",
		[this](const std::string& arguments) { return accept(arguments); });
	_interpreter.add("/block <peer>", "refuse a peer's sessions and messages from now on",
		[this](const std::string& arguments) { return block(arguments); });
	_interpreter.add("/contacts", "list your contacts and blocked peers: alias, ID, last seen, path",
		[this](const std::string&) { return contacts(); });
	_interpreter.add("/history <peer> [count] [--before SEQ]", "show the last messages of a conversation (default 20, "
		"at most 1000), from the chat database; with --before, those stored before the message with that seq (page back)",
		[this](const std::string& arguments) { return history(arguments); });
	_interpreter.add("/search <words>", "search every conversation for messages with all the words (word* matches a prefix)",
		[this](const std::string& arguments) { return search(arguments); });
	_interpreter.add("/alias <peer> [name]", "give a peer a local name that wins over the name it gives itself; "
		"without a name, remove it",
		[this](const std::string& arguments) { return alias(arguments); });
}


void ConsoleSession::reportContact(const PeerId& peer, const std::string& what)
{
	const auto info = _pNode->peer(peer);
	Poco::JSON::Object::Ptr pEvent = Console::makeEvent("contact");
	pEvent->set("id", peer.toString());
	pEvent->set("name", info ? info->name : std::string());
	pEvent->set("alias", info ? info->alias : std::string());
	pEvent->set("relation", std::string(Chat::relationName(info ? info->relation : Chat::Relation::STRANGER)));
	_console.print(*pEvent, "* " + nameOf(peer) + " (" + peer.shortString() + ") " + what);
}


CommandInterpreter::Action ConsoleSession::accept(const std::string& arguments)
{
	if (arguments.empty())
	{
		_console.error("usage: /accept <peer>");
		return CommandInterpreter::Action::CONTINUE;
	}
	const std::optional<PeerId> peer = resolvePeer(arguments);
	if (!peer) return CommandInterpreter::Action::CONTINUE;
	try
	{
		_pNode->accept(*peer);
		reportContact(*peer, "is a contact");
	}
	catch (const Poco::InvalidArgumentException& exc)
	{
		_console.error(exc.message());
	}
	return CommandInterpreter::Action::CONTINUE;
}


CommandInterpreter::Action ConsoleSession::block(const std::string& arguments)
{
	if (arguments.empty())
	{
		_console.error("usage: /block <peer>");
		return CommandInterpreter::Action::CONTINUE;
	}
	const std::optional<PeerId> peer = resolvePeer(arguments);
	if (!peer) return CommandInterpreter::Action::CONTINUE;
	try
	{
		_pNode->block(*peer);
		if (_conversation == peer) _conversation.reset();
		reportContact(*peer, "is blocked: its messages are refused (/accept undoes it)");
	}
	catch (const Poco::InvalidArgumentException& exc)
	{
		_console.error(exc.message());
	}
	return CommandInterpreter::Action::CONTINUE;
}


CommandInterpreter::Action ConsoleSession::alias(const std::string& arguments)
{
	const std::string::size_type space = arguments.find(' ');
	const std::string who = arguments.substr(0, space);
	const std::string name = space == std::string::npos ? std::string() : Poco::trim(arguments.substr(space + 1));
	if (who.empty())
	{
		_console.error("usage: /alias <peer> [name]");
		return CommandInterpreter::Action::CONTINUE;
	}
	const std::optional<PeerId> peer = resolvePeer(who);
	if (!peer) return CommandInterpreter::Action::CONTINUE;
	try
	{
		_pNode->setAlias(*peer, name);
		reportContact(*peer, name.empty() ? "has no alias" : "is now called " + Console::printable(name) + " here");
	}
	catch (const Poco::Exception& exc)
	{
		_console.error("cannot set the alias: " + exc.message());
	}
	return CommandInterpreter::Action::CONTINUE;
}


CommandInterpreter::Action ConsoleSession::contacts()
{
	Poco::JSON::Object::Ptr pEvent = Console::makeEvent("contacts");
	Poco::JSON::Array::Ptr pList = new Poco::JSON::Array;
	std::ostringstream text;
	const auto all = _pNode->contacts();
	if (all.empty()) text << "No contacts yet: /msg someone, or /accept a peer.";
	for (const Chat::PeerInfo& peer: all)
	{
		Poco::JSON::Object::Ptr pPeer = new Poco::JSON::Object(Poco::JSON_PRESERVE_KEY_ORDER);
		pPeer->set("id", peer.id.toString());
		pPeer->set("alias", peer.alias);
		pPeer->set("name", peer.name);
		pPeer->set("relation", std::string(Chat::relationName(peer.relation)));
		pPeer->set("last_seen_ms", peer.lastSeenMs);
		pPeer->set("connected", peer.connected);
		pPeer->set("path", peer.path);
		pPeer->set("pending", static_cast<Poco::UInt64>(peer.pending));
		pList->add(pPeer);
		if (text.tellp() > 0) text << "\n";
		const std::string shown = !peer.alias.empty() ? Console::printable(peer.alias)
			: !peer.name.empty() ? Console::printable(peer.name) : std::string("?");
		std::string seen = "never seen";
		if (peer.lastSeenMs > 0)
		{
			const Poco::LocalDateTime when(Poco::Timestamp(static_cast<Poco::Timestamp::TimeVal>(peer.lastSeenMs) * 1000));
			seen = "last seen " + Poco::DateTimeFormatter::format(when, "%Y-%m-%d %H:%M");
		}
		text << shown << "  " << peer.id.shortString() << "  " << Chat::relationName(peer.relation) << "  "
			<< (peer.connected ? "connected (" + peer.path + ")" : seen);
		if (!peer.alias.empty() && !peer.name.empty() && peer.alias != peer.name) text << "  calls itself " << Console::printable(peer.name);
		if (peer.pending > 0) text << "  " << peer.pending << " waiting";
	}
	pEvent->set("contacts", pList);
	_console.print(*pEvent, text.str());
	return CommandInterpreter::Action::CONTINUE;
}


} // namespace CrossChat


namespace CrossChat {


namespace {


std::string formatTime(std::int64_t ms)
{
	const Poco::LocalDateTime when(Poco::Timestamp(static_cast<Poco::Timestamp::TimeVal>(ms) * 1000));
	return Poco::DateTimeFormatter::format(when, "%Y-%m-%d %H:%M");
}


} // namespace


bool ConsoleSession::takeBefore(std::string& arguments, const std::string& what, std::int64_t& before)
{
	const Poco::StringTokenizer words(arguments, " ", Poco::StringTokenizer::TOK_IGNORE_EMPTY);
	std::vector<std::string> rest(words.begin(), words.end());
	before = 0;
	const auto option = std::find(rest.begin(), rest.end(), "--before");
	if (option == rest.end()) return true;
	Poco::Int64 position = 0;
	if (option + 1 == rest.end() || !Poco::NumberParser::tryParse64(*(option + 1), position) || position <= 0)
	{
		_console.error("--before needs a message's " + what + " (a positive number, as the history events give it in --json)");
		return false;
	}
	before = position;
	rest.erase(option, option + 2);
	arguments = Poco::cat(std::string(" "), rest.begin(), rest.end());
	return true;
}


CommandInterpreter::Action ConsoleSession::history(const std::string& arguments)
{
	std::string remaining = arguments;
	std::int64_t before = 0;
	if (!takeBefore(remaining, "seq", before)) return CommandInterpreter::Action::CONTINUE;
	const Poco::StringTokenizer words(remaining, " ", Poco::StringTokenizer::TOK_IGNORE_EMPTY);
	const std::vector<std::string> rest(words.begin(), words.end());
	if (rest.empty() || rest.size() > 2)
	{
		_console.error("usage: /history <peer> [count] [--before SEQ]");
		return CommandInterpreter::Action::CONTINUE;
	}
	const std::string& who = rest[0];
	unsigned count = 20;
	if (rest.size() == 2 && (!Poco::NumberParser::tryParseUnsigned(rest[1], count) || count == 0
		|| count > Chat::ChatStore::MAX_PAGE))
	{
		_console.error("the count must be a number from 1 to " + std::to_string(Chat::ChatStore::MAX_PAGE));
		return CommandInterpreter::Action::CONTINUE;
	}
	const std::optional<PeerId> peer = resolvePeer(who);
	if (!peer) return CommandInterpreter::Action::CONTINUE;
	std::vector<Chat::StoredMessage> messages;
	try
	{
		messages = _pNode->history(*peer, count, before);
	}
	catch (const Poco::Exception& exc)
	{
		_console.error("cannot read the history: " + exc.message());
		return CommandInterpreter::Action::CONTINUE;
	}
	Poco::JSON::Object::Ptr pEvent = Console::makeEvent("history");
	pEvent->set("peer", peer->toString());
	if (before > 0) pEvent->set("before", before);
	Poco::JSON::Array::Ptr pList = new Poco::JSON::Array;
	std::ostringstream text;
	if (messages.empty()) text << (before > 0 ? "No older messages with " : "No messages with ") << nameOf(*peer) << " yet.";
	const std::string me = _identity->peerId().toString();
	for (const Chat::StoredMessage& message: messages)
	{
		const bool outgoing = message.direction == Chat::MessageDirection::OUTGOING;
		Poco::JSON::Object::Ptr pMessage = new Poco::JSON::Object(Poco::JSON_PRESERVE_KEY_ORDER);
		pMessage->set("id", message.id);
		pMessage->set("seq", message.sequence);
		pMessage->set("from", outgoing ? me : peer->toString());
		pMessage->set("text", message.text);
		pMessage->set("time", message.timestampMs);
		pMessage->set("state", std::string(Chat::messageStateName(message.state)));
		if (!message.path.empty()) pMessage->set("path", message.path);
		if (!message.reason.empty()) pMessage->set("reason", message.reason);
		pList->add(pMessage);
		if (text.tellp() > 0) text << "\n";
		text << "[" << formatTime(message.timestampMs) << "] " << (outgoing ? _settings.name : nameOf(*peer)) << ": "
			<< Console::printable(message.text);
		if (outgoing && message.state != Chat::MessageState::DELIVERED)
			text << "  (" << Chat::messageStateName(message.state)
				<< (message.reason.empty() ? std::string() : ": " + Console::printable(message.reason)) << ")";
	}
	pEvent->set("messages", pList);
	_console.print(*pEvent, text.str());
	return CommandInterpreter::Action::CONTINUE;
}


CommandInterpreter::Action ConsoleSession::search(const std::string& arguments)
{
	if (Poco::trim(arguments).empty())
	{
		_console.error("usage: /search <words>");
		return CommandInterpreter::Action::CONTINUE;
	}
	std::vector<Chat::SearchResult> results;
	try
	{
		results = _pNode->search(arguments, 50);
	}
	catch (const Poco::Exception& exc)
	{
		_console.error("cannot search: " + exc.message());
		return CommandInterpreter::Action::CONTINUE;
	}
	Poco::JSON::Object::Ptr pEvent = Console::makeEvent("search");
	pEvent->set("words", arguments);
	Poco::JSON::Array::Ptr pList = new Poco::JSON::Array;
	std::ostringstream text;
	if (results.empty()) text << "Nothing found.";
	const std::string me = _identity->peerId().toString();
	for (const Chat::SearchResult& result: results)
	{
		const bool outgoing = result.direction == Chat::MessageDirection::OUTGOING;
		Poco::JSON::Object::Ptr pResult = new Poco::JSON::Object(Poco::JSON_PRESERVE_KEY_ORDER);
		pResult->set("peer", result.peer.toString());
		pResult->set("id", result.id);
		pResult->set("from", outgoing ? me : result.peer.toString());
		pResult->set("time", result.timestampMs);
		pResult->set("state", std::string(Chat::messageStateName(result.state)));
		pResult->set("snippet", result.snippet);
		pList->add(pResult);
		if (text.tellp() > 0) text << "\n";
		text << "[" << formatTime(result.timestampMs) << "] " << (outgoing ? "you to " : "") << nameOf(result.peer) << ": "
			<< Console::printable(result.snippet);
	}
	pEvent->set("results", pList);
	_console.print(*pEvent, text.str());
	return CommandInterpreter::Action::CONTINUE;
}


} // namespace CrossChat
