//
// TransferText.h
//
// Sample: ConsoleChat
// How crosschat writes sizes, rates and the progress of a file transfer for people.
//
// This is an internal header of the crosschat program.
//


#ifndef CrossChat_ConsoleChat_TransferText_INCLUDED
#define CrossChat_ConsoleChat_TransferText_INCLUDED


#include <cstdint>
#include <optional>
#include <string>


namespace CrossChat {


class TransferText
	/// Sizes in binary units ("100.0 MiB"), rates in decimal ones ("12.3 MB/s", as network tools
	/// show them), times left as m:ss, and the progress line of a transfer with its bar.
	///
	/// Thread rules: stateless; safe from any thread.
{
public:
	static constexpr std::size_t BAR_WIDTH = 20;

	static std::string size(std::uint64_t bytes);
		/// "812 bytes", "1.5 KiB", "100.0 MiB", "2.0 GiB".
	static std::string rate(double bytesPerSecond);
		/// "850 kB/s", "12.3 MB/s".
	static std::string duration(std::int64_t seconds);
		/// "0:42", "12:05", "1:02:03".
	static std::string bar(std::uint64_t done, std::uint64_t total);
		/// "[########------------] 40%".
	static std::string progress(std::uint64_t done, std::uint64_t total, double bytesPerSecond,
		std::optional<std::int64_t> etaSeconds, bool connected);
		/// "[########------------] 40% 40.0 of 100.0 MiB, 12.3 MB/s, 0:05 left", and
		/// " (waiting for the peer)" while it is not connected.
	static std::optional<std::uint64_t> parseSize(const std::string& text);
		/// "1500", "100K", "2.5M", "4G", "1T" (binary multiples; "KB", "KiB" alike), or nothing if
		/// text is not a size.
};


} // namespace CrossChat


#endif // CrossChat_ConsoleChat_TransferText_INCLUDED
