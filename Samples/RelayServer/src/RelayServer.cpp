//
// RelayServer.cpp
//
// crosschat-relay: runs a CrossChat relay (discovery API, control channels, tunnels) as a
// Poco::Util::ServerApplication. Settings come from crosschat-relay.properties (next to the
// binary, else the system configuration directory, or --config-file), --define name=value and
// the command line options; every relay.* key and its default is documented in that file. The
// PORT environment variable sets the port when neither --port nor --define relay.port does.
// SIGTERM or SIGINT drain the relay; SIGHUP reloads its TLS certificate and key.
//
// Every relay.* setting is one row of SETTINGS below: a setting not in the table is an error,
// so a misspelt name never silently falls back to a default.
//
// --daemon is handled here rather than by Poco (whose ServerApplication forks before it has
// read a single option and reports nothing): the program validates its settings, forks, starts
// the relay in the child (binding the ports, loading the certificate) with stderr still the
// caller's, and only then detaches: the parent waits for the child's "ready" byte on a pipe and
// exits 0, or exits with the child's status if it failed. Once detached, log lines that went to
// the console go to relay.daemonLog (syslog by default, or a file).
//


#include "CrossChat/Relay/RelayServer.h"
#include "CrossChat/Relay/RelayTokens.h"
#include "Poco/AutoPtr.h"
#include "Poco/ConsoleChannel.h"
#include "Poco/DateTimeFormatter.h"
#include "Poco/Exception.h"
#include "Poco/File.h"
#include "Poco/FileChannel.h"
#include "Poco/FormattingChannel.h"
#include "Poco/Logger.h"
#include "Poco/Net/IPAddress.h"
#include "Poco/NumberParser.h"
#include "Poco/Path.h"
#include "Poco/PatternFormatter.h"
#include "Poco/String.h"
#include "Poco/SyslogChannel.h"
#include "Poco/Timestamp.h"
#include "Poco/Util/AbstractConfiguration.h"
#include "Poco/Util/HelpFormatter.h"
#include "Poco/Util/IntValidator.h"
#include "Poco/Util/Option.h"
#include "Poco/Util/OptionCallback.h"
#include "Poco/Util/OptionException.h"
#include "Poco/Util/OptionSet.h"
#include "Poco/Util/ServerApplication.h"
#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <functional>
#include <iostream>
#include <limits>
#include <pthread.h>
#include <string>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>


using Poco::Util::AbstractConfiguration;
using Poco::Util::Application;
using Poco::Util::Option;
using Poco::Util::OptionCallback;
using Poco::Util::OptionSet;
using CrossChat::Relay::RelayServerConfig;


