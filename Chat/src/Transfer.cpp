//
// Transfer.cpp
//
// Library: Chat
// The names of transfer states and directions, and the progress meter.
//


#include "CrossChat/Chat/Transfer.h"
#include "TransferHost.h"
#include "CrossChat/Chat/ChatStore.h"
#include "CrossChat/Text.h"
#include "Poco/Exception.h"
#include "Poco/Logger.h"


namespace CrossChat {
namespace Chat {


const char* transferStateName(TransferState state)
{
	switch (state)
	{
	case TransferState::PREPARING: return "preparing";
	case TransferState::OFFERED: return "offered";
	case TransferState::TRANSFERRING: return "transferring";
	case TransferState::VERIFYING: return "verifying";
	case TransferState::COMPLETE: return "complete";
	case TransferState::REJECTED: return "rejected";
	case TransferState::CANCELLED: return "cancelled";
	default: return "failed";
	}
}


const char* transferDirectionName(TransferDirection direction)
{
	return direction == TransferDirection::INCOMING ? "in" : "out";
}


bool transferStateFinal(TransferState state)
{
	return state == TransferState::COMPLETE || state == TransferState::REJECTED || state == TransferState::CANCELLED
		|| state == TransferState::FAILED;
}


void recordTransferState(TransferHost& host, const PeerId& peer, TransferDirection direction, const std::string& id,
	const std::string& name, TransferState state, const std::string& error)
{
	ChatStore* pStore = host.store();
	if (!pStore) return;
	try
	{
		pStore->setTransferState(peer, direction, id, state, error);
	}
	catch (const Poco::Exception& exc)
	{
		Poco::Logger::get("CrossChat.Chat").error("cannot record the state of %s: %s", Text::quoted(name), exc.displayText());
	}
}


bool transferReportDue(TransferHost& host, Scheduler::TimePoint& lastReport, bool progressOnly)
{
	const auto now = host.scheduler().now();
	if (progressOnly && now - lastReport < host.config().progressInterval) return false;
	lastReport = now;
	return true;
}


constexpr std::chrono::seconds ProgressMeter::RATE_WINDOW;


void ProgressMeter::add(TimePoint now, std::uint64_t bytes)
{
	_total += bytes;
	_samples.emplace_back(now, _total);
	// Keep one sample older than the window: the base the rate is measured from.
	while (_samples.size() > 2 && _samples[1].first < now - RATE_WINDOW) _samples.pop_front();
}


double ProgressMeter::rate(TimePoint now) const
{
	if (_samples.size() < 2) return 0;
	const auto& base = _samples.front();   // the last sample before the window, or the first in it
	const double seconds = std::chrono::duration<double>(now - base.first).count();
	if (seconds <= 0) return 0;
	if (now - _samples.back().first > RATE_WINDOW) return 0;   // nothing moved for a while
	return static_cast<double>(_total - base.second) / seconds;
}


void ProgressMeter::clear()
{
	_samples.clear();
	_total = 0;
}


} } // namespace CrossChat::Chat
