//
// RelayClient.cpp
//
// Library: Relay
//


#include "CrossChat/Relay/RelayClient.h"
#include "CrossChat/FoundationException.h"
#include "CrossChat/FrameCodec.h"
#include "CrossChat/MessageSchema.h"
#include "CrossChat/Relay/RelayProtocol.h"
#include "HttpExchange.h"
#include "Poco/Base64Encoder.h"
#include "Poco/DigestEngine.h"
#include "Poco/JSON/Array.h"
#include "Poco/JSON/Object.h"
#include "Poco/Logger.h"
#include "Poco/Net/HTTPMessage.h"
#include "Poco/Net/HTTPRequest.h"
#include "Poco/Net/HTTPResponse.h"
#include "Poco/Net/IPAddress.h"
#include "Poco/NumberParser.h"
#include "Poco/String.h"
#include <openssl/rand.h>
#include <algorithm>
#include <random>
#include <sstream>
#include <unordered_map>
#include <utility>


namespace CrossChat {
namespace Relay {


namespace {


using Result = HttpExchange::Result;
using Milliseconds = std::chrono::milliseconds;


constexpr std::size_t CONTROL_MAX_FRAME = 16 * 1024;
constexpr int MISSED_KEEPALIVES = 3;


Poco::Logger& logger()
{
	return Poco::Logger::get("CrossChat.Relay.Client");
}


const MessageSchema& announceAnswerSchema()
{
	static const MessageSchema schema = MessageSchema()
		.requireString("id", 1, 80)
		.optionalString("observed", 0, 64)
		.requireInteger("ttl_s", 1)
		.requireInteger("reannounce_s", 1);
	return schema;
}


const MessageSchema& peerRecordSchema()
{
	static const MessageSchema schema = MessageSchema()
		.requireString("id", 1, 80)
		.optionalString("name", 0, 256)
		.optionalString("public_key", 0, 128)
		.optionalArray("addresses", 256)
		.optionalString("observed", 0, 64)
		.optionalInteger("port", 0, 65535)
		.optionalInteger("last_seen_ms", 0)
		.optionalBoolean("online");
	return schema;
}


const MessageSchema& tunnelAnswerSchema()
{
	static const MessageSchema schema = MessageSchema()
		.requireString("token", 16, 128)
		.optionalInteger("expires_s", 0)
		.optionalObject("limits");
	return schema;
}


std::string base64(const std::string& bytes)
{
	std::ostringstream out;
	Poco::Base64Encoder encoder(out);
	encoder.rdbuf()->setLineLength(0);
	encoder << bytes;
	encoder.close();
	return out.str();
}


std::string randomNonce()
	/// 16 random bytes as 32 hex digits.
{
	std::vector<unsigned char> bytes(16);
	if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1)
		throw CryptoException("RAND_bytes failed");
	return Poco::DigestEngine::digestToHex(bytes);
}


std::int64_t wallClockMs()
{
	return std::chrono::duration_cast<Milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}


std::string toJson(const Poco::JSON::Object& object)
{
	std::ostringstream out;
	object.stringify(out);
	return out.str();
}


std::optional<Poco::Net::SocketAddress> parseAddress(const std::string& text, std::uint16_t defaultPort = 0)
	/// "ip", "ip:port", "[ipv6]" or "[ipv6]:port" without any name lookup.
{
	Poco::Net::IPAddress host;
	std::string portText;
	if (!text.empty() && text[0] == '[')
	{
		const std::string::size_type close = text.find(']');
		if (close == std::string::npos || !Poco::Net::IPAddress::tryParse(text.substr(1, close - 1), host))
			return std::nullopt;
		if (close + 1 < text.size())
		{
			if (text[close + 1] != ':') return std::nullopt;
			portText = text.substr(close + 2);
		}
	}
	else if (Poco::Net::IPAddress::tryParse(text, host))
	{
		// a bare IPv4 or IPv6 address
	}
	else
	{
		const std::string::size_type colon = text.rfind(':');
		if (colon == std::string::npos || !Poco::Net::IPAddress::tryParse(text.substr(0, colon), host))
			return std::nullopt;
		portText = text.substr(colon + 1);
	}
	unsigned port = defaultPort;
	if (!portText.empty())
	{
		if (portText.size() > 5 || !std::all_of(portText.begin(), portText.end(), [](char c) { return c >= '0' && c <= '9'; })
			|| !Poco::NumberParser::tryParseUnsigned(portText, port) || port > 65535)
		{
			return std::nullopt;
		}
	}
	return Poco::Net::SocketAddress(host, static_cast<Poco::UInt16>(port));
}


Poco::Net::IPAddress unmapped(const Poco::Net::IPAddress& address)
	/// ::ffff:a.b.c.d as a.b.c.d; anything else unchanged.
{
	if (address.family() == Poco::Net::IPAddress::IPv6 && address.isIPv4Mapped())
	{
		const std::string text = address.toString();
		Poco::Net::IPAddress v4;
		const std::string::size_type colon = text.rfind(':');
		if (colon != std::string::npos && Poco::Net::IPAddress::tryParse(text.substr(colon + 1), v4)) return v4;
	}
	return address;
}


bool sameEndpoint(const Poco::Net::SocketAddress& a, const Poco::Net::SocketAddress& b)
{
	return a.port() == b.port() && unmapped(a.host()) == unmapped(b.host());
}


Poco::Net::SocketAddress wildcard(const Poco::Net::SocketAddress& like, std::uint16_t port)
	/// The unspecified address of like's family, with port.
{
	return Poco::Net::SocketAddress(Poco::Net::IPAddress(like.family()), port);
}


std::string formatDelay(Milliseconds delay)
{
	if (delay < Milliseconds(1000)) return std::to_string(delay.count()) + " ms";
	return std::to_string((delay.count() + 500) / 1000) + " s";
}


std::string describeStatus(const Result& result)
	/// "503 Service Unavailable: <message from the JSON error body>".
{
	std::string text = std::to_string(static_cast<int>(result.response.getStatus())) + " " + result.response.getReason();
	try
	{
		const Poco::JSON::Object::Ptr pError = MessageSchema::parseObject(result.body);
		for (const char* field: {"reason", "message", "error"})
		{
			if (pError->has(field) && pError->get(field).isString())
			{
				const std::string detail = pError->getValue<std::string>(field);
				if (!detail.empty()) return text + ": " + detail;
			}
		}
	}
	catch (const Poco::Exception&)
	{
		// not a JSON error body; the status line says enough
	}
	return text;
}


std::string jsonReason(const Result& result)
	/// The "reason" (else "message") of a JSON error body, or the status line.
{
	try
	{
		const Poco::JSON::Object::Ptr pError = MessageSchema::parseObject(result.body);
		for (const char* field: {"reason", "message"})
		{
			if (pError->has(field) && pError->get(field).isString())
				return pError->getValue<std::string>(field);
		}
	}
	catch (const Poco::Exception&)
	{
	}
	return std::to_string(static_cast<int>(result.response.getStatus())) + " " + result.response.getReason();
}


} // namespace


class RelayClient::Impl: public std::enable_shared_from_this<RelayClient::Impl>
{
public:
	using Upgraded = std::function<void(RelayTunnel tunnel, const std::string& error)>;

