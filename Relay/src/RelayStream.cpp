//
// RelayStream.cpp
//
// Library: Relay
//


#include "RelayStream.h"


namespace CrossChat {
namespace Relay {


RelayStream::~RelayStream() = default;


void RelayStream::send(const std::string& data)
{
	send(data.data(), data.size());
}


RelayStream::Ptr PlainStream::create(const TcpConnection::Ptr& pConnection)
{
	return Ptr(new PlainStream(pConnection));
}


PlainStream::PlainStream(const TcpConnection::Ptr& pConnection):
	_pConnection(pConnection)
{
}


void PlainStream::setHandlers(DataHandler onData, CloseHandler onClose, DrainHandler onDrain)
{
	// The connection holds the handlers, and they hold whoever owns this stream: the cycle
	// is broken when the connection releases its handlers after onClose.
	_pConnection->setDataHandler(std::move(onData));
	_pConnection->setCloseHandler(std::move(onClose));
	_pConnection->setDrainHandler(std::move(onDrain));
}


void PlainStream::send(const char* data, std::size_t size)
{
	_pConnection->send(data, size);
}


void PlainStream::close()
{
	_pConnection->close();
}


void PlainStream::abort(const std::string& reason)
{
	_pConnection->abort(reason);
}


void PlainStream::pauseReading()
{
	_pConnection->pauseReading();
}


void PlainStream::resumeReading()
{
	_pConnection->resumeReading();
}


std::size_t PlainStream::bufferedAmount() const
{
	return _pConnection->bufferedAmount();
}


bool PlainStream::aboveHighWaterMark() const
{
	return _pConnection->aboveHighWaterMark();
}


void PlainStream::setHighWaterMark(std::size_t bytes)
{
	_pConnection->setHighWaterMark(bytes);
}


bool PlainStream::closed() const
{
	return _pConnection->closed();
}


bool PlainStream::secure() const
{
	return false;
}


EventLoop& PlainStream::loop() const
{
	return _pConnection->loop();
}


RelayStream::Ptr TlsStream::create(const TcpConnection::Ptr& pConnection, const TlsServerContext::Ptr& pContext,
	const std::string& ciphertextAlreadyRead)
{
	std::shared_ptr<TlsStream> pStream(new TlsStream(pConnection, TlsChannel::server(pConnection, pContext)));
	if (!ciphertextAlreadyRead.empty()) pStream->_pChannel->receiveCiphertext(ciphertextAlreadyRead);
	return pStream;
}


TlsStream::TlsStream(const TcpConnection::Ptr& pConnection, const TlsChannel::Ptr& pChannel):
	_pConnection(pConnection),
	_pChannel(pChannel)
{
}


void TlsStream::setHandlers(DataHandler onData, CloseHandler onClose, DrainHandler onDrain)
{
	_pChannel->setDataHandler(std::move(onData));
	_pChannel->setCloseHandler(std::move(onClose));
	_pChannel->connection()->setDrainHandler(std::move(onDrain));
}


void TlsStream::send(const char* data, std::size_t size)
{
	if (_closed) return;
	_pChannel->send(data, size);   // queued by the channel: no copy of our own
}


void TlsStream::close()
{
	if (_closed) return;
	_closed = true;
	_pChannel->close();
}


void TlsStream::abort(const std::string& reason)
{
	_closed = true;
	_pChannel->abort(reason);
}


void TlsStream::pauseReading()
{
	_pChannel->connection()->pauseReading();
}


void TlsStream::resumeReading()
{
	_pChannel->connection()->resumeReading();
}


std::size_t TlsStream::bufferedAmount() const
{
	return _pChannel->connection()->bufferedAmount();
}


bool TlsStream::aboveHighWaterMark() const
{
	return _pChannel->connection()->aboveHighWaterMark();
}


void TlsStream::setHighWaterMark(std::size_t bytes)
{
	_pConnection->setHighWaterMark(bytes);
}


bool TlsStream::closed() const
{
	return _closed || _pChannel->connection()->closed();
}


bool TlsStream::secure() const
{
	return true;
}


EventLoop& TlsStream::loop() const
{
	return _pChannel->connection()->loop();
}


} } // namespace CrossChat::Relay