namespace {


const char* const VERSION_TEXT = CROSSCHAT_VERSION;
const char* const SYSTEM_CONFIG_FILE = CROSSCHAT_SYSCONFDIR "/crosschat/crosschat-relay.properties";
const std::string SYSLOG("syslog");
const char* const PACKAGE_DATA_DIR = "/var/lib/crosschat-relay";   ///< relay.dataDir with the package's settings file.


struct ProgramSettings
	/// What crosschat-relay reads from its relay.* settings: the server's and the program's own.
{
	RelayServerConfig server;
	std::string daemonLog = SYSLOG;   ///< relay.daemonLog: "syslog" or an absolute file path.
};


// Readers of one setting -------------------------------------------------------------------
//
// Each reader is called only when the setting is present, and throws
// Poco::InvalidArgumentException with a message that names the setting.

using Reader = std::function<void(const AbstractConfiguration& config, const std::string& key, ProgramSettings& settings)>;


std::uint64_t readUnsigned(const AbstractConfiguration& config, const std::string& key, std::uint64_t max)
{
	const std::string text = config.getString(key);
	Poco::UInt64 value = 0;
	if (!Poco::NumberParser::tryParseUnsigned64(text, value) || value > max)
		throw Poco::InvalidArgumentException(key + " must be a whole number from 0 to " + std::to_string(max)
			+ ", not '" + text + "'");
	return value;
}


template <typename Field>
Reader number(Field RelayServerConfig::* field)
	/// An unsigned integer field (unsigned, std::size_t, std::uint64_t).
{
	return [field](const AbstractConfiguration& config, const std::string& key, ProgramSettings& settings) {
		settings.server.*field = static_cast<Field>(readUnsigned(config, key, std::numeric_limits<Field>::max()));
	};
}


Reader seconds(std::chrono::seconds RelayServerConfig::* field)
	/// A duration in whole seconds.
{
	return [field](const AbstractConfiguration& config, const std::string& key, ProgramSettings& settings) {
		settings.server.*field = std::chrono::seconds(readUnsigned(config, key,
			static_cast<std::uint64_t>(std::numeric_limits<int>::max())));
	};
}


Reader positiveReal(double RelayServerConfig::* field)
{
	return [field](const AbstractConfiguration& config, const std::string& key, ProgramSettings& settings) {
		const std::string text = config.getString(key);
		double value = 0;
		if (!Poco::NumberParser::tryParseFloat(text, value) || !(value > 0) || value > 1e9)
			throw Poco::InvalidArgumentException(key + " must be a positive number, not '" + text + "'");
		settings.server.*field = value;
	};
}


Reader text(std::string RelayServerConfig::* field)
{
	return [field](const AbstractConfiguration& config, const std::string& key, ProgramSettings& settings) {
		settings.server.*field = config.getString(key);
	};
}


Reader flag(bool RelayServerConfig::* field)
	/// true/false (also yes/no, on/off, 1/0).
{
	return [field](const AbstractConfiguration& config, const std::string& key, ProgramSettings& settings) {
		const std::string text = config.getString(key);
		bool value = false;
		if (!Poco::NumberParser::tryParseBool(text, value))
			throw Poco::InvalidArgumentException(key + " must be true or false, not '" + text + "'");
		settings.server.*field = value;
	};
}


std::uint16_t readPort(const AbstractConfiguration& config, const std::string& key)
{
	return static_cast<std::uint16_t>(readUnsigned(config, key, 65535));
}


void readBind(const AbstractConfiguration& config, const std::string& key, ProgramSettings& settings)
{
	const std::string bind = config.getString(key);
	Poco::Net::IPAddress host;
	if (bind == "::" || bind == "[::]")   // Poco 1.11's parser refuses the IPv6 wildcard
		host = Poco::Net::IPAddress::wildcard(Poco::Net::IPAddress::IPv6);
	else if (!Poco::Net::IPAddress::tryParse(bind, host))
		throw Poco::InvalidArgumentException(key + " must be an IP address, not '" + bind + "'");
	settings.server.bind = Poco::Net::SocketAddress(host, settings.server.bind.port());
}


void readMainPort(const AbstractConfiguration& config, const std::string& key, ProgramSettings& settings)
{
	settings.server.bind = Poco::Net::SocketAddress(settings.server.bind.host(), readPort(config, key));
}


void readProbePort(const AbstractConfiguration& config, const std::string& key, ProgramSettings& settings)
{
	settings.server.probePort = readPort(config, key);
}


void readDaemonLog(const AbstractConfiguration& config, const std::string& key, ProgramSettings& settings)
{
	const std::string value = config.getString(key);
	if (value != SYSLOG && (value.empty() || value[0] != '/'))
		throw Poco::InvalidArgumentException(key + " must be 'syslog' or an absolute file path, not '" + value + "'");
	settings.daemonLog = value;
}


void readAccess(const AbstractConfiguration& config, const std::string& key, ProgramSettings& settings)
{
	const std::string value = Poco::toLower(config.getString(key));
	if (value == "open") settings.server.access = CrossChat::Relay::RelayAccess::OPEN;
	else if (value == "token") settings.server.access = CrossChat::Relay::RelayAccess::TOKEN;
	else throw Poco::InvalidArgumentException(key + " must be open or token, not '" + value + "'");
}


void readStatusAccess(const AbstractConfiguration& config, const std::string& key, ProgramSettings& settings)
{
	const std::string value = Poco::toLower(config.getString(key));
	if (value != "open" && value != "admin")
		throw Poco::InvalidArgumentException(key + " must be open or admin, not '" + value + "'");
	settings.server.adminStatus = value == "admin";
}


struct Setting
{
	const char* key;
	Reader read;
};


const std::vector<Setting>& settingsTable()
	/// Every relay.* setting crosschat-relay knows, in the order they are applied (relay.bind
	/// and relay.port both set RelayServerConfig::bind). Documented with their defaults in
	/// crosschat-relay.properties and README.md. A new RelayServerConfig field is one row here.
{
	static const std::vector<Setting> table = {
		{"relay.bind", readBind},
		{"relay.port", readMainPort},
		{"relay.probePort", readProbePort},
		{"relay.maxProbeConnections", number(&RelayServerConfig::maxProbeConnections)},
		{"relay.maxProbeConnectionsPerIp", number(&RelayServerConfig::maxProbeConnectionsPerIp)},
		{"relay.tlsCertificateFile", text(&RelayServerConfig::tlsCertificateFile)},
		{"relay.tlsKeyFile", text(&RelayServerConfig::tlsKeyFile)},
		{"relay.eventLoops", number(&RelayServerConfig::eventLoops)},
		{"relay.maxHttpConnections", number(&RelayServerConfig::maxHttpConnections)},
		{"relay.maxHttpConnectionsPerIp", number(&RelayServerConfig::maxHttpConnectionsPerIp)},
		{"relay.firstByteTimeoutSeconds", seconds(&RelayServerConfig::firstByteTimeout)},
		{"relay.requestTimeoutSeconds", seconds(&RelayServerConfig::requestTimeout)},
		{"relay.keepAliveTimeoutSeconds", seconds(&RelayServerConfig::keepAliveTimeout)},
		{"relay.maxKeepAliveRequests", number(&RelayServerConfig::maxKeepAliveRequests)},
		{"relay.maxHeaderSize", number(&RelayServerConfig::maxHeaderSize)},
		{"relay.maxBodySize", number(&RelayServerConfig::maxBodySize)},
		{"relay.recordTtlSeconds", seconds(&RelayServerConfig::recordTtl)},
		{"relay.reannounceAfterSeconds", seconds(&RelayServerConfig::reannounceAfter)},
		{"relay.lookupRetryAfterSeconds", seconds(&RelayServerConfig::lookupRetryAfter)},
		{"relay.maxPeers", number(&RelayServerConfig::maxPeers)},
		{"relay.maxPeersPerIp", number(&RelayServerConfig::maxPeersPerIp)},
		{"relay.controlKeepaliveSeconds", seconds(&RelayServerConfig::controlKeepalive)},
		{"relay.controlHelloTimeoutSeconds", seconds(&RelayServerConfig::controlHelloTimeout)},
		{"relay.maxControlConnections", number(&RelayServerConfig::maxControlConnections)},
		{"relay.maxControlConnectionsPerIp", number(&RelayServerConfig::maxControlConnectionsPerIp)},
		{"relay.maxTunnels", number(&RelayServerConfig::maxTunnels)},
		{"relay.maxTunnelsPerIp", number(&RelayServerConfig::maxTunnelsPerIp)},
		{"relay.tunnelsPerSecondPerIp", positiveReal(&RelayServerConfig::tunnelsPerSecondPerIp)},
		{"relay.tunnelRateBytesPerSecond", number(&RelayServerConfig::tunnelRateBytesPerSecond)},
		{"relay.globalRateBytesPerSecond", number(&RelayServerConfig::globalRateBytesPerSecond)},
		{"relay.tunnelIdleTimeoutSeconds", seconds(&RelayServerConfig::tunnelIdleTimeout)},
		{"relay.tunnelJoinTimeoutSeconds", seconds(&RelayServerConfig::tunnelJoinTimeout)},
		{"relay.requestsPerSecondPerIp", positiveReal(&RelayServerConfig::requestsPerSecondPerIp)},
		{"relay.replayCacheSize", number(&RelayServerConfig::replayCacheSize)},
		{"relay.replayCachePerIp", number(&RelayServerConfig::replayCachePerIp)},
		{"relay.maxRateLimitedClients", number(&RelayServerConfig::maxRateLimitedClients)},
		{"relay.trustedProxies", text(&RelayServerConfig::trustedProxies)},
		{"relay.proxyProtocol", flag(&RelayServerConfig::proxyProtocol)},
		{"relay.drainTimeoutSeconds", seconds(&RelayServerConfig::drainTimeout)},
		{"relay.descriptorReserve", number(&RelayServerConfig::descriptorReserve)},
		{"relay.dataDir", text(&RelayServerConfig::dataDir)},
		{"relay.access", readAccess},
		{"relay.statusAccess", readStatusAccess},
		{"relay.maxHandles", number(&RelayServerConfig::maxHandles)},
		{"relay.maxHandlesPerIp", number(&RelayServerConfig::maxHandlesPerIp)},
		{"relay.handleReleaseSeconds", seconds(&RelayServerConfig::handleRelease)},
		{"relay.maxEnvelopeSize", number(&RelayServerConfig::maxEnvelopeSize)},
		{"relay.mailboxTtlSeconds", seconds(&RelayServerConfig::mailboxTtl)},
		{"relay.mailboxMaxBytes", number(&RelayServerConfig::mailboxMaxBytes)},
		{"relay.mailboxPerRecipient", number(&RelayServerConfig::mailboxPerRecipient)},
		{"relay.mailboxBytesPerRecipient", number(&RelayServerConfig::mailboxBytesPerRecipient)},
		{"relay.mailboxBytesPerIp", number(&RelayServerConfig::mailboxBytesPerIp)},
		{"relay.mailboxPerIpPerRecipient", number(&RelayServerConfig::mailboxPerIpPerRecipient)},
		// The program's own settings.
		{"relay.daemonLog", readDaemonLog},
	};
	return table;
}


void collectKeys(const AbstractConfiguration& config, const std::string& prefix, std::vector<std::string>& keys)
	/// Every key under prefix that holds a value, at any depth ("relay.a" and "relay.a.b").
{
	AbstractConfiguration::Keys children;
	config.keys(prefix, children);
	for (const std::string& child: children)
	{
		const std::string key = prefix + "." + child;
		if (config.hasOption(key)) keys.push_back(key);
		collectKeys(config, key, keys);
	}
}


std::size_t editDistance(const std::string& a, const std::string& b)
	/// Levenshtein distance, case-insensitive (for "did you mean").
{
	std::vector<std::size_t> row(b.size() + 1);
	for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
	for (std::size_t i = 1; i <= a.size(); ++i)
	{
		std::size_t diagonal = row[0];
		row[0] = i;
		for (std::size_t j = 1; j <= b.size(); ++j)
		{
			const std::size_t above = row[j];
			const bool same = std::tolower(static_cast<unsigned char>(a[i - 1])) == std::tolower(static_cast<unsigned char>(b[j - 1]));
			row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (same ? 0 : 1)});
			diagonal = above;
		}
	}
	return row[b.size()];
}


