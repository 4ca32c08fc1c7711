//
// SafeFileNameTest.cpp
//
// testsuite: names a hostile sender may offer, and what lands on disk.
//


#include "SafeFileNameTest.h"
#include "SafeFileName.h"
#include "CrossChat/Text.h"
#include <string>


using namespace CrossChat;
using namespace CrossChat::Chat;


namespace {


std::string safe(const std::string& offered)
{
	const std::string name = SafeFileName::make(offered);
	// Whatever came in: a plain name, UTF-8, no separator, not hidden, not "." or "..".
	CPPUNIT_ASSERT(!name.empty());
	CPPUNIT_ASSERT(name.size() <= SafeFileName::MAX_BYTES);
	CPPUNIT_ASSERT(Text::isValidUtf8(name));
	CPPUNIT_ASSERT(name.find('/') == std::string::npos);
	CPPUNIT_ASSERT(name.find('\\') == std::string::npos);
	CPPUNIT_ASSERT(name.find('\0') == std::string::npos);
	CPPUNIT_ASSERT(name[0] != '.');
	CPPUNIT_ASSERT(Text::terminalSafe(name) == name);
	return name;
}


} // namespace


void SafeFileNameTest::testPathsStripped()
{
	CPPUNIT_ASSERT_EQUAL(std::string("x"), safe("../x"));
	CPPUNIT_ASSERT_EQUAL(std::string("passwd"), safe("/etc/passwd"));
	CPPUNIT_ASSERT_EQUAL(std::string("passwd"), safe("../../../../etc/passwd"));
	CPPUNIT_ASSERT_EQUAL(std::string("win.ini"), safe("..\\..\\Windows\\win.ini"));
	CPPUNIT_ASSERT_EQUAL(std::string("win.ini"), safe("C:\\Windows\\win.ini"));
	CPPUNIT_ASSERT_EQUAL(std::string("C_win.ini"), safe("C:win.ini"));   // a drive-relative name: the colon is not portable
	CPPUNIT_ASSERT_EQUAL(std::string("file"), safe("a/b/"));
	CPPUNIT_ASSERT_EQUAL(std::string("file"), safe("/"));
	CPPUNIT_ASSERT_EQUAL(std::string("report.pdf"), safe("report.pdf"));
	CPPUNIT_ASSERT_EQUAL(std::string("my file (final).tar.gz"), safe("my file (final).tar.gz"));
	CPPUNIT_ASSERT_EQUAL(std::string("naïve café.txt"), safe("naïve café.txt"));
}


void SafeFileNameTest::testControlCharacters()
{
	CPPUNIT_ASSERT_EQUAL(std::string("a_b"), safe(std::string("a\0b", 3)));
	CPPUNIT_ASSERT_EQUAL(std::string("report_.pdf.exe"), safe(std::string("report\0.pdf.exe", 15)));
	CPPUNIT_ASSERT_EQUAL(std::string("_[31mred"), safe("\x1b[31mred"));
	CPPUNIT_ASSERT_EQUAL(std::string("line_break"), safe("line\r\nbreak"));
	CPPUNIT_ASSERT_EQUAL(std::string("tab_here"), safe("tab\there"));
	CPPUNIT_ASSERT_EQUAL(std::string("c1_x"), safe("c1\xC2\x9Bx"));    // U+009B CSI
	CPPUNIT_ASSERT_EQUAL(std::string("del_x"), safe("del\x7Fx"));
	CPPUNIT_ASSERT_EQUAL(std::string("bad_ytes"), safe("bad\xFF\xFE\xFDytes"));
	CPPUNIT_ASSERT_EQUAL(std::string("_"), safe("\xFF"));
	CPPUNIT_ASSERT_EQUAL(std::string("a_b_c_d_e_f_g"), safe("a<b>c:d\"e|f?g"));
	CPPUNIT_ASSERT_EQUAL(std::string("star_"), safe("star*"));
}


void SafeFileNameTest::testUnicodeTricks()
{
	// Right-to-left override: "invoice<U+202E>fdp.exe" would show as "invoiceexe.pdf".
	CPPUNIT_ASSERT_EQUAL(std::string("invoice_fdp.exe"), safe("invoice\xE2\x80\xAE" "fdp.exe"));
	CPPUNIT_ASSERT_EQUAL(std::string("a_b"), safe("a\xE2\x81\xA6" "b"));               // U+2066 isolate
	CPPUNIT_ASSERT_EQUAL(std::string("a_b"), safe("a\xE2\x80\x8F" "b"));               // U+200F RLM
	// Look-alike slashes are no separators later either.
	CPPUNIT_ASSERT_EQUAL(std::string("_.._etc_passwd"), safe("..\xE2\x88\x95..\xE2\x88\x95" "etc\xE2\x88\x95passwd"));   // U+2215
	CPPUNIT_ASSERT_EQUAL(std::string("a_b"), safe("a\xEF\xBC\x8F" "b"));               // U+FF0F fullwidth solidus
	CPPUNIT_ASSERT_EQUAL(std::string("a_b"), safe("a\xE2\x81\x84" "b"));               // U+2044 fraction slash
	CPPUNIT_ASSERT_EQUAL(std::string("a_b"), safe("a\xEF\xBC\xBC" "b"));               // U+FF3C fullwidth reverse solidus
	// Invisible characters that would make two names look the same.
	CPPUNIT_ASSERT_EQUAL(std::string("pay_pal.txt"), safe("pay\xE2\x80\x8Bpal.txt"));   // U+200B
	CPPUNIT_ASSERT_EQUAL(std::string("_x"), safe("\xEF\xBB\xBFx"));                   // U+FEFF
	CPPUNIT_ASSERT_EQUAL(std::string("soft_hyphen"), safe("soft\xC2\xADhyphen"));       // U+00AD
	CPPUNIT_ASSERT_EQUAL(std::string("para_sep"), safe("para\xE2\x80\xA9sep"));         // U+2029
	// Runs of replacements are one.
	CPPUNIT_ASSERT_EQUAL(std::string("a_b"), safe("a\x01\x02\x03\xE2\x80\xAE" "b"));
	// Ordinary non-ASCII text stays.
	CPPUNIT_ASSERT_EQUAL(std::string("写真 📷.jpg"), safe("写真 📷.jpg"));
}