	Impl(EventLoop& loop, const Identity& identity, RelayClientConfig config):
		_loop(loop),
		_identity(identity),
		_config(std::move(config)),
		_origin(_config.url.getScheme() + "://" + _config.url.getAuthority()),
		_codec(CONTROL_MAX_FRAME),
		_random(std::random_device{}())
	{
	}

	~Impl()
	{
		stop();
	}

	void start()
	{
		if (_started || _stopped) return;
		_started = true;
		const std::string problem = urlProblem();
		if (!problem.empty())
		{
			setState(State::OFFLINE, problem);
			return;
		}
		beginCycle();
	}

	void stop()
	{
		if (_stopped) return;
		_stopped = true;
		teardown(true);
		_retryTimer.cancel();
		for (const auto& weak: _pending)
		{
			if (auto pExchange = weak.lock()) pExchange->cancel();
		}
		_pending.clear();
		if (_announceSent && _relayAddress)
		{
			// Fire and forget: the exchange lives on its connection, not on this object.
			try
			{
				HttpExchange::start(_loop, *_relayAddress,
					makeRequest(Poco::Net::HTTPRequest::HTTP_DELETE, announcePath(), "", true, nullptr), "",
					_config.requestTimeout, nullptr);
			}
			catch (const Poco::Exception& exc)
			{
				logger().warning("cannot unregister from relay " + _origin + ": " + exc.displayText());
			}
		}
		for (auto& entry: _outgoing) entry.second->timer.cancel();
		_outgoing.clear();
		_incoming.clear();
		_state = State::OFFLINE;
		_detail = "stopped";
		_onState = nullptr;
		_onInvite = nullptr;
		_onNat = nullptr;
		_onPunch = nullptr;
		_punchCandidates = nullptr;
	}

	void setChatPort(std::uint16_t port)
	{
		if (_config.chatPort == port) return;
		_config.chatPort = port;
		reannounceIfAnnounced();
	}

	void setAddresses(const std::vector<Poco::Net::SocketAddress>& addresses)
	{
		if (_config.addresses == addresses) return;
		_config.addresses = addresses;
		reannounceIfAnnounced();
	}

	void lookup(const PeerId& peer, LookupHandler handler)
	{
		std::weak_ptr<Impl> weak = shared_from_this();
		std::string error;
		if (!usable(error))
		{
			_loop.post([weak, handler, error] {
				auto self = weak.lock();
				if (self && !self->_stopped && handler) handler(std::nullopt, error);
			});
			return;
		}
		const std::string path = std::string(RelayProtocol::API_PREFIX) + "/peers/" + peer.toString();
		track(send(Poco::Net::HTTPRequest::HTTP_GET, path, "", false,
			[weak, peer, handler](Result& result) {
				auto self = weak.lock();
				if (!self || self->_stopped || !handler) return;
				std::optional<RelayPeerRecord> record;
				const std::string failure = self->onLookupAnswer(result, peer, record);
				handler(record, failure);
			}));
	}

	void openTunnel(const PeerId& peer, TunnelHandler handler)
	{
		std::weak_ptr<Impl> weak = shared_from_this();
		std::string error;
		if (!usable(error))
		{
			_loop.post([weak, handler, error] {
				auto self = weak.lock();
				if (self && !self->_stopped && handler) handler(RelayTunnel(), error);
			});
			return;
		}
		Poco::JSON::Object body;
		body.set("to", peer.toString());
		track(send(Poco::Net::HTTPRequest::HTTP_POST, std::string(RelayProtocol::API_PREFIX) + "/tunnels", toJson(body), true,
			[weak, peer, handler](Result& result) {
				auto self = weak.lock();
				if (!self || self->_stopped || !handler) return;
				self->onTunnelAnswer(result, peer, handler);
			}));
	}

	// State and accessors -------------------------------------------------------------------

	EventLoop& _loop;
	const Identity _identity;
	RelayClientConfig _config;
	const std::string _origin;             ///< "http://host:port", for messages.
	StateHandler _onState;
	InviteHandler _onInvite;
	State _state = State::OFFLINE;
	std::string _detail = "not started";
	std::optional<Poco::Net::SocketAddress> _reflexive;
	NatHandler _onNat;
	PunchHandler _onPunch;
	PunchCandidatesProvider _punchCandidates;
	std::uint16_t _punchPort = 0;
	NatInfo _nat;

private:
	enum class ControlPhase
	{
		NONE,
		HELLO_SENT,
		AUTH_SENT,
		ONLINE
	};

	// URL and requests ----------------------------------------------------------------------

	std::string urlProblem() const
	{
		const std::string scheme = _config.url.getScheme();
		if (scheme == "https")
			return "https relays are not supported by this client yet (relay " + _config.url.toString() + ")";
		if (scheme != "http")
			return "unsupported relay URL '" + _config.url.toString() + "' (expected http://host:port)";
		if (_config.url.getHost().empty())
			return "relay URL '" + _config.url.toString() + "' has no host";
		return std::string();
	}

	bool usable(std::string& error)
		/// True if requests can be sent: not stopped, a usable URL, an address for the relay.
	{
		if (_stopped)
		{
			error = "relay client stopped";
			return false;
		}
		error = urlProblem();
		if (!error.empty()) return false;
		if (!resolve(error))
		{
			error = "relay " + _origin + " unreachable: " + error;
			return false;
		}
		return true;
	}

	bool resolve(std::string& error)
	{
		if (_relayAddress) return true;
		const std::string& host = _config.url.getHost();
		try
		{
			Poco::Net::IPAddress ip;
			if (Poco::Net::IPAddress::tryParse(host, ip))
				_relayAddress = Poco::Net::SocketAddress(ip, _config.url.getPort());
			else
				_relayAddress = Poco::Net::SocketAddress(host, _config.url.getPort());   // blocking DNS lookup
			return true;
		}
		catch (const Poco::Exception& exc)
		{
			error = "cannot resolve " + host + ": " + exc.displayText();
			return false;
		}
	}

	static std::string announcePath()
	{
		return std::string(RelayProtocol::API_PREFIX) + "/announce";
	}

	Poco::Net::HTTPRequest makeRequest(const std::string& method, const std::string& path, const std::string& body,
		bool sign, const char* upgrade) const
	{
		Poco::Net::HTTPRequest request(method, path, Poco::Net::HTTPMessage::HTTP_1_1);
		request.setHost(_config.url.getHost(), _config.url.getPort());
		if (!body.empty() || method != Poco::Net::HTTPRequest::HTTP_GET)
			request.setContentType("application/json");
		if (upgrade)
		{
			request.set("Connection", "Upgrade");
			request.set("Upgrade", upgrade);
		}
		else
		{
			request.setKeepAlive(false);
		}
		if (sign)
		{
			const std::int64_t timestamp = wallClockMs();
			const std::string nonce = randomNonce();
			request.set(RelayProtocol::HEADER_KEY, base64(_identity.publicKey().raw()));
			request.set(RelayProtocol::HEADER_TIMESTAMP, std::to_string(timestamp));
			request.set(RelayProtocol::HEADER_NONCE, nonce);
			request.set(RelayProtocol::HEADER_SIGNATURE,
				base64(_identity.sign(RelayProtocol::signingString(method, path, body, timestamp, nonce))));
		}
		return request;
	}

