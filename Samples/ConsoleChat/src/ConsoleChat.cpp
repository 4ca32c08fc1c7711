//
// ConsoleChat.cpp
//
// Sample: ConsoleChat
// crosschat: the console chat program.
//
// Threads (as in asio's chat_client): in line mode the main thread reads stdin with
// std::getline and hands each line to the loop thread, waiting until the line has been
// handled before it reads the next one, so /quit stops the reading at once. In full-screen
// mode the main thread is the UI thread (ScreenUi): it owns curses, polls the keyboard, the
// events the loop sends it and the signals, and posts each line to the loop without waiting.
// Everything else (the session, the chat node, the network) lives on the one loop thread.
//


#include "ConsoleSession.h"
#include "ScreenUi.h"
#include "Terminal.h"
#include "TransferText.h"
#include "CrossChat/EventLoop.h"
#include "CrossChat/EventLoopThread.h"
#include "CrossChat/Identity.h"
#include "CrossChat/TlsClientContext.h"
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
#include "Poco/JSON/Object.h"
#include <chrono>
#include <clocale>
#include <cstdint>
#include <cstring>
#include <exception>
#include <future>
#include <iostream>
#include <limits>
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


void configureLogging(bool verbose, Poco::Channel* pTarget = nullptr)
	/// Sends every logger, present and future, to pTarget, by default std::cerr: stdout
	/// carries only the program's output (in --json mode nothing but JSON lines). Verbose:
	/// everything, with time and source. Quiet: warnings and worse, tersely — except from
	/// the relay client and the chat node, whose warnings are the relay states and the
	/// errors the console already shows as events (logging them too printed each twice),
	/// and the retries behind them: those are details for --verbose.
{
	Poco::AutoPtr<Poco::PatternFormatter> pFormatter =
		new Poco::PatternFormatter(verbose ? "%H:%M:%S.%i %p %s: %t" : pTarget ? "%p: %t" : "crosschat: %p: %t");
	Poco::AutoPtr<Poco::Channel> pOut = pTarget;
	if (pTarget) pTarget->duplicate();
	else pOut = new Poco::ConsoleChannel(std::cerr);
	Poco::AutoPtr<Poco::FormattingChannel> pChannel = new Poco::FormattingChannel(pFormatter, pOut);
	Poco::Logger::setChannel("", pChannel);
	Poco::Logger::setLevel("", verbose ? Poco::Message::PRIO_DEBUG : Poco::Message::PRIO_WARNING);
	if (!verbose)
	{
		// get() creates them now, so that they exist with these levels (a logger created
		// later takes its level from its nearest existing ancestor).
		Poco::Logger::get("CrossChat.Relay.Client").setLevel(Poco::Message::PRIO_ERROR);
		Poco::Logger::get("CrossChat.Chat").setLevel(Poco::Message::PRIO_ERROR);
		// A refused TLS handshake is reported where it matters: an https relay's certificate
		// in the relay state, a peer's key by the dial that failed.
		Poco::Logger::get("CrossChat.Tls").setLevel(Poco::Message::PRIO_ERROR);
		Poco::Logger::get("CrossChat.Chat.PortMapper").setLevel(Poco::Message::PRIO_WARNING);
	}
}


bool jsonRequested(int argc, char** argv)
	/// --json or -j among the arguments (before the options are parsed, so that errors in
	/// them can be reported as JSON too).
{
	for (int i = 1; i < argc; ++i)
	{
		const std::string argument = argv[i];
		if (argument == "--") break;
		if (argument == "--json" || argument == "-j" || argument == "/json") return true;
		if (argument.size() > 1 && argument[0] == '-' && argument[1] != '-' && argument.find('j') != std::string::npos
			&& argument.find_first_not_of("jhv", 1) == std::string::npos) return true;   // -vj
	}
	return false;
}


