//
// ConsoleSession.cpp
//
// Sample: ConsoleChat
//


#include "ConsoleSession.h"
#include "CrossChat/EventLoop.h"
#include "CrossChat/FoundationException.h"
#include "Poco/Exception.h"
#include "Poco/Logger.h"
#include "Poco/Util/Application.h"
#include <exception>
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

	// The handlers capture this: the interpreter is a member, so they cannot outlive the session.
	_interpreter.add("/whoami", "show your name and peer ID",
		[this](const std::string&) { return whoami(); });
	_interpreter.add("/quit", "leave crosschat (end of input does the same)",
		[this](const std::string&)
		{
			quit();
			return CommandInterpreter::Action::QUIT;
		});
	_interpreter.setTextHandler([this](const std::string& line) { return text(line); });
}


int ConsoleSession::start()
{
	using Poco::Util::Application;

	_loop.assertInLoopThread();
	try
	{
		sessionLogger().debug("data directory " + _settings.dataDir);
		_identity.emplace(Identity::loadOrCreate(_settings.dataDir));
	}
	catch (const IdentityException& exc)
	{
		_console.fatal("cannot load the identity: " + exc.message());
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

	Poco::JSON::Object::Ptr pEvent = Console::makeEvent("ready");
	pEvent->set("id", id);
	pEvent->set("name", _settings.name);
	pEvent->set("data_dir", _settings.dataDir);
	pEvent->set("version", std::string(CROSSCHAT_VERSION));
	_console.print(*pEvent,
		"CrossChat " CROSSCHAT_VERSION " \u2014 you are " + _settings.name + "\n"
		"Your peer ID: " + id + "\n"
		"Type /help for commands.");
	return Application::EXIT_OK;
}


CommandInterpreter::Action ConsoleSession::handleLine(const std::string& line)
{
	_loop.assertInLoopThread();
	return _interpreter.execute(line);
}


void ConsoleSession::quit()
{
	_loop.assertInLoopThread();
	_console.print(*Console::makeEvent("bye"), "Bye.");
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


CommandInterpreter::Action ConsoleSession::text(const std::string&)
{
	_console.error("no conversation yet: peers arrive with LAN chat");
	return CommandInterpreter::Action::CONTINUE;
}


} // namespace CrossChat
