//
// FoundationException.cpp
//
// Library: Foundation
//


#include "CrossChat/FoundationException.h"
#include <typeinfo>


namespace CrossChat {


POCO_IMPLEMENT_EXCEPTION(FrameException, Poco::DataFormatException, "Malformed frame")
POCO_IMPLEMENT_EXCEPTION(FrameTooLargeException, FrameException, "Frame too large")
POCO_IMPLEMENT_EXCEPTION(MessageException, Poco::DataFormatException, "Invalid message")
POCO_IMPLEMENT_EXCEPTION(InvalidPeerIdException, Poco::SyntaxException, "Invalid peer ID")
POCO_IMPLEMENT_EXCEPTION(IdentityException, Poco::RuntimeException, "Identity error")
POCO_IMPLEMENT_EXCEPTION(CryptoException, Poco::RuntimeException, "Crypto error")
POCO_IMPLEMENT_EXCEPTION(TlsConfigException, Poco::RuntimeException, "TLS configuration error")
POCO_IMPLEMENT_EXCEPTION(DataDirectoryException, Poco::RuntimeException, "Data directory error")
POCO_IMPLEMENT_EXCEPTION(DataDirectoryInUseException, DataDirectoryException, "Data directory in use")


} // namespace CrossChat
