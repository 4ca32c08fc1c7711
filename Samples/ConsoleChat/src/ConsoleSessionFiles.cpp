//
// ConsoleSessionFiles.cpp
//
// Sample: ConsoleChat
// File transfer commands of ConsoleSession (/send, /accept-file, /reject-file, /cancel-file,
// /files, /auto-accept) and the transfer events.
//


#include "ConsoleSession.h"
#include "TransferText.h"
#include "Poco/Exception.h"
#include "Poco/JSON/Array.h"
#include "Poco/NumberParser.h"
#include "Poco/Path.h"
#include "Poco/String.h"
#include <cctype>
#include <cmath>
#include <cstdio>
#include <sstream>


namespace CrossChat {


namespace {


constexpr std::size_t SHORT_ID = 8;                      ///< Characters of a transfer ID shown to people.
constexpr std::chrono::seconds PROGRESS_LINE_EVERY{2};   ///< Line mode: a progress line per transfer at most this often.


std::string shortTransferId(const std::string& id)
{
	return id.substr(0, SHORT_ID);
}


std::string progressText(const Chat::TransferInfo& transfer)
{
	return TransferText::progress(transfer.bytesDone, transfer.size, transfer.rate, transfer.etaSeconds, transfer.connected);
}


Poco::JSON::Object::Ptr transferObject(const Chat::TransferInfo& transfer, Poco::JSON::Object::Ptr pObject)
{
	pObject->set("id", transfer.id);
	pObject->set("peer", transfer.peer.toString());
	pObject->set("name", transfer.peerName);
	pObject->set("direction", std::string(Chat::transferDirectionName(transfer.direction)));
	pObject->set("file", transfer.name);
	pObject->set("size", static_cast<Poco::UInt64>(transfer.size));
	pObject->set("sha256", transfer.sha256);
	pObject->set("state", std::string(Chat::transferStateName(transfer.state)));
	pObject->set("bytes", static_cast<Poco::UInt64>(transfer.bytesDone));
	pObject->set("rate", static_cast<Poco::Int64>(transfer.rate));
	if (transfer.etaSeconds) pObject->set("eta", *transfer.etaSeconds);
	pObject->set("path", transfer.localPath);
	pObject->set("request", transfer.request);
	pObject->set("connected", transfer.connected);
	if (!transfer.group.empty()) pObject->set("group", transfer.group);
	if (!transfer.error.empty()) pObject->set("error", transfer.error);
	return pObject;
}


} // namespace


void ConsoleSession::registerFileCommands()
{
	// The handlers capture this: the interpreter is a member, so they cannot outlive the session.
	// The usage names <peer> (the full screen completes peers there); the text names the group form.
	_interpreter.add("/send <peer> <path>", "offer a file to a peer (it is sent when the peer accepts it); "
		"/send #<group> <path> offers it to every member of a group, each takes it or not",
		[this](const std::string& arguments) { return sendFile(arguments); });
	_interpreter.add("/accept-file <id>", "accept a file offered to you (an ID prefix is enough); it lands in the "
		"downloads directory",
		[this](const std::string& arguments) { return answerFile(arguments, "/accept-file"); });
	_interpreter.add("/reject-file <id>", "decline a file offered to you",
		[this](const std::string& arguments) { return answerFile(arguments, "/reject-file"); });
	_interpreter.add("/cancel-file <id>", "stop a transfer in either direction (a partial download is deleted)",
		[this](const std::string& arguments) { return answerFile(arguments, "/cancel-file"); });
	_interpreter.add("/files", "list the file transfers: offers waiting for you, transfers running, the last finished ones",
		[this](const std::string&) { return files(); });
	_interpreter.add("/auto-accept <peer> <size|off>", "accept files from a contact up to a size (e.g. 100M, 2G) "
		"without asking; off asks again",
		[this](const std::string& arguments) { return autoAccept(arguments); });
}


CommandInterpreter::Action ConsoleSession::sendFile(const std::string& arguments)
{
	const std::string::size_type space = arguments.find(' ');
	const std::string who = arguments.substr(0, space);
	const std::string path = space == std::string::npos ? std::string() : Poco::trim(arguments.substr(space + 1));
	if (who.empty() || path.empty())
	{
		_console.error("usage: /send <peer|#group> <path>");
		return CommandInterpreter::Action::CONTINUE;
	}
	std::optional<std::string> group;
	std::optional<PeerId> peer;
	if (who[0] == '#')
		group = resolveGroup(who);
	else
		peer = resolvePeer(who);
	if (!group && !peer) return CommandInterpreter::Action::CONTINUE;
	try
	{
		// The transfer events say what happens (one transfer per member for a group).
		if (peer)
			_pNode->sendFile(*peer, Poco::Path::expand(path));
		else
			_pNode->sendFileToGroup(*group, Poco::Path::expand(path));
	}
	catch (const Poco::FileNotFoundException&)
	{
		_console.error("cannot send " + Console::printable(path) + ": no such file");
	}
	catch (const Poco::Exception& exc)
	{
		_console.error("cannot send " + Console::printable(path) + ": " + exc.message());
	}
	return CommandInterpreter::Action::CONTINUE;
}


std::optional<std::string> ConsoleSession::resolveTransfer(const std::string& prefix)
	/// The transfer a (prefix of an) ID names, or nothing after an error naming the candidates.
{
	const std::vector<Chat::TransferInfo> found = _pNode->findTransfers(prefix);
	if (found.size() == 1) return found.front().id;
	if (found.empty())
	{
		_console.error("no file transfer " + Console::printable(prefix) + " (/files lists them)");
		return std::nullopt;
	}
	std::ostringstream candidates;
	for (const Chat::TransferInfo& transfer: found)
		candidates << (candidates.tellp() > 0 ? ", " : "") << transfer.id << " (" << Console::printable(transfer.name) << ")";
	_console.error(Console::printable(prefix) + " names " + std::to_string(found.size()) + " transfers: " + candidates.str()
		+ "; type more of the ID");
	return std::nullopt;
}


CommandInterpreter::Action ConsoleSession::answerFile(const std::string& arguments, const std::string& command)
{
	const std::string prefix = Poco::trim(arguments);
	if (prefix.empty())
	{
		_console.error("usage: " + command + " <id>");
		return CommandInterpreter::Action::CONTINUE;
	}
	const std::optional<std::string> id = resolveTransfer(prefix);
	if (!id) return CommandInterpreter::Action::CONTINUE;
	try
	{
		if (command == "/accept-file")
			_pNode->acceptFile(*id);
		else if (command == "/reject-file")
			_pNode->rejectFile(*id);
		else
			_pNode->cancelFile(*id);
	}
	catch (const Poco::Exception& exc)
	{
		_console.error(command.substr(1) + ": " + exc.message());
	}
	return CommandInterpreter::Action::CONTINUE;
}


CommandInterpreter::Action ConsoleSession::files()
{
	Poco::JSON::Object::Ptr pEvent = Console::makeEvent("files");
	Poco::JSON::Array::Ptr pList = new Poco::JSON::Array;
	std::ostringstream text;
	const std::vector<Chat::TransferInfo> all = _pNode->transfers();
	if (all.empty()) text << "No file transfers. /send <peer|#group> <path> offers a file; received files go to "
		<< _pNode->downloadDirectory();
	for (const Chat::TransferInfo& transfer: all)
	{
		pList->add(transferObject(transfer, new Poco::JSON::Object(Poco::JSON_PRESERVE_KEY_ORDER)));
		if (text.tellp() > 0) text << "\n";
		const bool in = transfer.direction == Chat::TransferDirection::INCOMING;
		text << shortTransferId(transfer.id) << "  " << (in ? "from " : "to ") << nameOf(transfer.peer) << "  "
			<< Console::printable(transfer.name) << "  " << TransferText::size(transfer.size) << "  " << Chat::transferStateName(transfer.state);
		if (transfer.state == Chat::TransferState::TRANSFERRING) text << "  " << progressText(transfer);
		if (transfer.state == Chat::TransferState::OFFERED && in) text << (transfer.request ? "  (request)" : "") << "  /accept-file "
			<< shortTransferId(transfer.id);
		if (transfer.state == Chat::TransferState::COMPLETE && in) text << "  " << transfer.localPath;
		if (!transfer.error.empty()) text << "  (" << Console::printable(transfer.error) << ")";
	}
	pEvent->set("transfers", pList);
	pEvent->set("downloads", _pNode->downloadDirectory());
	const Chat::TransferStats& stats = _pNode->transferStats();
	Poco::JSON::Object::Ptr pStats = new Poco::JSON::Object(Poco::JSON_PRESERVE_KEY_ORDER);
	pStats->set("offers_received", static_cast<Poco::UInt64>(stats.offersReceived));
	pStats->set("offers_refused", static_cast<Poco::UInt64>(stats.offersRefused));
	pStats->set("files_hashed", static_cast<Poco::UInt64>(stats.filesHashed));
	pStats->set("blocks_verified", static_cast<Poco::UInt64>(stats.blocksVerified));
	pStats->set("blocks_corrupt", static_cast<Poco::UInt64>(stats.blocksCorrupt));
	pStats->set("blocks_recovered", static_cast<Poco::UInt64>(stats.blocksRecovered));
	pStats->set("blocks_sent", static_cast<Poco::UInt64>(stats.blocksSent));
	pStats->set("bytes_received", static_cast<Poco::UInt64>(stats.bytesReceived));
	pStats->set("bytes_sent", static_cast<Poco::UInt64>(stats.bytesSent));
	pStats->set("chunks_dropped", static_cast<Poco::UInt64>(stats.chunksDropped));
	pStats->set("stalls", static_cast<Poco::UInt64>(stats.stalls));
	pStats->set("input_refused", static_cast<Poco::UInt64>(stats.inputRefused));
	pStats->set("resumed", static_cast<Poco::UInt64>(stats.resumed));
	pStats->set("download_memory_peak", static_cast<Poco::UInt64>(stats.downloadMemoryPeak));
	pStats->set("budget_waits", static_cast<Poco::UInt64>(stats.budgetWaits));
	pEvent->set("stats", pStats);   // since this crosschat started
	_console.print(*pEvent, text.str());
	return CommandInterpreter::Action::CONTINUE;
}


CommandInterpreter::Action ConsoleSession::autoAccept(const std::string& arguments)
{
	const std::string::size_type space = arguments.find(' ');
	const std::string who = arguments.substr(0, space);
	const std::string limit = space == std::string::npos ? std::string() : Poco::trim(arguments.substr(space + 1));
	if (who.empty() || limit.empty())
	{
		_console.error("usage: /auto-accept <peer> <size|off>");
		return CommandInterpreter::Action::CONTINUE;
	}
	std::uint64_t bytes = 0;
	if (Poco::icompare(limit, "off") != 0)
	{
		const std::optional<std::uint64_t> size = TransferText::parseSize(limit);
		if (!size || *size == 0)
		{
			_console.error("not a size: " + Console::printable(limit) + " (say 500K, 100M, 2G or off)");
			return CommandInterpreter::Action::CONTINUE;
		}
		bytes = *size;
	}
	const std::optional<PeerId> peer = resolvePeer(who);
	if (!peer) return CommandInterpreter::Action::CONTINUE;
	try
	{
		_pNode->setAutoAccept(*peer, bytes);
	}
	catch (const Poco::Exception& exc)
	{
		_console.error("cannot set auto-accept: " + exc.message());
		return CommandInterpreter::Action::CONTINUE;
	}
	Poco::JSON::Object::Ptr pEvent = Console::makeEvent("auto-accept");
	pEvent->set("peer", peer->toString());
	pEvent->set("max_bytes", static_cast<Poco::UInt64>(bytes));
	_console.print(*pEvent, bytes == 0 ? "* files from " + nameOf(*peer) + " are offered to you again before they come"
		: "* files from " + nameOf(*peer) + " up to " + TransferText::size(bytes) + " are accepted without asking");
	return CommandInterpreter::Action::CONTINUE;
}


void ConsoleSession::onTransfer(const Chat::TransferInfo& transfer, bool progressOnly)
{
	Poco::JSON::Object::Ptr pEvent = transferObject(transfer, Console::makeEvent("transfer"));
	pEvent->set("progress", progressOnly);
	const bool in = transfer.direction == Chat::TransferDirection::INCOMING;
	const std::string file = "\"" + Console::printable(transfer.name) + "\"";
	const std::string who = nameOf(transfer.peer);
	const std::string id = shortTransferId(transfer.id);
	std::string text;
	if (progressOnly)
	{
		// Line mode: a line now and then; JSON readers and the full screen get every report.
		const auto now = std::chrono::steady_clock::now();
		auto& shown = _progressShown[transfer.id];
		if (now - shown >= PROGRESS_LINE_EVERY)
		{
			shown = now;
			text = "  " + file + ": " + progressText(transfer);
		}
		_console.print(*pEvent, text);
		return;
	}
	switch (transfer.state)
	{
	case Chat::TransferState::PREPARING:
		text = "* reading " + file + " (SHA-256) to offer it to " + who
			+ (transfer.group.empty() ? "" : " (in " + groupLabel(transfer.group) + ")");
		break;
	case Chat::TransferState::OFFERED:
		if (in)
		{
			text = "* " + who + (transfer.group.empty() ? "" : " (in " + groupLabel(transfer.group) + ")") + " offers you " + file
				+ " (" + TransferText::size(transfer.size) + "): /accept-file " + id + " or /reject-file " + id;
			if (transfer.request) text += "\n  " + who + " (" + transfer.peer.shortString() + ") is not a contact; accepting the file accepts it";
		}
		else
		{
			text = "* offered " + file + " (" + TransferText::size(transfer.size) + ") to " + who
				+ (transfer.group.empty() ? "" : " (in " + groupLabel(transfer.group) + ")") + " [" + id + "]"
				+ (transfer.connected ? "; waiting for an answer" : "; it goes out when " + who + " is reachable");
		}
		break;
	case Chat::TransferState::TRANSFERRING:
		text = in ? "* receiving " + file + " from " + who + " into " + transfer.localPath : "* " + who + " accepted " + file + "; sending it";
		break;
	case Chat::TransferState::VERIFYING:
		text = "* checking " + file + " (SHA-256 of the whole file)";
		break;
	case Chat::TransferState::COMPLETE:
		text = in ? "* received " + file + " from " + who + ", SHA-256 verified: " + transfer.localPath
			: "* " + who + " has " + file + ", verified";
		_progressShown.erase(transfer.id);
		break;
	case Chat::TransferState::REJECTED:
		text = in ? "* declined " + file + " from " + who : "* " + who + " did not take " + file;
		if (!transfer.error.empty() && !in) text += ": " + Console::printable(transfer.error);
		_progressShown.erase(transfer.id);
		break;
	case Chat::TransferState::CANCELLED:
	case Chat::TransferState::FAILED:
		text = "* the transfer of " + file + (in ? " from " : " to ") + who + " "
			+ (transfer.state == Chat::TransferState::FAILED ? "failed" : "was cancelled")
			+ (transfer.error.empty() ? std::string() : ": " + Console::printable(transfer.error));
		_progressShown.erase(transfer.id);
		break;
	}
	if (!transfer.error.empty() && transfer.state == Chat::TransferState::OFFERED) text += "\n  (" + Console::printable(transfer.error) + ")";
	_console.print(*pEvent, text);
}


} // namespace CrossChat
