// Health: consecutive connection failures quarantine a replica for a jittered, doubling window; one probe is
// admitted after it. Observed end to end with a replica endpoint on a closed port.

#include <boost/test/unit_test.hpp>

#include "support.h"

#include <sys/resource.h>
#include <unistd.h>

#include <functional>
#include <string>

using namespace pools_test;

namespace
{

double const window = 0.3;  // seconds

cluster_config one_bad_replica()
{
    auto config = test_cluster(0);
    config.replicas.push_back(closed_port(config.primary, "replica-bad"));
    config.routing.failures = 3;
    config.routing.retry_window = window;
    config.routing.retry_window_max = 5;
    return config;
}

/// Picks the replica and tries to connect to it (which fails and is recorded by the pool).
bool pick_and_fail(cluster& c)
{
    endpoint_pool* p = c.pick_replica();
    if (p == nullptr)
        return false;
    BOOST_CHECK_THROW(p->acquire(), soci::soci_error);
    return true;
}

/// Checks that the quarantine that started between `before` and `after` (Unix ms) lasts `base` seconds
/// give or take the jitter (±20%).
void check_window(std::int64_t before, std::int64_t after, std::int64_t until, double base)
{
    BOOST_TEST(until >= before + static_cast<std::int64_t>(base * 1000 * 0.8) - 2);
    BOOST_TEST(until <= after + static_cast<std::int64_t>(base * 1000 * 1.2) + 2);
}

} // namespace

BOOST_AUTO_TEST_SUITE(pools_health)

BOOST_AUTO_TEST_CASE(quarantined_replica_is_probed_in_the_background_at_growing_intervals)
{
    cluster c(one_bad_replica());
    endpoint_pool& bad = c.replica(0);

    // Two failures: still picked (failures = 3).
    BOOST_TEST(pick_and_fail(c));
    BOOST_TEST(pick_and_fail(c));
    BOOST_TEST(bad.stats().state == "down");
    BOOST_TEST(bad.stats().quarantines == 0u);

    auto before = unix_ms();
    BOOST_TEST(pick_and_fail(c));
    auto after = unix_ms();
    auto s = bad.stats();
    BOOST_TEST(s.state == "quarantined");
    BOOST_TEST(s.quarantines == 1u);
    BOOST_TEST(s.failures == 3u);
    check_window(before, after, s.quarantined_until_ms, window);

    // Skipped while quarantined: every replica is, so there is none to pick, before and after the first
    // probe (which the housekeeping thread makes: no read is sacrificed to it).
    BOOST_TEST(c.pick_replica() == nullptr);
    BOOST_TEST(!bad.usable());
    BOOST_TEST(eventually([&] { return bad.stats().failures == 4u; }));
    after = unix_ms();
    s = bad.stats();
    BOOST_TEST(s.state == "quarantined");
    BOOST_TEST(s.quarantines == 1u);
    BOOST_TEST(s.last_error.find("while probing replica \"replica-bad\"") != std::string::npos, s.last_error);
    BOOST_TEST(c.pick_replica() == nullptr);
    // The next probe after twice the interval.
    check_window(after - 20, after, s.quarantined_until_ms, 2 * window);
}

BOOST_AUTO_TEST_CASE(quarantined_replica_is_back_as_soon_as_a_probe_succeeds)
{
    auto config = test_cluster(1);
    config.routing.failures = 1;
    config.routing.retry_window = window;
    cluster c(config);
    endpoint_pool& replica = c.replica(0);
    auto const quarantined_at = steady::now();
    replica.record_failure(failure_class::connection, "server closed the connection unexpectedly");
    BOOST_TEST(replica.stats().state == "quarantined");
    BOOST_TEST(c.pick_replica() == nullptr);

    BOOST_TEST(eventually([&] { return replica.usable(); }));
    auto const back_after = steady::now() - quarantined_at;
    BOOST_TEST((back_after >= milliseconds(static_cast<int>(window * 1000 * 0.8) - 2)));
    BOOST_TEST((back_after <= milliseconds(static_cast<int>(window * 1000 * 1.2) + 300)));
    auto const s = replica.stats();
    BOOST_TEST(s.state == "up");
    BOOST_TEST(s.quarantined_until_ms == 0);
    BOOST_TEST(s.connections_idle >= 1);  // the probe's connection serves the first read
    BOOST_TEST(c.pick_replica() == &replica);
}

