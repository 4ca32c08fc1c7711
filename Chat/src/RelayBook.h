//
// RelayBook.h
//
// Library: Chat
// Private: what an identity keeps about relays in its database: handle pins, its own mailbox
// pre-keys, and the deposits it made.
// This is an internal header file, it is not installed; do not include it from outside Chat/src.
//


#ifndef CrossChat_Chat_RelayBook_INCLUDED
#define CrossChat_Chat_RelayBook_INCLUDED


#include "CrossChat/Chat/ChatStore.h"
#include "CrossChat/PeerId.h"
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>


namespace CrossChat {
namespace Chat {


struct HandlePin
	/// handle@relay as first used: the peer it named then.
{
	std::string handle;
	std::string relay;
	PeerId peer;
	std::int64_t pinnedMs = 0;
	std::int64_t seenMs = 0;     ///< When a relay last confirmed it.
};


struct OwnPrekey
	/// One of our mailbox pre-keys, with its private key.
{
	std::uint64_t id = 0;
	std::string privateKey;      ///< 32 bytes (X25519).
	std::string publicKey;       ///< 32 bytes.
	std::int64_t createdMs = 0;
	std::int64_t expiresMs = 0;  ///< Published until then.
	std::int64_t deleteMs = 0;   ///< The private key is deleted then (envelopes sealed to it have expired).
};


class RelayBook
	/// The tables handle_pins, own_prekeys and mailbox_deposits of ChatStore's database (schema
	/// version 2, ChatStoreSchema). Every value is bound as a parameter.
	///
	/// Thread rules: loop thread only (ChatStore's). Ownership: does not own the ChatStore,
	/// which must stay open while this is used.
{
public:
	explicit RelayBook(ChatStore& store);

	std::optional<HandlePin> pin(const std::string& handle, const std::string& relay);
	void setPin(const std::string& handle, const std::string& relay, const PeerId& peer, std::int64_t nowMs);
		/// Pins (or re-pins, when the user chose the new key) handle@relay to peer.
	void confirmPin(const std::string& handle, const std::string& relay, std::int64_t nowMs);
	bool forgetPin(const std::string& handle, const std::string& relay);

	std::vector<OwnPrekey> prekeys();
		/// Every pre-key whose private key we still hold, newest first.
	void addPrekey(const OwnPrekey& prekey);
	std::size_t deletePrekeys(std::int64_t nowMs);
		/// Deletes the private keys whose time has come; returns how many.

	std::set<std::string> deposited(const PeerId& peer, const std::string& relay);
		/// The IDs of the peer's outbox messages (still waiting) already deposited at relay.
	void markDeposited(const PeerId& peer, const std::string& messageId, const std::string& relay, std::int64_t nowMs);

private:
	ChatStore& _store;
};


} } // namespace CrossChat::Chat


#endif // CrossChat_Chat_RelayBook_INCLUDED
