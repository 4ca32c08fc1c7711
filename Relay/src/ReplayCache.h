//
// ReplayCache.h
//
// Library: Relay
// Internal header: the nonces of accepted signed requests, remembered for the replay window,
// partitioned per source.
// This is an internal header file, you should not include this.
//


#ifndef CrossChat_Relay_ReplayCache_INCLUDED
#define CrossChat_Relay_ReplayCache_INCLUDED


#include "SourceKey.h"
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>


namespace CrossChat {
namespace Relay {


class ReplayCache
	/// Remembers 64-bit fingerprints of (key, nonce) pairs for at least window, at most
	/// window + window/SLOTS. Fingerprints are a keyed SHA-256 (a random key per process), so
	/// nobody can make two pairs collide on purpose; an accidental collision (probability
	/// about n / 2^64) refuses one honest request as a replay.
	///
	/// Entries live in SLOTS + 1 time slots, each a flat open-addressing set: an entry costs
	/// 16 to 32 bytes and expiry drops a whole slot at once. Each source (SourceKey of the
	/// request's client address) may hold at most perSource live entries, and all sources
	/// together at most capacity: a source that has used its share gets SOURCE_FULL, while
	/// every other source keeps its own. The server sizes capacity above what it can verify in
	/// one window, so the cache never limits honest signed requests below that rate.
	///
	/// Thread rules: safe to call from any thread.
{
public:
	using Clock = std::chrono::steady_clock;
	static constexpr std::size_t SLOTS = 12;

	enum class Result
	{
		FRESH,         ///< Remembered now.
		REPLAYED,      ///< Seen within the window.
		SOURCE_FULL,   ///< The source holds perSource live entries.
		FULL           ///< All sources together hold capacity live entries.
	};

	ReplayCache(std::size_t capacity, std::size_t perSource, Clock::duration window);

	static std::uint64_t fingerprint(const std::string& publicKeyRaw, const std::string& nonce);

	Result insert(const SourceKey& source, std::uint64_t fingerprint, Clock::time_point now);

	std::size_t size() const;
		/// Live entries (expired slots are dropped on insert).
	std::size_t sources() const;
	std::size_t capacity() const;
	std::size_t perSource() const;

private:
	class FlatSet
		/// Open addressing, linear probing, 0 means empty; grows at half load.
	{
	public:
		bool contains(std::uint64_t value) const;
		void insert(std::uint64_t value);
		std::size_t size() const;
		void clear();

	private:
		std::vector<std::uint64_t> _table;
		std::size_t _size = 0;
	};

	struct Slot
	{
		std::int64_t index = -1;   ///< Which period of window/SLOTS this slot holds.
		FlatSet set;
		std::unordered_map<SourceKey, std::uint32_t, SourceKeyHash> perSource;
	};

	void expire(std::int64_t current);

	const std::size_t _capacity;
	const std::size_t _perSource;
	const Clock::duration _period;
	const Clock::time_point _origin;
	mutable std::mutex _mutex;
	std::array<Slot, SLOTS + 1> _slots;
	std::unordered_map<SourceKey, std::uint32_t, SourceKeyHash> _live;
	std::size_t _size = 0;
};


} } // namespace CrossChat::Relay


#endif // CrossChat_Relay_ReplayCache_INCLUDED
