// transaction_mode_of(): which BEGIN / START TRANSACTION statements ask for a read-only transaction (one that may
// run on a replica), and which isolation a standby cannot give (no server).

#include <boost/test/unit_test.hpp>
#include <boost/test/data/test_case.hpp>

#include "transaction-mode.h"

#include <ostream>
#include <string>

using namespace soci_routing;

namespace
{

struct mode_row
{
    dialect d;
    std::string sql;
    bool starts;
    bool read_only;
    bool serializable;
    int line;
};

std::ostream& operator<<(std::ostream& os, mode_row const& r)
{
    return os << "test-transaction-mode.cpp:" << r.line << " [" << (r.d == dialect::mysql ? "mysql" : "postgresql")
              << "] \"" << r.sql << "\"";
}

constexpr dialect pg = dialect::postgresql;
constexpr dialect my = dialect::mysql;

#define MODE(d, sql, starts, ro, ser) mode_row{d, sql, starts, ro, ser, __LINE__}

mode_row const rows[] = {
    MODE(pg, "BEGIN", true, false, false),
    MODE(pg, "begin read only", true, true, false),
    MODE(pg, "BEGIN TRANSACTION READ ONLY", true, true, false),
    MODE(pg, "BEGIN WORK READ ONLY;", true, true, false),
    MODE(pg, "START TRANSACTION READ ONLY", true, true, false),
    MODE(pg, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", true, true, false),
    MODE(pg, "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY", true, true, false),
    MODE(pg, "begin isolation level serializable read only deferrable", true, true, true),
    MODE(pg, "BEGIN READ ONLY, ISOLATION LEVEL READ COMMITTED, NOT DEFERRABLE", true, true, false),
    MODE(pg, "BEGIN READ ONLY READ WRITE", true, false, false),  // the last one wins
    MODE(pg, "BEGIN READ WRITE", true, false, false),
    MODE(pg, "/* app */ BEGIN -- tx\n READ ONLY", true, true, false),
    MODE(pg, "BEGIN READ", false, false, false),
    MODE(pg, "BEGIN READ ONLY,", false, false, false),
    MODE(pg, "BEGIN READ ONLY; INSERT INTO t VALUES (1)", false, false, false),
    MODE(pg, "BEGIN ISOLATION LEVEL 'serializable' READ ONLY", false, false, false),
    MODE(pg, "SELECT 1", false, false, false),
    MODE(pg, "COMMIT", false, false, false),
    MODE(pg, "", false, false, false),
    MODE(my, "START TRANSACTION READ ONLY", true, true, false),
    MODE(my, "start transaction with consistent snapshot, read only", true, true, false),
    MODE(my, "START TRANSACTION READ WRITE", true, false, false),
    MODE(my, "START TRANSACTION", true, false, false),
    MODE(my, "BEGIN", true, false, false),
    MODE(my, "BEGIN WORK", true, false, false),
    MODE(my, "BEGIN READ ONLY", false, false, false),              // not MySQL syntax
    MODE(my, "START TRANSACTION READ ONLY READ WRITE", false, false, false),  // MySQL needs commas
    MODE(my, "START TRANSACTION /*!READ WRITE*/ READ ONLY", false, false, false),  // executed comment
    MODE(my, "# note\nSTART TRANSACTION READ ONLY", true, true, false),
};

} // namespace

BOOST_AUTO_TEST_SUITE(transaction_modes)

BOOST_DATA_TEST_CASE(begin_statements_say_whether_they_are_read_only, boost::unit_test::data::make(rows), r)
{
    transaction_mode const m = transaction_mode_of(r.sql, r.d);
    BOOST_TEST(m.starts == r.starts);
    BOOST_TEST(m.read_only == r.read_only);
    BOOST_TEST(m.serializable == r.serializable);
}

BOOST_AUTO_TEST_CASE(set_transaction_statements_say_whether_they_are_read_only)
{
    BOOST_TEST(set_transaction_mode_of("SET TRANSACTION READ ONLY", pg).read_only);
    BOOST_TEST(set_transaction_mode_of("set transaction isolation level repeatable read read only", pg).read_only);
    BOOST_TEST(set_transaction_mode_of("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE, READ ONLY", pg).serializable);
    BOOST_TEST(!set_transaction_mode_of("SET TRANSACTION READ WRITE", pg).read_only);
    BOOST_TEST(set_transaction_mode_of("SET TRANSACTION READ WRITE", pg).starts);
    BOOST_TEST(!set_transaction_mode_of("SET TRANSACTION SNAPSHOT '00000003-0000001B-1'", pg).starts);
    BOOST_TEST(!set_transaction_mode_of("SET SESSION TRANSACTION READ ONLY", pg).starts);
    BOOST_TEST(set_transaction_mode_of("SET TRANSACTION ISOLATION LEVEL READ COMMITTED, READ ONLY", my).read_only);
    BOOST_TEST(!set_transaction_mode_of("SET TRANSACTION ISOLATION LEVEL READ COMMITTED READ ONLY", my).starts);
    BOOST_TEST(!set_transaction_mode_of("SET TRANSACTION READ ONLY; COMMIT", my).starts);
}

BOOST_AUTO_TEST_CASE(every_prefix_of_a_begin_statement_is_read_safely)
{
    std::string const sql = "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY, NOT DEFERRABLE /* c */;";
    for (std::size_t n = 0; n <= sql.size(); ++n)
    {
        transaction_mode const m = transaction_mode_of(std::string_view(sql.data(), n), pg);
        BOOST_TEST((!m.read_only || m.starts));
    }
}

BOOST_AUTO_TEST_SUITE_END()
