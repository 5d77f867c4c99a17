// soci-routing: the flags the backend acts on (transaction boundaries, session pinning, read-after-write).

#include "classifier.h"

#include <boost/test/data/monomorphic.hpp>
#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include <ostream>
#include <string>
#include <vector>

namespace bdata = boost::unit_test::data;
using namespace soci_routing;

namespace
{

struct flag_row
{
    dialect d;
    std::string sql;
    statement_kind kind;
    bool begins;
    bool ends;
    bool pins;
    bool write;
    int line;
};

std::ostream& operator<<(std::ostream& os, flag_row const& r)
{
    return os << "flags-test.cpp:" << r.line << " [" << (r.d == dialect::postgresql ? "postgresql" : "mysql")
              << "] \"" << r.sql << "\"";
}

constexpr dialect pg = dialect::postgresql;
constexpr dialect my = dialect::mysql;
constexpr auto read = statement_kind::read;
constexpr auto write = statement_kind::write;
constexpr auto tx = statement_kind::transaction_control;
constexpr auto session = statement_kind::session_state;
constexpr auto unknown = statement_kind::unknown;

#define FLAGS(d, sql, kind, begins, ends, pins, write) flag_row{d, sql, kind, begins, ends, pins, write, __LINE__}

// clang-format off
std::vector<flag_row> const flag_rows = {
    //    dialect sql                                                   kind     begins ends   pins   is_write
    FLAGS(pg, "SELECT 1",                                               read,    false, false, false, false),
    FLAGS(my, "SHOW TABLES",                                            read,    false, false, false, false),
    FLAGS(pg, "EXPLAIN SELECT 1",                                       read,    false, false, false, false),
    FLAGS(pg, "WITH x AS (SELECT 1) SELECT * FROM x",                   read,    false, false, false, false),
    // transaction control
    FLAGS(pg, "BEGIN",                                                  tx,      true,  false, false, false),
    FLAGS(my, "BEGIN WORK",                                             tx,      true,  false, false, false),
    FLAGS(pg, "BEGIN ISOLATION LEVEL SERIALIZABLE",                     tx,      true,  false, false, false),
    FLAGS(pg, "START TRANSACTION",                                      tx,      true,  false, false, false),
    FLAGS(my, "START TRANSACTION WITH CONSISTENT SNAPSHOT",             tx,      true,  false, false, false),
    FLAGS(pg, "COMMIT",                                                 tx,      false, true,  false, false),
    FLAGS(my, "COMMIT WORK",                                            tx,      false, true,  false, false),
    FLAGS(pg, "END",                                                    tx,      false, true,  false, false),
    FLAGS(pg, "ROLLBACK",                                               tx,      false, true,  false, false),
    FLAGS(pg, "ABORT",                                                  tx,      false, true,  false, false),
    FLAGS(my, "COMMIT AND NO CHAIN",                                    tx,      false, true,  false, false),
    FLAGS(my, "COMMIT AND CHAIN",                                       tx,      false, false, false, false),
    FLAGS(pg, "ROLLBACK AND CHAIN",                                     tx,      false, false, false, false),
    FLAGS(pg, "ROLLBACK TO SAVEPOINT a",                                tx,      false, false, false, false),
    FLAGS(my, "ROLLBACK WORK TO a",                                     tx,      false, false, false, false),
    FLAGS(pg, "SAVEPOINT a",                                            tx,      false, false, false, false),
    FLAGS(pg, "RELEASE SAVEPOINT a",                                    tx,      false, false, false, false),
    FLAGS(pg, "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE",           tx,      false, false, false, false),
    FLAGS(my, "SET TRANSACTION READ ONLY",                              tx,      false, false, false, false),
    FLAGS(pg, "PREPARE TRANSACTION 'x'",                                tx,      false, true,  false, false),
    FLAGS(pg, "COMMIT PREPARED 'x'",                                    tx,      false, false, false, false),
    FLAGS(pg, "ROLLBACK PREPARED 'x'",                                  tx,      false, false, false, false),
    FLAGS(my, "XA START 'x'",                                           tx,      true,  false, false, false),
    FLAGS(my, "XA END 'x'",                                             tx,      false, true,  false, false),
    FLAGS(my, "XA PREPARE 'x'",                                         tx,      false, false, false, false),
    FLAGS(my, "XA COMMIT 'x'",                                          tx,      false, true,  false, false),
    FLAGS(my, "XA ROLLBACK 'x'",                                        tx,      false, true,  false, false),
    // session state
    FLAGS(pg, "SET search_path = app",                                  session, false, false, true,  false),
    FLAGS(pg, "SET SESSION search_path = app",                          session, false, false, true,  false),
    FLAGS(pg, "SET LOCAL search_path = app",                            session, false, false, false, false),
    FLAGS(pg, "SET CONSTRAINTS ALL DEFERRED",                           session, false, false, false, false),
    FLAGS(my, "SET LOCAL sql_mode = ''",                                session, false, false, true,  false),
    FLAGS(my, "SET NAMES utf8mb4",                                      session, false, false, true,  false),
    FLAGS(my, "SET @v = 1",                                             session, false, false, true,  false),
    FLAGS(my, "SET @v := 1",                                            session, false, false, true,  false),
    FLAGS(my, "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED", session, false, false, true,  false),
    FLAGS(pg, "RESET ALL",                                              session, false, false, true,  false),
    FLAGS(pg, "DISCARD ALL",                                            session, false, false, true,  false),
    FLAGS(pg, "PREPARE p AS SELECT 1",                                  session, false, false, true,  false),
    FLAGS(pg, "EXECUTE p",                                              session, false, false, true,  true),
    FLAGS(pg, "DEALLOCATE p",                                           session, false, false, true,  false),
    FLAGS(pg, "LISTEN c",                                               session, false, false, true,  false),
    FLAGS(pg, "UNLISTEN c",                                             session, false, false, true,  false),
    FLAGS(pg, "DECLARE c CURSOR FOR SELECT 1",                          session, false, false, true,  false),
    FLAGS(pg, "CREATE TEMP TABLE t (a int)",                            session, false, false, true,  false),
    FLAGS(my, "CREATE TEMPORARY TABLE t (a int)",                       session, false, false, true,  false),
    FLAGS(pg, "LOCK TABLE t",                                           session, false, false, true,  false),
    FLAGS(my, "LOCK TABLES t WRITE",                                    session, false, false, true,  false),
    FLAGS(my, "USE app",                                                session, false, false, true,  false),
    // session-level locks and variables in a statement
    FLAGS(pg, "SELECT pg_advisory_lock(1)",                             write,   false, false, true,  true),
    FLAGS(pg, "SELECT pg_try_advisory_lock_shared(1)",                  write,   false, false, true,  true),
    FLAGS(pg, "SELECT pg_advisory_unlock(1)",                           write,   false, false, true,  true),
    FLAGS(pg, "SELECT pg_advisory_xact_lock(1)",                        write,   false, false, false, true),
    FLAGS(pg, "SELECT pg_try_advisory_xact_lock(1)",                    write,   false, false, false, true),
    FLAGS(pg, "SELECT set_config('a.b', 'c', false)",                   write,   false, false, true,  true),
    FLAGS(pg, "SELECT dblink_connect('c', 'host=x')",                   write,   false, false, true,  true),
    FLAGS(pg, "SELECT pg_replication_origin_session_setup('o')",        write,   false, false, true,  true),
    FLAGS(my, "SELECT GET_LOCK('a', 1)",                                write,   false, false, true,  true),
    FLAGS(my, "SELECT RELEASE_LOCK('a')",                               write,   false, false, true,  true),
    FLAGS(my, "SELECT IS_FREE_LOCK('a')",                               write,   false, false, false, true),
    FLAGS(my, "DO GET_LOCK('a', 1)",                                    write,   false, false, true,  true),
    FLAGS(my, "SELECT @v := 1",                                         write,   false, false, true,  true),
    FLAGS(my, "SELECT a INTO @v FROM t",                                write,   false, false, true,  true),
    FLAGS(my, "SELECT a FROM t INTO OUTFILE 'out.txt'",                  write,   false, false, false, true),
    FLAGS(pg, "SELECT * INTO TEMP t FROM u",                            write,   false, false, true,  true),
    FLAGS(pg, "SELECT * INTO TEMPORARY t FROM u",                       write,   false, false, true,  true),
    FLAGS(pg, "SELECT * INTO t FROM u",                                 write,   false, false, false, true),
    FLAGS(pg, "SELECT * INTO t FROM temp",                              write,   false, false, false, true),
    FLAGS(pg, "SELECT * INTO t FROM u, temporary",                      write,   false, false, false, true),
    FLAGS(pg, "INSERT INTO t SELECT pg_advisory_lock(1)",               write,   false, false, true,  true),
    // writes
    FLAGS(pg, "INSERT INTO t VALUES (1)",                               write,   false, false, false, true),
    FLAGS(pg, "UPDATE t SET a = 1",                                     write,   false, false, false, true),
    FLAGS(pg, "CREATE TABLE t (a int)",                                 write,   false, false, false, true),
    FLAGS(pg, "VACUUM t",                                               write,   false, false, false, true),
    FLAGS(pg, "SELECT * FROM t FOR UPDATE",                             write,   false, false, false, true),
    FLAGS(pg, "WITH x AS (DELETE FROM t RETURNING *) SELECT * FROM x",  write,   false, false, false, true),
    FLAGS(pg, "SELECT nextval('s')",                                    write,   false, false, false, true),
    FLAGS(pg, "EXPLAIN ANALYZE SELECT 1",                               write,   false, false, false, true),
    FLAGS(pg, "EXPLAIN INSERT INTO t VALUES (1)",                       write,   false, false, false, true),
    FLAGS(my, "HANDLER t OPEN",                                         write,   false, false, true,  true),
    FLAGS(my, "SELECT LAST_INSERT_ID()",                                write,   false, false, false, true),
    // hints keep the statement's own kind and flags
    FLAGS(pg, "/* soci-routing: primary */ SELECT 1",                   read,    false, false, false, false),
    FLAGS(pg, "/* soci-routing: primary */ BEGIN",                      tx,      true,  false, false, false),
    FLAGS(pg, "/* soci-routing: primary */ SET x = 1",                  session, false, false, true,  false),
    FLAGS(pg, "/* soci-routing: primary */ DELETE FROM t",              write,   false, false, false, true),
    // several statements: flags of all of them, the last transaction boundary wins
    FLAGS(pg, "SELECT 1; SELECT 2",                                     read,    false, false, false, false),
    FLAGS(pg, "BEGIN; SELECT 1",                                        tx,      true,  false, false, false),
    FLAGS(pg, "BEGIN; INSERT INTO t VALUES (1); COMMIT",                tx,      false, true,  false, true),
    FLAGS(pg, "COMMIT; BEGIN",                                          tx,      true,  false, false, false),
    FLAGS(pg, "SET x = 1; SELECT 1",                                    session, false, false, true,  false),
    FLAGS(my, "SELECT 1; UPDATE t SET a = 1",                           write,   false, false, false, true),
    // unknown
    FLAGS(pg, "",                                                       unknown, false, false, false, false),
    FLAGS(pg, "-- nothing",                                             unknown, false, false, false, false),
    FLAGS(pg, "SELECT 'abc",                                            unknown, false, false, false, true),
    FLAGS(my, "SELECT \xff",                                            unknown, false, false, false, true),
    FLAGS(pg, "BEGIN; SELECT 'abc",                                     unknown, false, false, false, true),
};
// clang-format on

} // namespace

BOOST_AUTO_TEST_SUITE(classifier_flags)

BOOST_DATA_TEST_CASE(statement_sets_the_flags_the_backend_acts_on, bdata::make(flag_rows), row)
{
    classification const c = classify(row.sql, row.d);
    BOOST_TEST(std::string(to_string(c.kind)) == to_string(row.kind));
    BOOST_TEST(c.begins_transaction == row.begins);
    BOOST_TEST(c.ends_transaction == row.ends);
    BOOST_TEST(c.pins_session == row.pins);
    BOOST_TEST(c.is_write == row.write);
    BOOST_TEST(!(c.begins_transaction && c.ends_transaction));
}

BOOST_AUTO_TEST_CASE(transaction_control_always_goes_to_the_primary)
{
    for (char const* sql : {"BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT a", "ROLLBACK TO SAVEPOINT a"})
    {
        classification const c = classify(sql, dialect::postgresql);
        BOOST_TEST((c.where == target::primary), sql);
        BOOST_TEST((c.why == reason::transaction_control), sql);
    }
}

BOOST_AUTO_TEST_SUITE_END()
