// soci-routing failover tests: which errors are retried on the primary, which reach the application, and how
// they read.

#include <boost/test/unit_test.hpp>

#include "failover-support.h"
#include "tcp-proxy.h"

#include <soci/postgresql/soci-postgresql.h>

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
    tcp_proxy proxy(c.replica_1.port);
    config_spec spec;
    spec.failures = 5;
    spec.replicas = std::vector<replica_spec>{{"replica-1", proxy.port(), {}}};
    soci::session sql(routing_uri(spec));

    BOOST_REQUIRE_EQUAL(read_port(sql), c.replica_1.port);
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
    BOOST_CHECK_EQUAL(read_port(sql), c.replica_1.port);
    BOOST_CHECK_EQUAL(soci::routing.last_endpoint(sql), "replica-1");
}

// The same for reads whose columns SOCI describes first (soci::row, soci::rowset<soci::row>): there the query
// runs in prepare_for_describe, and that is where the fallback must happen.
BOOST_AUTO_TEST_CASE(described_row_read_falls_back_when_its_replica_breaks)
{
    test_cluster const& c = cluster();
    tcp_proxy proxy(c.replica_1.port);
    config_spec spec;
    spec.failures = 5;
    spec.replicas = std::vector<replica_spec>{{"replica-1", proxy.port(), {}}};
    soci::session sql(routing_uri(spec));
    auto row_port = [&] {
        soci::row r;
        sql << "SELECT inet_server_port() AS port", soci::into(r);
        return r.get<int>("port");
    };
    auto rowset_port = [&] {
        soci::rowset<soci::row> rows = (sql.prepare << "SELECT inet_server_port() AS port");
        int port = 0;
        for (auto const& r : rows)
            port = r.get<int>("port");
        return port;
    };

    BOOST_REQUIRE_EQUAL(row_port(), c.replica_1.port);
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
    BOOST_CHECK_EQUAL(rowset_port(), c.replica_1.port);
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
    try
    {
        sql << "INSERT INTO " + writes_table() + " (tag, v) SELECT :tag, 1 FROM pg_sleep(0.6)", soci::use(tag);
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
        *admin << "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(0.6)%' "
                  "AND pid <> pg_backend_pid() AND state = 'active'",
            soci::into(running);
        return running == 0;
    }, 50ms);
    BOOST_CHECK(settled);
    BOOST_CHECK_LE(count_rows(tag), 1);
    auto const s = soci::routing.stats(sql);
    BOOST_CHECK_EQUAL(total(s, &soci::routing_endpoint_stats::fallbacks, "primary"), 0u);
    BOOST_CHECK_EQUAL(total(s, &soci::routing_endpoint_stats::fallbacks, "replica"), 0u);

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
}

// fallback = false: a replica read that fails reaches the application, naming the replica, without the
// password, and nothing runs on the primary.
BOOST_AUTO_TEST_CASE(replica_failure_without_fallback_reaches_application_naming_the_replica)
{
    test_cluster const& c = cluster();
    tcp_proxy proxy(c.replica_1.port);
    config_spec spec;
    spec.fallback = false;
    spec.failures = 5;
    spec.replicas = std::vector<replica_spec>{{"replica-1", proxy.port(), {}}};
    soci::session sql(routing_uri(spec));
    BOOST_REQUIRE_EQUAL(read_port(sql), c.replica_1.port);

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

// Errors the primary would give too are rethrown from the replica as they are (type, SQLSTATE), with no retry
// and no cost to the replica's health.
BOOST_AUTO_TEST_CASE(statement_errors_on_replica_are_rethrown_without_retry)
{
    test_cluster const& c = cluster();
    config_spec spec;
    spec.failures = 2;
    soci::session sql(routing_uri(spec));

    struct row
    {
        char const* query;
        char const* sqlstate;
    };
    row const rows[] = {
        {"SELECT inet_server_port() FROM", "42601"},                          // syntax error
        {"SELECT count(*) FROM failover_test_no_such_table", "42P01"},        // undefined table
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
                    BOOST_CHECK_EQUAL(e.sqlstate(), r.sqlstate);
                    BOOST_CHECK(!contains(e.what(), c.primary.password));
                }
                catch (std::exception const& e)
                {
                    BOOST_ERROR("not a soci::postgresql_soci_error: " << e.what());
                }
            }
        }
    }
    auto const s = soci::routing.stats(sql);
    auto const* p = find(s, "primary");
    BOOST_REQUIRE(p != nullptr);
    BOOST_CHECK_EQUAL(p->statements, 0u);  // nothing was retried there
    BOOST_CHECK_EQUAL(total(s, &soci::routing_endpoint_stats::statements, "replica"), 2u * repeats);
    BOOST_CHECK_EQUAL(total(s, &soci::routing_endpoint_stats::fallbacks, "replica"), 0u);
    BOOST_CHECK_EQUAL(total(s, &soci::routing_endpoint_stats::quarantines, "replica"), 0u);
    for (char const* name : {"replica-1", "replica-2"})
    {
        auto const* e = find(s, name);
        BOOST_REQUIRE(e != nullptr);
        BOOST_CHECK_EQUAL(e->state, "up");
    }
    // The session goes on reading from the replicas.
    int const port = read_port(sql);
    BOOST_CHECK(port == c.replica_1.port || port == c.replica_2.port);
}

// A statement timeout on a replica (SQLSTATE 57014, here from the replica's own statement_timeout) is retried
// on the primary, and costs the replica no health: it is never quarantined for it.
BOOST_AUTO_TEST_CASE(query_timeout_on_replica_is_retried_on_primary_without_health_cost)
{
    test_cluster const& c = cluster();
    config_spec spec;
    spec.failures = 2;
    std::map<std::string, std::string> const slow_limit{{"options", "-c statement_timeout=50"}};
    spec.replicas = std::vector<replica_spec>{{"replica-1", c.replica_1.port, slow_limit},
                                              {"replica-2", c.replica_2.port, slow_limit}};
    soci::session sql(routing_uri(spec));

    // ~0.2 s of work: over the replicas' 50 ms limit, fine on the primary.
    std::string const slow = "SELECT inet_server_port() FROM (SELECT count(*) FROM generate_series(1, 2000000)) s";
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
    }
    auto const s = soci::routing.stats(sql);
    BOOST_CHECK_EQUAL(total(s, &soci::routing_endpoint_stats::fallbacks, "replica"), static_cast<unsigned>(repeats));
    BOOST_CHECK_EQUAL(total(s, &soci::routing_endpoint_stats::quarantines, "replica"), 0u);
    for (char const* name : {"replica-1", "replica-2"})
    {
        auto const* e = find(s, name);
        BOOST_REQUIRE(e != nullptr);
        BOOST_CHECK_EQUAL(e->state, "up");
    }
    std::set<int> ports;
    for (int i = 0; i < 4; ++i)
        ports.insert(read_port(sql));
    BOOST_CHECK_MESSAGE(ports.count(c.replica_1.port) && ports.count(c.replica_2.port),
                        "cheap reads no longer use both replicas after their timeouts");
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
            int const port = read_port(sql);
            BOOST_CHECK(port == c.replica_1.port || port == c.replica_2.port);
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