	HttpExchange::Ptr send(const std::string& method, const std::string& path, const std::string& body, bool sign,
		HttpExchange::Handler handler, const char* upgrade = nullptr,
		const std::optional<Poco::Net::SocketAddress>& local = std::nullopt)
		/// Requires a resolved relay address (usable() or resolve()). A 101 reaches the handler
		/// only if it switched to the protocol asked for in upgrade.
	{
		const std::string protocol = upgrade ? upgrade : "";
		return HttpExchange::start(_loop, *_relayAddress, makeRequest(method, path, body, sign, upgrade), body,
			_config.requestTimeout, [protocol, handler](Result& result) {
				if (result.upgraded && Poco::icompare(result.response.get("Upgrade", ""), protocol) != 0)
				{
					result.upgraded->abort("unexpected protocol switch");
					result.upgraded.reset();
					result.error = "unexpected switch to protocol '" + result.response.get("Upgrade", "") + "'";
				}
				handler(result);
			}, local);
	}

	void track(const HttpExchange::Ptr& pExchange)
	{
		_pending.erase(std::remove_if(_pending.begin(), _pending.end(),
			[](const std::weak_ptr<HttpExchange>& weak) {
				auto p = weak.lock();
				return !p || p->finished();
			}), _pending.end());
		_pending.push_back(pExchange);
	}

	// State ---------------------------------------------------------------------------------

	void setState(State state, const std::string& detail)
		/// May run the state handler, which may stop or destroy the client: callers check
		/// _stopped afterwards (they hold a shared_ptr to this object).
	{
		if (state == _state && detail == _detail) return;
		_state = state;
		_detail = detail;
		if (state == State::OFFLINE)
			logger().warning(detail);
		else
			logger().information(detail);
		StateHandler handler = _onState;
		if (handler) handler(state, detail);
	}

	Milliseconds nextDelay(Milliseconds& backoff)
		/// Doubles backoff within retryMin..retryMax and returns it jittered by +-25 %, kept
		/// within retryMin..retryMax.
	{
		const Milliseconds minimum = std::max(Milliseconds(1), _config.retryMin);
		const Milliseconds maximum = std::max(minimum, _config.retryMax);
		backoff = backoff.count() == 0 ? minimum : std::min(backoff * 2, maximum);
		const Milliseconds::rep spread = backoff.count() / 2;
		std::uniform_int_distribution<Milliseconds::rep> jitter(0, spread);
		return std::clamp(backoff - Milliseconds(spread / 2) + Milliseconds(jitter(_random)), minimum, maximum);
	}

	// Connection cycle: announce, control channel, ONLINE -------------------------------------

	void beginCycle()
	{
		if (_stopped) return;
		std::string error;
		if (!resolve(error))
		{
			cycleFailed("relay " + _origin + " unreachable: " + error);
			return;
		}
		if (!_retrying) setState(State::CONNECTING, "connecting to relay " + _origin);
		if (_stopped) return;
		announce(true);
	}

	void cycleFailed(const std::string& detail)
		/// OFFLINE with detail, and the whole cycle again after the backoff. While retrying, the
		/// state stays OFFLINE (no CONNECTING in between); each failure updates the detail.
	{
		teardown(false);
		_retrying = true;
		_relayAddress.reset();   // resolve the host name again on the next attempt
		const Milliseconds delay = nextDelay(_backoff);
		std::weak_ptr<Impl> weak = shared_from_this();
		_retryTimer = _loop.runAfter(delay, [weak] {
			if (auto self = weak.lock()) self->beginCycle();
		});
		setState(State::OFFLINE, detail + "; retrying in " + formatDelay(delay));
		if (_stopped) return;
		failPunches("relay " + _origin + " is offline (" + detail + ")");
		if (_stopped) return;
		publishNat(NatInfo());
	}

	void teardown(bool graceful)
		/// Cancels the announce and control channel (not lookups and tunnels).
	{
		if (_pAnnounce) _pAnnounce->cancel();
		_pAnnounce.reset();
		if (_pControlUpgrade) _pControlUpgrade->cancel();
		_pControlUpgrade.reset();
		_reannounceTimer.cancel();
		_handshakeTimer.cancel();
		_keepaliveTimer.cancel();
		_announced = false;
		_announceAgain = false;
		_phase = ControlPhase::NONE;
		_codec.reset();
		stopProbe();
		_punchPort = 0;
		_controlObserved.reset();
		_relayProbePort = 0;
		_incoming.clear();
		if (_pControl)
		{
			_pControl->setDataHandler(nullptr);
			_pControl->setCloseHandler(nullptr);
			if (graceful)
				_pControl->close();
			else
				_pControl->abort("relay control channel reset");
			_pControl.reset();
		}
	}

	// Announce ------------------------------------------------------------------------------

	void reannounceIfAnnounced()
	{
		if (!_started || _stopped) return;
		if (_pAnnounce && !_pAnnounce->finished())
			_announceAgain = true;
		else if (_announced)
			announce(false);
	}

	void announce(bool inCycle)
		/// inCycle: part of the connection cycle (failure restarts it; success opens the control
		/// channel). Otherwise a refresh, retried on its own.
	{
		if (_pAnnounce && !_pAnnounce->finished())
		{
			_announceAgain = true;
			return;
		}
		_announceAgain = false;
		_reannounceTimer.cancel();
		Poco::JSON::Object body;
		body.set("name", _config.name);
		Poco::JSON::Array addresses;
		for (const auto& address: _config.addresses) addresses.add(address.toString());
		body.set("addresses", addresses);
		body.set("port", static_cast<int>(_config.chatPort));
		body.set("directory", _config.directory);
		std::weak_ptr<Impl> weak = shared_from_this();
		_announceSent = true;
		_pAnnounce = send(Poco::Net::HTTPRequest::HTTP_POST, announcePath(), toJson(body), true,
			[weak, inCycle](Result& result) {
				if (auto self = weak.lock())
				{
					if (!self->_stopped) self->onAnnounced(result, inCycle);
				}
			});
	}

	void onAnnounced(Result& result, bool inCycle)
	{
		_pAnnounce.reset();
		std::string error;
		Milliseconds reannounce{0};
		if (!result.error.empty())
		{
			error = "relay " + _origin + " unreachable: " + result.error;
		}
		else if (result.response.getStatus() != Poco::Net::HTTPResponse::HTTP_OK)
		{
			error = "relay " + _origin + " refused the announce: " + describeStatus(result);
		}
		else
		{
			try
			{
				const Poco::JSON::Object::Ptr pAnswer = announceAnswerSchema().parse(result.body);
				const std::optional<PeerId> id = PeerId::tryParse(pAnswer->getValue<std::string>("id"));
				if (!id || *id != _identity.peerId())
					throw MessageException("the relay names us " + pAnswer->getValue<std::string>("id"));
				if (pAnswer->has("observed")) learnObserved(pAnswer->getValue<std::string>("observed"));
				reannounce = std::chrono::seconds(pAnswer->getValue<std::int64_t>("reannounce_s"));
			}
			catch (const Poco::Exception& exc)
			{
				error = "relay " + _origin + " sent an invalid announce answer: " + exc.displayText();
			}
		}
		if (!error.empty())
		{
			if (inCycle)
			{
				cycleFailed(error);
			}
			else
			{
				const Milliseconds delay = nextDelay(_announceBackoff);
				logger().warning(error + "; re-announcing in " + formatDelay(delay));
				scheduleAnnounce(delay);
			}
			return;
		}
		_announced = true;
		_announceBackoff = Milliseconds(0);
		scheduleAnnounce(reannounce);
		if (_announceAgain) announce(false);
		if (inCycle) openControl();
	}

