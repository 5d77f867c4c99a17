// soci-routing: session_effect(), what a session-state statement does to the session: settings to replay, state
// that pins a session to its connection, the statements that release it, and the opaque rest.
//
// Every row runs as the backend runs it: session_effect(sql, d, classify(sql, d)).

#include "session-effect.h"

#include <boost/test/data/monomorphic.hpp>
#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include <cstddef>
#include <cstdint>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

namespace bdata = boost::unit_test::data;
using namespace soci_routing;

namespace
{

constexpr dialect pg = dialect::postgresql;
constexpr dialect my = dialect::mysql;

session_effect_info effect_of(std::string const& sql, dialect d)
{
    return session_effect(sql, d, classify(sql, d));
}

std::string names(std::vector<std::string> const& v)
{
    std::string out = "{";
    for (std::size_t i = 0; i < v.size(); ++i) out += (i ? ", \"" : "\"") + v[i] + "\"";
    return out + "}";
}

char const* dialect_name(dialect d)
{
    return d == pg ? "postgresql" : "mysql";
}

// ---- Rows ----

enum flags : unsigned { plain = 0, restores = 1, reads = 2 };

/// One statement and the effect it must have. `names` are the keys of a setting or the objects of a (un)pin.
struct effect_row
{
    dialect d;
    std::string sql;
    effect_kind kind;
    pin_cause cause;
    std::vector<std::string> names;
    unsigned flags;
    int line;
};

std::ostream& operator<<(std::ostream& os, effect_row const& r)
{
    return os << "session-effect-test.cpp:" << r.line << " [" << dialect_name(r.d) << "] \"" << r.sql << "\"";
}

#define SETTING(d, sql, flags, ...) \
    effect_row{d, sql, effect_kind::setting, pin_cause::none, {__VA_ARGS__}, flags, __LINE__}
#define PIN(d, sql, cause, ...) effect_row{d, sql, effect_kind::pin, pin_cause::cause, {__VA_ARGS__}, plain, __LINE__}
#define UNPIN(d, sql, cause, ...) \
    effect_row{d, sql, effect_kind::unpin, pin_cause::cause, {__VA_ARGS__}, plain, __LINE__}
#define NONE(d, sql) effect_row{d, sql, effect_kind::none, pin_cause::none, {}, plain, __LINE__}
#define OPAQUE(d, sql) effect_row{d, sql, effect_kind::opaque, pin_cause::none, {}, plain, __LINE__}
#define RESET_ALL(d, sql) effect_row{d, sql, effect_kind::reset_all, pin_cause::none, {}, plain, __LINE__}

// clang-format off
std::vector<effect_row> const setting_rows = {
    // PostgreSQL SET: the parameter, lower-cased, under one canonical name per variable
    SETTING(pg, "SET search_path TO a, public",                        plain,    "search_path"),
    SETTING(pg, "set Search_Path = 'x'",                               plain,    "search_path"),
    SETTING(pg, "SET \"Search_Path\" = 'x'",                           plain,    "search_path"),
    SETTING(pg, "SET search_path = \"$user\", public;",                plain,    "search_path"),
    SETTING(pg, "SET SESSION search_path = app",                       plain,    "search_path"),
    SETTING(pg, "SET myapp.user_id = 42",                              plain,    "myapp.user_id"),
    SETTING(pg, "SET MyApp.User_Id TO '42'",                           plain,    "myapp.user_id"),
    SETTING(pg, "SET statement_timeout = -1",                          plain,    "statement_timeout"),
    SETTING(pg, "SET datestyle TO ISO, MDY",                           plain,    "datestyle"),
    SETTING(pg, "SET search_path TO DEFAULT",                          restores, "search_path"),
    SETTING(pg, "SET work_mem = default",                              restores, "work_mem"),
    SETTING(pg, "SET TIME ZONE 'UTC'",                                 plain,    "timezone"),
    SETTING(pg, "SET TIME ZONE INTERVAL '+00:00' HOUR TO MINUTE",      plain,    "timezone"),
    SETTING(pg, "SET timezone = 'Europe/Paris'",                       plain,    "timezone"),
    SETTING(pg, "SET TIME ZONE LOCAL",                                 restores, "timezone"),
    SETTING(pg, "SET TIME ZONE DEFAULT",                               restores, "timezone"),
    SETTING(pg, "SET NAMES 'UTF8'",                                    plain,    "client_encoding"),
    SETTING(pg, "SET client_encoding = 'UTF8'",                        plain,    "client_encoding"),
    SETTING(pg, "SET SCHEMA 'app'",                                    plain,    "search_path"),
    SETTING(pg, "SET ROLE reporting",                                  plain,    "role"),
    SETTING(pg, "SET SESSION ROLE reporting",                          plain,    "role"),
    SETTING(pg, "SET ROLE NONE",                                       restores, "role"),
    SETTING(pg, "SET SESSION AUTHORIZATION app",                       plain,    "session_authorization"),
    SETTING(pg, "SET SESSION AUTHORIZATION DEFAULT",                   restores, "session_authorization"),
    SETTING(pg, "SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL SERIALIZABLE",
                                                                       plain,    "default_transaction_characteristics"),
    SETTING(pg, "/* soci-routing: primary */ SET x.y = 1",              plain,    "x.y"),
    // PostgreSQL RESET: back to the default
    SETTING(pg, "RESET search_path",                                   restores, "search_path"),
    SETTING(pg, "RESET myapp.user_id",                                 restores, "myapp.user_id"),
    SETTING(pg, "RESET TIME ZONE",                                     restores, "timezone"),
    SETTING(pg, "RESET ROLE",                                          restores, "role"),
    SETTING(pg, "RESET SESSION AUTHORIZATION",                         restores, "session_authorization"),
    // MySQL SET: every variable, each with its own scope
    SETTING(my, "SET NAMES utf8mb4",                                   plain,    "names"),
    SETTING(my, "SET NAMES 'utf8mb4' COLLATE 'utf8mb4_unicode_ci'",    plain,    "names"),
    SETTING(my, "SET NAMES DEFAULT",                                   restores, "names"),
    SETTING(my, "SET CHARACTER SET utf8mb4",                           plain,    "character set"),
    SETTING(my, "SET CHARSET latin1",                                  plain,    "character set"),
    SETTING(my, "SET time_zone = '+00:00'",                            plain,    "time_zone"),
    SETTING(my, "SET NAMES utf8mb4, time_zone = '+00:00'",             plain,    "names", "time_zone"),
    SETTING(my, "SET SESSION sql_mode = 'TRADITIONAL'",                plain,    "sql_mode"),
    SETTING(my, "SET LOCAL sql_mode = ''",                             plain,    "sql_mode"),
    SETTING(my, "SET @@session.Wait_Timeout = 60",                     plain,    "wait_timeout"),
    SETTING(my, "SET @@local.wait_timeout = 60",                       plain,    "wait_timeout"),
    SETTING(my, "SET @@wait_timeout := 60",                            plain,    "wait_timeout"),
    SETTING(my, "SET SQL_MODE = TRADITIONAL, SESSION foreign_key_checks = 0, @@unique_checks = 0",
                plain, "sql_mode", "foreign_key_checks", "unique_checks"),
    SETTING(my, "SET sql_mode = DEFAULT, time_zone = DEFAULT",         restores, "sql_mode", "time_zone"),
    SETTING(my, "SET sql_mode = DEFAULT, time_zone = 'UTC'",           plain,    "sql_mode", "time_zone"),
    SETTING(my, "SET @@session.sql_mode = CONCAT(@@sql_mode, ',NO_ZERO_DATE')",
                                                                       reads,    "sql_mode"),
    SETTING(my, "SET sql_mode = @saved_mode",                          reads,    "sql_mode"),
    SETTING(my, "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED", plain, "session_transaction"),
    SETTING(my, "SET SESSION TRANSACTION READ ONLY, ISOLATION LEVEL SERIALIZABLE", plain, "session_transaction"),
    SETTING(my, "USE test",                                            plain,    "use"),
    SETTING(my, "USE `my db`;",                                        plain,    "use"),
    // MySQL user variables set to a literal: replayable
    SETTING(my, "SET @v = 1",                                          plain,    "@v"),
    SETTING(my, "SET @V = 'x'",                                        plain,    "@v"),
    SETTING(my, "SET @v := -1.5",                                      plain,    "@v"),
    SETTING(my, "SET @`My Var` = NULL",                                plain,    "@my var"),
    SETTING(my, "SET @v = _utf8mb4'caf\xc3\xa9'",                     plain,    "@v"),
    SETTING(my, "SET @v = 0x1F, @w = TRUE, @x = X'41'",                plain,    "@v", "@w", "@x"),
    SETTING(my, "SET @v = 1, time_zone = 'UTC'",                       plain,    "@v", "time_zone"),
    SETTING(my, "SET ROLE reporting",                                  plain,    "role"),
    SETTING(my, "SET @v = N'caf\\'e'",                                plain,    "@v"),
    SETTING(my, "SET sql_mode = CONCAT_WS(',', 'A', 'B') -- trailing\n", plain,   "sql_mode"),
};

std::vector<effect_row> const pin_rows = {
    // temporary tables
    PIN(pg, "CREATE TEMP TABLE t(x int)",                              temp_table, "t"),
    PIN(pg, "CREATE TEMPORARY TABLE IF NOT EXISTS Orders (id int)",    temp_table, "orders"),
    PIN(pg, "CREATE GLOBAL TEMPORARY TABLE \"Orders\" (id int)",       temp_table, "Orders"),
    PIN(pg, "CREATE LOCAL TEMP TABLE pg_temp.t (x int)",               temp_table, "t"),
    PIN(pg, "CREATE TEMP TABLE t ON COMMIT PRESERVE ROWS",             temp_table, "t"),
    PIN(pg, "CREATE TEMP TABLE t AS SELECT * FROM u",                  temp_table, "t"),
    PIN(pg, "CREATE TEMP TABLE t AS SELECT * FROM u JOIN v ON commit_id = v.id",
                                                                       temp_table, "t"),
    PIN(pg, "CREATE TEMP VIEW v AS SELECT 1",                          temp_table, "v"),
    PIN(pg, "CREATE OR REPLACE TEMP VIEW v AS SELECT 1",               temp_table, "v"),
    PIN(pg, "CREATE TEMP SEQUENCE s",                                  temp_table, "s"),
    PIN(pg, "SELECT * INTO TEMP t FROM u",                             temp_table, "t"),
    PIN(pg, "SELECT a, b INTO TEMPORARY TABLE T FROM u WHERE a > 1",  temp_table, "t"),
    PIN(my, "CREATE TEMPORARY TABLE t (x int)",                        temp_table, "t"),
    PIN(my, "CREATE TEMPORARY TABLE IF NOT EXISTS app.Orders (id int) ENGINE=InnoDB",
                                                                       temp_table, "Orders"),
    PIN(my, "CREATE OR REPLACE TEMPORARY TABLE `My Table` SELECT * FROM u",
                                                                       temp_table, "My Table"),
    // advisory locks
    PIN(pg, "SELECT pg_advisory_lock(1)",                              advisory_lock, "1"),
    PIN(pg, "SELECT pg_advisory_lock(1, 2)",                           advisory_lock, "1,2"),
    PIN(pg, "select PG_ADVISORY_LOCK( 1 , 2 ) AS locked;",             advisory_lock, "1,2"),
    PIN(pg, "SELECT pg_advisory_lock_shared(7)",                       advisory_lock, "7"),
    PIN(pg, "SELECT pg_try_advisory_lock(hashtext('job x'))",          advisory_lock, "hashtext('job x')"),
    PIN(pg, "SELECT pg_try_advisory_lock_shared(1, 2) locked",         advisory_lock, "1,2"),
    PIN(pg, "SELECT pg_catalog.pg_advisory_lock($1)",                  advisory_lock, "$1"),
    PIN(pg, "SELECT pg_advisory_lock(1), pg_advisory_lock(2)",         advisory_lock, "1", "2"),
    PIN(pg, "SELECT pg_advisory_lock(1), now()",                       advisory_lock, "1"),
    PIN(my, "SELECT GET_LOCK('name', 10)",                             advisory_lock, "name"),
    PIN(my, "SELECT get_lock('Job:42', -1) AS got",                    advisory_lock, "job:42"),
    PIN(my, "SELECT GET_LOCK('a', 1), GET_LOCK('b', 1)",               advisory_lock, "a", "b"),
    PIN(my, "DO GET_LOCK('x', 1)",                                     advisory_lock, "x"),
    // LISTEN, PREPARE, cursors
    PIN(pg, "LISTEN jobs",                                             listen, "jobs"),
    PIN(pg, "LISTEN \"Jobs\"",                                         listen, "Jobs"),
    PIN(pg, "PREPARE q AS SELECT 1",                                   prepared, "q"),
    PIN(pg, "PREPARE Q (int, text) AS SELECT * FROM t WHERE a = $1 AND b = $2",
                                                                       prepared, "q"),
    PIN(my, "PREPARE s FROM 'SELECT 1'",                               prepared, "s"),
    PIN(my, "PREPARE S FROM 'SELECT * FROM t WHERE a = ?'",            prepared, "s"),
    PIN(pg, "DECLARE c CURSOR WITH HOLD FOR SELECT 1",                 cursor, "c"),
    PIN(pg, "DECLARE C NO SCROLL CURSOR WITH HOLD FOR SELECT * FROM t",cursor, "c"),
    // MySQL user variables assigned by a query or expression
    PIN(my, "SET @v = (SELECT 1)",                                     user_variable, "@v"),
    PIN(my, "SET @v = NOW()",                                          user_variable, "@v"),
    PIN(my, "SET @v = @w + 1",                                         user_variable, "@v"),
    PIN(my, "SET @a = 1, @b = (SELECT max(id) FROM t)",                user_variable, "@a", "@b"),
    PIN(my, "SELECT 1 INTO @v",                                        user_variable, "@v"),
    PIN(my, "SELECT a, b INTO @A, @b FROM t WHERE id = 1",             user_variable, "@a", "@b"),
    PIN(my, "SELECT a FROM t LIMIT 1 INTO @v",                         user_variable, "@v"),
    PIN(my, "SELECT @v := 1",                                          user_variable, "@v"),
    PIN(my, "SELECT @rownum := @rownum + 1 AS n, t.* FROM t",          user_variable, "@rownum"),
    PIN(my, "UPDATE t SET a = (@old := a) + 1 WHERE id = 1",           user_variable, "@old"),
    // table locks, the next transaction
    PIN(my, "LOCK TABLES t READ",                                      table_lock),
    PIN(my, "LOCK TABLE t WRITE, u AS x READ LOCAL",                   table_lock),
    PIN(my, "SET TRANSACTION READ ONLY",                               next_transaction),
    PIN(my, "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE",            next_transaction),
};

std::vector<effect_row> const unpin_rows = {
    UNPIN(pg, "DROP TABLE t",                                          temp_table, "t"),
    UNPIN(pg, "DROP TABLE IF EXISTS t, u",                             temp_table, "t", "u"),
    UNPIN(pg, "drop table \"T\", pg_temp.u CASCADE",                   temp_table, "T", "u"),
    UNPIN(pg, "DROP TABLE public.t",                                   temp_table, "public.t"),
    UNPIN(pg, "DROP VIEW v",                                           temp_table, "v"),
    UNPIN(pg, "DROP SEQUENCE IF EXISTS s RESTRICT",                    temp_table, "s"),
    UNPIN(my, "DROP TEMPORARY TABLE t",                                temp_table, "t"),
    UNPIN(my, "DROP TEMPORARY TABLE IF EXISTS T, app.u",               temp_table, "T", "u"),
    UNPIN(my, "DROP TABLE `My Table`",                                 temp_table, "My Table"),
    UNPIN(pg, "SELECT pg_advisory_unlock(1)",                          advisory_lock, "1"),
    UNPIN(pg, "SELECT pg_advisory_unlock(1, 2)",                       advisory_lock, "1,2"),
    UNPIN(pg, "SELECT pg_advisory_unlock_shared(hashtext('job x'))",   advisory_lock, "hashtext('job x')"),
    UNPIN(pg, "SELECT pg_advisory_unlock(-5::bigint)",                 advisory_lock, "-5::bigint"),
    UNPIN(pg, "SELECT pg_advisory_unlock(1), pg_advisory_unlock(2)",   advisory_lock, "1", "2"),
    UNPIN(pg, "SELECT pg_advisory_unlock_all()",                       advisory_lock),
    UNPIN(my, "SELECT RELEASE_LOCK('name')",                           advisory_lock, "name"),
    UNPIN(my, "SELECT release_lock('Job:42') AS released",             advisory_lock, "job:42"),
    UNPIN(my, "DO RELEASE_LOCK('x')",                                  advisory_lock, "x"),
    UNPIN(my, "SELECT RELEASE_ALL_LOCKS()",                            advisory_lock),
    UNPIN(pg, "UNLISTEN jobs",                                         listen, "jobs"),
    UNPIN(pg, "UNLISTEN *",                                            listen),
    UNPIN(pg, "DEALLOCATE q",                                          prepared, "q"),
    UNPIN(pg, "DEALLOCATE PREPARE Q",                                  prepared, "q"),
    UNPIN(pg, "DEALLOCATE ALL",                                        prepared),
    UNPIN(pg, "DEALLOCATE PREPARE ALL",                                prepared),
    UNPIN(my, "DEALLOCATE PREPARE s",                                  prepared, "s"),
    UNPIN(my, "DROP PREPARE S",                                        prepared, "s"),
    UNPIN(pg, "CLOSE c",                                               cursor, "c"),
    UNPIN(pg, "CLOSE ALL",                                             cursor),
    UNPIN(my, "UNLOCK TABLES",                                         table_lock),
    UNPIN(my, "unlock table",                                          table_lock),
};

std::vector<effect_row> const none_rows = {
    // this transaction only
    NONE(pg, "SET LOCAL x = 1"),
    NONE(pg, "SET LOCAL search_path TO a"),
    NONE(pg, "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE"),
    NONE(pg, "SET CONSTRAINTS ALL DEFERRED"),
    NONE(pg, "SET transaction_isolation = 'serializable'"),
    NONE(pg, "RESET transaction_isolation"),
    NONE(pg, "CREATE TEMP TABLE t ON COMMIT DROP"),
    NONE(pg, "CREATE TEMP TABLE t (x int) ON COMMIT DROP AS SELECT 1"),
    NONE(pg, "SELECT pg_advisory_xact_lock(1)"),
    NONE(pg, "SELECT pg_try_advisory_xact_lock_shared(1, 2)"),
    NONE(pg, "DECLARE c CURSOR FOR SELECT 1"),
    NONE(pg, "DECLARE c CURSOR WITHOUT HOLD FOR SELECT 1"),
    NONE(pg, "FETCH 10 FROM c"),
    NONE(pg, "MOVE NEXT IN c"),
    NONE(pg, "LOCK TABLE t IN ACCESS EXCLUSIVE MODE"),
    NONE(pg, "PREPARE TRANSACTION 'x'"),
    NONE(pg, "EXECUTE q(1, 'a')"),
    // the server's settings, not this session's
    NONE(my, "SET GLOBAL max_connections = 10"),
    NONE(my, "SET @@global.max_connections = 10"),
    NONE(my, "SET GLOBAL max_connections = 10, wait_timeout = 60"),
    NONE(my, "SET PERSIST max_connections = 10"),
    NONE(my, "SET PERSIST_ONLY max_connections = 10"),
    NONE(my, "SET GLOBAL TRANSACTION ISOLATION LEVEL READ COMMITTED"),
    // one statement, a look, a read
    NONE(my, "SET STATEMENT max_statement_time = 1 FOR SELECT * FROM t"),
    NONE(my, "SELECT IS_FREE_LOCK('a')"),
    NONE(my, "SELECT IS_USED_LOCK('a')"),
    NONE(my, "EXECUTE s USING @a, @b"),
    NONE(my, "SELECT a FROM t INTO OUTFILE '/tmp/out.txt'"),
    NONE(my, "SELECT a FROM t INTO DUMPFILE '/tmp/out.bin'"),
    // classify() does not mark them as session state
    NONE(pg, "SELECT 1"),
    NONE(my, "SELECT 1"),
    NONE(pg, "INSERT INTO t VALUES (1)"),
    NONE(pg, "SELECT * INTO t FROM u"),
    NONE(pg, "DROP INDEX i"),
    NONE(my, "SELECT 1; SELECT 2"),
    // nothing at all
    NONE(pg, ""),
    NONE(my, "  -- a comment\n"),
    NONE(pg, "/* a /* nested */ comment */"),
    NONE(my, "# a comment"),
    NONE(pg, ";"),
};

std::vector<effect_row> const opaque_rows = {
    // several statements
    OPAQUE(pg, "SET search_path = a; SET work_mem = '1MB'"),
    OPAQUE(pg, "SET search_path = a; SELECT 1"),
    OPAQUE(my, "SET NAMES utf8mb4; SET time_zone = '+00:00'"),
    OPAQUE(my, "SELECT GET_LOCK('a', 1); SELECT 1"),
    OPAQUE(pg, "SET x = 1;;"),
    // a zero-length quoted name: the servers refuse it ("zero-length delimited identifier"); no setting of
    // an empty key (found by fuzz-session-effect)
    OPAQUE(pg, "SET \"\" = 1"),
    OPAQUE(pg, "SET SESSION \"\".x = 1"),
    OPAQUE(my, "SET SESSION `` = 1"),
    // PostgreSQL SET forms that are not a pure setting
    OPAQUE(pg, "SET search_path FROM CURRENT"),
    OPAQUE(pg, "SET seed = 0.5"),
    OPAQUE(pg, "SET SESSION x"),
    OPAQUE(pg, "SELECT set_config('search_path', 'a', false)"),
    OPAQUE(pg, "LOAD 'auto_explain'"),
    OPAQUE(pg, "SELECT dblink_connect('c', 'host=x')"),
    // advisory locks this analysis cannot follow
    OPAQUE(pg, "SELECT pg_advisory_lock(1), pg_advisory_unlock(2)"),
    OPAQUE(pg, "SELECT pg_advisory_lock(1), set_config('a.b', 'c', false)"),
    OPAQUE(pg, "SELECT pg_advisory_lock(id) FROM jobs"),
    OPAQUE(pg, "SELECT pg_advisory_lock(1) WHERE false"),
    OPAQUE(pg, "SELECT pg_advisory_unlock(1) LIMIT 0"),
    OPAQUE(pg, "SELECT CASE WHEN x THEN pg_advisory_unlock(1) END FROM t"),
    OPAQUE(pg, "SELECT coalesce(pg_advisory_unlock(1), false)"),
    OPAQUE(pg, "SELECT pg_advisory_unlock($1)"),
    OPAQUE(pg, "SELECT pg_advisory_unlock(k) FROM (SELECT 1 AS k) s"),
    OPAQUE(pg, "SELECT pg_advisory_unlock(1), 1/0"),
    OPAQUE(pg, "SELECT pg_advisory_unlock_all(), pg_advisory_unlock(1)"),
    OPAQUE(pg, "SELECT pg_advisory_lock(1) INTO TEMP t"),
    OPAQUE(pg, "SELECT myschema.pg_advisory_unlock(1)"),
    OPAQUE(pg, "SELECT \"pg_advisory_unlock\"(1)"),
    OPAQUE(pg, "SELECT pg_advisory_lock(length(set_config('a.b', 'c', false)))"),
    OPAQUE(pg, "INSERT INTO t SELECT pg_advisory_lock(1)"),
    OPAQUE(pg, "SELECT pg_advisory_lock(1"),
    OPAQUE(my, "SELECT GET_LOCK(CONCAT('job', id), 1) FROM t"),
    OPAQUE(my, "SELECT GET_LOCK(@name, 1)"),
    OPAQUE(my, "SELECT RELEASE_LOCK(?)"),
    OPAQUE(my, "SELECT GET_LOCK('a', 1), RELEASE_LOCK('b')"),
    OPAQUE(my, "SELECT GET_LOCK('a', 1) INTO @got"),
    OPAQUE(my, "SELECT @got := GET_LOCK('a', 1)"),
    // temporary tables, prepared statements and cursors that carry more state
    OPAQUE(pg, "CREATE TEMP TABLE t AS SELECT pg_advisory_lock(1)"),
    OPAQUE(pg, "SELECT pg_advisory_lock(1) AS l INTO TEMP t"),
    OPAQUE(pg, "SELECT set_config('a', 'b', false) INTO TEMP t"),
    OPAQUE(pg, "PREPARE q AS SELECT pg_advisory_lock(1)"),
    OPAQUE(pg, "DECLARE c CURSOR FOR SELECT pg_advisory_lock(1)"),
    OPAQUE(pg, "EXECUTE q(pg_advisory_lock(1))"),
    OPAQUE(my, "CREATE TEMPORARY TABLE t SELECT GET_LOCK('a', 1)"),
    OPAQUE(my, "PREPARE s FROM 'SELECT GET_LOCK(''a'', 1)'"),
    OPAQUE(my, "PREPARE s FROM @sql"),
    OPAQUE(my, "PREPARE s FROM 'COMMIT'"),
    OPAQUE(my, "PREPARE s FROM 'SELECT 1; SELECT 2'"),
    // MySQL SET forms that are not a pure setting
    OPAQUE(my, "SET autocommit = 0"),
    OPAQUE(my, "SET @@session.AUTOCOMMIT = 1"),
    OPAQUE(my, "SET insert_id = 5"),
    OPAQUE(my, "SET @@transaction_isolation = 'READ-COMMITTED'"),
    OPAQUE(my, "SET sql_mode = (SELECT @@global.sql_mode)"),
    OPAQUE(my, "SET timestamp = UNIX_TIMESTAMP()"),
    OPAQUE(my, "SET sql_mode = ?"),
    OPAQUE(my, "SET @v = (SELECT 1), sql_mode = ''"),
    OPAQUE(my, "SET @v = GET_LOCK('a', 1)"),
    OPAQUE(my, "SET @a = (@b := 1)"),
    OPAQUE(my, "SET GLOBAL max_connections = 10, SESSION wait_timeout = 60"),
    OPAQUE(my, "SET @@global.max_connections = 10, wait_timeout = 60"),
    OPAQUE(my, "SET GLOBAL max_connections = 10, @v = 1"),
    OPAQUE(my, "SET PASSWORD = 'secret'"),
    OPAQUE(my, "SET PASSWORD FOR app = 'secret'"),
    OPAQUE(my, "SET DEFAULT ROLE ALL TO app"),
    OPAQUE(my, "SET STATEMENT max_statement_time = 1 FOR SELECT GET_LOCK('a', 1)"),
    OPAQUE(my, "HANDLER t OPEN"),
    OPAQUE(my, "LOCK INSTANCE FOR BACKUP"),
    OPAQUE(my, "/*!40101 SET NAMES utf8 */"),
    OPAQUE(my, "SET NAMES utf8mb4 /*!80000 , autocommit = 0 */"),
};
// clang-format on

void check(effect_row const& row)
{
    session_effect_info const e = effect_of(row.sql, row.d);
    BOOST_TEST(std::string(to_string(e.kind)) == to_string(row.kind));
    switch (row.kind)
    {
    case effect_kind::setting:
        BOOST_TEST(names(e.keys) == names(row.names));
        BOOST_TEST(e.restores_default == ((row.flags & restores) != 0));
        BOOST_TEST(e.reads_session == ((row.flags & reads) != 0));
        BOOST_TEST(e.objects.empty());
        break;
    case effect_kind::pin:
    case effect_kind::unpin:
        BOOST_TEST(std::string(to_string(e.cause)) == to_string(row.cause));
        BOOST_TEST(names(e.objects) == names(row.names));
        BOOST_TEST(e.keys.empty());
        break;
    default:
        BOOST_TEST(e.keys.empty());
        BOOST_TEST(e.objects.empty());
        break;
    }
}

std::vector<effect_row> all_rows()
{
    std::vector<effect_row> rows;
    for (auto const* table : {&setting_rows, &pin_rows, &unpin_rows, &none_rows, &opaque_rows})
        rows.insert(rows.end(), table->begin(), table->end());
    return rows;
}

bool releases(session_effect_info const& e, pin_cause c)
{
    return e.releases[static_cast<int>(c)];
}

} // namespace

