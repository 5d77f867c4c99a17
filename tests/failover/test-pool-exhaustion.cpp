// soci-routing failover tests: more threads than connections.

#include <boost/test/unit_test.hpp>

#include "failover-support.h"

#include <atomic>
#include <cstdlib>
#include <iostream>
#include <mutex>
#include <thread>

using namespace failover_test;

namespace
{

struct attempt
{
    bool ok = false;
    bool at_open = false;     // opening the routing session failed (it may take its primary connection then)
    bool soci_error = false;  // the failure was a soci::soci_error
    double seconds = 0;
    std::string error;
};

} // namespace

BOOST_AUTO_TEST_SUITE(pool_exhaustion)

// 16 threads, each with its own routing session, each wanting a primary connection for 0.3 s at a time, with
// pool.max = 2 and pool.wait_timeout = 0.2 s. Wherever the plugin takes its primary connections (per statement,
// or for a session's life like a plain soci::session), at most 2 are ever open, every wait ends after
// wait_timeout with the pool's documented error ("no free connection to primary ... within 0.2 s ...
// (pool.max = 2; ...)"), nothing deadlocks, and the pool serves again afterwards.
BOOST_AUTO_TEST_CASE(exhausted_pool_bounds_waits_with_the_documented_error)
{
    test_cluster const& c = cluster();
    constexpr int threads = 16;
    constexpr int attempts_per_thread = 3;
    constexpr double hold = 0.3;
    constexpr double wait_timeout = 0.2;
    config_spec spec;
    spec.pool_max = 2;
    spec.pool_wait_timeout = 0.2;
    spec.tag = unique_tag("failover-pool");
    // Counts the test's server connections: PostgreSQL by application_name; MariaDB by connection id, which
    // only grows: every connection of the `routing` user opened after this one is the test's own (the tests
    // run alone, one at a time).
    auto admin = direct(c.primary);
    long long first_id = 0;
    if (c.is_mysql())
        *admin << "SELECT CONNECTION_ID()", soci::into(first_id);
    auto server_connections = [&] {
        int n = 0;
        if (c.is_pg())
            *admin << "SELECT count(*) FROM pg_stat_activity WHERE application_name = :a", soci::use(spec.tag),
                soci::into(n);
        else
            *admin << "SELECT count(*) FROM information_schema.PROCESSLIST WHERE USER = :u AND ID > :id",
                soci::use(c.primary.user), soci::use(first_id), soci::into(n);
        return n;
    };
    std::string const uri = routing_uri(spec);
    soci::session observer(uri);
    BOOST_REQUIRE_MESSAGE(server_connections() == 1,
                          "the server counts " << server_connections() << " connections of the observer's session");
    std::string const slow_read = c.sleeping_port_query(hold);

    std::mutex mutex;
    std::vector<attempt> attempts;
    std::atomic<int> finished{0};
    std::atomic<bool> go{false};
    auto record = [&](attempt a, clock::time_point start) {
        a.seconds = std::chrono::duration<double>(clock::now() - start).count();
        std::lock_guard<std::mutex> lock(mutex);
        attempts.push_back(std::move(a));
    };
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t)
        pool.emplace_back([&] {
            while (!go.load())
                std::this_thread::sleep_for(1ms);
            auto start = clock::now();
            try
            {
                soci::session sql(uri);
                auto forced = soci::routing.use_primary(sql);
                for (int i = 0; i < attempts_per_thread; ++i)
                {
                    attempt a;
                    start = clock::now();
                    try
                    {
                        int port = 0;
                        sql << slow_read, soci::into(port);
                        a.ok = port == c.primary.port;
                        if (!a.ok)
                            a.error = "ran on port " + std::to_string(port);
                    }
                    catch (soci::soci_error const& e)
                    {
                        a.soci_error = true;
                        a.error = e.what();
                    }
                    catch (std::exception const& e)
                    {
                        a.error = e.what();
                    }
                    record(std::move(a), start);
                }
            }
            catch (soci::soci_error const& e)
            {
                attempt a;
                a.at_open = a.soci_error = true;
                a.error = e.what();
                record(std::move(a), start);
            }
            catch (std::exception const& e)
            {
                attempt a;
                a.at_open = true;
                a.error = e.what();
                record(std::move(a), start);
            }
            finished.fetch_add(1);
        });

    go.store(true);
    int max_open = 0;
    int max_waiting = 0;
    int max_server_connections = 0;
    bool const done = eventually(30s, [&] {
        auto const s = soci::routing.stats(observer);
        if (auto const* p = find(s, "primary"))
        {
            max_open = std::max(max_open, p->connections_open);
            max_waiting = std::max(max_waiting, p->waiting);
        }
        max_server_connections = std::max(max_server_connections, server_connections());
        return finished.load() == threads;
    }, 10ms);
    if (!done)
    {
        // Threads blocked for ever cannot be joined: report and end the process rather than hang the suite.
        std::cerr << "failover tests: DEADLOCK: " << threads - finished.load()
                  << " of 16 threads still blocked 30 s after start (pool.max = 2, wait_timeout = 0.2 s)"
                  << std::endl;
        std::_Exit(3);
    }
    for (auto& t : pool)
        t.join();

    int ok = 0, refused = 0, refused_at_open = 0, documented = 0, wrong_type = 0;
    double slowest_failure = 0, slowest = 0;
    std::string sample;      // the first refusal that is not the documented error, else the first refusal
    bool sample_documented = true;
    for (auto const& a : attempts)
    {
        slowest = std::max(slowest, a.seconds);
        if (a.ok)
        {
            ++ok;
            continue;
        }
        ++refused;
        if (a.at_open)
            ++refused_at_open;
        slowest_failure = std::max(slowest_failure, a.seconds);
        if (!a.soci_error)
            ++wrong_type;
        bool const is_documented = contains(a.error, "no free connection to primary")
            && contains(a.error, "pool.max = 2")
            && contains(a.error, c.primary.host + ":" + std::to_string(c.primary.port));
        if (is_documented)
            ++documented;
        if (sample.empty() || (sample_documented && !is_documented))
        {
            sample = a.error;
            sample_documented = is_documented;
        }
    }
    BOOST_TEST_MESSAGE(ok << " statements ran, " << refused << " were refused (" << refused_at_open
                          << " when opening the session); slowest " << slowest
                          << " s, slowest refusal " << slowest_failure << " s; max open " << max_open
                          << ", max waiting " << max_waiting << ", server connections " << max_server_connections
                          << "; e.g.: " << sample);

    BOOST_CHECK_GE(ok, 1);  // work got done
    BOOST_CHECK_GE(refused, 1);    // 48 x 0.3 s of work on 2 connections cannot all fit in the waits
    BOOST_CHECK_MESSAGE(documented == refused,
                        refused - documented << " refusals are not the pool's documented error, e.g.: " << sample);
    BOOST_CHECK_EQUAL(wrong_type, 0);
    // Bounded: a refusal comes after wait_timeout (plus scheduling; at open, plus a connect), a success after
    // at most one hold of a connection ahead of it within the wait.
    BOOST_CHECK_LE(slowest_failure, wait_timeout + 1.0);
    BOOST_CHECK_LE(slowest, hold + wait_timeout + 1.5);
    BOOST_CHECK_LE(max_open, 2);
    BOOST_CHECK_LE(max_server_connections, 2);
    BOOST_CHECK_MESSAGE(max_waiting >= 1, "stats never showed a thread waiting for a connection");

    // The pool serves again.
    auto const s = soci::routing.stats(observer);
    auto const* p = find(s, "primary");
    BOOST_REQUIRE(p != nullptr);
    BOOST_CHECK_LE(p->connections_in_use, 1);  // the observer's session may keep its primary connection
    BOOST_CHECK_EQUAL(p->waiting, 0);
    BOOST_CHECK_LE(p->connections_open, 2);
    auto forced = soci::routing.use_primary(observer);
    BOOST_CHECK_EQUAL(read_port(observer), c.primary.port);
}

BOOST_AUTO_TEST_SUITE_END()
