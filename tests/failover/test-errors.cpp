// soci-routing failover tests: which errors are retried on the primary, which reach the application, and how
// they read.

#include <boost/test/unit_test.hpp>

#include "failover-support.h"
#include "tcp-proxy.h"

#include <soci/mysql/soci-mysql.h>
#include <soci/postgresql/soci-postgresql.h>

#include <iostream>
#include <set>
#include <thread>

using namespace failover_test;

namespace
{

std::uint64_t total(soci::routing_stats const& s, std::uint64_t soci::routing_endpoint_stats::*field,
                    std::string const& role)
{
    std::uint64_t n = 0;
    for (auto const& e : s.endpoints)
        if (e.role == role)
            n += e.*field;
    return n;
}

// Writes one row tagged `tag` through `sql`, expecting the router to have replaced a primary connection that
// broke earlier (it owns a pool). When that fails, says so, and checks that at least SOCI's own remedy,
// session::reconnect(), recovers the session.
void write_after_recovery(soci::session& sql, std::string const& tag, std::string const& situation)
{
    std::string const insert = "INSERT INTO " + writes_table() + " (tag) VALUES (:tag)";
    try
    {
        sql << insert, soci::use(tag);
        return;
    }
    catch (std::exception const& e)
    {
        BOOST_ERROR("the first write " << situation << " failed (the broken primary connection is kept): "
                                       << e.what());
    }
    try
    {
        sql.reconnect();
        sql << insert, soci::use(tag);
        BOOST_TEST_MESSAGE("after session::reconnect() the write works");
    }
    catch (std::exception const& e)
    {
        BOOST_ERROR("even after session::reconnect() the write " << situation << " failed: " << e.what());
    }
}

bool is_replica_port(int port)
{
    for (auto const& r : cluster().replicas)
        if (r.port == port)
            return true;
    return false;
}

// The integer column `name` of a row, whatever integer type the driver described it as.
long long row_int(soci::row const& r, std::string const& name)
{
    std::size_t i = 0;
    while (i < r.size() && r.get_properties(i).get_name() != name)
        ++i;
    BOOST_REQUIRE_MESSAGE(i < r.size(), "the row has no column " << name);
    switch (r.get_properties(i).get_data_type())
    {
    case soci::dt_integer: return r.get<int>(i);
    case soci::dt_long_long: return r.get<long long>(i);
    case soci::dt_unsigned_long_long: return static_cast<long long>(r.get<unsigned long long>(i));
    default: BOOST_FAIL("column " << name << " is not an integer");
    }
    return -1;
}

int count_rows(std::string const& tag)
{
    auto sql = direct(cluster().primary);
    int n = 0;
    *sql << "SELECT count(*) FROM " + writes_table() + " WHERE tag = :tag", soci::use(tag), soci::into(n);
    return n;
}

} // namespace

BOOST_AUTO_TEST_SUITE(error_handling)

// A read whose replica connection breaks (and cannot be reopened) is run once more on the primary: the
// application gets its rows, and the replica counts one fallback and its failure.
BOOST_AUTO_TEST_CASE(failed_replica_read_is_retried_once_on_primary)
{
    test_cluster const& c = cluster();
    server const& replica = c.replicas[0];
    tcp_proxy proxy(replica.port);
    config_spec spec;
    spec.failures = 5;
    spec.replicas = std::vector<replica_spec>{{"replica-1", proxy.port(), {}}};
    soci::session sql(routing_uri(spec));

    BOOST_REQUIRE_EQUAL(read_port(sql), replica.port);
    BOOST_REQUIRE_EQUAL(proxy.open_connections(), 1);

    proxy.set_mode(tcp_proxy::mode::reject);
    proxy.cut();
    int port = 0;
    try
    {
        port = read_port(sql);
    }
    catch (std::exception const& e)
    {
        BOOST_ERROR("the read reached the application as an error: " << e.what());
    }
    BOOST_CHECK_EQUAL(port, c.primary.port);
    BOOST_CHECK_EQUAL(soci::routing.last_endpoint(sql), "primary");
    BOOST_CHECK_EQUAL(soci::routing.last_reason(sql), "fallback");

    auto const s = soci::routing.stats(sql);
    auto const* r = find(s, "replica-1");
    auto const* p = find(s, "primary");
    BOOST_REQUIRE(r != nullptr && p != nullptr);
    BOOST_TEST_MESSAGE("replica-1 after the broken read: failures " << r->failures << ", fallbacks "
                                                                    << r->fallbacks << ", last_error "
                                                                    << r->last_error);
    BOOST_CHECK_EQUAL(r->fallbacks, 1u);
    BOOST_CHECK_GE(r->failures, 1u);
    BOOST_CHECK_EQUAL(r->state == "quarantined", false);  // 1 read < failures = 5
    BOOST_CHECK_EQUAL(p->fallbacks, 0u);
    BOOST_CHECK_EQUAL(p->statements, 1u);  // the retry ran there, once

    // The replica answers again: the next read is its own.
    proxy.set_mode(tcp_proxy::mode::forward);
    BOOST_CHECK_EQUAL(read_port(sql), replica.port);
    BOOST_CHECK_EQUAL(soci::routing.last_endpoint(sql), "replica-1");
}

