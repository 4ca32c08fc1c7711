//
// TlsChannel.cpp
//
// Library: Foundation
//


#include "CrossChat/TlsChannel.h"
#include "OpenSSLError.h"
#include "TlsContextCache.h"
#include "X509Text.h"
#include "CrossChat/FoundationException.h"
#include "CrossChat/TlsClientContext.h"
#include "CrossChat/TlsServerContext.h"
#include "Poco/Logger.h"
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <arpa/inet.h>
#include <algorithm>
#include <cstring>
#include <mutex>


namespace CrossChat {


namespace {


constexpr std::size_t MAX_RECORD_PLAINTEXT = 16 * 1024;   ///< TLS's record size limit.
constexpr std::size_t WRITE_PIECE = 256 * 1024;           ///< Plaintext per SSL_write.
constexpr std::size_t KEPT_PLAINTEXT_CAPACITY = 16 * 1024;
	///< An emptied plaintext queue larger than this gives its memory back.


Poco::Logger& logger()
{
	static Poco::Logger& logger = Poco::Logger::get("CrossChat.Tls");
	return logger;
}


inline void clearErrors()
	/// Empties this thread's OpenSSL error queue before an SSL call, so that SSL_get_error()
	/// afterwards speaks about that call. ERR_clear_error() walks and frees every slot even of
	/// an empty queue; on the per-record path only a queue that holds something is cleared.
{
	if (ERR_peek_error() != 0) ERR_clear_error();
}


enum class Mode
{
	PINNED,        ///< Identity certificates on both sides, keys pinned to peer IDs.
	X509_CLIENT,   ///< Verifies the server's chain and host name against a TlsClientContext.
	X509_SERVER    ///< Presents a TlsServerContext's certificate; no client certificate.
};


struct PeerCheck
	/// What the verify callbacks need; reached through SSL_get_app_data().
{
	Mode mode = Mode::PINNED;
	std::optional<PeerId> expected;   ///< Pinned client: the peer we dial.
	std::string host;                 ///< X.509 client: the name or address verified.
	std::string failure;              ///< Why a callback rejected the peer's certificate.
	std::shared_ptr<EVP_PKEY> pKey;   ///< Pinned: the accepted peer key (the certificate's own).
	const X509* pVerified = nullptr;  ///< Pinned: the certificate it came from (owned by the session).
};


std::string checkLeaf(X509* pCert, PeerCheck& check)
	/// Pinned mode: returns why the certificate is not acceptable, or an empty string after
	/// storing its key and the peer ID it hashes to in check.
{
	EVP_PKEY* pKey = pCert ? X509_get0_pubkey(pCert) : nullptr;
	if (!pKey) return "peer presented no usable certificate";
	if (EVP_PKEY_get_id(pKey) != EVP_PKEY_ED25519) return "peer certificate key is not Ed25519";
	std::uint8_t raw[PublicKey::RAW_SIZE];
	std::size_t length = sizeof(raw);
	if (EVP_PKEY_get_raw_public_key(pKey, raw, &length) != 1 || length != sizeof(raw))
	{
		ERR_clear_error();
		return "cannot read the peer's public key";
	}
	const PeerId actual = PublicKey::peerIdOfRaw(raw);
	if (check.expected && actual != *check.expected)
		return "peer presented key of " + actual.shortString() + ", expected " + check.expected->shortString();
	EVP_PKEY_up_ref(pKey);
	check.pKey.reset(pKey, EVP_PKEY_free);
	check.pVerified = pCert;
	return std::string();
}


int pinCertificate(X509_STORE_CTX* pStore, void*)
	/// Pinned mode's whole certificate verification (SSL_CTX_set_cert_verify_callback, in
	/// place of X509_verify_cert): we pin keys, not CAs, so neither a chain, nor validity
	/// dates, nor the certificate's self-signature matter; the handshake's CertificateVerify
	/// proves that the peer holds the private key of the certificate's public key. Only the
	/// key is checked, once per handshake; handshakeDone() uses the result.
{
	auto* pSsl = static_cast<SSL*>(X509_STORE_CTX_get_ex_data(pStore, SSL_get_ex_data_X509_STORE_CTX_idx()));
	auto* pCheck = pSsl ? static_cast<PeerCheck*>(SSL_get_app_data(pSsl)) : nullptr;
	if (!pCheck)
	{
		X509_STORE_CTX_set_error(pStore, X509_V_ERR_APPLICATION_VERIFICATION);
		return 0;
	}
	const std::string failure = checkLeaf(X509_STORE_CTX_get0_cert(pStore), *pCheck);
	if (failure.empty())
	{
		X509_STORE_CTX_set_error(pStore, X509_V_OK);
		return 1;
	}
	pCheck->failure = failure;
	X509_STORE_CTX_set_error(pStore, X509_V_ERR_APPLICATION_VERIFICATION);
	return 0;
}


std::string subjectAltNames(X509* pCert)
	/// The certificate's DNS and IP subjectAltNames ("DNS:a.example, IP:192.0.2.1"), or the
	/// subject if it has none.
{
	using Names = std::unique_ptr<GENERAL_NAMES, void (*)(GENERAL_NAMES*)>;
	Names pNames(static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(pCert, NID_subject_alt_name, nullptr, nullptr)),
		GENERAL_NAMES_free);
	std::string text;
	for (int i = 0; pNames && i < sk_GENERAL_NAME_num(pNames.get()); ++i)
	{
		const GENERAL_NAME* pName = sk_GENERAL_NAME_value(pNames.get(), i);
		std::string item;
		if (pName->type == GEN_DNS)
		{
			const ASN1_IA5STRING* pDns = pName->d.dNSName;
			item = "DNS:" + std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(pDns)),
				static_cast<std::size_t>(ASN1_STRING_length(pDns)));
		}
		else if (pName->type == GEN_IPADD)
		{
			const ASN1_OCTET_STRING* pIp = pName->d.iPAddress;
			char buffer[INET6_ADDRSTRLEN] = "?";
			const int length = ASN1_STRING_length(pIp);
			if (length == 4 || length == 16)
				::inet_ntop(length == 4 ? AF_INET : AF_INET6, ASN1_STRING_get0_data(pIp), buffer, sizeof(buffer));
			item = std::string("IP:") + buffer;
		}
		if (item.empty()) continue;
		if (!text.empty()) text += ", ";
		text += item;
	}
	ERR_clear_error();
	return text.empty() ? x509NameText(X509_get_subject_name(pCert)) + " (no subjectAltName)" : text;
}


