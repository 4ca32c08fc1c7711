//
// DataDirectoryTest.cpp
//
// testsuite: tests for DataDirectory (one process per identity) and for the checks Identity
// makes on the key file in it. Tests that need root to give files to another user say so on
// stderr and pass without it.
//


#include "DataDirectoryTest.h"
#include "CrossChat/DataDirectory.h"
#include "CrossChat/FoundationException.h"
#include "CrossChat/Identity.h"
#include "Poco/File.h"
#include "Poco/Path.h"
#include "Poco/TemporaryFile.h"
#include <cerrno>
#include <csignal>
#include <fcntl.h>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>


using CrossChat::DataDirectory;
using CrossChat::DataDirectoryException;
using CrossChat::DataDirectoryInUseException;
using CrossChat::Identity;
using CrossChat::IdentityException;


namespace {


constexpr uid_t OTHER_USER = 65534;   // nobody


mode_t modeOf(const std::string& path)
{
	struct stat st;
	CPPUNIT_ASSERT_EQUAL(0, ::lstat(path.c_str(), &st));
	return st.st_mode & 07777;
}


std::string contentsOf(const std::string& path)
{
	std::ifstream in(path, std::ios::binary);
	std::ostringstream out;
	out << in.rdbuf();
	return out.str();
}


template <typename Exception, typename Function>
std::string messageOf(Function function)
	/// The message of the Exception that function throws; fails if it throws none.
{
	try
	{
		function();
	}
	catch (const Exception& exc)
	{
		return exc.message();
	}
	CPPUNIT_FAIL("no exception thrown");
	return std::string();
}


bool contains(const std::string& text, const std::string& part)
{
	return text.find(part) != std::string::npos;
}


bool isRoot()
{
	return ::geteuid() == 0;
}


} // namespace


void DataDirectoryTest::setUp()
{
	_tempDir = Poco::TemporaryFile::tempName();
	Poco::File(_tempDir).createDirectories();
	CPPUNIT_ASSERT_EQUAL(0, ::chmod(_tempDir.c_str(), 0700));
}


void DataDirectoryTest::tearDown()
{
	try
	{
		Poco::File dir(_tempDir);
		if (dir.exists()) dir.remove(true);
	}
	catch (...)
	{
	}
}


std::string DataDirectoryTest::path(const std::string& name) const
{
	return Poco::Path(Poco::Path(_tempDir).makeDirectory(), name).toString();
}


void DataDirectoryTest::testCreatesPrivateDirectory()
{
	const mode_t oldMask = ::umask(022);
	const std::string dir = path("parent/crosschat");
	{
		DataDirectory data = DataDirectory::open(dir + "//");
		CPPUNIT_ASSERT_EQUAL(dir, data.path());
		CPPUNIT_ASSERT_EQUAL(dir + "/identity.pem", data.filePath("identity.pem"));
		CPPUNIT_ASSERT_EQUAL(mode_t(0700), modeOf(dir));
		CPPUNIT_ASSERT_EQUAL(mode_t(0600), modeOf(data.filePath(DataDirectory::LOCK_FILE_NAME)));
		CPPUNIT_ASSERT_EQUAL(std::to_string(::getpid()) + "\n", contentsOf(data.filePath(DataDirectory::LOCK_FILE_NAME)));

		// Moving keeps the lock with the new owner.
		DataDirectory moved = std::move(data);
		CPPUNIT_ASSERT_THROW(DataDirectory::open(dir), DataDirectoryInUseException);
	}
	::umask(oldMask);
	// Released with the object; the lock file stays.
	DataDirectory again = DataDirectory::open(dir);
	CPPUNIT_ASSERT(Poco::File(again.filePath(DataDirectory::LOCK_FILE_NAME)).exists());
	CPPUNIT_ASSERT_THROW(DataDirectory::open(""), DataDirectoryException);
}


void DataDirectoryTest::testExistingDirectoryKept()
{
	// An existing directory is used as it is, its files untouched, mode included (others may
	// read it: its files are private).
	const std::string dir = path("existing");
	CPPUNIT_ASSERT_EQUAL(0, ::mkdir(dir.c_str(), 0755));
	CPPUNIT_ASSERT_EQUAL(0, ::chmod(dir.c_str(), 0755));
	std::ofstream(dir + "/keep.txt") << "keep";
	DataDirectory data = DataDirectory::open(dir);
	CPPUNIT_ASSERT_EQUAL(mode_t(0755), modeOf(dir));
	CPPUNIT_ASSERT_EQUAL(std::string("keep"), contentsOf(dir + "/keep.txt"));
}


