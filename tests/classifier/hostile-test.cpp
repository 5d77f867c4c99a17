// soci-routing: the classifier under hostile input: huge statements, NUL bytes, invalid UTF-8, deep nesting,
// random bytes. Nothing may crash, nothing may take more than linear time (a quadratic scan of these inputs
// would run for hours and hit CTest's timeout), and nothing unreadable may reach a replica.

#include "hostile.h"

#include <boost/test/data/monomorphic.hpp>
#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include <cstdint>
#include <string>

namespace bdata = boost::unit_test::data;
using namespace soci_routing;

namespace
{

constexpr std::size_t mib = 1024 * 1024;

std::string repeat(std::string const& s, std::size_t times)
{
    std::string out;
    out.reserve(s.size() * times);
    for (std::size_t i = 0; i < times; ++i) out += s;
    return out;
}

std::string in_list(std::size_t bytes)
{
    std::string s = "SELECT * FROM t WHERE id IN (0";
    for (std::size_t i = 1; s.size() < bytes; ++i) s += ", " + std::to_string(i);
    return s + ")";
}

std::vector<hostile_row> build()
{
    using d = dialect;
    std::vector<hostile_row> rows;
    auto both = [&](std::string name, std::string sql, std::string expected) {
        rows.push_back({name + " (postgresql)", d::postgresql, sql, expected});
        rows.push_back({name + " (mysql)", d::mysql, std::move(sql), std::move(expected)});
    };
    // size
    both("1 MiB IN list", in_list(mib), "select");
    both("1 MiB IN list then FOR UPDATE", in_list(mib) + " FOR UPDATE", "locking_read");
    both("1 MiB string literal", "SELECT '" + std::string(mib, 'x') + "'", "select");
    both("1 MiB of doubled quotes", "SELECT '" + repeat("''", mib / 2) + "'", "select");
    both("1 MiB comment", "SELECT 1 /*" + std::string(mib, '*') + "*/", "select");
    both("1 MiB line comment", "SELECT 1 --" + std::string(mib, '-'), "select");
    both("1 MiB identifier", "SELECT " + std::string(mib, 'a') + " FROM t", "select");
    both("1 MiB unterminated string", "SELECT '" + std::string(mib, 'x'), "unknown");
    both("1 MiB of whitespace", std::string(mib, ' ') + "SELECT 1" + std::string(mib, '\n'), "select");
    both("1 MiB of UTF-8", "SELECT '" + repeat("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", mib / 9) + "'", "select");
    both("100,000 statements", repeat("SELECT 1;", 100000), "multi_statement");
    both("16 MiB of semicolons", std::string(16 * mib, ';'), "unknown"); // only empty statements
    both("a column list of 50,000 keywords", "SELECT " + repeat("delete_flag, for_update, ", 50000) + "1",
         "select");
    rows.push_back({"1 MiB dollar quote", d::postgresql, "SELECT $x$" + std::string(mib, '$') + "$x$", "select"});
    rows.push_back({"1 MiB of near-miss dollar tags", d::postgresql,
                    "SELECT $abcdefgh$" + repeat("$abcdefg", mib / 8) + "$abcdefgh$", "select"});
    rows.push_back({"dollar tag longer than 64 bytes", d::postgresql,
                    "SELECT $" + std::string(100, 't') + "$x$" + std::string(100, 't') + "$", "unknown"});
    rows.push_back({"1 MiB E-string of escapes", d::postgresql, "SELECT E'" + repeat("\\'", mib / 2) + "'",
                    "select"});
    rows.push_back({"1 MiB MySQL string of escapes", d::mysql, "SELECT '" + repeat("\\'", mib / 2) + "'",
                    "select"});
    rows.push_back({"1 MiB of executable comments", d::mysql, "SELECT 1 " + repeat("/*!50100 1 */", mib / 13),
                    "select"});
    rows.push_back({"1 MiB of @ variables", d::mysql, "SELECT " + repeat("@v, ", mib / 4) + "1",
                    "select"});
    // nesting
    both("10,000 nested parentheses around a SELECT", repeat("(", 10000) + "SELECT 1" + repeat(")", 10000),
         "select");
    both("10,000 nested parentheses in an expression", "SELECT " + repeat("(", 10000) + "1" + repeat(")", 10000),
         "select");
    both("10,000 unbalanced parentheses", "SELECT " + repeat("(", 10000) + "1", "select");
    both("10,000 closing parentheses", "SELECT 1" + repeat(")", 10000), "select");
    both("10,000 nested parentheses, a locking read inside",
         "SELECT " + repeat("(SELECT ", 10000) + "1 FOR UPDATE" + repeat(")", 10000), "locking_read");
    both("10,000 parentheses then nothing", repeat("(", 10000), "unknown");
    rows.push_back({"10,000 nested comments", d::postgresql,
                    repeat("/*", 10000) + " FOR UPDATE " + repeat("*/", 10000) + " SELECT 1", "select"});
    rows.push_back({"10,000 nested comments, one unclosed", d::postgresql,
                    repeat("/*", 10000) + repeat("*/", 9999) + " SELECT 1", "unknown"});
    rows.push_back({"10,000 comment openers in MySQL", d::mysql, "SELECT 1 /*" + repeat("/*", 10000) + "*/",
                    "select"});
    rows.push_back({"10,000 sequential comments", d::mysql, repeat("/* c */ ", 10000) + "SELECT 1", "select"});
    // bytes
    both("NUL after the statement", std::string("SELECT 1\0", 9), "unknown");
    both("NUL in a string", std::string("SELECT 'a\0b'", 12), "unknown");
    both("NUL in a comment", std::string("SELECT 1 /* \0 */", 16), "unknown");
    both("NUL in a line comment", std::string("SELECT 1 -- \0", 13), "unknown");
    both("NUL alone", std::string(1, '\0'), "unknown");
    both("NUL before the statement", std::string("\0SELECT 1", 9), "unknown");
    rows.push_back({"NUL in a quoted identifier", d::postgresql, std::string("SELECT \"a\0\"", 11), "unknown"});
    rows.push_back({"NUL in a dollar quote", d::postgresql, std::string("SELECT $$\0$$", 12), "unknown"});
    rows.push_back({"NUL in a backquoted identifier", d::mysql, std::string("SELECT `a\0`", 11), "unknown"});
    rows.push_back({"NUL after a backslash", d::mysql, std::string("SELECT 'a\\\0'", 12), "unknown"});
    for (int b = 0x80; b <= 0xff; ++b)
    {
        std::string const byte(1, static_cast<char>(b));
        both("lone byte " + std::to_string(b) + " in a string", "SELECT '" + byte + "'", "unknown");
    }
    both("truncated 4-byte sequence at the end", "SELECT '\xf0\x9f\x98", "unknown");
    both("continuation byte as a word", "SELECT \x80", "unknown");
    both("escape character", "SELECT 1 \x1b", "unknown");
    return rows;
}

/// A small deterministic generator: the same "random" statements on every run.
struct lcg
{
    std::uint64_t state;
    std::uint32_t next()
    {
        state = state * 6364136223846793005ULL + 1442695040888963407ULL;
        return static_cast<std::uint32_t>(state >> 33);
    }
};

} // namespace