int x509VerifyCallback(int preverifyOk, X509_STORE_CTX* pStore)
	/// OpenSSL's chain and host name verification decides; this records why it failed, with
	/// the certificate it failed on, for the close reason.
{
	if (preverifyOk) return 1;
	auto* pSsl = static_cast<SSL*>(X509_STORE_CTX_get_ex_data(pStore, SSL_get_ex_data_X509_STORE_CTX_idx()));
	auto* pCheck = pSsl ? static_cast<PeerCheck*>(SSL_get_app_data(pSsl)) : nullptr;
	if (!pCheck || !pCheck->failure.empty()) return 0;
	const int error = X509_STORE_CTX_get_error(pStore);
	const int depth = X509_STORE_CTX_get_error_depth(pStore);
	X509* pCert = X509_STORE_CTX_get_current_cert(pStore);
	std::string detail;
	if (error == X509_V_ERR_HOSTNAME_MISMATCH || error == X509_V_ERR_IP_ADDRESS_MISMATCH)
	{
		detail = "the certificate is for " + (pCert ? subjectAltNames(pCert) : std::string("(unknown)"));
	}
	else if (pCert)
	{
		detail = (depth == 0 ? std::string("server certificate ") : "CA certificate at depth " + std::to_string(depth) + " ")
			+ x509NameText(X509_get_subject_name(pCert)) + ", issued by " + x509NameText(X509_get_issuer_name(pCert));
	}
	pCheck->failure = "TLS certificate verification failed for " + pCheck->host + ": "
		+ X509_verify_cert_error_string(error) + (detail.empty() ? std::string() : " (" + detail + ")");
	return 0;
}


bool isIpAddress(const std::string& host)
{
	unsigned char buffer[16];
	return ::inet_pton(AF_INET, host.c_str(), buffer) == 1 || ::inet_pton(AF_INET6, host.c_str(), buffer) == 1;
}


std::shared_ptr<SSL_CTX> makeContext(const Identity& identity, bool isServer)
{
	std::shared_ptr<SSL_CTX> pContext(SSL_CTX_new(TLS_method()), SSL_CTX_free);
	if (!pContext) throw CryptoException("SSL_CTX_new failed", openSSLError(""));
	SSL_CTX* pCtx = pContext.get();
	if (SSL_CTX_set_min_proto_version(pCtx, TLS1_3_VERSION) != 1
		|| SSL_CTX_set_max_proto_version(pCtx, TLS1_3_VERSION) != 1)
		throw CryptoException("cannot restrict TLS to version 1.3", openSSLError(""));
	// No tickets, no session cache: every connection runs a full handshake with certificates.
	SSL_CTX_set_options(pCtx, SSL_OP_NO_TICKET);
	if (SSL_CTX_set_num_tickets(pCtx, 0) != 1)
		throw CryptoException("cannot disable TLS session tickets", openSSLError(""));
	SSL_CTX_set_session_cache_mode(pCtx, SSL_SESS_CACHE_OFF);
	if (SSL_CTX_use_certificate(pCtx, identity.certificateHandle()) != 1
		|| SSL_CTX_use_PrivateKey(pCtx, identity.keyHandle()) != 1
		|| SSL_CTX_check_private_key(pCtx) != 1)
		throw CryptoException("cannot use the identity's certificate and key for TLS", openSSLError(""));
	int mode = SSL_VERIFY_PEER;
	if (isServer) mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
	SSL_CTX_set_verify(pCtx, mode, nullptr);
	SSL_CTX_set_cert_verify_callback(pCtx, pinCertificate, nullptr);
	return pContext;
}


