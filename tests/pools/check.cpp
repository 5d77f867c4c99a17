// check(): roles, reachability, latency and lag, with fresh connections.

#include <boost/test/unit_test.hpp>

#include "support.h"

#include <nlohmann/json.hpp>

using namespace pools_test;

namespace
{

std::vector<std::string> lines(std::string const& text)
{
    std::vector<std::string> out;
    std::size_t start = 0;
    while (start < text.size())
    {
        auto const end = text.find('\n', start);
        out.push_back(text.substr(start, end - start));
        if (end == std::string::npos)
            break;
        start = end + 1;
    }
    return out;
}

bool starts_with(std::string const& s, std::string const& prefix)
{
    return s.compare(0, prefix.size(), prefix) == 0;
}

} // namespace

BOOST_AUTO_TEST_SUITE(pools_check)

BOOST_AUTO_TEST_CASE(healthy_cluster_is_ready)
{
    auto config = test_cluster();
    auto result = cluster(config).check();
    std::size_t const n = 1 + config.replicas.size();
    BOOST_TEST(result.ready(), result.to_text());
    BOOST_TEST(result.primary_ready);
    BOOST_TEST(result.reads_servable);
    BOOST_REQUIRE(result.endpoints.size() == n);
    for (auto const& e : result.endpoints)
    {
        BOOST_TEST(e.reachable, e.name);
        BOOST_TEST(e.role_ok, e.name);
        BOOST_TEST(e.read_only == (e.role == "replica"), e.name);
        BOOST_TEST(e.latency_ms >= 0, e.name);
        BOOST_TEST(e.error.empty(), e.name << ": " << e.error);
    }
    BOOST_TEST(result.endpoints[0].role == "primary");
    for (std::size_t i = 1; i < n; ++i)
    {
        BOOST_TEST(result.endpoints[i].role == "replica");
        BOOST_TEST(result.endpoints[i].lag_seconds >= 0);
        BOOST_TEST(result.endpoints[i].lag_seconds < 5);
        BOOST_TEST(result.endpoints[i].address == config.replicas[i - 1].address());
    }

    auto text = lines(result.to_text());
    BOOST_REQUIRE(text.size() == n + 1);
    BOOST_TEST(starts_with(text[0], "primary "));
    BOOST_TEST(text[0].find(config.primary.address() + " ") != std::string::npos);
    BOOST_TEST(text[0].find(" ok ") != std::string::npos);
    BOOST_TEST(text[0].find("writable") != std::string::npos);
    BOOST_TEST(text[0].find("latency ") != std::string::npos);
    for (std::size_t i = 1; i < n; ++i)
    {
        BOOST_TEST(starts_with(text[i], config.replicas[i - 1].name + " "));
        BOOST_TEST(text[i].find(" ok ") != std::string::npos);
        BOOST_TEST(text[i].find("read-only") != std::string::npos);
        BOOST_TEST(text[i].find(" lag ") != std::string::npos);
    }
    BOOST_TEST(text[n] == "ready");

    auto j = nlohmann::json::parse(result.to_json());
    BOOST_TEST(j["ready"] == true);
    BOOST_TEST(j["primary_ready"] == true);
    BOOST_TEST(j["reads_servable"] == true);
    BOOST_REQUIRE(j["endpoints"].size() == n);
    BOOST_TEST(j["endpoints"][0]["name"] == "primary");
    BOOST_TEST(j["endpoints"][0]["address"] == config.primary.address());
    BOOST_TEST(j["endpoints"][0]["role_ok"] == true);
    BOOST_TEST(j["endpoints"][0]["read_only"] == false);
    BOOST_TEST(j["endpoints"][0]["lag_seconds"].is_null());
    BOOST_TEST(j["endpoints"][1]["lag_seconds"].is_number());
    BOOST_TEST(j["endpoints"][1]["read_only"] == true);
    BOOST_TEST(j["endpoints"][n - 1]["reachable"] == true);
}

