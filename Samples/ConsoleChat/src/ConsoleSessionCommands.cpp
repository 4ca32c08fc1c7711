//
// ConsoleSessionCommands.cpp
//
// Sample: ConsoleChat
// Chat commands of ConsoleSession that shape what is sent (/me, /say), and the words of its
// start-up errors.
//


#include "ConsoleSession.h"
#include "Poco/Exception.h"
#include "Poco/String.h"


namespace CrossChat {


void ConsoleSession::addChatCommands()
{
	// The handlers capture this: the interpreter is a member, so they cannot outlive the session.
	_interpreter.add("/me <action>", "send an action to the current conversation (\"/me waves\" is shown "
		"as \"* alice waves\" in full-screen mode; sent as the text \"/me waves\", which other programs show as it is)",
		[this](const std::string& arguments)
		{
			if (arguments.empty())
			{
				_console.error("usage: /me <action>");
				return CommandInterpreter::Action::CONTINUE;
			}
			return text("/me " + arguments);
		});
	_interpreter.add("/say <text>", "send text to the current conversation as it is, even if it starts "
		"with '/' (so does //text)",
		[this](const std::string& arguments)
		{
			if (arguments.empty())
			{
				_console.error("usage: /say <text>");
				return CommandInterpreter::Action::CONTINUE;
			}
			return text(arguments);
		});
}


std::string ConsoleSession::portProblem(const Poco::Exception& exc) const
{
	const std::string text = exc.displayText();
	const bool inUse = text.find("already in use") != std::string::npos;
	auto endsWithPort = [&text](std::uint16_t port)
	{
		const std::string suffix = ":" + std::to_string(port);
		return port != 0 && text.size() >= suffix.size() && text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
	};
	if (endsWithPort(_settings.port) && _settings.port != _settings.lanPort)
	{
		return "cannot open the chat port " + std::to_string(_settings.port) + " (TCP): "
			+ (inUse ? "it is already in use (by another crosschat?); choose another with --port, or leave --port out for any free port"
				: text);
	}
	if (_settings.lan && endsWithPort(_settings.lanPort))
	{
		return "cannot open the LAN discovery port " + std::to_string(_settings.lanPort) + " (UDP): "
			+ (inUse ? "another program holds it without sharing it; stop that program, or use --lan-port "
				"(every peer of a LAN must use the same) or --no-lan" : text);
	}
	return "cannot open the chat or discovery port: " + text;
}


std::string ConsoleSession::identityAdvice(const std::string& problem)
{
	if (problem.find("no readable private key") != std::string::npos || problem.find("not an Ed25519 key") != std::string::npos
		|| problem.find("no private part") != std::string::npos)
	{
		return ". The file is damaged or is not a crosschat key: restore it from a backup, or move it away "
			"and start again to get a new identity (a new peer ID, which your peers must learn again)";
	}
	return std::string();
}


} // namespace CrossChat
