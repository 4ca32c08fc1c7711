//
// ControlHub.h
//
// Library: Relay
// Internal header: which peers are online (have an authenticated control channel), and
// cross-thread delivery of messages to their channels.
// This is an internal header file, you should not include this.
//


#ifndef CrossChat_Relay_ControlHub_INCLUDED
#define CrossChat_Relay_ControlHub_INCLUDED


#include "CrossChat/EventLoop.h"
#include "CrossChat/PeerId.h"
#include "Poco/Net/SocketAddress.h"
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>


namespace CrossChat {
namespace Relay {


class ControlSession;
class PeerRegistry;
struct PunchMessage;


class ControlHub
	/// Maps a peer ID to its one authenticated control channel.
	///
	/// Keeps the registry's online flags (PeerRegistry::setOnline) in step, under its own lock,
	/// so the directory lists exactly the online peers.
	///
	/// Thread rules: safe to call from any thread. Messages for a channel are post()ed to its
	/// loop and dropped if the channel has gone meanwhile.
	/// Ownership: holds weak references only; the loops own the sessions. Does not own the registry.
{
public:
	struct Entry
	{
		EventLoop* pLoop = nullptr;
		std::weak_ptr<ControlSession> session;
		std::string publicKeyRaw;
		Poco::Net::SocketAddress observed;
		std::uint64_t serial = 0;
		std::string token;   ///< The access token's id the channel was opened with (private relays), or "".
	};

	explicit ControlHub(PeerRegistry& registry);

	std::uint64_t nextSerial();

	bool add(const PeerId& id, Entry entry, std::size_t maxPerToken = 0);
		/// Registers the channel; a channel registered before for the ID is told it was replaced
		/// (error "replaced", then closed). False (nothing registered) if entry.token already has
		/// maxPerToken channels (0: no quota).

	void endToken(const std::string& token);
		/// The access token was revoked or has expired: every channel opened with it is told so
		/// (error "token_revoked") and closed.

	bool mailArrived(const PeerId& id);
		/// Tells the peer's channel that its mailbox has a new envelope; false if it is not online.

	void remove(const PeerId& id, std::uint64_t serial);
		/// Unregisters the channel if it is still the one registered for the ID.

	std::optional<Entry> find(const PeerId& id) const;
	bool online(const PeerId& id) const;
	std::size_t size() const;

	bool invite(const PeerId& id, const std::string& token, const PeerId& from, const std::string& name);
		/// Queues an invite on the peer's channel; false if the peer is not online.

	bool punch(const PeerId& id, const PeerId& from, const PunchMessage& punch, const Poco::Net::SocketAddress& fromObserved);
		/// Queues a punch message from the authenticated peer from (seen at fromObserved) on the
		/// peer's channel; false if the peer is not online.

private:
	void releaseTokenLocked(const std::string& token);

	PeerRegistry& _registry;
	mutable std::mutex _mutex;
	std::unordered_map<PeerId, Entry> _entries;
	std::unordered_map<std::string, std::uint32_t> _perToken;
	std::atomic<std::uint64_t> _serial{0};
};


} } // namespace CrossChat::Relay


#endif // CrossChat_Relay_ControlHub_INCLUDED