BOOST_AUTO_TEST_CASE(recovery_probe_interval_is_capped_by_retry_window_max)
{
    auto config = one_bad_replica();
    config.routing.failures = 1;
    config.routing.retry_window = 0.05;
    config.routing.retry_window_max = 0.1;
    cluster c(config);
    endpoint_pool& bad = c.replica(0);
    auto const start = steady::now();
    bad.record_failure(failure_class::connection, "refused");
    // Probes after 0.05, then every 0.1 s at most (jitter within the cap): six in well under a second.
    // Uncapped doubling (0.05, 0.1, 0.2, 0.4, 0.8, ...) would take 3 s.
    BOOST_TEST(eventually([&] { return bad.stats().failures >= 7u; }, milliseconds(2000), milliseconds(5)));
    BOOST_TEST((steady::now() - start < milliseconds(1200)));
    BOOST_TEST(bad.stats().quarantines == 1u);
}

BOOST_AUTO_TEST_CASE(healthy_replica_keeps_serving_while_another_is_quarantined)
{
    auto config = one_bad_replica();
    config.replicas.push_back(test_cluster(1).replicas[0]);
    config.routing.failures = 1;
    config.routing.retry_window = 10;  // stays quarantined for the whole test
    cluster c(config);
    c.replica(0).record_failure(failure_class::connection, "refused");
    for (int i = 0; i < 6; ++i)
    {
        endpoint_pool* p = c.pick_replica();
        BOOST_REQUIRE(p != nullptr);
        BOOST_TEST(p == &c.replica(1));
        lease l = p->acquire();
        BOOST_REQUIRE(l);
        BOOST_TEST(server_port(l.session()) == config.replicas[1].effective_port());
    }
}

BOOST_AUTO_TEST_CASE(transient_and_statement_failures_do_not_count_against_health)
{
    cluster c(one_bad_replica());
    endpoint_pool& r = c.replica(0);
    for (int i = 0; i < 5; ++i)
    {
        r.record_failure(failure_class::transient, "canceling statement due to statement timeout");
        r.record_failure(failure_class::statement, "syntax error");
    }
    BOOST_TEST(r.usable());
    auto s = r.stats();
    BOOST_TEST(s.state == "up");
    BOOST_TEST(s.failures == 10u);
    BOOST_TEST(s.quarantines == 0u);
    BOOST_TEST(s.last_error == "syntax error");
}

BOOST_AUTO_TEST_CASE(real_read_only_refusals_and_timeouts_do_not_quarantine_but_ended_connections_do)
{
    auto config = test_cluster(1);
    config.routing.failures = 3;
    config.routing.retry_window = 10;  // a quarantine lasts the whole test
    cluster c(config);
    endpoint_pool& replica = c.replica(0);
    // What the backend does with an error on a replica: classify it, tell the pool, drop a broken connection.
    auto const fail_on_replica = [&](std::function<void(soci::session&)> const& run) {
        lease l = replica.acquire();
        BOOST_REQUIRE(l);
        try
        {
            run(l.session());
            BOOST_ERROR("the statement succeeded");
        }
        catch (soci::soci_error const& e)
        {
            auto const cls = classify_failure(e, test_driver(), &l.session());
            replica.record_failure(cls, e.get_error_message());
            if (cls == failure_class::connection)
                l.discard();
            return cls;
        }
        return failure_class::statement;
    };

    for (int i = 0; i < 3; ++i)
    {
        BOOST_TEST(fail_on_replica([](soci::session& sql) { sql << write_refused_by_a_replica(); })
                   == failure_class::transient);
        BOOST_TEST(fail_on_replica([](soci::session& sql) { run_into_a_timeout(sql); }) == failure_class::transient);
    }
    BOOST_TEST(replica.usable());
    BOOST_TEST(replica.stats().quarantines == 0u);
    BOOST_TEST(replica.stats().failures == 6u);

    for (int i = 0; i < 3; ++i)
    {
        BOOST_TEST(fail_on_replica([&](soci::session& sql) {
                       kill_connection(config.replicas[0], connection_id(sql));
                       sql << "SELECT 1";
                   })
                   == failure_class::connection);
    }
    BOOST_TEST(!replica.usable());
    auto const s = replica.stats();
    BOOST_TEST(s.state == "quarantined");
    BOOST_TEST(s.quarantines == 1u);
    BOOST_TEST(c.pick_replica() == nullptr);
}