void reportStartupError(bool json, const std::string& message)
	/// A problem found before the session runs: "crosschat: ..." on stderr, and with --json
	/// an error event on stdout as well (as Console::fatal does once the session runs).
{
	std::cerr << "crosschat: " << message << std::endl;
	if (json)
	{
		Poco::JSON::Object event(Poco::JSON_PRESERVE_KEY_ORDER);
		event.set("event", std::string("error"));
		event.set("message", message);
		event.set("fatal", true);
		event.stringify(std::cout, 0);
		std::cout << std::endl;
	}
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
			Option("data-dir", "d", "Where the identity key and the chat database (history, contacts, outbox) are kept; default: "
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
			Option("plain", "", "Line mode even on a terminal: read lines, print one line per event "
				"(the default on a terminal is the full-screen mode; pipes and --json always get line mode).")
				.required(false)
				.repeatable(false)
				.callback(OptionCallback<ConsoleChat>(this, &ConsoleChat::handlePlain)));
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
			Option("relay", "r", "URL of a relay (https://host[:port], port 443 by default, or http://host[:port], "
				"port 80) through which peers on other networks find and reach you by peer ID.")
				.required(false)
				.repeatable(false)
				.argument("URL")
				.callback(OptionCallback<ConsoleChat>(this, &ConsoleChat::handleRelay)));
		options.addOption(
			Option("relay-ca", "", "Verify an https:// relay's certificate against the CA certificates in FILE "
				"(PEM) instead of the system trust store.")
				.required(false)
				.repeatable(false)
				.argument("FILE")
				.callback(OptionCallback<ConsoleChat>(this, &ConsoleChat::handleRelayCa)));
		options.addOption(
			Option("downloads", "", "Where received files land; default: the downloads directory in the data directory.")
				.required(false)
				.repeatable(false)
				.argument("DIR")
				.callback(OptionCallback<ConsoleChat>(this, &ConsoleChat::handleDownloads)));
		options.addOption(
			Option("relay-token", "", "Access token of a private relay (from its operator's crosschat-relay token add). "
				"Also crosschat.relay-token; a missing, unknown or revoked token is reported and not retried.")
				.required(false)
				.repeatable(false)
				.argument("TOKEN")
				.callback(OptionCallback<ConsoleChat>(this, &ConsoleChat::handleRelayToken)));
		options.addOption(
			Option("no-mailbox", "", "Do not leave messages for offline contacts in their relay mailbox, nor take ours.")
				.required(false)
				.repeatable(false)
				.callback(OptionCallback<ConsoleChat>(this, &ConsoleChat::handleNoMailbox)));
		options.addOption(
			Option("config-file", "c", "Read settings from FILE (default: $XDG_CONFIG_HOME/crosschat/"
				"crosschat.properties, else ~/.config/crosschat/crosschat.properties, if present), over the "
				"system-wide " CROSSCHAT_SYSCONFDIR "/crosschat/crosschat.properties. "
				"Keys: crosschat.name, crosschat.data-dir, crosschat.port, crosschat.lan, crosschat.lan-port, "
				"crosschat.lan-interval, crosschat.relay, crosschat.relay-ca, crosschat.relay-token, crosschat.mailbox, crosschat.relay-directory, crosschat.publish-address, crosschat.port-mapping, "
				"crosschat.hole-punching, crosschat.bell, crosschat.downloads, crosschat.files.max-size, crosschat.files.min-free-space, "
				"crosschat.files.max-pending-offers, crosschat.files.max-pending-offers-per-peer, crosschat.files.download-memory, "
				"and the limits crosschat.max-sessions, crosschat.max-sessions-per-address, "
				"crosschat.max-pending-sessions, crosschat.max-pending-per-address, crosschat.max-strangers, "
				"crosschat.max-dials-per-minute, crosschat.max-reconnects-per-minute. "
				"Options win over the file.")
				.required(false)
				.repeatable(false)
				.argument("FILE")
				.callback(OptionCallback<ConsoleChat>(this, &ConsoleChat::handleConfigFile)));
		options.addOption(
			Option("publish-address", "", "Let the relay tell anyone who looks you up the address it sees you at "
				"(and your gateway-mapped one), so that strangers can reach you directly at once. Without it your "
				"addresses reach only your contacts.")
				.required(false)
				.repeatable(false)
				.callback(OptionCallback<ConsoleChat>(this, &ConsoleChat::handlePublishAddress)));
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
		if (!_startupError.empty())
		{
			reportStartupError(_json, _startupError);
			return EXIT_CONFIG;
		}
		if (!args.empty())
		{
			reportStartupError(_json, "unexpected argument '" + args.front() + "'; see --help");
			return EXIT_USAGE;
		}

		CrossChat::ConsoleSession::Settings settings;
		bool bell = true;
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
			settings.relayCa = _relayCa ? *_relayCa : file.getString("crosschat.relay-ca", "");
			settings.relayDirectory = file.getBool("crosschat.relay-directory", false);
			settings.relayToken = Poco::trim(_relayToken ? *_relayToken : file.getString("crosschat.relay-token", ""));
			settings.mailbox = _noMailbox ? false : file.getBool("crosschat.mailbox", true);
			settings.portMapping = _noPortMapping ? false : file.getBool("crosschat.port-mapping", true);
			settings.holePunching = _noHolePunching ? false : file.getBool("crosschat.hole-punching", true);
			bell = file.getBool("crosschat.bell", true);
			settings.publishAddress = _publishAddress || file.getBool("crosschat.publish-address", false);
			auto limit = [&](const char* key, std::size_t defaultValue, std::size_t max) {
				return static_cast<std::size_t>(parseNumber(key, file.getString(key, std::to_string(defaultValue)), 1, max));
			};
			CrossChat::Chat::ChatNodeConfig& limits = settings.limits;
			limits.maxSessions = limit("crosschat.max-sessions", limits.maxSessions, 100000);
			limits.maxSessionsPerAddress = limit("crosschat.max-sessions-per-address", limits.maxSessionsPerAddress, 100000);
			limits.maxPendingSessions = limit("crosschat.max-pending-sessions", limits.maxPendingSessions, 100000);
			limits.maxPendingPerAddress = limit("crosschat.max-pending-per-address", limits.maxPendingPerAddress, 100000);
			limits.maxStrangers = limit("crosschat.max-strangers", limits.maxStrangers, 100000);
			limits.maxDialsPerMinute = static_cast<unsigned>(limit("crosschat.max-dials-per-minute", limits.maxDialsPerMinute, 10000));
			limits.maxRoundsPerMinute = static_cast<unsigned>(limit("crosschat.max-reconnects-per-minute", limits.maxRoundsPerMinute, 1000));
			CrossChat::Chat::TransferConfig& transfers = settings.transfers;
			transfers.downloadDirectory = _downloads ? *_downloads : file.getString("crosschat.downloads", "");
			auto size = [&](const char* key, std::uint64_t defaultValue) {
				const std::string text = file.getString(key, "");
				if (text.empty()) return defaultValue;
				const auto bytes = CrossChat::TransferText::parseSize(text);
				if (!bytes) throw Poco::Util::InvalidArgumentException(std::string(key) + " needs a size (e.g. 500M, 2G), not '" + text + "'");
				return *bytes;
			};
			transfers.maxFileSize = size("crosschat.files.max-size", transfers.maxFileSize);
			transfers.minFreeSpace = size("crosschat.files.min-free-space", transfers.minFreeSpace);
			transfers.maxPendingOffers = limit("crosschat.files.max-pending-offers", transfers.maxPendingOffers, 10000);
			transfers.maxPendingOffersPerPeer = limit("crosschat.files.max-pending-offers-per-peer", transfers.maxPendingOffersPerPeer, 10000);
			const std::uint64_t downloadMemory = size("crosschat.files.download-memory", transfers.downloadMemory);
			if (downloadMemory < 1024 * 1024 || downloadMemory > std::numeric_limits<std::size_t>::max())
				throw Poco::Util::InvalidArgumentException("crosschat.files.download-memory must be at least 1M");
			transfers.downloadMemory = static_cast<std::size_t>(downloadMemory);
			// Test hook (off by default): as a sender, corrupt one bit of this block once (README, "Testing hooks").
			if (file.has("crosschat.test.corrupt-block"))
				transfers.testCorruptBlock = parseNumber("crosschat.test.corrupt-block", file.getString("crosschat.test.corrupt-block"), 0, 65535);
		}
		catch (const Poco::Exception& exc)
		{
			reportStartupError(_json, "bad setting: " + exc.message());
			return EXIT_CONFIG;
		}
		if (!settings.relay.empty())
		{
			const std::string problem = relayUrlProblem(settings.relay);
			if (!problem.empty())
			{
				reportStartupError(_json, "relay URL '" + settings.relay + "' (--relay or crosschat.relay): " + problem);
				return EXIT_USAGE;
			}
		}
		if (!settings.relayCa.empty())
		{
			if (settings.relay.empty() || Poco::URI(settings.relay).getScheme() != "https")
			{
				reportStartupError(_json, "--relay-ca (crosschat.relay-ca) is for an https:// relay"
					+ (settings.relay.empty() ? std::string(", and no relay is set") : ", not " + settings.relay));
				return EXIT_USAGE;
			}
			try
			{
				CrossChat::TlsClientContext::withCaFile(settings.relayCa);
			}
			catch (const Poco::Exception& exc)
			{
				reportStartupError(_json, "--relay-ca (crosschat.relay-ca): " + exc.message());
				return EXIT_CONFIG;
			}
		}
		if (settings.name.empty() || settings.name.size() > MAX_NAME_LENGTH)
		{
			reportStartupError(_json, "--name must have 1 to " + std::to_string(MAX_NAME_LENGTH) + " bytes");
			return EXIT_USAGE;
		}
		for (unsigned char c: settings.name)
		{
			if (c < 0x20 || c == 0x7f)
			{
				reportStartupError(_json, "--name must not contain control characters");
				return EXIT_USAGE;
			}
		}
		if (settings.dataDir.empty())
		{
			reportStartupError(_json, "--data-dir must not be empty");
			return EXIT_USAGE;
		}

		std::string why;
		const bool screen = !_json && !_plain && CrossChat::Terminal::suitable(why);
		if (!screen && !_json && !_plain) logger().debug("line mode: " + why);

		CrossChat::EventLoopThread loopThread("crosschat-loop");
		CrossChat::EventLoop& loop = loopThread.loop();
		std::unique_ptr<CrossChat::ConsoleSession> pSession; // lives on the loop thread

		int rc = EXIT_SOFTWARE;
		try
		{
			if (screen)
			{
				rc = runScreen(loop, settings, bell, pSession);
			}
			else
			{
				rc = callInLoop(loop, [&]
				{
					pSession = std::make_unique<CrossChat::ConsoleSession>(loop, settings, std::cout, std::cerr);
					return pSession->start();
				});
				if (rc == EXIT_OK) readInput(loop, *pSession);
			}
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
	int runScreen(CrossChat::EventLoop& loop, const CrossChat::ConsoleSession::Settings& settings, bool bell,
		std::unique_ptr<CrossChat::ConsoleSession>& pSession)
		/// Full-screen mode: the session's events go to the ScreenUi, which runs on this thread
		/// until /quit, Ctrl+C, a signal or the end of the terminal.
	{
		CrossChat::ScreenUi::Settings uiSettings;
		uiSettings.bell = bell;
		uiSettings.version = CROSSCHAT_VERSION;
		CrossChat::ScreenUi ui(uiSettings);
		std::setlocale(LC_CTYPE, "");   // wide characters and their widths (only LC_CTYPE: JSON numbers stay C)
		Poco::AutoPtr<CrossChat::ScreenUi::LogChannel> pLog = new CrossChat::ScreenUi::LogChannel(ui);
		configureLogging(_verbose, pLog.get());

		std::vector<CrossChat::ScreenUi::Command> commands;
		int rc = callInLoop(loop, [&]
		{
			pSession = std::make_unique<CrossChat::ConsoleSession>(loop, settings, std::cout, std::cerr);
			pSession->console().setSink([&ui](const std::string& json, const std::string& text) { ui.deliver(json, text); });
			for (const auto& command: pSession->interpreter().commands())
				commands.push_back({command.name, command.usage, command.description});
			return pSession->start();
		});
		if (rc != EXIT_OK)
		{
			configureLogging(_verbose);
			ui.writeTranscript(std::cout, std::cerr);
			return rc;
		}
		ui.setCommands(commands);

		CrossChat::ConsoleSession* pRunning = pSession.get();
		auto handler = [&loop, &ui, pRunning](const std::string& line)
		{
			// The session outlives every task posted here: main() destroys it on the loop
			// after run() returned, behind these tasks.
			loop.post([&ui, pRunning, line]
			{
				if (pRunning->handleLine(line) == CrossChat::CommandInterpreter::Action::QUIT) ui.finish();
			});
		};
		int uiRc = 0;
		try
		{
			uiRc = ui.run(handler);
		}
		catch (const Poco::IllegalStateException& exc)
		{
			// curses cannot drive this terminal: line mode after all.
			configureLogging(_verbose);
			logger().warning("full-screen mode unavailable (" + exc.message() + "); line mode");
			callInLoop(loop, [&] { pSession->console().setSink(CrossChat::Console::Sink()); });
			ui.writeTranscript(std::cout, std::cerr);
			readInput(loop, *pSession);
			return EXIT_OK;
		}
		configureLogging(_verbose);
		// The screen is gone: what ended the program and the goodbye stay on the terminal.
		callInLoop(loop, [&] { pSession->console().setSink(CrossChat::Console::Sink()); });
		ui.writeTranscript(std::cout, std::cerr);
		return uiRc != 0 ? uiRc : EXIT_OK;
	}

	static std::string relayUrlProblem(const std::string& url)
		/// Empty if url is a usable relay URL, else what is wrong with it.
	{
		if (url.find("://") == std::string::npos) return "no scheme; write https://" + url + " (or http://" + url + ")";
		try
		{
			const Poco::URI uri(url);
			if (uri.getScheme().empty()) return "no scheme; write https://host[:port] or http://host[:port]";
			if (uri.getScheme() != "http" && uri.getScheme() != "https")
				return "unsupported scheme '" + uri.getScheme() + "'; write https://host[:port] or http://host[:port]";
			if (uri.getHost().empty()) return "no host; write " + uri.getScheme() + "://host[:port]";
			if (!uri.getPath().empty() && uri.getPath() != "/")
				return "a relay URL has no path ('" + uri.getPath() + "'); write " + uri.getScheme() + "://host[:port]";
		}
		catch (const Poco::Exception& exc)
		{
			return exc.displayText();
		}
		return std::string();
	}

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
			"On a terminal crosschat runs full screen (windows: Alt+1..9, Ctrl+N/P; Tab completes); with --plain, "
			"--json or on a pipe it reads lines. Once started, type /help for the commands (/peers, /msg, /whoami, /quit, ...). "
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
		_verbose = true;
		configureLogging(true);
	}

	void handlePlain(const std::string&, const std::string&)
	{
		_plain = true;
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

	void handlePublishAddress(const std::string&, const std::string&)
	{
		_publishAddress = true;
	}

	void handleNoPortMapping(const std::string&, const std::string&)
	{
		_noPortMapping = true;
	}

	void handleRelay(const std::string&, const std::string& value)
	{
		_relay = value;
	}

	void handleRelayCa(const std::string&, const std::string& value)
	{
		_relayCa = value;
	}

	void handleDownloads(const std::string&, const std::string& value)
	{
		_downloads = value;
	}

	void handleRelayToken(const std::string&, const std::string& value)
	{
		_relayToken = value;
	}

	void handleNoMailbox(const std::string&, const std::string&)
	{
		_noMailbox = true;
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
		try
		{
			if (Poco::File(file).exists()) loadConfiguration(file);
		}
		catch (const Poco::Exception& exc)
		{
			_startupError = "configuration file " + file + ": " + exc.displayText();   // reported by main()
		}
	}

	bool _helpRequested = false;
	bool _json = false;
	bool _plain = false;
	bool _verbose = false;
	bool _noLan = false;
	bool _noPortMapping = false;
	bool _noHolePunching = false;
	bool _publishAddress = false;
	bool _configFileGiven = false;
	std::string _startupError;
	std::optional<unsigned> _port;
	std::optional<unsigned> _lanPort;
	std::optional<unsigned> _lanInterval;
	std::optional<std::string> _relay;
	std::optional<std::string> _relayToken;
	bool _noMailbox = false;
	std::optional<std::string> _relayCa;
	std::optional<std::string> _name;
	std::optional<std::string> _dataDir;
	std::optional<std::string> _downloads;
};


int main(int argc, char** argv)
	/// POCO_APP_MAIN, but an error in the options is an error event too with --json.
{
	Poco::AutoPtr<ConsoleChat> pApp = new ConsoleChat;
	try
	{
		pApp->init(argc, argv);
	}
	catch (const Poco::Exception& exc)
	{
		reportStartupError(jsonRequested(argc, argv), exc.displayText() + "; see --help");
		return Application::EXIT_CONFIG;
	}
	return pApp->run();
}
