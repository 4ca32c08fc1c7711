//
// ChatTestSuite.cpp
//
// testsuite: all Chat tests.
//


#include "ChatTestSuite.h"
#include "ChatNodeTest.h"
#include "ChatRelayTest.h"
#include "SessionProtocolTest.h"
#include "ChatSessionTest.h"
#include "PortMapperTest.h"
#include "OutboxTest.h"
#include "PeerTest.h"
#include "LadderTest.h"
#include "AddressPolicyTest.h"
#include "ChatStoreTest.h"
#include "ChatTransferTest.h"
#include "TransferProtocolTest.h"
#include "SafeFileNameTest.h"
#include "TransferWindowTest.h"
#include "DownloadBudgetTest.h"
#include "PartFileTest.h"
#include "TransferServiceTest.h"
#include "GroupLogTest.h"
#include "GroupServiceTest.h"
#include "GroupNodeTest.h"
#include "EnvelopeTest.h"
#include <cppunit/TestSuite.h>


CppUnit::Test* ChatTestSuite::suite()
{
	CppUnit::TestSuite* pSuite = new CppUnit::TestSuite("ChatTestSuite");
	pSuite->addTest(SessionProtocolTest::suite());
	pSuite->addTest(ChatSessionTest::suite());
	pSuite->addTest(OutboxTest::suite());
	pSuite->addTest(AddressPolicyTest::suite());
	pSuite->addTest(PeerTest::suite());
	pSuite->addTest(LadderTest::suite());
	pSuite->addTest(ChatNodeTest::suite());
	pSuite->addTest(ChatRelayTest::suite());
	pSuite->addTest(PortMapperTest::suite());
	pSuite->addTest(ChatStoreTest::suite());
	pSuite->addTest(TransferProtocolTest::suite());
	pSuite->addTest(SafeFileNameTest::suite());
	pSuite->addTest(TransferWindowTest::suite());
	pSuite->addTest(DownloadBudgetTest::suite());
	pSuite->addTest(PartFileTest::suite());
	pSuite->addTest(TransferServiceTest::suite());
	pSuite->addTest(ChatTransferTest::suite());
	pSuite->addTest(GroupLogTest::suite());
	pSuite->addTest(GroupServiceTest::suite());
	pSuite->addTest(GroupNodeTest::suite());
	pSuite->addTest(EnvelopeTest::suite());
	return pSuite;
}
