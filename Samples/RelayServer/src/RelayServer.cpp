//
// RelayServer.cpp
//
// crosschat-relay: runs a CrossChat relay (discovery API, control channels, tunnels) as a
// Poco::Util::ServerApplication. Settings come from crosschat-relay.properties (next to the
// binary, or --config-file), --define name=value and the command line options; every relay.*
// key and its default is documented in that file.
//


#include "CrossChat/Relay/RelayServer.h"
#include "CrossChat/Relay/RelayTokens.h"
#include "Poco/DateTimeFormat.h"
#include "Poco/DateTimeFormatter.h"
#include "Poco/Path.h"
#include "Poco/String.h"
#include "Poco/Timestamp.h"
#include "Poco/Exception.h"
#include "Poco/Net/IPAddress.h"
#include "Poco/NumberParser.h"
#include "Poco/Util/HelpFormatter.h"
#include "Poco/Util/IntValidator.h"
#include "Poco/Util/Option.h"
#include "Poco/Util/OptionCallback.h"
#include "Poco/Util/OptionSet.h"
#include "Poco/Util/ServerApplication.h"
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <pthread.h>
#include <thread>
#include <iostream>
#include <string>
#include <vector>


using Poco::Util::Application;
using Poco::Util::Option;
using Poco::Util::OptionCallback;
using Poco::Util::OptionSet;


namespace {


const char* const VERSION_TEXT = CROSSCHAT_VERSION;


} // namespace