void DataDirectoryTest::testSecondHolderRefused()
{
	const std::string dir = path("busy");
	std::optional<DataDirectory> first(DataDirectory::open(dir));
	const std::string message = messageOf<DataDirectoryInUseException>([&] { DataDirectory::open(dir); });
	CPPUNIT_ASSERT_MESSAGE(message, contains(message, dir));
	CPPUNIT_ASSERT_MESSAGE(message, contains(message, "process ID " + std::to_string(::getpid())));
	// The same directory under another spelling is the same lock.
	CPPUNIT_ASSERT_THROW(DataDirectory::open(dir + "/."), DataDirectoryInUseException);
	// Refusing did not disturb the holder's lock file.
	CPPUNIT_ASSERT_EQUAL(std::to_string(::getpid()) + "\n", contentsOf(first->filePath(DataDirectory::LOCK_FILE_NAME)));
	first.reset();
	DataDirectory second = DataDirectory::open(dir);
	CPPUNIT_ASSERT_EQUAL(dir, second.path());
}


void DataDirectoryTest::testLockReleasedWhenHolderKilled()
{
	const std::string dir = path("killed");
	{
		DataDirectory create = DataDirectory::open(dir);
	}
	const std::string lockFile = dir + "/" + DataDirectory::LOCK_FILE_NAME;

	// A child holds the lock as a crosschat would, using only async-signal-safe calls after
	// fork(), and says so through a pipe; then it waits to be killed.
	int fds[2];
	CPPUNIT_ASSERT_EQUAL(0, ::pipe(fds));
	const pid_t pid = ::fork();
	CPPUNIT_ASSERT(pid >= 0);
	if (pid == 0)
	{
		::close(fds[0]);
		const int fd = ::open(lockFile.c_str(), O_RDWR | O_CLOEXEC);
		const char ok = (fd >= 0 && ::flock(fd, LOCK_EX | LOCK_NB) == 0) ? 'L' : 'E';
		if (::write(fds[1], &ok, 1) != 1) ::_exit(2);
		for (;;) ::pause();
	}
	::close(fds[1]);
	char state = 0;
	ssize_t n;
	do
	{
		n = ::read(fds[0], &state, 1);
	}
	while (n < 0 && errno == EINTR);
	::close(fds[0]);
	CPPUNIT_ASSERT_EQUAL(ssize_t(1), n);
	CPPUNIT_ASSERT_EQUAL('L', state);

	CPPUNIT_ASSERT_THROW(DataDirectory::open(dir), DataDirectoryInUseException);
	CPPUNIT_ASSERT_EQUAL(0, ::kill(pid, SIGKILL));
	int status = 0;
	CPPUNIT_ASSERT_EQUAL(pid, ::waitpid(pid, &status, 0));
	CPPUNIT_ASSERT(WIFSIGNALED(status));
	// No stale lock: the kernel released it with the process.
	DataDirectory data = DataDirectory::open(dir);
	CPPUNIT_ASSERT_EQUAL(std::to_string(::getpid()) + "\n", contentsOf(lockFile));
}


void DataDirectoryTest::testWritableByOthersRefused()
{
	const std::string dir = path("open");
	{
		DataDirectory create = DataDirectory::open(dir);
	}
	for (mode_t mode: {0770, 0777, 0720, 0702, 0730, 0703})
	{
		CPPUNIT_ASSERT_EQUAL(0, ::chmod(dir.c_str(), mode));
		const std::string message = messageOf<DataDirectoryException>([&] { DataDirectory::open(dir); });
		CPPUNIT_ASSERT_MESSAGE(message, contains(message, "chmod go-w " + dir));
		CPPUNIT_ASSERT_EQUAL(mode, modeOf(dir));   // refused, not repaired
	}
	for (mode_t mode: {0700, 0750, 0755, 0711})
	{
		CPPUNIT_ASSERT_EQUAL(0, ::chmod(dir.c_str(), mode));
		DataDirectory data = DataDirectory::open(dir);
	}
}


void DataDirectoryTest::testSymbolicLinksRefused()
{
	const std::string real = path("real");
	{
		DataDirectory create = DataDirectory::open(real);
	}
	const std::string link = path("link");
	CPPUNIT_ASSERT_EQUAL(0, ::symlink(real.c_str(), link.c_str()));
	std::string message = messageOf<DataDirectoryException>([&] { DataDirectory::open(link); });
	CPPUNIT_ASSERT_MESSAGE(message, contains(message, "symbolic link"));
	CPPUNIT_ASSERT_THROW(DataDirectory::open(link + "/"), DataDirectoryException);

	// A dangling link is not followed to create a directory elsewhere.
	const std::string dangling = path("dangling");
	CPPUNIT_ASSERT_EQUAL(0, ::symlink(path("target").c_str(), dangling.c_str()));
	CPPUNIT_ASSERT_THROW(DataDirectory::open(dangling), DataDirectoryException);
	CPPUNIT_ASSERT(!Poco::File(path("target")).exists());

	// A lock file replaced by a link is refused, and nothing is written through it.
	const std::string victim = path("victim");
	std::ofstream(victim) << "do not touch";
	const std::string lockFile = real + "/" + DataDirectory::LOCK_FILE_NAME;
	CPPUNIT_ASSERT_EQUAL(0, ::unlink(lockFile.c_str()));
	CPPUNIT_ASSERT_EQUAL(0, ::symlink(victim.c_str(), lockFile.c_str()));
	message = messageOf<DataDirectoryException>([&] { DataDirectory::open(real); });
	CPPUNIT_ASSERT_MESSAGE(message, contains(message, "symbolic link"));
	CPPUNIT_ASSERT_EQUAL(std::string("do not touch"), contentsOf(victim));
}


