//
// CommitTicket.h
//
// Library: Relay
// Internal header: the promise that a write has reached the relay's database.
// This is an internal header file, you should not include this.
//


#ifndef CrossChat_Relay_CommitTicket_INCLUDED
#define CrossChat_Relay_CommitTicket_INCLUDED


#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>


namespace CrossChat {
namespace Relay {


class CommitTicket: public std::enable_shared_from_this<CommitTicket>
	/// Completed once, with the outcome of a write (true: durable; false: it failed). An answer
	/// that must not go out before its write is durable (an announce, a mailbox deposit)
	/// carries a ticket; the HTTP front sends the answer when the ticket completes.
	///
	/// Thread rules: safe to call from any thread; the handler given to then() runs on the
	/// thread that completes the ticket (the store's writer thread), or at once on the caller's
	/// thread if it is complete already, so it must only hand work over (post() to a loop).
{
public:
	using Ptr = std::shared_ptr<CommitTicket>;
	using Handler = std::function<void(bool ok)>;

	static Ptr create()
	{
		return std::make_shared<CommitTicket>();
	}

	static Ptr completed(bool ok)
		/// A ticket that needs no waiting (nothing to persist).
	{
		Ptr ticket = create();
		ticket->complete(ok);
		return ticket;
	}

	void complete(bool ok)
		/// The first call counts; later ones are ignored.
	{
		Handler handler;
		{
			std::lock_guard<std::mutex> lock(_mutex);
			if (_outcome) return;
			_outcome = ok;
			handler.swap(_handler);
		}
		if (handler) handler(ok);
	}

	void then(Handler handler)
		/// Replaces any earlier handler.
	{
		std::optional<bool> outcome;
		{
			std::lock_guard<std::mutex> lock(_mutex);
			if (!_outcome)
			{
				_handler = std::move(handler);
				return;
			}
			outcome = _outcome;
		}
		handler(*outcome);
	}

	static Ptr all(const std::vector<Ptr>& tickets)
		/// A ticket that completes when every one of tickets has (true if all were true); an
		/// empty list gives a completed one. Null entries count as completed with true.
	{
		Ptr joint = create();
		struct Count
		{
			std::mutex mutex;
			std::size_t left = 0;
			bool ok = true;
		};
		auto pCount = std::make_shared<Count>();
		pCount->left = tickets.size();
		if (tickets.empty())
		{
			joint->complete(true);
			return joint;
		}
		for (const Ptr& ticket: tickets)
		{
			auto done = [joint, pCount](bool ok)
			{
				bool last = false;
				bool result = false;
				{
					std::lock_guard<std::mutex> lock(pCount->mutex);
					pCount->ok = pCount->ok && ok;
					last = --pCount->left == 0;
					result = pCount->ok;
				}
				if (last) joint->complete(result);
			};
			if (ticket) ticket->then(done);
			else done(true);
		}
		return joint;
	}

	std::function<void(bool)> completer()
		/// A function that completes this ticket (for RelayStore::submit()). The ticket must be
		/// owned by a shared_ptr (create()).
	{
		Ptr self = shared_from_this();
		return [self](bool ok) { self->complete(ok); };
	}

	std::optional<bool> outcome() const
	{
		std::lock_guard<std::mutex> lock(_mutex);
		return _outcome;
	}

	CommitTicket() = default;
	CommitTicket(const CommitTicket&) = delete;
	CommitTicket& operator=(const CommitTicket&) = delete;

private:
	mutable std::mutex _mutex;
	std::optional<bool> _outcome;
	Handler _handler;
};


} } // namespace CrossChat::Relay


#endif // CrossChat_Relay_CommitTicket_INCLUDED
