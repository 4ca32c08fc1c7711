//
// ConsoleChat.cpp
//
// Sample: ConsoleChat
// crosschat: the console chat program.
//
// Threads (as in asio's chat_client): the main thread reads stdin with std::getline and
// hands each line to the loop thread, waiting until the line has been handled before it
// reads the next one, so /quit stops the reading at once. Everything else (the session,
// the console output, later the network) lives on the one loop thread.
//


#include "ConsoleSession.h"
#include "CrossChat/EventLoop.h"
#include "CrossChat/EventLoopThread.h"
#include "CrossChat/Identity.h"
#include "Poco/AutoPtr.h"
#include "Poco/ConsoleChannel.h"
#include "Poco/Environment.h"
#include "Poco/Exception.h"
#include "Poco/FormattingChannel.h"
#include "Poco/Logger.h"
#include "Poco/Message.h"
#include "Poco/File.h"
#include "Poco/NumberParser.h"
#include "Poco/Path.h"
#include "Poco/URI.h"
#include "Poco/PatternFormatter.h"
#include "Poco/String.h"
#include "Poco/Util/Application.h"
#include "Poco/Util/OptionException.h"
#include "Poco/Util/HelpFormatter.h"
#include "Poco/Util/Option.h"
#include "Poco/Util/OptionCallback.h"
#include "Poco/Util/OptionSet.h"
#include <chrono>
#include <cstdint>
#include <exception>
#include <future>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <utility>


using Poco::Util::Application;
using Poco::Util::HelpFormatter;
using Poco::Util::Option;
using Poco::Util::OptionCallback;
using Poco::Util::OptionSet;


namespace {


const char* const SYSTEM_CONFIG_FILE = CROSSCHAT_SYSCONFDIR "/crosschat/crosschat.properties";


template <typename Function>
auto callInLoop(CrossChat::EventLoop& loop, Function function) -> decltype(function())
	/// Runs function on the loop thread and waits for its result (or exception), which the
	/// packaged task's promise carries back. Must not be called from the loop thread.
{
	using Result = decltype(function());
	std::packaged_task<Result()> task(std::move(function));
	std::future<Result> result = task.get_future();
	loop.post([&task] { task(); });
	return result.get();
}


void configureLogging(bool verbose)
	/// Sends every logger, present and future, to std::cerr: stdout carries only the
	/// program's output (in --json mode nothing but JSON lines). Quiet: warnings and worse,
	/// tersely. Verbose: everything, with time and source.
{
	Poco::AutoPtr<Poco::PatternFormatter> pFormatter =
		new Poco::PatternFormatter(verbose ? "%H:%M:%S.%i %p %s: %t" : "crosschat: %p: %t");
	Poco::AutoPtr<Poco::ConsoleChannel> pConsole = new Poco::ConsoleChannel(std::cerr);
	Poco::AutoPtr<Poco::FormattingChannel> pChannel = new Poco::FormattingChannel(pFormatter, pConsole);
	Poco::Logger::setChannel("", pChannel);
	Poco::Logger::setLevel("", verbose ? Poco::Message::PRIO_DEBUG : Poco::Message::PRIO_WARNING);
}


} // namespace