void DataDirectoryTest::testNotADirectoryRefused()
{
	const std::string file = path("file");
	std::ofstream(file) << "x";
	const std::string message = messageOf<DataDirectoryException>([&] { DataDirectory::open(file); });
	CPPUNIT_ASSERT_MESSAGE(message, contains(message, "not a directory"));
	CPPUNIT_ASSERT_THROW(DataDirectory::open(file + "/sub"), DataDirectoryException);
}


void DataDirectoryTest::testOtherOwnerRefused()
{
	if (!isRoot())
	{
		std::cerr << "\n  DataDirectoryTest::testOtherOwnerRefused: needs root to give a directory away; skipped\n";
		return;
	}
	const std::string dir = path("theirs");
	{
		DataDirectory create = DataDirectory::open(dir);
	}
	CPPUNIT_ASSERT_EQUAL(0, ::chown(dir.c_str(), OTHER_USER, OTHER_USER));
	std::string message = messageOf<DataDirectoryException>([&] { DataDirectory::open(dir); });
	CPPUNIT_ASSERT_MESSAGE(message, contains(message, std::to_string(OTHER_USER)));

	// Our directory, with a lock file that someone else put there.
	CPPUNIT_ASSERT_EQUAL(0, ::chown(dir.c_str(), ::geteuid(), ::getegid()));
	CPPUNIT_ASSERT_EQUAL(0, ::chown((dir + "/" + DataDirectory::LOCK_FILE_NAME).c_str(), OTHER_USER, OTHER_USER));
	message = messageOf<DataDirectoryException>([&] { DataDirectory::open(dir); });
	CPPUNIT_ASSERT_MESSAGE(message, contains(message, "lock file"));
}


void DataDirectoryTest::testKeyFileSymbolicLinkRefused()
{
	// A private key elsewhere, linked into the data directory: refused, not followed.
	const std::string dir = path("keys");
	const Identity identity = Identity::loadOrCreate(dir);
	const std::string keyFile = dir + "/" + Identity::KEY_FILE_NAME;
	const std::string elsewhere = path("elsewhere.pem");
	CPPUNIT_ASSERT_EQUAL(0, ::rename(keyFile.c_str(), elsewhere.c_str()));
	CPPUNIT_ASSERT_EQUAL(0, ::symlink(elsewhere.c_str(), keyFile.c_str()));
	std::string message = messageOf<IdentityException>([&] { Identity::loadOrCreate(dir); });
	CPPUNIT_ASSERT_MESSAGE(message, contains(message, "symbolic link"));
	CPPUNIT_ASSERT_THROW(Identity::load(keyFile), IdentityException);
	CPPUNIT_ASSERT(Identity::load(elsewhere).peerId() == identity.peerId());

	// A dangling link does not make loadOrCreate write a new key through it.
	CPPUNIT_ASSERT_EQUAL(0, ::unlink(keyFile.c_str()));
	const std::string target = path("planted.pem");
	CPPUNIT_ASSERT_EQUAL(0, ::symlink(target.c_str(), keyFile.c_str()));
	CPPUNIT_ASSERT_THROW(Identity::loadOrCreate(dir), IdentityException);
	CPPUNIT_ASSERT(!Poco::File(target).exists());
}


void DataDirectoryTest::testKeyFileOtherOwnerRefused()
{
	if (!isRoot())
	{
		std::cerr << "\n  DataDirectoryTest::testKeyFileOtherOwnerRefused: needs root to give a file away; skipped\n";
		return;
	}
	const std::string dir = path("keys");
	Identity::loadOrCreate(dir);
	const std::string keyFile = dir + "/" + Identity::KEY_FILE_NAME;
	CPPUNIT_ASSERT_EQUAL(0, ::chown(keyFile.c_str(), OTHER_USER, OTHER_USER));
	const std::string message = messageOf<IdentityException>([&] { Identity::loadOrCreate(dir); });
	CPPUNIT_ASSERT_MESSAGE(message, contains(message, "belongs to user ID " + std::to_string(OTHER_USER)));
}