	void scheduleAnnounce(Milliseconds delay)
	{
		std::weak_ptr<Impl> weak = shared_from_this();
		_reannounceTimer = _loop.runAfter(delay, [weak] {
			if (auto self = weak.lock()) self->announce(false);
		});
	}

	void learnObserved(const std::string& text)
	{
		if (const auto address = parseAddress(text))
		{
			if (!_reflexive || _reflexive->toString() != address->toString())
				logger().information("relay " + _origin + " sees us as " + address->toString());
			_reflexive = address;
		}
	}

	// Control channel -----------------------------------------------------------------------

	void openControl()
	{
		std::weak_ptr<Impl> weak = shared_from_this();
		_pControlUpgrade = send(Poco::Net::HTTPRequest::HTTP_GET, std::string(RelayProtocol::API_PREFIX) + "/control", "", false,
			[weak](Result& result) {
				auto self = weak.lock();
				if (!self || self->_stopped)
				{
					if (result.upgraded) result.upgraded->abort("relay client stopped");
					return;
				}
				self->onControlUpgraded(result);
			}, RelayProtocol::UPGRADE_CONTROL, wildcard(*_relayAddress, 0));
	}

	void onControlUpgraded(Result& result)
	{
		_pControlUpgrade.reset();
		if (!result.error.empty())
		{
			cycleFailed("relay " + _origin + " unreachable: " + result.error);
			return;
		}
		if (!result.upgraded)
		{
			cycleFailed("relay " + _origin + " refused the control channel: " + describeStatus(result));
			return;
		}
		_pControl = result.upgraded;
		_codec.reset();
		_controlLocal = _pControl->localAddress();
		_punchPort = _controlLocal.port();
		std::weak_ptr<Impl> weak = shared_from_this();
		_pControl->setDataHandler([weak](const char* data, std::size_t size) {
			if (auto self = weak.lock()) self->onControlData(data, size);
		});
		_pControl->setCloseHandler([weak](const std::string& reason) {
			if (auto self = weak.lock()) self->onControlClosed(reason);
		});
		_lastReceived = EventLoop::Clock::now();
		_handshakeTimer = _loop.runAfter(_config.requestTimeout, [weak] {
			if (auto self = weak.lock())
				self->cycleFailed("relay " + self->_origin + " did not complete the control handshake within "
					+ formatDelay(self->_config.requestTimeout));
		});
		Poco::JSON::Object hello;
		hello.set("key", base64(_identity.publicKey().raw()));
		hello.set("version", RelayProtocol::VERSION);
		sendControl("hello", hello);
		_phase = ControlPhase::HELLO_SENT;
		// Bytes that came with the 101 are the start of the frame stream.
		if (!result.leftover.empty()) onControlData(result.leftover.data(), result.leftover.size());
	}

	void sendControl(const std::string& name, const Poco::JSON::Object& body)
	{
		if (_pControl) _pControl->send(RelayProtocol::control().encode(_codec, name, body));
	}

	void onControlData(const char* data, std::size_t size)
	{
		if (!_pControl) return;
		_lastReceived = EventLoop::Clock::now();
		try
		{
			_codec.feed(data, size);
			while (_pControl && !_stopped)
			{
				const std::optional<Frame> frame = _codec.next();
				if (!frame) break;
				onControlMessage(RelayProtocol::control().decode(*frame));
			}
		}
		catch (const Poco::Exception& exc)
		{
			if (_pControl && !_stopped)
				cycleFailed("relay " + _origin + " sent a bad control message: " + exc.displayText());
		}
	}

	void onControlMessage(const Message& message)
	{
		const Poco::JSON::Object& body = *message.body;
		if (message.name == "ping")
		{
			Poco::JSON::Object pong;
			pong.set("n", body.getValue<std::int64_t>("n"));
			sendControl("pong", pong);
		}
		else if (message.name == "pong")
		{
			// _lastReceived is all a pong is for
		}
		else if (message.name == "challenge" && _phase == ControlPhase::HELLO_SENT)
		{
			if (body.has("observed"))
			{
				learnObserved(body.getValue<std::string>("observed"));
				_controlObserved = parseAddress(body.getValue<std::string>("observed"));
			}
			Poco::JSON::Object auth;
			auth.set("signature", base64(_identity.sign(RelayProtocol::controlSigningString(body.getValue<std::string>("nonce")))));
			sendControl("auth", auth);
			_phase = ControlPhase::AUTH_SENT;
		}
		else if (message.name == "welcome" && _phase == ControlPhase::AUTH_SENT)
		{
			const std::optional<PeerId> id = PeerId::tryParse(body.getValue<std::string>("id"));
			if (!id || *id != _identity.peerId())
				throw MessageException("welcome names us " + body.getValue<std::string>("id"));
			_relayProbePort = body.has("probe_port") ? static_cast<std::uint16_t>(body.getValue<std::int64_t>("probe_port")) : 0;
			onWelcome(std::chrono::seconds(body.getValue<std::int64_t>("keepalive_s")));
		}
		else if (message.name == "invite" && _phase == ControlPhase::ONLINE)
		{
			onInvite(body.getValue<std::string>("token"), body.getValue<std::string>("from"),
				body.has("name") ? body.getValue<std::string>("name") : std::string());
		}
		else if (message.name == "punch" && _phase == ControlPhase::ONLINE)
		{
			onPunch(body);
		}
		else if (message.name == "error" && body.has("peer"))
		{
			onPunchError(body);
		}
		else if (message.name == "error")
		{
			std::string text = "relay " + _origin + " closed the control channel: " + body.getValue<std::string>("code");
			if (body.has("message")) text += " (" + body.getValue<std::string>("message") + ")";
			cycleFailed(text);
		}
		else
		{
			throw MessageException("unexpected '" + message.name + "'");
		}
	}

	void onWelcome(std::chrono::seconds keepalive)
	{
		_phase = ControlPhase::ONLINE;
		_handshakeTimer.cancel();
		_backoff = Milliseconds(0);
		_retrying = false;
		_keepalive = keepalive;
		std::weak_ptr<Impl> weak = shared_from_this();
		_keepaliveTimer = _loop.runEvery(std::max(Milliseconds(100), Milliseconds(keepalive) / 2), [weak] {
			if (auto self = weak.lock()) self->onKeepaliveTimer();
		});
		setState(State::ONLINE, "connected to relay " + _origin + " as " + _identity.peerId().shortString());
		if (_stopped || _phase != ControlPhase::ONLINE) return;
		startProbe();
	}

	void onKeepaliveTimer()
	{
		if (!_pControl) return;
		const auto silent = EventLoop::Clock::now() - _lastReceived;
		if (silent > MISSED_KEEPALIVES * _keepalive)
		{
			cycleFailed("relay " + _origin + " silent on the control channel for "
				+ formatDelay(std::chrono::duration_cast<Milliseconds>(silent)));
			return;
		}
		Poco::JSON::Object ping;
		ping.set("n", ++_pings);
		sendControl("ping", ping);
	}

	void onControlClosed(const std::string& reason)
	{
		_pControl.reset();
		const char* what = _phase == ControlPhase::ONLINE ? "lost the control channel to relay " : "relay control channel to ";
		std::string detail = std::string(what) + _origin;
		if (_phase != ControlPhase::ONLINE) detail += " closed during the handshake";
		detail += ": " + (reason.empty() ? std::string("closed by the relay") : reason);
		cycleFailed(detail);
	}