// The same for reads whose columns SOCI describes first (soci::row, soci::rowset<soci::row>): there the query
// runs in prepare_for_describe, and that is where the fallback must happen.
BOOST_AUTO_TEST_CASE(described_row_read_falls_back_when_its_replica_breaks)
{
    test_cluster const& c = cluster();
    server const& replica = c.replicas[0];
    tcp_proxy proxy(replica.port);
    config_spec spec;
    spec.failures = 5;
    spec.replicas = std::vector<replica_spec>{{"replica-1", proxy.port(), {}}};
    soci::session sql(routing_uri(spec));
    std::string const query = c.port_query + " AS port";
    auto row_port = [&] {
        soci::row r;
        sql << query, soci::into(r);
        return row_int(r, "port");
    };
    auto rowset_port = [&] {
        soci::rowset<soci::row> rows = (sql.prepare << query);
        long long port = 0;
        for (auto const& r : rows)
            port = row_int(r, "port");
        return port;
    };

    BOOST_REQUIRE_EQUAL(row_port(), replica.port);
    proxy.set_mode(tcp_proxy::mode::reject);
    proxy.cut();
    try
    {
        BOOST_CHECK_EQUAL(row_port(), c.primary.port);
    }
    catch (std::exception const& e)
    {
        BOOST_ERROR("a soci::row read reached the application as an error: " << e.what());
    }
    auto fallbacks = [&] {
        auto const s = soci::routing.stats(sql);
        auto const* r = find(s, "replica-1");
        return r != nullptr ? r->fallbacks : 0u;
    };
    BOOST_CHECK_MESSAGE(fallbacks() == 1u, "1 soci::row read was retried on the primary, replica-1 counts "
                                               << fallbacks() << " fallbacks");
    proxy.set_mode(tcp_proxy::mode::forward);
    BOOST_CHECK_EQUAL(rowset_port(), replica.port);
    proxy.set_mode(tcp_proxy::mode::reject);
    proxy.cut();
    try
    {
        BOOST_CHECK_EQUAL(rowset_port(), c.primary.port);
    }
    catch (std::exception const& e)
    {
        BOOST_ERROR("a rowset<row> read reached the application as an error: " << e.what());
    }
    auto const s = soci::routing.stats(sql);
    auto const* r = find(s, "replica-1");
    BOOST_REQUIRE(r != nullptr);
    BOOST_CHECK_MESSAGE(r->fallbacks == 2u, "2 reads (a row, a rowset) were retried on the primary, replica-1 counts "
                                                << r->fallbacks << " fallbacks (and " << r->failures
                                                << " failures, " << proxy.accepted() << " connection attempts)");
}

