//
// AdversaryPeer.cpp
//
// testsuite: Adversary-peer, the attacker of the network labs (testsuite/netlab/attack_lab.py).
// It does to a crosschat node what anyone online at the same relay or on the same LAN can do,
// with keys made for the occasion, and reports everything as JSON lines on stdout:
//
//   --mode stranger   a throwaway identity goes online at the relay, sends punch messages to
//                     the victim before it knows us, opens a tunnel, writes one message, sends
//                     punch messages with addresses of its choice (--punch-address, --nat),
//                     writes again, and reports every punch message the victim sends back.
//   --mode flood      --count throwaway identities, --parallel at a time, each opening a
//                     session over direct TCP (--connect) or a relay tunnel (--relay) and
//                     behaving as --behavior says (message, linger, hello, stall, requests:
//                     --requests group invitations and as many file offers, then a message);
//                     outcomes are counted and reported.
//   --mode poison     one identity (--key-file) opens a session, sends the text --bad-text-hex
//                     (default "caf\xe9", Latin-1) as a text message with its raw bytes, then
//                     --count valid messages at once; reports receipts and refusals in order.
//   --mode receiver   listens (--listen-port), optionally announces itself on the LAN (--lan),
//                     and answers texts as --on-text says: receipt, abort (reset the
//                     connection), garbage (break the framing), silent; texts containing
//                     --refuse-text are refused "invalid_utf8". Counts sessions, so a lab can
//                     count how often a node reconnects to it.
//
// The session protocol is spoken by hand (TlsChannel, FrameCodec, SessionProtocol's catalog
// for what is well formed, FrameCodec alone for what is not), so any frame can be sent.
// Every run is bounded by --deadline-ms. Exit code 0 when the run went as planned (the
// attack was carried out, whatever the victim did), 1 on a setup failure, 2 on a usage error.
//
// Everything runs on one EventLoop on the main thread.
//


#include "CrossChat/Chat/SessionProtocol.h"
#include "CrossChat/Discovery/LanDiscovery.h"
#include "CrossChat/EventLoop.h"
#include "CrossChat/FrameCodec.h"
#include "CrossChat/Identity.h"
#include "CrossChat/PeerId.h"
#include "CrossChat/Relay/ControlMessages.h"
#include "CrossChat/Relay/RelayClient.h"
#include "CrossChat/TcpConnection.h"
#include "CrossChat/TcpListener.h"
#include "CrossChat/Text.h"
#include "CrossChat/TimerHandle.h"
#include "CrossChat/TlsChannel.h"
#include "Poco/Exception.h"
#include "Poco/File.h"
#include "Poco/JSON/Array.h"
#include "Poco/JSON/Object.h"
#include "Poco/Logger.h"
#include "Poco/NumberParser.h"
#include "Poco/URI.h"
#include <openssl/rand.h>
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>


using namespace CrossChat;
using Chat::SessionProtocol;


