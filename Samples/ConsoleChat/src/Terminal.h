//
// Terminal.h
//
// Sample: ConsoleChat
// The curses session of the full-screen client, and the guarantee that the terminal is
// restored on every way out.
//
// This is an internal header of the crosschat program.
//


#ifndef CrossChat_ConsoleChat_Terminal_INCLUDED
#define CrossChat_ConsoleChat_Terminal_INCLUDED


#include <string>


namespace CrossChat {


class Terminal
	/// Owns the ncursesw session: the constructor switches the terminal to the alternate
	/// screen in raw mode (no echo, keys as they come, Ctrl+C as a key), the destructor puts
	/// it back. In between, the terminal is restored on every other way out as well:
	///   - exit() anywhere (an atexit handler) and std::terminate (an uncaught exception);
	///   - SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT (a crash): the handler writes the terminal's
	///     own "leave" sequences (rmcup, cnorm, sgr0, rmkx, computed in advance) and the
	///     saved termios, both async-signal-safe, then the signal's default action runs
	///     (core dump and all);
	///   - SIGTERM, SIGINT, SIGHUP, SIGQUIT: the handler only writes the signal number to a
	///     pipe (signalFd()); the UI then quits in an orderly way (the chat node says goodbye,
	///     the destructor restores the terminal). A second such signal while quitting
	///     restores the terminal at once and ends the process with 128 + the signal;
	///   - SIGWINCH goes to the same pipe; the UI calls resize().
	///
	/// Thread rules: construct, use and destroy on one thread (the UI thread); every curses
	/// call of the program happens on that thread. The signal handlers may run on any thread
	/// and touch only the pipe and the precomputed restore data.
	/// Ownership: one Terminal at a time per process (the constructor throws otherwise).
{
public:
	static bool suitable(std::string& why);
		/// True if stdin and stdout are terminals and TERM names one curses can drive (not
		/// "dumb"); else false and why. Safe to call from any thread.

	Terminal();
		/// Starts curses on stdout/stdin (newterm). Throws Poco::IllegalStateException if the
		/// terminal type is unknown or another Terminal exists.

	~Terminal();
		/// restore().

	Terminal(const Terminal&) = delete;
	Terminal& operator=(const Terminal&) = delete;

	void restore();
		/// Leaves curses (endwin), gives the terminal its saved modes back and removes the
		/// signal handlers. Idempotent.

	int signalFd() const;
		/// The read end of the signal pipe (non-blocking): one byte per signal, its number.

	static int emergencyExitCode(int signal);
		/// 128 + signal.

	bool utf8() const;
		/// True if the locale's character set is UTF-8 (else text is shown as ASCII).

	bool colours() const;

	void resize();
		/// Reads the window size (TIOCGWINSZ) and resizes curses to it.

	int rows() const;
	int columns() const;

	static constexpr int KEY_CTRL_LEFT = 0x1000 + 1;   ///< Beyond curses' KEY_MAX (0777).
	static constexpr int KEY_CTRL_RIGHT = 0x1000 + 2;
	static constexpr int KEY_ALT_LEFT = 0x1000 + 3;
	static constexpr int KEY_ALT_RIGHT = 0x1000 + 4;
	static constexpr int KEY_CTRL_HOME = 0x1000 + 5;
	static constexpr int KEY_CTRL_END = 0x1000 + 6;

private:
	void defineKeys();

	bool _active = false;
	bool _utf8 = false;
	bool _colours = false;
	void* _pScreen = nullptr;   ///< SCREEN*, kept opaque so that this header needs no curses.h.
};


} // namespace CrossChat


#endif // CrossChat_ConsoleChat_Terminal_INCLUDED