// A write whose connection breaks while it runs is never retried (it may have committed): the application
// gets the error, the row is written at most once, and the session works again afterwards.
BOOST_AUTO_TEST_CASE(failed_write_is_never_retried)
{
    test_cluster const& c = cluster();
    tcp_proxy proxy(c.primary.port);
    config_spec spec;
    spec.primary_port = proxy.port();
    soci::session sql(routing_uri(spec));
    std::string const tag = unique_tag("write");

    std::string const warm = tag + "-warm";
    sql << "INSERT INTO " + writes_table() + " (tag) VALUES (:tag)", soci::use(warm);
    BOOST_REQUIRE_EQUAL(proxy.open_connections(), 1);

    std::thread cutter([&] {
        std::this_thread::sleep_for(250ms);
        proxy.cut();
    });
    std::string error;
    // The row is written after 0.6 s on the server (SLEEP returns 0); the connection is reset at 0.25 s.
    std::string const slow_insert = c.is_pg()
        ? "INSERT INTO " + writes_table() + " (tag, v) SELECT :tag, 1 FROM pg_sleep(0.6)"
        : "INSERT INTO " + writes_table() + " (tag, v) SELECT :tag, SLEEP(0.6)";
    try
    {
        sql << slow_insert, soci::use(tag);
    }
    catch (soci::soci_error const& e)
    {
        error = e.what();
    }
    cutter.join();
    BOOST_TEST_MESSAGE("the write whose connection was reset: " << (error.empty() ? "no error" : error));
    BOOST_CHECK_MESSAGE(!error.empty(), "the write succeeded although its connection was reset mid-statement: "
                                        "it was retried");
    BOOST_CHECK(!contains(error, c.primary.password));

    // The server finishes the original statement on its own (it does not notice the lost client while it
    // sleeps): wait for it, then count.
    bool const settled = eventually(5s, [&] {
        auto admin = direct(c.primary);
        int running = 0;
        if (c.is_pg())
            *admin << "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(0.6)%' "
                      "AND pid <> pg_backend_pid() AND state = 'active'",
                soci::into(running);
        else
            *admin << "SELECT count(*) FROM information_schema.PROCESSLIST WHERE INFO LIKE '%SLEEP(0.6)%' "
                      "AND ID <> CONNECTION_ID()",
                soci::into(running);
        return running == 0;
    }, 50ms);
    BOOST_CHECK(settled);
    BOOST_CHECK_LE(count_rows(tag), 1);
    auto const s = soci::routing.stats(sql);
    BOOST_CHECK_EQUAL(total(s, &soci::routing_endpoint_stats::fallbacks, "primary"), 0u);
    BOOST_CHECK_EQUAL(total(s, &soci::routing_endpoint_stats::fallbacks, "replica"), 0u);
    BOOST_CHECK_EQUAL(total(s, &soci::routing_endpoint_stats::statements, "replica"), 0u);  // never misrouted

}

// The session's primary connection breaks between statements (reset): the statement that finds it broken may
// fail (a write is not retried), but the router owns a pool and must not keep the broken connection: the next
// statement runs on a fresh one.
BOOST_AUTO_TEST_CASE(broken_primary_connection_is_replaced_for_the_next_statement)
{
    test_cluster const& c = cluster();
    tcp_proxy proxy(c.primary.port);
    config_spec spec;
    spec.primary_port = proxy.port();
    soci::session sql(routing_uri(spec));
    std::string const tag = unique_tag("reset");
    std::string const insert = "INSERT INTO " + writes_table() + " (tag) VALUES (:tag)";

    sql << insert, soci::use(tag);
    proxy.cut();  // new connections are still forwarded
    try
    {
        sql << insert, soci::use(tag);
        BOOST_TEST_MESSAGE("the write after the reset ran (the broken connection was detected before use)");
    }
    catch (std::exception const& e)
    {
        BOOST_TEST_MESSAGE("the write after the reset failed, as it may: " << e.what());
    }
    int const before = count_rows(tag);
    write_after_recovery(sql, tag, "after the failed one");
    BOOST_CHECK_EQUAL(count_rows(tag), before + 1);
    auto forced = soci::routing.use_primary(sql);
    try
    {
        BOOST_CHECK_EQUAL(read_port(sql), c.primary.port);
    }
    catch (std::exception const& e)
    {
        BOOST_ERROR("a primary read after the reset failed: " << e.what());
    }
    // No write reached a replica (MariaDB's read_only replica would refuse it with 1290, and the refusal would
    // be retried on the primary: the row count alone cannot tell).
    auto const s = soci::routing.stats(sql);
    BOOST_CHECK_EQUAL(total(s, &soci::routing_endpoint_stats::statements, "replica"), 0u);
    BOOST_CHECK_EQUAL(total(s, &soci::routing_endpoint_stats::fallbacks, "replica"), 0u);
}