void checkKnown(const AbstractConfiguration& config)
	/// Throws Poco::InvalidArgumentException naming the first relay.* key that no row of the
	/// table reads, with the closest known name when one is near.
{
	std::vector<std::string> keys;
	collectKeys(config, "relay", keys);
	for (const std::string& key: keys)
	{
		const auto& table = settingsTable();
		if (std::any_of(table.begin(), table.end(), [&key](const Setting& s) { return key == s.key; })) continue;
		// Suggest a near miss (a typo), or a setting the key is the beginning of (a unit left off).
		std::string closest;
		std::size_t best = 4;
		for (const Setting& setting: table)
		{
			const std::string known(setting.key);
			const bool extends = known.size() > key.size() && Poco::icompare(known, 0, key.size(), key) == 0;
			const std::size_t distance = extends ? 1 : editDistance(key, known);
			if (distance < best)
			{
				best = distance;
				closest = known;
			}
		}
		throw Poco::InvalidArgumentException("unknown setting " + key
			+ (closest.empty() ? std::string() : " (did you mean " + closest + "?)")
			+ "; the settings are listed in crosschat-relay.properties");
	}
}


ProgramSettings readSettings(const AbstractConfiguration& config, bool portGiven)
	/// The table applied to config; unknown relay.* keys and bad values throw
	/// Poco::InvalidArgumentException naming the setting. Without portGiven (--port or --define
	/// relay.port), a PORT environment variable wins over the files' relay.port: platforms
	/// (Heroku, Railway, ...) give the port that way.
{
	checkKnown(config);
	ProgramSettings settings;
	for (const Setting& setting: settingsTable())
	{
		if (config.hasOption(setting.key)) setting.read(config, setting.key, settings);
	}
	RelayServerConfig& server = settings.server;
	const char* pEnvironmentPort = std::getenv("PORT");
	if (!portGiven && pEnvironmentPort && *pEnvironmentPort)
	{
		unsigned port = 0;
		if (!Poco::NumberParser::tryParseUnsigned(pEnvironmentPort, port) || port > 65535)
			throw Poco::InvalidArgumentException(std::string("the PORT environment variable must be 0 to 65535, not '")
				+ pEnvironmentPort + "'");
		server.bind = Poco::Net::SocketAddress(server.bind.host(), static_cast<Poco::UInt16>(port));
	}
	if (server.tlsCertificateFile.empty() != server.tlsKeyFile.empty())
		throw Poco::InvalidArgumentException("HTTPS needs both relay.tlsCertificateFile (--tls-cert) and relay.tlsKeyFile (--tls-key)");
	if (server.controlKeepalive.count() < 1)
		throw Poco::InvalidArgumentException("relay.controlKeepaliveSeconds must be at least 1");
	return settings;
}


