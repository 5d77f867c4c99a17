// soci-routing failover tests: replication lag and max_lag.

#include <boost/test/unit_test.hpp>

#include "failover-support.h"

#include <atomic>
#include <set>
#include <thread>

using namespace failover_test;

namespace
{

// Writes to the primary (directly, not through the router) every 20 ms until destroyed, so that a standby
// whose replay is paused falls behind.
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

// pg_wal_replay_pause() on replica-1 under writes: once its lag passes max_lag it gets no reads (and stats
// say "lagging"); after pg_wal_replay_resume() it catches up and serves reads again.
BOOST_AUTO_TEST_CASE(replica_lagging_beyond_max_lag_is_skipped_until_replay_resumes)
{
    test_cluster const& c = cluster();
    config_spec spec;
    spec.max_lag = 0.5;
    spec.lag_probe_interval = 0.1;
    std::string const uri = routing_uri(spec);
    soci::session sql(uri);

    // A quiet cluster first: a standby that has replayed everything has no lag, however long ago the last
    // transaction was, so neither replica is skipped.
    read_port(sql);
    bool const measured = eventually(3s, [&] {
        auto const s = soci::routing.stats(sql);
        auto const* r1 = find(s, "replica-1");
        auto const* r2 = find(s, "replica-2");
        return r1 && r2 && r1->lag_seconds >= 0 && r2->lag_seconds >= 0;
    });
    BOOST_CHECK_MESSAGE(measured, "no lag measured for the replicas within 3 s (lag_probe_interval = 0.1)");
    {
        auto const s = soci::routing.stats(sql);
        for (char const* name : {"replica-1", "replica-2"})
        {
            auto const* r = find(s, name);
            BOOST_REQUIRE(r != nullptr);
            BOOST_CHECK_MESSAGE(r->state != "lagging" && r->lag_seconds <= 0.5,
                                name << " on a caught-up cluster: state " << r->state << ", lag " << r->lag_seconds
                                     << ", last_error: " << r->last_error);
        }
    }
    std::set<int> ports;
    for (int i = 0; i < 10; ++i)
        ports.insert(read_port(sql));
    BOOST_REQUIRE_MESSAGE(ports.count(c.replica_1.port) && ports.count(c.replica_2.port),
                          "10 reads on a caught-up cluster did not use both standbys");

    replay_pause pause(c.replica_1);
    writer load(unique_tag("lag"));

    // replica-1 falls behind: within a few seconds the router stops choosing it.
    int consecutive_elsewhere = 0;
    bool const skipped = eventually(6s, [&] {
        consecutive_elsewhere = read_port(sql) == c.replica_1.port ? 0 : consecutive_elsewhere + 1;
        return consecutive_elsewhere >= 10;
    });
    auto s = soci::routing.stats(sql);
    auto const* r1 = find(s, "replica-1");
    BOOST_REQUIRE(r1 != nullptr);
    BOOST_TEST_MESSAGE("replica-1 with replay paused: state " << r1->state << ", lag " << r1->lag_seconds << " s, "
                                                              << load.writes() << " writes");
    BOOST_REQUIRE_MESSAGE(skipped, "replica-1 still gets reads 6 s after its replay was paused under writes "
                                   "(state " << r1->state << ", lag " << r1->lag_seconds << ")");
    BOOST_CHECK_EQUAL(r1->state, "lagging");
    BOOST_CHECK_GT(r1->lag_seconds, 0.5);
    auto const* r2 = find(s, "replica-2");
    BOOST_REQUIRE(r2 != nullptr);
    BOOST_CHECK_EQUAL(r2->state, "up");

    // While it lags, every read goes elsewhere (replica-2 by round robin).
    for (int i = 0; i < 20; ++i)
    {
        int const port = read_port(sql);
        BOOST_CHECK_NE(port, c.replica_1.port);
        BOOST_CHECK_NE(soci::routing.last_endpoint(sql), "replica-1");
    }
    soci::routing_check const check = soci::routing.check(sql);
    auto const* checked = find(check, "replica-1");
    BOOST_REQUIRE(checked != nullptr);
    BOOST_CHECK(checked->reachable);
    double const stats_lag = find(soci::routing.stats(sql), "replica-1")->lag_seconds;
    BOOST_CHECK_MESSAGE(checked->lag_seconds > 0.5, "check() reports replica-1's lag as " << checked->lag_seconds
                                                        << " s with replay paused (stats: " << stats_lag << " s)");

    // Resumed: it catches up and serves reads again.
    pause.resume();
    bool const back = eventually(6s, [&] { return read_port(sql) == c.replica_1.port; });
    BOOST_CHECK_MESSAGE(back, "replica-1 served no read within 6 s of pg_wal_replay_resume()");
    s = soci::routing.stats(sql);
    r1 = find(s, "replica-1");
    BOOST_REQUIRE(r1 != nullptr);
    BOOST_CHECK_EQUAL(r1->state, "up");
    BOOST_CHECK_LE(r1->lag_seconds, 0.5);
    BOOST_CHECK_EQUAL(load.errors(), 0);
}

BOOST_AUTO_TEST_SUITE_END()
