//
// PartFile.cpp
//
// Library: Chat
//


#include "PartFile.h"
#include "SafeFileName.h"
#include "Poco/Exception.h"
#include "Poco/Path.h"
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>


namespace CrossChat {
namespace Chat {


namespace {


std::string systemError(const std::string& what, const std::string& path, int error)
{
	return what + " " + path + ": " + std::strerror(error);
}


bool exists(const std::string& path)
{
	struct stat st;
	return ::lstat(path.c_str(), &st) == 0 || errno != ENOENT;
}


void syncDirectory(const std::string& path)
	/// The new name survives a power loss; best effort (some file systems refuse).
{
	const std::string directory = Poco::Path(path).parent().toString();
	const int fd = ::open(directory.empty() ? "." : directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) return;
	::fsync(fd);
	::close(fd);
}


bool renameNoReplace(const std::string& from, const std::string& to, int& error)
	/// rename() that never replaces an existing file: renameat2(RENAME_NOREPLACE), or, where the
	/// file system does not support it, link() + unlink() (link refuses an existing name too).
{
	if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0) return true;
	error = errno;
	if (error != EINVAL && error != ENOSYS) return false;
	if (::link(from.c_str(), to.c_str()) != 0)
	{
		error = errno;
		return false;
	}
	::unlink(from.c_str());
	return true;
}


} // namespace


PartFile::PartFile(int fd, std::string finalPath, const BlockPlan& plan):
	_fd(fd),
	_finalPath(std::move(finalPath)),
	_partPath(_finalPath + ".part"),
	_plan(plan),
	_written(plan.blockCount(), false)
{
}


PartFile::~PartFile()
{
	closeFile();
}


PartFile::Ptr PartFile::create(const std::string& directory, const std::string& safeName, const BlockPlan& plan)
{
	for (unsigned number = 0; number <= MAX_NUMBER; ++number)
	{
		const std::string name = number == 0 ? safeName : SafeFileName::numbered(safeName, number);
		const std::string finalPath = Poco::Path(Poco::Path::forDirectory(directory), name).toString();
		const std::string partPath = Poco::Path(Poco::Path::forDirectory(directory), SafeFileName::partName(name)).toString();
		if (exists(finalPath)) continue;
		const int fd = ::open(partPath.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0)
		{
			if (errno == EEXIST) continue;
			throw Poco::FileException(systemError("cannot create", partPath, errno));
		}
		if (::fchmod(fd, 0600) != 0 || ::ftruncate(fd, static_cast<off_t>(plan.size)) != 0)
		{
			const int error = errno;
			::close(fd);
			::unlink(partPath.c_str());
			throw Poco::FileException(systemError("cannot set up", partPath, error));
		}
		return Ptr(new PartFile(fd, finalPath, plan));
	}
	throw Poco::FileExistsException("no free name for " + safeName + " in " + directory);
}


PartFile::Ptr PartFile::reopen(const std::string& finalPath, const BlockPlan& plan)
{
	const std::string partPath = finalPath + ".part";
	const int fd = ::open(partPath.c_str(), O_RDWR | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
	{
		if (errno == ENOENT) throw Poco::FileNotFoundException(partPath);
		throw Poco::FileException(systemError("cannot open", partPath, errno));
	}
	struct stat st;
	std::string problem;
	if (::fstat(fd, &st) != 0)
		problem = systemError("cannot stat", partPath, errno);
	else if (!S_ISREG(st.st_mode))
		problem = partPath + " is not a regular file";
	else if (st.st_uid != ::geteuid())
		problem = partPath + " belongs to another user";
	else if (static_cast<std::uint64_t>(st.st_size) != plan.size)
		problem = partPath + " has " + std::to_string(st.st_size) + " bytes, not " + std::to_string(plan.size);
	if (!problem.empty())
	{
		::close(fd);
		throw Poco::FileException(problem);
	}
	return Ptr(new PartFile(fd, finalPath, plan));
}


const std::string& PartFile::finalPath() const
{
	return _finalPath;
}


const std::string& PartFile::partPath() const
{
	return _partPath;
}


void PartFile::restore(const std::vector<bool>& written)
{
	for (std::size_t i = 0; i < written.size() && i < _written.size(); ++i)
		if (written[i]) _written[i] = true;
}


std::vector<std::uint32_t> PartFile::recover(const std::vector<bool>& written, const std::vector<Sha256Digest>& hashes)
{
	if (_fd < 0) throw Poco::FileException("recover in a closed download " + _partPath);
	std::vector<std::uint32_t> recovered;
	std::string buffer;
	const std::uint32_t count = _plan.blockCount();
	for (std::uint32_t block = 0; block < count && block < hashes.size(); ++block)
	{
		if ((block < written.size() && written[block]) || _written[block]) continue;
		const off_t offset = static_cast<off_t>(_plan.blockOffset(block));
		const std::uint32_t length = _plan.blockLength(block);
		if (length > 0)
		{
			// A block never written is a hole: the next data starts after it (or there is none).
			const off_t data = ::lseek(_fd, offset, SEEK_DATA);
			if (data < 0 && errno == ENXIO) break;   // no data after offset: nothing more to find
			if (data >= offset + static_cast<off_t>(length)) continue;
		}
		readBlock(block, buffer);
		if (Sha256::of(buffer.data(), buffer.size()) != hashes[block]) continue;
		_written[block] = true;
		recovered.push_back(block);
	}
	return recovered;
}


void PartFile::write(std::uint32_t block, const std::string& data)
{
	if (_fd < 0) throw Poco::FileException("write to a closed download " + _partPath);
	if (block >= _written.size() || data.size() != _plan.blockLength(block))
		throw Poco::InvalidArgumentException("a block that does not fit the file");
	const char* p = data.data();
	std::size_t left = data.size();
	off_t offset = static_cast<off_t>(_plan.blockOffset(block));
	while (left > 0)
	{
		const ssize_t written = ::pwrite(_fd, p, left, offset);
		if (written < 0)
		{
			if (errno == EINTR) continue;
			throw Poco::FileException(systemError("cannot write", _partPath, errno));
		}
		p += written;
		left -= static_cast<std::size_t>(written);
		offset += written;
	}
	_written[block] = true;
	advance(block, &data);
}


bool PartFile::writeVerified(std::uint32_t block, const std::string& data, const Sha256Digest& expected)
{
	if (Sha256::of(data.data(), data.size()) != expected) return false;
	write(block, data);
	return true;
}


void PartFile::sync()
{
	if (_fd >= 0 && ::fdatasync(_fd) != 0) throw Poco::FileException(systemError("cannot sync", _partPath, errno));
}


bool PartFile::check(const Sha256Digest& expected)
{
	if (_checked >= 0) return _checked == 1;
	advance(static_cast<std::uint32_t>(_written.size()), nullptr);
	if (_hashed != _written.size()) return false;
	_checked = _stream.finish() == expected ? 1 : 0;
	return _checked == 1;
}


std::string PartFile::finish()
{
	if (_fd < 0) throw Poco::FileException("the download " + _partPath + " is closed");
	if (::fsync(_fd) != 0) throw Poco::FileException(systemError("cannot sync", _partPath, errno));
	closeFile();
	std::string target = _finalPath;
	const Poco::Path final(_finalPath);
	const std::string directory = final.parent().toString();
	const std::string name = final.getFileName();
	for (unsigned number = 1;; ++number)
	{
		int error = 0;
		if (renameNoReplace(_partPath, target, error)) break;
		if (error != EEXIST || number > MAX_NUMBER)
			throw Poco::FileException(systemError("cannot rename " + _partPath + " to", target, error));
		// Someone made a file of that name meanwhile: it stays, ours takes the next free name.
		target = Poco::Path(Poco::Path::forDirectory(directory), SafeFileName::numbered(name, number)).toString();
	}
	syncDirectory(target);
	_finalPath = target;
	return target;
}


void PartFile::remove()
{
	closeFile();
	::unlink(_partPath.c_str());
}


std::uint32_t PartFile::hashedBlocks() const
{
	return _hashed;
}


std::uint64_t PartFile::rereadBytes() const
{
	return _reread;
}


void PartFile::advance(std::uint32_t justWritten, const std::string* pData)
{
	std::string buffer;
	while (_hashed < _written.size() && _written[_hashed])
	{
		if (_hashed == justWritten && pData)
		{
			_stream.update(pData->data(), pData->size());
		}
		else
		{
			readBlock(_hashed, buffer);
			_stream.update(buffer.data(), buffer.size());
			_reread += buffer.size();
		}
		++_hashed;
	}
}


void PartFile::readBlock(std::uint32_t block, std::string& buffer)
{
	buffer.resize(_plan.blockLength(block));
	char* p = &buffer[0];
	std::size_t left = buffer.size();
	off_t offset = static_cast<off_t>(_plan.blockOffset(block));
	while (left > 0)
	{
		const ssize_t got = ::pread(_fd, p, left, offset);
		if (got < 0)
		{
			if (errno == EINTR) continue;
			throw Poco::FileException(systemError("cannot read", _partPath, errno));
		}
		if (got == 0) throw Poco::FileException(_partPath + " is shorter than expected");
		p += got;
		left -= static_cast<std::size_t>(got);
		offset += got;
	}
}


void PartFile::closeFile()
{
	if (_fd >= 0)
	{
		::close(_fd);
		_fd = -1;
	}
}


} } // namespace CrossChat::Chat
