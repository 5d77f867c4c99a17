// Replication lag: a standby whose replay is paused falls behind max_lag and is not used until it catches up.

#include <boost/test/unit_test.hpp>

#include "support.h"

using namespace pools_test;

namespace
{

/// Pauses WAL replay on a standby; resumes it when destroyed, whatever happened in between.
class replay_pause
{
public:
    explicit replay_pause(endpoint_config const& standby) : sql_(connect(standby))
    {
        sql_ << "SELECT pg_wal_replay_pause()";
    }
    ~replay_pause()
    {
        try
        {
            sql_ << "SELECT pg_wal_replay_resume()";
        }
        catch (std::exception const& e)
        {
            BOOST_TEST_MESSAGE("could not resume WAL replay: " << e.what());
        }
    }
    void resume() { sql_ << "SELECT pg_wal_replay_resume()"; }

private:
    soci::session sql_;
};

} // namespace

BOOST_AUTO_TEST_SUITE(pools_lag)

BOOST_AUTO_TEST_CASE(replica_of_an_idle_primary_has_no_lag)
{
    auto config = pg_cluster(2);
    config.routing.max_lag = 0.5;
    config.routing.lag_probe_interval = 0.05;
    cluster c(config);
    BOOST_TEST(eventually([&] {
        return c.replica(0).stats().lag_seconds >= 0 && c.replica(1).stats().lag_seconds >= 0;
    }));
    BOOST_TEST(eventually([&] {
        return c.replica(0).stats().lag_seconds < 0.5 && c.replica(1).stats().lag_seconds < 0.5;
    }));
    BOOST_TEST(c.replica(0).usable());
    BOOST_TEST(c.replica(1).usable());
    BOOST_TEST(c.replica(0).stats().state == "up");
}

BOOST_AUTO_TEST_CASE(replica_beyond_max_lag_is_unusable_until_it_catches_up)
{
    auto config = pg_cluster(2);
    config.replicas.erase(config.replicas.begin());  // replica-2 only
    config.routing.max_lag = 0.3;
    config.routing.lag_probe_interval = 0.05;
    cluster c(config);
    endpoint_pool& replica = c.replica(0);
    BOOST_REQUIRE(eventually([&] { return replica.stats().lag_seconds >= 0; }));
    BOOST_REQUIRE(eventually([&] { return replica.usable(); }));

    auto primary = connect(config.primary);
    long long xid = 0;
    {
        replay_pause paused(config.replicas[0]);
        // Keep writing on the primary until the paused standby is too far behind.
        bool lagging = eventually(
            [&] {
                primary << "SELECT txid_current()", soci::into(xid);
                return !replica.usable();
            },
            milliseconds(10000), milliseconds(50));
        BOOST_TEST(lagging);
        auto s = replica.stats();
        BOOST_TEST(s.state == "lagging");
        BOOST_TEST(s.lag_seconds > 0.3);
        BOOST_TEST(c.pick_replica() == nullptr);
        paused.resume();
        BOOST_TEST(eventually([&] { return replica.usable(); }, milliseconds(10000)));
    }
    auto s = replica.stats();
    BOOST_TEST(s.state == "up");
    BOOST_TEST(s.lag_seconds >= 0);
    BOOST_TEST(s.lag_seconds <= 0.3);
    BOOST_TEST(c.pick_replica() == &replica);
}

BOOST_AUTO_TEST_CASE(mysql_replica_lag_is_measured)
{
    auto config = mysql_cluster();
    config.routing.max_lag = 5;
    config.routing.lag_probe_interval = 0.05;
    cluster c(config);
    BOOST_TEST(eventually([&] { return c.replica(0).stats().lag_seconds >= 0; }));
    BOOST_TEST(c.replica(0).stats().lag_seconds <= 5);
    BOOST_TEST(c.replica(0).usable());
}

BOOST_AUTO_TEST_CASE(no_lag_probe_without_max_lag)
{
    auto config = pg_cluster(1);
    config.routing.max_lag = 0;
    config.routing.lag_probe_interval = 0.01;
    cluster c(config);
    std::this_thread::sleep_for(milliseconds(100));
    BOOST_TEST(c.replica(0).stats().lag_seconds == -1);
}

BOOST_AUTO_TEST_SUITE_END()
