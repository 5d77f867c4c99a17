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

BOOST_AUTO_TEST_CASE(healthy_postgresql_cluster_is_ready)
{
    auto config = pg_cluster(2);
    auto result = cluster(config).check();
    BOOST_TEST(result.ready());
    BOOST_TEST(result.primary_ready);
    BOOST_TEST(result.reads_servable);
    BOOST_REQUIRE(result.endpoints.size() == 3u);
    for (auto const& e : result.endpoints)
    {
        BOOST_TEST(e.reachable, e.name);
        BOOST_TEST(e.role_ok, e.name);
        BOOST_TEST(e.latency_ms >= 0, e.name);
        BOOST_TEST(e.error.empty(), e.name << ": " << e.error);
    }
    BOOST_TEST(result.endpoints[0].role == "primary");
    BOOST_TEST(result.endpoints[1].role == "replica");
    BOOST_TEST(result.endpoints[1].lag_seconds >= 0);
    BOOST_TEST(result.endpoints[2].lag_seconds >= 0);
    BOOST_TEST(result.endpoints[1].address == config.replicas[0].address());

    auto text = lines(result.to_text());
    BOOST_REQUIRE(text.size() == 4u);
    BOOST_TEST(starts_with(text[0], "primary "));
    BOOST_TEST(text[0].find(config.primary.address() + " ") != std::string::npos);
    BOOST_TEST(text[0].find(" ok ") != std::string::npos);
    BOOST_TEST(text[0].find("writable") != std::string::npos);
    BOOST_TEST(text[0].find("latency ") != std::string::npos);
    BOOST_TEST(starts_with(text[1], "replica-1 "));
    BOOST_TEST(text[1].find("read-only") != std::string::npos);
    BOOST_TEST(text[1].find(" lag ") != std::string::npos);
    BOOST_TEST(starts_with(text[2], "replica-2 "));
    BOOST_TEST(text[3] == "ready");

    auto j = nlohmann::json::parse(result.to_json());
    BOOST_TEST(j["ready"] == true);
    BOOST_TEST(j["primary_ready"] == true);
    BOOST_TEST(j["reads_servable"] == true);
    BOOST_REQUIRE(j["endpoints"].size() == 3u);
    BOOST_TEST(j["endpoints"][0]["name"] == "primary");
    BOOST_TEST(j["endpoints"][0]["address"] == config.primary.address());
    BOOST_TEST(j["endpoints"][0]["role_ok"] == true);
    BOOST_TEST(j["endpoints"][0]["lag_seconds"].is_null());
    BOOST_TEST(j["endpoints"][1]["lag_seconds"].is_number());
    BOOST_TEST(j["endpoints"][2]["reachable"] == true);
}

BOOST_AUTO_TEST_CASE(replica_that_is_a_primary_is_reported)
{
    auto config = pg_cluster(1);
    auto fake = config.primary;
    fake.name = "replica-fake";
    config.replicas.push_back(fake);
    auto result = check_cluster(config);
    BOOST_REQUIRE(result.endpoints.size() == 3u);
    auto const& e = result.endpoints[2];
    BOOST_TEST(e.reachable);
    BOOST_TEST(!e.role_ok);
    BOOST_TEST(e.error.find("primary") != std::string::npos);
    BOOST_TEST(result.ready());  // replica-1 serves the reads
    auto text = lines(result.to_text());
    BOOST_TEST(starts_with(text[2], "replica-fake "));
    BOOST_TEST(text[2].find("wrong role") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(primary_that_is_a_standby_is_not_ready)
{
    auto config = pg_cluster(0);
    config.primary = endpoint_from_env("SOCI_ROUTING_PG_REPLICA_1", "primary");
    auto result = check_cluster(config);
    BOOST_TEST(result.endpoints[0].reachable);
    BOOST_TEST(!result.endpoints[0].role_ok);
    BOOST_TEST(!result.primary_ready);
    BOOST_TEST(!result.ready());
    BOOST_TEST(lines(result.to_text()).back() == "not ready: the primary is not writable");

    config.replicas.push_back(closed_port(config.primary, "replica-gone"));
    result = check_cluster(config);
    BOOST_TEST(lines(result.to_text()).back() == "not ready: the primary is not writable; no replica can serve reads");
}

BOOST_AUTO_TEST_CASE(unreachable_replica_is_reported_and_reads_fall_back_to_the_primary)
{
    auto config = pg_cluster(0);
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
    auto config = pg_cluster(1);
    config.primary = closed_port(config.primary, "primary");
    auto result = check_cluster(config);
    BOOST_TEST(!result.endpoints[0].reachable);
    BOOST_TEST(!result.primary_ready);
    BOOST_TEST(result.reads_servable);  // replica-1 still serves reads
    BOOST_TEST(!result.ready());
    BOOST_TEST(lines(result.to_text()).back() == "not ready: the primary is unreachable");
}

BOOST_AUTO_TEST_CASE(healthy_mysql_cluster_is_ready)
{
    auto config = mysql_cluster();
    auto result = check_cluster(config);
    BOOST_TEST(result.ready(), result.to_text());
    BOOST_REQUIRE(result.endpoints.size() == 2u);
    BOOST_TEST(result.endpoints[0].role_ok);
    BOOST_TEST(result.endpoints[1].role_ok);
    BOOST_TEST(result.endpoints[1].lag_seconds >= 0);
    BOOST_TEST(result.endpoints[1].error.empty(), result.endpoints[1].error);
}

BOOST_AUTO_TEST_CASE(mysql_replica_that_is_the_primary_is_reported)
{
    auto config = mysql_cluster();
    auto fake = config.primary;
    fake.name = "replica-fake";
    config.replicas = {fake};
    auto result = check_cluster(config);
    BOOST_TEST(result.endpoints[1].reachable);
    BOOST_TEST(!result.endpoints[1].role_ok);
    BOOST_TEST(result.ready());  // fallback to the primary
}

BOOST_AUTO_TEST_SUITE_END()
