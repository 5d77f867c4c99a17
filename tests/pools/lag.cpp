// Replication lag: a replica whose replay is paused (PostgreSQL pg_wal_replay_pause(), MariaDB STOP SLAVE
// SQL_THREAD) falls behind max_lag and is not used until it catches up; an idle primary's replicas have none.

#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include "pools-detail.h"
#include "support.h"

using namespace pools_test;
namespace data = boost::unit_test::data;

namespace
{

double const max_lag = 0.3;  // seconds

/// The cluster under test with only its last replica, probed every 50 ms.
cluster_config last_replica_only()
{
    auto config = test_cluster();
    config.replicas.erase(config.replicas.begin(), config.replicas.end() - 1);
    config.routing.max_lag = max_lag;
    config.routing.lag_probe_interval = 0.05;
    return config;
}

double seconds_since(steady::time_point t)
{
    return std::chrono::duration<double>(steady::now() - t).count();
}

struct gtid_row
{
    int line;
    char const* text;
    bool valid;
    std::map<std::uint32_t, std::uint64_t> position;
};

std::ostream& operator<<(std::ostream& out, gtid_row const& row)
{
    return out << "line " << row.line << ": \"" << row.text << "\"";
}

gtid_row const gtid_rows[] = {
    {__LINE__, "", true, {}},
    {__LINE__, "0-1-14", true, {{0, 14}}},
    {__LINE__, "0-1-14,1-2-7", true, {{0, 14}, {1, 7}}},
    {__LINE__, "0-1-14, 1-2-7", true, {{0, 14}, {1, 7}}},
    {__LINE__, "4294967295-4294967295-18446744073709551615", true, {{4294967295u, 18446744073709551615ull}}},
    {__LINE__, "0-1-5,0-2-9", true, {{0, 9}}},  // one domain twice (never from a server): the higher
    {__LINE__, "3E11FA47-71CA-11E1-9E33-C80AA9429562:1-5", false, {}},  // MySQL's GTID set
    {__LINE__, "0-1", false, {}},
    {__LINE__, "0-1-", false, {}},
    {__LINE__, "0-1-14,", false, {}},
    {__LINE__, "4294967296-1-1", false, {}},
    {__LINE__, "0-1-18446744073709551616", false, {}},
    {__LINE__, "a-1-1", false, {}},
};

struct covers_row
{
    int line;
    char const* replica;
    char const* primary;
    bool covers;
};

std::ostream& operator<<(std::ostream& out, covers_row const& row)
{
    return out << "line " << row.line << ": replica \"" << row.replica << "\", primary \"" << row.primary << "\"";
}

covers_row const covers_rows[] = {
    {__LINE__, "0-1-14", "0-1-14", true},
    {__LINE__, "0-1-15", "0-1-14", true},        // applied more than the primary had when asked
    {__LINE__, "0-1-13", "0-1-14", false},
    {__LINE__, "0-2-14", "0-1-14", true},        // same domain, the sequence decides, not the server id
    {__LINE__, "0-1-14", "0-1-14,1-1-3", false}, // a whole domain missing
    {__LINE__, "0-1-14,1-1-3", "0-1-14", true},  // a domain of the replica's own does not matter
    {__LINE__, "", "", true},
    {__LINE__, "", "0-1-1", false},
    {__LINE__, "0-1-1", "", true},
};

} // namespace

BOOST_AUTO_TEST_SUITE(pools_lag)

BOOST_DATA_TEST_CASE(gtid_position_is_parsed_per_domain, data::make(gtid_rows), row)
{
    auto const parsed = detail::parse_gtid_position(row.text);
    BOOST_TEST(parsed.has_value() == row.valid);
    if (parsed && row.valid)
        BOOST_TEST((*parsed == row.position));
}

BOOST_DATA_TEST_CASE(replica_gtid_position_covers_the_primary_domain_by_domain, data::make(covers_rows), row)
{
    auto const replica = detail::parse_gtid_position(row.replica);
    auto const primary = detail::parse_gtid_position(row.primary);
    BOOST_REQUIRE(replica);
    BOOST_REQUIRE(primary);
    BOOST_TEST(detail::gtid_covers(*replica, *primary) == row.covers);
}