std::string errnoText(int error)
{
	return std::strerror(error);
}


class Detacher
	/// The parent's side and the child's side of --daemon: fork() splits the process; the
	/// parent blocks in waitForChild() until the child calls ready() (exit 0) or exits (its
	/// status is passed on). The child keeps the caller's stdin/stdout/stderr until ready().
{
public:
	Detacher() = default;
	Detacher(const Detacher&) = delete;
	Detacher& operator=(const Detacher&) = delete;

	~Detacher()
	{
		if (_writeEnd >= 0) ::close(_writeEnd);
	}

	bool fork()
		/// Returns true in the parent (which must then call waitForChild()), false in the
		/// child, which is made a session leader without a controlling terminal. Throws
		/// Poco::SystemException if the pipe or the fork fails.
	{
		int ends[2];
		if (::pipe(ends) != 0) throw Poco::SystemException("cannot create a pipe: " + errnoText(errno));
		const pid_t pid = ::fork();
		if (pid < 0)
		{
			const int error = errno;
			::close(ends[0]);
			::close(ends[1]);
			throw Poco::SystemException("cannot fork the daemon: " + errnoText(error));
		}
		if (pid > 0)
		{
			::close(ends[1]);
			_readEnd = ends[0];
			_child = pid;
			return true;
		}
		::close(ends[0]);
		_writeEnd = ends[1];
		::fcntl(_writeEnd, F_SETFD, FD_CLOEXEC);
		::setsid();
		return false;
	}

	int waitForChild()
		/// Parent: 0 once the child is ready; else the child's exit status (70 if it died of a
		/// signal), after it has written its errors to the shared stderr.
	{
		char byte = 0;
		ssize_t got;
		do got = ::read(_readEnd, &byte, 1);
		while (got < 0 && errno == EINTR);
		::close(_readEnd);
		if (got == 1) return Application::EXIT_OK;
		int status = 0;
		while (::waitpid(_child, &status, 0) < 0)
		{
			if (errno != EINTR) return Application::EXIT_OSERR;
		}
		if (WIFEXITED(status)) return WEXITSTATUS(status) == 0 ? Application::EXIT_SOFTWARE : WEXITSTATUS(status);
		std::cerr << "crosschat-relay: the daemon died of signal " << (WIFSIGNALED(status) ? WTERMSIG(status) : 0)
			<< " while starting\n";
		return Application::EXIT_SOFTWARE;
	}

	void ready()
		/// Child: detaches from the caller (stdin, stdout and stderr to /dev/null, working
		/// directory /) and tells the parent to exit 0. Throws Poco::SystemException if
		/// /dev/null cannot be opened.
	{
		const int null = ::open("/dev/null", O_RDWR);
		if (null < 0) throw Poco::SystemException("cannot open /dev/null: " + errnoText(errno));
		std::cout.flush();
		std::cerr.flush();
		::dup2(null, STDIN_FILENO);
		::dup2(null, STDOUT_FILENO);
		::dup2(null, STDERR_FILENO);
		if (null > STDERR_FILENO) ::close(null);
		if (::chdir("/") != 0)
		{
			// Not fatal: the relay opens no relative paths after start-up.
		}
		const char byte = 'R';
		ssize_t written;
		do written = ::write(_writeEnd, &byte, 1);
		while (written < 0 && errno == EINTR);
		::close(_writeEnd);
		_writeEnd = -1;
	}

private:
	int _readEnd = -1;
	int _writeEnd = -1;
	pid_t _child = -1;
};


bool writesToConsole(Poco::Channel* pChannel)
{
	if (dynamic_cast<Poco::ConsoleChannel*>(pChannel) || dynamic_cast<Poco::ColorConsoleChannel*>(pChannel)) return true;
	if (auto* pFormatting = dynamic_cast<Poco::FormattingChannel*>(pChannel))
		return writesToConsole(pFormatting->getChannel().get());
	return false;
}


} // namespace


