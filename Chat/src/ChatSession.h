//
// ChatSession.h
//
// Library: Chat
// Private: one TLS chat session with one peer.
// This is an internal header file, it is not installed; do not include it from outside Chat/src.
//


#ifndef CrossChat_Chat_ChatSession_INCLUDED
#define CrossChat_Chat_ChatSession_INCLUDED


#include "CrossChat/FrameCodec.h"
#include "CrossChat/MessageCatalog.h"
#include "CrossChat/TimerHandle.h"
#include "CrossChat/TlsChannel.h"
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>


namespace CrossChat {
namespace Chat {


class ChatSession: public std::enable_shared_from_this<ChatSession>
	/// Speaks the session protocol (SessionProtocol) over one TlsChannel: sends our hello once
	/// TLS is up, becomes established when the peer's hello arrives, answers pings, sends its
	/// own keepalive pings and closes a session that stays silent for three intervals or does
	/// not finish its handshake in time. Text and receipt messages go to the Listener.
	///
	/// Thread rules: loop thread only; Listener calls happen on it.
	/// Ownership: held by std::shared_ptr (ChatNode keeps it); owns its TlsChannel. Does not own
	/// the Listener, which must detach() every session before it is destroyed.
{
public:
	using Ptr = std::shared_ptr<ChatSession>;

	class Listener
	{
	public:
		virtual ~Listener() = default;
		virtual void onSessionTlsReady(ChatSession& session) = 0;
			/// TLS is up and the peer's key is verified: peerId() is known.
		virtual void onSessionEstablished(ChatSession& session) = 0;
			/// The peer's hello has arrived: messages may flow.
		virtual void onSessionMessage(ChatSession& session, const Message& message) = 0;
			/// A text or receipt message.
		virtual void onSessionClosed(ChatSession& session, const std::string& reason) = 0;
			/// Called once; reason is empty for an orderly close.
	};

	struct Options
	{
		std::string localName;
		std::chrono::milliseconds keepaliveInterval{15000};
		std::chrono::milliseconds handshakeTimeout{10000};
		std::string path = "direct";
	};

	static Ptr create(const TlsChannel::Ptr& channel, bool outgoing, std::uint64_t serial, Listener& listener, Options options);

	void start();
		/// Installs the handlers and arms the handshake timer.

	void sendText(const std::string& id, std::int64_t timestampMs, const std::string& text);
	void sendReceipt(const std::string& id);

	void close(const std::string& reason);
		/// Sends a close message, then closes TLS and TCP. The Listener still gets onSessionClosed.

	void abort(const std::string& reason);
		/// Drops the connection at once (no close message); the Listener gets onSessionClosed.

	void detach();
		/// Forgets the Listener and aborts the session quietly (owner shutting down).

	bool outgoing() const;
	bool tlsReady() const;
	bool established() const;
	bool closed() const;
	std::uint64_t serial() const;
	const PeerId& peerId() const;
	const std::string& peerName() const;
	const std::string& path() const;
	Poco::Net::SocketAddress remoteAddress() const;

private:
	ChatSession(const TlsChannel::Ptr& channel, bool outgoing, std::uint64_t serial, Listener& listener, Options options);
	void onTlsReady(const PeerId& peer);
	void onData(const char* data, std::size_t size);
	void onClosed(const std::string& reason);
	void handle(const Message& message);
	void send(const std::string& name, const Poco::JSON::Object& body);
	void onKeepaliveTick();

	TlsChannel::Ptr _channel;
	Listener* _pListener;
	Options _options;
	FrameCodec _codec;
	const bool _outgoing;
	const std::uint64_t _serial;
	bool _tlsReady = false;
	bool _established = false;
	bool _closed = false;
	PeerId _peerId;
	std::string _peerName;
	std::int64_t _pingCounter = 0;
	std::chrono::steady_clock::time_point _lastReceived;
	TimerHandle _handshakeTimer;
	TimerHandle _keepaliveTimer;
};


} } // namespace CrossChat::Chat


#endif // CrossChat_Chat_ChatSession_INCLUDED