struct ChannelIo
	/// What the channel's BIO reads from and writes to; reached through BIO_get_data().
{
	ByteStream* pConnection = nullptr;      ///< The transport, owned by the channel.
	bool writeNow = false;                  ///< The record being written is all there is: no copy.
	const char* pInput = nullptr;           ///< Ciphertext being processed (the connection's buffer).
	std::size_t inputSize = 0;
	std::string held;                       ///< Ciphertext kept from an earlier piece of input.
	std::size_t heldPos = 0;

	std::size_t available() const
	{
		return held.size() - heldPos + inputSize;
	}

	std::size_t take(char* out, std::size_t size)
		/// Bytes kept from earlier input first, then the current input.
	{
		std::size_t taken = 0;
		if (heldPos < held.size())
		{
			taken = std::min(size, held.size() - heldPos);
			std::memcpy(out, held.data() + heldPos, taken);
			heldPos += taken;
			if (heldPos == held.size())
			{
				held.clear();
				heldPos = 0;
			}
		}
		const std::size_t n = std::min(size - taken, inputSize);
		if (n > 0)
		{
			std::memcpy(out + taken, pInput, n);
			pInput += n;
			inputSize -= n;
			taken += n;
		}
		return taken;
	}

	void endInput(bool keep)
		/// After a piece of input has been processed: keeps what OpenSSL has not read (it reads
		/// everything unless the channel stopped in the middle) if keep, else drops it.
	{
		if (inputSize > 0 && keep)
		{
			if (heldPos > 0)
			{
				held.erase(0, heldPos);
				heldPos = 0;
			}
			held.append(pInput, inputSize);
		}
		pInput = nullptr;
		inputSize = 0;
	}

	void release()
	{
		std::string().swap(held);
		heldPos = 0;
	}
};


int bioWrite(BIO* pBio, const char* data, std::size_t size, std::size_t* pWritten);
int bioRead(BIO* pBio, char* out, std::size_t size, std::size_t* pRead);
long bioCtrl(BIO* pBio, int command, long number, void* pointer);


BIO_METHOD* channelBioMethod()
	/// The BIO between OpenSSL and the transport: reads take the ciphertext the transport just
	/// delivered, straight from its buffer; writes append ciphertext to the transport's output
	/// queue, which leaves with the loop iteration's flush. No memory BIO in between.
{
	static BIO_METHOD* const pMethod = [] {
		BIO_METHOD* p = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "CrossChat TlsChannel");
		if (!p
			|| BIO_meth_set_write_ex(p, bioWrite) != 1
			|| BIO_meth_set_read_ex(p, bioRead) != 1
			|| BIO_meth_set_ctrl(p, bioCtrl) != 1
			|| BIO_meth_set_create(p, [](BIO* pBio) { BIO_set_init(pBio, 1); return 1; }) != 1)
			throw CryptoException("cannot create the TLS channel's BIO method", openSSLError());
		return p;
	}();
	return pMethod;
}


} // namespace


class TlsChannel::Impl
{
public:
	Impl(const ByteStream::Ptr& pConnection, std::shared_ptr<SSL_CTX> pSslContext, bool server):
		connection(pConnection),
		isServer(server),
		pContext(std::move(pSslContext))
	{
		if (!pContext) throw CryptoException("no TLS context");
		pSsl = SSL_new(pContext.get());
		if (!pSsl) throw CryptoException("SSL_new failed", openSSLError(""));
		BIO* pBio = BIO_new(channelBioMethod());
		if (!pBio)
		{
			SSL_free(pSsl);
			throw CryptoException("BIO_new failed", openSSLError(""));
		}
		io.pConnection = connection.get();
		BIO_set_data(pBio, &io);
		SSL_set_bio(pSsl, pBio, pBio);   // the SSL owns the BIO from here, for both directions
		SSL_set_app_data(pSsl, &check);
		// No read_ahead: OpenSSL takes a header, then the body of each record, from the input
		// at hand (one copy into its record buffer). With read_ahead it would read many records
		// at once and move the rest of its buffer to the front at every record (see
		// docs/BENCHMARKS.md): for small records that costs several copies instead of one.
		if (isServer)
			SSL_set_accept_state(pSsl);
		else
			SSL_set_connect_state(pSsl);
	}

	~Impl()
	{
		SSL_free(pSsl);
	}

	Impl(const Impl&) = delete;
	Impl& operator=(const Impl&) = delete;