// fallback = false: a replica read that fails reaches the application, naming the replica, without the
// password, and nothing runs on the primary.
BOOST_AUTO_TEST_CASE(replica_failure_without_fallback_reaches_application_naming_the_replica)
{
    test_cluster const& c = cluster();
    tcp_proxy proxy(c.replicas[0].port);
    config_spec spec;
    spec.fallback = false;
    spec.failures = 5;
    spec.replicas = std::vector<replica_spec>{{"replica-1", proxy.port(), {}}};
    soci::session sql(routing_uri(spec));
    BOOST_REQUIRE_EQUAL(read_port(sql), c.replicas[0].port);

    proxy.set_mode(tcp_proxy::mode::reject);
    proxy.cut();
    for (int i = 0; i < 2; ++i)  // a broken connection, then a refused connect
    {
        BOOST_TEST_CONTEXT("read " << i)
        {
            try
            {
                int const port = read_port(sql);
                BOOST_ERROR("the read succeeded on port " << port << " with its replica down and fallback = false");
            }
            catch (soci::soci_error const& e)
            {
                BOOST_TEST_MESSAGE("read " << i << ": " << e.what());
                BOOST_CHECK(contains(e.what(), "replica-1"));
                BOOST_CHECK(!contains(e.what(), c.primary.password));
            }
        }
    }
    auto const s = soci::routing.stats(sql);
    auto const* p = find(s, "primary");
    auto const* r = find(s, "replica-1");
    BOOST_REQUIRE(p != nullptr && r != nullptr);
    BOOST_CHECK_EQUAL(p->statements, 0u);
    BOOST_CHECK_EQUAL(r->fallbacks, 0u);
    BOOST_CHECK_GE(r->failures, 2u);
}

// Errors the primary would give too are rethrown from the replica as they are (type, SQLSTATE or error
// number), with no retry and no cost to the replica's health.
BOOST_AUTO_TEST_CASE(statement_errors_on_replica_are_rethrown_without_retry)
{
    test_cluster const& c = cluster();
    config_spec spec;
    spec.failures = 2;
    soci::session sql(routing_uri(spec));

    struct row
    {
        std::string query;
        char const* sqlstate;  // PostgreSQL
        int err_num;           // MariaDB
    };
    std::vector<row> const rows = {
        {c.port_query + " FROM", "42601", 1064},                             // syntax error
        {"SELECT count(*) FROM failover_test_no_such_table", "42P01", 1146},  // undefined table
    };
    int const repeats = 3;  // more than `failures`: a health cost would quarantine
    for (row const& r : rows)
    {
        for (int i = 0; i < repeats; ++i)
        {
            BOOST_TEST_CONTEXT(r.query << " #" << i)
            {
                try
                {
                    int n = 0;
                    sql << r.query, soci::into(n);
                    BOOST_ERROR("succeeded");
                }
                catch (soci::postgresql_soci_error const& e)
                {
                    BOOST_CHECK_MESSAGE(c.is_pg(), "a soci::postgresql_soci_error from the mysql driver");
                    BOOST_CHECK_EQUAL(e.sqlstate(), r.sqlstate);
                    BOOST_CHECK(!contains(e.what(), c.primary.password));
                }
                catch (soci::mysql_soci_error const& e)
                {
                    BOOST_CHECK_MESSAGE(c.is_mysql(), "a soci::mysql_soci_error from the postgresql driver");
                    BOOST_CHECK_EQUAL(e.err_num_, r.err_num);
                    BOOST_CHECK(!contains(e.what(), c.primary.password));
                }
                catch (std::exception const& e)
                {
                    BOOST_ERROR("not the driver's own error type: " << e.what());
                }
                // It ran on a replica, and only there.
                BOOST_CHECK_NE(soci::routing.last_endpoint(sql), "primary");
            }
        }
    }
    auto const s = soci::routing.stats(sql);
    auto const* p = find(s, "primary");
    BOOST_REQUIRE(p != nullptr);
    BOOST_CHECK_EQUAL(p->statements, 0u);  // nothing was retried there
    BOOST_CHECK_EQUAL(total(s, &soci::routing_endpoint_stats::statements, "replica"), 2u * repeats);
    BOOST_CHECK_EQUAL(total(s, &soci::routing_endpoint_stats::fallbacks, "replica"), 0u);
    BOOST_CHECK_EQUAL(total(s, &soci::routing_endpoint_stats::failures, "replica"), 0u);
    BOOST_CHECK_EQUAL(total(s, &soci::routing_endpoint_stats::quarantines, "replica"), 0u);
    for (auto const& replica : real_replicas())
    {
        auto const* e = find(s, replica.name);
        BOOST_REQUIRE(e != nullptr);
        BOOST_CHECK_EQUAL(e->state, "up");
    }
    // The session goes on reading from the replicas.
    BOOST_CHECK(is_replica_port(read_port(sql)));
}

