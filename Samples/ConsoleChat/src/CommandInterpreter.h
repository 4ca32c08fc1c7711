//
// CommandInterpreter.h
//
// Sample: ConsoleChat
// Parses crosschat's input lines and dispatches them through a table of commands.
//
// This is an internal header of the crosschat program.
//


#ifndef CrossChat_ConsoleChat_CommandInterpreter_INCLUDED
#define CrossChat_ConsoleChat_CommandInterpreter_INCLUDED


#include <functional>
#include <map>
#include <string>
#include <vector>


namespace CrossChat {


class Console;


class CommandInterpreter
	/// Turns input lines into actions. A line starting with '/' is a command: its first word
	/// (case-insensitive) names an entry of the command table, the rest of the line, trimmed,
	/// is its argument string. A line starting with "//" is text without its first '/'. Any
	/// other non-blank line is text, given to the text handler.
	/// Blank lines are ignored.
	///
	/// Features add their commands with add(); /help is built in and lists the table.
	/// Unknown commands, text without a text handler, and exceptions thrown by handlers are
	/// reported through Console::error() and the interpreter carries on.
	///
	/// Thread rules: every method must be called from the loop thread that owns the Console.
	/// Ownership: does not own the Console, which must outlive the interpreter; owns the handlers.
{
public:
	enum class Action
	{
		CONTINUE, ///< Read the next line.
		QUIT      ///< Stop reading input and end the program.
	};

	using Handler = std::function<Action(const std::string& arguments)>;
		/// Runs one command; arguments is the rest of the line after the command word, trimmed.

	struct Command
	{
		std::string name;        ///< With the leading '/', lower case, e.g. "/whoami".
		std::string usage;       ///< Synopsis, e.g. "/msg <peer> <text>".
		std::string description; ///< One line saying what the command does.
		bool takesArguments = false;
		Handler handler;
	};

	struct Line
		/// A parsed input line.
	{
		enum class Kind
		{
			EMPTY,
			COMMAND,
			TEXT
		};

		Kind kind = Kind::EMPTY;
		std::string command;   ///< COMMAND: the command word, lower case, with its '/'.
		std::string arguments; ///< COMMAND: the rest, trimmed. TEXT: the line without its line end.
	};

	explicit CommandInterpreter(Console& console);
		/// Creates the table with the built-in /help command.

	CommandInterpreter(const CommandInterpreter&) = delete;
	CommandInterpreter& operator=(const CommandInterpreter&) = delete;

	void add(const std::string& usage, const std::string& description, Handler handler);
		/// Adds a command; its name is the first word of usage, which must start with '/'.
		/// If usage is that single word, the command takes no arguments and a line that gives
		/// some is answered with "usage: ..." instead of calling the handler.
		/// /help lists commands in the order they were added.
		/// Throws Poco::InvalidArgumentException for a bad or duplicate name.

	void setTextHandler(Handler handler);
		/// Sets the handler for lines that are not commands; it receives the whole line.

	Action execute(const std::string& line);
		/// Parses and runs one input line.

	static Line parse(const std::string& line);
		/// Splits a line into command word and arguments. Safe to call from any thread.

	const std::vector<Command>& commands() const;
		/// The command table, in the order commands were added.

private:
	Action help();
	Action run(const Handler& handler, const std::string& arguments);

	Console& _console;
	std::vector<Command> _commands;
	std::map<std::string, std::size_t> _index;
	Handler _textHandler;
};


} // namespace CrossChat


#endif // CrossChat_ConsoleChat_CommandInterpreter_INCLUDED