	void setReason(const std::string& text)
		/// Keeps the first reason.
	{
		if (!hasReason)
		{
			reason = text;
			hasReason = true;
		}
	}

	ByteStream::Ptr connection;         ///< The transport.
	const bool isServer;
	std::shared_ptr<SSL_CTX> pContext;
	SSL* pSsl = nullptr;
	ChannelIo io;
	PeerCheck check;
	std::string peerSubject;            ///< X.509 client: the verified server certificate's subject.
	bool handshakeStarted = false;
	bool ready = false;
	bool closing = false;               ///< close(), abort() or a failure: no more input or output.
	bool closeAfterHandshake = false;   ///< close() came before the handshake finished.
	bool closeNotifyReceived = false;
	bool closeDelivered = false;
	bool hasReason = false;
	bool readingPaused = false;
	std::string reason;                 ///< Reported instead of the connection's reason.
	std::string plaintext;              ///< Queued for one SSL_write (coalescing, or until ready).
	bool flushQueued = false;           ///< flushPlaintext() waits for the end of the iteration.
	std::shared_ptr<const EventLoop::Task> pFlushTask;   ///< Queued at the end of iterations.
	ReadyHandler onReady;
	EstablishedHandler onEstablished;
	ConnectHandler onConnect;
	DrainHandler onDrain;
	std::shared_ptr<const DataHandler> onData;   ///< Shared: a call keeps it alive without a copy.
	CloseHandler onClose;
};


namespace {


int bioWrite(BIO* pBio, const char* data, std::size_t size, std::size_t* pWritten)
{
	BIO_clear_retry_flags(pBio);
	auto* pIo = static_cast<ChannelIo*>(BIO_get_data(pBio));
	// Ciphertext after the connection has ended is dropped: nobody can receive it.
	if (pIo && size > 0)
	{
		if (pIo->writeNow)
			pIo->pConnection->sendNow(data, size);
		else
			pIo->pConnection->send(data, size);
	}
	*pWritten = size;
	return 1;
}


int bioRead(BIO* pBio, char* out, std::size_t size, std::size_t* pRead)
{
	BIO_clear_retry_flags(pBio);
	auto* pIo = static_cast<ChannelIo*>(BIO_get_data(pBio));
	const std::size_t n = pIo ? pIo->take(out, size) : 0;
	*pRead = n;
	if (n > 0) return 1;
	BIO_set_retry_read(pBio);   // no more input now: WANT_READ, not end of file
	return 0;
}


long bioCtrl(BIO* pBio, int command, long, void*)
{
	auto* pIo = static_cast<ChannelIo*>(BIO_get_data(pBio));
	switch (command)
	{
	case BIO_CTRL_FLUSH:
		return 1;
	case BIO_CTRL_PENDING:
		return pIo ? static_cast<long>(pIo->available()) : 0;
	default:
		return 0;
	}
}


} // namespace


constexpr std::size_t TlsChannel::READ_BUFFER_SIZE;
constexpr std::size_t TlsChannel::COALESCE_LIMIT;


TlsChannel::TlsChannel(const ByteStream::Ptr& connection, std::shared_ptr<ssl_ctx_st> pContext, bool isServer):
	_pImpl(std::make_unique<Impl>(connection, std::move(pContext), isServer))
{
}


TlsChannel::~TlsChannel() = default;


std::shared_ptr<ssl_ctx_st> TlsChannel::pinnedContext(const Identity& identity, bool isServer)
{
	TlsContextCache& cache = *identity._pTlsContexts;
	std::lock_guard<std::mutex> lock(cache.mutex);
	std::shared_ptr<SSL_CTX>& pContext = isServer ? cache.server : cache.client;
	if (!pContext) pContext = makeContext(identity, isServer);
	return pContext;
}


TlsChannel::Ptr TlsChannel::client(const ByteStream::Ptr& connection, const Identity& identity, const PeerId& expectedPeer)
{
	connection->loop().assertInLoopThread();
	Ptr pChannel(new TlsChannel(connection, pinnedContext(identity, false), false));
	pChannel->_pImpl->check.mode = Mode::PINNED;
	pChannel->_pImpl->check.expected = expectedPeer;
	pChannel->start();
	return pChannel;
}


TlsChannel::Ptr TlsChannel::server(const ByteStream::Ptr& connection, const Identity& identity)
{
	connection->loop().assertInLoopThread();
	Ptr pChannel(new TlsChannel(connection, pinnedContext(identity, true), true));
	pChannel->_pImpl->check.mode = Mode::PINNED;
	pChannel->start();
	return pChannel;
}


