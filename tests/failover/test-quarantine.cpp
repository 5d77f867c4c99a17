// soci-routing failover tests: quarantine, observed end to end.
//
// The last replica (PostgreSQL: replica-2; MariaDB: its only replica, replica-1) is reached through a
// tcp_proxy, so the test can make it refuse connections and come back without touching the server everyone
// else uses. The other replicas are configured as they are; with none (MariaDB), reads that avoid the proxied
// replica go to the primary.

#include <boost/test/unit_test.hpp>

#include "failover-support.h"
#include "tcp-proxy.h"

#include <thread>

using namespace failover_test;

namespace
{

/// The configuration's replicas: the real ones, the last one behind `proxy`; and where reads go while it
/// is out of service.
struct flaky_layout
{
    std::vector<replica_spec> replicas;
    std::string flaky_name;   ///< the proxied replica's endpoint name
    int flaky_port = 0;       ///< the port of the server behind the proxy
    std::string other_name;   ///< where reads go meanwhile: the first other replica, or the primary
    int other_port = 0;
};

flaky_layout behind(tcp_proxy const& proxy)
{
    flaky_layout l;
    l.replicas = real_replicas();
    l.flaky_name = l.replicas.back().name;
    l.flaky_port = l.replicas.back().port;
    l.replicas.back().port = proxy.port();
    l.other_name = l.replicas.size() > 1 ? l.replicas.front().name : "primary";
    l.other_port = port_of_endpoint(l.other_name);
    return l;
}

} // namespace

BOOST_AUTO_TEST_SUITE(quarantine)

// failures = 2, retry_window = 0.4 s: two failed connects quarantine the proxied replica for 0.4 s (±20%
// jitter); during the window it gets no read and no connection attempt; when the window ends one read probes
// it; a failed probe quarantines it again for a longer window; once it answers, the probe succeeds and it is
// "up".
BOOST_AUTO_TEST_CASE(quarantined_replica_is_probed_in_the_background_until_it_answers)
{
    test_cluster const& c = cluster();
    tcp_proxy flaky(c.replicas.back().port);
    flaky.set_mode(tcp_proxy::mode::reject);
    flaky_layout const layout = behind(flaky);

    config_spec spec;
    spec.failures = 2;
    spec.retry_window = 0.4;
    spec.retry_window_max = 1.6;
    spec.timeout = 1.0;
    spec.replicas = layout.replicas;
    soci::session sql(routing_uri(spec));

    auto flaky_stats = [&] {
        auto const s = soci::routing.stats(sql);
        auto const* r = find(s, layout.flaky_name);
        BOOST_REQUIRE(r != nullptr);
        return *r;
    };
    auto read = [&] {
        try
        {
            return read_port(sql);
        }
        catch (std::exception const& e)
        {
            BOOST_ERROR("a read reached the application as an error: " << e.what());
            return -1;
        }
    };

    // Reads until the proxied replica is quarantined: each read either runs on another replica or tries the
    // proxied one, fails to connect and is retried on the primary.
    int reads = 0;
    bool const quarantined = eventually(3s, [&] {
        ++reads;
        read();
        return flaky_stats().state == "quarantined";
    }, 1ms);
    std::int64_t const seen_at = unix_ms();
    auto first = flaky_stats();
    BOOST_REQUIRE_MESSAGE(quarantined, layout.flaky_name << " is not quarantined after " << reads
                                                         << " reads with every connection to it reset (state "
                                                         << first.state << ", failures " << first.failures << ")");
    BOOST_CHECK_EQUAL(first.quarantines, 1u);
    BOOST_CHECK_EQUAL(first.failures, 2u);
    BOOST_CHECK_EQUAL(first.statements, 0u);  // no statement ever ran there
    BOOST_CHECK(!first.last_error.empty());
    BOOST_CHECK(!contains(first.last_error, c.primary.password));
    BOOST_CHECK_GT(first.quarantined_until_ms, seen_at);
    BOOST_CHECK_LE(first.quarantined_until_ms, seen_at + 480 + 50);  // 0.4 s + 20% jitter
    int const attempts = flaky.accepted();
    BOOST_CHECK_EQUAL(attempts, 2);

    // During the window: reads all go elsewhere (another replica, else the primary), and the proxied replica
    // is not even connected to.
    int during = 0;
    while (unix_ms() < first.quarantined_until_ms - 30)
    {
        int const port = read();
        BOOST_CHECK_EQUAL(port, layout.other_port);
        BOOST_CHECK_EQUAL(soci::routing.last_endpoint(sql), layout.other_name);
        ++during;
        std::this_thread::sleep_for(5ms);
    }
    BOOST_TEST_MESSAGE(during << " reads during the first window of "
                              << first.quarantined_until_ms - seen_at << " ms");
    BOOST_CHECK_GE(during, 5);
    BOOST_CHECK_EQUAL(flaky.accepted(), attempts);
    BOOST_CHECK_EQUAL(flaky_stats().failures, first.failures);

    // The window ends with the replica still refusing: the background probe tries it (one connection
    // attempt, no application read), and the next probe is due after a longer interval.
    bool const probed = eventually(2s, [&] { return flaky.accepted() > attempts; }, 1ms);
    BOOST_REQUIRE_MESSAGE(probed, "no recovery probe within 2 s of the end of the first window");
    std::int64_t const probed_at = unix_ms();
    BOOST_CHECK_GE(probed_at, first.quarantined_until_ms - 5);
    BOOST_CHECK(eventually(1s, [&] { return flaky_stats().failures == first.failures + 1; }, 1ms));
    int const probe_port = read();
    BOOST_CHECK(probe_port == layout.other_port || probe_port == c.primary.port);
    BOOST_CHECK_EQUAL(flaky.accepted(), attempts + 1);
    auto second = flaky_stats();
    BOOST_CHECK_EQUAL(second.state, "quarantined");
    BOOST_CHECK_EQUAL(second.quarantines, 1u);  // still the same quarantine
    BOOST_CHECK_EQUAL(second.failures, first.failures + 1);
    // The second interval doubles (0.8 s, jittered ±20%, capped at retry_window_max = 1.6 s).
    std::int64_t const second_window = second.quarantined_until_ms - probed_at;
    BOOST_TEST_MESSAGE("second window: " << second_window << " ms");
    BOOST_CHECK_GE(second_window, 640 - 50);
    BOOST_CHECK_LE(second_window, 960 + 50);

    // The replica answers again: once the interval ends, the probe succeeds and it serves reads at once.
    flaky.set_mode(tcp_proxy::mode::forward);
    std::int64_t first_read_at = 0;
    bool const back = eventually(std::chrono::milliseconds(second_window + 2000), [&] {
        if (read() != layout.flaky_port)
            return false;
        first_read_at = unix_ms();
        return true;
    }, 5ms);
    if (!back)
    {
        auto const r = flaky_stats();
        BOOST_FAIL(layout.flaky_name << " served no read within 2 s after its second window ended (state "
                   << r.state << ", quarantines " << r.quarantines << ", failures " << r.failures
                   << ", connection attempts " << flaky.accepted() << ", open " << flaky.open_connections()
                   << ", last_error: " << r.last_error << ")");
    }
    BOOST_CHECK_EQUAL(soci::routing.last_endpoint(sql), layout.flaky_name);
    BOOST_CHECK_MESSAGE(first_read_at >= second.quarantined_until_ms - 5,
                        layout.flaky_name << " served a read " << second.quarantined_until_ms - first_read_at
                                                   << " ms before its window ended");
    auto const up = flaky_stats();
    BOOST_CHECK_GE(flaky.open_connections(), 1);  // it ran through the proxy
    BOOST_CHECK_EQUAL(up.state, "up");
    BOOST_CHECK_EQUAL(up.quarantined_until_ms, 0);
    BOOST_CHECK_EQUAL(up.quarantines, 1u);
    BOOST_CHECK_GE(up.statements, 1u);
}

