// soci-routing failover tests: replication lag and max_lag.

#include <boost/test/unit_test.hpp>

#include "failover-support.h"
#include "tcp-proxy.h"

#include <atomic>
#include <set>
#include <thread>

using namespace failover_test;

namespace
{

// Writes to the primary (directly, not through the router) every 20 ms until destroyed, so that a replica
// whose replication is paused falls behind.
class writer
{
public:
    explicit writer(std::string tag) : tag_(std::move(tag))
    {
        thread_ = std::thread([this] { run(); });
    }
    ~writer()
    {
        stop_.store(true);
        thread_.join();
    }
    int writes() const { return writes_.load(); }
    int errors() const { return errors_.load(); }

private:
    void run()
    {
        try
        {
            auto sql = direct(cluster().primary);
            while (!stop_.load())
            {
                *sql << "INSERT INTO " + writes_table() + " (tag) VALUES (:tag)", soci::use(tag_);
                writes_.fetch_add(1);
                std::this_thread::sleep_for(20ms);
            }
        }
        catch (std::exception const&)
        {
            errors_.fetch_add(1);
        }
    }

    std::string const tag_;
    std::atomic<bool> stop_{false};
    std::atomic<int> writes_{0};
    std::atomic<int> errors_{0};
    std::thread thread_;
};

} // namespace

BOOST_AUTO_TEST_SUITE(replication_lag)

// Replication paused on replica-1 under writes (PostgreSQL: pg_wal_replay_pause(); MariaDB: STOP SLAVE
// SQL_THREAD): once it is further behind than max_lag it gets no reads (and stats say "lagging"); once
// replication resumes it catches up and serves reads again.
BOOST_AUTO_TEST_CASE(replica_lagging_beyond_max_lag_is_skipped_until_replication_resumes)
{
    test_cluster const& c = cluster();
    server const& paused = c.replicas[0];
    config_spec spec;
    spec.max_lag = 0.5;
    spec.lag_probe_interval = 0.1;
    std::string const uri = routing_uri(spec);
    soci::session sql(uri);
    std::vector<replica_spec> const replicas = real_replicas();

    // A quiet cluster first: a replica that has applied everything has no lag, however long ago the last
    // transaction was, so no replica is skipped.
    read_port(sql);
    bool const measured = eventually(3s, [&] {
        auto const s = soci::routing.stats(sql);
        for (auto const& r : replicas)
        {
            auto const* e = find(s, r.name);
            if (e == nullptr || e->lag_seconds < 0)
                return false;
        }
        return true;
    });
    BOOST_CHECK_MESSAGE(measured, "no lag measured for the replicas within 3 s (lag_probe_interval = 0.1)");
    {
        auto const s = soci::routing.stats(sql);
        for (auto const& replica : replicas)
        {
            auto const* r = find(s, replica.name);
            BOOST_REQUIRE(r != nullptr);
            BOOST_CHECK_MESSAGE(r->state != "lagging" && r->lag_seconds <= 0.5,
                                replica.name << " on a caught-up cluster: state " << r->state << ", lag "
                                             << r->lag_seconds << ", last_error: " << r->last_error);
        }
    }
    std::set<int> ports;
    for (int i = 0; i < 10; ++i)
        ports.insert(read_port(sql));
    for (auto const& r : c.replicas)
        BOOST_REQUIRE_MESSAGE(ports.count(r.port), "10 reads on a caught-up cluster did not use " << r.node);

    replication_pause pause(paused);
    writer load(unique_tag("lag"));

    // replica-1 falls behind: within a few seconds the router stops choosing it.
    int consecutive_elsewhere = 0;
    bool const skipped = eventually(6s, [&] {
        consecutive_elsewhere = read_port(sql) == paused.port ? 0 : consecutive_elsewhere + 1;
        return consecutive_elsewhere >= 10;
    });
    auto s = soci::routing.stats(sql);
    auto const* r1 = find(s, "replica-1");
    BOOST_REQUIRE(r1 != nullptr);
    BOOST_TEST_MESSAGE("replica-1 with replication paused: state " << r1->state << ", lag " << r1->lag_seconds
                                                                   << " s, " << load.writes() << " writes");
    BOOST_REQUIRE_MESSAGE(skipped, "replica-1 still gets reads 6 s after its replication was paused under writes "
                                   "(state " << r1->state << ", lag " << r1->lag_seconds << ")");
    BOOST_CHECK_EQUAL(r1->state, "lagging");
    if (c.is_pg())
        BOOST_CHECK_GT(r1->lag_seconds, 0.5);
    else
        // MariaDB: GTID positions differ, and Seconds_Behind_Master is NULL while the SQL thread is stopped:
        // the lag is unknown (-1), or, if measured some other way, beyond max_lag. Never "within max_lag".
        BOOST_CHECK_MESSAGE(r1->lag_seconds > 0.5 || r1->lag_seconds < 0,
                            "stats report replica-1's lag as " << r1->lag_seconds << " s with its SQL thread stopped");
    for (std::size_t i = 1; i < replicas.size(); ++i)
    {
        auto const* other = find(s, replicas[i].name);
        BOOST_REQUIRE(other != nullptr);
        BOOST_CHECK_EQUAL(other->state, "up");
    }

    // While it lags, every read goes elsewhere: another replica by round robin, or the primary when there is
    // none (MariaDB's single replica).
    for (int i = 0; i < 20; ++i)
    {
        int const port = read_port(sql);
        BOOST_CHECK_NE(port, paused.port);
        BOOST_CHECK_NE(soci::routing.last_endpoint(sql), "replica-1");
        if (c.replicas.size() == 1)
            BOOST_CHECK_EQUAL(port, c.primary.port);
    }
    soci::routing_check const check = soci::routing.check(sql);
    auto const* checked = find(check, "replica-1");
    BOOST_REQUIRE(checked != nullptr);
    BOOST_CHECK(checked->reachable);
    double const stats_lag = find(soci::routing.stats(sql), "replica-1")->lag_seconds;
    BOOST_TEST_MESSAGE("check() of replica-1 with replication paused: lag " << checked->lag_seconds
                                                                           << " s, error: " << checked->error);
    if (c.is_pg())
        BOOST_CHECK_MESSAGE(checked->lag_seconds > 0.5, "check() reports replica-1's lag as "
                                                            << checked->lag_seconds << " s with replay paused (stats: "
                                                            << stats_lag << " s)");
    else
        // Seconds_Behind_Master is NULL with the SQL thread stopped: lag unknown, and the stopped thread said.
        BOOST_CHECK_MESSAGE((checked->lag_seconds > 0.5 || checked->lag_seconds < 0) && !checked->error.empty(),
                            "check() reports replica-1's lag as " << checked->lag_seconds << " s and error \""
                                                                  << checked->error
                                                                  << "\" with its SQL thread stopped (stats: "
                                                                  << stats_lag << " s)");

    // Resumed: it catches up and serves reads again.
    pause.resume();
    bool const back = eventually(6s, [&] { return read_port(sql) == paused.port; });
    BOOST_CHECK_MESSAGE(back, "replica-1 served no read within 6 s of resuming replication");
    s = soci::routing.stats(sql);
    r1 = find(s, "replica-1");
    BOOST_REQUIRE(r1 != nullptr);
    BOOST_CHECK_EQUAL(r1->state, "up");
    BOOST_CHECK_LE(r1->lag_seconds, 0.5);
    BOOST_CHECK_EQUAL(load.errors(), 0);
}