TlsChannel::Ptr TlsChannel::client(const ByteStream::Ptr& connection, const TlsClientContext::Ptr& context,
	const std::string& host)
{
	connection->loop().assertInLoopThread();
	if (!context) throw Poco::InvalidArgumentException("TlsChannel::client: no TlsClientContext");
	// An IPv6 literal may come in URL form, [::1].
	std::string name = host;
	if (name.size() > 2 && name.front() == '[' && name.back() == ']') name = name.substr(1, name.size() - 2);
	if (name.empty()) throw Poco::InvalidArgumentException("TlsChannel::client: empty host name");
	Ptr pChannel(new TlsChannel(connection, context->sslContext(), false));
	Impl& impl = *pChannel->_pImpl;
	impl.check.mode = Mode::X509_CLIENT;
	impl.check.host = name;
	SSL* pSsl = impl.pSsl;
	ERR_clear_error();
	if (isIpAddress(name))
	{
		// RFC 6066: no IP literals in SNI; the address is checked against iPAddress entries.
		if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(pSsl), name.c_str()) != 1)
			throw CryptoException("cannot set the address to verify", openSSLError());
	}
	else
	{
		SSL_set_hostflags(pSsl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
		if (SSL_set1_host(pSsl, name.c_str()) != 1 || SSL_set_tlsext_host_name(pSsl, name.c_str()) != 1)
			throw CryptoException("cannot set the host name to verify", openSSLError());
	}
	SSL_set_verify(pSsl, SSL_VERIFY_PEER, x509VerifyCallback);
	pChannel->start();
	return pChannel;
}


TlsChannel::Ptr TlsChannel::server(const ByteStream::Ptr& connection, const TlsServerContext::Ptr& context)
{
	connection->loop().assertInLoopThread();
	if (!context) throw Poco::InvalidArgumentException("TlsChannel::server: no TlsServerContext");
	Ptr pChannel(new TlsChannel(connection, context->sslContext(), true));
	pChannel->_pImpl->check.mode = Mode::X509_SERVER;
	SSL_set_verify(pChannel->_pImpl->pSsl, SSL_VERIFY_NONE, nullptr);
	pChannel->start();
	return pChannel;
}


void TlsChannel::start()
{
	Impl& impl = *_pImpl;
	auto self = shared_from_this();
	if (impl.connection->closed())
	{
		impl.closing = true;
		impl.setReason("connection is already closed");
		impl.connection->loop().post([self] { self->deliverClose(self->_pImpl->reason); });
	}
	// The connection's handlers own the channel: it lives as long as the connection is open.
	impl.connection->setDataHandler([self](const char* data, std::size_t size) { self->onCiphertext(data, size); });
	impl.connection->setCloseHandler([self](const std::string& reason) { self->onConnectionClosed(reason); });
	std::weak_ptr<TlsChannel> weak = self;
	impl.connection->setDrainHandler([weak] {
		if (auto channel = weak.lock()) channel->onTransportDrained();
	});
	if (impl.closing) return;
	if (!impl.isServer)
	{
		if (impl.connection->connected())
			beginHandshake();
		else
			impl.connection->setConnectHandler([self] { self->beginHandshake(); });
	}
}


void TlsChannel::setReadyHandler(ReadyHandler handler)
{
	if (!_pImpl->closeDelivered) _pImpl->onReady = std::move(handler);
}


void TlsChannel::setEstablishedHandler(EstablishedHandler handler)
{
	if (!_pImpl->closeDelivered) _pImpl->onEstablished = std::move(handler);
}


void TlsChannel::setConnectHandler(ConnectHandler handler)
{
	if (!_pImpl->closeDelivered) _pImpl->onConnect = std::move(handler);
}


void TlsChannel::setDataHandler(DataHandler handler)
{
	if (!_pImpl->closeDelivered) _pImpl->onData = handler ? std::make_shared<const DataHandler>(std::move(handler)) : nullptr;
}


void TlsChannel::setCloseHandler(CloseHandler handler)
{
	if (!_pImpl->closeDelivered) _pImpl->onClose = std::move(handler);
}


void TlsChannel::setDrainHandler(DrainHandler handler)
{
	if (!_pImpl->closeDelivered) _pImpl->onDrain = std::move(handler);
}


void TlsChannel::receiveCiphertext(const std::string& bytes)
{
	if (!bytes.empty()) onCiphertext(bytes.data(), bytes.size());
}


void TlsChannel::send(const std::string& plaintext)
{
	send(plaintext.data(), plaintext.size());
}


void TlsChannel::send(const char* data, std::size_t size)
{
	Impl& impl = *_pImpl;
	impl.connection->loop().assertInLoopThread();
	if (impl.closing || impl.closeAfterHandshake || size == 0) return;
	if (!impl.ready)
	{
		impl.plaintext.append(data, size);
		return;
	}
	if (impl.plaintext.size() + size >= COALESCE_LIMIT)
	{
		// A lot at once: what is queued first, then this without copying it.
		flushPlaintext();
		writePlaintext(data, size);
		return;
	}
	impl.plaintext.append(data, size);
	scheduleFlush();
}