class ConsoleChat: public Application
	/// The crosschat application: options, logging, the stdin loop.
{
public:
	static constexpr std::size_t MAX_NAME_LENGTH = 64;

	ConsoleChat()
	{
		configureLogging(false);
	}

protected:
	void defineOptions(OptionSet& options) override
	{
		Application::defineOptions(options);

		options.addOption(
			Option("help", "h", "Print this help and exit.")
				.required(false)
				.repeatable(false)
				.callback(OptionCallback<ConsoleChat>(this, &ConsoleChat::handleHelp)));
		options.addOption(
			Option("name", "n", "The name others see; default: $USER, else the host name.")
				.required(false)
				.repeatable(false)
				.argument("NAME")
				.callback(OptionCallback<ConsoleChat>(this, &ConsoleChat::handleName)));
		options.addOption(
			Option("data-dir", "d", "Where the identity key is kept; default: "
				"$XDG_DATA_HOME/crosschat, else ~/.local/share/crosschat.")
				.required(false)
				.repeatable(false)
				.argument("DIR")
				.callback(OptionCallback<ConsoleChat>(this, &ConsoleChat::handleDataDir)));
		options.addOption(
			Option("json", "j", "Write one JSON object per line to stdout instead of text.")
				.required(false)
				.repeatable(false)
				.callback(OptionCallback<ConsoleChat>(this, &ConsoleChat::handleJson)));
		options.addOption(
			Option("port", "p", "TCP port for chat sessions; default: any free port.")
				.required(false)
				.repeatable(false)
				.argument("PORT")
				.callback(OptionCallback<ConsoleChat>(this, &ConsoleChat::handlePort)));
		options.addOption(
			Option("lan-port", "", "UDP port of LAN discovery; default: 54545. Peers must agree on it.")
				.required(false)
				.repeatable(false)
				.argument("PORT")
				.callback(OptionCallback<ConsoleChat>(this, &ConsoleChat::handleLanPort)));
		options.addOption(
			Option("lan-interval", "", "Seconds between LAN announcements; default: 30. "
				"A peer silent for three intervals is reported lost.")
				.required(false)
				.repeatable(false)
				.argument("SECONDS")
				.callback(OptionCallback<ConsoleChat>(this, &ConsoleChat::handleLanInterval)));
		options.addOption(
			Option("relay", "r", "URL of a relay (http://host:port) through which peers on other networks "
				"find and reach you by peer ID.")
				.required(false)
				.repeatable(false)
				.argument("URL")
				.callback(OptionCallback<ConsoleChat>(this, &ConsoleChat::handleRelay)));
		options.addOption(
			Option("config-file", "c", "Read settings from FILE (default: $XDG_CONFIG_HOME/crosschat/"
				"crosschat.properties, else ~/.config/crosschat/crosschat.properties, if present), over the "
				"system-wide " CROSSCHAT_SYSCONFDIR "/crosschat/crosschat.properties. "
				"Keys: crosschat.name, crosschat.data-dir, crosschat.port, crosschat.lan, crosschat.lan-port, "
				"crosschat.lan-interval, crosschat.relay, crosschat.relay-directory, crosschat.port-mapping, crosschat.hole-punching. "
				"Options win over the file.")
				.required(false)
				.repeatable(false)
				.argument("FILE")
				.callback(OptionCallback<ConsoleChat>(this, &ConsoleChat::handleConfigFile)));
		options.addOption(
			Option("no-hole-punching", "", "Keep relayed conversations on the relay: no TCP hole punching "
				"(peers then never learn your address from a punch).")
				.required(false)
				.repeatable(false)
				.callback(OptionCallback<ConsoleChat>(this, &ConsoleChat::handleNoHolePunching)));
		options.addOption(
			Option("no-port-mapping", "", "Do not ask the gateway (NAT-PMP, UPnP IGD) to forward the chat port.")
				.required(false)
				.repeatable(false)
				.callback(OptionCallback<ConsoleChat>(this, &ConsoleChat::handleNoPortMapping)));
		options.addOption(
			Option("no-lan", "", "Do not announce or look for peers on the LAN.")
				.required(false)
				.repeatable(false)
				.callback(OptionCallback<ConsoleChat>(this, &ConsoleChat::handleNoLan)));
		options.addOption(
			Option("verbose", "v", "Write debug logging to stderr.")
				.required(false)
				.repeatable(false)
				.callback(OptionCallback<ConsoleChat>(this, &ConsoleChat::handleVerbose)));
	}

	int main(const ArgVec& args) override
	{
		if (_helpRequested) return EXIT_OK;
		if (!args.empty())
		{
			std::cerr << "crosschat: unexpected argument '" << args.front() << "'; see --help\n";
			return EXIT_USAGE;
		}

		CrossChat::ConsoleSession::Settings settings;
		try
		{
			// Command-line options first, then the configuration file, then the defaults.
			const auto& file = config();
			settings.name = Poco::trim(_name ? *_name : file.getString("crosschat.name", defaultName()));
			settings.dataDir = _dataDir ? *_dataDir : file.getString("crosschat.data-dir", CrossChat::Identity::defaultDataDir());
			settings.json = _json;
			settings.port = static_cast<std::uint16_t>(_port ? *_port
				: parseNumber("crosschat.port", file.getString("crosschat.port", "0"), 0, 65535));
			settings.lan = _noLan ? false : file.getBool("crosschat.lan", true);
			settings.lanPort = static_cast<std::uint16_t>(_lanPort ? *_lanPort
				: parseNumber("crosschat.lan-port", file.getString("crosschat.lan-port", "54545"), 1, 65535));
			settings.lanInterval = std::chrono::seconds(_lanInterval ? *_lanInterval
				: parseNumber("crosschat.lan-interval", file.getString("crosschat.lan-interval", "30"), 1, 3600));
			settings.relay = _relay ? *_relay : file.getString("crosschat.relay", "");
			settings.relayDirectory = file.getBool("crosschat.relay-directory", false);
			settings.portMapping = _noPortMapping ? false : file.getBool("crosschat.port-mapping", true);
			settings.holePunching = _noHolePunching ? false : file.getBool("crosschat.hole-punching", true);
		}
		catch (const Poco::Exception& exc)
		{
			std::cerr << "crosschat: bad setting: " << exc.message() << "\n";
			return EXIT_CONFIG;
		}
		if (!settings.relay.empty())
		{
			try
			{
				const Poco::URI uri(settings.relay);
				if (uri.getScheme() != "http" || uri.getHost().empty())
					throw Poco::SyntaxException("expected http://host[:port]", settings.relay);
			}
			catch (const Poco::Exception& exc)
			{
				std::cerr << "crosschat: relay URL (--relay or crosschat.relay): " << exc.displayText() << "\n";
				return EXIT_USAGE;
			}
		}
		if (settings.name.empty() || settings.name.size() > MAX_NAME_LENGTH)
		{
			std::cerr << "crosschat: --name must have 1 to " << MAX_NAME_LENGTH << " bytes\n";
			return EXIT_USAGE;
		}
		for (unsigned char c: settings.name)
		{
			if (c < 0x20 || c == 0x7f)
			{
				std::cerr << "crosschat: --name must not contain control characters\n";
				return EXIT_USAGE;
			}
		}
		if (settings.dataDir.empty())
		{
			std::cerr << "crosschat: --data-dir must not be empty\n";
			return EXIT_USAGE;
		}

		CrossChat::EventLoopThread loopThread("crosschat-loop");
		CrossChat::EventLoop& loop = loopThread.loop();
		std::unique_ptr<CrossChat::ConsoleSession> pSession; // lives on the loop thread

		int rc = EXIT_SOFTWARE;
		try
		{
			rc = callInLoop(loop, [&]
			{
				pSession = std::make_unique<CrossChat::ConsoleSession>(loop, settings, std::cout, std::cerr);
				return pSession->start();
			});
			if (rc == EXIT_OK) readInput(loop, *pSession);
		}
		catch (const Poco::Exception& exc)
		{
			logger().log(exc);
			rc = EXIT_SOFTWARE;
		}
		catch (const std::exception& exc)
		{
			logger().error(std::string("crosschat: ") + exc.what());
			rc = EXIT_SOFTWARE;
		}

		callInLoop(loop, [&] { pSession.reset(); });
		loopThread.stop();
		return rc;
	}

private:
	static void readInput(CrossChat::EventLoop& loop, CrossChat::ConsoleSession& session)
		/// Reads stdin on the calling (main) thread until /quit or the end of input.
	{
		using Action = CrossChat::CommandInterpreter::Action;

		std::string line;
		while (std::getline(std::cin, line))
		{
			const Action action = callInLoop(loop, [&] { return session.handleLine(line); });
			if (action == Action::QUIT) return;
		}
		callInLoop(loop, [&] { session.quit(); });
	}

	static std::string defaultName()
	{
		std::string name = Poco::Environment::get("USER", "");
		if (name.empty()) name = Poco::Environment::nodeName();
		return name.substr(0, MAX_NAME_LENGTH);
	}

	void handleHelp(const std::string&, const std::string&)
	{
		_helpRequested = true;
		HelpFormatter helpFormatter(options());
		helpFormatter.setCommand(commandName());
		helpFormatter.setUsage("[OPTIONS]");
		helpFormatter.setHeader("CrossChat " CROSSCHAT_VERSION " \u2014 peer-to-peer chat on the console.");
		helpFormatter.setFooter(
			"Once started, type /help for the commands (/peers, /msg, /whoami, /quit, ...). "
			"The end of input acts like /quit.");
		helpFormatter.format(std::cout);
		stopOptionsProcessing();
	}

	void handleName(const std::string&, const std::string& value)
	{
		_name = value;
	}

	void handleDataDir(const std::string&, const std::string& value)
	{
		_dataDir = value;
	}

	void handleJson(const std::string&, const std::string&)
	{
		_json = true;
	}

	void handleVerbose(const std::string&, const std::string&)
	{
		configureLogging(true);
	}

	static unsigned parseNumber(const std::string& option, const std::string& value, unsigned min, unsigned max)
		/// Throws Poco::Util::InvalidArgumentException (reported by Application, exit 78).
	{
		unsigned number = 0;
		if (!Poco::NumberParser::tryParseUnsigned(value, number) || number < min || number > max)
		{
			throw Poco::Util::InvalidArgumentException(option + " needs a number from "
				+ std::to_string(min) + " to " + std::to_string(max) + ", not '" + value + "'");
		}
		return number;
	}

	void handlePort(const std::string& name, const std::string& value)
	{
		_port = parseNumber("--" + name, value, 0, 65535);
	}

	void handleLanPort(const std::string& name, const std::string& value)
	{
		_lanPort = parseNumber("--" + name, value, 1, 65535);
	}

	void handleLanInterval(const std::string& name, const std::string& value)
	{
		_lanInterval = parseNumber("--" + name, value, 1, 3600);
	}

	void handleNoLan(const std::string&, const std::string&)
	{
		_noLan = true;
	}

	void handleNoHolePunching(const std::string&, const std::string&)
	{
		_noHolePunching = true;
	}

	void handleNoPortMapping(const std::string&, const std::string&)
	{
		_noPortMapping = true;
	}

	void handleRelay(const std::string&, const std::string& value)
	{
		_relay = value;
	}

	void handleConfigFile(const std::string&, const std::string& value)
	{
		loadConfiguration(value);   // throws (exit 78) if the file is missing or malformed
		_configFileGiven = true;
	}

	void initialize(Application& self) override
	{
		Application::initialize(self);
		// The system-wide file is the bottom layer: the user's file (or --config-file) and the
		// options override it key by key.
		if (Poco::File(SYSTEM_CONFIG_FILE).exists()) loadConfiguration(SYSTEM_CONFIG_FILE, PRIO_DEFAULT + 1);
		if (_configFileGiven) return;
		const std::string home = Poco::Environment::get("XDG_CONFIG_HOME", "");
		const std::string dir = !home.empty() && home[0] == '/' ? home
			: Poco::Environment::get("HOME", Poco::Path::home()) + "/.config";
		const std::string file = dir + "/crosschat/crosschat.properties";
		if (Poco::File(file).exists()) loadConfiguration(file);
	}

	bool _helpRequested = false;
	bool _json = false;
	bool _noLan = false;
	bool _noPortMapping = false;
	bool _noHolePunching = false;
	bool _configFileGiven = false;
	std::optional<unsigned> _port;
	std::optional<unsigned> _lanPort;
	std::optional<unsigned> _lanInterval;
	std::optional<std::string> _relay;
	std::optional<std::string> _name;
	std::optional<std::string> _dataDir;
};


POCO_APP_MAIN(ConsoleChat)