// A replica that keeps failing its recovery probes: the interval between probes doubles each time and never
// exceeds retry_window_max (jitter included), and reads never see an error meanwhile.
BOOST_AUTO_TEST_CASE(recovery_probe_interval_doubles_up_to_retry_window_max)
{
    test_cluster const& c = cluster();
    tcp_proxy dead(c.replicas.back().port);
    dead.set_mode(tcp_proxy::mode::reject);
    flaky_layout const layout = behind(dead);
    config_spec spec;
    spec.failures = 1;
    spec.retry_window = 0.1;
    spec.retry_window_max = 0.3;
    spec.replicas = layout.replicas;
    soci::session sql(routing_uri(spec));

    // For each probe scheduled: when it is due, and how long that was from when the test saw it. The time
    // left is at most the window (the test may look late on a busy machine); the time between two probes
    // due is at least the second one's window (the probe itself and the housekeeper's tick come on top).
    std::vector<std::int64_t> due;
    std::vector<std::int64_t> left;
    int errors = 0;
    auto const end = clock::now() + 5s;
    while (clock::now() < end && due.size() < 6)
    {
        try
        {
            int const port = read_port(sql);
            BOOST_CHECK_NE(port, layout.flaky_port);
        }
        catch (std::exception const& e)
        {
            if (++errors <= 3)
                BOOST_ERROR("a read failed: " << e.what());
        }
        auto const s = soci::routing.stats(sql);
        auto const* r = find(s, layout.flaky_name);
        BOOST_REQUIRE(r != nullptr);
        if (r->quarantined_until_ms != 0 && (due.empty() || r->quarantined_until_ms != due.back()))
        {
            due.push_back(r->quarantined_until_ms);
            left.push_back(r->quarantined_until_ms - unix_ms());
        }
        std::this_thread::sleep_for(2ms);
    }
    std::string list;
    for (std::size_t i = 1; i < due.size(); ++i)
        list += " " + std::to_string(due[i] - due[i - 1]);
    BOOST_TEST_MESSAGE("recovery probes due at intervals of (ms):" << list);
    BOOST_CHECK_EQUAL(find(soci::routing.stats(sql), layout.flaky_name)->quarantines, 1u);
    BOOST_REQUIRE_MESSAGE(due.size() >= 5, "only " << due.size() << " probes in 5 s with retry_window = 0.1 s "
                                                   "and retry_window_max = 0.3 s; intervals:" << list);
    BOOST_CHECK_LE(left[0], 120);                  // the first window: 0.1 s + 20%
    for (auto l : left)
        BOOST_CHECK_LE(l, 300);                    // never beyond retry_window_max
    for (std::size_t i = 1; i < due.size(); ++i)
        BOOST_CHECK_GT(due[i], due[i - 1]);        // one instant per probe, later each time
    BOOST_CHECK_GE(due[1] - due[0], 160);          // the second window: 0.2 s - 20%
    BOOST_CHECK_GE(due.back() - due[due.size() - 2], 240);  // at the cap: 0.3 s - 20%
}