std::size_t TlsChannel::bufferedAmount() const
{
	return _pImpl->plaintext.size() + _pImpl->connection->bufferedAmount();
}


void TlsChannel::scheduleFlush()
{
	Impl& impl = *_pImpl;
	if (impl.flushQueued) return;
	impl.flushQueued = true;
	if (!impl.pFlushTask)
	{
		std::weak_ptr<TlsChannel> weak = shared_from_this();
		impl.pFlushTask = std::make_shared<const EventLoop::Task>([weak] {
			if (auto self = weak.lock())
			{
				self->_pImpl->flushQueued = false;
				self->flushPlaintext();
			}
		});
	}
	impl.connection->loop().runAtIterationEnd(impl.pFlushTask);
}


void TlsChannel::flushPlaintext()
	/// Encrypts everything queued with one SSL_write (records of up to 16 KiB); the ciphertext
	/// joins the connection's output.
{
	Impl& impl = *_pImpl;
	if (impl.plaintext.empty() || impl.closing || !impl.ready) return;
	std::string plaintext;
	plaintext.swap(impl.plaintext);
	writePlaintext(plaintext.data(), plaintext.size());
	// Reuse the buffer unless it has grown large.
	if (plaintext.capacity() <= KEPT_PLAINTEXT_CAPACITY && impl.plaintext.empty())
	{
		plaintext.clear();
		impl.plaintext.swap(plaintext);
	}
}


void TlsChannel::close()
{
	Impl& impl = *_pImpl;
	impl.connection->loop().assertInLoopThread();
	if (impl.closing || impl.closeAfterHandshake) return;
	if (!impl.ready && !impl.plaintext.empty())
	{
		impl.closeAfterHandshake = true;
		return;
	}
	if (impl.ready) flushPlaintext();
	if (impl.closing) return;
	impl.closing = true;
	if (impl.ready)
	{
		ERR_clear_error();
		SSL_shutdown(impl.pSsl);   // queues close_notify; we do not wait for the peer's
		ERR_clear_error();
	}
	impl.connection->close();
}


void TlsChannel::abort(const std::string& reason)
{
	Impl& impl = *_pImpl;
	impl.connection->loop().assertInLoopThread();
	if (impl.closeDelivered) return;
	impl.closing = true;
	impl.setReason(reason);
	impl.connection->abort(reason);
}


bool TlsChannel::ready() const
{
	return _pImpl->ready && !_pImpl->closing;
}


bool TlsChannel::connected() const
{
	return ready();
}


bool TlsChannel::closed() const
{
	return _pImpl->closing || _pImpl->closeAfterHandshake;
}


bool TlsChannel::aboveHighWaterMark() const
{
	return _pImpl->connection->aboveHighWaterMark();
}


void TlsChannel::pauseReading()
{
	Impl& impl = *_pImpl;
	impl.connection->loop().assertInLoopThread();
	impl.readingPaused = true;
	impl.connection->pauseReading();
}


void TlsChannel::resumeReading()
{
	Impl& impl = *_pImpl;
	impl.connection->loop().assertInLoopThread();
	if (!impl.readingPaused) return;
	impl.readingPaused = false;
	impl.connection->resumeReading();
	// Ciphertext kept while paused, and records OpenSSL has decrypted already, are delivered
	// on the next turn, not from inside this call.
	std::weak_ptr<TlsChannel> weak = shared_from_this();
	impl.connection->loop().post([weak] {
		auto self = weak.lock();
		if (self && self->_pImpl->ready && !self->_pImpl->readingPaused) self->readPlaintext();
	});
}


Poco::Net::SocketAddress TlsChannel::localAddress() const
{
	return _pImpl->connection->localAddress();
}


Poco::Net::SocketAddress TlsChannel::peerAddress() const
{
	return _pImpl->connection->peerAddress();
}


EventLoop& TlsChannel::loop() const
{
	return _pImpl->connection->loop();
}


const std::optional<PeerId>& TlsChannel::peerId() const
{
	return _peerId;
}


const ByteStream::Ptr& TlsChannel::connection() const
{
	return _pImpl->connection;
}


std::string TlsChannel::protocolVersion() const
{
	return _pImpl->ready ? SSL_get_version(_pImpl->pSsl) : std::string();
}


const std::string& TlsChannel::peerCertificateSubject() const
{
	return _pImpl->peerSubject;
}


void TlsChannel::beginHandshake()
{
	Impl& impl = *_pImpl;
	if (impl.closing || impl.handshakeStarted) return;
	impl.handshakeStarted = true;
	doHandshake();
}


void TlsChannel::onCiphertext(const char* data, std::size_t size)
{
	Impl& impl = *_pImpl;
	if (impl.closing) return;
	// OpenSSL reads this straight from the transport's buffer through the BIO; while reading
	// is paused, endInput() keeps it for resumeReading().
	impl.io.pInput = data;
	impl.io.inputSize = size;
	if (!impl.ready)
	{
		impl.handshakeStarted = true;
		doHandshake();
	}
	else if (!impl.readingPaused)
	{
		readPlaintext();
	}
	impl.io.endInput(!impl.closing);
}


