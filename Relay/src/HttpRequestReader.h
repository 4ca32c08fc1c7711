//
// HttpRequestReader.h
//
// Library: Relay
// Internal header: cuts complete HTTP/1.1 requests (head and Content-Length body) out of the
// bytes a connection has received, with the relay's limits.
// This is an internal header file, you should not include this.
//


#ifndef CrossChat_Relay_HttpRequestReader_INCLUDED
#define CrossChat_Relay_HttpRequestReader_INCLUDED


#include "Poco/Net/HTTPRequest.h"
#include <cstddef>
#include <optional>
#include <string>


namespace CrossChat {
namespace Relay {


class HttpRequestReader
	/// Framing of one connection's requests, separate from any socket so that it can be unit
	/// tested and fuzzed. The head (request line and headers, up to the empty line) is parsed
	/// by Poco::Net::HTTPRequest::read() once it is complete; the body is Content-Length bytes.
	/// Refused: a head over maxHeaderSize (431), a malformed head (400), a version other than
	/// HTTP/1.0 and 1.1 (505), Transfer-Encoding (411: bodies need Content-Length), a malformed
	/// or conflicting Content-Length (400), a body over maxBodySize (413, before any of it is
	/// read; a mailbox deposit may be up to maxEnvelopeSize). After a refusal the connection must be closed: the stream cannot be resynchronised.
	///
	/// Thread rules: not thread-safe; one reader per connection.
{
public:
	enum class Status
	{
		NEED_MORE,   ///< Nothing complete yet.
		REQUEST,     ///< request() and body() hold the next request; its bytes are consumed.
		ERROR        ///< errorStatus(), errorCode() and errorMessage() say why.
	};

	HttpRequestReader(std::size_t maxHeaderSize, std::size_t maxBodySize, std::size_t maxEnvelopeSize = 0);
		/// A mailbox deposit (POST /api/v1/mailbox/...) may have a body of maxEnvelopeSize
		/// bytes when that is larger than maxBodySize; every other request maxBodySize.

	Status next(std::string& buffer);
		/// Looks at the received bytes (consuming a complete request from the front).

	bool inRequest() const;
		/// True while part of a request has been seen (the head, or the head and part of the body).
	bool takeContinue();
		/// True once per request whose head asked for "Expect: 100-continue" and whose body had
		/// not arrived with it (the caller then sends the interim 100 answer).

	const Poco::Net::HTTPRequest& request() const;
	const std::string& body() const;
	int errorStatus() const;
	const std::string& errorCode() const;
	const std::string& errorMessage() const;

private:
	Status fail(int status, const char* code, const std::string& message);
	Status readHead(std::string& buffer);

	const std::size_t _maxHeaderSize;
	const std::size_t _maxBodySize;
	const std::size_t _maxEnvelopeSize;
	std::size_t _scanned = 0;          ///< Bytes of the buffer already searched for the head's end.
	std::optional<Poco::Net::HTTPRequest> _request;
	bool _haveHead = false;
	bool _wantsContinue = false;
	std::size_t _bodySize = 0;
	std::string _body;
	int _errorStatus = 0;
	std::string _errorCode;
	std::string _errorMessage;
};


} } // namespace CrossChat::Relay


#endif // CrossChat_Relay_HttpRequestReader_INCLUDED