class RelayServerApp: public Poco::Util::ServerApplication
	/// The crosschat-relay program.
{
protected:
	void initialize(Application& self) override
	{
		if (!_configFileGiven) loadConfiguration();   // crosschat-relay.properties next to the binary
		ServerApplication::initialize(self);         // configures logging from the loaded settings
	}

	void defineOptions(OptionSet& options) override
	{
		ServerApplication::defineOptions(options);   // --daemon, --umask, --pidfile on Unix

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
		options.addOption(Option("config-file", "c", "Load settings from FILE instead of crosschat-relay.properties next to the binary.")
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

	int main(const std::vector<std::string>& arguments) override
	{
		if (_helpRequested) return Application::EXIT_OK;
		if (!arguments.empty()) return command(arguments);
		if (_tokenOptionGiven)
		{
			std::cerr << "--name, --expires, --quota and --admin belong to 'crosschat-relay token add'" << std::endl;
			return Application::EXIT_USAGE;
		}

		CrossChat::Relay::RelayServerConfig settings;
		try
		{
			settings = readSettings();
		}
		catch (const Poco::Exception& exc)
		{
			logger().fatal("bad setting: " + exc.displayText());
			return Application::EXIT_CONFIG;
		}

		// SIGHUP reloads the certificate: blocked here, before the relay's threads exist (they
		// inherit the mask), and taken by one thread with sigwait().
		sigset_t hangup;
		sigemptyset(&hangup);
		sigaddset(&hangup, SIGHUP);
		pthread_sigmask(SIG_BLOCK, &hangup, nullptr);

		CrossChat::Relay::RelayServer server(settings);
		try
		{
			server.start();
		}
		catch (const Poco::Exception& exc)
		{
			logger().fatal("cannot start the relay on " + settings.bind.toString() + ": " + exc.displayText());
			return Application::EXIT_UNAVAILABLE;
		}
		if (settings.access == CrossChat::Relay::RelayAccess::TOKEN)
			logger().information("private relay (relay.access = token): every client needs an access token");
		logger().information("data directory " + (settings.dataDir == ":memory:" ? std::string("none (state in memory only)") : settings.dataDir));
		const bool https = !settings.tlsCertificateFile.empty();
		const Poco::Net::SocketAddress address(settings.bind.host(), server.port());
		logger().information(std::string("crosschat-relay ") + VERSION_TEXT + " listening on "
			+ (https ? "https://" : "http://") + address.toString() + "/");
		if (server.probePort() != 0)
			logger().information("NAT probe port " + std::to_string(server.probePort()));

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
		logger().information("stopping (draining for at most " + std::to_string(settings.drainTimeout.count()) + " s)");
		server.drain();
		logger().information("stopped");
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
		/// relay.dataDir; by default "crosschat-relay-data" next to the settings file that was
		/// loaded (else next to the program). ":memory:" keeps nothing.
	{
		if (config().hasProperty("relay.dataDir")) return config().getString("relay.dataDir");
		const std::string base = config().hasProperty("application.configDir") ? config().getString("application.configDir")
			: config().getString("application.dir");
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

	void handleHelp(const std::string&, const std::string&)
	{
		Poco::Util::HelpFormatter help(options());
		help.setCommand(commandName());
		help.setUsage("[OPTIONS]\n       crosschat-relay [OPTIONS] token add [--name N] [--expires D] [--quota LIST] [--admin]\n"
			"       crosschat-relay [OPTIONS] token list\n       crosschat-relay [OPTIONS] token revoke <id|name>");
		help.setHeader(std::string("CrossChat relay ") + VERSION_TEXT
			+ ": peer discovery by ID, control channels and forwarding tunnels for crosschat.");
		help.setFooter("Every setting (relay.*) and the logging set-up are documented, with their defaults, "
			"in crosschat-relay.properties. The PORT environment variable sets the port when no option does. "
			"SIGTERM or SIGINT drains and stops the relay (control channels are told to go away, work in "
			"progress gets relay.drainTimeoutSeconds); SIGHUP reloads the TLS certificate and key. "
			"The token commands manage the access tokens of a private relay (relay.access = token) in the database "
			"of relay.dataDir, also while the relay runs; a new token is printed once.");
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
			throw Poco::InvalidArgumentException("--define expects NAME=VALUE, got '" + value + "'");
		config().setString(value.substr(0, equals), value.substr(equals + 1));
		if (value.substr(0, equals) == "relay.port") _portGiven = true;
	}

	std::chrono::seconds seconds(const std::string& key, std::chrono::seconds fallback) const
	{
		const int value = config().getInt(key, static_cast<int>(fallback.count()));
		if (value < 0) throw Poco::InvalidArgumentException(key + " must not be negative");
		return std::chrono::seconds(value);
	}

	unsigned count(const std::string& key, unsigned fallback) const
	{
		return config().getUInt(key, fallback);
	}

	CrossChat::Relay::RelayServerConfig readSettings() const
		/// Every RelayServerConfig field from relay.*, with the struct's defaults.
	{
		const CrossChat::Relay::RelayServerConfig defaults;
		CrossChat::Relay::RelayServerConfig settings;

		int port = config().getInt("relay.port", defaults.bind.port());
		// Platforms (Heroku, Railway, ...) give the port in PORT: it wins over the files, not
		// over --port or --define relay.port.
		const char* pEnvironmentPort = std::getenv("PORT");
		if (!_portGiven && pEnvironmentPort && *pEnvironmentPort)
		{
			int value = 0;
			if (!Poco::NumberParser::tryParse(pEnvironmentPort, value) || value < 0 || value > 65535)
				throw Poco::InvalidArgumentException(std::string("the PORT environment variable must be 0 to 65535, got '") + pEnvironmentPort + "'");
			port = value;
		}
		if (port < 0 || port > 65535) throw Poco::InvalidArgumentException("relay.port must be 0 to 65535");
		const std::string bind = config().getString("relay.bind", defaults.bind.host().toString());
		Poco::Net::IPAddress host;
		if (bind == "::" || bind == "[::]")   // Poco 1.11's parser refuses the IPv6 wildcard
			host = Poco::Net::IPAddress::wildcard(Poco::Net::IPAddress::IPv6);
		else if (!Poco::Net::IPAddress::tryParse(bind, host))
			throw Poco::InvalidArgumentException("relay.bind must be an IP address, got '" + bind + "'");
		settings.bind = Poco::Net::SocketAddress(host, static_cast<Poco::UInt16>(port));
		if (config().hasProperty("relay.probePort"))
		{
			const int probePort = config().getInt("relay.probePort");
			if (probePort < 0 || probePort > 65535) throw Poco::InvalidArgumentException("relay.probePort must be 0 to 65535");
			settings.probePort = static_cast<std::uint16_t>(probePort);
		}
		settings.maxProbeConnections = count("relay.maxProbeConnections", defaults.maxProbeConnections);
		settings.maxProbeConnectionsPerIp = count("relay.maxProbeConnectionsPerIp", defaults.maxProbeConnectionsPerIp);

		settings.tlsCertificateFile = config().getString("relay.tlsCertificateFile", defaults.tlsCertificateFile);
		settings.tlsKeyFile = config().getString("relay.tlsKeyFile", defaults.tlsKeyFile);
		if (settings.tlsCertificateFile.empty() != settings.tlsKeyFile.empty())
			throw Poco::InvalidArgumentException("HTTPS needs both relay.tlsCertificateFile (--tls-cert) and relay.tlsKeyFile (--tls-key)");

		settings.eventLoops = count("relay.eventLoops", defaults.eventLoops);
		settings.maxHttpConnections = count("relay.maxHttpConnections", defaults.maxHttpConnections);
		settings.maxHttpConnectionsPerIp = count("relay.maxHttpConnectionsPerIp", defaults.maxHttpConnectionsPerIp);
		settings.firstByteTimeout = seconds("relay.firstByteTimeoutSeconds", defaults.firstByteTimeout);
		settings.requestTimeout = seconds("relay.requestTimeoutSeconds", defaults.requestTimeout);
		settings.keepAliveTimeout = seconds("relay.keepAliveTimeoutSeconds", defaults.keepAliveTimeout);
		settings.maxKeepAliveRequests = count("relay.maxKeepAliveRequests", defaults.maxKeepAliveRequests);
		settings.maxHeaderSize = config().getUInt64("relay.maxHeaderSize", defaults.maxHeaderSize);
		settings.maxBodySize = config().getUInt64("relay.maxBodySize", defaults.maxBodySize);

		settings.recordTtl = seconds("relay.recordTtlSeconds", defaults.recordTtl);
		settings.reannounceAfter = seconds("relay.reannounceAfterSeconds", defaults.reannounceAfter);
		settings.lookupRetryAfter = seconds("relay.lookupRetryAfterSeconds", defaults.lookupRetryAfter);
		settings.maxPeers = config().getUInt64("relay.maxPeers", defaults.maxPeers);
		settings.maxPeersPerIp = config().getUInt64("relay.maxPeersPerIp", defaults.maxPeersPerIp);

		settings.controlKeepalive = seconds("relay.controlKeepaliveSeconds", defaults.controlKeepalive);
		if (settings.controlKeepalive.count() < 1) throw Poco::InvalidArgumentException("relay.controlKeepaliveSeconds must be at least 1");
		settings.controlHelloTimeout = seconds("relay.controlHelloTimeoutSeconds", defaults.controlHelloTimeout);
		settings.maxControlConnections = count("relay.maxControlConnections", defaults.maxControlConnections);
		settings.maxControlConnectionsPerIp = count("relay.maxControlConnectionsPerIp", defaults.maxControlConnectionsPerIp);

		settings.maxTunnels = count("relay.maxTunnels", defaults.maxTunnels);
		settings.maxTunnelsPerIp = count("relay.maxTunnelsPerIp", defaults.maxTunnelsPerIp);
		settings.tunnelsPerSecondPerIp = config().getDouble("relay.tunnelsPerSecondPerIp", defaults.tunnelsPerSecondPerIp);
		if (settings.tunnelsPerSecondPerIp <= 0) throw Poco::InvalidArgumentException("relay.tunnelsPerSecondPerIp must be positive");
		settings.tunnelRateBytesPerSecond = config().getUInt64("relay.tunnelRateBytesPerSecond", defaults.tunnelRateBytesPerSecond);
		settings.globalRateBytesPerSecond = config().getUInt64("relay.globalRateBytesPerSecond", defaults.globalRateBytesPerSecond);
		settings.tunnelIdleTimeout = seconds("relay.tunnelIdleTimeoutSeconds", defaults.tunnelIdleTimeout);
		settings.tunnelJoinTimeout = seconds("relay.tunnelJoinTimeoutSeconds", defaults.tunnelJoinTimeout);

		settings.requestsPerSecondPerIp = config().getDouble("relay.requestsPerSecondPerIp", defaults.requestsPerSecondPerIp);
		if (settings.requestsPerSecondPerIp <= 0) throw Poco::InvalidArgumentException("relay.requestsPerSecondPerIp must be positive");
		settings.replayCacheSize = config().getUInt64("relay.replayCacheSize", defaults.replayCacheSize);
		settings.replayCachePerIp = config().getUInt64("relay.replayCachePerIp", defaults.replayCachePerIp);
		settings.maxRateLimitedClients = config().getUInt64("relay.maxRateLimitedClients", defaults.maxRateLimitedClients);

		settings.trustedProxies = config().getString("relay.trustedProxies", defaults.trustedProxies);
		settings.proxyProtocol = config().getBool("relay.proxyProtocol", defaults.proxyProtocol);
		settings.drainTimeout = seconds("relay.drainTimeoutSeconds", defaults.drainTimeout);
		settings.descriptorReserve = count("relay.descriptorReserve", defaults.descriptorReserve);

		settings.dataDir = dataDirectory();
		const std::string access = Poco::toLower(config().getString("relay.access", "open"));
		if (access == "open") settings.access = CrossChat::Relay::RelayAccess::OPEN;
		else if (access == "token") settings.access = CrossChat::Relay::RelayAccess::TOKEN;
		else throw Poco::InvalidArgumentException("relay.access must be open or token, got '" + access + "'");
		const std::string statusAccess = Poco::toLower(config().getString("relay.statusAccess", "open"));
		if (statusAccess != "open" && statusAccess != "admin")
			throw Poco::InvalidArgumentException("relay.statusAccess must be open or admin, got '" + statusAccess + "'");
		settings.adminStatus = statusAccess == "admin";
		settings.maxHandles = config().getUInt64("relay.maxHandles", defaults.maxHandles);
		settings.maxHandlesPerIp = config().getUInt64("relay.maxHandlesPerIp", defaults.maxHandlesPerIp);
		settings.handleRelease = seconds("relay.handleReleaseSeconds", defaults.handleRelease);
		settings.maxEnvelopeSize = config().getUInt64("relay.maxEnvelopeSize", defaults.maxEnvelopeSize);
		settings.mailboxTtl = seconds("relay.mailboxTtlSeconds", defaults.mailboxTtl);
		settings.mailboxMaxBytes = config().getUInt64("relay.mailboxMaxBytes", defaults.mailboxMaxBytes);
		settings.mailboxPerRecipient = config().getUInt64("relay.mailboxPerRecipient", defaults.mailboxPerRecipient);
		settings.mailboxBytesPerRecipient = config().getUInt64("relay.mailboxBytesPerRecipient", defaults.mailboxBytesPerRecipient);
		settings.mailboxBytesPerIp = config().getUInt64("relay.mailboxBytesPerIp", defaults.mailboxBytesPerIp);
		settings.mailboxPerIpPerRecipient = config().getUInt64("relay.mailboxPerIpPerRecipient", defaults.mailboxPerIpPerRecipient);
		return settings;
	}

	bool _helpRequested = false;
	bool _configFileGiven = false;
	bool _portGiven = false;   ///< --port or --define relay.port (then PORT is not used).
	bool _tokenOptionGiven = false;
	std::string _tokenName;
	std::int64_t _tokenExpiresMs = 0;
	CrossChat::Relay::RelayTokenQuota _tokenQuota;
	bool _tokenAdmin = false;
};


POCO_SERVER_MAIN(RelayServerApp)