BOOST_AUTO_TEST_CASE(success_resets_the_consecutive_failure_count)
{
    cluster c(one_bad_replica());
    endpoint_pool& r = c.replica(0);
    r.record_failure(failure_class::connection, "refused");
    r.record_failure(failure_class::connection, "refused");
    r.record_success();
    r.record_failure(failure_class::connection, "refused");
    r.record_failure(failure_class::connection, "refused");
    BOOST_TEST(r.usable());
    BOOST_TEST(r.stats().quarantines == 0u);
    r.record_failure(failure_class::connection, "refused");
    BOOST_TEST(!r.usable());
    BOOST_TEST(r.stats().quarantines == 1u);
}

BOOST_AUTO_TEST_CASE(primary_is_never_quarantined)
{
    auto config = test_cluster(0);
    config.primary = closed_port(config.primary, "primary");
    config.routing.failures = 1;
    cluster c(config);
    for (int i = 0; i < 3; ++i)
        BOOST_CHECK_THROW(c.primary().acquire(), soci::soci_error);
    BOOST_TEST(c.primary().usable());
    auto s = c.primary().stats();
    BOOST_TEST(s.quarantines == 0u);
    BOOST_TEST(s.quarantined_until_ms == 0);
    BOOST_TEST(s.failures == 3u);
    BOOST_TEST(s.state == "down");
}

namespace
{

/// While it lives, the process can open no file descriptor (its soft RLIMIT_NOFILE at the lowest free one), as a
/// process that leaks them, or serves more clients than its limit, meets.
class out_of_descriptors
{
public:
    out_of_descriptors()
    {
        BOOST_REQUIRE(getrlimit(RLIMIT_NOFILE, &saved_) == 0);
        int const lowest_free = dup(0);
        BOOST_REQUIRE(lowest_free >= 0);
        close(lowest_free);
        rlimit low = saved_;
        low.rlim_cur = static_cast<rlim_t>(lowest_free);
        BOOST_REQUIRE(setrlimit(RLIMIT_NOFILE, &low) == 0);
    }
    ~out_of_descriptors() { setrlimit(RLIMIT_NOFILE, &saved_); }
    out_of_descriptors(out_of_descriptors const&) = delete;
    out_of_descriptors& operator=(out_of_descriptors const&) = delete;

private:
    rlimit saved_{};
};

} // namespace

// A connect that fails in the process (no file descriptor to be had: EMFILE) never reached the replica: it is
// reported, with the system's reason, and costs the replica's health nothing, so that its reads are back the
// moment the process has a socket again, not after a quarantine's window.
BOOST_AUTO_TEST_CASE(a_process_out_of_file_descriptors_does_not_quarantine_its_replicas)
{
    auto config = test_cluster(1);
    config.routing.failures = 1;
    config.routing.retry_window = 10;  // a quarantine would outlast the test
    cluster c(config);
    endpoint_pool& r = c.replica(0);
    {
        out_of_descriptors const limit;
        for (int i = 0; i < 3; ++i)
        {
            try
            {
                lease l = r.acquire();
                BOOST_ERROR("a connect succeeded with no file descriptor free");
            }
            catch (soci::soci_error const& e)
            {
                std::string const m = e.what();
                bool const says_why = m.find("Too many open files") != std::string::npos  // libpq
                    || m.find("socket (24)") != std::string::npos;                          // Connector/C
                BOOST_TEST(says_why, "the error does not say why: " << m);
                BOOST_TEST(m.find(config.replicas[0].name) != std::string::npos, m);
            }
        }
    }
    auto const s = r.stats();
    BOOST_TEST(s.quarantines == 0u);
    BOOST_TEST(s.state == "up");
    BOOST_TEST(s.failures == 3u);
    BOOST_TEST(r.usable());
    BOOST_TEST(c.pick_replica() == &r);
    lease l = r.acquire();
    BOOST_TEST(static_cast<bool>(l));
}

BOOST_AUTO_TEST_SUITE_END()