BOOST_AUTO_TEST_SUITE(session_effect_rules)

BOOST_DATA_TEST_CASE(setting_is_replayable_under_its_canonical_keys, bdata::make(setting_rows), row)
{
    check(row);
}

BOOST_DATA_TEST_CASE(connection_bound_state_pins_its_objects, bdata::make(pin_rows), row)
{
    check(row);
}

BOOST_DATA_TEST_CASE(releasing_statement_unpins_exactly_what_it_removes, bdata::make(unpin_rows), row)
{
    check(row);
}

BOOST_DATA_TEST_CASE(transaction_scoped_server_wide_or_plain_statement_has_no_session_effect,
                     bdata::make(none_rows), row)
{
    check(row);
}

BOOST_DATA_TEST_CASE(statement_this_analysis_cannot_follow_is_opaque, bdata::make(opaque_rows), row)
{
    check(row);
}

BOOST_AUTO_TEST_CASE(reset_all_resets_every_setting)
{
    session_effect_info const e = effect_of("RESET ALL", pg);
    BOOST_TEST(std::string(to_string(e.kind)) == "reset_all");
    BOOST_TEST(e.keys.empty());
}

BOOST_AUTO_TEST_CASE(discard_all_releases_every_cause_and_resets_settings)
{
    session_effect_info const e = effect_of("DISCARD ALL", pg);
    BOOST_TEST(std::string(to_string(e.kind)) == "discard");
    BOOST_TEST(e.resets_settings);
    for (int c = 1; c < static_cast<int>(pin_cause::count_); ++c)
        BOOST_TEST(releases(e, static_cast<pin_cause>(c)), to_string(static_cast<pin_cause>(c)));
}