namespace {


using Clock = std::chrono::steady_clock;
using Milliseconds = std::chrono::milliseconds;


// Options ----------------------------------------------------------------------------------


struct Options
{
	std::string mode;
	std::string name = "adversary";
	std::string victim;                                  ///< The victim's peer ID.
	std::string relay;                                   ///< http://host:port
	std::string connect;                                 ///< host:port of the victim's chat port.
	std::string keyFile;                                 ///< Persistent identity (poison, receiver, stranger).
	std::string nat = "edm";                             ///< The NAT type claimed in punch messages.
	std::vector<std::string> punchAddresses;             ///< Candidates named in punch messages.
	std::vector<std::string> announce;                   ///< Addresses announced to the relay (stranger).
	int unknownRounds = 2;                               ///< Punch rounds before the tunnel (the victim does not know us).
	int punchRounds = 6;
	long punchIntervalMs = 400;
	long count = 100;
	long parallel = 16;
	std::string behavior = "message";
	int requests = 4;
	long holdMs = 0;
	long rampMs = 0;                                     ///< flood: the slots' first sessions spread over this.
	long retryMs = 0;                                    ///< flood: a slot whose identity was turned away waits this long.
	long holdUntilMs = 0;                                ///< flood: no session is held past this time after the start.
	long sessionTimeoutMs = 8000;
	long progressEvery = 250;
	std::string badTextHex = "636166e9";                 ///< "caf\xe9": Latin-1, not UTF-8.
	std::uint16_t listenPort = 0;
	bool lan = false;
	long lanIntervalMs = 1000;
	std::string onText = "receipt";
	std::string refuseText;
	long durationMs = 60000;
	long deadlineMs = 120000;
};


const char* USAGE =
	"usage: Adversary-peer --mode stranger|flood|poison|receiver [options]\n"
	"  common:   --name NAME --deadline-ms MS --key-file FILE\n"
	"  stranger: --relay URL --victim ID [--nat edm|eim|none|unknown] [--punch-address IP:PORT]...\n"
	"            [--announce IP:PORT]... [--unknown-rounds N] [--punch-rounds N] [--punch-interval-ms MS]\n"
	"            [--hold-ms MS]\n"
	"  flood:    --victim ID (--connect HOST:PORT | --relay URL) --count N [--parallel K]\n"
	"            [--behavior message|linger|hello|stall|requests] [--requests N] [--hold-ms MS] [--ramp-ms MS] [--retry-ms MS]\n"
	"            [--hold-until-ms MS] [--session-timeout-ms MS] [--progress-every N]\n"
	"  poison:   --victim ID (--connect HOST:PORT | --relay URL) [--bad-text-hex HEX] [--count N]\n"
	"            [--hold-ms MS]\n"
	"  receiver: [--listen-port P] [--lan] [--lan-interval-ms MS] [--on-text receipt|abort|garbage|silent]\n"
	"            [--refuse-text SUBSTRING] [--duration-ms MS]\n";


long parseNumber(const std::string& option, const std::string& value, long min, long max)
{
	long number = 0;
	Poco::Int64 parsed = 0;
	if (!Poco::NumberParser::tryParse64(value, parsed) || parsed < min || parsed > max)
		throw Poco::InvalidArgumentException(option + " needs a number from " + std::to_string(min) + " to " + std::to_string(max));
	number = static_cast<long>(parsed);
	return number;
}


Options parseOptions(int argc, char** argv)
{
	Options o;
	for (int i = 1; i < argc; ++i)
	{
		const std::string arg = argv[i];
		if (arg == "--lan")
		{
			o.lan = true;
			continue;
		}
		if (i + 1 >= argc) throw Poco::InvalidArgumentException(arg + " needs a value");
		const std::string value = argv[++i];
		if (arg == "--mode") o.mode = value;
		else if (arg == "--name") o.name = value;
		else if (arg == "--victim") o.victim = value;
		else if (arg == "--relay") o.relay = value;
		else if (arg == "--connect") o.connect = value;
		else if (arg == "--key-file") o.keyFile = value;
		else if (arg == "--nat") o.nat = value;
		else if (arg == "--punch-address") o.punchAddresses.push_back(value);
		else if (arg == "--announce") o.announce.push_back(value);
		else if (arg == "--unknown-rounds") o.unknownRounds = static_cast<int>(parseNumber(arg, value, 0, 100));
		else if (arg == "--punch-rounds") o.punchRounds = static_cast<int>(parseNumber(arg, value, 0, 1000));
		else if (arg == "--punch-interval-ms") o.punchIntervalMs = parseNumber(arg, value, 10, 60000);
		else if (arg == "--count") o.count = parseNumber(arg, value, 0, 1000000);
		else if (arg == "--parallel") o.parallel = parseNumber(arg, value, 1, 4096);
		else if (arg == "--behavior") o.behavior = value;
		else if (arg == "--requests") o.requests = Poco::NumberParser::parse(value);
		else if (arg == "--hold-ms") o.holdMs = parseNumber(arg, value, 0, 3600000);
		else if (arg == "--ramp-ms") o.rampMs = parseNumber(arg, value, 0, 3600000);
		else if (arg == "--retry-ms") o.retryMs = parseNumber(arg, value, 0, 3600000);
		else if (arg == "--hold-until-ms") o.holdUntilMs = parseNumber(arg, value, 0, 3600000);
		else if (arg == "--session-timeout-ms") o.sessionTimeoutMs = parseNumber(arg, value, 100, 600000);
		else if (arg == "--progress-every") o.progressEvery = parseNumber(arg, value, 1, 1000000);
		else if (arg == "--bad-text-hex") o.badTextHex = value;
		else if (arg == "--listen-port") o.listenPort = static_cast<std::uint16_t>(parseNumber(arg, value, 0, 65535));
		else if (arg == "--lan-interval-ms") o.lanIntervalMs = parseNumber(arg, value, 100, 3600000);
		else if (arg == "--on-text") o.onText = value;
		else if (arg == "--refuse-text") o.refuseText = value;
		else if (arg == "--duration-ms") o.durationMs = parseNumber(arg, value, 0, 3600000);
		else if (arg == "--deadline-ms") o.deadlineMs = parseNumber(arg, value, 100, 3600000);
		else throw Poco::InvalidArgumentException("unknown option " + arg);
	}
	const bool known = o.mode == "stranger" || o.mode == "flood" || o.mode == "poison" || o.mode == "receiver";
	if (!known) throw Poco::InvalidArgumentException("--mode must be stranger, flood, poison or receiver");
	if (o.mode != "receiver" && !PeerId::tryParse(o.victim)) throw Poco::InvalidArgumentException("--victim needs a peer ID");
	if (o.mode == "stranger" && o.relay.empty()) throw Poco::InvalidArgumentException("--mode stranger needs --relay");
	if ((o.mode == "flood" || o.mode == "poison") && o.connect.empty() == o.relay.empty())
		throw Poco::InvalidArgumentException("--mode " + o.mode + " needs one of --connect and --relay");
	if (o.behavior != "message" && o.behavior != "linger" && o.behavior != "hello" && o.behavior != "stall"
		&& o.behavior != "requests")
		throw Poco::InvalidArgumentException("--behavior must be message, linger, hello, stall or requests");
	if (o.requests < 0 || o.requests > 64) throw Poco::InvalidArgumentException("--requests must be 0..64");
	if (o.onText != "receipt" && o.onText != "abort" && o.onText != "garbage" && o.onText != "silent")
		throw Poco::InvalidArgumentException("--on-text must be receipt, abort, garbage or silent");
	if (!Relay::parseNatType(o.nat)) throw Poco::InvalidArgumentException("--nat must be none, eim, edm or unknown");
	return o;
}


// Output -----------------------------------------------------------------------------------


Clock::time_point g_started = Clock::now();


std::int64_t elapsedMs()
{
	return std::chrono::duration_cast<Milliseconds>(Clock::now() - g_started).count();
}


void emit(const std::string& event, Poco::JSON::Object object = Poco::JSON::Object())
	/// One JSON line: {"event":..., "t_ms":..., fields...}.
{
	object.set("event", event);
	object.set("t_ms", static_cast<Poco::Int64>(elapsedMs()));
	std::ostringstream out;
	object.stringify(out);
	std::cout << out.str() << std::endl;
}


std::string hexOf(const std::string& bytes)
{
	static const char* const DIGITS = "0123456789abcdef";
	std::string hex;
	for (unsigned char c: bytes)
	{
		hex += DIGITS[c >> 4];
		hex += DIGITS[c & 0x0F];
	}
	return hex;
}


std::string randomHex(std::size_t bytes)
{
	std::string raw(bytes, '\0');
	if (RAND_bytes(reinterpret_cast<unsigned char*>(&raw[0]), static_cast<int>(bytes)) != 1)
		throw Poco::RuntimeException("no random bytes");
	return hexOf(raw);
}


std::string bytesOfHex(const std::string& hex)
{
	if (hex.size() % 2 != 0) throw Poco::InvalidArgumentException("odd number of hex digits");
	std::string bytes;
	for (std::size_t i = 0; i < hex.size(); i += 2)
		bytes += static_cast<char>(Poco::NumberParser::parseHex(hex.substr(i, 2)));
	return bytes;
}


std::int64_t wallClockMs()
{
	return std::chrono::duration_cast<Milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}


Identity loadOrMakeIdentity(const std::string& keyFile)
	/// A throwaway key, or the one in keyFile (created there if missing), so that a lab can
	/// name the same attacker again (e.g. after /accept).
{
	if (keyFile.empty()) return Identity::generate();
	if (Poco::File(keyFile).exists()) return Identity::load(keyFile);
	Identity identity = Identity::generate();
	identity.save(keyFile);
	return identity;
}


// The session protocol by hand -------------------------------------------------------------


class RawSession: public std::enable_shared_from_this<RawSession>
	/// One chat session spoken by hand over a TlsChannel: sends our hello when TLS is up,
	/// answers pings, reports every message the other side sends, and sends anything: a
	/// schema-checked message, a frame with any body, or bytes that are not a frame at all.
	///
	/// Thread rules: loop thread only. Ownership: held by std::shared_ptr; the channel's handlers
	/// hold weak_ptrs.
{
public:
	using Ptr = std::shared_ptr<RawSession>;
	using MessageHandler = std::function<void(const std::string& name, const Poco::JSON::Object::Ptr& body)>;
	using EventHandler = std::function<void()>;
	using CloseHandler = std::function<void(const std::string& reason)>;

	static Ptr create(const TlsChannel::Ptr& channel, const std::string& name)
	{
		return Ptr(new RawSession(channel, name));
	}

	EventHandler onTlsReady;
	EventHandler onEstablished;       ///< The other side's hello arrived.
	MessageHandler onMessage;         ///< Everything after the hello but ping and pong.
	CloseHandler onClosed;

	void begin(const std::string& leftover)
		/// Installs the channel handlers (set ours first) and feeds bytes that came early.
	{
		std::weak_ptr<RawSession> weak = shared_from_this();
		_channel->setReadyHandler([weak](const PeerId& peer, const PublicKey&) {
			if (auto self = weak.lock()) self->tlsReady(peer);
		});
		_channel->setDataHandler([weak](const char* data, std::size_t size) {
			if (auto self = weak.lock()) self->data(data, size);
		});
		_channel->setCloseHandler([weak](const std::string& reason) {
			if (auto self = weak.lock()) self->closed(reason);
		});
		if (!leftover.empty()) _channel->receiveCiphertext(leftover);
	}

	void send(const std::string& name, const Poco::JSON::Object& body)
		/// A well-formed message (the catalog checks it).
	{
		if (!_closed) _channel->send(SessionProtocol::catalog().encode(_codec, name, body));
	}

	void sendType(std::uint8_t type, const Poco::JSON::Object& body)
		/// A message of a type outside the core catalog (groups, files), as docs/PROTOCOL.md
		/// describes it.
	{
		std::ostringstream out;
		body.stringify(out);
		if (!_closed) _channel->send(_codec.encode(type, out.str()));
	}

	void sendFrame(const std::string& name, const std::string& body)
		/// A frame of a known type with any body: nothing is checked.
	{
		if (!_closed) _channel->send(_codec.encode(SessionProtocol::catalog().typeOf(name), body));
	}

	bool sendText(const std::string& id, const std::string& text)
		/// A text message written with Poco's JSON writer, which copies bytes that are not
		/// UTF-8 as they are (the attack); returns whether the body holds text's bytes raw.
	{
		Poco::JSON::Object body;
		body.set("id", id);
		body.set("ts", static_cast<Poco::Int64>(wallClockMs()));
		body.set("text", text);
		std::ostringstream out;
		body.stringify(out);
		sendFrame("text", out.str());
		return out.str().find(text) != std::string::npos;
	}

	void sendBytes(const std::string& bytes)
		/// Bytes inside TLS that are no frame: the stream is broken for the other side.
	{
		if (!_closed) _channel->send(bytes);
	}

	void close()
	{
		if (!_closed) _channel->close();
	}

	void abort(const std::string& reason)
	{
		if (!_closed) _channel->abort(reason);
	}

	void pauseReading()
	{
		if (!_closed) _channel->connection()->pauseReading();
	}

	bool tlsIsReady() const
	{
		return _tlsReady;
	}

	bool established() const
	{
		return _established;
	}

	bool closedAlready() const
	{
		return _closed;
	}

	const PeerId& peer() const
	{
		return _peer;
	}

	Poco::Net::SocketAddress remote() const
	{
		try
		{
			return _channel->connection()->peerAddress();
		}
		catch (const Poco::Exception&)
		{
			return Poco::Net::SocketAddress();
		}
	}

private:
	RawSession(const TlsChannel::Ptr& channel, const std::string& name):
		_channel(channel),
		_name(name),
		_codec(SessionProtocol::MAX_FRAME_SIZE)
	{
	}

	void tlsReady(const PeerId& peer)
	{
		_tlsReady = true;
		_peer = peer;
		Poco::JSON::Object hello;
		hello.set("version", SessionProtocol::VERSION);
		hello.set("name", _name);
		Poco::JSON::Array::Ptr pCaps = new Poco::JSON::Array;
		pCaps->add(std::string("refuse"));
		pCaps->add(std::string("contact"));
		pCaps->add(std::string("groups/1"));
		pCaps->add(std::string("files/1"));
		hello.set("caps", pCaps);
		send("hello", hello);
		if (onTlsReady) onTlsReady();
	}

	void data(const char* bytes, std::size_t size)
	{
		try
		{
			_codec.feed(bytes, size);
			for (int i = 0; i < 10000 && !_closed; ++i)
			{
				std::optional<Frame> frame = _codec.next();
				if (!frame) break;
				handle(*frame);
			}
		}
		catch (const Poco::Exception& exc)
		{
			Poco::JSON::Object o;
			o.set("error", exc.displayText());
			emit("victim_protocol_error", o);
			abort("protocol error");
		}
	}

	void handle(const Frame& frame)
	{
		if (!SessionProtocol::catalog().has(frame.type)) return;   // a newer protocol's message
		const Message message = SessionProtocol::catalog().decode(frame);
		if (message.name == "hello")
		{
			_established = true;
			if (onEstablished) onEstablished();
			return;
		}
		if (message.name == "ping")
		{
			Poco::JSON::Object pong;
			pong.set("n", message.body->getValue<Poco::Int64>("n"));
			send("pong", pong);
			return;
		}
		if (message.name == "pong") return;
		if (onMessage) onMessage(message.name, message.body);
	}

	void closed(const std::string& reason)
	{
		if (_closed) return;
		_closed = true;
		if (onClosed) onClosed(reason);
	}

	TlsChannel::Ptr _channel;
	std::string _name;
	FrameCodec _codec;
	bool _tlsReady = false;
	bool _established = false;
	bool _closed = false;
	PeerId _peer;
};


// A mode -----------------------------------------------------------------------------------


class Mode
	/// One attack; finish() ends the run (the loop stops).
{
public:
	Mode(EventLoop& loop, const Options& options):
		_loop(loop),
		_options(options)
	{
	}

	virtual ~Mode() = default;

	virtual void start() = 0;
	virtual void report() = 0;
		/// The final "done" event.
	virtual void shutdown() = 0;
		/// Closes everything (the loop then runs a little longer to flush).

	bool failed() const
	{
		return _failed;
	}

protected:
	void finish()
	{
		_loop.stop();
	}

	void fail(const std::string& what)
	{
		_failed = true;
		Poco::JSON::Object o;
		o.set("error", what);
		emit("failed", o);
		finish();
	}

	EventLoop& _loop;
	const Options& _options;
	bool _failed = false;
};


Relay::RelayClientConfig relayConfig(const Options& options, const std::string& name)
{
	Relay::RelayClientConfig config;
	config.url = Poco::URI(options.relay);
	config.name = name;
	config.requestTimeout = Milliseconds(10000);
	config.retryMin = Milliseconds(500);
	config.retryMax = Milliseconds(2000);
	for (const auto& address: options.announce) config.addresses.emplace_back(address);
	return config;
}


// --mode stranger ---------------------------------------------------------------------------


class StrangerAttack: public Mode
	/// Punch messages from a peer the victim has never chosen: before it knows us, then after
	/// our tunnel and message have made us a known stranger. Counts what comes back.
{
public:
	StrangerAttack(EventLoop& loop, const Options& options):
		Mode(loop, options),
		_identity(loadOrMakeIdentity(options.keyFile)),
		_victim(PeerId::parse(options.victim)),
		_nat(*Relay::parseNatType(options.nat))
	{
		for (const auto& address: options.punchAddresses) _addresses.emplace_back(address);
	}

	void start() override
	{
		Poco::JSON::Object o;
		o.set("id", _identity.peerId().toString());
		o.set("mode", "stranger");
		emit("identity", o);
		_relay = std::make_unique<Relay::RelayClient>(_loop, _identity, relayConfig(_options, _options.name));
		_relay->setStateHandler([this](Relay::RelayClient::State state, const std::string& detail) {
			if (state == Relay::RelayClient::State::ONLINE && !_online)
			{
				_online = true;
				Poco::JSON::Object e;
				e.set("detail", detail);
				emit("online", e);
				_loop.post([this] { punchRound(0, false); });
			}
		});
		_relay->setPunchHandler([this](const Relay::PunchMessage& message) {
			// The victim must never answer a stranger: that would reveal its addresses.
			++_punchesReceived;
			Poco::JSON::Object e;
			e.set("from", message.peer.toString());
			e.set("phase", std::string(Relay::PunchMessage::phaseName(message.phase)));
			e.set("reply", message.reply);
			Poco::JSON::Array::Ptr pAddresses = new Poco::JSON::Array;
			for (const auto& address: message.addresses) pAddresses->add(address.toString());
			e.set("addresses", pAddresses);
			emit("punch_received", e);
		});
		_relay->setPunchErrorHandler([this](const PeerId&, const std::string& error) {
			++_punchErrors;
			Poco::JSON::Object e;
			e.set("error", error);
			emit("punch_error", e);
		});
		_relay->start();
		_timer = _loop.runAfter(Milliseconds(15000), [this] {
			if (!_online) fail("not online at the relay within 15 s");
		});
	}

	void report() override
	{
		Poco::JSON::Object o;
		o.set("punches_sent", _punchesSent);
		o.set("punches_refused_by_client", _punchesNotSent);
		o.set("punch_errors", _punchErrors);
		o.set("punches_received", _punchesReceived);
		o.set("tunnel", _tunnelOk);
		o.set("established", _session && _session->established());
		o.set("receipts", _receipts);
		o.set("refusals", _refusals);
		o.set("session_closed", _session ? _session->closedAlready() : true);
		o.set("close_reason", _closeReason);
		emit("done", o);
	}

	void shutdown() override
	{
		_timer.cancel();
		if (_session) _session->close();
		if (_relay) _relay->stop();
	}

private:
	void punch(Relay::PunchMessage::Phase phase, std::int64_t attempt, bool reply, bool known)
	{
		Relay::PunchMessage message;
		message.peer = _victim;
		message.phase = phase;
		message.attempt = attempt;
		message.reply = reply;
		message.nat = _nat;
		if (phase == Relay::PunchMessage::Phase::CONNECT) message.addresses = _addresses;
		const bool ok = _relay->sendPunch(message);
		ok ? ++_punchesSent : ++_punchesNotSent;
		Poco::JSON::Object e;
		e.set("phase", std::string(Relay::PunchMessage::phaseName(phase)));
		e.set("attempt", static_cast<Poco::Int64>(attempt));
		e.set("reply", reply);
		e.set("known", known);
		e.set("ok", ok);
		emit("punch_sent", e);
	}

	void punchRound(int round, bool known)
		/// connect (we initiate), sync (dial now), and a connect reply (as if answering the
		/// victim's own punch), each naming our addresses.
	{
		const int rounds = known ? _options.punchRounds : _options.unknownRounds;
		if (round >= rounds)
		{
			if (!known)
				openTunnel();
			else
				afterPunches();
			return;
		}
		const std::int64_t attempt = (known ? 100 : 1) + round;
		punch(Relay::PunchMessage::Phase::CONNECT, attempt, false, known);
		punch(Relay::PunchMessage::Phase::SYNC, attempt, false, known);
		punch(Relay::PunchMessage::Phase::CONNECT, attempt, true, known);
		_timer = _loop.runAfter(Milliseconds(_options.punchIntervalMs), [this, round, known] { punchRound(round + 1, known); });
	}

	void openTunnel()
	{
		_relay->openTunnel(_victim, [this](Relay::RelayTunnel tunnel, const std::string& error) {
			Poco::JSON::Object e;
			e.set("ok", tunnel.connection != nullptr);
			e.set("error", error);
			emit("tunnel", e);
			if (!tunnel.connection)
			{
				fail("no tunnel to the victim: " + error);
				return;
			}
			_tunnelOk = true;
			_session = RawSession::create(TlsChannel::client(tunnel.connection, _identity, _victim), _options.name);
			_session->onEstablished = [this] {
				emit("established");
				_session->sendText("stranger-1", "hello from a stranger");
			};
			_session->onMessage = [this](const std::string& name, const Poco::JSON::Object::Ptr& body) { onMessage(name, body); };
			_session->onClosed = [this](const std::string& reason) {
				_closeReason = reason;
				Poco::JSON::Object c;
				c.set("reason", reason);
				emit("closed", c);
			};
			_session->begin(tunnel.leftover);
		});
	}

	void onMessage(const std::string& name, const Poco::JSON::Object::Ptr& body)
	{
		Poco::JSON::Object e;
		e.set("name", name);
		e.set("id", body->optValue<std::string>("id", ""));
		emit("victim_message", e);
		if (name == "receipt") ++_receipts;
		if (name == "refuse") ++_refusals;
		if (name == "receipt" && body->optValue<std::string>("id", "") == "stranger-1")
			_timer = _loop.runAfter(Milliseconds(200), [this] { punchRound(0, true); });
		if (name == "receipt" && body->optValue<std::string>("id", "") == "stranger-2")
			_timer = _loop.runAfter(Milliseconds(_options.holdMs), [this] { finish(); });
		if (name == "text")
		{
			Poco::JSON::Object receipt;
			receipt.set("id", body->getValue<std::string>("id"));
			_session->send("receipt", receipt);
		}
	}

	void afterPunches()
	{
		if (!_session || _session->closedAlready())
		{
			_timer = _loop.runAfter(Milliseconds(_options.holdMs), [this] { finish(); });
			return;
		}
		_session->sendText("stranger-2", "still here");
		_timer = _loop.runAfter(Milliseconds(_options.holdMs + 10000), [this] { finish(); });
	}

	Identity _identity;
	PeerId _victim;
	Relay::NatType _nat;
	std::vector<Poco::Net::SocketAddress> _addresses;
	std::unique_ptr<Relay::RelayClient> _relay;
	RawSession::Ptr _session;
	TimerHandle _timer;
	bool _online = false;
	bool _tunnelOk = false;
	int _punchesSent = 0;
	int _punchesNotSent = 0;
	int _punchErrors = 0;
	int _punchesReceived = 0;
	int _receipts = 0;
	int _refusals = 0;
	std::string _closeReason;
};


// --mode flood ------------------------------------------------------------------------------


class Flood: public Mode
	/// --count identities, --parallel at a time. Behaviours:
	///   message  TLS, hello, one text; after its receipt (or refusal) the session is held for
	///            --hold-ms and then closed.
	///   linger   as message, then a "close" message and no more reading: the victim closes
	///            its side and waits for our FIN, which comes only after --hold-ms.
	///   hello    TLS and hello, no text; held for --hold-ms.
	///   stall    TCP only, no TLS (a handshake that never starts); held for --hold-ms.
{
public:
	Flood(EventLoop& loop, const Options& options):
		Mode(loop, options),
		_victim(PeerId::parse(options.victim))
	{
		if (!options.connect.empty()) _target = Poco::Net::SocketAddress(options.connect);
		_slots.resize(static_cast<std::size_t>(options.parallel));
	}

	void start() override
	{
		Poco::JSON::Object o;
		o.set("mode", "flood");
		o.set("count", static_cast<Poco::Int64>(_options.count));
		o.set("behavior", _options.behavior);
		o.set("via", _options.relay.empty() ? "direct" : "relay");
		emit("identity", o);
		// --ramp-ms spreads the first sessions of the slots out (no burst of handshakes).
		_rampTimers.resize(_slots.size());
		for (std::size_t i = 0; i < _slots.size(); ++i)
		{
			const auto delay = Milliseconds(_options.rampMs * static_cast<long>(i) / static_cast<long>(_slots.size()));
			if (delay.count() == 0) launch(i);
			else _rampTimers[i] = _loop.runAfter(delay, [this, i] { launch(i); });
		}
	}

	void report() override
	{
		emit("done", summary());
	}

	void shutdown() override
	{
		_finishTimer.cancel();
		_rampTimers.clear();
		for (auto& entry: _lingering) entry.second->abort("flood over");
		_lingerTimers.clear();
		for (auto& slot: _slots)
		{
			slot.timer.cancel();
			if (slot.session) slot.session->abort("flood over");
			if (slot.connection) slot.connection->abort("flood over");
			if (slot.relay) slot.relay->stop();
		}
	}

private:
	struct Slot
	{
		bool busy = false;
		std::uint64_t serial = 0;
		std::unique_ptr<Identity> identity;
		std::unique_ptr<Relay::RelayClient> relay;
		RawSession::Ptr session;
		TcpConnection::Ptr connection;   ///< stall only
		TimerHandle timer;
		Clock::time_point started;
		bool answered = false;
		std::string outcome;
	};

	Poco::JSON::Object summary() const
	{
		Poco::JSON::Object o;
		o.set("started", static_cast<Poco::Int64>(_started));
		o.set("finished", static_cast<Poco::Int64>(_finished));
		o.set("tls", static_cast<Poco::Int64>(_tls));
		o.set("established", static_cast<Poco::Int64>(_established));
		Poco::JSON::Object::Ptr pOutcomes = new Poco::JSON::Object;
		for (const auto& entry: _outcomes) pOutcomes->set(entry.first, static_cast<Poco::Int64>(entry.second));
		o.set("outcomes", pOutcomes);
		o.set("open_now", static_cast<Poco::Int64>(openNow()));
		o.set("lingering_max", static_cast<Poco::Int64>(_maxLingering));
		return o;
	}

	std::size_t openNow() const
	{
		std::size_t open = 0;
		for (const auto& slot: _slots)
			if (slot.busy) ++open;
		return open;
	}

	void launch(std::size_t index)
	{
		Slot& slot = _slots[index];
		if (_started >= _options.count)
		{
			if (_finished >= _options.count && !_finishing)
			{
				// Lingering sockets end with their hold; then the run is over.
				_finishing = true;
				_finishTimer = _loop.runAfter(Milliseconds(_lingering.empty() ? 0 : _options.holdMs), [this] { finish(); });
			}
			return;
		}
		++_started;
		slot = Slot();
		slot.busy = true;
		slot.serial = ++_serial;
		slot.started = Clock::now();
		slot.identity = std::make_unique<Identity>(Identity::generate());
		const std::uint64_t serial = slot.serial;
		slot.timer = _loop.runAfter(Milliseconds(_options.sessionTimeoutMs + _options.holdMs), [this, index, serial] {
			end(index, serial, "timeout");
		});
		if (!_options.relay.empty())
		{
			slot.relay = std::make_unique<Relay::RelayClient>(_loop, *slot.identity, relayConfig(_options, "flood"));
			slot.relay->openTunnel(_victim, [this, index, serial](Relay::RelayTunnel tunnel, const std::string& error) {
				Slot& s = _slots[index];
				if (s.serial != serial || !s.busy) return;
				if (!tunnel.connection)
				{
					end(index, serial, "tunnel_error");
					if (_tunnelErrors++ < 5)
					{
						Poco::JSON::Object e;
						e.set("error", error);
						emit("tunnel_error", e);
					}
					return;
				}
				startSession(index, tunnel.connection, tunnel.leftover);
			});
			return;
		}
		TcpConnection::Ptr connection = TcpConnection::connect(_loop, _target, Milliseconds(_options.sessionTimeoutMs));
		if (_options.behavior == "stall")
		{
			slot.connection = connection;
			connection->setConnectHandler([this, index, serial] {
				Slot& s = _slots[index];
				if (s.serial != serial) return;
				s.timer = _loop.runAfter(holdFor(), [this, index, serial] { end(index, serial, "held"); });
			});
			connection->setCloseHandler([this, index, serial](const std::string&) {
				Slot& s = _slots[index];
				if (s.serial != serial) return;
				const auto held = std::chrono::duration_cast<Milliseconds>(Clock::now() - s.started).count();
				end(index, serial, held >= 1000 ? "closed_by_victim_after_1s" : "closed_by_victim_at_once");
			});
			return;
		}
		startSession(index, connection, std::string());
	}

	void startSession(std::size_t index, const ByteStream::Ptr& connection, const std::string& leftover)
	{
		Slot& slot = _slots[index];
		const std::uint64_t serial = slot.serial;
		slot.session = RawSession::create(TlsChannel::client(connection, *slot.identity, _victim), "flood");
		slot.session->onTlsReady = [this] { ++_tls; };
		slot.session->onEstablished = [this, index, serial] {
			Slot& s = _slots[index];
			if (s.serial != serial) return;
			++_established;
			if (_options.behavior == "hello")
			{
				s.timer = _loop.runAfter(holdFor(), [this, index, serial] { end(index, serial, "held"); });
				return;
			}
			if (_options.behavior == "requests") sendRequests(*s.session, serial);
			s.session->sendText("flood-" + std::to_string(serial), "hello from throwaway identity " + std::to_string(serial));
		};
		slot.session->onMessage = [this, index, serial](const std::string& name, const Poco::JSON::Object::Ptr& body) {
			Slot& s = _slots[index];
			if (s.serial != serial || s.answered) return;
			if (name != "receipt" && name != "refuse") return;
			s.answered = true;
			s.outcome = name == "receipt" ? "receipt" : "refused_" + body->optValue<std::string>("code", "?");
			if (_options.behavior == "linger")
			{
				// The victim closes its side and waits for our FIN; its socket stays open until
				// the hold ends (we reset then). The slot moves on at once.
				Poco::JSON::Object bye;
				bye.set("reason", "bye");
				s.session->send("close", bye);
				s.session->pauseReading();
				linger(s.session);
				s.session.reset();
				end(index, serial, s.outcome);
				return;
			}
			s.timer = _loop.runAfter(holdFor(), [this, index, serial] {
				Slot& held = _slots[index];
				if (held.serial == serial) end(index, serial, held.outcome);
			});
		};
		slot.session->onClosed = [this, index, serial](const std::string&) {
			Slot& s = _slots[index];
			if (s.serial != serial || !s.busy) return;
			if (s.answered)
			{
				end(index, serial, s.outcome + "_then_closed_by_victim");
				return;
			}
			end(index, serial, s.session->established() ? "closed_after_hello"
				: s.session->tlsIsReady() ? "closed_after_tls" : "closed_before_tls");
		};
		slot.session->begin(leftover);
	}

	void sendRequests(RawSession& session, std::uint64_t serial)
		/// --requests group invitations (type 16) and file offers (type 32): requests the
		/// victim's user would have to answer.
	{
		for (int i = 0; i < _options.requests; ++i)
		{
			Poco::JSON::Object invite;
			invite.set("group", randomHex(32));
			invite.set("name", "flood group " + std::to_string(serial) + "." + std::to_string(i));
			invite.set("members", 1);
			session.sendType(16, invite);
			Poco::JSON::Object offer;
			offer.set("id", randomHex(16));
			offer.set("name", "flood-" + std::to_string(serial) + "-" + std::to_string(i) + ".bin");
			offer.set("size", static_cast<Poco::Int64>(1) << 20);
			offer.set("sha256", randomHex(32));
			offer.set("block_size", 131072);
			offer.set("ts", static_cast<Poco::Int64>(wallClockMs()));
			session.sendType(32, offer);
		}
	}

	void end(std::size_t index, std::uint64_t serial, const std::string& outcome)
	{
		Slot& slot = _slots[index];
		if (slot.serial != serial || !slot.busy) return;
		slot.busy = false;
		slot.timer.cancel();
		++_outcomes[outcome];
		++_finished;
		if (slot.session) slot.session->close();
		if (slot.connection) slot.connection->abort("done");
		// The relay client may be inside its own callback: destroyed on a later turn.
		std::shared_ptr<Relay::RelayClient> relay(slot.relay.release());
		RawSession::Ptr session = std::move(slot.session);
		_loop.post([relay, session] {});
		slot.connection.reset();
		if (_finished % _options.progressEvery == 0) emit("progress", summary());
		// A slot whose identity did not get through waits --retry-ms before the next one.
		const bool through = outcome.compare(0, 7, "receipt") == 0 || outcome.compare(0, 7, "refused") == 0 || outcome == "held";
		if (!through && _options.retryMs > 0)
			slot.timer = _loop.runAfter(Milliseconds(_options.retryMs), [this, index] { launch(index); });
		else
			_loop.post([this, index] { launch(index); });
	}

	Milliseconds holdFor() const
		/// --hold-ms, but never past --hold-until-ms after the start.
	{
		if (_options.holdUntilMs <= 0) return Milliseconds(_options.holdMs);
		const long left = std::max<long>(0, _options.holdUntilMs - static_cast<long>(elapsedMs()));
		return Milliseconds(std::min(_options.holdMs, left));
	}

	void linger(const RawSession::Ptr& session)
		/// Keeps a session whose victim side is closing open (not reading, no FIN) for --hold-ms.
	{
		const std::uint64_t key = ++_lingerSerial;
		_lingering[key] = session;
		_lingerTimers[key] = _loop.runAfter(Milliseconds(_options.holdMs), [this, key] {
			auto it = _lingering.find(key);
			if (it != _lingering.end())
			{
				it->second->abort("linger over");
				RawSession::Ptr keep = it->second;
				_lingering.erase(it);
				_loop.post([keep] {});
			}
			_loop.post([this, key] { _lingerTimers.erase(key); });
		});
		if (_lingering.size() > _maxLingering) _maxLingering = _lingering.size();
	}

	PeerId _victim;
	Poco::Net::SocketAddress _target;
	std::vector<Slot> _slots;
	std::map<std::uint64_t, RawSession::Ptr> _lingering;
	std::map<std::uint64_t, TimerHandle> _lingerTimers;
	std::uint64_t _lingerSerial = 0;
	std::size_t _maxLingering = 0;
	std::uint64_t _serial = 0;
	long _started = 0;
	long _finished = 0;
	long _tls = 0;
	long _established = 0;
	int _tunnelErrors = 0;
	bool _finishing = false;
	TimerHandle _finishTimer;
	std::vector<TimerHandle> _rampTimers;
	std::map<std::string, long> _outcomes;
};


// --mode poison -----------------------------------------------------------------------------


class Poison: public Mode
	/// The Latin-1 line: one text that is not UTF-8, then --count valid ones at once.
{
public:
	Poison(EventLoop& loop, const Options& options):
		Mode(loop, options),
		_identity(loadOrMakeIdentity(options.keyFile)),
		_victim(PeerId::parse(options.victim)),
		_bad(bytesOfHex(options.badTextHex))
	{
	}

	void start() override
	{
		Poco::JSON::Object o;
		o.set("id", _identity.peerId().toString());
		o.set("mode", "poison");
		emit("identity", o);
		_timer = _loop.runAfter(Milliseconds(20000), [this] {
			if (!_session || !_session->established()) fail("no session with the victim within 20 s");
		});
		if (!_options.relay.empty())
		{
			_relay = std::make_unique<Relay::RelayClient>(_loop, _identity, relayConfig(_options, _options.name));
			_relay->openTunnel(_victim, [this](Relay::RelayTunnel tunnel, const std::string& error) {
				if (!tunnel.connection)
				{
					fail("no tunnel to the victim: " + error);
					return;
				}
				begin(tunnel.connection, tunnel.leftover);
			});
			return;
		}
		begin(TcpConnection::connect(_loop, Poco::Net::SocketAddress(_options.connect), Milliseconds(5000)), std::string());
	}

	void report() override
	{
		Poco::JSON::Object o;
		Poco::JSON::Array::Ptr pReceipts = new Poco::JSON::Array;
		for (const auto& id: _receipts) pReceipts->add(id);
		Poco::JSON::Array::Ptr pRefusals = new Poco::JSON::Array;
		for (const auto& refusal: _refusals) pRefusals->add(refusal);
		o.set("receipts", pReceipts);
		o.set("refusals", pRefusals);
		o.set("raw_bytes_sent", _raw);
		o.set("session_closed", _session ? _session->closedAlready() : true);
		o.set("close_reason", _closeReason);
		emit("done", o);
	}

	void shutdown() override
	{
		_timer.cancel();
		if (_session) _session->close();
		if (_relay) _relay->stop();
	}

private:
	void begin(const ByteStream::Ptr& connection, const std::string& leftover)
	{
		_session = RawSession::create(TlsChannel::client(connection, _identity, _victim), _options.name);
		_session->onEstablished = [this] {
			emit("established");
			_raw = _session->sendText("poison-0", _bad);
			Poco::JSON::Object e;
			e.set("id", "poison-0");
			e.set("hex", hexOf(_bad));
			e.set("raw", _raw);
			emit("sent", e);
			for (long i = 1; i <= _options.count; ++i)
			{
				const std::string id = "poison-" + std::to_string(i);
				_session->sendText(id, "after the bad line " + std::to_string(i));
				Poco::JSON::Object s;
				s.set("id", id);
				emit("sent", s);
			}
		};
		_session->onMessage = [this](const std::string& name, const Poco::JSON::Object::Ptr& body) {
			Poco::JSON::Object e;
			e.set("id", body->optValue<std::string>("id", ""));
			if (name == "receipt")
			{
				_receipts.push_back(body->getValue<std::string>("id"));
				emit("receipt", e);
			}
			else if (name == "refuse")
			{
				Poco::JSON::Object::Ptr pRefusal = new Poco::JSON::Object;
				pRefusal->set("id", body->getValue<std::string>("id"));
				pRefusal->set("code", body->getValue<std::string>("code"));
				pRefusal->set("reason", body->optValue<std::string>("reason", ""));
				_refusals.push_back(pRefusal);
				e.set("code", body->getValue<std::string>("code"));
				emit("refused", e);
			}
			else
			{
				e.set("name", name);
				emit("victim_message", e);
			}
			if (static_cast<long>(_receipts.size() + _refusals.size()) == _options.count + 1 && !_holding)
			{
				_holding = true;
				_timer = _loop.runAfter(Milliseconds(_options.holdMs), [this] { finish(); });
			}
		};
		_session->onClosed = [this](const std::string& reason) {
			_closeReason = reason;
			Poco::JSON::Object c;
			c.set("reason", reason);
			emit("closed", c);
			finish();
		};
		_session->begin(leftover);
	}

	Identity _identity;
	PeerId _victim;
	std::string _bad;
	std::unique_ptr<Relay::RelayClient> _relay;
	RawSession::Ptr _session;
	TimerHandle _timer;
	bool _raw = false;
	bool _holding = false;
	std::vector<std::string> _receipts;
	std::vector<Poco::JSON::Object::Ptr> _refusals;
	std::string _closeReason;
};


// --mode receiver ---------------------------------------------------------------------------


class Receiver: public Mode
	/// A peer that the victim dials: counts the sessions and answers texts as --on-text says.
{
public:
	Receiver(EventLoop& loop, const Options& options):
		Mode(loop, options),
		_identity(loadOrMakeIdentity(options.keyFile))
	{
	}

	void start() override
	{
		_listener = std::make_unique<TcpListener>(_loop, Poco::Net::SocketAddress("0.0.0.0", _options.listenPort),
			[this](const Poco::Net::StreamSocket& socket) { accept(socket); });
		const std::uint16_t port = _listener->address().port();
		if (_options.lan)
		{
			Discovery::LanDiscoveryConfig config;
			config.announceInterval = Milliseconds(_options.lanIntervalMs);
			_lan = std::make_unique<Discovery::LanDiscovery>(_loop, _identity, config);
			_lan->setLocalInfo(_options.name, port);
			_lan->start();
		}
		Poco::JSON::Object o;
		o.set("id", _identity.peerId().toString());
		o.set("mode", "receiver");
		o.set("port", port);
		emit("listening", o);
		if (_options.durationMs > 0) _timer = _loop.runAfter(Milliseconds(_options.durationMs), [this] { finish(); });
	}

	void report() override
	{
		Poco::JSON::Object o;
		o.set("sessions", _sessionCount);
		o.set("established", _establishedCount);
		o.set("texts", _texts);
		o.set("distinct_texts", static_cast<Poco::Int64>(_textIds.size()));
		emit("done", o);
	}

	void shutdown() override
	{
		_timer.cancel();
		if (_lan) _lan->stop();
		_listener.reset();
		for (auto& entry: _sessions) entry.second->close();
	}

private:
	void accept(const Poco::Net::StreamSocket& socket)
	{
		const int n = ++_sessionCount;
		auto connection = TcpConnection::adopt(_loop, socket);
		RawSession::Ptr session = RawSession::create(TlsChannel::server(connection, _identity), _options.name);
		_sessions[n] = session;
		Poco::JSON::Object o;
		o.set("n", n);
		o.set("remote", connection->peerAddress().toString());
		emit("session", o);
		std::weak_ptr<RawSession> weak = session;
		session->onEstablished = [this, n, weak] {
			++_establishedCount;
			auto s = weak.lock();
			Poco::JSON::Object e;
			e.set("n", n);
			e.set("peer", s ? s->peer().toString() : std::string());
			emit("established", e);
		};
		session->onMessage = [this, n, weak](const std::string& name, const Poco::JSON::Object::Ptr& body) {
			auto s = weak.lock();
			if (!s) return;
			if (name == "text") onText(n, *s, body);
			else
			{
				Poco::JSON::Object e;
				e.set("n", n);
				e.set("name", name);
				emit("victim_message", e);
			}
		};
		session->onClosed = [this, n](const std::string& reason) {
			Poco::JSON::Object e;
			e.set("n", n);
			e.set("reason", reason);
			emit("closed", e);
			auto it = _sessions.find(n);
			if (it != _sessions.end())
			{
				RawSession::Ptr keep = it->second;
				_sessions.erase(it);
				_loop.post([keep] {});
			}
		};
		session->begin(std::string());
	}

	void onText(int n, RawSession& session, const Poco::JSON::Object::Ptr& body)
	{
		++_texts;
		const std::string id = body->getValue<std::string>("id");
		const std::string text = body->getValue<std::string>("text");
		_textIds.insert(id);
		std::string action = _options.onText;
		if (!_options.refuseText.empty() && text.find(_options.refuseText) != std::string::npos) action = "refuse";
		Poco::JSON::Object e;
		e.set("n", n);
		e.set("id", id);
		e.set("text", Text::isValidUtf8(text) ? text : Text::replaceInvalidUtf8(text));
		e.set("action", action);
		emit("text", e);
		if (action == "receipt")
		{
			Poco::JSON::Object receipt;
			receipt.set("id", id);
			session.send("receipt", receipt);
		}
		else if (action == "refuse")
		{
			Poco::JSON::Object refuse;
			refuse.set("id", id);
			refuse.set("code", std::string(SessionProtocol::REFUSE_INVALID_UTF8));
			refuse.set("reason", "the text is not valid UTF-8");
			session.send("refuse", refuse);
		}
		else if (action == "abort")
		{
			session.abort("hostile receiver");
		}
		else if (action == "garbage")
		{
			session.sendBytes(std::string("\x00\x01garbage, not a frame", 21));
		}
	}

	Identity _identity;
	std::unique_ptr<TcpListener> _listener;
	std::unique_ptr<Discovery::LanDiscovery> _lan;
	std::map<int, RawSession::Ptr> _sessions;
	TimerHandle _timer;
	int _sessionCount = 0;
	int _establishedCount = 0;
	int _texts = 0;
	std::set<std::string> _textIds;
};


} // namespace


