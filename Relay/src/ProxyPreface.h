//
// ProxyPreface.h
//
// Library: Relay
// Internal header: reads the PROXY protocol v2 header a trusted proxy sends before anything
// else on a connection (before TLS, too), within a deadline.
// This is an internal header file, you should not include this.
//


#ifndef CrossChat_Relay_ProxyPreface_INCLUDED
#define CrossChat_Relay_ProxyPreface_INCLUDED


#include "ProxyProtocol.h"
#include "CrossChat/TcpConnection.h"
#include "CrossChat/TimerHandle.h"
#include <chrono>
#include <functional>
#include <memory>
#include <string>


namespace CrossChat {
namespace Relay {


class ProxyPreface: public std::enable_shared_from_this<ProxyPreface>
	/// Takes over a new connection's handlers until its PROXY v2 header (ProxyHeader) is
	/// complete, then calls onHeader with the header (PROXY or LOCAL) and the bytes that came
	/// after it, leaving the connection without handlers for the next owner. A connection that
	/// starts with anything else, sends a malformed header, closes, or has not sent a whole
	/// header within timeout is reset and onFailure is called with the reason.
	///
	/// Thread rules: must be used from the connection's loop thread; callbacks run on it.
	/// Ownership: kept alive by the connection's handlers while it waits.
{
public:
	using HeaderHandler = std::function<void(const ProxyHeader& header, const std::string& rest)>;
	using FailureHandler = std::function<void(const std::string& reason)>;

	static void read(const TcpConnection::Ptr& pConnection, std::chrono::milliseconds timeout,
		HeaderHandler onHeader, FailureHandler onFailure);

private:
	ProxyPreface(const TcpConnection::Ptr& pConnection, HeaderHandler onHeader, FailureHandler onFailure);
	void onData(const char* data, std::size_t size);
	void fail(const std::string& reason);
	void finish();

	std::weak_ptr<TcpConnection> _pConnection;
	HeaderHandler _onHeader;
	FailureHandler _onFailure;
	std::string _buffer;
	TimerHandle _deadline;
	bool _done = false;
};


} } // namespace CrossChat::Relay


#endif // CrossChat_Relay_ProxyPreface_INCLUDED
