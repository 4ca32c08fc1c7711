//
// ChatException.cpp
//
// Library: Chat
//


#include "CrossChat/Chat/ChatException.h"
#include <typeinfo>


namespace CrossChat {
namespace Chat {


POCO_IMPLEMENT_EXCEPTION(StoreException, Poco::RuntimeException, "Chat store error")
POCO_IMPLEMENT_EXCEPTION(StoreUnsafeException, StoreException, "Unsafe chat store file")
POCO_IMPLEMENT_EXCEPTION(StoreCorruptException, StoreException, "Damaged chat store")
POCO_IMPLEMENT_EXCEPTION(StoreVersionException, StoreException, "Chat store from a newer version")
POCO_IMPLEMENT_EXCEPTION(StoreLockedException, StoreException, "Chat store in use")
POCO_IMPLEMENT_EXCEPTION(EnvelopeException, Poco::DataFormatException, "Mailbox envelope refused")


} } // namespace CrossChat::Chat
