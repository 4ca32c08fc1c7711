//
// X509Text.h
//
// Library: Foundation
// Private: X.509 names, times and keys as text for messages and summaries.
// This is an internal header file, it is not installed; do not include it from outside
// Foundation/src.
//


#ifndef CrossChat_Foundation_X509Text_INCLUDED
#define CrossChat_Foundation_X509Text_INCLUDED


#include <openssl/x509.h>
#include <chrono>
#include <string>


namespace CrossChat {


std::string x509NameText(const X509_NAME* pName);
	/// The name in RFC 2253 form ("CN=relay.example.org,O=Example"), or "(none)".

std::chrono::system_clock::time_point x509TimePoint(const ASN1_TIME* pTime);
	/// The instant an ASN1_TIME denotes; the epoch if it cannot be read.

std::string utcText(std::chrono::system_clock::time_point when);
	/// "2027-01-31 12:00:00 UTC".

std::string keyText(EVP_PKEY* pKey);
	/// "RSA 2048", "EC P-256", "ED25519" and so on.

std::string certificateSummary(X509* pCert);
	/// "subject CN=…, issuer CN=…, valid 2026-… UTC to 2027-… UTC, key EC P-256".


} // namespace CrossChat


#endif // CrossChat_Foundation_X509Text_INCLUDED
