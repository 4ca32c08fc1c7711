//
// DataDirectory.h
//
// Library: Foundation
// The data directory of one identity, checked for safety and locked by one process at a time.
//


#ifndef CrossChat_Foundation_DataDirectory_INCLUDED
#define CrossChat_Foundation_DataDirectory_INCLUDED


#include <string>


namespace CrossChat {


class DataDirectory
	/// The directory that holds one identity's files (the key, the chat database), held by
	/// exactly one process at a time, so that two programs never share an identity.
	///
	/// open(path) creates the directory with mode 0700 (and its missing parents with the
	/// usual mode) if it does not exist, then checks, as ssh does for ~/.ssh, that it is safe
	/// to keep a private key in:
	///   - it is a real directory, not a symbolic link (the last path component is opened
	///     with O_NOFOLLOW; symbolic links higher up the path, like a linked home directory,
	///     are followed as usual);
	///   - it belongs to the effective user;
	///   - neither group nor others may write to it (mode & 022 is 0). Others reading it is
	///     allowed (the files in it are mode 0600).
	/// Then it takes an exclusive, non-blocking flock() on the file LOCK_FILE_NAME in the
	/// directory (created with mode 0600, never followed if it is a symbolic link) and writes
	/// its process ID into it. The lock lives as long as the DataDirectory object; the kernel
	/// releases it when the process ends in any way, kill -9 included, so a stale lock file
	/// never blocks a restart. A second open() of the same directory, from another process or
	/// from this one, fails at once with DataDirectoryInUseException naming the directory and
	/// the process ID that holds it.
	///
	/// Thread rules: open() may be called from any thread; the object is immutable afterwards
	/// and its accessors are safe to call from any thread.
	/// Ownership: owns the lock file's descriptor (close-on-exec, so programs started by this
	/// one do not inherit the lock); destroying the object releases the lock. Move-only.
{
public:
	static constexpr const char* LOCK_FILE_NAME = "lock";

	static DataDirectory open(const std::string& path);
		/// Creates (if needed), checks and locks the directory at path. Throws
		/// DataDirectoryInUseException if another holder has it locked, and
		/// DataDirectoryException, with a message that names the path and says what to do
		/// (for example "Run: chmod go-w <path>"), if it cannot be created, is not a directory,
		/// is a symbolic link, belongs to another user, is writable by group or others, or its
		/// lock file cannot be opened or locked.

	DataDirectory(DataDirectory&& other) noexcept;
	DataDirectory& operator=(DataDirectory&& other) noexcept;
	DataDirectory(const DataDirectory&) = delete;
	DataDirectory& operator=(const DataDirectory&) = delete;

	~DataDirectory();
		/// Releases the lock (the lock file itself stays).

	const std::string& path() const;
		/// The directory as given to open(), without trailing slashes.

	std::string filePath(const std::string& name) const;
		/// The path of the file called name in the directory.

private:
	DataDirectory(std::string path, int lockFd);

	std::string _path;
	int _lockFd;
};


} // namespace CrossChat


#endif // CrossChat_Foundation_DataDirectory_INCLUDED
