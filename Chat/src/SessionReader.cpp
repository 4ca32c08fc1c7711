//
// SessionReader.cpp
//
// Library: Chat
//


#include "SessionReader.h"
#include "CrossChat/Chat/SessionProtocol.h"
#include "CrossChat/FoundationException.h"
#include "CrossChat/MessageSchema.h"
#include "CrossChat/Text.h"
#include "Poco/JSON/Array.h"


namespace CrossChat {
namespace Chat {


SessionReader::SessionReader(Handler& handler):
	_handler(handler),
	_codec(SessionProtocol::MAX_FRAME_SIZE)
{
}


void SessionReader::feed(const char* data, std::size_t size)
{
	if (_handler.stopped()) return;
	try
	{
		_codec.decode(data, size, [this](const FrameView& frame) {
			if (!_handler.stopped()) handle(frame);
		});
	}
	catch (const FrameException&)
	{
		if (_handler.stopped()) return;   // what follows a close is not read
		throw;
	}
}


void SessionReader::handle(const FrameView& frame)
{
	const MessageCatalog& catalog = SessionProtocol::catalog();
	if (frame.type == SessionProtocol::TEXT_BIN || frame.type == SessionProtocol::RECEIPTS || SessionProtocol::isBinary(frame.type))
	{
		if (!_established) throw MessageException("message type " + std::to_string(frame.type) + " before hello");
		if (frame.type == SessionProtocol::TEXT_BIN)
		{
			handleText(frame);
		}
		else if (frame.type == SessionProtocol::RECEIPTS)
		{
			handleReceipts(frame);
		}
		else
		{
			Frame copy;
			copy.type = frame.type;
			copy.body.assign(frame.data, frame.size);
			_handler.onBinary(copy);
		}
		return;
	}
	if (!catalog.has(frame.type)) return;   // a newer peer's message: skipped, so the protocol can grow
	if (frame.type == catalog.typeOf("hello"))
	{
		if (_established) throw MessageException("second hello");
		const Message hello = catalog.decode(frame);   // malformed: the handshake fails
		const std::string name = hello.body->getValue<std::string>("name");
		if (!Text::isValidUtf8(name)) throw MessageException("hello: the name is not valid UTF-8");
		std::vector<std::string> caps;
		if (hello.body->has("caps"))
		{
			const Poco::JSON::Array::Ptr pCaps = hello.body->getArray("caps");
			for (std::size_t i = 0; i < pCaps->size(); ++i)
			{
				const Poco::Dynamic::Var& cap = pCaps->get(static_cast<unsigned>(i));
				if (cap.isString()) caps.push_back(cap.extract<std::string>());
			}
		}
		_established = true;
		_handler.onHello(name, caps);
		return;
	}
	if (!_established) throw MessageException("message type " + std::to_string(frame.type) + " before hello");
	Message message;
	try
	{
		message = catalog.decode(frame);
	}
	catch (const MessageException& exc)
	{
		skip(frame, exc.message());
		return;
	}
	if (message.name == "text" && !Text::isValidUtf8(message.body->getValue<std::string>("text")))
	{
		// Reachable through \u escapes of lone surrogates, which Poco decodes to bytes that are not UTF-8.
		++_skipped;
		_handler.onRefused(message.body->getValue<std::string>("id"), SessionProtocol::REFUSE_INVALID_UTF8,
			"the text is not valid UTF-8");
		return;
	}
	if (message.name == "name" && !Text::isValidUtf8(message.body->getValue<std::string>("name")))
	{
		skip(frame, "the name is not valid UTF-8");
		return;
	}
	_handler.onMessage(message);
}


void SessionReader::handleText(const FrameView& frame)
{
	std::string_view id;
	std::string_view text;
	std::int64_t timestampMs = 0;
	if (const char* problem = SessionProtocol::parseText(frame.body(), id, timestampMs, text))
	{
		++_skipped;
		_handler.onRefused(std::string(id), SessionProtocol::REFUSE_MALFORMED, problem);
		return;
	}
	if (!Text::isValidUtf8(text.data(), text.size()))
	{
		++_skipped;
		_handler.onRefused(std::string(id), SessionProtocol::REFUSE_INVALID_UTF8, "the text is not valid UTF-8");
		return;
	}
	_handler.onText(id, timestampMs, text);
}


void SessionReader::handleReceipts(const FrameView& frame)
{
	if (const char* problem = SessionProtocol::parseReceipts(frame.body(), _receiptIds))
	{
		++_skipped;
		_handler.onRefused(std::string(), SessionProtocol::REFUSE_MALFORMED, problem);
		return;
	}
	for (const std::string_view id: _receiptIds)
	{
		if (_handler.stopped()) break;
		_handler.onReceipt(id);
	}
}


void SessionReader::skip(const FrameView& frame, const std::string& problem)
{
	++_skipped;
	std::string id;
	const bool utf8 = Text::isValidUtf8(frame.data, frame.size);
	if (frame.type == SessionProtocol::catalog().typeOf("text"))
	{
		try
		{
			// A lossy decode is enough to read the id of a text that is not UTF-8.
			const Poco::JSON::Object::Ptr pBody = MessageSchema::parseObject(utf8 ? std::string(frame.body()) : Text::replaceInvalidUtf8(std::string(frame.body())));
			if (pBody->has("id") && pBody->get("id").isString())
			{
				id = pBody->getValue<std::string>("id");
				if (id.empty() || id.size() > SessionProtocol::MAX_MESSAGE_ID_SIZE || !Text::isValidUtf8(id)
					|| id.find("\xEF\xBF\xBD") != std::string::npos)
				{
					id.clear();
				}
			}
		}
		catch (const Poco::Exception&)
		{
			// not even JSON: nothing to refuse by id
		}
	}
	_handler.onRefused(id, utf8 ? SessionProtocol::REFUSE_MALFORMED : SessionProtocol::REFUSE_INVALID_UTF8,
		utf8 ? problem : "the message is not valid UTF-8");
}


bool SessionReader::established() const
{
	return _established;
}


std::uint64_t SessionReader::skipped() const
{
	return _skipped;
}


} } // namespace CrossChat::Chat
