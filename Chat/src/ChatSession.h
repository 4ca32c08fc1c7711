//
// ChatSession.h
//
// Library: Chat
// Private: one TLS chat session with one peer.
// This is an internal header file, it is not installed; do not include it from outside Chat/src.
//


#ifndef CrossChat_Chat_ChatSession_INCLUDED
#define CrossChat_Chat_ChatSession_INCLUDED


#include "Session.h"
#include "SessionReader.h"
#include "CrossChat/EventLoop.h"
#include "CrossChat/FrameCodec.h"
#include "CrossChat/LogThrottle.h"
#include "CrossChat/MessageCatalog.h"
#include "CrossChat/TimerHandle.h"
#include "CrossChat/TlsChannel.h"
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>


namespace CrossChat {
namespace Chat {


class ChatSession: public Session, private SessionReader::Handler, public std::enable_shared_from_this<ChatSession>
	/// Speaks the session protocol (SessionProtocol) over one TlsChannel: sends our hello once
	/// TLS is up, becomes established when the peer's hello arrives, answers pings, sends its
	/// own keepalive pings and closes a session that stays silent for three intervals or does
	/// not finish its handshake in time. Text, receipt and refuse messages go to the Listener.
	///
	/// Texts and receipts go as binary frames (SessionProtocol::TEXT_BIN, RECEIPTS) when both
	/// hellos list SessionProtocol::CAP_BINARY_TEXT, else as the JSON messages text and
	/// receipt. Binary texts and receipts are gathered during a loop iteration and handed to
	/// the channel together at its end (the receipts as one frame of at most
	/// MAX_RECEIPTS_PER_FRAME ids; earlier if 64 KiB of texts are waiting); any other message
	/// sends them first, so the order of what is sent is kept, and so does close().
	///
	/// What the peer sends is read by a SessionReader (the rules are there): one bad item costs
	/// one error — a malformed or non-UTF-8 text is answered with a refuse for its id (if it has
	/// a readable id) and skipped, any other malformed message after the handshake skipped, the
	/// session goes on; only what breaks the stream itself (framing, TLS, a malformed or
	/// repeated hello) closes it.
	///
	/// Thread rules: loop thread only; Listener calls happen on it.
	/// Ownership: held by std::shared_ptr (by its owner and by its channel's pending callbacks
	/// only through weak_ptrs); owns its TlsChannel. Does not own the Listener.
{
public:
	using Ptr = std::shared_ptr<ChatSession>;

	struct Options
	{
		std::string localName;
		std::vector<std::string> caps;   ///< Announced in hello beyond the built-in ones (the node's services).
		std::chrono::milliseconds keepaliveInterval{15000};
		std::chrono::milliseconds handshakeTimeout{10000};
		Path path = Path::DIRECT;
		bool binaryText = true;   ///< Announce and use CAP_BINARY_TEXT; false: behave as a peer without it.
	};

	static Ptr create(const TlsChannel::Ptr& channel, bool outgoing, std::uint64_t serial, Listener* pListener, Options options);

	void start();
		/// Installs the handlers and arms the handshake timer.

	void setListener(Listener* pListener) override;
	void sendText(const std::string& id, std::int64_t timestampMs, const std::string& text) override;
	void sendReceipt(std::string_view id) override;
	void sendRefusal(const std::string& id, const std::string& code, const std::string& reason) override;
	void sendContact(bool accepted) override;
	void sendMessage(const std::string& name, const Poco::JSON::Object& body) override;
	bool peerSupports(const std::string& capability) const override;
	void sendData(std::uint8_t type, const std::string& body) override;
	std::size_t unsentBytes() const override;
	void setDrainHandler(DrainHandler handler) override;
	void close(const std::string& reason) override;
	void abort(const std::string& reason) override;
	void detach() override;

	bool outgoing() const override;
	bool tlsReady() const override;
	bool established() const override;
	bool closed() const override;
	std::uint64_t serial() const override;
	const PeerId& peerId() const override;
	const std::string& peerName() const override;
	Path path() const override;
	Poco::Net::SocketAddress remoteAddress() const override;

	std::uint64_t skippedMessages() const;
		/// Malformed messages skipped (refused or not) since the session started.

	bool binaryText() const;
		/// True once established with a peer that reads binary texts and receipts, if we do too.

private:
	ChatSession(const TlsChannel::Ptr& channel, bool outgoing, std::uint64_t serial, Listener* pListener, Options options);
	void onTlsReady(const PeerId& peer);
	void onData(const char* data, std::size_t size);
	void onClosed(const std::string& reason);
	void onHello(const std::string& name, const std::vector<std::string>& caps) override;
	void onMessage(const Message& message) override;
	void onRefused(const std::string& messageId, const char* code, const std::string& problem) override;
	void onText(std::string_view id, std::int64_t timestampMs, std::string_view text) override;
	void onReceipt(std::string_view id) override;
	void onBinary(const Frame& frame) override;
	bool stopped() const override;
	void send(const std::string& name, const Poco::JSON::Object& body);
	void onKeepaliveTick();
	void scheduleFlush();
	void flushPending();
		/// Hands the gathered binary frames (texts, then the receipts frame) to the channel.

	TlsChannel::Ptr _channel;
	Listener* _pListener;
	Options _options;
	FrameCodec _codec;       ///< Encodes what we send.
	SessionReader _reader;   ///< Decodes what the peer sends.
	const bool _outgoing;
	const std::uint64_t _serial;
	bool _tlsReady = false;
	bool _closed = false;
	PeerId _peerId;
	std::string _peerName;
	std::vector<std::string> _peerCaps;
	Poco::Net::SocketAddress _remote;
	std::int64_t _pingCounter = 0;
	std::chrono::steady_clock::time_point _lastReceived;
	LogThrottle _logThrottle;
	TimerHandle _handshakeTimer;
	TimerHandle _keepaliveTimer;
	DrainHandler _onDrain;
	bool _binaryText = false;            ///< Both sides listed CAP_BINARY_TEXT.
	std::string _pending;                ///< Binary texts of this iteration, not yet handed to the channel.
	std::string _receiptEntries;         ///< Ids of the RECEIPTS frame being gathered.
	std::size_t _receiptCount = 0;
	bool _flushQueued = false;
	std::shared_ptr<const EventLoop::Task> _pFlush;   ///< Runs flushPending() at the end of the iteration.
};


} } // namespace CrossChat::Chat


#endif // CrossChat_Chat_ChatSession_INCLUDED
