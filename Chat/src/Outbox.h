//
// Outbox.h
//
// Library: Chat
// Private: the messages to one peer that have no receipt yet, in order.
// This is an internal header file, it is not installed; do not include it from outside Chat/src.
//


#ifndef CrossChat_Chat_Outbox_INCLUDED
#define CrossChat_Chat_Outbox_INCLUDED


#include "CrossChat/Scheduler.h"
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <vector>


namespace CrossChat {
namespace Chat {


class Outbox
	/// The send queue of one peer: every message accepted for it and not yet acknowledged or
	/// refused, in the order it was accepted. A message leaves only on its receipt (acknowledge())
	/// or on the peer's refusal (refuse()); every new session gets the unacknowledged messages
	/// again, in order (unwritten()), which is why nothing is lost, reordered or (with the
	/// receiver's duplicate filter) duplicated across reconnects and path changes.
	///
	/// It also knows, per message, the session it was last written on and when: that is all the
	/// receipt watchdog needs (oldestWaiting()).
	///
	/// A plain value: no sockets, no clock of its own, no threads.
	/// Thread rules: not thread-safe; owned by one Peer on its loop thread.
{
public:
	struct Entry
	{
		std::string id;
		std::int64_t timestampMs = 0;     ///< The sender's clock, ms since the Unix epoch.
		std::string text;
		std::uint64_t writtenOn = 0;      ///< Serial of the session it was last written on (0: none).
		Scheduler::TimePoint writtenAt{}; ///< When.
	};

	void push(Entry entry);
		/// Appends a message (writtenOn is reset). Throws Poco::InvalidArgumentException if an
		/// entry with the same id is already queued.

	bool empty() const;
	std::size_t size() const;
	const std::deque<Entry>& entries() const;
	bool contains(const std::string& id) const;

	std::vector<const Entry*> unwritten(std::uint64_t session) const;
		/// The entries not yet written on session, in order (a new session gets all of them).

	void markWritten(const std::string& id, std::uint64_t session, Scheduler::TimePoint now);
		/// Records that id was written on session at now. Does nothing for an unknown id.

	std::optional<Entry> acknowledge(const std::string& id);
		/// Removes id on its receipt and returns it; empty for an unknown id (a receipt for a
		/// retransmission that was acknowledged already).

	std::optional<Entry> refuse(const std::string& id);
		/// Removes id on the peer's refusal and returns it; empty for an unknown id.

	std::optional<Scheduler::TimePoint> oldestWaiting(std::uint64_t session) const;
		/// When the oldest message was written on session, if it was written there and still
		/// waits for its receipt (the watchdog's question: "is this session still delivering?").

	void clear();

private:
	std::optional<Entry> remove(const std::string& id);

	std::deque<Entry> _entries;
};


} } // namespace CrossChat::Chat


#endif // CrossChat_Chat_Outbox_INCLUDED