BOOST_AUTO_TEST_CASE(replica_that_is_a_primary_is_reported)
{
    auto config = test_cluster(1);
    auto fake = config.primary;
    fake.name = "replica-fake";
    config.replicas.push_back(fake);
    auto result = check_cluster(config);
    BOOST_REQUIRE(result.endpoints.size() == 3u);
    auto const& e = result.endpoints[2];
    BOOST_TEST(e.reachable);
    BOOST_TEST(!e.role_ok);
    BOOST_TEST(!e.read_only);
    BOOST_TEST(e.error.find("not a replica") != std::string::npos, e.error);
    BOOST_TEST(result.ready());  // replica-1 serves the reads
    auto text = lines(result.to_text());
    BOOST_TEST(starts_with(text[2], "replica-fake "));
    BOOST_TEST(text[2].find("wrong role") != std::string::npos, text[2]);
    BOOST_TEST(text[2].find("writable") != std::string::npos, text[2]);
}

BOOST_AUTO_TEST_CASE(primary_that_is_a_read_only_replica_is_not_ready)
{
    auto config = test_cluster(0);
    config.primary = test_cluster(1).replicas[0];
    config.primary.name = "primary";
    auto result = check_cluster(config);
    BOOST_TEST(result.endpoints[0].reachable);
    BOOST_TEST(!result.endpoints[0].role_ok);
    BOOST_TEST(result.endpoints[0].read_only);
    // PostgreSQL: in recovery; MariaDB: @@read_only (MariaDB has no @@super_read_only to try).
    BOOST_TEST(result.endpoints[0].error.find(testing_mysql() ? "@@read_only is on" : "in recovery") == 0,
               result.endpoints[0].error);
    BOOST_TEST(result.endpoints[0].error.find("not a writable primary") != std::string::npos);
    BOOST_TEST(!result.primary_ready);
    BOOST_TEST(!result.ready());
    auto text = lines(result.to_text());
    BOOST_TEST(text[0].find("wrong role") != std::string::npos, text[0]);
    BOOST_TEST(text[0].find("read-only") != std::string::npos, text[0]);
    BOOST_TEST(text.back() == "not ready: the primary is not writable");

    config.replicas.push_back(closed_port(config.primary, "replica-gone"));
    result = check_cluster(config);
    BOOST_TEST(lines(result.to_text()).back() == "not ready: the primary is not writable; no replica can serve reads");
}

BOOST_AUTO_TEST_CASE(replica_with_paused_replication_is_reported_until_it_resumes)
{
    // MariaDB: a stopped SQL thread is not OK for reads (the replica no longer follows the primary).
    // PostgreSQL: a standby with paused replay is still a hot standby in recovery: OK, with the pause named
    // in its error and its lag growing; max_lag decides whether it may serve reads.
    auto config = test_cluster();
    config.replicas.erase(config.replicas.begin(), config.replicas.end() - 1);
    config.routing.fallback = false;
    auto primary = connect(config.primary);
    {
        replication_pause paused(config.replicas[0]);
        write_on_primary(primary);
        auto result = check_cluster(config);
        BOOST_REQUIRE(result.endpoints.size() == 2u);
        auto const& e = result.endpoints[1];
        BOOST_TEST(e.reachable);
        BOOST_TEST(e.read_only);
        std::string const line = lines(result.to_text()).at(1);
        if (testing_mysql())
        {
            BOOST_TEST(!e.role_ok);
            BOOST_TEST(e.error == "replication is not running: Slave_IO_Running=Yes, Slave_SQL_Running=No");
            BOOST_TEST(e.lag_seconds == -1);  // behind, and Seconds_Behind_Master is NULL: unknown
            BOOST_TEST(!result.reads_servable);
            BOOST_TEST(!result.ready());
            BOOST_TEST(line.find("not replicating") != std::string::npos, line);
            BOOST_TEST(line.find("read-only") != std::string::npos, line);
            BOOST_TEST(line.find("Slave_SQL_Running=No") != std::string::npos, line);
            auto j = nlohmann::json::parse(result.to_json());
            BOOST_TEST(j["endpoints"][1]["role_ok"] == false);
            BOOST_TEST(j["endpoints"][1]["read_only"] == true);
            BOOST_TEST(j["ready"] == false);
        }
        else
        {
            BOOST_TEST(e.role_ok);
            BOOST_TEST(e.error == "WAL replay is paused");
            BOOST_TEST(result.ready());
            BOOST_TEST(line.find(" ok ") != std::string::npos, line);
            BOOST_TEST(line.find("WAL replay is paused") != std::string::npos, line);
        }
        config.routing.fallback = true;
        BOOST_TEST(check_cluster(config).ready());  // reads fall back to the primary
    }
    soci::routing_check result;
    bool const replicating = eventually([&] { return (result = check_cluster(config)).endpoints.at(1).role_ok; });
    BOOST_TEST(replicating, result.endpoints.at(1).error);
    BOOST_TEST(result.endpoints[1].error.empty(), result.endpoints[1].error);
    BOOST_TEST(result.endpoints[1].lag_seconds >= 0);
    BOOST_TEST(result.ready());
}

