//
// ProxyPreface.cpp
//
// Library: Relay
//


#include "ProxyPreface.h"
#include "RelayRequests.h"


namespace CrossChat {
namespace Relay {


ProxyPreface::ProxyPreface(const TcpConnection::Ptr& pConnection, HeaderHandler onHeader, FailureHandler onFailure):
	_pConnection(pConnection),
	_onHeader(std::move(onHeader)),
	_onFailure(std::move(onFailure))
{
}


void ProxyPreface::read(const TcpConnection::Ptr& pConnection, std::chrono::milliseconds timeout,
	HeaderHandler onHeader, FailureHandler onFailure)
{
	std::shared_ptr<ProxyPreface> pSelf(new ProxyPreface(pConnection, std::move(onHeader), std::move(onFailure)));
	pConnection->setDataHandler([pSelf](const char* data, std::size_t size) { pSelf->onData(data, size); });
	pConnection->setCloseHandler([pSelf](const std::string& reason)
	{
		if (!pSelf->_done) pSelf->fail(reason.empty() ? "closed before the PROXY header" : reason);
	});
	std::weak_ptr<ProxyPreface> pWeak = pSelf;
	pSelf->_deadline = pConnection->loop().runAfter(timeout, [pWeak]
	{
		if (auto pPreface = pWeak.lock()) pPreface->fail("no PROXY header in time");
	});
}


void ProxyPreface::onData(const char* data, std::size_t size)
{
	if (_done) return;
	_buffer.append(data, size);
	ProxyHeader header;
	try
	{
		header = ProxyHeader::parse(_buffer.data(), _buffer.size());
	}
	catch (const BadRequestException& exc)
	{
		fail(exc.message());
		return;
	}
	switch (header.status)
	{
	case ProxyHeader::Status::INCOMPLETE:
		return;
	case ProxyHeader::Status::NOT_PROXY:
		fail("a trusted proxy's connection without a PROXY v2 header (relay.proxyProtocol is on)");
		return;
	case ProxyHeader::Status::LOCAL:
	case ProxyHeader::Status::PROXY:
		break;
	}
	const std::string rest = _buffer.substr(header.size);
	finish();
	const HeaderHandler handler = std::move(_onHeader);
	handler(header, rest);
}


void ProxyPreface::fail(const std::string& reason)
{
	if (_done) return;
	const TcpConnection::Ptr pConnection = _pConnection.lock();
	finish();
	if (pConnection) pConnection->abort(reason);
	const FailureHandler handler = std::move(_onFailure);
	if (handler) handler(reason);
}


void ProxyPreface::finish()
{
	_done = true;
	_deadline.cancel();
	if (const TcpConnection::Ptr pConnection = _pConnection.lock())
	{
		pConnection->setDataHandler(nullptr);
		pConnection->setCloseHandler(nullptr);
	}
}


} } // namespace CrossChat::Relay
