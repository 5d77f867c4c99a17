// soci-routing failover tests: servers that accept connections and then never answer.
//
// A hung server process, a frozen VM or a black-holed network path looks like this to a client: the
// connection is open, the statement is sent, and no answer ever comes. A tcp_proxy in `stall` mode plays it;
// every test checks that the application gets an answer (or a clear error) in bounded time, and lets the
// proxy forward again before it ends, so that a test that fails does not hang the suite.

#include <boost/test/unit_test.hpp>

#include "failover-support.h"
#include "tcp-proxy.h"

#include <future>
#include <thread>

using namespace failover_test;

namespace
{

/// Runs `f` on another thread; when it has not returned after `limit`, reports that the application hung,
/// lets `proxy` forward again (the blocked call then goes on) and waits for it. Returns what `f` returned or
/// threw, and how long it took.
template <typename F>
auto bounded(tcp_proxy& proxy, std::chrono::milliseconds limit, F f)
{
    auto const start = clock::now();
    auto result = std::async(std::launch::async, f);
    if (result.wait_for(limit) != std::future_status::ready)
    {
        BOOST_ERROR("the application hung: no answer after " << limit.count() << " ms");
        proxy.set_mode(tcp_proxy::mode::forward);
        result.wait();
    }
    return std::make_pair(std::move(result), clock::now() - start);
}

double seconds(clock::duration d)
{
    return std::chrono::duration<double>(d).count();
}

} // namespace

BOOST_AUTO_TEST_SUITE(unresponsive)

// routing.read_timeout = 0.5: a replica that stops answering in the middle of a read costs that read half a
// second, then it runs on the primary; the replica's health pays (failures = 1: quarantined at once) and its
// last error says why.
BOOST_AUTO_TEST_CASE(read_from_a_replica_that_never_answers_falls_back_within_read_timeout)
{
    test_cluster const& c = cluster();
    tcp_proxy silent(c.replicas.front().port);
    config_spec spec;
    spec.read_timeout = 0.5;
    spec.failures = 1;
    spec.retry_window = 30;
    spec.timeout = 1.0;
    spec.replicas = std::vector<replica_spec>{{"silent", silent.port(), {}}};
    soci::session sql(routing_uri(spec));

    BOOST_TEST(read_port(sql) == c.replicas.front().port);  // the connection is open, and answered
    silent.set_mode(tcp_proxy::mode::stall);

    auto [port, took] = bounded(silent, 10s, [&] { return read_port(sql); });
    int got = -1;
    BOOST_CHECK_NO_THROW(got = port.get());
    BOOST_TEST(got == c.primary.port);
    BOOST_TEST(seconds(took) < 0.5 + 1.5, "the read took " << seconds(took) << " s");

    auto const s = soci::routing.stats(sql);
    auto const* r = find(s, "silent");
    BOOST_REQUIRE(r != nullptr);
    BOOST_TEST(r->state == "quarantined");
    BOOST_TEST(r->fallbacks == 1u);
    BOOST_TEST(contains(r->last_error, "read_timeout"), r->last_error);
    BOOST_TEST(contains(r->last_error, "silent"), r->last_error);

    // Quarantined: the next reads go straight to the primary, without waiting.
    auto [next, next_took] = bounded(silent, 10s, [&] { return read_port(sql); });
    BOOST_TEST(next.get() == c.primary.port);
    BOOST_TEST(seconds(next_took) < 0.5, "the read took " << seconds(next_took) << " s");
    silent.set_mode(tcp_proxy::mode::forward);
}

// read_timeout is for replicas only, and off by default: without it a slow read is never cut.
BOOST_AUTO_TEST_CASE(slow_replica_reads_are_not_cut_without_read_timeout)
{
    test_cluster const& c = cluster();
    config_spec spec;
    spec.replicas = std::vector<replica_spec>{real_replicas().front()};
    soci::session sql(routing_uri(spec));
    int port = 0;
    sql << c.sleeping_port_query(0.6), soci::into(port);
    BOOST_TEST(port == c.replicas.front().port);
    auto const stats = soci::routing.stats(sql);
    auto const* r = find(stats, "replica-1");
    BOOST_REQUIRE(r != nullptr);
    BOOST_TEST(r->failures == 0u);
}