// A prepared read re-executed after its replica failed moves to the primary with no error, and back to the
// replica when it has recovered (the proxies replay the statement on the new target).
BOOST_AUTO_TEST_CASE(prepared_read_moves_off_a_failed_replica_between_executions)
{
    test_cluster const& c = cluster();
    server const& replica = c.replicas.back();
    tcp_proxy flaky(replica.port);
    config_spec spec;
    spec.failures = 2;
    spec.retry_window = 0.3;
    spec.retry_window_max = 0.3;
    spec.timeout = 1.0;
    spec.replicas = std::vector<replica_spec>{{"flaky", flaky.port(), {}}};
    soci::session sql(routing_uri(spec));

    int port = 0;
    soci::statement st = (sql.prepare << c.port_query, soci::into(port));
    st.execute(true);
    BOOST_CHECK_EQUAL(port, replica.port);

    flaky.set_mode(tcp_proxy::mode::reject);
    flaky.cut();
    for (int i = 0; i < 5; ++i)
    {
        port = 0;
        try
        {
            st.execute(true);
        }
        catch (std::exception const& e)
        {
            BOOST_ERROR("execution " << i << " of the prepared read failed: " << e.what());
        }
        BOOST_CHECK_EQUAL(port, c.primary.port);
        BOOST_CHECK_EQUAL(soci::routing.last_endpoint(sql), "primary");
    }
    auto s = soci::routing.stats(sql);
    auto const* r = find(s, "flaky");
    BOOST_REQUIRE(r != nullptr);
    BOOST_CHECK_EQUAL(r->state, "quarantined");

    flaky.set_mode(tcp_proxy::mode::forward);
    bool const back = eventually(3s, [&] {
        port = 0;
        try
        {
            st.execute(true);
        }
        catch (std::exception const& e)
        {
            BOOST_ERROR("the prepared read failed while its replica came back: " << e.what());
            return true;
        }
        return port == replica.port;
    });
    BOOST_CHECK_MESSAGE(back, "the prepared read did not return to its replica within 3 s");
}

// An application that reads only with soci::row / rowset<row> (the describe path) brings a quarantined replica
// back like any other: the probe's success is recorded there too.
BOOST_AUTO_TEST_CASE(row_reads_restore_a_quarantined_replica)
{
    test_cluster const& c = cluster();
    tcp_proxy flaky(c.replicas.back().port);
    flaky.set_mode(tcp_proxy::mode::reject);
    flaky_layout const layout = behind(flaky);

    config_spec spec;
    spec.failures = 1;
    spec.retry_window = 0.2;
    spec.retry_window_max = 0.4;
    spec.timeout = 1.0;
    spec.replicas = layout.replicas;
    soci::session sql(routing_uri(spec));
    std::string const port_query = c.is_pg() ? "select inet_server_port()::bigint" : "select cast(@@port as signed)";
    auto row_read = [&] {
        soci::rowset<soci::row> rs = (sql.prepare << port_query);
        long long port = -1;
        for (auto const& r : rs)
            port = r.get<long long>(0);
        return static_cast<int>(port);
    };
    auto state = [&] {
        auto const s = soci::routing.stats(sql);
        auto const* r = find(s, layout.flaky_name);
        BOOST_REQUIRE(r != nullptr);
        return r->state;
    };
    BOOST_REQUIRE(eventually(3s, [&] {
        row_read();
        return state() == "quarantined";
    }, 1ms));
    flaky.set_mode(tcp_proxy::mode::forward);
    bool const back = eventually(3s, [&] { return row_read() == layout.flaky_port && state() == "up"; }, 5ms);
    BOOST_CHECK_MESSAGE(back, layout.flaky_name << " did not come back to row reads within 3 s (state "
                                                << state() << ")");
}

BOOST_AUTO_TEST_SUITE_END()
