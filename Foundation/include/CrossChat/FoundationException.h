//
// FoundationException.h
//
// Library: Foundation
// Exceptions thrown by the CrossChat Foundation library.
//


#ifndef CrossChat_Foundation_FoundationException_INCLUDED
#define CrossChat_Foundation_FoundationException_INCLUDED


#include "Poco/Exception.h"


namespace CrossChat {


POCO_DECLARE_EXCEPTION(, FrameException, Poco::DataFormatException)
	/// A stream frame is malformed: bad magic, unknown version or a length over the limit.
	/// The stream cannot be resynchronised after it; close the connection.
POCO_DECLARE_EXCEPTION(, FrameTooLargeException, FrameException)
	/// A frame announces (or a caller tries to send) a body larger than the configured maximum.
POCO_DECLARE_EXCEPTION(, MessageException, Poco::DataFormatException)
	/// A message body is not valid JSON, or violates its declared schema.
POCO_DECLARE_EXCEPTION(, InvalidPeerIdException, Poco::SyntaxException)
	/// A peer ID string or byte string is malformed or fails its check characters.
POCO_DECLARE_EXCEPTION(, IdentityException, Poco::RuntimeException)
	/// An identity key cannot be created, loaded or saved, or its file is unsafe.
POCO_DECLARE_EXCEPTION(, CryptoException, Poco::RuntimeException)
	/// An OpenSSL operation failed, or a key is malformed.
POCO_DECLARE_EXCEPTION(, TlsConfigException, Poco::RuntimeException)
	/// A TLS certificate, private key or CA file cannot be read or used (the message names the
	/// file and the problem).
POCO_DECLARE_EXCEPTION(, DataDirectoryException, Poco::RuntimeException)
	/// The data directory cannot be used: it cannot be created or locked, it is a symbolic
	/// link, it belongs to another user, or group or others may write to it.
POCO_DECLARE_EXCEPTION(, DataDirectoryInUseException, DataDirectoryException)
	/// Another process (or another DataDirectory object) holds the data directory's lock.


} // namespace CrossChat


#endif // CrossChat_Foundation_FoundationException_INCLUDED