namespace
{

// MariaDB: a statement time limit on every replica (SET GLOBAL max_statement_time, as root over its unix
// socket: SOCI's mysql backend has no option to set a session variable at connect, and a routed SET would pin
// the session to the primary). Connections opened while it holds inherit it; restored on destruction.
class replica_statement_limit
{
public:
    explicit replica_statement_limit(double seconds)
    {
        for (server const& r : cluster().replicas)
        {
            auto root = mysql_root(r);
            double before = 0;
            *root << "SELECT @@global.max_statement_time", soci::into(before);
            previous_.push_back(before);
            *root << "SET GLOBAL max_statement_time = " + std::to_string(seconds);
        }
    }
    ~replica_statement_limit()
    {
        for (std::size_t i = 0; i < previous_.size(); ++i)
        {
            try
            {
                *mysql_root(cluster().replicas[i])
                    << "SET GLOBAL max_statement_time = " + std::to_string(previous_[i]);
            }
            catch (std::exception const& e)
            {
                std::cerr << "failover test: could not restore max_statement_time on "
                          << cluster().replicas[i].node << ": " << e.what() << std::endl;
            }
        }
    }
    replica_statement_limit(replica_statement_limit const&) = delete;
    replica_statement_limit& operator=(replica_statement_limit const&) = delete;

private:
    std::vector<double> previous_;
};

/// Fallbacks that must cost no health (timeouts, read-only refusals): every real replica is still up.
void check_replicas_still_up(soci::routing_stats const& s, char const* after)
{
    for (auto const& replica : real_replicas())
    {
        auto const* e = find(s, replica.name);
        BOOST_REQUIRE(e != nullptr);
        BOOST_CHECK_EQUAL(e->state, "up");
        BOOST_TEST_MESSAGE(replica.name << " after the " << after << ": failures " << e->failures << ", fallbacks "
                                        << e->fallbacks << ", last_error: " << e->last_error);
    }
}

} // namespace

// A statement timeout on a replica (PostgreSQL 57014 from the replica connections' own statement_timeout;
// MariaDB 1969 from the replica's max_statement_time) is retried on the primary, and costs the replica no
// health: it is never quarantined for it.
BOOST_AUTO_TEST_CASE(query_timeout_on_replica_is_retried_on_primary_without_health_cost)
{
    test_cluster const& c = cluster();
    config_spec spec;
    spec.failures = 2;
    std::unique_ptr<replica_statement_limit> mysql_limit;
    std::string slow;  // ~0.2 s of work: over the replicas' 50 ms limit, fine on the primary
    if (c.is_pg())
    {
        std::map<std::string, std::string> const slow_limit{{"options", "-c statement_timeout=50"}};
        spec.replicas = real_replicas();
        for (auto& r : *spec.replicas)
            r.options = slow_limit;
        slow = "SELECT inet_server_port() FROM (SELECT count(*) FROM generate_series(1, 2000000)) s";
    }
    else
    {
        mysql_limit = std::make_unique<replica_statement_limit>(0.05);
        slow = c.sleeping_port_query(0.2);
    }
    soci::session sql(routing_uri(spec));

    // The limit is there: the same read, directly on a replica, times out with the documented error.
    {
        std::unique_ptr<soci::session> replica;
        if (c.is_pg())
            replica = std::make_unique<soci::session>(soci::postgresql, c.replicas[0].connect_string
                                                                            + " options='-c statement_timeout=50'");
        else
            replica = direct(c.replicas[0]);
        try
        {
            int port = 0;
            *replica << slow, soci::into(port);
            BOOST_FAIL("the slow read ran within the replica's limit, on port " << port);
        }
        catch (soci::postgresql_soci_error const& e)
        {
            BOOST_CHECK_EQUAL(e.sqlstate(), "57014");
        }
        catch (soci::mysql_soci_error const& e)
        {
            BOOST_CHECK_EQUAL(e.err_num_, 1969);
        }
    }

    int const repeats = 3;
    for (int i = 0; i < repeats; ++i)
    {
        int port = 0;
        try
        {
            sql << slow, soci::into(port);
        }
        catch (std::exception const& e)
        {
            BOOST_ERROR("the slow read reached the application as an error: " << e.what());
        }
        BOOST_CHECK_EQUAL(port, c.primary.port);
        BOOST_CHECK_EQUAL(soci::routing.last_endpoint(sql), "primary");
        BOOST_CHECK_EQUAL(soci::routing.last_reason(sql), "fallback");
    }
    auto const s = soci::routing.stats(sql);
    BOOST_CHECK_EQUAL(total(s, &soci::routing_endpoint_stats::fallbacks, "replica"), static_cast<unsigned>(repeats));
    BOOST_CHECK_EQUAL(total(s, &soci::routing_endpoint_stats::quarantines, "replica"), 0u);
    check_replicas_still_up(s, "timeouts");
    std::set<int> ports;
    for (int i = 0; i < 4; ++i)
        ports.insert(read_port(sql));
    for (auto const& r : c.replicas)
        BOOST_CHECK_MESSAGE(ports.count(r.port), "cheap reads no longer use " << r.node << " after its timeouts");
}