BOOST_AUTO_TEST_CASE(replica_with_its_io_thread_stopped_is_not_ok)
{
    if (!testing_mysql())
    {
        BOOST_TEST_MESSAGE("skipped on PostgreSQL: a standby has no replication IO thread to stop");
        return;
    }
    auto config = test_cluster(1);
    {
        replication_pause paused(config.replicas[0], true);
        auto result = check_cluster(config);
        auto const& e = result.endpoints.at(1);
        BOOST_TEST(e.reachable);
        BOOST_TEST(!e.role_ok);
        BOOST_TEST(e.error == "replication is not running: Slave_IO_Running=No, Slave_SQL_Running=Yes");
        BOOST_TEST(lines(result.to_text()).at(1).find("not replicating") != std::string::npos);
        BOOST_TEST(result.ready());  // fallback to the primary
    }
    // The IO thread is "Preparing", then "Connecting", for a moment after START SLAVE IO_THREAD.
    soci::routing_check result;
    bool const replicating = eventually([&] { return (result = check_cluster(config)).endpoints.at(1).role_ok; });
    BOOST_TEST(replicating, result.endpoints.at(1).error);
    BOOST_TEST(result.endpoints.at(1).error.empty(), result.endpoints.at(1).error);
}

BOOST_AUTO_TEST_CASE(unreachable_replica_is_reported_and_reads_fall_back_to_the_primary)
{
    auto config = test_cluster(0);
    config.replicas.push_back(closed_port(config.primary, "replica-gone"));
    config.routing.fallback = true;
    auto result = check_cluster(config);
    BOOST_REQUIRE(result.endpoints.size() == 2u);
    BOOST_TEST(!result.endpoints[1].reachable);
    BOOST_TEST(!result.endpoints[1].error.empty());
    BOOST_TEST(result.endpoints[1].error.find(config.primary.password) == std::string::npos);
    BOOST_TEST(result.reads_servable);
    BOOST_TEST(result.ready());
    auto text = lines(result.to_text());
    BOOST_TEST(starts_with(text[1], "replica-gone  127.0.0.1:1 "));
    BOOST_TEST(text[1].find("unreachable") != std::string::npos);
    BOOST_TEST(text.back() == "ready");

    config.routing.fallback = false;
    result = check_cluster(config);
    BOOST_TEST(!result.reads_servable);
    BOOST_TEST(!result.ready());
    BOOST_TEST(lines(result.to_text()).back()
               == "not ready: no replica can serve reads and fallback to the primary is off");
    auto j = nlohmann::json::parse(result.to_json());
    BOOST_TEST(j["ready"] == false);
    BOOST_TEST(j["endpoints"][1]["reachable"] == false);
    BOOST_TEST(j["endpoints"][1]["latency_ms"].is_null());
}

BOOST_AUTO_TEST_CASE(unreachable_primary_is_not_ready)
{
    auto config = test_cluster(1);
    config.primary = closed_port(config.primary, "primary");
    auto result = check_cluster(config);
    BOOST_TEST(!result.endpoints[0].reachable);
    BOOST_TEST(!result.primary_ready);
    BOOST_TEST(result.reads_servable);  // replica-1 still serves reads
    BOOST_TEST(!result.ready());
    BOOST_TEST(lines(result.to_text()).back() == "not ready: the primary is unreachable");
}

BOOST_AUTO_TEST_SUITE_END()
