//
// ConnectionBudget.h
//
// Library: Relay
// Internal header: how many connections of each kind the relay holds, in all and per source,
// with places reserved before any work is done for a connection.
// This is an internal header file, you should not include this.
//


#ifndef CrossChat_Relay_ConnectionBudget_INCLUDED
#define CrossChat_Relay_ConnectionBudget_INCLUDED


#include "SourceKey.h"
#include <array>
#include <cstddef>
#include <mutex>
#include <unordered_map>


namespace CrossChat {
namespace Relay {


class ConnectionBudget;


enum class ConnectionKind
	/// What a connection is used for; each kind has its own bounds.
{
	HTTP,      ///< Accepted on the main port, speaking HTTP (before any upgrade).
	CONTROL,   ///< An upgraded control channel.
	TUNNEL,    ///< One joined end of a tunnel.
	PROBE,     ///< A NAT probe connection (answered or lingering).
	COUNT
};


class ConnectionSlot
	/// One reserved place in a ConnectionBudget (kind and source); released when destroyed.
	/// Move-only.
	///
	/// Thread rules: may be moved between threads; not used by two threads at once.
	/// Ownership: does not own the budget, which must outlive it.
{
public:
	ConnectionSlot() = default;
	ConnectionSlot(ConnectionSlot&& other) noexcept;
	ConnectionSlot& operator=(ConnectionSlot&& other) noexcept;
	ConnectionSlot(const ConnectionSlot&) = delete;
	ConnectionSlot& operator=(const ConnectionSlot&) = delete;
	~ConnectionSlot();

	bool valid() const;
	void release();
		/// Gives the place back now (also done by the destructor).

private:
	friend class ConnectionBudget;
	ConnectionSlot(ConnectionBudget* pBudget, ConnectionKind kind, const SourceKey& source);

	ConnectionBudget* _pBudget = nullptr;
	ConnectionKind _kind = ConnectionKind::HTTP;
	SourceKey _source;
};


class ConnectionBudget
	/// Counts connections per kind, in all (at most total(kind)) and per source (at most
	/// perSource(kind)); a place is reserved with tryReserve() before anything is read from or
	/// allocated for a connection, so a refused connection costs one accept and one close.
	/// The totals are derived by the server from the descriptor limit (they add up to less
	/// than it), so no kind can starve another and no source can take more than its share.
	///
	/// Thread rules: safe to call from any thread.
{
public:
	static constexpr std::size_t KINDS = static_cast<std::size_t>(ConnectionKind::COUNT);

	struct Limits
	{
		std::array<unsigned, KINDS> total{};       ///< 0 refuses every connection of the kind.
		std::array<unsigned, KINDS> perSource{};
	};

	enum class Refusal
	{
		NONE,
		TOTAL,     ///< The kind is at its total.
		SOURCE     ///< The source is at its share of the kind.
	};

	explicit ConnectionBudget(const Limits& limits);

	ConnectionSlot tryReserve(ConnectionKind kind, const SourceKey& source, Refusal* pRefusal = nullptr,
		bool sourceExempt = false);
		/// A valid slot, or an empty one (and the reason in *pRefusal). sourceExempt skips the
		/// per-source bound (a trusted proxy carries many clients' connections).

	unsigned count(ConnectionKind kind) const;
	unsigned countOf(ConnectionKind kind, const SourceKey& source) const;
	unsigned total(ConnectionKind kind) const;
	unsigned perSource(ConnectionKind kind) const;
	std::size_t sources() const;
		/// Sources holding at least one place.

	static const char* kindName(ConnectionKind kind);

private:
	friend class ConnectionSlot;
	void release(ConnectionKind kind, const SourceKey& source);

	using Counts = std::array<unsigned, KINDS>;

	const Limits _limits;
	mutable std::mutex _mutex;
	Counts _counts{};
	std::unordered_map<SourceKey, Counts, SourceKeyHash> _bySource;
};


} } // namespace CrossChat::Relay


#endif // CrossChat_Relay_ConnectionBudget_INCLUDED
