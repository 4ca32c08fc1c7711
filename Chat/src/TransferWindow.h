//
// TransferWindow.h
//
// Library: Chat
// Private: how much file data a receiver keeps requested, so that a transfer fills the path
// without building a queue that chat messages would wait behind.
// This is an internal header file, it is not installed; do not include it from outside Chat/src.
//


#ifndef CrossChat_Chat_TransferWindow_INCLUDED
#define CrossChat_Chat_TransferWindow_INCLUDED


#include <chrono>
#include <cstddef>
#include <cstdint>


namespace CrossChat {
namespace Chat {


class TransferWindow
	/// The receiver's window: the bytes of blocks requested and not yet received. Every byte in
	/// it sits somewhere between the two ends (the sender's queue and socket, the network, a
	/// relay), and a chat message from the sender waits behind the part that is in the sockets
	/// and the network. So the window is sized by delay, as LEDBAT (RFC 6817) sizes a
	/// background flow's window:
	///   - each sample is the time from requesting a block (the first of a file-get) to the
	///     arrival of its first bytes: the round trip plus the time the data already in the
	///     window ahead of it takes to drain;
	///   - the smallest sample since reset() is the base delay (the path's round trip); what a
	///     sample has beyond it is queueing delay;
	///   - below the target queueing delay (target, plus a quarter of the base delay so that a
	///     long, jittery path still fills), the window grows: by one block per sample while
	///     the queueing delay stays under half the target (slow start), then by about one block
	///     per window's worth of samples, in proportion to how far under the target it is;
	///     above it, it shrinks in the same proportion, and halves (at most once per window)
	///     when the queueing delay exceeds twice the target.
	/// The window stays within [minimum, maximum] and holds at least one block.
	///
	/// Thread rules: a plain value; no clock of its own (samples are durations).
{
public:
	using Duration = std::chrono::steady_clock::duration;

	struct Params
	{
		std::chrono::microseconds target{5000};   ///< Queueing delay the window aims at (plus base / 4).
		std::size_t initial = 512 * 1024;          ///< Bytes after reset() (at least 2 blocks).
		std::size_t maximum = 32 * 1024 * 1024;    ///< Bytes (at least 2 blocks).
	};

	TransferWindow(std::size_t blockSize, Params params);
	explicit TransferWindow(std::size_t blockSize);

	void reset();
		/// A new path: the base delay is forgotten and the window starts small again.

	bool allows(std::size_t inFlight) const;
		/// Whether another block may be requested with inFlight bytes outstanding: always when
		/// nothing is, else if the block fits in the window.

	void sample(Duration delay);
		/// The first bytes of a block arrived delay after it was requested.

	std::size_t bytes() const;
		/// The window now.
	Duration baseDelay() const;
		/// The smallest sample since reset() (zero before the first).
	Duration queueDelay() const;
		/// The last sample's delay beyond the base.
	Duration target() const;
		/// The queueing delay aimed at now.
	bool slowStart() const;

private:
	void clamp();

	const std::size_t _blockSize;
	const Params _params;
	double _window = 0;
	Duration _base = Duration::zero();
	Duration _queue = Duration::zero();
	bool _haveBase = false;
	bool _slowStart = true;
	double _sinceHalving = 0;   ///< Bytes' worth of samples since the last halving.
};


} } // namespace CrossChat::Chat


#endif // CrossChat_Chat_TransferWindow_INCLUDED
