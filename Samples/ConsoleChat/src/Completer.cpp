//
// Completer.cpp
//
// Sample: ConsoleChat
//


#include "Completer.h"
#include "TerminalText.h"
#include "Poco/DirectoryIterator.h"
#include "Poco/Environment.h"
#include "Poco/Exception.h"
#include "Poco/File.h"
#include "Poco/String.h"
#include <algorithm>
#include <set>


namespace CrossChat {


namespace {


constexpr std::size_t MAX_CANDIDATES = 200;


bool startsWithNoCase(const std::string& text, const std::string& prefix)
{
	return text.size() >= prefix.size() && Poco::icompare(text.substr(0, prefix.size()), prefix) == 0;
}


std::string compactId(const std::string& text)
	/// An ID or ID prefix without dashes, upper case.
{
	std::string result;
	for (char c: text)
	{
		if (c != '-') result += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
	}
	return result;
}


bool isIdPrefix(const std::string& word)
{
	if (word.empty()) return false;
	for (char c: word)
	{
		if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-')) return false;
	}
	return true;
}


void addPeers(const std::string& word, const Completer::Sources& sources, bool withSpaces, std::vector<std::string>& out)
{
	std::set<std::string> seen;
	for (const Completer::Peer& peer: sources.peers)
	{
		if (peer.name.empty() || !startsWithNoCase(peer.name, word)) continue;
		if (!withSpaces && peer.name.find(' ') != std::string::npos) continue;
		if (seen.insert(peer.name).second) out.push_back(peer.name);
	}
	if (!isIdPrefix(word)) return;
	const std::string compact = compactId(word);
	for (const Completer::Peer& peer: sources.peers)
	{
		if (compactId(peer.id).compare(0, compact.size(), compact) == 0 && seen.insert(peer.id).second)
			out.push_back(peer.id);
	}
}


void addPaths(const std::string& word, std::vector<std::string>& out)
{
	std::string expanded = word;
	std::string home;
	if (word.compare(0, 2, "~/") == 0)
	{
		home = Poco::Environment::get("HOME", "");
		expanded = home + word.substr(1);
	}
	const std::size_t slash = expanded.rfind('/');
	const std::string directory = slash == std::string::npos ? "." : expanded.substr(0, slash + 1);
	const std::string start = slash == std::string::npos ? expanded : expanded.substr(slash + 1);
	const std::string shownDirectory = slash == std::string::npos ? std::string() : word.substr(0, word.rfind('/') + 1);
	std::vector<std::string> found;
	try
	{
		Poco::DirectoryIterator end;
		for (Poco::DirectoryIterator it(directory.empty() ? "/" : directory); it != end && found.size() < MAX_CANDIDATES; ++it)
		{
			const std::string name = it.name();
			if (name.compare(0, start.size(), start) != 0) continue;
			if (start.empty() && !name.empty() && name[0] == '.') continue;   // hidden files on request only
			bool directoryEntry = false;
			try
			{
				directoryEntry = it->isDirectory();
			}
			catch (const Poco::Exception&)
			{
				// A dangling link or a race with a removal: offer it as a file.
			}
			found.push_back(shownDirectory + name + (directoryEntry ? "/" : ""));
		}
	}
	catch (const Poco::Exception&)
	{
		return;   // no such directory or no permission: no candidates
	}
	std::sort(found.begin(), found.end());
	out.insert(out.end(), found.begin(), found.end());
}


} // namespace


std::vector<std::string> Completer::candidates(const std::string& line, std::size_t wordStart, const std::string& word,
	const Sources& sources, std::string& suffix)
{
	std::vector<std::string> result;
	suffix = " ";
	const std::string before = line.substr(0, wordStart);
	const bool firstWord = before.find_first_not_of(' ') == std::string::npos;

	if (firstWord && !word.empty() && word[0] == '/')
	{
		for (const std::string& command: sources.commands)
		{
			if (startsWithNoCase(command, word)) result.push_back(command);
		}
		return result;
	}

	std::string command;
	std::size_t argument = 0;   // the index of this word among the command's arguments (1 = first)
	const std::string trimmed = Poco::trimLeft(before);
	if (!trimmed.empty() && trimmed[0] == '/')
	{
		command = Poco::toLower(trimmed.substr(0, trimmed.find(' ')));
		bool inWord = false;
		for (char c: trimmed)
		{
			if (c != ' ' && !inWord) ++argument;
			inWord = c != ' ';
		}
	}

	const bool pathLike = word.compare(0, 2, "~/") == 0 || word.compare(0, 2, "./") == 0
		|| (word.size() > 1 && word.find('/', 1) != std::string::npos) || (word.size() > 1 && word[0] == '/' && !firstWord);
	if (pathLike)
	{
		addPaths(word, result);
		suffix = result.size() == 1 && !result[0].empty() && result[0].back() == '/' ? "" : " ";
		if (result.size() == 1 && result[0].back() == '/') suffix.clear();
		return result;
	}

	if (command == "/win" && argument == 1)
	{
		for (const Window& window: sources.windows)
		{
			const std::string number = std::to_string(window.number);
			if (number.compare(0, word.size(), word) == 0) result.push_back(number);
		}
		for (const Window& window: sources.windows)
		{
			if (!word.empty() && window.name.find(' ') == std::string::npos && startsWithNoCase(window.name, word))
				result.push_back(window.name);
		}
		return result;
	}

	if (!command.empty())
	{
		const bool peerArgument = argument == 1
			&& std::find(sources.peerCommands.begin(), sources.peerCommands.end(), command) != sources.peerCommands.end();
		if (peerArgument || !word.empty()) addPeers(word, sources, false, result);
		return result;
	}

	// Plain text: a name at the start addresses the peer ("bob: ").
	if (word.empty()) return result;
	addPeers(word, sources, firstWord, result);
	if (firstWord) suffix = ": ";
	return result;
}


std::optional<Completer::Result> Completer::complete(const std::wstring& line, std::size_t cursor, const Sources& sources, bool backwards)
{
	cursor = std::min(cursor, line.size());
	if (!_active)
	{
		std::size_t start = cursor;
		while (start > 0 && line[start - 1] != L' ') --start;
		const std::wstring word = line.substr(start, cursor - start);
		_prefix = line.substr(0, start);
		_rest = line.substr(cursor);
		_candidates = candidates(TerminalText::encode(line.substr(0, start)) , TerminalText::encode(_prefix).size(),
			TerminalText::encode(word), sources, _suffix);
		if (_candidates.size() > MAX_CANDIDATES) _candidates.resize(MAX_CANDIDATES);
		if (_candidates.empty()) return std::nullopt;
		_active = true;
		_index = backwards ? _candidates.size() - 1 : 0;
	}
	else
	{
		_index = backwards ? (_index + _candidates.size() - 1) % _candidates.size() : (_index + 1) % _candidates.size();
	}
	std::string suffix = _suffix;
	const std::string& candidate = _candidates[_index];
	if (!candidate.empty() && candidate.back() == '/') suffix.clear();
	// No doubled space if the rest of the line already starts with one.
	if (suffix == " " && !_rest.empty() && _rest[0] == L' ') suffix.clear();
	Result result;
	const std::wstring completed = _prefix + TerminalText::decode(candidate + suffix);
	result.line = completed + _rest;
	result.cursor = completed.size();
	return result;
}


void Completer::reset()
{
	_active = false;
	_candidates.clear();
}


} // namespace CrossChat