BOOST_AUTO_TEST_CASE(discard_temp_releases_temporary_tables_only)
{
    for (char const* sql : {"DISCARD TEMP", "discard temporary;"})
    {
        session_effect_info const e = effect_of(sql, pg);
        BOOST_TEST(std::string(to_string(e.kind)) == "discard", sql);
        BOOST_TEST(!e.resets_settings, sql);
        for (int c = 1; c < static_cast<int>(pin_cause::count_); ++c)
            BOOST_TEST(releases(e, static_cast<pin_cause>(c)) == (c == static_cast<int>(pin_cause::temp_table)),
                       sql << ": " << to_string(static_cast<pin_cause>(c)));
    }
}

BOOST_AUTO_TEST_CASE(discard_plans_and_sequences_release_nothing)
{
    for (char const* sql : {"DISCARD PLANS", "DISCARD SEQUENCES"})
    {
        session_effect_info const e = effect_of(sql, pg);
        BOOST_TEST(std::string(to_string(e.kind)) == "discard", sql);
        BOOST_TEST(!e.resets_settings, sql);
        for (int c = 0; c < static_cast<int>(pin_cause::count_); ++c)
            BOOST_TEST(!releases(e, static_cast<pin_cause>(c)), sql);
    }
}

BOOST_AUTO_TEST_CASE(advisory_unlock_all_releases_every_advisory_lock)
{
    session_effect_info const e = effect_of("SELECT pg_advisory_unlock_all()", pg);
    BOOST_TEST(std::string(to_string(e.kind)) == "unpin");
    BOOST_TEST(std::string(to_string(e.cause)) == "advisory_lock");
    BOOST_TEST(e.objects.empty());
}