class RelayServerApp: public Poco::Util::ServerApplication
	/// The crosschat-relay program.
{
public:
	int runApplication()
		/// Application::run(): initialize(), main(), uninitialize(). (ServerApplication's
		/// run(argc, argv) would fork on --daemon before reading any option.)
	{
		return Application::run();
	}

protected:
	void initialize(Application& self) override
	{
		if (!_configFileGiven)
		{
			// crosschat-relay.properties next to the binary (the build tree has a copy there),
			// else the system one (the installed package's /etc/crosschat/crosschat-relay.properties).
			if (loadConfiguration() == 0 && Poco::File(SYSTEM_CONFIG_FILE).exists())
				loadConfiguration(SYSTEM_CONFIG_FILE);
		}
		ServerApplication::initialize(self);         // configures logging from the loaded settings
	}

	void defineOptions(OptionSet& options) override
	{
		// Not ServerApplication::defineOptions(): its --daemon, --pidfile and --umask act while the
		// options are read (Poco forks, or writes the PID file, before any setting is checked).
		Application::defineOptions(options);

		options.addOption(Option("help", "h", "Show this help and exit.")
			.required(false).repeatable(false)
			.callback(OptionCallback<RelayServerApp>(this, &RelayServerApp::handleHelp)));
		options.addOption(Option("port", "p", "TCP port to listen on (default 5000, or the PORT environment variable; "
				"0 picks a free port). Sets relay.port.")
			.required(false).repeatable(false).argument("PORT")
			.validator(new Poco::Util::IntValidator(0, 65535))
			.callback(OptionCallback<RelayServerApp>(this, &RelayServerApp::handlePort)));
		options.addOption(Option("probe-port", "", "NAT probe port (default: the port + 1; 0 disables). Sets relay.probePort.")
			.required(false).repeatable(false).argument("PORT")
			.validator(new Poco::Util::IntValidator(0, 65535))
			.binding("relay.probePort"));
		options.addOption(Option("bind", "b", "Address to listen on (default 0.0.0.0; :: for IPv6). Sets relay.bind.")
			.required(false).repeatable(false).argument("ADDRESS")
			.binding("relay.bind"));
		options.addOption(Option("config-file", "c", std::string("Load settings from FILE instead of crosschat-relay.properties "
			"next to the binary, else ") + SYSTEM_CONFIG_FILE + ".")
			.required(false).repeatable(true).argument("FILE")
			.callback(OptionCallback<RelayServerApp>(this, &RelayServerApp::handleConfigFile)));
		options.addOption(Option("define", "D", "Set a setting, e.g. --define relay.maxTunnels=100 (overrides the files).")
			.required(false).repeatable(true).argument("NAME=VALUE")
			.callback(OptionCallback<RelayServerApp>(this, &RelayServerApp::handleDefine)));
		options.addOption(Option("tls-cert", "", "PEM certificate (chain) file: serve HTTPS. Needs --tls-key. Sets relay.tlsCertificateFile.")
			.required(false).repeatable(false).argument("FILE")
			.binding("relay.tlsCertificateFile"));
		options.addOption(Option("tls-key", "", "PEM private key file for --tls-cert. Sets relay.tlsKeyFile.")
			.required(false).repeatable(false).argument("FILE")
			.binding("relay.tlsKeyFile"));
		options.addOption(Option("daemon", "", "Run in the background once started; start-up errors are reported "
			"here first. Logs then go to relay.daemonLog (default: syslog).")
			.required(false).repeatable(false)
			.callback(OptionCallback<RelayServerApp>(this, &RelayServerApp::handleDaemon)));
		options.addOption(Option("pidfile", "", "Write the process ID to FILE once the relay listens; removed when it stops.")
			.required(false).repeatable(false).argument("FILE")
			.callback(OptionCallback<RelayServerApp>(this, &RelayServerApp::handlePidFile)));
		options.addOption(Option("umask", "", "Set the process's umask (octal, e.g. 027).")
			.required(false).repeatable(false).argument("MASK")
			.callback(OptionCallback<RelayServerApp>(this, &RelayServerApp::handleUMask)));
		options.addOption(Option("data-dir", "", "Directory of the relay's database (relay.db). Sets relay.dataDir.")
			.required(false).repeatable(false).argument("DIR")
			.binding("relay.dataDir"));
		options.addOption(Option("name", "", "token add: a label for the new token (token list shows it; token revoke takes it).")
			.required(false).repeatable(false).argument("NAME")
			.callback(OptionCallback<RelayServerApp>(this, &RelayServerApp::handleTokenName)));
		options.addOption(Option("expires", "", "token add: the token expires after D (90d, 12h, 30m, 45s); default never.")
			.required(false).repeatable(false).argument("D")
			.callback(OptionCallback<RelayServerApp>(this, &RelayServerApp::handleTokenExpires)));
		options.addOption(Option("quota", "", "token add: per-token limits, e.g. peers=5,tunnels=10,mailbox=64M (default: the "
				"relay's own limits only).")
			.required(false).repeatable(false).argument("LIST")
			.callback(OptionCallback<RelayServerApp>(this, &RelayServerApp::handleTokenQuota)));
		options.addOption(Option("admin", "", "token add: the token may also read the status page and /metrics "
				"(relay.statusAccess = admin).")
			.required(false).repeatable(false)
			.callback(OptionCallback<RelayServerApp>(this, &RelayServerApp::handleTokenAdmin)));
	}

	int main(const std::vector<std::string>& args) override
	{
		if (_helpRequested) return Application::EXIT_OK;
		if (!args.empty())
		{
			if (args.front() == "token") return command(args);
			logger().fatal("unexpected argument '" + args.front() + "'; options start with -- (see --help; the one "
				"command is: token add|list|revoke)");
			return Application::EXIT_USAGE;
		}
		if (_tokenOptionGiven)
		{
			logger().fatal("--name, --expires, --quota and --admin belong to 'crosschat-relay token add'");
			return Application::EXIT_USAGE;
		}

		ProgramSettings settings;
		try
		{
			settings = readSettings(config(), _portGiven);
			settings.server.dataDir = dataDirectory();
		}
		catch (const Poco::Exception& exc)
		{
			logger().fatal("bad setting: " + exc.message());
			return Application::EXIT_CONFIG;
		}
		if (_daemon && settings.daemonLog == SYSLOG && !Poco::File("/dev/log").exists())
		{
			logger().fatal("--daemon logs to syslog (relay.daemonLog), but /dev/log does not exist: no syslog "
				"daemon runs here; set relay.daemonLog to a file, e.g. --define relay.daemonLog=/var/log/crosschat-relay.log");
			return Application::EXIT_CONFIG;
		}

		// SIGHUP reloads the certificate: blocked here, before the relay's threads exist (they
		// inherit the mask), and taken by one thread with sigwait().
		sigset_t hangup;
		sigemptyset(&hangup);
		sigaddset(&hangup, SIGHUP);
		pthread_sigmask(SIG_BLOCK, &hangup, nullptr);

		Detacher detacher;
		if (_daemon)
		{
			try
			{
				if (detacher.fork()) return detacher.waitForChild();
			}
			catch (const Poco::Exception& exc)
			{
				logger().fatal(exc.message());
				return Application::EXIT_OSERR;
			}
		}

		const RelayServerConfig& serverSettings = settings.server;
		CrossChat::Relay::RelayServer server(serverSettings);
		try
		{
			server.start();
		}
		catch (const Poco::Exception& exc)
		{
			logger().fatal("cannot start the relay on " + serverSettings.bind.toString() + ": " + exc.displayText());
			return Application::EXIT_UNAVAILABLE;
		}
		const int startupError = _daemon ? detach(settings.daemonLog, detacher) : writePidFile();
		if (startupError != Application::EXIT_OK)
		{
			server.stop();
			return startupError;
		}
		if (serverSettings.access == CrossChat::Relay::RelayAccess::TOKEN)
			logger().information("private relay (relay.access = token): every client needs an access token");
		logger().information("data directory " + (serverSettings.dataDir == ":memory:" ? std::string("none (state in memory only)")
			: serverSettings.dataDir));
		const bool https = !serverSettings.tlsCertificateFile.empty();
		const Poco::Net::SocketAddress address(serverSettings.bind.host(), server.port());
		logger().information(std::string("crosschat-relay ") + VERSION_TEXT + " listening on "
			+ (https ? "https://" : "http://") + address.toString() + "/");
		// The NAT probe port is logged by the server itself.

		std::atomic<bool> stopping{false};
		std::thread reloader([this, &server, &hangup, &stopping]
		{
			int signal = 0;
			while (sigwait(&hangup, &signal) == 0 && !stopping)
			{
				try
				{
					server.reloadCertificate();
					logger().information("SIGHUP: certificate reloaded");
				}
				catch (const Poco::Exception& exc)
				{
					logger().error("SIGHUP: certificate not reloaded, the current one stays: " + exc.displayText());
				}
			}
		});

		waitForTerminationRequest();   // SIGINT, SIGTERM (or SIGQUIT)

		stopping = true;
		pthread_kill(reloader.native_handle(), SIGHUP);
		reloader.join();
		logger().information("stopping (draining for at most " + std::to_string(serverSettings.drainTimeout.count()) + " s)");
		server.drain();
		logger().information("stopped");
		removePidFile();
		return Application::EXIT_OK;
	}

private:
	int command(const std::vector<std::string>& arguments)
		/// crosschat-relay token add|list|revoke: on the database of relay.dataDir, while the
		/// relay runs or not.
	{
		const std::string usage = "usage: crosschat-relay [OPTIONS] token add [--name N] [--expires D] [--quota peers=N,tunnels=N,mailbox=SIZE] [--admin]\n"
			"       crosschat-relay [OPTIONS] token list\n"
			"       crosschat-relay [OPTIONS] token revoke <id|name>";
		if (arguments[0] != "token" || arguments.size() < 2)
		{
			std::cerr << "unknown command '" << arguments[0] << "'\n" << usage << std::endl;
			return Application::EXIT_USAGE;
		}
		const std::string& verb = arguments[1];
		if ((verb == "add" || verb == "list") ? arguments.size() != 2 : verb == "revoke" ? arguments.size() != 3 : true)
		{
			std::cerr << usage << std::endl;
			return Application::EXIT_USAGE;
		}
		if (verb != "add" && _tokenOptionGiven)
		{
			std::cerr << "--name, --expires, --quota and --admin belong to 'token add'" << std::endl;
			return Application::EXIT_USAGE;
		}
		try
		{
			const std::string dataDir = dataDirectory();
			CrossChat::Relay::RelayTokens tokens(dataDir);
			if (verb == "add")
			{
				const std::int64_t expires = _tokenExpiresMs == 0 ? 0 : nowMs() + _tokenExpiresMs;
				CrossChat::Relay::RelayTokenInfo info;
				const std::string secret = tokens.add(_tokenName, _tokenAdmin, expires, _tokenQuota, &info);
				std::cout << secret << std::endl;
				std::cerr << "token " << info.id << (info.name.empty() ? std::string() : " (" + info.name + ")") << " added to "
					<< dataDir << (info.expiresMs ? ", expires " + timeText(info.expiresMs) : std::string()) << ".\n"
					<< "Give the line above to its user (crosschat --relay-token, or crosschat.relay-token in crosschat.properties);"
					<< " it is not stored and cannot be shown again." << std::endl;
				return Application::EXIT_OK;
			}
			if (verb == "list")
			{
				const auto list = tokens.list();
				if (list.empty()) std::cout << "no tokens in " << dataDir << std::endl;
				const std::int64_t now = nowMs();
				for (const auto& token: list)
				{
					const std::string state = token.revokedMs ? "revoked " + timeText(token.revokedMs)
						: token.expiresMs && token.expiresMs <= now ? "expired " + timeText(token.expiresMs)
						: token.expiresMs ? "in force until " + timeText(token.expiresMs) : "in force";
					std::string quota;
					if (token.maxPeers) quota += " peers=" + std::to_string(token.maxPeers);
					if (token.maxTunnels) quota += " tunnels=" + std::to_string(token.maxTunnels);
					if (token.maxMailboxBytes) quota += " mailbox=" + std::to_string(token.maxMailboxBytes);
					std::cout << token.id << "  " << (token.name.empty() ? std::string("-") : token.name) << "  created "
						<< timeText(token.createdMs) << "  " << state << (token.admin ? "  admin" : "")
						<< (quota.empty() ? std::string() : " " + quota) << std::endl;
				}
				return Application::EXIT_OK;
			}
			const std::size_t revoked = tokens.revoke(arguments[2]);
			if (revoked == 0)
			{
				std::cerr << "no token in force is called '" << arguments[2] << "' (see crosschat-relay token list)" << std::endl;
				return Application::EXIT_DATAERR;
			}
			std::cout << "revoked " << revoked << " token" << (revoked == 1 ? "" : "s")
				<< "; a running relay ends their channels within a few seconds" << std::endl;
			return Application::EXIT_OK;
		}
		catch (const Poco::Exception& exc)
		{
			std::cerr << "crosschat-relay token " << verb << ": " << exc.displayText() << std::endl;
			return Application::EXIT_CANTCREAT;
		}
	}

	static std::int64_t nowMs()
	{
		return Poco::Timestamp().epochMicroseconds() / 1000;
	}

	static std::string timeText(std::int64_t ms)
	{
		return Poco::DateTimeFormatter::format(Poco::Timestamp(ms * 1000), "%Y-%m-%d %H:%M UTC");
	}

	std::string dataDirectory() const
		/// relay.dataDir; by default PACKAGE_DATA_DIR with the installed package's settings file,
		/// else "crosschat-relay-data" next to the settings file that was loaded (else next to
		/// the program). ":memory:" keeps nothing.
	{
		if (config().hasProperty("relay.dataDir")) return config().getString("relay.dataDir");
		const std::string base = config().hasProperty("application.configDir") ? config().getString("application.configDir")
			: config().getString("application.dir");
		if (Poco::Path(base).makeDirectory().toString() == Poco::Path(SYSTEM_CONFIG_FILE).parent().toString()) return PACKAGE_DATA_DIR;
		return Poco::Path(base).makeDirectory().pushDirectory("crosschat-relay-data").toString();
	}

	void handleTokenName(const std::string&, const std::string& value)
	{
		_tokenName = value;
		_tokenOptionGiven = true;
	}

	void handleTokenExpires(const std::string&, const std::string& value)
	{
		_tokenExpiresMs = CrossChat::Relay::RelayTokens::parseDuration(value);
		_tokenOptionGiven = true;
	}

	void handleTokenQuota(const std::string&, const std::string& value)
	{
		_tokenQuota = CrossChat::Relay::RelayTokenQuota::parse(value);
		_tokenOptionGiven = true;
	}

	void handleTokenAdmin(const std::string&, const std::string&)
	{
		_tokenAdmin = true;
		_tokenOptionGiven = true;
	}

	int detach(const std::string& daemonLog, Detacher& detacher)
		/// Child of --daemon, relay started: opens the daemon log and moves console logging to it,
		/// writes the PID file, then detaches. Returns 0, or an exit status after logging why
		/// (still on the caller's stderr).
	{
		Poco::Channel::Ptr pTarget;
		try
		{
			pTarget = openDaemonLog(daemonLog);
		}
		catch (const Poco::Exception& exc)
		{
			logger().fatal("cannot open the daemon log " + daemonLog + " (relay.daemonLog): " + exc.displayText());
			return Application::EXIT_CANTCREAT;
		}
		const int rc = writePidFile();
		if (rc != Application::EXIT_OK) return rc;
		std::cerr << "crosschat-relay: running in the background as process " << ::getpid() << ", logging to "
			<< daemonLog << std::endl;
		redirectConsoleLogging(pTarget);
		try
		{
			detacher.ready();
		}
		catch (const Poco::Exception& exc)
		{
			logger().fatal(exc.message());
			return Application::EXIT_OSERR;
		}
		return Application::EXIT_OK;
	}

	Poco::Channel::Ptr openDaemonLog(const std::string& daemonLog)
		/// syslog (ident crosschat-relay, facility daemon, with the PID) or a file that rotates at
		/// 10 MB and keeps 5 old ones. Throws Poco::Exception if the file cannot be opened.
	{
		if (daemonLog == SYSLOG)
		{
			Poco::AutoPtr<Poco::SyslogChannel> pSyslog = new Poco::SyslogChannel("crosschat-relay",
				Poco::SyslogChannel::SYSLOG_PID, Poco::SyslogChannel::SYSLOG_DAEMON);
			pSyslog->open();
			Poco::AutoPtr<Poco::PatternFormatter> pFormatter = new Poco::PatternFormatter("[%p] %s: %t");
			return new Poco::FormattingChannel(pFormatter, pSyslog);
		}
		Poco::AutoPtr<Poco::FileChannel> pFile = new Poco::FileChannel(daemonLog);
		pFile->setProperty(Poco::FileChannel::PROP_ROTATION, "10 M");
		pFile->setProperty(Poco::FileChannel::PROP_ARCHIVE, "timestamp");
		pFile->setProperty(Poco::FileChannel::PROP_PURGECOUNT, "5");
		pFile->open();   // creates the file now, so a bad path fails before detaching
		Poco::AutoPtr<Poco::PatternFormatter> pFormatter = new Poco::PatternFormatter("%Y-%m-%d %H:%M:%S.%i [%p] %s: %t");
		pFormatter->setProperty(Poco::PatternFormatter::PROP_TIMES, "local");
		return new Poco::FormattingChannel(pFormatter, pFile);
	}

	static void redirectConsoleLogging(const Poco::Channel::Ptr& pTarget)
		/// Every logger that writes to the console (the default logging set-up) writes to
		/// pTarget from now on; loggers configured with another channel keep it. Loggers
		/// created later inherit from their parents, so they follow.
	{
		std::vector<std::string> names;
		Poco::Logger::names(names);
		for (const std::string& name: names)
		{
			Poco::Logger& logger = Poco::Logger::get(name);
			if (writesToConsole(logger.getChannel().get())) logger.setChannel(pTarget);
		}
	}

	int writePidFile()
	{
		if (_pidFile.empty()) return Application::EXIT_OK;
		const int fd = ::open(_pidFile.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		const std::string text = std::to_string(::getpid()) + "\n";
		if (fd < 0 || ::write(fd, text.data(), text.size()) != static_cast<ssize_t>(text.size()))
		{
			const int error = errno;
			if (fd >= 0) ::close(fd);
			logger().fatal("cannot write the PID file " + _pidFile + ": " + errnoText(error));
			return Application::EXIT_CANTCREAT;
		}
		::close(fd);
		_pidFileWritten = true;
		return Application::EXIT_OK;
	}

	void removePidFile()
	{
		if (_pidFileWritten) ::unlink(_pidFile.c_str());
		_pidFileWritten = false;
	}

	void handleHelp(const std::string&, const std::string&)
	{
		Poco::Util::HelpFormatter help(options());
		help.setCommand(commandName());
		help.setUsage("[OPTIONS]\n       crosschat-relay [OPTIONS] token add [--name N] [--expires D] [--quota LIST] [--admin]\n"
			"       crosschat-relay [OPTIONS] token list\n       crosschat-relay [OPTIONS] token revoke <id|name>");
		help.setHeader(std::string("CrossChat relay ") + VERSION_TEXT
			+ ": peer discovery by ID, control channels and forwarding tunnels for crosschat.");
		help.setFooter(std::string("Every setting (relay.*) and the logging set-up are documented, with their defaults, "
			"in crosschat-relay.properties (installed as ") + SYSTEM_CONFIG_FILE + "); an unknown relay.* setting "
			"is an error. The PORT environment variable sets the port when no option does. SIGTERM or SIGINT drains "
			"and stops the relay (control channels are told to go away, work in progress gets "
			"relay.drainTimeoutSeconds); SIGHUP reloads the TLS certificate and key. Exit status: 0 after a stop, 64 for a bad "
			"command line, 78 for a bad setting, 69 if the relay cannot start (e.g. its port is taken), "
			"73 if the PID file or daemon log cannot be written. The token commands manage the access tokens of a "
			"private relay (relay.access = token) in the database of relay.dataDir, also while the relay runs; a new "
			"token is printed once.");
		help.format(std::cout);
		_helpRequested = true;
		stopOptionsProcessing();
	}

	void handlePort(const std::string&, const std::string& value)
	{
		config().setString("relay.port", value);
		_portGiven = true;
	}

	void handleConfigFile(const std::string&, const std::string& value)
	{
		loadConfiguration(value);
		_configFileGiven = true;
	}

	void handleDefine(const std::string&, const std::string& value)
	{
		const std::string::size_type equals = value.find('=');
		if (equals == std::string::npos || equals == 0)
			throw Poco::Util::InvalidArgumentException("--define expects NAME=VALUE, got '" + value + "'");
		config().setString(value.substr(0, equals), value.substr(equals + 1));
		if (value.substr(0, equals) == "relay.port") _portGiven = true;
	}

	void handleDaemon(const std::string&, const std::string&)
	{
		_daemon = true;
		config().setBool("application.runAsDaemon", true);
	}

	void handlePidFile(const std::string&, const std::string& value)
	{
		_pidFile = Poco::Path(value).absolute().toString();   // the daemon changes to / before it stops
	}

	void handleUMask(const std::string&, const std::string& value)
	{
		unsigned mask = 0;
		if (!Poco::NumberParser::tryParseOct(value, mask) || mask > 0777)
			throw Poco::Util::InvalidArgumentException("--umask expects an octal mask from 000 to 777, got '" + value + "'");
		::umask(static_cast<mode_t>(mask));
	}

	bool _helpRequested = false;
	bool _configFileGiven = false;
	bool _daemon = false;
	bool _portGiven = false;   ///< --port or --define relay.port (then PORT is not used).
	std::string _pidFile;
	bool _pidFileWritten = false;
	bool _tokenOptionGiven = false;
	std::string _tokenName;
	std::int64_t _tokenExpiresMs = 0;
	CrossChat::Relay::RelayTokenQuota _tokenQuota;
	bool _tokenAdmin = false;
};


int main(int argc, char** argv)
{
	try
	{
		Poco::AutoPtr<RelayServerApp> pApp = new RelayServerApp;
		try
		{
			pApp->init(argc, argv);   // the options (and --config-file); a bad one throws
		}
		catch (const Poco::Util::OptionException& exc)
		{
			std::cerr << "crosschat-relay: " << exc.displayText() << "; see --help" << std::endl;
			return Application::EXIT_USAGE;
		}
		catch (const Poco::Exception& exc)
		{
			std::cerr << "crosschat-relay: cannot read the configuration: " << exc.displayText() << std::endl;
			return Application::EXIT_CONFIG;
		}
		return pApp->runApplication();
	}
	catch (const Poco::Exception& exc)
	{
		std::cerr << "crosschat-relay: " << exc.displayText() << std::endl;
		return Application::EXIT_SOFTWARE;
	}
}