	// NAT probe -----------------------------------------------------------------------------

	void startProbe()
		/// From punchPort() to the relay's probe port: one line {"observed":"ip:port"}.
	{
		if (_relayProbePort == 0 || !_relayAddress || _punchPort == 0)
		{
			finishProbe(std::nullopt, _relayProbePort == 0 ? "the relay has no probe port" : "no control channel");
			return;
		}
		const std::uint64_t generation = ++_probeGeneration;
		const Poco::Net::SocketAddress target(_relayAddress->host(), _relayProbePort);
		_probeBuffer.clear();
		_pProbe = TcpConnection::connectFrom(_loop, wildcard(*_relayAddress, _punchPort), target, _config.requestTimeout);
		std::weak_ptr<Impl> weak = shared_from_this();
		_pProbe->setDataHandler([weak, generation](const char* data, std::size_t size) {
			auto self = weak.lock();
			if (self && generation == self->_probeGeneration) self->onProbeData(data, size);
		});
		_pProbe->setCloseHandler([weak, generation](const std::string& reason) {
			auto self = weak.lock();
			if (self && generation == self->_probeGeneration)
				self->finishProbe(std::nullopt, reason.empty() ? "probe connection closed without an answer" : reason);
		});
		_probeTimer = _loop.runAfter(_config.requestTimeout, [weak, generation] {
			auto self = weak.lock();
			if (self && generation == self->_probeGeneration) self->finishProbe(std::nullopt, "no probe answer in time");
		});
	}

	void onProbeData(const char* data, std::size_t size)
	{
		_probeBuffer.append(data, std::min(size, RelayProtocol::PROBE_MAX_LINE + 1 - std::min(_probeBuffer.size(), RelayProtocol::PROBE_MAX_LINE + 1)));
		const std::string::size_type newline = _probeBuffer.find('\n');
		if (newline == std::string::npos)
		{
			if (_probeBuffer.size() > RelayProtocol::PROBE_MAX_LINE) finishProbe(std::nullopt, "probe answer too long");
			return;
		}
		try
		{
			static const MessageSchema schema = MessageSchema().requireString("observed", 1, 64);
			const Poco::JSON::Object::Ptr pAnswer = schema.parse(_probeBuffer.substr(0, newline));
			const auto observed = parseAddress(pAnswer->getValue<std::string>("observed"));
			if (!observed || observed->port() == 0) throw MessageException("observed is not ip:port");
			finishProbe(observed, std::string());
		}
		catch (const Poco::Exception& exc)
		{
			finishProbe(std::nullopt, "bad probe answer: " + exc.displayText());
		}
	}

	void stopProbe()
	{
		++_probeGeneration;
		_probeTimer.cancel();
		if (_pProbe)
		{
			_pProbe->setDataHandler(nullptr);
			_pProbe->setCloseHandler(nullptr);
			_pProbe->abort("probe finished");
			_pProbe.reset();
		}
	}

	void finishProbe(const std::optional<Poco::Net::SocketAddress>& observed, const std::string& error)
	{
		if (_pProbe)
		{
			_pProbe->setDataHandler(nullptr);
			_pProbe->setCloseHandler(nullptr);
			if (observed) _pProbe->close(); else _pProbe->abort("probe failed");
			_pProbe.reset();
		}
		++_probeGeneration;
		_probeTimer.cancel();
		if (!error.empty()) logger().information("NAT probe via relay " + _origin + " failed: " + error);
		NatInfo info;
		info.reflexive = _controlObserved;
		info.probeReflexive = observed;
		info.localPort = _punchPort;
		info.mapping = NatInfo::classify(_controlLocal, info.reflexive, info.probeReflexive);
		logger().information(std::string("NAT mapping via relay ") + _origin + ": " + NatInfo::mappingName(info.mapping)
			+ (info.reflexive ? ", reflexive " + info.reflexive->toString() : std::string())
			+ (observed ? ", probe " + observed->toString() : std::string()));
		publishNat(info);
	}

	void publishNat(const NatInfo& info)
	{
		if (info == _nat) return;
		_nat = info;
		NatHandler handler = _onNat;
		if (handler) handler(info);
	}

	// Hole-punch coordination -----------------------------------------------------------------

public:
	void startPunch(const PeerId& peer, const std::vector<Poco::Net::SocketAddress>& localCandidates,
		PunchReadyHandler ready, int attempt)
	{
		std::string error;
		if (_stopped)
			error = "relay client stopped";
		else if (_phase != ControlPhase::ONLINE || !_pControl)
			error = "relay " + _origin + " is offline";
		else if (peer == _identity.peerId())
			error = "cannot punch to ourselves";
		if (!error.empty())
		{
			postReady(std::move(ready), std::nullopt, error);
			return;
		}
		const auto previous = _outgoing.find(peer);
		if (previous != _outgoing.end())
		{
			previous->second->timer.cancel();
			postReady(std::move(previous->second->ready), std::nullopt, "superseded by a newer punch to " + peer.shortString());
			_outgoing.erase(previous);
		}
		auto pPunch = std::make_shared<OutgoingPunch>();
		pPunch->ready = std::move(ready);
		pPunch->candidates = candidates(localCandidates);
		pPunch->attempt = std::clamp<int>(attempt, 1, static_cast<int>(RelayProtocol::PUNCH_MAX_ATTEMPT));
		pPunch->sent = EventLoop::Clock::now();
		_outgoing[peer] = pPunch;
		std::weak_ptr<Impl> weak = shared_from_this();
		std::weak_ptr<OutgoingPunch> weakPunch = pPunch;
		pPunch->timer = _loop.runAfter(PUNCH_TIMEOUT, [weak, weakPunch, peer] {
			auto self = weak.lock();
			auto pCurrent = weakPunch.lock();
			if (self && pCurrent) self->failPunch(peer, pCurrent, "peer " + peer.shortString() + " did not answer the punch within "
				+ formatDelay(PUNCH_TIMEOUT));
		});
		sendPunch(peer, "connect", pPunch->candidates, pPunch->attempt, false);
	}

private:
	struct OutgoingPunch
	{
		PunchReadyHandler ready;
		std::vector<Poco::Net::SocketAddress> candidates;
		int attempt = 1;
		EventLoop::Clock::time_point sent;
		bool synced = false;       ///< sync sent; ready follows after half the round trip.
		TimerHandle timer;
	};

	struct IncomingPunch
	{
		PunchPlan plan;
		PunchReadyHandler ready;   ///< Set if we yielded our own startPunch() (both started at once).
		TimerHandle timer;
	};

	void postReady(PunchReadyHandler ready, const std::optional<PunchPlan>& plan, const std::string& error)
	{
		if (!ready) return;
		std::weak_ptr<Impl> weak = shared_from_this();
		_loop.post([weak, ready, plan, error] {
			auto self = weak.lock();
			if (self && !self->_stopped) ready(plan, error);
		});
	}

	std::vector<Poco::Net::SocketAddress> candidates(const std::vector<Poco::Net::SocketAddress>& local) const
		/// Our reflexive address first, then local (port 0 -> punchPort()), no duplicates, at most 16.
	{
		std::vector<Poco::Net::SocketAddress> result;
		auto add = [&result](const Poco::Net::SocketAddress& address) {
			if (address.port() == 0 || address.host().isWildcard() || result.size() >= RelayProtocol::PUNCH_MAX_ADDRESSES) return;
			for (const auto& known: result)
				if (sameEndpoint(known, address)) return;
			result.push_back(address);
		};
		if (_controlObserved) add(*_controlObserved);
		for (const auto& address: local)
			add(address.port() == 0 ? Poco::Net::SocketAddress(address.host(), _punchPort) : address);
		return result;
	}