BOOST_AUTO_TEST_CASE(replica_of_an_idle_primary_has_no_lag)
{
    auto config = test_cluster();
    config.routing.max_lag = 0.5;
    config.routing.lag_probe_interval = 0.05;
    cluster c(config);
    auto const all = [&](auto&& condition) {
        for (std::size_t i = 0; i < c.replica_count(); ++i)
            if (!condition(c.replica(i).stats().lag_seconds))
                return false;
        return true;
    };
    BOOST_TEST(eventually([&] { return all([](double lag) { return lag >= 0; }); }));
    BOOST_TEST(eventually([&] { return all([](double lag) { return lag < 0.5; }); }));
    for (std::size_t i = 0; i < c.replica_count(); ++i)
    {
        BOOST_TEST(c.replica(i).usable(), c.replica(i).name());
        BOOST_TEST(c.replica(i).stats().state == "up", c.replica(i).name());
        if (testing_mysql())  // equal GTID positions: exactly none
            BOOST_TEST(c.replica(i).stats().lag_seconds == 0.0, c.replica(i).name());
    }
}

BOOST_AUTO_TEST_CASE(replica_beyond_max_lag_is_unusable_until_it_catches_up)
{
    auto const config = last_replica_only();
    cluster c(config);
    endpoint_pool& replica = c.replica(0);
    BOOST_REQUIRE(eventually([&] { return replica.stats().lag_seconds >= 0; }));
    BOOST_REQUIRE(eventually([&] { return replica.usable(); }));

    auto primary = connect(config.primary);
    auto const first_write = steady::now();
    write_on_primary(primary);  // MariaDB: the table exists before replication stops
    {
        replication_pause paused(config.replicas[0]);
        // Keep writing on the primary until the paused replica is too far behind.
        bool const lagging = eventually(
            [&] {
                write_on_primary(primary);
                return !replica.usable();
            },
            milliseconds(10000), milliseconds(50));
        BOOST_TEST(lagging);
        auto s = replica.stats();
        BOOST_TEST(s.state == "lagging");
        BOOST_TEST(s.lag_seconds > max_lag);
        // At least as late as the first write it lacks, and no later: the probe counts from the moment it
        // first saw the primary with that write.
        BOOST_TEST(s.lag_seconds <= seconds_since(first_write));
        BOOST_TEST(c.pick_replica() == nullptr);
        // The lag keeps growing while replay stays stopped.
        double const before = s.lag_seconds;
        BOOST_TEST(eventually([&] { return replica.stats().lag_seconds > before + 0.2; }));
        BOOST_TEST(!replica.usable());

        paused.resume();
        BOOST_TEST(eventually([&] { return replica.usable(); }, milliseconds(10000)));
    }
    BOOST_TEST(eventually([&] { return replica.stats().lag_seconds >= 0 && replica.stats().lag_seconds < 0.1; }));
    auto s = replica.stats();
    BOOST_TEST(s.state == "up");
    BOOST_TEST(c.pick_replica() == &replica);
}

BOOST_AUTO_TEST_CASE(paused_replica_of_an_idle_primary_stays_usable)
{
    auto config = last_replica_only();
    config.routing.max_lag = 2;
    cluster c(config);
    endpoint_pool& replica = c.replica(0);
    BOOST_REQUIRE(eventually([&] { return replica.stats().lag_seconds >= 0 && replica.usable(); }));
    // Paused, but it has everything the primary has: an idle primary must not make it look stale.
    replication_pause paused(config.replicas[0]);
    auto const start = steady::now();
    while (steady::now() - start < milliseconds(1000))
    {
        auto const s = replica.stats();
        BOOST_TEST_REQUIRE(s.lag_seconds >= 0);
        BOOST_TEST_REQUIRE(s.lag_seconds < 2.0);
        BOOST_TEST_REQUIRE(replica.usable());
        if (testing_mysql())  // the GTID positions stay equal
            BOOST_TEST_REQUIRE(s.lag_seconds == 0.0);
        std::this_thread::sleep_for(milliseconds(50));
    }
}

BOOST_AUTO_TEST_CASE(no_lag_probe_without_max_lag)
{
    auto config = test_cluster(1);
    config.routing.max_lag = 0;
    config.routing.lag_probe_interval = 0.01;
    cluster c(config);
    std::this_thread::sleep_for(milliseconds(100));
    BOOST_TEST(c.replica(0).stats().lag_seconds == -1);
}

BOOST_AUTO_TEST_SUITE_END()
