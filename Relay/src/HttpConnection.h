//
// HttpConnection.h
//
// Library: Relay
// Internal header: one HTTP/1.1 connection of the relay's front, on an event loop.
// This is an internal header file, you should not include this.
//


#ifndef CrossChat_Relay_HttpConnection_INCLUDED
#define CrossChat_Relay_HttpConnection_INCLUDED


#include "ConnectionBudget.h"
#include "HttpRequestReader.h"
#include "RelayApi.h"
#include "RelayStream.h"
#include "ServerContext.h"
#include "Poco/Net/HTTPRequest.h"
#include "Poco/Net/SocketAddress.h"
#include "Poco/Net/StreamSocket.h"
#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>


namespace CrossChat {
namespace Relay {


class HttpConnection: public LoopSession, public std::enable_shared_from_this<HttpConnection>
	/// Reads requests from one client connection and answers them in order, without a thread
	/// of its own: a state machine on the loop that accepted it.
	///
	///   IDLE          waiting for a request: firstByteTimeout for the first, keepAliveTimeout
	///                 between requests (then closed without an answer).
	///   REQUEST       a request is arriving: it must be complete within requestTimeout of its
	///                 first byte (else 408); HttpRequestReader applies the head and body limits.
	///   WAITING       the answer waits for its write to reach the database (ApiReply::commit:
	///                 an announce, a handle claim, a mailbox deposit); nothing more is read
	///                 meanwhile. A write that fails is answered 500 "storage"; one not done
	///                 within requestTimeout, 503 "busy" (its late outcome is ignored).
	///
	/// The complete head is parsed by Poco::Net::HTTPRequest::read() over a memory stream, the
	/// answer written by Poco::Net::HTTPResponse::write(): no HTTP parsing of our own. Requests
	/// go to RelayApi; pipelined requests are answered in order. While the answers wait to be
	/// written (more than OUTPUT_LIMIT bytes), nothing more is read. An upgrade answer (101)
	/// hands the stream, and any bytes already read after the request, to a ControlSession or a
	/// TunnelSession on the same loop; the connection's HTTP slot is released then.
	///
	/// Timeouts are checked by the loop's tick (RelayLoop::TICK), so they hold to about a second.
	///
	/// Thread rules: every method must be called from the loop thread.
	/// Ownership: registered with its RelayLoop; kept alive by its stream's handlers.
{
public:
	static constexpr std::size_t OUTPUT_LIMIT = 256 * 1024;

	static void start(ServerContext& context, RelayLoop& relayLoop, const RelayStream::Ptr& pStream,
		const Poco::Net::SocketAddress& peer, const Poco::Net::SocketAddress& client, AddressOrigin origin,
		bool trustedPeer, ConnectionSlot slot, const std::string& initialBytes = std::string());
		/// Takes over the stream (a new connection) and waits for the first request. peer is the
		/// TCP peer; client and origin the client as a PROXY header named it (ProxyPreface), or
		/// the peer (DIRECT). A trusted peer without a PROXY header names its clients in
		/// X-Forwarded-For, request by request. initialBytes were read before (plain streams).

	~HttpConnection() override;

	void shutdown() override;
	void drain() override;
	void tick(Clock::time_point now) override;

private:
	enum class State
	{
		IDLE,
		REQUEST,
		WAITING,
		CLOSING,
		UPGRADED,
		CLOSED
	};

	HttpConnection(ServerContext& context, RelayLoop& relayLoop, const RelayStream::Ptr& pStream,
		const Poco::Net::SocketAddress& peer, const Poco::Net::SocketAddress& client, AddressOrigin origin,
		bool trustedPeer, ConnectionSlot slot);

	void onData(const char* data, std::size_t size);
	void onDrain();
	void onClosed();
	void process();
	void dispatch(const Poco::Net::HTTPRequest& request, const std::string& body);
	void respond(ApiReply& reply, bool keepAliveWanted);
	void fail(int status, const std::string& code, const std::string& message);
	void closeGracefully();
	void handOver(ApiReply& reply);
	void committed(std::uint64_t wait, bool ok);

	ServerContext& _context;
	RelayLoop& _relayLoop;
	RelayStream::Ptr _pStream;
	ConnectionSlot _slot;
	const Poco::Net::SocketAddress _peer;   ///< The TCP peer.
	const Poco::Net::SocketAddress _client; ///< The client (from a PROXY header if any).
	const AddressOrigin _origin;
	Poco::Net::SocketAddress _requestClient;   ///< The current request's client (X-Forwarded-For applied).
	AddressOrigin _requestOrigin = AddressOrigin::DIRECT;
	const bool _trustedPeer;
	State _state = State::IDLE;
	std::string _buffer;
	HttpRequestReader _reader;
	Clock::time_point _deadline;
	unsigned _served = 0;
	bool _draining = false;
	bool _outputPaused = false;
	bool _processing = false;
	ApiReply _waiting;                     ///< WAITING: the answer to send once durable.
	bool _waitingKeepAlive = false;
	std::uint64_t _wait = 0;               ///< Counts waits, so that a late outcome of an old one is ignored.
};


} } // namespace CrossChat::Relay


#endif // CrossChat_Relay_HttpConnection_INCLUDED
