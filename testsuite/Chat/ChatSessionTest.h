//
// ChatSessionTest.h
//
// testsuite: tests for ChatSession's binary texts and receipts (SessionProtocol::TEXT_BIN,
// RECEIPTS, cap "text-bin/1"): their codec, the SessionReader's rules for them, both cap
// combinations between two real sessions over loopback TLS, and the bytes on the wire.
//


#ifndef CrossChat_Test_ChatSessionTest_INCLUDED
#define CrossChat_Test_ChatSessionTest_INCLUDED


#include <cppunit/extensions/HelperMacros.h>


class ChatSessionTest: public CppUnit::TestFixture
{
	CPPUNIT_TEST_SUITE(ChatSessionTest);
	CPPUNIT_TEST(testCodecRoundTrip);
	CPPUNIT_TEST(testCodecRejects);
	CPPUNIT_TEST(testReaderBinaryFrames);
	CPPUNIT_TEST(testReaderSkipsMalformedBinary);
	CPPUNIT_TEST(testBinaryBetweenSessions);
	CPPUNIT_TEST(testJsonWhenEitherLacksCap);
	CPPUNIT_TEST(testReceiptsBatchedOnWire);
	CPPUNIT_TEST(testJsonOnWireWithoutCap);
	CPPUNIT_TEST(testMalformedBinaryRefusedOnWire);
	CPPUNIT_TEST_SUITE_END();

public:
	void testCodecRoundTrip();
	void testCodecRejects();
	void testReaderBinaryFrames();
	void testReaderSkipsMalformedBinary();
	void testBinaryBetweenSessions();
	void testJsonWhenEitherLacksCap();
	void testReceiptsBatchedOnWire();
	void testJsonOnWireWithoutCap();
	void testMalformedBinaryRefusedOnWire();
};


#endif // CrossChat_Test_ChatSessionTest_INCLUDED
