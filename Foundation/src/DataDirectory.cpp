//
// DataDirectory.cpp
//
// Library: Foundation
// The data directory of one identity, checked for safety and locked by one process at a time.
//


#include "CrossChat/DataDirectory.h"
#include "CrossChat/FoundationException.h"
#include "Poco/Exception.h"
#include "Poco/File.h"
#include "Poco/Path.h"
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <utility>


namespace CrossChat {


namespace {


constexpr std::size_t MAX_PID_TEXT = 32;


std::string systemError(const std::string& what, const std::string& path, int error)
{
	return what + " " + path + ": " + std::strerror(error);
}


std::string octal(mode_t mode)
{
	char text[8];
	std::snprintf(text, sizeof(text), "%04o", static_cast<unsigned>(mode & 07777));
	return text;
}


std::string withoutTrailingSlashes(std::string path)
{
	while (path.size() > 1 && path.back() == '/') path.pop_back();
	return path;
}


void create(const std::string& path)
	/// Makes the directory with mode 0700 (whatever the umask), and its missing parents.
{
	try
	{
		const Poco::Path parent = Poco::Path(path).makeDirectory().parent();
		if (parent.depth() > 0 || parent.isAbsolute()) Poco::File(parent).createDirectories();
	}
	catch (const Poco::Exception& exc)
	{
		throw DataDirectoryException("cannot create data directory " + path, exc.displayText());
	}
	if (::mkdir(path.c_str(), 0700) != 0)
	{
		if (errno == EEXIST) return;   // made meanwhile by someone else: checked like any other
		throw DataDirectoryException(systemError("cannot create data directory", path, errno));
	}
	if (::chmod(path.c_str(), 0700) != 0)
		throw DataDirectoryException(systemError("cannot set mode of data directory", path, errno));
}


int openDirectory(const std::string& path)
	/// A descriptor of the directory itself, refusing a symbolic link in the last component.
{
	const int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0) return fd;
	const int error = errno;
	struct stat st;
	if (::lstat(path.c_str(), &st) == 0 && S_ISLNK(st.st_mode))
	{
		throw DataDirectoryException("data directory " + path + " is a symbolic link; refusing to use it. "
			"Give the real directory instead");
	}
	if (error == ENOTDIR) throw DataDirectoryException("data directory " + path + " is not a directory");
	throw DataDirectoryException(systemError("cannot open data directory", path, error));
}


void checkDirectory(int fd, const std::string& path)
{
	struct stat st;
	if (::fstat(fd, &st) != 0) throw DataDirectoryException(systemError("cannot stat data directory", path, errno));
	if (!S_ISDIR(st.st_mode)) throw DataDirectoryException("data directory " + path + " is not a directory");
	if (st.st_uid != ::geteuid())
	{
		throw DataDirectoryException("data directory " + path + " belongs to user ID " + std::to_string(st.st_uid) +
			", not to you (user ID " + std::to_string(::geteuid()) + "); refusing to use it");
	}
	if ((st.st_mode & 022) != 0)
	{
		throw DataDirectoryException("data directory " + path + " has mode " + octal(st.st_mode) +
			" and others can write to it; refusing to use it. Run: chmod go-w " + path);
	}
}


int readPid(int fd)
	/// The process ID written in the lock file, or 0.
{
	char text[MAX_PID_TEXT];
	ssize_t n;
	do
	{
		n = ::pread(fd, text, sizeof(text) - 1, 0);
	}
	while (n < 0 && errno == EINTR);
	if (n <= 0) return 0;
	long pid = 0;
	for (ssize_t i = 0; i < n && text[i] >= '0' && text[i] <= '9'; ++i)
	{
		pid = pid*10 + (text[i] - '0');
		if (pid > 0x7fffffffL) return 0;
	}
	return static_cast<int>(pid);
}


void writePid(int fd)
	/// Replaces the lock file's contents by our process ID. Informational only: failures are ignored.
{
	const std::string text = std::to_string(::getpid()) + "\n";
	if (::ftruncate(fd, 0) != 0) return;
	ssize_t n;
	do
	{
		n = ::pwrite(fd, text.data(), text.size(), 0);
	}
	while (n < 0 && errno == EINTR);
}


int lock(int dirFd, const std::string& path)
	/// Opens and locks the lock file; returns its descriptor.
{
	const std::string lockPath = path + "/" + DataDirectory::LOCK_FILE_NAME;
	const int fd = ::openat(dirFd, DataDirectory::LOCK_FILE_NAME, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
	{
		const int error = errno;
		if (error == ELOOP)
			throw DataDirectoryException("lock file " + lockPath + " is a symbolic link; refusing to use it. Remove it");
		throw DataDirectoryException(systemError("cannot open lock file", lockPath, error));
	}
	try
	{
		struct stat st;
		if (::fstat(fd, &st) != 0) throw DataDirectoryException(systemError("cannot stat lock file", lockPath, errno));
		if (!S_ISREG(st.st_mode)) throw DataDirectoryException("lock file " + lockPath + " is not a regular file");
		if (st.st_uid != ::geteuid())
		{
			throw DataDirectoryException("lock file " + lockPath + " belongs to user ID " + std::to_string(st.st_uid) +
				", not to you; refusing to use it");
		}
		int rc;
		do
		{
			rc = ::flock(fd, LOCK_EX | LOCK_NB);
		}
		while (rc != 0 && errno == EINTR);
		if (rc != 0)
		{
			const int error = errno;
			if (error == EWOULDBLOCK)
			{
				const int pid = readPid(fd);
				throw DataDirectoryInUseException("data directory " + path + " is in use by another process" +
					(pid > 0 ? " (process ID " + std::to_string(pid) + ")" : std::string()));
			}
			throw DataDirectoryException(systemError("cannot lock", lockPath, error));
		}
		writePid(fd);
	}
	catch (...)
	{
		::close(fd);
		throw;
	}
	return fd;
}


} // namespace


DataDirectory DataDirectory::open(const std::string& givenPath)
{
	if (givenPath.empty()) throw DataDirectoryException("empty data directory path");
	const std::string path = withoutTrailingSlashes(givenPath);

	struct stat st;
	if (::lstat(path.c_str(), &st) != 0)
	{
		if (errno != ENOENT) throw DataDirectoryException(systemError("cannot stat data directory", path, errno));
		create(path);
	}

	const int dirFd = openDirectory(path);
	int lockFd = -1;
	try
	{
		checkDirectory(dirFd, path);
		lockFd = lock(dirFd, path);
	}
	catch (...)
	{
		::close(dirFd);
		throw;
	}
	::close(dirFd);
	return DataDirectory(path, lockFd);
}


DataDirectory::DataDirectory(std::string path, int lockFd):
	_path(std::move(path)),
	_lockFd(lockFd)
{
}


DataDirectory::DataDirectory(DataDirectory&& other) noexcept:
	_path(std::move(other._path)),
	_lockFd(std::exchange(other._lockFd, -1))
{
}


DataDirectory& DataDirectory::operator=(DataDirectory&& other) noexcept
{
	if (this != &other)
	{
		if (_lockFd >= 0) ::close(_lockFd);
		_path = std::move(other._path);
		_lockFd = std::exchange(other._lockFd, -1);
	}
	return *this;
}


DataDirectory::~DataDirectory()
{
	// Closing the only descriptor of the open file description releases the flock().
	if (_lockFd >= 0) ::close(_lockFd);
}


const std::string& DataDirectory::path() const
{
	return _path;
}


std::string DataDirectory::filePath(const std::string& name) const
{
	return _path == "/" ? "/" + name : _path + "/" + name;
}


} // namespace CrossChat