BOOST_AUTO_TEST_CASE(statement_classify_did_not_mark_has_no_effect_unless_it_releases)
{
    // The backend passes classify()'s verdict: a statement it calls a plain read or write changes nothing.
    classification read;
    read.kind = statement_kind::read;
    read.why = reason::select;
    BOOST_TEST(std::string(to_string(session_effect("SET search_path = a", pg, read).kind)) == "none");
    BOOST_TEST(std::string(to_string(session_effect("SELECT pg_advisory_lock(1)", pg, read).kind)) == "none");
    BOOST_TEST(std::string(to_string(session_effect("DROP TABLE t", pg, read).kind)) == "unpin");
}

BOOST_AUTO_TEST_CASE(unreadable_text_is_opaque)
{
    // classify() files unreadable text under `unknown`, not session state: through the backend it is `none`.
    // Passed as session state anyway, it must not be read as a setting.
    classification pinned;
    pinned.kind = statement_kind::session_state;
    pinned.why = reason::session_state;
    pinned.pins_session = true;
    for (auto const& [d, sql] : {std::pair{pg, "SET search_path = 'a"}, std::pair{my, "SET @v = 'a"},
                                 std::pair{pg, "SET x = 1 /* unterminated"}, std::pair{pg, "SET x = $$a"},
                                 std::pair{pg, "SET \"x = 1"}, std::pair{my, "SET `x = 1"},
                                 std::pair{pg, "SET x = 1\x01"}})
    {
        BOOST_TEST(std::string(to_string(session_effect(sql, d, pinned).kind)) == "opaque", sql);
        BOOST_TEST(std::string(to_string(effect_of(sql, d).kind)) == "none", sql);
    }
}

