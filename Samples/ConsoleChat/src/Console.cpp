//
// Console.cpp
//
// Sample: ConsoleChat
//


#include "Console.h"
#include "CrossChat/EventLoop.h"
#include "CrossChat/Text.h"
#include <ostream>
#include <sstream>


namespace CrossChat {


Console::Console(EventLoop& loop, Mode mode, std::ostream& out, std::ostream& err):
	_loop(loop),
	_mode(mode),
	_out(out),
	_err(err)
{
}


bool Console::isJson() const
{
	return _mode == Mode::JSON;
}


void Console::setSink(Sink sink)
{
	_loop.assertInLoopThread();
	_sink = std::move(sink);
}


Poco::JSON::Object::Ptr Console::makeEvent(const std::string& name)
{
	Poco::JSON::Object::Ptr pEvent = new Poco::JSON::Object(Poco::JSON_PRESERVE_KEY_ORDER);
	pEvent->set("event", name);
	return pEvent;
}


std::string Console::printable(const std::string& untrusted)
{
	return Text::terminalSafe(untrusted);
}


void Console::print(const Poco::JSON::Object& event, const std::string& text)
{
	_loop.assertInLoopThread();
	if (isJson())
	{
		writeJson(event);
	}
	else if (_sink)
	{
		_sink(toJson(event), text);
	}
	else if (!text.empty())
	{
		_out << text << '\n';
		_out.flush();
	}
}


void Console::error(const std::string& message)
{
	_loop.assertInLoopThread();
	if (isJson())
	{
		Poco::JSON::Object::Ptr pEvent = makeEvent("error");
		pEvent->set("message", message);
		writeJson(*pEvent);
	}
	else if (_sink)
	{
		Poco::JSON::Object::Ptr pEvent = makeEvent("error");
		pEvent->set("message", message);
		_sink(toJson(*pEvent), "error: " + message);
	}
	else
	{
		_err << "error: " << message << '\n';
		_err.flush();
	}
}


void Console::fatal(const std::string& message)
{
	_loop.assertInLoopThread();
	if (_sink && !isJson())
	{
		Poco::JSON::Object::Ptr pEvent = makeEvent("error");
		pEvent->set("message", message);
		pEvent->set("fatal", true);
		_sink(toJson(*pEvent), "crosschat: " + message);
		return;
	}
	_err << "crosschat: " << message << '\n';
	_err.flush();
	if (isJson())
	{
		Poco::JSON::Object::Ptr pEvent = makeEvent("error");
		pEvent->set("message", message);
		pEvent->set("fatal", true);
		writeJson(*pEvent);
	}
}


std::string Console::toJson(const Poco::JSON::Object& event)
{
	std::ostringstream line;
	event.stringify(line, 0);
	return line.str();
}


void Console::writeJson(const Poco::JSON::Object& event)
{
	// Indent 0: compact, no newlines inside; strings are quoted and escaped by Poco::JSON.
	event.stringify(_out, 0);
	_out << '\n';
	_out.flush();
}


} // namespace CrossChat