void SafeFileNameTest::testReservedAndDotNames()
{
	CPPUNIT_ASSERT_EQUAL(std::string("file"), safe("."));
	CPPUNIT_ASSERT_EQUAL(std::string("file"), safe(".."));
	CPPUNIT_ASSERT_EQUAL(std::string("file"), safe("..."));
	CPPUNIT_ASSERT_EQUAL(std::string("file"), safe(""));
	CPPUNIT_ASSERT_EQUAL(std::string("file"), safe("   "));
	CPPUNIT_ASSERT_EQUAL(std::string("bashrc"), safe(".bashrc"));
	CPPUNIT_ASSERT_EQUAL(std::string("ssh_authorized_keys"), safe(".ssh_authorized_keys"));
	CPPUNIT_ASSERT_EQUAL(std::string("name"), safe("name. . ."));
	CPPUNIT_ASSERT_EQUAL(std::string("name"), safe(" name "));
	CPPUNIT_ASSERT_EQUAL(std::string("_rf"), safe("-rf"));
	CPPUNIT_ASSERT_EQUAL(std::string("_CON"), safe("CON"));
	CPPUNIT_ASSERT_EQUAL(std::string("_con.txt"), safe("con.txt"));
	CPPUNIT_ASSERT_EQUAL(std::string("_Nul.tar.gz"), safe("Nul.tar.gz"));
	CPPUNIT_ASSERT_EQUAL(std::string("_AUX"), safe("AUX"));
	CPPUNIT_ASSERT_EQUAL(std::string("_prn"), safe("prn"));
	CPPUNIT_ASSERT_EQUAL(std::string("_COM1"), safe("COM1"));
	CPPUNIT_ASSERT_EQUAL(std::string("_lpt9.log"), safe("lpt9.log"));
	CPPUNIT_ASSERT_EQUAL(std::string("_COM\xC2\xB9"), safe("COM\xC2\xB9"));   // COM¹
	CPPUNIT_ASSERT_EQUAL(std::string("_CONOUT$"), safe("CONOUT$"));
	CPPUNIT_ASSERT_EQUAL(std::string("_CON .txt"), safe("CON .txt"));
	CPPUNIT_ASSERT_EQUAL(std::string("CONSOLE"), safe("CONSOLE"));
	CPPUNIT_ASSERT_EQUAL(std::string("COM10"), safe("COM10"));
	CPPUNIT_ASSERT_EQUAL(std::string("x.part"), safe("x.part"));
}


void SafeFileNameTest::testLengthCap()
{
	const std::string longName = std::string(1000, 'a') + ".txt";
	const std::string cut = safe(longName);
	CPPUNIT_ASSERT_EQUAL(SafeFileName::MAX_BYTES, cut.size());
	CPPUNIT_ASSERT_EQUAL(std::string(".txt"), cut.substr(cut.size() - 4));
	// Multi-byte characters are never cut in half.
	std::string accents;
	for (int i = 0; i < 300; ++i) accents += "\xC3\xA9";
	const std::string cutAccents = safe(accents);
	CPPUNIT_ASSERT(cutAccents.size() <= SafeFileName::MAX_BYTES);
	CPPUNIT_ASSERT(cutAccents.size() >= SafeFileName::MAX_BYTES - 1);
	std::string emoji;
	for (int i = 0; i < 100; ++i) emoji += "\xF0\x9F\x93\xB7";
	CPPUNIT_ASSERT_EQUAL(std::size_t(200), safe(emoji + ".jpg").size());
	// A long "extension" is not kept whole.
	const std::string oddExtension = safe("x." + std::string(500, 'e'));
	CPPUNIT_ASSERT_EQUAL(SafeFileName::MAX_BYTES, oddExtension.size());
	// With numbering and .part, still within NAME_MAX.
	CPPUNIT_ASSERT(SafeFileName::partName(SafeFileName::numbered(cut, 9999)).size() <= 255);
}


void SafeFileNameTest::testNumbered()
{
	CPPUNIT_ASSERT_EQUAL(std::string("report (1).pdf"), SafeFileName::numbered("report.pdf", 1));
	CPPUNIT_ASSERT_EQUAL(std::string("archive.tar (2).gz"), SafeFileName::numbered("archive.tar.gz", 2));
	CPPUNIT_ASSERT_EQUAL(std::string("README (3)"), SafeFileName::numbered("README", 3));
	CPPUNIT_ASSERT_EQUAL(std::string("notes.txt.part"), SafeFileName::partName("notes.txt"));
}