BOOST_AUTO_TEST_CASE(table_unpin_always_names_its_tables)
{
    // An unpin without objects releases every object of its cause: a DROP must never produce one.
    for (char const* sql : {"DROP TABLE t", "DROP TABLE IF EXISTS a, b CASCADE", "DROP TABLE public.t"})
    {
        session_effect_info const e = effect_of(sql, pg);
        BOOST_TEST(!e.objects.empty(), sql);
    }
}

BOOST_AUTO_TEST_CASE(hostile_input_never_throws_and_never_answers_inconsistently)
{
    // Every prefix of every row (truncated literals, comments, dollar quotes, half a function call), in both
    // dialects and both classifications, then random bytes.
    std::vector<std::string> inputs;
    for (effect_row const& row : all_rows())
        for (std::size_t n = 0; n <= row.sql.size(); ++n) inputs.push_back(row.sql.substr(0, n));
    std::uint32_t state = 12345;
    auto random = [&] {
        state = state * 1664525u + 1013904223u;
        return state >> 8;
    };
    char const alphabet[] = "SELECT pg_advisory_lock(1),'\"`$@:;=-/*#\\\n\t\0\xff\xc3()INTO TEMP set get_lock";
    for (int i = 0; i < 500; ++i)
    {
        std::string s;
        std::size_t const n = random() % 64;
        for (std::size_t j = 0; j < n; ++j) s += alphabet[random() % (sizeof alphabet - 1)];
        inputs.push_back(s);
    }
    classification pinned;
    pinned.kind = statement_kind::session_state;
    pinned.why = reason::session_state;
    pinned.pins_session = true;
    std::size_t runs = 0;
    for (std::string const& sql : inputs)
        for (dialect d : {pg, my})
            for (classification const& c : {classify(sql, d), pinned})
            {
                session_effect_info e;
                BOOST_REQUIRE_NO_THROW(e = session_effect(sql, d, c));
                ++runs;
                if (e.kind != effect_kind::setting) BOOST_TEST(e.keys.empty(), sql);
                if (e.kind != effect_kind::pin && e.kind != effect_kind::unpin)
                {
                    BOOST_TEST(e.objects.empty(), sql);
                    BOOST_TEST((e.cause == pin_cause::none), sql);
                }
                if (e.kind == effect_kind::pin || e.kind == effect_kind::unpin)
                    BOOST_TEST((e.cause != pin_cause::none && e.cause != pin_cause::count_), sql);
            }
    BOOST_TEST(runs > 2000u);
}

BOOST_AUTO_TEST_SUITE_END()
