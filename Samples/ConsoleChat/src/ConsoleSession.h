//
// ConsoleSession.h
//
// Sample: ConsoleChat
// The loop-side state of one crosschat run: identity, console and command table.
//
// This is an internal header of the crosschat program.
//


#ifndef CrossChat_ConsoleChat_ConsoleSession_INCLUDED
#define CrossChat_ConsoleChat_ConsoleSession_INCLUDED


#include "CommandInterpreter.h"
#include "Console.h"
#include "CrossChat/Chat/ChatNode.h"
#include "CrossChat/DataDirectory.h"
#include "CrossChat/Identity.h"
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <iosfwd>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>


namespace CrossChat {


class EventLoop;


class ConsoleSession
	/// Owns what crosschat keeps on its loop thread: the Console, the CommandInterpreter with
	/// crosschat's commands, and the peer's Identity. Features that arrive later (LAN chat,
	/// relay, peers) become members of this class and register their commands in its
	/// constructor.
	///
	/// Thread rules: construct, call and destroy on the loop thread only.
	/// Ownership: does not own the loop or the streams; they must outlive the session.
{
public:
	struct Settings
	{
		std::string name;     ///< How this peer calls itself.
		std::string dataDir;  ///< Where identity.pem lives.
		bool json = false;    ///< One JSON object per output line instead of text.
		std::uint16_t port = 0;                      ///< Chat TCP port (--port); 0 = any free port.
		bool lan = true;                             ///< LAN discovery on (--no-lan turns it off).
		std::uint16_t lanPort = 54545;               ///< Discovery UDP port (--lan-port).
		std::chrono::seconds lanInterval{30};        ///< Re-announce interval (--lan-interval).
		std::string relay;                           ///< Relay URL (--relay); empty: none.
		std::string relayCa;                         ///< PEM CA file for an https relay (--relay-ca); empty: system store.
		bool relayDirectory = false;                 ///< List us in the relay's directory.
		std::string relayToken;                      ///< A private relay's access token (--relay-token).
		bool mailbox = true;                         ///< Offline delivery through the relay's mailbox (--no-mailbox).
		bool portMapping = true;                     ///< Map the chat port on the gateway (--no-port-mapping).
		bool holePunching = true;                    ///< Upgrade relayed chats by hole punching (--no-hole-punching).
		bool publishAddress = false;                 ///< Let the relay publish our address (--publish-address).
		Chat::ChatNodeConfig limits;                 ///< Only its caps and budgets are used (crosschat.max-* settings).
		Chat::TransferConfig transfers;              ///< File transfers (--downloads, crosschat.downloads, crosschat.files.*).
	};

	ConsoleSession(EventLoop& loop, Settings settings, std::ostream& out, std::ostream& err);
		/// Registers the commands. Must be called from the loop thread.

	ConsoleSession(const ConsoleSession&) = delete;
	ConsoleSession& operator=(const ConsoleSession&) = delete;

	int start();
		/// Takes the data directory (DataDirectory: one crosschat per identity), loads or creates
		/// the identity, starts the chat node and announces it ("ready"). Returns
		/// Poco::Util::Application::EXIT_OK, or, after reporting the problem through
		/// Console::fatal(), EXIT_TEMPFAIL if another process holds the data directory,
		/// EXIT_CONFIG for an unusable identity or data directory, EXIT_UNAVAILABLE if a port
		/// cannot be bound, EXIT_SOFTWARE for anything else. Must be called from the loop thread.

	CommandInterpreter::Action handleLine(const std::string& line);
		/// Runs one input line. Must be called from the loop thread, after a successful start().

	void quit();
		/// Says goodbye ("bye"); used for /quit and at the end of input.
		/// Must be called from the loop thread.

	Console& console();
		/// The output, e.g. to give it the full-screen mode's sink. Must be called from the loop thread.

	const CommandInterpreter& interpreter() const;
		/// The command table. Must be called from the loop thread.

private:
	void addChatCommands();
		/// Registers /me and /say (ConsoleSessionCommands.cpp).
	void registerFileCommands();
		/// Registers /send, /accept-file, /reject-file, /cancel-file, /files, /auto-accept
		/// (ConsoleSessionFiles.cpp).
	CommandInterpreter::Action sendFile(const std::string& arguments);
	CommandInterpreter::Action answerFile(const std::string& arguments, const std::string& command);
	CommandInterpreter::Action files();
	CommandInterpreter::Action autoAccept(const std::string& arguments);
	std::optional<std::string> resolveTransfer(const std::string& prefix);
	void onTransfer(const Chat::TransferInfo& transfer, bool progressOnly);
	std::string portProblem(const Poco::Exception& exc) const;
		/// Which port could not be opened and what to do (ConsoleSessionCommands.cpp).
	static std::string identityAdvice(const std::string& problem);
		/// What to do about an unusable key file, or nothing (ConsoleSessionCommands.cpp).

	CommandInterpreter::Action whoami();
	CommandInterpreter::Action nick(const std::string& arguments);
	CommandInterpreter::Action peers();
	CommandInterpreter::Action netinfo();
	CommandInterpreter::Action msg(const std::string& arguments);
	CommandInterpreter::Action accept(const std::string& arguments);
	CommandInterpreter::Action block(const std::string& arguments);
	CommandInterpreter::Action alias(const std::string& arguments);
	CommandInterpreter::Action contacts();
	CommandInterpreter::Action history(const std::string& arguments);
	bool takeBefore(std::string& arguments, const std::string& what, std::int64_t& before);
		/// Removes "--before N" from arguments and sets before to N (0 without the option); N
		/// is a message's position as the history events give it in --json (what names it:
		/// "seq", "order"). Says what is wrong and returns false if N is not a positive number.
	CommandInterpreter::Action search(const std::string& arguments);
	void registerContactCommands();
	// Groups (ConsoleSessionGroups.cpp)
	void registerGroupCommands();
	void startGroups();
	CommandInterpreter::Action group(const std::string& arguments);
	CommandInterpreter::Action groupList();
	CommandInterpreter::Action groupMembers(const std::string& id);
	CommandInterpreter::Action groupHistory(const std::string& id, unsigned count, std::int64_t before);
	CommandInterpreter::Action groupConversation(const std::string& query, const std::string& text);
	std::optional<std::string> resolveGroup(const std::string& query);
	std::optional<std::string> groupArgument(std::string& arguments, std::size_t wordsAfter);
	std::optional<PeerId> memberByName(const std::string& group, const std::string& query);
	std::string groupLabel(const std::string& id) const;
	void sendToGroup(const std::string& id, const std::string& text);
	void onGroupMessage(const Chat::GroupMessage& message);
	void onGroupChange(const Chat::GroupChange& change);
	void registerHandleCommands();
	CommandInterpreter::Action handle(const std::string& name);
	CommandInterpreter::Action whois(const std::string& spec);
	CommandInterpreter::Action unpin(const std::string& spec);
	void lookupHandle(const std::string& spec,
		std::function<void(const Chat::ChatNode::HandleAnswer& answer, const std::optional<PeerId>& peer)> then,
		bool forMsg = false);
	bool msgToHandle(const std::string& who, const std::string& text);
	std::string relayHost() const;
	void onDeposited(const std::string& messageId, const PeerId& to);
	void reportContact(const PeerId& peer, const std::string& what);
	bool validInput(std::string& line);
	CommandInterpreter::Action text(const std::string& line);
	void startNode();
	std::optional<PeerId> resolvePeer(const std::string& query);
	void sendTo(const PeerId& peer, const std::string& text);
	std::string nameOf(const PeerId& peer) const;
	void onPeer(Chat::ChatNode::PeerChange change, const Chat::PeerInfo& peer);
	void onMessage(const Chat::ChatMessage& message);
	void onDelivered(const std::string& messageId, const PeerId& to);
	void onRefused(const std::string& messageId, const PeerId& to, const std::string& code, const std::string& reason);
	void onRelay(const std::string& state, const std::string& detail);

	EventLoop& _loop;
	static constexpr std::size_t MAX_SHOWN_NAMES = 4096;
	std::map<PeerId, std::string> _shownNames;   ///< Name each peer was last shown with (renames).
	Settings _settings;                 ///< name changes with /nick.
	Console _console;
	CommandInterpreter _interpreter;
	std::optional<DataDirectory> _dataDirectory; ///< Locked for the session's lifetime.
	std::optional<Identity> _identity;
	std::unique_ptr<Chat::ChatNode> _pNode;     ///< Declared after _identity, which it uses.
	std::optional<PeerId> _conversation;        ///< Where plain text goes (unless _groupConversation is set).
	std::optional<std::string> _groupConversation;   ///< A group (ID text) as the current conversation.
	std::string _relayState;                     ///< Last relay state shown, to print changes only.
	std::string _relayDetail;
	bool _ready = false;                         ///< "ready" printed: it is always the first event.
	unsigned _relayFailures = 0;                 ///< Failed relay attempts since it was last online.
	static constexpr std::size_t MAX_SENT_TEXTS = 1000;
	std::deque<std::pair<std::string, std::string>> _sentTexts;   ///< Message ID and text, until the receipt.
	std::string _inputCharset;                   ///< The terminal's character set, if it is not UTF-8.
	std::set<PeerId> _requestHinted;             ///< Strangers whose first message got the accept/block hint.
	std::map<std::string, std::chrono::steady_clock::time_point> _progressShown;   ///< Transfer ID -> last progress line.
};


} // namespace CrossChat


#endif // CrossChat_ConsoleChat_ConsoleSession_INCLUDED
