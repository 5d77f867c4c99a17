// classify_failure with errors provoked on the real servers.

#include <boost/test/unit_test.hpp>

#include "support.h"

#include <soci/mysql/soci-mysql.h>
#include <soci/postgresql/soci-postgresql.h>

using namespace pools_test;

namespace
{

/// Runs `query` on `sql`, expecting it to fail; returns the failure class (and the SQLSTATE in `state`).
failure_class classify_query(soci::session& sql, std::string const& query, driver d, std::string* state = nullptr)
{
    try
    {
        sql << query;
    }
    catch (soci::postgresql_soci_error const& e)
    {
        if (state != nullptr)
            *state = e.sqlstate();
        return classify_failure(e, d, &sql);
    }
    catch (soci::mysql_soci_error const& e)
    {
        if (state != nullptr)
            *state = std::to_string(e.err_num_);
        return classify_failure(e, d, &sql);
    }
    catch (soci::soci_error const& e)
    {
        if (state != nullptr)
            *state = "(plain soci_error)";
        return classify_failure(e, d, &sql);
    }
    BOOST_FAIL("the query succeeded: " + query);
    return failure_class::statement;
}

} // namespace

BOOST_AUTO_TEST_SUITE(pools_classify_failure)

BOOST_AUTO_TEST_CASE(postgresql_syntax_error_is_a_statement_failure)
{
    auto sql = connect(pg_cluster(0).primary);
    std::string state;
    BOOST_TEST(classify_query(sql, "SELEC 1", driver::postgresql, &state) == failure_class::statement);
    BOOST_TEST(state == "42601");
}

BOOST_AUTO_TEST_CASE(postgresql_division_by_zero_is_a_statement_failure)
{
    auto sql = connect(pg_cluster(0).primary);
    std::string state;
    BOOST_TEST(classify_query(sql, "SELECT 1/0", driver::postgresql, &state) == failure_class::statement);
    BOOST_TEST(state == "22012");
}

BOOST_AUTO_TEST_CASE(postgresql_write_on_a_standby_is_transient)
{
    auto sql = connect(pg_cluster(1).replicas[0]);
    std::string state;
    BOOST_TEST(classify_query(sql, "CREATE TEMP TABLE pools_ro(i int)", driver::postgresql, &state)
               == failure_class::transient);
    BOOST_TEST(state == "25006");
}

BOOST_AUTO_TEST_CASE(postgresql_statement_timeout_is_transient)
{
    auto sql = connect(pg_cluster(1).replicas[0]);
    sql << "SET statement_timeout = 50";
    std::string state;
    BOOST_TEST(classify_query(sql, "SELECT pg_sleep(2)", driver::postgresql, &state) == failure_class::transient);
    BOOST_TEST(state == "57014");
}

BOOST_AUTO_TEST_CASE(postgresql_terminated_connection_is_a_connection_failure)
{
    auto sql = connect(pg_cluster(0).primary);
    // A role may terminate its own backends.
    classify_query(sql, "SELECT pg_terminate_backend(pg_backend_pid())", driver::postgresql);
    std::string state;
    BOOST_TEST(classify_query(sql, "SELECT 1", driver::postgresql, &state) == failure_class::connection);
}

BOOST_AUTO_TEST_CASE(postgresql_connect_to_a_closed_port_is_a_connection_failure)
{
    auto ep = closed_port(pg_cluster(0).primary, "x");
    try
    {
        connect(ep);
        BOOST_FAIL("connected to a closed port");
    }
    catch (soci::soci_error const& e)
    {
        BOOST_TEST(classify_failure(e, driver::postgresql) == failure_class::connection);
    }
}

BOOST_AUTO_TEST_CASE(non_soci_exception_is_a_statement_failure)
{
    BOOST_TEST(classify_failure(std::runtime_error("boom"), driver::postgresql) == failure_class::statement);
}

BOOST_AUTO_TEST_CASE(mysql_syntax_error_is_a_statement_failure)
{
    auto sql = connect(mysql_cluster().primary);
    std::string state;
    BOOST_TEST(classify_query(sql, "SELEC 1", driver::mysql, &state) == failure_class::statement);
    BOOST_TEST(state == "1064");
}

BOOST_AUTO_TEST_CASE(mysql_write_on_a_read_only_replica_is_transient)
{
    auto sql = connect(mysql_cluster().replicas[0]);
    std::string state;
    BOOST_TEST(classify_query(sql, "CREATE TABLE pools_ro_probe (i int)", driver::mysql, &state)
               == failure_class::transient);
    BOOST_TEST(state == "1290");
}

BOOST_AUTO_TEST_CASE(mysql_statement_timeout_is_transient)
{
    auto sql = connect(mysql_cluster().replicas[0]);
    std::string state;
    BOOST_TEST(classify_query(sql, "SET STATEMENT max_statement_time=0.05 FOR SELECT SLEEP(2)", driver::mysql, &state)
               == failure_class::transient);
    BOOST_TEST(state == "1969");
}

BOOST_AUTO_TEST_CASE(mysql_connect_to_a_closed_port_is_a_connection_failure)
{
    auto ep = closed_port(mysql_cluster().primary, "x");
    try
    {
        connect(ep);
        BOOST_FAIL("connected to a closed port");
    }
    catch (soci::mysql_soci_error const& e)
    {
        BOOST_TEST((e.err_num_ == 2002 || e.err_num_ == 2003), e.err_num_);  // Connector/C says 2002 for TCP too
        BOOST_TEST(classify_failure(e, driver::mysql) == failure_class::connection);
    }
}

BOOST_AUTO_TEST_SUITE_END()
