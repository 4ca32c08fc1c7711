//
// MessageSchemaTest.h
//
// testsuite: tests for MessageSchema.
//


#ifndef CrossChat_Test_MessageSchemaTest_INCLUDED
#define CrossChat_Test_MessageSchemaTest_INCLUDED


#include <cppunit/extensions/HelperMacros.h>


class MessageSchemaTest: public CppUnit::TestFixture
{
	CPPUNIT_TEST_SUITE(MessageSchemaTest);
	CPPUNIT_TEST_SUITE_END();
};


#endif // CrossChat_Test_MessageSchemaTest_INCLUDED
