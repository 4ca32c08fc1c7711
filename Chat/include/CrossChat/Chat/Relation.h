//
// Relation.h
//
// Library: Chat
// What a peer is to the user: stranger, contact or blocked.
//


#ifndef CrossChat_Chat_Relation_INCLUDED
#define CrossChat_Chat_Relation_INCLUDED


namespace CrossChat {
namespace Chat {


enum class Relation
	/// What a peer is to the user (see ChatNode, "Consent"). ChatStore keeps the numbers in its
	/// database: never renumber.
{
	STRANGER = 0,   ///< Met, never chosen: the node receives from it but acts on nothing it says.
	CONTACT = 1,    ///< Written to or accepted: the node dials, punches and upgrades for it.
	BLOCKED = 2     ///< Its messages are refused; nothing is dialed.
};


const char* relationName(Relation relation);
	/// "stranger", "contact" or "blocked". Safe to call from any thread.


} } // namespace CrossChat::Chat


#endif // CrossChat_Chat_Relation_INCLUDED
