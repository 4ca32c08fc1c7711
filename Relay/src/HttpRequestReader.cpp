//
// HttpRequestReader.cpp
//
// Library: Relay
//


#include "HttpRequestReader.h"
#include "CrossChat/Relay/RelayProtocol.h"
#include "Poco/Exception.h"
#include "Poco/MemoryStream.h"
#include "Poco/Net/HTTPResponse.h"
#include "Poco/Net/NetException.h"
#include "Poco/String.h"
#include <algorithm>


namespace CrossChat {
namespace Relay {


using Poco::Net::HTTPResponse;


HttpRequestReader::HttpRequestReader(std::size_t maxHeaderSize, std::size_t maxBodySize, std::size_t maxEnvelopeSize):
	_maxHeaderSize(maxHeaderSize),
	_maxBodySize(maxBodySize),
	_maxEnvelopeSize(maxEnvelopeSize)
{
}


HttpRequestReader::Status HttpRequestReader::fail(int status, const char* code, const std::string& message)
{
	_errorStatus = status;
	_errorCode = code;
	_errorMessage = message;
	_haveHead = false;
	return Status::ERROR;
}


HttpRequestReader::Status HttpRequestReader::next(std::string& buffer)
{
	if (!_haveHead)
	{
		const Status status = readHead(buffer);
		if (status != Status::REQUEST) return status;
	}
	if (buffer.size() < _bodySize) return Status::NEED_MORE;
	_body.assign(buffer, 0, _bodySize);
	buffer.erase(0, _bodySize);
	_haveHead = false;
	_wantsContinue = false;
	return Status::REQUEST;
}


HttpRequestReader::Status HttpRequestReader::readHead(std::string& buffer)
{
	const std::size_t from = _scanned > 3 ? _scanned - 3 : 0;
	const std::size_t end = buffer.find("\r\n\r\n", from);
	if (end == std::string::npos)
	{
		_scanned = buffer.size();
		if (buffer.size() > _maxHeaderSize)
			return fail(HTTPResponse::HTTP_REQUEST_HEADER_FIELDS_TOO_LARGE, "too_large", "request head over " + std::to_string(_maxHeaderSize) + " bytes");
		return Status::NEED_MORE;
	}
	const std::size_t headSize = end + 4;
	_scanned = 0;
	if (headSize > _maxHeaderSize)
		return fail(HTTPResponse::HTTP_REQUEST_HEADER_FIELDS_TOO_LARGE, "too_large", "request head over " + std::to_string(_maxHeaderSize) + " bytes");
	Poco::Net::HTTPRequest request;
	try
	{
		Poco::MemoryInputStream in(buffer.data(), headSize);
		request.read(in);
		// read() stops at the empty line; anything else left in the head block is garbage.
		if (static_cast<std::size_t>(in.tellg()) != headSize) throw Poco::Net::MessageException("stray bytes in the head");
	}
	catch (const Poco::Exception& exc)
	{
		return fail(HTTPResponse::HTTP_BAD_REQUEST, "bad_request", "malformed request head: " + exc.message());
	}
	buffer.erase(0, headSize);
	const std::string& version = request.getVersion();
	if (version != Poco::Net::HTTPMessage::HTTP_1_1 && version != Poco::Net::HTTPMessage::HTTP_1_0)
		return fail(HTTPResponse::HTTP_VERSION_NOT_SUPPORTED, "bad_request", "HTTP/1.0 or HTTP/1.1 only");
	if (request.has("Transfer-Encoding"))
		return fail(HTTPResponse::HTTP_LENGTH_REQUIRED, "length_required", "bodies need Content-Length (no Transfer-Encoding)");
	std::string declared;
	for (auto it = request.find("Content-Length"); it != request.end() && Poco::icompare(it->first, "Content-Length") == 0; ++it)
	{
		if (!declared.empty() && it->second != declared)
			return fail(HTTPResponse::HTTP_BAD_REQUEST, "bad_request", "conflicting Content-Length headers");
		declared = it->second;
	}
	_bodySize = 0;
	if (!declared.empty())
	{
		if (declared.size() > 18 || declared.find_first_not_of("0123456789") != std::string::npos)
			return fail(HTTPResponse::HTTP_BAD_REQUEST, "bad_request", "malformed Content-Length");
		const unsigned long long length = std::stoull(declared);
		static const std::string MAILBOX = std::string(RelayProtocol::API_PREFIX) + "/mailbox/";
		const bool deposit = request.getMethod() == Poco::Net::HTTPRequest::HTTP_POST
			&& request.getURI().compare(0, MAILBOX.size(), MAILBOX) == 0;
		const std::size_t limit = deposit ? std::max(_maxBodySize, _maxEnvelopeSize) : _maxBodySize;
		if (length > limit)
			return fail(HTTPResponse::HTTP_REQUEST_ENTITY_TOO_LARGE, "too_large", "body larger than " + std::to_string(limit) + " bytes");
		_bodySize = static_cast<std::size_t>(length);
	}
	_wantsContinue = _bodySize > buffer.size() && Poco::icompare(request.get("Expect", ""), "100-continue") == 0;
	_request = std::move(request);
	_haveHead = true;
	return Status::REQUEST;
}


bool HttpRequestReader::inRequest() const
{
	return _haveHead;
}


bool HttpRequestReader::takeContinue()
{
	const bool wanted = _wantsContinue;
	_wantsContinue = false;
	return wanted;
}


const Poco::Net::HTTPRequest& HttpRequestReader::request() const
{
	return *_request;
}


const std::string& HttpRequestReader::body() const
{
	return _body;
}


int HttpRequestReader::errorStatus() const
{
	return _errorStatus;
}


const std::string& HttpRequestReader::errorCode() const
{
	return _errorCode;
}


const std::string& HttpRequestReader::errorMessage() const
{
	return _errorMessage;
}


} } // namespace CrossChat::Relay
