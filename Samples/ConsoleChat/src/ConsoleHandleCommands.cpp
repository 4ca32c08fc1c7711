//
// ConsoleHandleCommands.cpp
//
// Sample: ConsoleChat
// Commands of ConsoleSession for handles on the relay (/handle, /whois, /unpin, /msg to a
// handle) and the events of the relay mailbox.
//


#include "ConsoleSession.h"
#include "Poco/Exception.h"
#include "Poco/String.h"
#include "Poco/URI.h"


namespace CrossChat {


void ConsoleSession::registerHandleCommands()
{
	// The handlers capture this: the interpreter is a member, so they cannot outlive the session.
	_interpreter.add("/handle <name>", "claim a short name (3-32 characters: a-z, 0-9, - and _, a letter first) on your relay, "
		"so that others can write to name@relay; your announces keep it; /handle --release gives it up",
		[this](const std::string& arguments) { return handle(Poco::trim(arguments)); });
	_interpreter.add("/whois <handle>", "show the peer ID a handle (name or name@relay[:port]) is bound to, and whether it is the "
		"one you pinned",
		[this](const std::string& arguments) { return whois(Poco::trim(arguments)); });
	_interpreter.add("/unpin <handle>", "forget the ID pinned for a handle (after you checked its new ID with its owner): the "
		"next lookup pins what the relay says",
		[this](const std::string& arguments) { return unpin(Poco::trim(arguments)); });
}


CommandInterpreter::Action ConsoleSession::handle(const std::string& name)
{
	if (name.empty())
	{
		_console.error("usage: /handle <name>, or /handle --release");
		return CommandInterpreter::Action::CONTINUE;
	}
	if (_settings.relay.empty())
	{
		_console.error("handles live on a relay: start crosschat with --relay http://host:port");
		return CommandInterpreter::Action::CONTINUE;
	}
	try
	{
		if (name == "--release")
		{
			_pNode->releaseHandle([this](const std::string& error) {
				Poco::JSON::Object::Ptr pEvent = Console::makeEvent("handle");
				pEvent->set("action", "release");
				if (!error.empty())
				{
					_console.error("could not release your handle: " + Console::printable(error));
					return;
				}
				_console.print(*pEvent, "* your handle on " + _settings.relay + " is released");
			});
			return CommandInterpreter::Action::CONTINUE;
		}
		const std::string lower = Poco::toLower(name);
		_pNode->claimHandle(lower, [this, lower](const std::string& error) {
			if (!error.empty())
			{
				_console.error("handle " + Console::printable(lower) + ": " + Console::printable(error));
				return;
			}
			Poco::JSON::Object::Ptr pEvent = Console::makeEvent("handle");
			pEvent->set("action", "claim");
			pEvent->set("handle", lower);
			pEvent->set("relay", _settings.relay);
			_console.print(*pEvent, "* you are now " + lower + " on " + _settings.relay + " (others write /msg " + lower
				+ "@" + relayHost() + ")");
		});
	}
	catch (const Poco::Exception& exc)
	{
		_console.error(exc.message());
	}
	return CommandInterpreter::Action::CONTINUE;
}


std::string ConsoleSession::relayHost() const
{
	try
	{
		const Poco::URI url(_settings.relay);
		return url.getHost() + (url.getPort() == 80 ? std::string() : ":" + std::to_string(url.getPort()));
	}
	catch (const Poco::Exception&)
	{
		return _settings.relay;
	}
}


CommandInterpreter::Action ConsoleSession::whois(const std::string& spec)
{
	if (spec.empty())
	{
		_console.error("usage: /whois <handle> (name, or name@relay[:port])");
		return CommandInterpreter::Action::CONTINUE;
	}
	lookupHandle(spec, [this](const Chat::ChatNode::HandleAnswer&, const std::optional<PeerId>& peer) {
		if (!peer) return;
		const auto info = _pNode->peer(*peer);
		if (info && !info->name.empty()) _console.print(*Console::makeEvent("note"), "  known here as " + nameOf(*peer));
	});
	return CommandInterpreter::Action::CONTINUE;
}


CommandInterpreter::Action ConsoleSession::unpin(const std::string& spec)
{
	try
	{
		const bool forgotten = _pNode->unpinHandle(spec);
		Poco::JSON::Object::Ptr pEvent = Console::makeEvent("handle");
		pEvent->set("action", "unpin");
		pEvent->set("handle", Poco::toLower(spec));
		pEvent->set("forgotten", forgotten);
		_console.print(*pEvent, forgotten ? "* " + Console::printable(spec) + " is no longer pinned: the next lookup pins what the relay says"
			: "* nothing was pinned for " + Console::printable(spec));
	}
	catch (const Poco::Exception& exc)
	{
		_console.error(exc.message());
	}
	return CommandInterpreter::Action::CONTINUE;
}


void ConsoleSession::lookupHandle(const std::string& spec,
	std::function<void(const Chat::ChatNode::HandleAnswer& answer, const std::optional<PeerId>& peer)> then, bool forMsg)
	/// Asks the relay, reports the answer (a loud warning when the handle now names another key
	/// than the pinned one), and passes on the ID to use: the pinned one, or the relay's on first
	/// use; none if the key changed, nobody holds the handle, or the lookup failed without a pin.
{
	try
	{
		_pNode->lookupHandle(spec, [this, spec, then, forMsg](const Chat::ChatNode::HandleAnswer& answer) {
			Poco::JSON::Object::Ptr pEvent = Console::makeEvent("whois");
			pEvent->set("handle", answer.handle);
			pEvent->set("relay", answer.relay);
			if (answer.id) pEvent->set("id", answer.id->toString());
			if (answer.pinned) pEvent->set("pinned", answer.pinned->toString());
			pEvent->set("first_use", answer.firstUse);
			pEvent->set("key_changed", answer.keyChanged);
			const std::string name = answer.handle + "@" + answer.relay;
			std::optional<PeerId> use;
			if (!answer.error.empty())
			{
				pEvent->set("error", answer.error);
				if (answer.pinned)
				{
					use = answer.pinned;
					_console.print(*pEvent, "* " + name + ": the relay did not answer (" + Console::printable(answer.error)
						+ "); using the pinned ID " + answer.pinned->toString());
				}
				else
				{
					_console.error("cannot look up " + name + ": " + Console::printable(answer.error));
				}
			}
			else if (!answer.id)
			{
				const bool qualified = !forMsg || spec.find('@') != std::string::npos;
				_console.error("nobody holds the handle " + name + (answer.pinned ? " (it was pinned to " + answer.pinned->toString()
					+ "; that peer may have let it lapse: write to its ID)" : "")
					+ (qualified ? std::string() : "; no peer here matches '" + Console::printable(spec) + "' either (/peers lists them)"));
			}
			else if (answer.keyChanged)
			{
				pEvent->set("warning", "handle_key_changed");
				_console.print(*pEvent,
					"!!! WARNING: " + name + " NOW NAMES ANOTHER KEY !!!\n"
					"!!! pinned: " + answer.pinned->toString() + "\n"
					"!!! relay says: " + answer.id->toString() + "\n"
					"!!! The handle may have been released and claimed by someone else, or the relay lies. Nothing was sent.\n"
					"!!! Check the new ID with its owner another way; then /unpin " + name + " to accept it.");
			}
			else
			{
				use = answer.id;
				_console.print(*pEvent, "* " + name + " is " + answer.id->toString()
					+ (answer.firstUse ? " (pinned now: first use)" : " (as pinned)"));
			}
			if (then) then(answer, use);
		});
	}
	catch (const Poco::Exception& exc)
	{
		_console.error(exc.message());
	}
}


bool ConsoleSession::msgToHandle(const std::string& who, const std::string& text)
	/// /msg name@relay, or /msg name that matches no local peer while a relay is configured.
	/// False if who is not to be taken as a handle.
{
	const bool qualified = who.find('@') != std::string::npos;
	if (!Chat::ChatNode::parseHandleSpec(who)) return false;
	if (!qualified && (_settings.relay.empty() || !_pNode->resolve(who).empty())) return false;
	lookupHandle(who, [this, text](const Chat::ChatNode::HandleAnswer&, const std::optional<PeerId>& peer) {
		if (!peer) return;
		_conversation = peer;
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
	}, true);
	return true;
}


void ConsoleSession::onDeposited(const std::string& messageId, const PeerId& to)
{
	Poco::JSON::Object::Ptr pEvent = Console::makeEvent("deposited");
	pEvent->set("id", messageId);
	pEvent->set("to", to.toString());
	_console.print(*pEvent, "  \u2709 " + nameOf(to) + " is offline: left in its relay mailbox (sealed; it is delivered when "
		+ nameOf(to) + " comes online)");
}


} // namespace CrossChat