// A read that writes after all (a function that inserts, called as SELECT f(), which the classifier sends to
// a replica) is refused by the replica (PostgreSQL 25006 on a hot standby; MariaDB 1290 from read_only), is
// retried once on the primary, and costs the replica no health. The row is written once per call, by the
// primary.
BOOST_AUTO_TEST_CASE(read_only_refusal_on_replica_is_retried_on_primary_without_health_cost)
{
    test_cluster const& c = cluster();
    std::string const function = "failover_test_write_port";
    {
        if (c.is_pg())
        {
            auto primary = direct(c.primary);
            *primary << "CREATE OR REPLACE FUNCTION " + function
                    + "(t text) RETURNS integer LANGUAGE sql VOLATILE AS 'INSERT INTO " + writes_table()
                    + " (tag) VALUES (t); SELECT inet_server_port()'";
        }
        else
        {
            // Binary logging is on: creating a function takes root, and a DETERMINISTIC declaration (untrue,
            // and harmless here). SQL SECURITY INVOKER: it runs with the rights of the unprivileged `routing`
            // user, so that read_only stops its write on the replica (root would bypass read_only, and the
            // write would break replication).
            auto root = mysql_root(c.primary);
            *root << "DROP FUNCTION IF EXISTS " + c.primary.database + "." + function;
            *root << "CREATE DEFINER = '" + c.primary.user + "'@'127.0.0.1' FUNCTION " + c.primary.database + "."
                    + function + "(t VARCHAR(200)) RETURNS INT DETERMINISTIC MODIFIES SQL DATA SQL SECURITY INVOKER"
                    " BEGIN INSERT INTO " + c.primary.database + "." + writes_table()
                    + " (tag) VALUES (t); RETURN @@port; END";
        }
    }
    // Every replica has the function before the test calls it there.
    for (auto const& r : c.replicas)
    {
        auto replica = direct(r);
        std::string const count = c.is_pg()
            ? "SELECT count(*) FROM pg_proc WHERE proname = :f"
            : "SELECT count(*) FROM information_schema.ROUTINES"
              " WHERE ROUTINE_SCHEMA = DATABASE() AND ROUTINE_NAME = :f";
        bool const arrived = eventually(10s, [&] {
            int n = 0;
            *replica << count, soci::use(function), soci::into(n);
            return n >= 1;
        });
        BOOST_REQUIRE_MESSAGE(arrived, r.node << " does not have " << function << " 10 s after its creation");
    }

    config_spec spec;
    spec.failures = 2;
    soci::session sql(routing_uri(spec));
    std::string const tag = unique_tag("read-only");
    int const repeats = 3;  // more than `failures`: a health cost would quarantine
    for (int i = 0; i < repeats; ++i)
    {
        int port = 0;
        try
        {
            sql << "SELECT " + function + "(:t)", soci::use(tag), soci::into(port);
        }
        catch (std::exception const& e)
        {
            BOOST_ERROR("the writing read reached the application as an error: " << e.what());
        }
        BOOST_CHECK_EQUAL(port, c.primary.port);
        BOOST_CHECK_EQUAL(soci::routing.last_endpoint(sql), "primary");
        BOOST_CHECK_EQUAL(soci::routing.last_reason(sql), "fallback");
    }
    BOOST_CHECK_EQUAL(count_rows(tag), repeats);

    auto const s = soci::routing.stats(sql);
    BOOST_CHECK_EQUAL(total(s, &soci::routing_endpoint_stats::statements, "replica"), static_cast<unsigned>(repeats));
    BOOST_CHECK_EQUAL(total(s, &soci::routing_endpoint_stats::fallbacks, "replica"), static_cast<unsigned>(repeats));
    BOOST_CHECK_EQUAL(total(s, &soci::routing_endpoint_stats::quarantines, "replica"), 0u);
    check_replicas_still_up(s, "refusals");
    for (auto const& replica : real_replicas())
    {
        auto const* e = find(s, replica.name);
        BOOST_REQUIRE(e != nullptr);
        // Both servers' refusals say "read-only" (25006: "cannot execute INSERT in a read-only transaction";
        // 1290: "... running with the --read-only option ...").
        if (e->fallbacks > 0)
            BOOST_CHECK_MESSAGE(contains(e->last_error, "read-only"),
                                "the refusal is not what the replica recorded: " << e->last_error);
    }
    BOOST_CHECK(is_replica_port(read_port(sql)));
}

