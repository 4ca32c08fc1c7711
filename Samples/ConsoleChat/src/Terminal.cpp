//
// Terminal.cpp
//
// Sample: ConsoleChat
//


#include "Terminal.h"
#include "Poco/Exception.h"
#include <ncursesw/curses.h>
#include <atomic>
#include <cerrno>
#include <clocale>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <fcntl.h>
#include <langinfo.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>


namespace CrossChat {


namespace {


// Everything a signal handler may touch, prepared before curses starts.
std::atomic<bool> g_active{false};         // a Terminal is running curses
std::atomic<int> g_quitSignals{0};         // orderly-quit signals seen
int g_signalPipe[2] = {-1, -1};
struct termios g_savedModes;
bool g_haveSavedModes = false;
char g_leaveSequence[256];                 // rmcup + cnorm + sgr0 + rmkx
std::size_t g_leaveLength = 0;
std::terminate_handler g_previousTerminate = nullptr;

const int CRASH_SIGNALS[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
const int QUIT_SIGNALS[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT};


void writeAll(int fd, const char* data, std::size_t length)
	/// Async-signal-safe.
{
	while (length > 0)
	{
		const ssize_t n = ::write(fd, data, length);
		if (n < 0 && errno == EINTR) continue;
		if (n <= 0) return;
		data += n;
		length -= static_cast<std::size_t>(n);
	}
}


void emergencyRestore()
	/// Async-signal-safe: the precomputed sequences and the saved modes.
{
	if (!g_active.exchange(false)) return;
	writeAll(STDOUT_FILENO, g_leaveSequence, g_leaveLength);
	if (g_haveSavedModes) ::tcsetattr(STDIN_FILENO, TCSANOW, &g_savedModes);
}


void onCrash(int signal)
{
	const int saved = errno;
	emergencyRestore();
	// SA_RESETHAND put the default action back: raising again runs it (core dump).
	::raise(signal);
	errno = saved;
}


void onQuitOrResize(int signal)
{
	const int saved = errno;
	if (signal != SIGWINCH && g_quitSignals.fetch_add(1) >= 1)
	{
		// The second quit signal: no more waiting for an orderly end.
		emergencyRestore();
		::_exit(Terminal::emergencyExitCode(signal));
	}
	const char byte = static_cast<char>(signal);
	if (g_signalPipe[1] >= 0)
	{
		const ssize_t ignored = ::write(g_signalPipe[1], &byte, 1);
		(void) ignored;   // a full pipe already holds a wake-up
	}
	errno = saved;
}


void atExit()
{
	if (!g_active.load()) return;
	endwin();
	emergencyRestore();
}


void onTerminate()
{
	if (g_active.load())
	{
		endwin();
		emergencyRestore();
	}
	if (g_previousTerminate) g_previousTerminate();
	std::abort();
}


void append(const char* capability)
{
	char* value = tigetstr(const_cast<char*>(capability));
	if (value == nullptr || value == reinterpret_cast<char*>(-1)) return;
	const std::size_t length = std::strlen(value);
	if (g_leaveLength + length >= sizeof(g_leaveSequence)) return;
	std::memcpy(g_leaveSequence + g_leaveLength, value, length);
	g_leaveLength += length;
}


void install(int signal, void (*handler)(int), int flags)
{
	struct sigaction action;
	std::memset(&action, 0, sizeof(action));
	action.sa_handler = handler;
	sigemptyset(&action.sa_mask);
	action.sa_flags = flags;
	::sigaction(signal, &action, nullptr);
}


void setDefault(int signal)
{
	struct sigaction action;
	std::memset(&action, 0, sizeof(action));
	action.sa_handler = SIG_DFL;
	sigemptyset(&action.sa_mask);
	::sigaction(signal, &action, nullptr);
}


} // namespace


bool Terminal::suitable(std::string& why)
{
	if (!::isatty(STDIN_FILENO) || !::isatty(STDOUT_FILENO))
	{
		why = "stdin or stdout is not a terminal";
		return false;
	}
	const char* term = std::getenv("TERM");
	if (term == nullptr || *term == '\0' || std::strcmp(term, "dumb") == 0)
	{
		why = "TERM is not set, or is \"dumb\"";
		return false;
	}
	return true;
}


Terminal::Terminal()
{
	if (g_active.load()) throw Poco::IllegalStateException("a Terminal is already active");
	std::setlocale(LC_ALL, "");
	_utf8 = std::strcmp(nl_langinfo(CODESET), "UTF-8") == 0;

	g_haveSavedModes = ::tcgetattr(STDIN_FILENO, &g_savedModes) == 0;
	if (g_signalPipe[0] < 0)
	{
		if (::pipe2(g_signalPipe, O_NONBLOCK | O_CLOEXEC) != 0)
			throw Poco::SystemException("cannot create the signal pipe", std::strerror(errno));
	}
	g_quitSignals = 0;

	// Our SIGWINCH handler first: curses then installs none of its own.
	install(SIGWINCH, onQuitOrResize, SA_RESTART);
	SCREEN* pScreen = newterm(nullptr, stdout, stdin);
	if (pScreen == nullptr)
	{
		setDefault(SIGWINCH);
		throw Poco::IllegalStateException("curses cannot drive this terminal (TERM=" + std::string(std::getenv("TERM") ? std::getenv("TERM") : "") + ")");
	}
	_pScreen = pScreen;
	set_term(pScreen);

	g_leaveLength = 0;
	append("rmcup");
	append("cnorm");
	append("sgr0");
	append("rmkx");

	raw();
	noecho();
	nonl();
	intrflush(stdscr, FALSE);
	keypad(stdscr, TRUE);
	meta(stdscr, TRUE);
	set_escdelay(25);
	curs_set(1);
	_colours = has_colors();
	if (_colours)
	{
		start_color();
		use_default_colors();
	}
	defineKeys();

	g_active = true;
	for (int signal: CRASH_SIGNALS) install(signal, onCrash, SA_RESETHAND | SA_NODEFER);
	for (int signal: QUIT_SIGNALS) install(signal, onQuitOrResize, SA_RESTART);
	static bool atExitRegistered = false;
	if (!atExitRegistered)
	{
		std::atexit(atExit);
		atExitRegistered = true;
	}
	g_previousTerminate = std::set_terminate(onTerminate);
	_active = true;
}


Terminal::~Terminal()
{
	restore();
}


void Terminal::restore()
{
	if (!_active) return;
	_active = false;
	for (int signal: CRASH_SIGNALS) setDefault(signal);
	for (int signal: QUIT_SIGNALS) setDefault(signal);
	setDefault(SIGWINCH);
	std::set_terminate(g_previousTerminate);
	if (g_active.exchange(false))
	{
		endwin();
		if (g_haveSavedModes) ::tcsetattr(STDIN_FILENO, TCSANOW, &g_savedModes);
	}
	delscreen(static_cast<SCREEN*>(_pScreen));
	_pScreen = nullptr;
	std::fflush(stdout);
}


int Terminal::signalFd() const
{
	return g_signalPipe[0];
}


int Terminal::emergencyExitCode(int signal)
{
	return 128 + signal;
}


bool Terminal::utf8() const
{
	return _utf8;
}


bool Terminal::colours() const
{
	return _colours;
}


void Terminal::resize()
{
	struct winsize size;
	if (::ioctl(STDOUT_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_row > 0 && size.ws_col > 0)
		resize_term(size.ws_row, size.ws_col);
}


int Terminal::rows() const
{
	return LINES;
}


int Terminal::columns() const
{
	return COLS;
}


void Terminal::defineKeys()
{
	// xterm-style modified cursor keys (what xterm, tmux, VTE, kitty send), whatever the
	// terminfo entry knows, plus rxvt's forms.
	define_key("\033[1;5D", KEY_CTRL_LEFT);
	define_key("\033[1;5C", KEY_CTRL_RIGHT);
	define_key("\033[5D", KEY_CTRL_LEFT);
	define_key("\033[5C", KEY_CTRL_RIGHT);
	define_key("\033Od", KEY_CTRL_LEFT);
	define_key("\033Oc", KEY_CTRL_RIGHT);
	define_key("\033[1;3D", KEY_ALT_LEFT);
	define_key("\033[1;3C", KEY_ALT_RIGHT);
	define_key("\033[1;5H", KEY_CTRL_HOME);
	define_key("\033[1;5F", KEY_CTRL_END);
}


} // namespace CrossChat
