//
// MessageSchemaTest.h
//
// testsuite: tests for MessageSchema and MessageCatalog.
//


#ifndef CrossChat_Test_MessageSchemaTest_INCLUDED
#define CrossChat_Test_MessageSchemaTest_INCLUDED


#include <cppunit/extensions/HelperMacros.h>


class MessageSchemaTest: public CppUnit::TestFixture
{
	CPPUNIT_TEST_SUITE(MessageSchemaTest);
	CPPUNIT_TEST(testValidMessage);
	CPPUNIT_TEST(testMissingRequiredField);
	CPPUNIT_TEST(testOptionalFieldMayBeAbsent);
	CPPUNIT_TEST(testWrongTypes);
	CPPUNIT_TEST(testNullIsTypeError);
	CPPUNIT_TEST(testStringBounds);
	CPPUNIT_TEST(testIntegerBounds);
	CPPUNIT_TEST(testArrayBounds);
	CPPUNIT_TEST(testUndeclaredFieldsIgnored);
	CPPUNIT_TEST(testNonObjectRoot);
	CPPUNIT_TEST(testMalformedJson);
	CPPUNIT_TEST(testMaximumDepth);
	CPPUNIT_TEST(testHugeIntegers);
	CPPUNIT_TEST(testValidateBuiltObject);
	CPPUNIT_TEST(testDeclareTwiceThrows);
	CPPUNIT_TEST(testCatalogDeclareDuplicates);
	CPPUNIT_TEST(testCatalogRoundTrip);
	CPPUNIT_TEST(testCatalogUnknownType);
	CPPUNIT_TEST(testCatalogUnknownName);
	CPPUNIT_TEST(testCatalogEncodeValidates);
	CPPUNIT_TEST(testCatalogDecodeValidates);
	CPPUNIT_TEST_SUITE_END();

public:
	void testValidMessage();
	void testMissingRequiredField();
	void testOptionalFieldMayBeAbsent();
	void testWrongTypes();
	void testNullIsTypeError();
	void testStringBounds();
	void testIntegerBounds();
	void testArrayBounds();
	void testUndeclaredFieldsIgnored();
	void testNonObjectRoot();
	void testMalformedJson();
	void testMaximumDepth();
	void testHugeIntegers();
	void testValidateBuiltObject();
	void testDeclareTwiceThrows();
	void testCatalogDeclareDuplicates();
	void testCatalogRoundTrip();
	void testCatalogUnknownType();
	void testCatalogUnknownName();
	void testCatalogEncodeValidates();
	void testCatalogDecodeValidates();
};


#endif // CrossChat_Test_MessageSchemaTest_INCLUDED