// A replica whose server stops answering after the lag probe connected: the probe's query is cut after the
// endpoint's connect timeout, and the other replicas are still measured (before, the probe thread waited for
// ever, every replica's lag froze, and destroying the cluster hung).
BOOST_AUTO_TEST_CASE(lag_probe_of_a_silent_replica_still_measures_the_others)
{
    test_cluster const& c = cluster();
    tcp_proxy silent(c.replicas.front().port);
    config_spec spec;
    spec.max_lag = 0.5;
    spec.lag_probe_interval = 0.1;
    spec.timeout = 1.0;
    spec.replicas = std::vector<replica_spec>{{"silent", silent.port(), {}}, real_replicas().front()};
    soci::session sql(routing_uri(spec));
    bool const probed = eventually(3s, [&] {
        auto const stats = soci::routing.stats(sql);
        auto const* r = find(stats, "silent");
        return r != nullptr && r->lag_seconds >= 0;
    });
    BOOST_REQUIRE_MESSAGE(probed, "the lag probe measured no lag of \"silent\" within 3 s");

    silent.set_mode(tcp_proxy::mode::stall);
    replication_pause pause(c.replicas.front());
    std::string last_state;
    bool lagging = false;
    {
        writer load(unique_tag("lag-silent"));
        lagging = eventually(8s, [&] {
            auto const stats = soci::routing.stats(sql);
            auto const* r = find(stats, "replica-1");
            last_state = r != nullptr ? r->state : "absent";
            return last_state == "lagging";
        });
    }
    BOOST_CHECK_MESSAGE(lagging, "replica-1 was not found lagging within 8 s of pausing its replication while "
                                 "another replica does not answer (state " << last_state << ")");
    pause.resume();
    silent.set_mode(tcp_proxy::mode::forward);
}

// max_lag with the primary unreachable: the replicas' lag is unknown, which is no reason to skip them (before,
// PostgreSQL replicas looked as late as the primary had been quiet, and every read went to the missing
// primary and failed).
BOOST_AUTO_TEST_CASE(max_lag_with_the_primary_down_keeps_reads_on_the_replicas)
{
    test_cluster const& c = cluster();
    tcp_proxy primary(c.primary.port);
    config_spec spec;
    spec.max_lag = 0.3;
    spec.lag_probe_interval = 0.1;
    spec.timeout = 1.0;
    spec.primary_port = primary.port();
    soci::session sql(routing_uri(spec));
    BOOST_REQUIRE(eventually(3s, [&] {
        auto const stats = soci::routing.stats(sql);
        auto const* r = find(stats, "replica-1");
        return r != nullptr && r->lag_seconds >= 0;
    }));
    std::this_thread::sleep_for(700ms);  // a quiet primary: the replicas' last replayed transaction ages
    primary.set_mode(tcp_proxy::mode::reject);
    primary.cut();
    std::this_thread::sleep_for(1500ms);  // probe rounds without the primary

    std::set<int> ports;
    int errors = 0;
    std::string first_error;
    for (int i = 0; i < 10; ++i)
    {
        try
        {
            ports.insert(read_port(sql));
        }
        catch (std::exception const& e)
        {
            if (errors++ == 0)
                first_error = e.what();
        }
    }
    BOOST_CHECK_MESSAGE(errors == 0, errors << " of 10 reads failed with the primary down: " << first_error);
    BOOST_CHECK(ports.count(c.primary.port) == 0);
    auto const s = soci::routing.stats(sql);
    for (auto const& replica : real_replicas())
    {
        auto const* r = find(s, replica.name);
        BOOST_REQUIRE(r != nullptr);
        BOOST_CHECK_MESSAGE(r->state != "lagging", replica.name << " is \"lagging\" (lag " << r->lag_seconds
                                                                 << " s) because the primary cannot be reached");
    }
    primary.set_mode(tcp_proxy::mode::forward);
}

BOOST_AUTO_TEST_SUITE_END()
