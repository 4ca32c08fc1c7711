//
// CommandInterpreter.cpp
//
// Sample: ConsoleChat
//


#include "CommandInterpreter.h"
#include "Console.h"
#include "Poco/Exception.h"
#include "Poco/JSON/Array.h"
#include "Poco/Logger.h"
#include "Poco/String.h"
#include <algorithm>
#include <cctype>
#include <exception>
#include <iomanip>
#include <sstream>


namespace CrossChat {


namespace {


bool isBlank(char c)
{
	return std::isspace(static_cast<unsigned char>(c)) != 0;
}


std::string trim(const std::string& text)
{
	std::size_t begin = 0;
	std::size_t end = text.size();
	while (begin < end && isBlank(text[begin])) ++begin;
	while (end > begin && isBlank(text[end - 1])) --end;
	return text.substr(begin, end - begin);
}


} // namespace


CommandInterpreter::CommandInterpreter(Console& console):
	_console(console)
{
	add("/help", "list the commands", [this](const std::string&) { return help(); });
}


void CommandInterpreter::add(const std::string& usage, const std::string& description, Handler handler)
{
	const Line parsed = parse(usage);
	if (parsed.kind != Line::Kind::COMMAND || parsed.command.size() < 2)
		throw Poco::InvalidArgumentException("command usage must start with /name", usage);
	if (_index.count(parsed.command) != 0)
		throw Poco::InvalidArgumentException("duplicate command", parsed.command);

	Command command;
	command.name = parsed.command;
	command.usage = trim(usage);
	command.description = description;
	command.takesArguments = !parsed.arguments.empty();
	command.handler = std::move(handler);
	_index[command.name] = _commands.size();
	_commands.push_back(std::move(command));
}


void CommandInterpreter::setTextHandler(Handler handler)
{
	_textHandler = std::move(handler);
}


CommandInterpreter::Action CommandInterpreter::execute(const std::string& line)
{
	const Line parsed = parse(line);
	switch (parsed.kind)
	{
	case Line::Kind::EMPTY:
		return Action::CONTINUE;
	case Line::Kind::TEXT:
		if (!_textHandler)
		{
			_console.error("text is not accepted here; type /help");
			return Action::CONTINUE;
		}
		return run(_textHandler, parsed.arguments);
	case Line::Kind::COMMAND:
		break;
	}

	const auto it = _index.find(parsed.command);
	if (it == _index.end())
	{
		_console.error("unknown command " + parsed.command + "; type /help");
		return Action::CONTINUE;
	}
	const Command& command = _commands[it->second];
	if (!command.takesArguments && !parsed.arguments.empty())
	{
		_console.error("usage: " + command.usage);
		return Action::CONTINUE;
	}
	Poco::Logger::get("CrossChat.ConsoleChat").debug("command " + command.name);
	return run(command.handler, parsed.arguments);
}


CommandInterpreter::Line CommandInterpreter::parse(const std::string& line)
{
	std::string text = line;
	while (!text.empty() && (text.back() == '\r' || text.back() == '\n')) text.pop_back();

	Line result;
	const std::string trimmed = trim(text);
	if (trimmed.empty()) return result;

	if (trimmed[0] != '/')
	{
		result.kind = Line::Kind::TEXT;
		result.arguments = text;
		return result;
	}
	if (trimmed.compare(0, 2, "//") == 0)
	{
		// "//text" sends "/text": the way to say something that starts with a slash.
		result.kind = Line::Kind::TEXT;
		result.arguments = text.substr(text.find('/') + 1);
		return result;
	}

	std::size_t end = 0;
	while (end < trimmed.size() && !isBlank(trimmed[end])) ++end;
	result.kind = Line::Kind::COMMAND;
	result.command = Poco::toLower(trimmed.substr(0, end));
	result.arguments = trim(trimmed.substr(end));
	return result;
}


const std::vector<CommandInterpreter::Command>& CommandInterpreter::commands() const
{
	return _commands;
}


CommandInterpreter::Action CommandInterpreter::help()
{
	Poco::JSON::Object::Ptr pEvent = Console::makeEvent("help");
	Poco::JSON::Array::Ptr pList = new Poco::JSON::Array;

	std::size_t width = 0;
	for (const Command& command: _commands) width = std::max(width, command.usage.size());

	std::ostringstream text;
	text << "Commands:";
	for (const Command& command: _commands)
	{
		Poco::JSON::Object::Ptr pEntry = new Poco::JSON::Object(Poco::JSON_PRESERVE_KEY_ORDER);
		pEntry->set("command", command.name);
		pEntry->set("usage", command.usage);
		pEntry->set("description", command.description);
		pList->add(pEntry);

		text << "\n  " << std::left << std::setw(static_cast<int>(width)) << command.usage
		     << "  " << command.description;
	}
	text << "\nOther text is sent as a message (once there is a conversation); //text sends \"/text\".";
	pEvent->set("commands", pList);
	_console.print(*pEvent, text.str());
	return Action::CONTINUE;
}


CommandInterpreter::Action CommandInterpreter::run(const Handler& handler, const std::string& arguments)
{
	try
	{
		return handler(arguments);
	}
	catch (const Poco::Exception& exc)
	{
		_console.error(exc.displayText());
	}
	catch (const std::exception& exc)
	{
		_console.error(exc.what());
	}
	return Action::CONTINUE;
}


} // namespace CrossChat