	void sendPunch(const PeerId& to, const std::string& phase, const std::vector<Poco::Net::SocketAddress>& addresses,
		int attempt, bool reply)
	{
		Poco::JSON::Object body;
		body.set("to", to.toString());
		body.set("phase", phase);
		Poco::JSON::Array::Ptr pAddresses = new Poco::JSON::Array;
		for (const auto& address: addresses) pAddresses->add(address.toString());
		body.set("addrs", pAddresses);
		body.set("nat", NatInfo::mappingName(_nat.mapping));
		body.set("attempt", attempt);
		if (reply) body.set("reply", true);
		sendControl("punch", body);
	}

	void failPunch(const PeerId& peer, const std::shared_ptr<OutgoingPunch>& pPunch, const std::string& error)
		/// Ends pPunch (if it is still the current punch to peer) and calls its ready with error.
	{
		const auto it = _outgoing.find(peer);
		if (it == _outgoing.end() || it->second != pPunch) return;
		_outgoing.erase(it);
		pPunch->timer.cancel();
		logger().information("punch to " + peer.shortString() + " failed: " + error);
		PunchReadyHandler ready = std::move(pPunch->ready);
		if (ready) ready(std::nullopt, error);
	}

	void failPunches(const std::string& error)
	{
		auto outgoing = std::move(_outgoing);
		_outgoing.clear();
		for (auto& entry: outgoing)
		{
			entry.second->timer.cancel();
			PunchReadyHandler ready = std::move(entry.second->ready);
			if (ready) ready(std::nullopt, error);
			if (_stopped) return;
		}
	}

	void onPunch(const Poco::JSON::Object& body)
		/// A peer's punch message, forwarded by the relay (which vouches for from).
	{
		const std::optional<PeerId> from = body.has("from") ? PeerId::tryParse(body.getValue<std::string>("from")) : std::nullopt;
		if (!from) throw MessageException("punch without a valid from");
		const std::string phase = body.getValue<std::string>("phase");
		const int attempt = body.has("attempt") ? static_cast<int>(body.getValue<std::int64_t>("attempt")) : 1;
		if (phase == "sync")
		{
			onPunchSync(*from, attempt);
			return;
		}
		if (phase != "connect") return;   // a later protocol's phase
		PunchPlan plan;
		plan.peer = *from;
		plan.attempt = attempt;
		plan.remoteNat = body.has("nat") ? body.getValue<std::string>("nat") : std::string("unknown");
		if (body.has("addrs"))
		{
			const Poco::JSON::Array::Ptr pAddresses = body.getArray("addrs");
			for (std::size_t i = 0; i < pAddresses->size() && plan.remote.size() < RelayProtocol::PUNCH_MAX_ADDRESSES; ++i)
			{
				const Poco::Dynamic::Var& item = pAddresses->get(static_cast<unsigned>(i));
				if (!item.isString()) continue;
				const auto address = parseAddress(item.extract<std::string>());
				if (address && address->port() != 0 && !address->host().isWildcard()) plan.remote.push_back(*address);
			}
		}
		const bool reply = body.has("reply") && body.getValue<bool>("reply");
		const auto outgoing = _outgoing.find(*from);
		if (outgoing != _outgoing.end() && !outgoing->second->synced)
		{
			if (reply)
			{
				onPunchReply(outgoing->second, std::move(plan));
			}
			else if (*from < _identity.peerId())
			{
				// Both started at once and the peer's ID is smaller: it stays initiator, we answer.
				std::shared_ptr<OutgoingPunch> pPunch = outgoing->second;
				_outgoing.erase(outgoing);
				pPunch->timer.cancel();
				answerPunch(std::move(plan), pPunch->candidates, std::move(pPunch->ready));
			}
			// else: both started at once and ours is the smaller ID; the peer answers ours.
			return;
		}
		if (reply) return;   // a late answer to a punch we gave up on
		if (!_onPunch)
		{
			logger().information("ignoring a punch from " + from->shortString() + ": no punch handler");
			return;
		}
		PunchCandidatesProvider provider = _punchCandidates;
		const std::vector<Poco::Net::SocketAddress> local = provider ? provider() : std::vector<Poco::Net::SocketAddress>();
		if (_stopped || _phase != ControlPhase::ONLINE) return;
		answerPunch(std::move(plan), candidates(local), nullptr);
	}

	void answerPunch(PunchPlan plan, const std::vector<Poco::Net::SocketAddress>& ours, PunchReadyHandler ready)
		/// Responder: connect reply with our candidates, then wait for the sync.
	{
		plan.initiator = false;
		const PeerId peer = plan.peer;
		sendPunch(peer, "connect", ours, plan.attempt, true);
		IncomingPunch& incoming = _incoming[peer];
		incoming.timer.cancel();
		if (incoming.ready) postReady(std::move(incoming.ready), std::nullopt, "superseded by a newer punch from " + peer.shortString());
		incoming.plan = std::move(plan);
		incoming.ready = std::move(ready);
		std::weak_ptr<Impl> weak = shared_from_this();
		const int attempt = incoming.plan.attempt;
		incoming.timer = _loop.runAfter(PUNCH_TIMEOUT, [weak, peer, attempt] {
			auto self = weak.lock();
			if (!self) return;
			const auto it = self->_incoming.find(peer);
			if (it == self->_incoming.end() || it->second.plan.attempt != attempt) return;
			PunchReadyHandler yielded = std::move(it->second.ready);
			self->_incoming.erase(it);
			logger().information("punch from " + peer.shortString() + ": no sync within " + formatDelay(PUNCH_TIMEOUT));
			if (yielded) yielded(std::nullopt, "peer " + peer.shortString() + " did not send the punch sync within "
				+ formatDelay(PUNCH_TIMEOUT));
		});
	}

	void onPunchReply(const std::shared_ptr<OutgoingPunch>& pPunch, PunchPlan plan)
		/// Initiator: the peer's connect arrived; sync now, dial after half the round trip.
	{
		const auto rtt = EventLoop::Clock::now() - pPunch->sent;
		pPunch->synced = true;
		pPunch->timer.cancel();
		plan.initiator = true;
		plan.attempt = pPunch->attempt;
		sendPunch(plan.peer, "sync", {}, pPunch->attempt, false);
		const Milliseconds wait = std::chrono::duration_cast<Milliseconds>(rtt / 2);
		std::weak_ptr<Impl> weak = shared_from_this();
		std::weak_ptr<OutgoingPunch> weakPunch = pPunch;
		pPunch->timer = _loop.runAfter(wait, [weak, weakPunch, plan] {
			auto self = weak.lock();
			auto pCurrent = weakPunch.lock();
			if (!self || !pCurrent) return;
			const auto it = self->_outgoing.find(plan.peer);
			if (it == self->_outgoing.end() || it->second != pCurrent) return;
			self->_outgoing.erase(it);
			PunchReadyHandler ready = std::move(pCurrent->ready);
			if (ready) ready(plan, std::string());
		});
	}

