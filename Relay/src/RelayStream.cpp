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


} } // namespace CrossChat::Relay
