//
// HttpExchange.h
//
// Library: Relay
// One non-blocking HTTP/1.1 (or HTTPS) request and its response over a new TcpConnection.
//
// This is an internal header file, you should not include this.
//


#ifndef CrossChat_Relay_HttpExchange_INCLUDED
#define CrossChat_Relay_HttpExchange_INCLUDED


#include "CrossChat/ByteStream.h"
#include "CrossChat/EventLoop.h"
#include "CrossChat/TimerHandle.h"
#include "CrossChat/TlsClientContext.h"
#include "Poco/Net/HTTPRequest.h"
#include "Poco/Net/HTTPResponse.h"
#include "Poco/Net/SocketAddress.h"
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>


namespace CrossChat {
namespace Relay {


class HttpExchange: public std::enable_shared_from_this<HttpExchange>
	/// Connects, writes one request (serialized by Poco::Net::HTTPRequest::write() plus the body),
	/// reads the response header block with Poco::Net::HTTPResponse::read() once "\r\n\r\n" has
	/// arrived, then exactly Content-Length bytes of body. A response needs a Content-Length unless
	/// it is a 1xx, 204 or 304; chunked responses are refused. The whole response is capped at
	/// MAX_RESPONSE_SIZE bytes and the whole exchange, connect included, at the timeout.
	///
	/// The exchange runs over a ByteStream: the TcpConnection itself for http://, or for https://
	/// a TlsChannel in X.509 mode over it, which verifies the server's certificate against the
	/// TlsTarget's context and host name (sent as SNI) before any byte of the request leaves. A
	/// failed verification fails the exchange with TlsChannel's reason ("TLS certificate
	/// verification failed for <host>: <why> (<certificate>)").
	///
	/// A 101 (Switching Protocols) response ends the exchange without closing the connection: the
	/// result carries the stream, with none of its handlers set, and the bytes that arrived
	/// after the header block (they belong to the upgraded stream). The handler runs from inside
	/// the connection's data handler, so a handler that installs its own data handler before it
	/// returns sees every later byte; nothing is lost in between.
	///
	/// Any other response closes the connection gracefully after it has been read.
	///
	/// Thread rules: must be used from the loop thread; the handler runs on it.
	/// Ownership: while the exchange runs, its stream's handlers keep it alive, so callers may
	/// drop the pointer (fire and forget) or keep it to cancel(). The exchange holds its stream
	/// only weakly (the TCP connection's loop registration keeps it), so destroying the loop frees both.
{
public:
	using Ptr = std::shared_ptr<HttpExchange>;

	struct Result
	{
		std::string error;                     ///< Set if no complete, well-formed response arrived.
		Poco::Net::HTTPResponse response;      ///< Status line and headers (valid if error is empty).
		std::string body;                      ///< The body (Content-Length bytes).
		ByteStream::Ptr upgraded;              ///< 101 only: the stream, without handlers.
		std::string leftover;                  ///< 101 only: bytes received after the header block.
	};

	using Handler = std::function<void(Result& result)>;

	struct TlsTarget
		/// HTTPS: what the server's certificate is checked against.
	{
		TlsClientContext::Ptr context;   ///< The trust anchors (system store or a CA file).
		std::string host;                ///< The name (or address) the certificate must be valid for.
	};

	static constexpr std::size_t MAX_RESPONSE_SIZE = 64 * 1024;

	static Ptr start(EventLoop& loop, const Poco::Net::SocketAddress& address,
		const Poco::Net::HTTPRequest& request, const std::string& body,
		std::chrono::milliseconds timeout, Handler handler,
		const std::optional<Poco::Net::SocketAddress>& local = std::nullopt,
		const std::optional<TlsTarget>& tls = std::nullopt);
		/// With local, the connection is bound to it first, with SO_REUSEADDR and SO_REUSEPORT
		/// (TcpConnection::connectFrom()). With tls, the exchange runs over TLS (HTTPS); the
		/// timeout covers the handshake too. Sends request (its Content-Length is set from body
		/// here, except for a GET without body) followed by body. The handler
		/// is called exactly once, on a later turn of the loop, unless cancel() is called first;
		/// it may be empty (fire and forget). Must be called from the loop thread. Throws
		/// CryptoException if the TLS session cannot be set up.

	~HttpExchange();

	HttpExchange(const HttpExchange&) = delete;
	HttpExchange& operator=(const HttpExchange&) = delete;

	void cancel();
		/// Aborts the connection; the handler is not called. Does nothing once finished.

	bool finished() const;
		/// True once the handler has been called or the exchange was cancelled.

private:
	HttpExchange(EventLoop& loop, Handler handler);
	void onData(const char* data, std::size_t size);
	void onClose(const std::string& reason);
	bool parseHeader(std::size_t headerEnd);
	void fail(const std::string& error);
	void succeed();

	EventLoop& _loop;
	Handler _handler;
	std::weak_ptr<ByteStream> _stream;
	TimerHandle _timeout;
	std::string _buffer;
	Result _result;
	bool _headerParsed = false;
	std::size_t _bodyStart = 0;
	std::size_t _contentLength = 0;
	bool _finished = false;
};


} } // namespace CrossChat::Relay


#endif // CrossChat_Relay_HttpExchange_INCLUDED
