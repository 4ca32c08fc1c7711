//
// ConsoleSessionCommands.cpp
//
// Sample: ConsoleChat
// Chat commands of ConsoleSession that shape what is sent: /me and /say.
//


#include "ConsoleSession.h"


namespace CrossChat {


void ConsoleSession::addChatCommands()
{
	// The handlers capture this: the interpreter is a member, so they cannot outlive the session.
	_interpreter.add("/me <action>", "send an action to the current conversation (\"/me waves\" "
		"shows as \"* alice waves\"; sent as the text \"/me waves\", which other programs show as it is)",
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


} // namespace CrossChat
