//
// X509Loopback.h
//
// testsuite: an X.509-mode TLS echo server and client on one EventLoop (127.0.0.1, port 0),
// for the TlsServerContext and TlsClientContext tests.
//


#ifndef CrossChat_Test_X509Loopback_INCLUDED
#define CrossChat_Test_X509Loopback_INCLUDED


#include "CrossChat/EventLoop.h"
#include "CrossChat/TcpConnection.h"
#include "CrossChat/TcpListener.h"
#include "CrossChat/TlsChannel.h"
#include "CrossChat/TlsClientContext.h"
#include "CrossChat/TlsServerContext.h"
#include "Poco/Net/SocketAddress.h"
#include "Poco/Net/StreamSocket.h"
#include <memory>
#include <string>
#include <vector>


namespace CrossChat {
namespace Test {


struct X509End
	/// One end of an X.509-mode channel and what happened to it.
{
	TlsChannel::Ptr channel;
	bool established = false;
	std::string version;
	std::string subject;
	std::string received;
	int closeCount = 0;
	std::string closeReason;

	void attach(const TlsChannel::Ptr& pChannel, bool echo)
	{
		channel = pChannel;
		channel->setEstablishedHandler([this] {
			established = true;
			version = channel->protocolVersion();
			subject = channel->peerCertificateSubject();
		});
		channel->setDataHandler([this, echo](const char* data, std::size_t size) {
			received.append(data, size);
			if (echo) channel->send(std::string(data, size));
		});
		channel->setCloseHandler([this](const std::string& reason) {
			++closeCount;
			closeReason = reason;
		});
	}

	bool closed() const
	{
		return closeCount > 0;
	}
};


class X509EchoServer
	/// Accepts on 127.0.0.1:0 and runs an echoing X.509-mode server channel per connection,
	/// with whatever certificate context is current at accept time.
{
public:
	X509EchoServer(EventLoop& loop, const TlsServerContext::Ptr& pContext):
		_listener(loop, Poco::Net::SocketAddress("127.0.0.1", 0), [this, &loop, pContext](const Poco::Net::StreamSocket& socket) {
			ends.push_back(std::make_unique<X509End>());
			ends.back()->attach(TlsChannel::server(TcpConnection::adopt(loop, socket), pContext), true);
		})
	{
	}

	Poco::Net::SocketAddress address() const
	{
		return _listener.address();
	}

	std::vector<std::unique_ptr<X509End>> ends;

private:
	TcpListener _listener;
};


inline std::unique_ptr<X509End> x509Client(EventLoop& loop, const Poco::Net::SocketAddress& address,
	const TlsClientContext::Ptr& pContext, const std::string& host)
{
	auto pEnd = std::make_unique<X509End>();
	pEnd->attach(TlsChannel::client(TcpConnection::connect(loop, address), pContext, host), false);
	return pEnd;
}


} } // namespace CrossChat::Test


#endif // CrossChat_Test_X509Loopback_INCLUDED