std::ostream& operator<<(std::ostream& os, hostile_row const& r)
{
    return os << r.name << " (" << r.sql.size() << " bytes) -> " << r.expected;
}

std::vector<hostile_row> const& hostile_rows()
{
    static std::vector<hostile_row> const rows = build();
    return rows;
}

BOOST_AUTO_TEST_SUITE(classifier_hostile_input)

BOOST_DATA_TEST_CASE(hostile_input_is_classified_without_crash, bdata::make(hostile_rows()), row)
{
    classification const c = classify(row.sql, row.dialect);
    BOOST_TEST(std::string(to_string(c.why)) == row.expected);
}

BOOST_AUTO_TEST_CASE(random_fragments_never_crash_and_keep_the_invariants)
{
    char const* const fragments[] = {
        "SELECT", " ", "(", ")", "'", "\"", "`", "$$", "$a$", "$1", "--", "#", "/*", "*/", "/*!", "/*M!", ";",
        "\\", "E'", "U&'", "FOR", "UPDATE", "SHARE", "INTO", "@v", "@@", ":=", ":x", "::", "nextval", "get_lock",
        "WITH", "x AS", "DELETE", "\n", "\xc3\xa9", "\xff", "soci-routing: primary", "1", ",", ".", "EXPLAIN",
        "ANALYZE", "BEGIN", "SET", "LOCK", "IN", "NEXT", "VALUE"};
    constexpr std::size_t n = sizeof fragments / sizeof fragments[0];
    lcg rng{42};
    std::size_t replicas = 0, primaries = 0;
    for (int i = 0; i < 20000; ++i)
    {
        std::string sql;
        std::size_t const len = rng.next() % 24;
        for (std::size_t k = 0; k < len; ++k) sql += fragments[rng.next() % n];
        for (dialect d : {dialect::postgresql, dialect::mysql})
        {
            classification const c = classify(sql, d);
            if (c.where == target::replica)
            {
                ++replicas;
                if (c.kind != statement_kind::read || c.is_write || c.pins_session || c.begins_transaction ||
                    c.ends_transaction)
                    BOOST_ERROR("replica with flags: " << sql);
                if (classify("/* soci-routing: primary */" + sql, d).where != target::primary)
                    BOOST_ERROR("hint ignored: " << sql);
            }
            else
                ++primaries;
        }
    }
    BOOST_TEST(replicas > 0u);
    BOOST_TEST(primaries > 0u);
}

BOOST_AUTO_TEST_CASE(every_prefix_of_a_statement_is_classified)
{
    std::string const sql = "/* c */ WITH x AS (SELECT $$a;b$$, 'c''d', \"e\" FROM t -- f\n WHERE g = :h::int) "
                            "SELECT * FROM x FOR UPDATE; SELECT 1";
    for (std::size_t i = 0; i <= sql.size(); ++i)
        for (dialect d : {dialect::postgresql, dialect::mysql})
        {
            classification const c = classify(std::string_view(sql).substr(0, i), d);
            if (c.where == target::replica && c.kind != statement_kind::read)
                BOOST_ERROR("replica for a non-read: " << sql.substr(0, i));
        }
}

BOOST_AUTO_TEST_SUITE_END()
