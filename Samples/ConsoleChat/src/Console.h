//
// Console.h
//
// Sample: ConsoleChat
// crosschat's output: human-readable text, or one JSON object per line.
//
// This is an internal header of the crosschat program.
//


#ifndef CrossChat_ConsoleChat_Console_INCLUDED
#define CrossChat_ConsoleChat_Console_INCLUDED


#include "Poco/JSON/Object.h"
#include <functional>
#include <iosfwd>
#include <string>


namespace CrossChat {


class EventLoop;


class Console
	/// Writes everything crosschat shows to its user. In human mode an event is written as
	/// text; in JSON mode as one compact JSON object per line on the output stream, made with
	/// Poco::JSON, so that a program can read stdout line by line. Every JSON object has an
	/// "event" member naming it first. Logging never goes through Console (it goes to stderr).
	///
	/// With a sink (the full-screen mode), every event goes to the sink instead, as its JSON
	/// line and its human text: the screen reads the same events --json prints.
	///
	/// Thread rules: every method except the constructor and isJson() must be called from the
	/// loop thread, and asserts it: the loop thread is the only writer of the output streams.
	/// Ownership: does not own the loop or the streams; they must outlive the Console.
{
public:
	enum class Mode
	{
		HUMAN,
		JSON
	};

	using Sink = std::function<void(const std::string& json, const std::string& text)>;
		/// Receives each event as one compact JSON line (no newline) and its human text
		/// (empty for events that have none, "error: ..." for errors, "crosschat: ..." for
		/// fatal errors). Called on the loop thread.

	Console(EventLoop& loop, Mode mode, std::ostream& out, std::ostream& err);
		/// Creates a console writing events to out and human-mode errors to err.
		/// Safe to call from any thread.

	bool isJson() const;
		/// True in JSON mode. Safe to call from any thread.

	void setSink(Sink sink);
		/// From now on, events go to sink instead of the streams (in human mode).
		/// Must be called from the loop thread.

	static Poco::JSON::Object::Ptr makeEvent(const std::string& name);
		/// A new JSON object holding {"event": name} that keeps its members in insertion order.
		/// Safe to call from any thread.

	static std::string printable(const std::string& untrusted);
		/// untrusted (a peer's name or message) made safe for a terminal: a tab becomes a space,
		/// other control characters (C0, DEL and C1, which could start escape sequences)
		/// become U+FFFD. Safe to call from any thread.

	void print(const Poco::JSON::Object& event, const std::string& text);
		/// JSON mode: writes event as one line. Human mode: writes text followed by a newline,
		/// nothing if text is empty (events for programs only, like "sent"). With a sink:
		/// hands both to it. Must be called from the loop thread.

	void error(const std::string& message);
		/// Reports a problem the user can fix and carry on from (an unknown command, say).
		/// JSON mode: {"event":"error","message":...} on the output stream.
		/// Human mode: "error: <message>" on the error stream.
		/// Must be called from the loop thread.

	void fatal(const std::string& message);
		/// Reports a problem that ends the program: "crosschat: <message>" on the error stream
		/// in both modes, and in JSON mode also an error event on the output stream.
		/// Must be called from the loop thread.

private:
	void writeJson(const Poco::JSON::Object& event);
	static std::string toJson(const Poco::JSON::Object& event);

	EventLoop& _loop;
	const Mode _mode;
	std::ostream& _out;
	std::ostream& _err;
	Sink _sink;
};


} // namespace CrossChat


#endif // CrossChat_ConsoleChat_Console_INCLUDED
