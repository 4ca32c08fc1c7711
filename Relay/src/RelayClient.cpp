//
// RelayClient.cpp
//
// Library: Relay
//


#include "CrossChat/Relay/RelayClient.h"
#include "CrossChat/FoundationException.h"
#include "CrossChat/FrameCodec.h"
#include "CrossChat/MessageSchema.h"
#include "CrossChat/TlsClientContext.h"
#include "CrossChat/Relay/ControlMessages.h"
#include "CrossChat/Relay/RelayProtocol.h"
#include "CrossChat/PublicKey.h"
#include "HttpExchange.h"
#include "RelayRequests.h"
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


constexpr std::size_t CONTROL_MAX_FRAME = RelayProtocol::CLIENT_CONTROL_FRAME;   ///< Mail frames carry envelopes.
constexpr std::int64_t MAIL_WINDOW = 16;
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
	/// "ip", "ip:port", "[ipv6]" or "[ipv6]:port" without any name lookup; empty if malformed.
{
	try
	{
		const AnnouncedAddress address = parseAnnouncedAddress(text);
		return Poco::Net::SocketAddress(address.host, address.port != 0 ? address.port : defaultPort);
	}
	catch (const BadRequestException&)
	{
		return std::nullopt;
	}
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
					_config.requestTimeout, nullptr, std::nullopt, tlsTarget());
			}
			catch (const Poco::Exception& exc)
			{
				logger().warning("cannot unregister from relay " + _origin + ": " + exc.displayText());
			}
		}
		_state = State::OFFLINE;
		_detail = "stopped";
		_onState = nullptr;
		_onInvite = nullptr;
		_inviteFilter = nullptr;
		_onNat = nullptr;
		_onPunch = nullptr;
		_onPunchError = nullptr;
		_onMail = nullptr;
	}

	void setChatPort(std::uint16_t port)
	{
		if (_config.chatPort == port) return;
		_config.chatPort = port;
		reannounceIfAnnounced();
	}

	void setName(const std::string& name)
	{
		if (_config.name == name) return;
		_config.name = name;
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

	// Private relays, handles, pre-keys and the mailbox ----------------------------------------

	void setPrekeys(const std::vector<Prekey>& prekeys)
	{
		const auto same = [](const std::vector<Prekey>& a, const std::vector<Prekey>& b) {
			if (a.size() != b.size()) return false;
			for (std::size_t i = 0; i < a.size(); ++i)
				if (a[i].id != b[i].id || a[i].publicKey != b[i].publicKey || a[i].expiresMs != b[i].expiresMs) return false;
			return true;
		};
		if (same(_config.prekeys, prekeys)) return;
		_config.prekeys = prekeys;
		reannounceIfAnnounced();
	}

	template <typename Handler, typename Failure>
	bool prepare(const Handler& handler, Failure failure)
		/// Reports usable()'s error to handler on a later turn; true if requests can go out.
	{
		std::string error;
		if (usable(error)) return true;
		std::weak_ptr<Impl> weak = shared_from_this();
		_loop.post([weak, handler, error, failure] {
			auto self = weak.lock();
			if (self && !self->_stopped && handler) failure(handler, error);
		});
		return false;
	}

	void fetchPrekeys(const PeerId& peer, PrekeysHandler handler)
	{
		if (!prepare(handler, [](const PrekeysHandler& h, const std::string& e) { h(std::nullopt, e); })) return;
		std::weak_ptr<Impl> weak = shared_from_this();
		track(send(Poco::Net::HTTPRequest::HTTP_GET, std::string(RelayProtocol::API_PREFIX) + "/prekeys/" + peer.toString(), "", false,
			[weak, peer, handler](Result& result) {
				auto self = weak.lock();
				if (!self || self->_stopped || !handler) return;
				std::optional<RelayPrekeys> prekeys;
				const std::string error = self->onPrekeysAnswer(result, peer, prekeys);
				handler(prekeys, error);
			}));
	}

	std::string onPrekeysAnswer(const Result& result, const PeerId& peer, std::optional<RelayPrekeys>& answer)
		/// Keeps only what the peer's own key vouches for.
	{
		if (!result.error.empty()) return "relay " + _origin + " unreachable: " + result.error;
		const int status = static_cast<int>(result.response.getStatus());
		if (status == Poco::Net::HTTPResponse::HTTP_NOT_FOUND) return std::string();
		if (status != Poco::Net::HTTPResponse::HTTP_OK) return "relay " + _origin + " refused the pre-key lookup: " + describeStatus(result);
		try
		{
			static const MessageSchema schema = MessageSchema()
				.requireString("id", 1, 80)
				.requireString("public_key", 1, 128)
				.requireArray("prekeys", RelayProtocol::MAX_PREKEYS);
			const Poco::JSON::Object::Ptr pAnswer = schema.parse(result.body);
			const std::string keyRaw = base64Decode(pAnswer->getValue<std::string>("public_key"), PublicKey::RAW_SIZE);
			const PublicKey key = PublicKey::fromRaw(keyRaw);
			if (key.peerId() != peer) throw MessageException("the pre-keys are signed by a key that is not the peer's");
			RelayPrekeys prekeys;
			prekeys.id = peer;
			prekeys.publicKeyRaw = keyRaw;
			const std::int64_t now = wallClockMs();
			for (const Prekey& prekey: Prekey::listFromJson(*pAnswer->getArray("prekeys"), RelayProtocol::MAX_PREKEYS))
			{
				if (prekey.expiresMs > now && prekey.verify(key)) prekeys.prekeys.push_back(prekey);
				else logger().warning("relay " + _origin + " handed out a pre-key of " + peer.shortString() + " that is expired or not signed by it");
			}
			std::sort(prekeys.prekeys.begin(), prekeys.prekeys.end(),
				[](const Prekey& a, const Prekey& b) { return a.expiresMs > b.expiresMs; });
			if (!prekeys.prekeys.empty()) answer = std::move(prekeys);
			return std::string();
		}
		catch (const Poco::Exception& exc)
		{
			return "relay " + _origin + " sent an invalid pre-key answer: " + exc.displayText();
		}
	}

	void deposit(const PeerId& recipient, const std::string& envelope, DepositHandler handler)
	{
		if (!prepare(handler, [](const DepositHandler& h, const std::string& e) { h(false, e); })) return;
		std::weak_ptr<Impl> weak = shared_from_this();
		const std::string path = std::string(RelayProtocol::API_PREFIX) + "/mailbox/" + recipient.toString();
		Poco::Net::HTTPRequest request = makeRequest(Poco::Net::HTTPRequest::HTTP_POST, path, envelope, false, nullptr);
		request.setContentType("application/octet-stream");
		track(HttpExchange::start(_loop, *_relayAddress, request, envelope, _config.requestTimeout,
			[weak, handler](Result& result) {
				auto self = weak.lock();
				if (!self || self->_stopped || !handler) return;
				if (!result.error.empty())
					handler(false, "relay " + self->_origin + " unreachable: " + result.error);
				else if (result.response.getStatus() == Poco::Net::HTTPResponse::HTTP_CREATED)
					handler(true, std::string());
				else
					handler(false, "relay " + self->_origin + " refused the envelope: " + describeStatus(result));
			}));
	}

	void claimHandle(const std::string& handle, HandleHandler handler)
	{
		if (!prepare(handler, [](const HandleHandler& h, const std::string& e) { h(std::nullopt, e); })) return;
		const std::int64_t ts = wallClockMs();
		Poco::JSON::Object body;
		body.set("handle", handle);
		body.set("ts", ts);
		body.set("signature", base64Encode(_identity.sign(RelayProtocol::handleSigningString(handle, ts))));
		std::weak_ptr<Impl> weak = shared_from_this();
		track(send(Poco::Net::HTTPRequest::HTTP_POST, std::string(RelayProtocol::API_PREFIX) + "/handles", toJson(body), true,
			[weak, handle, ts, handler](Result& result) {
				auto self = weak.lock();
				if (!self || self->_stopped || !handler) return;
				if (!result.error.empty())
				{
					handler(std::nullopt, "relay " + self->_origin + " unreachable: " + result.error);
					return;
				}
				const int status = static_cast<int>(result.response.getStatus());
				if (status == Poco::Net::HTTPResponse::HTTP_OK)
				{
					handler(RelayHandle{handle, self->_identity.peerId(), self->_identity.publicKey().raw(), ts}, std::string());
					return;
				}
				if (status == Poco::Net::HTTPResponse::HTTP_CONFLICT)
					handler(std::nullopt, "handle " + handle + " is taken on relay " + self->_origin);
				else
					handler(std::nullopt, "relay " + self->_origin + " refused the claim of " + handle + ": " + describeStatus(result));
			}));
	}

	void releaseHandle(std::function<void(const std::string& error)> handler)
	{
		if (!prepare(handler, [](const std::function<void(const std::string&)>& h, const std::string& e) { h(e); })) return;
		std::weak_ptr<Impl> weak = shared_from_this();
		track(send(Poco::Net::HTTPRequest::HTTP_DELETE, std::string(RelayProtocol::API_PREFIX) + "/handles", "", true,
			[weak, handler](Result& result) {
				auto self = weak.lock();
				if (!self || self->_stopped || !handler) return;
				if (!result.error.empty()) handler("relay " + self->_origin + " unreachable: " + result.error);
				else if (result.response.getStatus() != Poco::Net::HTTPResponse::HTTP_NO_CONTENT)
					handler("relay " + self->_origin + " refused to release the handle: " + describeStatus(result));
				else handler(std::string());
			}));
	}

	void lookupHandle(const std::string& handle, HandleHandler handler)
	{
		if (!prepare(handler, [](const HandleHandler& h, const std::string& e) { h(std::nullopt, e); })) return;
		std::weak_ptr<Impl> weak = shared_from_this();
		track(send(Poco::Net::HTTPRequest::HTTP_GET, std::string(RelayProtocol::API_PREFIX) + "/handles/" + handle, "", false,
			[weak, handle, handler](Result& result) {
				auto self = weak.lock();
				if (!self || self->_stopped || !handler) return;
				std::optional<RelayHandle> answer;
				const std::string error = self->onHandleAnswer(result, handle, answer);
				handler(answer, error);
			}));
	}

	std::string onHandleAnswer(const Result& result, const std::string& handle, std::optional<RelayHandle>& answer)
		/// Believes the relay only as far as the claimant's signature goes.
	{
		if (!result.error.empty()) return "relay " + _origin + " unreachable: " + result.error;
		const int status = static_cast<int>(result.response.getStatus());
		if (status == Poco::Net::HTTPResponse::HTTP_NOT_FOUND) return std::string();
		if (status != Poco::Net::HTTPResponse::HTTP_OK) return "relay " + _origin + " refused the handle lookup: " + describeStatus(result);
		try
		{
			static const MessageSchema schema = MessageSchema()
				.requireString("handle", 1, RelayProtocol::HANDLE_MAX_SIZE)
				.requireString("id", 1, 80)
				.requireString("public_key", 1, 128)
				.requireInteger("ts", 0)
				.requireString("signature", 1, 128);
			const Poco::JSON::Object::Ptr pAnswer = schema.parse(result.body);
			if (pAnswer->getValue<std::string>("handle") != handle) throw MessageException("answer for another handle");
			const std::string keyRaw = base64Decode(pAnswer->getValue<std::string>("public_key"), PublicKey::RAW_SIZE);
			const PublicKey key = PublicKey::fromRaw(keyRaw);
			const std::optional<PeerId> id = PeerId::tryParse(pAnswer->getValue<std::string>("id"));
			if (!id || *id != key.peerId()) throw MessageException("the key does not belong to the ID");
			const std::int64_t ts = pAnswer->getValue<std::int64_t>("ts");
			const std::string signature = base64Decode(pAnswer->getValue<std::string>("signature"), PublicKey::SIGNATURE_SIZE);
			if (!key.verify(RelayProtocol::handleSigningString(handle, ts), signature))
				throw MessageException("the claim is not signed by the key it names");
			answer = RelayHandle{handle, *id, keyRaw, ts};
			return std::string();
		}
		catch (const Poco::Exception& exc)
		{
			return "relay " + _origin + " sent an invalid handle answer for " + handle + ": " + exc.displayText();
		}
	}

	void setMailHandler(MailHandler handler)
	{
		_onMail = std::move(handler);
		if (_onMail && _phase == ControlPhase::ONLINE && _relayMailbox) sendControl(ControlMailFetch{MAIL_WINDOW});
	}

	void acknowledgeMail(const std::string& mailId)
	{
		if (_phase == ControlPhase::ONLINE) sendControl(ControlMailAck{mailId});
	}

	bool refusedToken(const Result& result, const char* what)
		/// A 401 whose error code names the access token: refuse() and true.
	{
		if (static_cast<int>(result.response.getStatus()) != Poco::Net::HTTPResponse::HTTP_UNAUTHORIZED) return false;
		std::string code;
		try
		{
			const Poco::JSON::Object::Ptr pError = MessageSchema::parseObject(result.body);
			if (pError->has("error") && pError->get("error").isString()) code = pError->getValue<std::string>("error");
		}
		catch (const Poco::Exception&)
		{
			return false;
		}
		if (code.compare(0, 6, "token_") != 0) return false;
		refuse(code, "relay " + _origin + " refused " + what + ": " + jsonReason(result) + " (" + code + ")");
		return true;
	}

	void refuse(const std::string& code, const std::string& detail)
		/// The relay will not have us with this token: OFFLINE, and no retry storm (asking again
		/// with the same token cannot succeed); the user fixes the token and restarts.
	{
		teardown(false);
		_retryTimer.cancel();
		_refusal = code;
		const std::string hint = _config.accessToken.empty()
			? "this relay is private: give an access token (--relay-token or crosschat.relay-token)"
			: "check the access token (--relay-token or crosschat.relay-token)";
		setState(State::OFFLINE, detail + "; not retrying: " + hint);
		if (_stopped) return;
		publishNat(NatInfo());
	}

	// State and accessors -------------------------------------------------------------------

	EventLoop& _loop;
	const Identity _identity;
	RelayClientConfig _config;
	const std::string _origin;             ///< "http://host:port", for messages.
	StateHandler _onState;
	InviteHandler _onInvite;
	InviteFilter _inviteFilter;
	State _state = State::OFFLINE;
	std::string _detail = "not started";
	std::optional<Poco::Net::SocketAddress> _reflexive;
	NatHandler _onNat;
	PunchMessageHandler _onPunch;
	PunchErrorHandler _onPunchError;
	std::uint16_t _punchPort = 0;
	NatInfo _nat;
	MailHandler _onMail;
	std::string _refusal;                  ///< The relay refused our access token: its code.

private:
	enum class ControlPhase
	{
		NONE,
		HELLO_SENT,
		AUTH_SENT,
		ONLINE
	};

	// URL and requests ----------------------------------------------------------------------

	std::string urlProblem()
		/// Empty if the URL is usable; for https, also loads the trust anchors (once).
	{
		const std::string scheme = _config.url.getScheme();
		if (scheme != "http" && scheme != "https")
			return "unsupported relay URL '" + _config.url.toString() + "' (expected http://host[:port] or https://host[:port])";
		if (_config.url.getHost().empty())
			return "relay URL '" + _config.url.toString() + "' has no host";
		if (scheme == "http" && !_config.caFile.empty())
			return "a CA file (" + _config.caFile + ") is only used with an https:// relay, not " + _origin;
		if (scheme == "https" && !_pTls)
		{
			try
			{
				_pTls = _config.caFile.empty() ? TlsClientContext::systemTrust() : TlsClientContext::withCaFile(_config.caFile);
			}
			catch (const Poco::Exception& exc)
			{
				return "relay " + _origin + ": cannot load what to trust: " + exc.message();
			}
		}
		return std::string();
	}

	std::optional<HttpExchange::TlsTarget> tlsTarget() const
		/// For an https:// relay: its certificate must be valid for the URL's host.
	{
		if (!_pTls) return std::nullopt;
		return HttpExchange::TlsTarget{_pTls, _config.url.getHost()};
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
		if (!_config.accessToken.empty())
			request.set(RelayProtocol::HEADER_AUTHORIZATION, "Bearer " + _config.accessToken);
		if (sign)
		{
			const std::int64_t timestamp = wallClockMs();
			const std::string nonce = randomNonce();
			request.set(RelayProtocol::HEADER_KEY, base64Encode(_identity.publicKey().raw()));
			request.set(RelayProtocol::HEADER_TIMESTAMP, std::to_string(timestamp));
			request.set(RelayProtocol::HEADER_NONCE, nonce);
			request.set(RelayProtocol::HEADER_SIGNATURE,
				base64Encode(_identity.sign(RelayProtocol::signingString(method, path, body, timestamp, nonce))));
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
			}, local, tlsTarget());
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

	void cycleFailed(const std::string& detail, std::chrono::seconds notBefore = std::chrono::seconds(0))
		/// OFFLINE with detail, and the whole cycle again after the backoff (not before notBefore,
		/// e.g. a draining relay's retry_after_s). While retrying, the state stays OFFLINE (no
		/// CONNECTING in between); each failure updates the detail.
	{
		teardown(false);
		_retrying = true;
		_relayAddress.reset();   // resolve the host name again on the next attempt
		const Milliseconds delay = std::max(nextDelay(_backoff), Milliseconds(notBefore));
		std::weak_ptr<Impl> weak = shared_from_this();
		_retryTimer = _loop.runAfter(delay, [weak] {
			if (auto self = weak.lock()) self->beginCycle();
		});
		setState(State::OFFLINE, detail + "; retrying in " + formatDelay(delay));
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
		if (!_config.prekeys.empty()) body.set("prekeys", Prekey::listToJson(_config.prekeys));
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
		else if (refusedToken(result, "the announce"))
		{
			return;
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
		if (const auto address = parseAddress(text)) learnObserved(*address);
	}

	void learnObserved(const Poco::Net::SocketAddress& address)
	{
		if (!_reflexive || _reflexive->toString() != address.toString())
			logger().information("relay " + _origin + " sees us as " + address.toString());
		_reflexive = address;
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
			if (refusedToken(result, "the control channel")) return;
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
		sendControl(ControlHello{_identity.publicKey(), RelayProtocol::VERSION});
		_phase = ControlPhase::HELLO_SENT;
		// Bytes that came with the 101 are the start of the frame stream.
		if (!result.leftover.empty()) onControlData(result.leftover.data(), result.leftover.size());
	}

	template <class M, class... Args>
	void sendControl(const M& message, Args... args)
	{
		if (_pControl) _pControl->send(encodeControl(_codec, message, args...));
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
				onControlMessage(*frame);
			}
		}
		catch (const Poco::Exception& exc)
		{
			if (_pControl && !_stopped)
				cycleFailed("relay " + _origin + " sent a bad control message: " + exc.displayText());
		}
	}

	void onControlMessage(const Frame& frame)
	{
		const MessageCatalog& catalog = RelayProtocol::control();
		const auto is = [&](const char* name) { return frame.type == catalog.typeOf(name); };
		if (is(ControlPing::NAME))
		{
			sendControl(ControlPong{ControlPing::parse(frame.body).n});
		}
		else if (is(ControlPong::NAME))
		{
			ControlPong::parse(frame.body);   // _lastReceived is all a pong is for
		}
		else if (is(ControlChallenge::NAME) && _phase == ControlPhase::HELLO_SENT)
		{
			const ControlChallenge challenge = ControlChallenge::parse(frame.body);
			if (challenge.observed) learnObserved(*challenge.observed);
			_controlObserved = challenge.observed;
			sendControl(ControlAuth{_identity.sign(RelayProtocol::controlSigningString(challenge.nonce))});
			_phase = ControlPhase::AUTH_SENT;
		}
		else if (is(ControlWelcome::NAME) && _phase == ControlPhase::AUTH_SENT)
		{
			const ControlWelcome welcome = ControlWelcome::parse(frame.body);
			if (welcome.id != _identity.peerId())
				throw MessageException("welcome names us " + welcome.id.toString());
			// A relay behind a proxy that hides client ports cannot probe or coordinate punches.
			_natTraversal = welcome.natTraversal.value_or(true);
			_relayMailbox = welcome.mailbox.value_or(false);
			_relayProbePort = _natTraversal ? welcome.probePort.value_or(0) : 0;
			// A relay that announces ping_s leaves the pinging to us and answers; an older one
			// pings every keepalive_s itself and expects ours every keepalive_s / 2.
			if (welcome.pingInterval)
				onWelcome(Milliseconds(*welcome.pingInterval), MISSED_KEEPALIVES * Milliseconds(*welcome.pingInterval));
			else
				onWelcome(Milliseconds(welcome.keepalive) / 2, MISSED_KEEPALIVES * Milliseconds(welcome.keepalive));
		}
		else if (is(ControlInvite::NAME) && _phase == ControlPhase::ONLINE)
		{
			const ControlInvite invite = ControlInvite::parse(frame.body);
			onInvite(invite.token, invite.from, invite.name);
		}
		else if (is(PunchMessage::NAME) && _phase == ControlPhase::ONLINE)
		{
			onPunch(PunchMessage::parse(frame.body, PunchMessage::Direction::FROM_RELAY));
		}
		else if (is(ControlMail::NAME) && _phase == ControlPhase::ONLINE)
		{
			const ControlMail mail = ControlMail::parse(frame.body);
			MailHandler handler = _onMail;
			if (handler) handler(RelayMail{mail.id, mail.depositedMs, mail.envelope});
		}
		else if (is(ControlError::NAME))
		{
			const ControlError error = ControlError::parse(frame.body);
			if (error.peer)
			{
				onPunchError(error);
				return;
			}
			std::string text = "relay " + _origin + " closed the control channel: " + error.code;
			if (!error.message.empty()) text += " (" + error.message + ")";
			if (error.code.compare(0, 6, "token_") == 0)
			{
				refuse(error.code, text);
				return;
			}
			cycleFailed(text, error.retryAfter.value_or(std::chrono::seconds(0)));
		}
		else if (!catalog.has(frame.type))
		{
			logger().debug("relay " + _origin + ": skipping unknown control message type " + std::to_string(frame.type));
		}
		else
		{
			throw MessageException("unexpected '" + catalog.decode(frame).name + "'");
		}
	}

	void onWelcome(Milliseconds pingInterval, Milliseconds silenceLimit)
		/// We ping every pingInterval (one packet per interval keeps the NAT mapping); no byte
		/// from the relay for silenceLimit means the channel is dead.
	{
		_phase = ControlPhase::ONLINE;
		_handshakeTimer.cancel();
		_backoff = Milliseconds(0);
		_retrying = false;
		_silenceLimit = silenceLimit;
		std::weak_ptr<Impl> weak = shared_from_this();
		_keepaliveTimer = _loop.runEvery(std::max(Milliseconds(100), pingInterval), [weak] {
			if (auto self = weak.lock()) self->onKeepaliveTimer();
		});
		setState(State::ONLINE, "connected to relay " + _origin + " as " + _identity.peerId().shortString());
		if (_stopped || _phase != ControlPhase::ONLINE) return;
		if (_relayMailbox && _onMail) sendControl(ControlMailFetch{MAIL_WINDOW});
		startProbe();
	}

	void onKeepaliveTimer()
	{
		if (!_pControl) return;
		const auto silent = EventLoop::Clock::now() - _lastReceived;
		if (silent > _silenceLimit)
		{
			cycleFailed("relay " + _origin + " silent on the control channel for "
				+ formatDelay(std::chrono::duration_cast<Milliseconds>(silent)));
			return;
		}
		sendControl(ControlPing{++_pings});
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
			finishProbe(std::nullopt, !_natTraversal ? "the relay cannot see client addresses (behind a proxy): no NAT traversal"
				: _relayProbePort == 0 ? "the relay has no probe port" : "no control channel");
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
		logger().information(std::string("NAT mapping via relay ") + _origin + ": " + natTypeName(info.mapping)
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

	// Hole-punch messages --------------------------------------------------------------------

public:
	bool sendPunch(const PunchMessage& message)
	{
		if (_stopped || _phase != ControlPhase::ONLINE || !_pControl) return false;
		sendControl(message, PunchMessage::Direction::TO_RELAY);
		return true;
	}

private:
	void onPunch(const PunchMessage& message)
		/// A peer's punch message, forwarded by the relay (which vouches for its sender).
	{
		if (_onPunch) _onPunch(message);
	}

	void onPunchError(const ControlError& error)
		/// The relay could not forward our punch to error.peer; the channel stays open.
	{
		std::string text = error.code == "offline"
			? "peer " + error.peer->shortString() + " is not connected to relay " + _origin
			: "relay " + _origin + " refused the punch: " + error.code;
		if (error.code != "offline" && !error.message.empty()) text += " (" + error.message + ")";
		if (_onPunchError) _onPunchError(*error.peer, text);
	}

	// Tunnels -------------------------------------------------------------------------------

	void onInvite(const std::string& token, const PeerId& peer, const std::string& name)
	{
		if (!_onInvite)
		{
			logger().information("ignoring a tunnel invitation from " + peer.shortString() + ": no invite handler");
			return;
		}
		if (_inviteFilter && !_inviteFilter(peer))
		{
			logger().debug("declining a tunnel invitation from " + peer.shortString());
			return;
		}
		std::weak_ptr<Impl> weak = shared_from_this();
		joinTunnel(token, peer, name, [weak](RelayTunnel tunnel, const std::string& error) {
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
	TlsClientContext::Ptr _pTls;             ///< https:// relays: what their certificate is verified against.
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
	Milliseconds _silenceLimit{75000};             ///< No byte from the relay this long: the channel is dead.
	bool _natTraversal = true;                     ///< welcome.nat_traversal.
	bool _relayMailbox = false;                    ///< welcome.mailbox.
	EventLoop::Clock::time_point _lastReceived;
	std::int64_t _pings = 0;
	Poco::Net::SocketAddress _controlLocal;                      ///< The control channel's local address.
	std::optional<Poco::Net::SocketAddress> _controlObserved;   ///< ... as the relay saw it (challenge).

	std::uint16_t _relayProbePort = 0;   ///< From welcome; 0: none.
	TcpConnection::Ptr _pProbe;
	TimerHandle _probeTimer;
	std::string _probeBuffer;
	std::uint64_t _probeGeneration = 0;   ///< Callbacks of an older probe are ignored.


	std::mt19937_64 _random;
};


NatType NatInfo::classify(const Poco::Net::SocketAddress& local,
	const std::optional<Poco::Net::SocketAddress>& reflexive,
	const std::optional<Poco::Net::SocketAddress>& probeReflexive)
{
	if (!reflexive) return NatType::UNKNOWN;
	if (!local.host().isWildcard() && unmapped(local.host()) == unmapped(reflexive->host())) return NatType::NONE;
	if (!probeReflexive) return NatType::UNKNOWN;
	return sameEndpoint(*reflexive, *probeReflexive) ? NatType::ENDPOINT_INDEPENDENT : NatType::ENDPOINT_DEPENDENT;
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


void RelayClient::setInviteFilter(InviteFilter filter)
{
	_pImpl->_loop.assertInLoopThread();
	_pImpl->_inviteFilter = std::move(filter);
}


void RelayClient::setNatHandler(NatHandler handler)
{
	_pImpl->_loop.assertInLoopThread();
	_pImpl->_onNat = std::move(handler);
}


void RelayClient::setPunchHandler(PunchMessageHandler handler)
{
	_pImpl->_loop.assertInLoopThread();
	_pImpl->_onPunch = std::move(handler);
}


void RelayClient::setPunchErrorHandler(PunchErrorHandler handler)
{
	_pImpl->_loop.assertInLoopThread();
	_pImpl->_onPunchError = std::move(handler);
}


bool RelayClient::sendPunch(const PunchMessage& message)
{
	_pImpl->_loop.assertInLoopThread();
	return _pImpl->sendPunch(message);
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


void RelayClient::setName(const std::string& name)
{
	_pImpl->_loop.assertInLoopThread();
	_pImpl->setName(name);
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



std::string RelayClient::refusal() const
{
	_pImpl->_loop.assertInLoopThread();
	return _pImpl->_refusal;
}


void RelayClient::setPrekeys(const std::vector<Prekey>& prekeys)
{
	_pImpl->_loop.assertInLoopThread();
	_pImpl->setPrekeys(prekeys);
}


void RelayClient::fetchPrekeys(const PeerId& peer, PrekeysHandler handler)
{
	_pImpl->_loop.assertInLoopThread();
	_pImpl->fetchPrekeys(peer, std::move(handler));
}


void RelayClient::deposit(const PeerId& recipient, const std::string& envelope, DepositHandler handler)
{
	_pImpl->_loop.assertInLoopThread();
	_pImpl->deposit(recipient, envelope, std::move(handler));
}


void RelayClient::claimHandle(const std::string& handle, HandleHandler handler)
{
	_pImpl->_loop.assertInLoopThread();
	_pImpl->claimHandle(handle, std::move(handler));
}


void RelayClient::releaseHandle(std::function<void(const std::string& error)> handler)
{
	_pImpl->_loop.assertInLoopThread();
	_pImpl->releaseHandle(std::move(handler));
}


void RelayClient::lookupHandle(const std::string& handle, HandleHandler handler)
{
	_pImpl->_loop.assertInLoopThread();
	_pImpl->lookupHandle(handle, std::move(handler));
}


void RelayClient::setMailHandler(MailHandler handler)
{
	_pImpl->_loop.assertInLoopThread();
	_pImpl->setMailHandler(std::move(handler));
}


void RelayClient::acknowledgeMail(const std::string& mailId)
{
	_pImpl->_loop.assertInLoopThread();
	_pImpl->acknowledgeMail(mailId);
}


} } // namespace CrossChat::Relay
