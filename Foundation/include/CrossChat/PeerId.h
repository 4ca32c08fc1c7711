//
// PeerId.h
//
// Library: Foundation
// A peer's identity: the SHA-256 of its public key's SubjectPublicKeyInfo (DER).
//


#ifndef CrossChat_Foundation_PeerId_INCLUDED
#define CrossChat_Foundation_PeerId_INCLUDED


#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>


namespace CrossChat {


class PeerId
	/// A 32-byte peer identifier, a value type.
	///
	/// Human form: the 32 bytes in RFC 4648 base32 (52 characters, A-Z and 2-7, no padding),
	/// cut into 4 blocks of 13 characters, each followed by one Luhn mod 32 check character
	/// (56 characters), printed in 8 groups of 7 joined by '-', for example
	/// "AAAQEAY-EAUDAO5-CAJBIFQ-YDIOB4X-IBCEQTC-QKRMFYM-YDENBWH-A5DYPQS". Any single mistyped
	/// character and most transpositions fail the check.
	///
	/// Parsing is done by the named factories parse() and tryParse(), never by a constructor.
	/// Parsing accepts lower case, and ignores '-' and spaces.
	///
	/// Thread rules: immutable value; safe to share between threads.
{
public:
	static constexpr std::size_t SIZE = 32;
	using Bytes = std::array<std::uint8_t, SIZE>;

	PeerId();
		/// The all-zero ID; isNull() is true.

	static PeerId fromPublicKeyDer(const std::string& spkiDer);
		/// The ID of a public key given as DER SubjectPublicKeyInfo (SHA-256 of those bytes).

	static PeerId fromPublicKeyDer(const std::uint8_t* spkiDer, std::size_t size);
		/// As above, for bytes in a buffer.

	static PeerId fromBytes(const std::string& bytes);
		/// Takes 32 raw bytes. Throws InvalidPeerIdException on any other length.

	static PeerId fromBytes(const Bytes& bytes);
		/// Takes 32 raw bytes.

	static PeerId parse(const std::string& text);
		/// Parses the human form. Throws InvalidPeerIdException, naming the problem, if the text
		/// has the wrong length, a character outside the alphabet or a wrong check character.

	static std::optional<PeerId> tryParse(const std::string& text);
		/// As parse(), but returns an empty optional instead of throwing.

	static bool isPrefixOf(const std::string& prefix, const PeerId& id);
		/// True if prefix (same normalisation as parse(), any length >= 1) starts the human
		/// form of id. Used to let people type a unique short ID.

	std::string toString() const;
		/// The human form with dashes.

	std::string shortString() const;
		/// The first group of 7 characters, for display.

	const Bytes& bytes() const;
		/// The raw 32 bytes.

	std::string byteString() const;
		/// The raw 32 bytes as a std::string.

	bool isNull() const;
		/// True for the all-zero ID made by the default constructor.

	bool operator==(const PeerId& other) const;
	bool operator!=(const PeerId& other) const;
	bool operator<(const PeerId& other) const;

private:
	explicit PeerId(const Bytes& bytes);

	Bytes _bytes;
};


} // namespace CrossChat


template <>
struct std::hash<CrossChat::PeerId>
{
	std::size_t operator()(const CrossChat::PeerId& id) const noexcept;
};


#endif // CrossChat_Foundation_PeerId_INCLUDED