int main(int argc, char** argv)
{
	Options options;
	try
	{
		options = parseOptions(argc, argv);
	}
	catch (const Poco::Exception& exc)
	{
		std::cerr << "Adversary-peer: " << exc.message() << "\n" << USAGE;
		return 2;
	}
	Poco::Logger::root().setLevel("error");   // our JSON lines are the output

	int code = 0;
	try
	{
		EventLoop loop;
		std::unique_ptr<Mode> mode;
		if (options.mode == "stranger") mode = std::make_unique<StrangerAttack>(loop, options);
		else if (options.mode == "flood") mode = std::make_unique<Flood>(loop, options);
		else if (options.mode == "poison") mode = std::make_unique<Poison>(loop, options);
		else mode = std::make_unique<Receiver>(loop, options);
		bool deadline = false;
		TimerHandle deadlineTimer = loop.runAfter(Milliseconds(options.deadlineMs), [&loop, &deadline] {
			deadline = true;
			loop.stop();
		});
		loop.post([&mode] { mode->start(); });
		loop.run();
		deadlineTimer.cancel();
		if (deadline)
		{
			Poco::JSON::Object o;
			o.set("deadline_ms", static_cast<Poco::Int64>(options.deadlineMs));
			emit("deadline", o);
		}
		mode->report();
		mode->shutdown();
		// A short last run flushes what shutdown() wrote (close_notify, FINs, the relay's DELETE).
		TimerHandle flush = loop.runAfter(Milliseconds(300), [&loop] { loop.stop(); });
		loop.run();
		code = mode->failed() ? 1 : 0;
		mode.reset();
	}
	catch (const Poco::Exception& exc)
	{
		std::cerr << "Adversary-peer: " << exc.displayText() << "\n";
		return 1;
	}
	return code;
}