	void onPunchSync(const PeerId& from, int attempt)
		/// Responder: dial now.
	{
		const auto it = _incoming.find(from);
		if (it == _incoming.end() || it->second.plan.attempt != attempt) return;
		IncomingPunch incoming = std::move(it->second);
		_incoming.erase(it);
		incoming.timer.cancel();
		if (incoming.ready)
		{
			incoming.ready(incoming.plan, std::string());
			return;
		}
		PunchHandler handler = _onPunch;
		if (handler) handler(incoming.plan);
	}

	void onPunchError(const Poco::JSON::Object& body)
		/// The relay could not forward our punch to body.peer; the channel stays open.
	{
		const std::optional<PeerId> peer = PeerId::tryParse(body.getValue<std::string>("peer"));
		if (!peer) return;
		const std::string code = body.getValue<std::string>("code");
		std::string error = code == "offline"
			? "peer " + peer->shortString() + " is not connected to relay " + _origin
			: "relay " + _origin + " refused the punch: " + code;
		if (code != "offline" && body.has("message")) error += " (" + body.getValue<std::string>("message") + ")";
		const auto incoming = _incoming.find(*peer);
		if (incoming != _incoming.end())
		{
			IncomingPunch entry = std::move(incoming->second);
			_incoming.erase(incoming);
			entry.timer.cancel();
			if (entry.ready) entry.ready(std::nullopt, error);
			if (_stopped) return;
		}
		const auto outgoing = _outgoing.find(*peer);
		if (outgoing != _outgoing.end())
		{
			std::shared_ptr<OutgoingPunch> pPunch = outgoing->second;
			failPunch(*peer, pPunch, error);
		}
	}

	// Tunnels -------------------------------------------------------------------------------

	void onInvite(const std::string& token, const std::string& from, const std::string& name)
	{
		const std::optional<PeerId> peer = PeerId::tryParse(from);
		if (!peer)
		{
			logger().warning("relay " + _origin + " invited us with a bad peer ID '" + from + "'");
			return;
		}
		if (!_onInvite)
		{
			logger().information("ignoring a tunnel invitation from " + peer->shortString() + ": no invite handler");
			return;
		}
		std::weak_ptr<Impl> weak = shared_from_this();
		joinTunnel(token, *peer, name, [weak](RelayTunnel tunnel, const std::string& error) {
			auto self = weak.lock();
			if (!self || self->_stopped) return;
			if (!error.empty())
			{
				logger().warning("cannot join the tunnel from " + tunnel.peer.shortString() + ": " + error);
				return;
			}
			InviteHandler handler = self->_onInvite;
			if (handler)
				handler(std::move(tunnel));
			else
				tunnel.connection->abort("no invite handler");
		});
	}

	void joinTunnel(const std::string& token, const PeerId& peer, const std::string& name, Upgraded done)
		/// GET /api/v1/tunnels/<token> with Upgrade: crosschat-tunnel/1. done gets the tunnel (with
		/// peer and name filled, also on error).
	{
		std::string error;
		if (!usable(error))
		{
			RelayTunnel tunnel;
			tunnel.peer = peer;
			_loop.post([done, tunnel, error] { done(tunnel, error); });
			return;
		}
		std::weak_ptr<Impl> weak = shared_from_this();
		const std::string origin = _origin;
		track(send(Poco::Net::HTTPRequest::HTTP_GET, std::string(RelayProtocol::API_PREFIX) + "/tunnels/" + token, "", false,
			[weak, peer, name, done, origin](Result& result) {
				auto self = weak.lock();
				if (!self || self->_stopped)
				{
					if (result.upgraded) result.upgraded->abort("relay client stopped");
					return;
				}
				RelayTunnel tunnel;
				tunnel.peer = peer;
				tunnel.peerName = name;
				if (!result.error.empty())
				{
					done(std::move(tunnel), "relay " + origin + " unreachable: " + result.error);
				}
				else if (!result.upgraded)
				{
					done(std::move(tunnel), "relay " + origin + " refused to join the tunnel: " + describeStatus(result));
				}
				else
				{
					tunnel.connection = result.upgraded;
					tunnel.leftover = std::move(result.leftover);
					done(std::move(tunnel), std::string());
				}
			}, RelayProtocol::UPGRADE_TUNNEL));
	}

	void onTunnelAnswer(Result& result, const PeerId& peer, const TunnelHandler& handler)
	{
		RelayTunnel failed;
		failed.peer = peer;
		if (!result.error.empty())
		{
			handler(failed, "relay " + _origin + " unreachable: " + result.error);
			return;
		}
		const int status = static_cast<int>(result.response.getStatus());
		if (status == Poco::Net::HTTPResponse::HTTP_NOT_FOUND)
		{
			handler(failed, "peer " + peer.shortString() + " is not connected to relay " + _origin);
			return;
		}
		if (status == Poco::Net::HTTPResponse::HTTP_SERVICE_UNAVAILABLE)
		{
			handler(failed, "relay " + _origin + " refused the tunnel: " + jsonReason(result));
			return;
		}
		if (status != Poco::Net::HTTPResponse::HTTP_CREATED && status != Poco::Net::HTTPResponse::HTTP_OK)
		{
			handler(failed, "relay " + _origin + " refused the tunnel: " + describeStatus(result));
			return;
		}
		std::string token;
		try
		{
			token = tunnelAnswerSchema().parse(result.body)->getValue<std::string>("token");
		}
		catch (const Poco::Exception& exc)
		{
			handler(failed, "relay " + _origin + " sent an invalid tunnel answer: " + exc.displayText());
			return;
		}
		joinTunnel(token, peer, std::string(), [handler](RelayTunnel tunnel, const std::string& error) {
			handler(std::move(tunnel), error);
		});
	}

	// Lookup --------------------------------------------------------------------------------

	std::string onLookupAnswer(const Result& result, const PeerId& peer, std::optional<RelayPeerRecord>& record)
	{
		if (!result.error.empty()) return "relay " + _origin + " unreachable: " + result.error;
		const int status = static_cast<int>(result.response.getStatus());
		if (status == Poco::Net::HTTPResponse::HTTP_NOT_FOUND) return std::string();
		if (status != Poco::Net::HTTPResponse::HTTP_OK)
			return "relay " + _origin + " refused the lookup: " + describeStatus(result);
		try
		{
			const Poco::JSON::Object::Ptr pAnswer = peerRecordSchema().parse(result.body);
			const std::optional<PeerId> id = PeerId::tryParse(pAnswer->getValue<std::string>("id"));
			if (!id || *id != peer)
				throw MessageException("answer for another peer (" + pAnswer->getValue<std::string>("id") + ")");
			RelayPeerRecord answer;
			answer.id = *id;
			if (pAnswer->has("name")) answer.name = pAnswer->getValue<std::string>("name");
			const std::uint16_t port = pAnswer->has("port") ? static_cast<std::uint16_t>(pAnswer->getValue<std::int64_t>("port")) : 0;
			if (pAnswer->has("addresses"))
			{
				const Poco::JSON::Array::Ptr pAddresses = pAnswer->getArray("addresses");
				for (std::size_t i = 0; i < pAddresses->size(); ++i)
				{
					const Poco::Dynamic::Var& item = pAddresses->get(static_cast<unsigned>(i));
					if (!item.isString()) continue;
					const auto address = parseAddress(item.extract<std::string>(), port);
					if (address && address->port() != 0) answer.addresses.push_back(*address);
				}
			}
			if (pAnswer->has("observed")) answer.observed = parseAddress(pAnswer->getValue<std::string>("observed"));
			if (pAnswer->has("last_seen_ms")) answer.lastSeenMs = pAnswer->getValue<std::int64_t>("last_seen_ms");
			if (pAnswer->has("online")) answer.online = pAnswer->getValue<bool>("online");
			record = std::move(answer);
			return std::string();
		}
		catch (const Poco::Exception& exc)
		{
			return "relay " + _origin + " sent an invalid lookup answer: " + exc.displayText();
		}
	}