// The primary down: a write fails with an error naming the primary and its address, without the password;
// reads go on on the replicas; check() says not ready; the primary is never quarantined, so writes work as
// soon as it is back.
BOOST_AUTO_TEST_CASE(primary_down_fails_writes_naming_primary_and_reads_continue_on_replicas)
{
    test_cluster const& c = cluster();
    tcp_proxy proxy(c.primary.port);
    config_spec spec;
    spec.primary_port = proxy.port();
    spec.failures = 2;
    soci::session sql(routing_uri(spec));
    std::string const tag = unique_tag("down");
    sql << "INSERT INTO " + writes_table() + " (tag) VALUES (:tag)", soci::use(tag);

    proxy.set_mode(tcp_proxy::mode::reject);
    proxy.cut();
    for (int i = 0; i < 3; ++i)  // more than `failures`
    {
        BOOST_TEST_CONTEXT("write " << i)
        {
            try
            {
                sql << "INSERT INTO " + writes_table() + " (tag) VALUES (:tag)", soci::use(tag);
                BOOST_ERROR("a write succeeded with the primary down");
            }
            catch (soci::soci_error const& e)
            {
                BOOST_TEST_MESSAGE("write " << i << " with the primary down: " << e.what());
                BOOST_CHECK(contains(e.what(), "primary"));
                BOOST_CHECK(contains(e.what(), "127.0.0.1:" + std::to_string(proxy.port())));
                BOOST_CHECK(!contains(e.what(), c.primary.password));
            }
        }
    }
    for (int i = 0; i < 6; ++i)
    {
        try
        {
            BOOST_CHECK(is_replica_port(read_port(sql)));
        }
        catch (std::exception const& e)
        {
            BOOST_ERROR("a read failed with only the primary down: " << e.what());
        }
    }

    auto const s = soci::routing.stats(sql);
    auto const* p = find(s, "primary");
    BOOST_REQUIRE(p != nullptr);
    BOOST_CHECK_GE(p->failures, 1u);
    BOOST_CHECK_EQUAL(p->quarantines, 0u);
    BOOST_CHECK_NE(p->state, "quarantined");
    BOOST_CHECK(!p->last_error.empty());
    BOOST_CHECK(!contains(p->last_error, c.primary.password));
    // The replicas ran the 6 reads and nothing else: no write went to them while the primary was down.
    BOOST_CHECK_EQUAL(total(s, &soci::routing_endpoint_stats::statements, "replica"), 6u);
    BOOST_CHECK_EQUAL(total(s, &soci::routing_endpoint_stats::fallbacks, "replica"), 0u);

    soci::routing_check const check = soci::routing.check(sql);
    BOOST_CHECK(!check.primary_ready);
    BOOST_CHECK(check.reads_servable);
    BOOST_CHECK(!check.ready());
    BOOST_REQUIRE(!check.endpoints.empty());
    BOOST_CHECK(!check.endpoints[0].reachable);
    BOOST_CHECK(!check.endpoints[0].error.empty());
    BOOST_CHECK(!contains(check.endpoints[0].error, c.primary.password));
    BOOST_CHECK(!contains(check.to_text(), c.primary.password));
    BOOST_CHECK(contains(check.to_text(), "not ready"));

    // Back: the next write works at once.
    proxy.set_mode(tcp_proxy::mode::forward);
    write_after_recovery(sql, tag, "after the primary came back");
    BOOST_CHECK_EQUAL(count_rows(tag), 2);
}

// Opening a session while the primary is down fails with an error naming the primary (the primary is
// connected at open, where session state lives): routing_integration_test covers that case.

BOOST_AUTO_TEST_SUITE_END()
