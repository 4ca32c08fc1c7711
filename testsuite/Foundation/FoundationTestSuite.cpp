//
// FoundationTestSuite.cpp
//
// testsuite: all Foundation tests.
//


#include "FoundationTestSuite.h"
#include "ByteQueueTest.h"
#include "EventLoopTest.h"
#include "ManualSchedulerTest.h"
#include "TextTest.h"
#include "IdentityTest.h"
#include "DataDirectoryTest.h"
#include "PeerIdTest.h"
#include "FrameCodecTest.h"
#include "MessageSchemaTest.h"
#include "TcpConnectionTest.h"
#include "TlsChannelTest.h"
#include "TlsClientContextTest.h"
#include "TlsServerContextTest.h"
#include "HpkeTest.h"
#include <cppunit/TestSuite.h>


CppUnit::Test* FoundationTestSuite::suite()
{
	CppUnit::TestSuite* pSuite = new CppUnit::TestSuite("FoundationTestSuite");
	pSuite->addTest(EventLoopTest::suite());
	pSuite->addTest(ManualSchedulerTest::suite());
	pSuite->addTest(TextTest::suite());
	pSuite->addTest(IdentityTest::suite());
	pSuite->addTest(DataDirectoryTest::suite());
	pSuite->addTest(PeerIdTest::suite());
	pSuite->addTest(FrameCodecTest::suite());
	pSuite->addTest(ByteQueueTest::suite());
	pSuite->addTest(MessageSchemaTest::suite());
	pSuite->addTest(TcpConnectionTest::suite());
	pSuite->addTest(TlsChannelTest::suite());
	pSuite->addTest(TlsServerContextTest::suite());
	pSuite->addTest(TlsClientContextTest::suite());
	pSuite->addTest(HpkeTest::suite());
	return pSuite;
}
