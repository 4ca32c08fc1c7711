//
// HttpExchange.cpp
//
// Library: Relay
//


#include "HttpExchange.h"
#include "CrossChat/TcpConnection.h"
#include "CrossChat/TlsChannel.h"
#include "Poco/Exception.h"
#include <sstream>
#include <utility>


namespace CrossChat {
namespace Relay {


namespace {


const std::string HEADER_END("\r\n\r\n");


std::string shortReason(const std::string& reason)
	/// "connect to 1.2.3.4:5 failed: Connection refused" -> "connection refused".
{
	std::string text = reason;
	const std::string::size_type failed = text.find(" failed: ");
	if (text.compare(0, 11, "connect to ") == 0 && failed != std::string::npos)
		text = text.substr(failed + 9);
	if (!text.empty() && text[0] >= 'A' && text[0] <= 'Z' && (text.size() < 2 || !(text[1] >= 'A' && text[1] <= 'Z')))
		text[0] = static_cast<char>(text[0] - 'A' + 'a');
	return text;
}


} // namespace


HttpExchange::Ptr HttpExchange::start(EventLoop& loop, const Poco::Net::SocketAddress& address,
	const Poco::Net::HTTPRequest& request, const std::string& body,
	std::chrono::milliseconds timeout, Handler handler, const std::optional<Poco::Net::SocketAddress>& local,
	const std::optional<TlsTarget>& tls)
{
	loop.assertInLoopThread();
	Ptr pExchange(new HttpExchange(loop, std::move(handler)));

	Poco::Net::HTTPRequest copy(request);
	if (!body.empty() || copy.getMethod() != Poco::Net::HTTPRequest::HTTP_GET)
		copy.setContentLength(static_cast<std::streamsize>(body.size()));
	std::ostringstream out;
	copy.write(out);
	out << body;

	const TcpConnection::Ptr pConnection = local
		? TcpConnection::connectFrom(loop, *local, address, timeout)
		: TcpConnection::connect(loop, address, timeout);
	ByteStream::Ptr pStream = pConnection;
	if (tls)
	{
		try
		{
			pStream = TlsChannel::client(pConnection, tls->context, tls->host);   // sends once verified
		}
		catch (...)
		{
			pConnection->abort("cannot set up TLS");
			throw;
		}
	}
	pExchange->_stream = pStream;
	Ptr self = pExchange;
	pStream->setDataHandler([self](const char* data, std::size_t size) {
		self->onData(data, size);
	});
	pStream->setCloseHandler([self](const std::string& reason) {
		self->onClose(reason);
	});
	pStream->send(out.str());

	std::weak_ptr<HttpExchange> weak = pExchange;
	pExchange->_timeout = loop.runAfter(timeout, [weak, timeout] {
		if (auto exchange = weak.lock())
			exchange->fail("no response within " + std::to_string(timeout.count()) + " ms");
	});
	return pExchange;
}


HttpExchange::HttpExchange(EventLoop& loop, Handler handler):
	_loop(loop),
	_handler(std::move(handler))
{
}


HttpExchange::~HttpExchange() = default;


void HttpExchange::cancel()
{
	_loop.assertInLoopThread();
	if (_finished) return;
	_finished = true;
	_handler = nullptr;
	_timeout.cancel();
	if (auto pStream = _stream.lock()) pStream->abort("cancelled");
	_stream.reset();
}


bool HttpExchange::finished() const
{
	return _finished;
}


void HttpExchange::onData(const char* data, std::size_t size)
{
	if (_finished) return;
	_buffer.append(data, size);
	if (!_headerParsed)
	{
		const std::string::size_type headerEnd = _buffer.find(HEADER_END);
		if (headerEnd == std::string::npos)
		{
			if (_buffer.size() > MAX_RESPONSE_SIZE)
				fail("response header larger than " + std::to_string(MAX_RESPONSE_SIZE) + " bytes");
			return;
		}
		if (!parseHeader(headerEnd)) return;
	}
	if (_buffer.size() - _bodyStart >= _contentLength)
	{
		_result.body = _buffer.substr(_bodyStart, _contentLength);
		succeed();
	}
}


bool HttpExchange::parseHeader(std::size_t headerEnd)
{
	_bodyStart = headerEnd + HEADER_END.size();
	if (_bodyStart > MAX_RESPONSE_SIZE)
	{
		fail("response header larger than " + std::to_string(MAX_RESPONSE_SIZE) + " bytes");
		return false;
	}
	try
	{
		std::istringstream in(_buffer.substr(0, _bodyStart));
		_result.response.read(in);
	}
	catch (const Poco::Exception& exc)
	{
		fail("malformed HTTP response: " + exc.displayText());
		return false;
	}
	_headerParsed = true;
	const int status = static_cast<int>(_result.response.getStatus());
	if (status == Poco::Net::HTTPResponse::HTTP_SWITCHING_PROTOCOLS)
	{
		_result.leftover = _buffer.substr(_bodyStart);
		_result.upgraded = _stream.lock();   // alive: we are inside its data handler
		_finished = true;
		_timeout.cancel();
		// Hand over the connection bare: the new owner installs its own handlers.
		_result.upgraded->setDataHandler(nullptr);
		_result.upgraded->setCloseHandler(nullptr);
		_stream.reset();
		Handler handler = std::move(_handler);
		_handler = nullptr;
		if (handler) handler(_result);
		return false;
	}
	if (_result.response.getChunkedTransferEncoding())
	{
		fail("chunked HTTP responses are not supported");
		return false;
	}
	if ((status >= 100 && status < 200) || status == Poco::Net::HTTPResponse::HTTP_NO_CONTENT
		|| status == Poco::Net::HTTPResponse::HTTP_NOT_MODIFIED)
	{
		_contentLength = 0;
		return true;
	}
	if (!_result.response.hasContentLength())
	{
		fail("HTTP response " + std::to_string(status) + " without Content-Length");
		return false;
	}
	const Poco::Int64 length = _result.response.getContentLength64();
	if (length < 0 || static_cast<Poco::UInt64>(length) > MAX_RESPONSE_SIZE - _bodyStart)
	{
		fail("HTTP response body too large (" + std::to_string(length) + " bytes)");
		return false;
	}
	_contentLength = static_cast<std::size_t>(length);
	return true;
}


void HttpExchange::onClose(const std::string& reason)
{
	if (_finished) return;
	if (!reason.empty())
		fail(shortReason(reason));
	else if (!_headerParsed)
		fail(_buffer.empty() ? "connection closed without a response" : "connection closed in the middle of the response header");
	else
		fail("connection closed after " + std::to_string(_buffer.size() - _bodyStart) + " of "
			+ std::to_string(_contentLength) + " body bytes");
}


void HttpExchange::fail(const std::string& error)
{
	if (_finished) return;
	_finished = true;
	_timeout.cancel();
	_result.error = error;
	if (auto pStream = _stream.lock()) pStream->abort(error);
	_stream.reset();
	Handler handler = std::move(_handler);
	_handler = nullptr;
	if (handler) handler(_result);
}


void HttpExchange::succeed()
{
	_finished = true;
	_timeout.cancel();
	if (auto pStream = _stream.lock()) pStream->close();
	_stream.reset();
	Handler handler = std::move(_handler);
	_handler = nullptr;
	if (handler) handler(_result);
}


} } // namespace CrossChat::Relay