void TlsChannel::doHandshake()
{
	Impl& impl = *_pImpl;
	ERR_clear_error();
	const int rc = SSL_do_handshake(impl.pSsl);
	const int error = rc == 1 ? SSL_ERROR_NONE : SSL_get_error(impl.pSsl, rc);
	const std::string errors = openSSLError("");
	// What the handshake produced (also an alert after a failure) is in the connection's output.
	if (impl.connection->closed()) return;
	if (rc == 1)
	{
		handshakeDone();
		return;
	}
	if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) return;
	if (!impl.check.failure.empty())
	{
		logger().warning("TLS handshake with %s refused: %s",
			impl.connection->peerAddress().toString(), impl.check.failure);
		fail(impl.check.failure);
	}
	else if (impl.check.mode == Mode::X509_CLIENT && SSL_get_verify_result(impl.pSsl) != X509_V_OK)
	{
		const long result = SSL_get_verify_result(impl.pSsl);
		const std::string reason = "TLS certificate verification failed for " + impl.check.host + ": "
			+ X509_verify_cert_error_string(result);
		logger().warning("TLS handshake with %s refused: %s", impl.connection->peerAddress().toString(), reason);
		fail(reason);
	}
	else
	{
		fail("TLS handshake failed: " + (errors.empty() ? "error " + std::to_string(error) : errors));
	}
}


void TlsChannel::handshakeDone()
{
	Impl& impl = *_pImpl;
	if (impl.check.mode != Mode::PINNED)
	{
		x509HandshakeDone();
		return;
	}
	// pinCertificate() has accepted the key of the certificate the session holds; if the
	// session should hold another one, check that one the same way.
	X509* pPeer = SSL_get0_peer_certificate(impl.pSsl);
	if (!impl.check.pKey || pPeer != impl.check.pVerified)
	{
		impl.check.pKey.reset();
		const std::string failure = checkLeaf(pPeer, impl.check);
		if (!failure.empty())
		{
			logger().warning("TLS peer %s refused: %s", impl.connection->peerAddress().toString(), failure);
			fail(failure);
			return;
		}
	}
	std::optional<PublicKey> key;
	try
	{
		key = PublicKey(impl.check.pKey);   // the certificate's own key object, not a copy
	}
	catch (const Poco::Exception& exc)
	{
		fail("cannot use the peer's public key: " + exc.displayText());
		return;
	}
	_peerId = key->peerId();
	established(&*key);
}


void TlsChannel::x509HandshakeDone()
{
	Impl& impl = *_pImpl;
	if (impl.check.mode == Mode::X509_CLIENT)
	{
		// The verify callback let OpenSSL decide; make sure it did verify, and what.
		X509* pCert = SSL_get0_peer_certificate(impl.pSsl);
		const long result = SSL_get_verify_result(impl.pSsl);
		if (!pCert || result != X509_V_OK)
		{
			const std::string reason = "TLS certificate verification failed for " + impl.check.host + ": "
				+ (pCert ? X509_verify_cert_error_string(result) : "the server presented no certificate");
			logger().warning("TLS peer %s refused: %s", impl.connection->peerAddress().toString(), reason);
			fail(reason);
			return;
		}
		impl.peerSubject = x509NameText(X509_get_subject_name(pCert));
	}
	established(nullptr);
}


void TlsChannel::established(const PublicKey* pKey)
{
	Impl& impl = *_pImpl;
	impl.ready = true;
	// Plaintext queued before the handshake leaves with whatever the handlers send now.
	if (!impl.plaintext.empty()) scheduleFlush();
	if (impl.closeAfterHandshake)
	{
		impl.closeAfterHandshake = false;
		close();
		return;
	}
	if (impl.onReady && pKey)
	{
		ReadyHandler handler = impl.onReady;   // the handler may replace itself
		handler(*_peerId, *pKey);
		if (impl.closing) return;
	}
	if (impl.onEstablished)
	{
		EstablishedHandler handler = impl.onEstablished;
		handler();
		if (impl.closing) return;
	}
	if (impl.onConnect)
	{
		ConnectHandler handler = std::move(impl.onConnect);   // once
		impl.onConnect = nullptr;
		handler();
		if (impl.closing) return;
	}
	// Application data may have arrived together with the last handshake flight.
	if (!impl.readingPaused) readPlaintext();
}


