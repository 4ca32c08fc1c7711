//
// OpenSSLError.h
//
// Library: Foundation
// Private: OpenSSL's error queue as text for exception messages.
// This is an internal header file, it is not installed; do not include it from outside
// Foundation/src.
//


#ifndef CrossChat_Foundation_OpenSSLError_INCLUDED
#define CrossChat_Foundation_OpenSSLError_INCLUDED


#include <openssl/err.h>
#include <string>


namespace CrossChat {


inline std::string openSSLError(const char* ifEmpty = "unknown OpenSSL error")
	/// Drains this thread's OpenSSL error queue into one message; ifEmpty if it holds none.
{
	std::string result;
	unsigned long code;
	while ((code = ERR_get_error()) != 0)
	{
		char buffer[256];
		ERR_error_string_n(code, buffer, sizeof(buffer));
		if (!result.empty()) result += "; ";
		result += buffer;
	}
	return result.empty() ? std::string(ifEmpty) : result;
}


} // namespace CrossChat


#endif // CrossChat_Foundation_OpenSSLError_INCLUDED
