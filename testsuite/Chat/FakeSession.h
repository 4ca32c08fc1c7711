//
// FakeSession.h
//
// testsuite: a Session without sockets or TLS, driven by the test and recording what the
// code under test sends on it.
//


#ifndef CrossChat_Test_FakeSession_INCLUDED
#define CrossChat_Test_FakeSession_INCLUDED


#include "Session.h"
#include "CrossChat/ManualScheduler.h"
#include "CrossChat/PeerId.h"
#include "Poco/Net/SocketAddress.h"
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>


namespace CrossChat {
namespace Test {


class FakeSession: public Chat::Session, public std::enable_shared_from_this<FakeSession>
	/// A chat session as the Peer sees it, played by the test:
	///   - the test moves it through its life: tlsReady() (with the key the other end shows),
	///     establish() (the peer's hello), deliver*() (messages from the peer, encoded and
	///     decoded through SessionProtocol's catalog, so only schema-valid ones arrive), and
	///     closeByPeer() / refuse() (the connection ends, before or after TLS);
	///   - what the code under test does to it is recorded: texts, receipts, refusals, contact
	///     messages, close() and abort() with their reasons, detach().
	///
	/// As a real ChatSession, it reports its own end later, from the loop: close() and abort()
	/// post onSessionClosed on the scheduler (run it with runPending() or advance()), and until
	/// then the session still counts as established. A session may be linked to its mirror on
	/// the other side of a simulated pair (link()): whatever ends one ends the other.
	///
	/// Thread rules: the scheduler's thread only.
	/// Ownership: held by std::shared_ptr; does not own its Listener or the scheduler.
{
public:
	using Ptr = std::shared_ptr<FakeSession>;

	struct Text
	{
		std::string id;
		std::int64_t timestampMs = 0;
		std::string text;
	};

	struct Refusal
	{
		std::string id;
		std::string code;
		std::string reason;
	};

	static Ptr create(ManualScheduler& scheduler, std::uint64_t serial, bool outgoing, Chat::Path path,
		const Poco::Net::SocketAddress& remote, Listener* pListener);

	// Driven by the test -------------------------------------------------------------------

	void tlsReady(const PeerId& presented);
		/// TLS is up and the other end showed the key of presented.
	void establish(const PeerId& presented, const std::string& name = "peer");
		/// The peer's hello arrived (TLS first, if not yet). The listener hears both.
	void deliverText(const std::string& id, const std::string& text, std::int64_t timestampMs = 1700000000000);
	void deliverReceipt(const std::string& id);
	void deliverRefusal(const std::string& id, const std::string& code, const std::string& reason);
	void deliverContact(bool accepted);
	void refuse(const std::string& reason = "connection refused");
		/// The connection attempt fails (before TLS, or at any time): reported at once.
	void closeByPeer(const std::string& reason = std::string());
		/// The other end closed: reported at once.
	void link(const Ptr& mirror);
		/// The two ends of one simulated connection: closing either ends both.
	void forwardTo(const Ptr& mirror);
		/// From now on, what the code under test sends (sendMessage(), sendData()) reaches the
		/// mirror's listener too, from a task posted on the scheduler (as from the network),
		/// through the real catalog; link() both ways first for a full pair.
	void deliverData(std::uint8_t type, const std::string& body);
		/// A binary frame from the peer.
	void deliverMessage(const std::string& name, const Poco::JSON::Object& body);
		/// Any message of the catalog from the peer (through the catalog, as deliverText()).
	void setUnsent(std::size_t bytes);
		/// What unsentBytes() answers (the connection's output buffer).
	void drain();
		/// The output buffer empties: unsentBytes() becomes 0 and the drain handler runs.

	// Recorded -----------------------------------------------------------------------------

	const std::vector<Text>& texts() const;
	std::vector<std::string> textIds() const;
	const std::vector<std::string>& receipts() const;
	const std::vector<Refusal>& refusals() const;
	const std::vector<bool>& contacts() const;
	const std::optional<std::string>& closedWith() const;
		/// The reason given to close(), if the code under test called it.
	const std::optional<std::string>& abortedWith() const;
		/// The reason given to abort(), if the code under test called it.
	bool endedByUs() const;
		/// close(), abort() or detach() was called.
	bool detached() const;
	Listener* listener() const;

	// Session ------------------------------------------------------------------------------

	void setListener(Listener* pListener) override;
	void sendText(const std::string& id, std::int64_t timestampMs, const std::string& text) override;
	void sendReceipt(std::string_view id) override;
	void sendRefusal(const std::string& id, const std::string& code, const std::string& reason) override;
	void sendContact(bool accepted) override;
	void sendMessage(const std::string& name, const Poco::JSON::Object& body) override;
	bool peerSupports(const std::string& capability) const override;
	void setPeerCaps(std::vector<std::string> caps);
		/// What the other end's hello listed.
	const std::vector<std::pair<std::string, std::string>>& messagesSent() const;
		/// (name, JSON body) of every sendMessage().
	void sendData(std::uint8_t type, const std::string& body) override;
	std::size_t unsentBytes() const override;
	void setDrainHandler(DrainHandler handler) override;
	const std::vector<std::pair<std::uint8_t, std::string>>& dataSent() const;
		/// (type, body) of every sendData().
	std::function<void(std::uint8_t type, std::string& body)> dataHook;
		/// Called with each frame body sendData() forwards, before it leaves (a test may change it).
	void close(const std::string& reason) override;
	void abort(const std::string& reason) override;
	void detach() override;

	bool outgoing() const override;
	bool tlsReady() const override;
	bool established() const override;
	bool closed() const override;
	std::uint64_t serial() const override;
	const PeerId& peerId() const override;
	const std::string& peerName() const override;
	Chat::Path path() const override;
	Poco::Net::SocketAddress remoteAddress() const override;

private:
	FakeSession(ManualScheduler& scheduler, std::uint64_t serial, bool outgoing, Chat::Path path,
		const Poco::Net::SocketAddress& remote, Listener* pListener);
	void deliver(const std::string& name, const Poco::JSON::Object& body);
	void ended(const std::string& reason);
	void endLater(const std::string& reason);

	ManualScheduler& _scheduler;
	const std::uint64_t _serial;
	const bool _outgoing;
	const Chat::Path _path;
	const Poco::Net::SocketAddress _remote;
	Listener* _pListener;
	std::weak_ptr<FakeSession> _mirror;
	std::weak_ptr<FakeSession> _forward;
	std::vector<std::pair<std::uint8_t, std::string>> _data;
	std::size_t _unsent = 0;
	DrainHandler _onDrain;
	bool _tlsReady = false;
	bool _established = false;
	bool _closed = false;
	bool _ending = false;
	bool _detached = false;
	PeerId _peerId;
	std::string _peerName;
	std::vector<Text> _texts;
	std::vector<std::string> _receipts;
	std::vector<Refusal> _refusals;
	std::vector<bool> _contacts;
	std::vector<std::pair<std::string, std::string>> _messages;
	std::vector<std::string> _peerCaps;
	std::optional<std::string> _closedWith;
	std::optional<std::string> _abortedWith;
};


} } // namespace CrossChat::Test


#endif // CrossChat_Test_FakeSession_INCLUDED
