//
// X509Text.cpp
//
// Library: Foundation
//


#include "X509Text.h"
#include <openssl/bio.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <ctime>
#include <memory>


namespace CrossChat {


std::string x509NameText(const X509_NAME* pName)
{
	if (!pName) return "(none)";
	std::unique_ptr<BIO, decltype(&BIO_free)> pBio(BIO_new(BIO_s_mem()), BIO_free);
	if (!pBio || X509_NAME_print_ex(pBio.get(), pName, 0, XN_FLAG_RFC2253) < 0)
	{
		ERR_clear_error();
		return "(unreadable name)";
	}
	char* pData = nullptr;
	const long length = BIO_get_mem_data(pBio.get(), &pData);
	std::string text = length > 0 && pData ? std::string(pData, static_cast<std::size_t>(length)) : std::string();
	return text.empty() ? "(empty name)" : text;
}


std::chrono::system_clock::time_point x509TimePoint(const ASN1_TIME* pTime)
{
	std::tm tm{};
	if (!pTime || ASN1_TIME_to_tm(pTime, &tm) != 1)
	{
		ERR_clear_error();
		return std::chrono::system_clock::time_point();
	}
	return std::chrono::system_clock::from_time_t(::timegm(&tm));
}


std::string utcText(std::chrono::system_clock::time_point when)
{
	const std::time_t seconds = std::chrono::system_clock::to_time_t(when);
	std::tm tm{};
	::gmtime_r(&seconds, &tm);
	char buffer[32];
	if (std::strftime(buffer, sizeof(buffer), "%Y-%m-%d %H:%M:%S UTC", &tm) == 0) return "(unknown time)";
	return buffer;
}


std::string keyText(EVP_PKEY* pKey)
{
	if (!pKey) return "(no key)";
	const char* pType = EVP_PKEY_get0_type_name(pKey);
	std::string text = pType ? pType : "unknown";
	if (EVP_PKEY_get_id(pKey) == EVP_PKEY_EC)
	{
		char group[64];
		std::size_t length = 0;
		if (EVP_PKEY_get_group_name(pKey, group, sizeof(group), &length) == 1)
		{
			const int nid = OBJ_txt2nid(group);
			const char* pNist = nid != NID_undef ? EC_curve_nid2nist(nid) : nullptr;
			text += std::string(" ") + (pNist ? pNist : group);
		}
		ERR_clear_error();
	}
	else if (EVP_PKEY_get_id(pKey) == EVP_PKEY_RSA)
	{
		text += " " + std::to_string(EVP_PKEY_get_bits(pKey));
	}
	return text;
}


std::string certificateSummary(X509* pCert)
{
	if (!pCert) return "(no certificate)";
	return "subject " + x509NameText(X509_get_subject_name(pCert))
		+ ", issuer " + x509NameText(X509_get_issuer_name(pCert))
		+ ", valid " + utcText(x509TimePoint(X509_get0_notBefore(pCert)))
		+ " to " + utcText(x509TimePoint(X509_get0_notAfter(pCert)))
		+ ", key " + keyText(X509_get0_pubkey(pCert));
}


} // namespace CrossChat