	// Members -------------------------------------------------------------------------------

	bool _started = false;
	bool _stopped = false;
	std::optional<Poco::Net::SocketAddress> _relayAddress;
	std::vector<std::weak_ptr<HttpExchange>> _pending;   ///< Lookups and tunnels, cancelled by stop().
	bool _retrying = false;         ///< A cycle failed and none has succeeded since.
	Milliseconds _backoff{0};
	Milliseconds _announceBackoff{0};
	TimerHandle _retryTimer;

	HttpExchange::Ptr _pAnnounce;
	bool _announced = false;        ///< The last announce of this cycle succeeded.
	bool _announceAgain = false;    ///< What we announce changed while an announce was in flight.
	bool _announceSent = false;     ///< The relay may hold a record of us (unregister on stop()).
	TimerHandle _reannounceTimer;

	HttpExchange::Ptr _pControlUpgrade;
	ByteStream::Ptr _pControl;
	FrameCodec _codec;
	ControlPhase _phase = ControlPhase::NONE;
	TimerHandle _handshakeTimer;
	TimerHandle _keepaliveTimer;
	std::chrono::seconds _keepalive{20};
	EventLoop::Clock::time_point _lastReceived;
	std::int64_t _pings = 0;
	Poco::Net::SocketAddress _controlLocal;                      ///< The control channel's local address.
	std::optional<Poco::Net::SocketAddress> _controlObserved;   ///< ... as the relay saw it (challenge).

	std::uint16_t _relayProbePort = 0;   ///< From welcome; 0: none.
	TcpConnection::Ptr _pProbe;
	TimerHandle _probeTimer;
	std::string _probeBuffer;
	std::uint64_t _probeGeneration = 0;   ///< Callbacks of an older probe are ignored.

	std::unordered_map<PeerId, std::shared_ptr<OutgoingPunch>> _outgoing;   ///< Our startPunch()es.
	std::unordered_map<PeerId, IncomingPunch> _incoming;                     ///< Answered, awaiting sync.

	std::mt19937_64 _random;
};


NatInfo::Mapping NatInfo::classify(const Poco::Net::SocketAddress& local,
	const std::optional<Poco::Net::SocketAddress>& reflexive,
	const std::optional<Poco::Net::SocketAddress>& probeReflexive)
{
	if (!reflexive) return Mapping::UNKNOWN;
	if (!local.host().isWildcard() && unmapped(local.host()) == unmapped(reflexive->host())) return Mapping::NONE;
	if (!probeReflexive) return Mapping::UNKNOWN;
	return sameEndpoint(*reflexive, *probeReflexive) ? Mapping::ENDPOINT_INDEPENDENT : Mapping::ENDPOINT_DEPENDENT;
}


const char* NatInfo::mappingName(Mapping mapping)
{
	switch (mapping)
	{
	case Mapping::NONE: return "none";
	case Mapping::ENDPOINT_INDEPENDENT: return "eim";
	case Mapping::ENDPOINT_DEPENDENT: return "edm";
	case Mapping::UNKNOWN: break;
	}
	return "unknown";
}


bool NatInfo::operator==(const NatInfo& other) const
{
	return mapping == other.mapping && reflexive == other.reflexive && probeReflexive == other.probeReflexive
		&& localPort == other.localPort;
}


bool NatInfo::operator!=(const NatInfo& other) const
{
	return !(*this == other);
}


RelayClient::RelayClient(EventLoop& loop, const Identity& identity, RelayClientConfig config):
	_pImpl(std::make_shared<Impl>(loop, identity, std::move(config)))
{
	loop.assertInLoopThread();
}


RelayClient::~RelayClient()
{
	_pImpl->_loop.assertInLoopThread();
	_pImpl->stop();
}


void RelayClient::setStateHandler(StateHandler handler)
{
	_pImpl->_loop.assertInLoopThread();
	_pImpl->_onState = std::move(handler);
}


void RelayClient::setInviteHandler(InviteHandler handler)
{
	_pImpl->_loop.assertInLoopThread();
	_pImpl->_onInvite = std::move(handler);
}


void RelayClient::setNatHandler(NatHandler handler)
{
	_pImpl->_loop.assertInLoopThread();
	_pImpl->_onNat = std::move(handler);
}


void RelayClient::setPunchHandler(PunchHandler handler)
{
	_pImpl->_loop.assertInLoopThread();
	_pImpl->_onPunch = std::move(handler);
}


void RelayClient::setPunchCandidatesProvider(PunchCandidatesProvider provider)
{
	_pImpl->_loop.assertInLoopThread();
	_pImpl->_punchCandidates = std::move(provider);
}


void RelayClient::startPunch(const PeerId& peer, const std::vector<Poco::Net::SocketAddress>& localCandidates,
	PunchReadyHandler ready, int attempt)
{
	_pImpl->_loop.assertInLoopThread();
	_pImpl->startPunch(peer, localCandidates, std::move(ready), attempt);
}


std::uint16_t RelayClient::punchPort() const
{
	_pImpl->_loop.assertInLoopThread();
	return _pImpl->_punchPort;
}


NatInfo RelayClient::natInfo() const
{
	_pImpl->_loop.assertInLoopThread();
	return _pImpl->_nat;
}


void RelayClient::start()
{
	_pImpl->_loop.assertInLoopThread();
	std::shared_ptr<Impl> pImpl = _pImpl;   // the state handler may destroy this object
	pImpl->start();
}


void RelayClient::stop()
{
	_pImpl->_loop.assertInLoopThread();
	_pImpl->stop();
}


void RelayClient::setChatPort(std::uint16_t port)
{
	_pImpl->_loop.assertInLoopThread();
	_pImpl->setChatPort(port);
}


void RelayClient::setAddresses(const std::vector<Poco::Net::SocketAddress>& addresses)
{
	_pImpl->_loop.assertInLoopThread();
	_pImpl->setAddresses(addresses);
}


void RelayClient::lookup(const PeerId& peer, LookupHandler handler)
{
	_pImpl->_loop.assertInLoopThread();
	_pImpl->lookup(peer, std::move(handler));
}


void RelayClient::openTunnel(const PeerId& peer, TunnelHandler handler)
{
	_pImpl->_loop.assertInLoopThread();
	_pImpl->openTunnel(peer, std::move(handler));
}


RelayClient::State RelayClient::state() const
{
	_pImpl->_loop.assertInLoopThread();
	return _pImpl->_state;
}


std::string RelayClient::stateDetail() const
{
	_pImpl->_loop.assertInLoopThread();
	return _pImpl->_detail;
}


std::optional<Poco::Net::SocketAddress> RelayClient::reflexiveAddress() const
{
	_pImpl->_loop.assertInLoopThread();
	return _pImpl->_reflexive;
}


const Poco::URI& RelayClient::url() const
{
	return _pImpl->_config.url;
}


} } // namespace CrossChat::Relay
