//
// TransferWindow.cpp
//
// Library: Chat
//


#include "TransferWindow.h"
#include <algorithm>
#include <limits>


namespace CrossChat {
namespace Chat {


TransferWindow::TransferWindow(std::size_t blockSize, Params params):
	_blockSize(std::max<std::size_t>(blockSize, 1)),
	_params(params)
{
	reset();
}


TransferWindow::TransferWindow(std::size_t blockSize):
	TransferWindow(blockSize, Params())
{
}


void TransferWindow::reset()
{
	_window = static_cast<double>(std::max(_params.initial, 2 * _blockSize));
	_base = Duration::zero();
	_queue = Duration::zero();
	_haveBase = false;
	_slowStart = true;
	_sinceHalving = std::numeric_limits<double>::infinity();   // the first halving may come at once
	clamp();
}


bool TransferWindow::allows(std::size_t inFlight) const
{
	return inFlight == 0 || static_cast<double>(inFlight + _blockSize) <= _window;
}


TransferWindow::Duration TransferWindow::target() const
{
	return std::chrono::duration_cast<Duration>(_params.target) + _base / 4;
}


void TransferWindow::sample(Duration delay)
{
	if (delay < Duration::zero()) delay = Duration::zero();
	if (!_haveBase || delay < _base)
	{
		_base = delay;
		_haveBase = true;
	}
	_queue = delay - _base;
	const double target = static_cast<double>(std::max<Duration::rep>(this->target().count(), 1));
	const double queue = static_cast<double>(_queue.count());
	const double block = static_cast<double>(_blockSize);
	_sinceHalving += block;
	if (_slowStart)
	{
		if (queue < target / 2)
		{
			_window += block;
			clamp();
			return;
		}
		_slowStart = false;
	}
	if (queue > 2 * target)
	{
		if (_sinceHalving >= _window)
		{
			_window /= 2;
			_sinceHalving = 0;
		}
	}
	else
	{
		const double off = std::max(-1.0, std::min(1.0, (target - queue) / target));
		_window += off * block * block / _window;
	}
	clamp();
}


void TransferWindow::clamp()
{
	const double minimum = static_cast<double>(_blockSize);
	const double maximum = static_cast<double>(std::max(_params.maximum, 2 * _blockSize));
	_window = std::max(minimum, std::min(maximum, _window));
}


std::size_t TransferWindow::bytes() const
{
	return static_cast<std::size_t>(_window);
}


TransferWindow::Duration TransferWindow::baseDelay() const
{
	return _base;
}


TransferWindow::Duration TransferWindow::queueDelay() const
{
	return _queue;
}


bool TransferWindow::slowStart() const
{
	return _slowStart;
}


} } // namespace CrossChat::Chat