// A primary connection that went silent while idle: the idle check before it is lent again gets the connect
// timeout (not for ever), the connection is replaced, and the new connect fails within its timeout; the
// write's error names the primary.
BOOST_AUTO_TEST_CASE(write_to_a_primary_that_never_answers_fails_within_the_connect_timeout)
{
    test_cluster const& c = cluster();
    tcp_proxy silent(c.primary.port);
    config_spec spec;
    spec.primary_port = silent.port();
    spec.timeout = 1.0;  // libpq waits at least 2 s
    soci::session sql(routing_uri(spec));
    std::string const tag = unique_tag("silent-primary");
    sql << "INSERT INTO " + writes_table() + " (tag) VALUES (:tag)", soci::use(tag);

    silent.set_mode(tcp_proxy::mode::stall);
    std::this_thread::sleep_for(1100ms);  // pool.idle_check: the idle connection is checked before it is lent
    auto [write, took] = bounded(silent, 20s, [&] {
        sql << "INSERT INTO " + writes_table() + " (tag) VALUES (:tag)", soci::use(tag);
    });
    std::string error;
    try
    {
        write.get();
    }
    catch (std::exception const& e)
    {
        error = e.what();
    }
    BOOST_TEST(!error.empty(), "the write succeeded against a server that does not answer");
    BOOST_TEST(contains(error, "primary"), error);
    BOOST_TEST(seconds(took) < 8.0, "the write took " << seconds(took) << " s");
    silent.set_mode(tcp_proxy::mode::forward);
}

// A replica that accepts connections and never completes the handshake: a read pays its connect timeout once
// (before, once for the prepare and once more for the execution), then runs on the primary.
BOOST_AUTO_TEST_CASE(read_from_a_replica_that_never_completes_a_connect_pays_the_connect_timeout_once)
{
    test_cluster const& c = cluster();
    tcp_proxy silent(c.replicas.front().port);
    silent.set_mode(tcp_proxy::mode::stall);
    config_spec spec;
    spec.timeout = 1.0;
    double const connect_timeout = c.is_pg() ? 2.0 : 1.0;  // libpq waits at least 2 s
    // ... counted in whole seconds of time(): 2 s from x.99 ends at x+2.0, a little over 1 s later.
    double const at_least = c.is_pg() ? 0.95 : connect_timeout * 0.9;
    spec.replicas = std::vector<replica_spec>{{"silent", silent.port(), {}}};
    soci::session sql(routing_uri(spec));

    auto [port, took] = bounded(silent, 20s, [&] { return read_port(sql); });
    BOOST_TEST(port.get() == c.primary.port);
    BOOST_TEST(seconds(took) >= at_least, "the read took " << seconds(took) << " s");
    BOOST_TEST(seconds(took) < connect_timeout * 1.5,
               "the read took " << seconds(took) << " s: more than one connect timeout of " << connect_timeout
                                << " s");
    auto const stats = soci::routing.stats(sql);
    auto const* r = find(stats, "silent");
    BOOST_REQUIRE(r != nullptr);
    BOOST_TEST(r->failures == 1u);
    BOOST_TEST(r->fallbacks == 1u);
    silent.set_mode(tcp_proxy::mode::forward);
}

// A configuration whose replica hangs its eager connects (pool.min = 1, never answered) must not hold up
// sessions of other configurations: clusters are built outside the process-wide registry's lock.
BOOST_AUTO_TEST_CASE(a_hanging_cluster_build_does_not_hold_up_other_configurations)
{
    test_cluster const& c = cluster();
    tcp_proxy silent(c.replicas.front().port);
    silent.set_mode(tcp_proxy::mode::stall);
    config_spec hanging;
    hanging.timeout = 3.0;
    replica_spec eager{"silent", silent.port(), {}};
    eager.pool_min = 1;
    hanging.replicas = std::vector<replica_spec>{eager};
    std::string const hanging_uri = routing_uri(hanging);
    std::string const healthy_uri = routing_uri(config_spec{});

    auto opening = std::async(std::launch::async, [&] { soci::session sql(hanging_uri); });
    BOOST_REQUIRE(eventually(2s, [&] { return silent.accepted() >= 1; }));  // its eager connect is under way

    auto const start = clock::now();
    {
        soci::session sql(healthy_uri);
        read_port(sql);
    }
    double const took = seconds(clock::now() - start);
    BOOST_TEST(took < 1.0, "opening a session of another configuration took " << took << " s");
    opening.get();
    silent.set_mode(tcp_proxy::mode::forward);
}

BOOST_AUTO_TEST_SUITE_END()