void TlsChannel::readPlaintext()
	/// Decrypts what the input holds into pieces of up to READ_BUFFER_SIZE (several records
	/// each), and hands each piece to the data handler.
{
	Impl& impl = *_pImpl;
	char buffer[READ_BUFFER_SIZE];
	while (!impl.closing && !impl.readingPaused)
	{
		const std::size_t before = impl.io.available();
		std::size_t filled = 0;
		int error = SSL_ERROR_NONE;
		bool drained = false;
		clearErrors();
		while (sizeof(buffer) - filled >= MAX_RECORD_PLAINTEXT)
		{
			std::size_t n = 0;
			if (SSL_read_ex(impl.pSsl, buffer + filled, sizeof(buffer) - filled, &n) != 1)
			{
				error = SSL_get_error(impl.pSsl, 0);
				break;
			}
			filled += n;
			// Everything at hand is decrypted: another SSL_read would only say WANT_READ.
			if (impl.io.available() == 0 && !SSL_has_pending(impl.pSsl))
			{
				drained = true;
				break;
			}
		}
		if (filled > 0 && impl.onData)
		{
			const std::shared_ptr<const DataHandler> pHandler = impl.onData;   // the handler may replace itself
			(*pHandler)(buffer, filled);
			if (impl.closing) return;
		}
		if (drained) return;
		if (error == SSL_ERROR_NONE) continue;   // the buffer filled up: there may be more
		if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE)
		{
			// OpenSSL reads until the input is used up, so WANT_READ normally means it is. A
			// record that carried no application data (a KeyUpdate, say) may leave more
			// behind it: go on while input remains and is being consumed.
			if (impl.connection->closed()) return;
			const std::size_t after = impl.io.available();
			if (after > 0 && after < before) continue;
			return;
		}
		if (error == SSL_ERROR_ZERO_RETURN)
		{
			impl.closeNotifyReceived = true;
			close();   // answers with our close_notify
			return;
		}
		const std::string errors = openSSLError("");
		fail("TLS error: " + (errors.empty() ? "error " + std::to_string(error) : errors));
		return;
	}
}


void TlsChannel::writePlaintext(const char* data, std::size_t size)
	/// Encrypts data in pieces of up to WRITE_PIECE: a piece of one record goes to the socket
	/// without a copy; the records of a larger piece are queued on the corked connection and
	/// leave in one write, and the socket gets to work on the first piece while the next one
	/// is encrypted.
{
	Impl& impl = *_pImpl;
	while (size > 0 && !impl.closing)
	{
		const std::size_t piece = std::min(size, WRITE_PIECE);
		// One record: straight from OpenSSL's buffer to the socket. Several: gathered on the
		// corked connection and written together.
		const bool oneRecord = piece <= MAX_RECORD_PLAINTEXT;
		std::size_t written = 0;
		if (oneRecord)
			impl.io.writeNow = true;
		else
			impl.connection->cork();
		clearErrors();
		const bool ok = SSL_write_ex(impl.pSsl, data, piece, &written) == 1 && written == piece;
		const int error = ok ? SSL_ERROR_NONE : SSL_get_error(impl.pSsl, 0);
		const std::string errors = ok ? std::string() : openSSLError("");
		if (oneRecord)
			impl.io.writeNow = false;
		else
			impl.connection->uncork();
		if (!ok)
		{
			fail("TLS write failed: " + (errors.empty() ? "error " + std::to_string(error) : errors));
			return;
		}
		data += piece;
		size -= piece;
	}
}


void TlsChannel::fail(const std::string& reason)
	/// Ends the channel with reason; the connection is closed gracefully so that an alert that
	/// was just flushed reaches the peer.
{
	Impl& impl = *_pImpl;
	if (impl.closing) return;
	logger().debug("TLS channel to %s failed: %s", impl.connection->peerAddress().toString(), reason);
	impl.closing = true;
	impl.setReason(reason);
	impl.connection->close();
}


void TlsChannel::onConnectionClosed(const std::string& reason)
{
	Impl& impl = *_pImpl;
	if (impl.hasReason)
		deliverClose(impl.reason);
	else if (!reason.empty())
		deliverClose(reason);
	else if (impl.closing)
		deliverClose("");
	else if (!impl.ready)
		deliverClose("connection closed during the TLS handshake");
	else
		deliverClose("connection closed without TLS close_notify");
}


void TlsChannel::onTransportDrained()
{
	Impl& impl = *_pImpl;
	if (impl.closeDelivered || !impl.onDrain) return;
	DrainHandler handler = impl.onDrain;   // the handler may replace itself
	handler();
}


void TlsChannel::deliverClose(const std::string& reason)
{
	Impl& impl = *_pImpl;
	if (impl.closeDelivered) return;
	impl.closeDelivered = true;
	impl.closing = true;
	std::string().swap(impl.plaintext);
	impl.io.release();
	CloseHandler handler = std::move(impl.onClose);
	impl.onClose = nullptr;
	impl.onReady = nullptr;
	impl.onEstablished = nullptr;
	impl.onConnect = nullptr;
	impl.onData = nullptr;
	impl.onDrain = nullptr;
	if (handler) handler(reason);
}


} // namespace CrossChat
