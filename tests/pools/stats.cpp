// Stats: the struct, JSON and Prometheus text, field by field.

#include <boost/test/unit_test.hpp>

#include "support.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

using namespace pools_test;

namespace
{

bool has_line(std::string const& text, std::string const& line)
{
    std::string const wanted = line + "\n";
    return text.compare(0, wanted.size(), wanted) == 0 || text.find("\n" + wanted) != std::string::npos;
}

std::size_t count(std::string const& text, std::string const& what)
{
    std::size_t n = 0;
    for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1))
        ++n;
    return n;
}

} // namespace

BOOST_AUTO_TEST_SUITE(pools_stats)

BOOST_AUTO_TEST_CASE(stats_count_connections_statements_fallbacks_and_failures)
{
    auto config = test_cluster(1);
    cluster c(config);
    lease held = c.primary().acquire();
    { lease other = c.primary().acquire(); }
    lease r = c.replica(0).acquire();
    c.primary().record_routed(reason::write);
    c.primary().record_routed(reason::write);
    c.primary().record_routed(reason::transaction_control);
    c.replica(0).record_routed(reason::select);
    c.replica(0).record_routed(reason::select);
    c.replica(0).record_routed(reason::select);
    c.replica(0).record_fallback();
    c.replica(0).record_failure(failure_class::transient, "canceling statement due to statement timeout");

    auto s = c.stats();
    BOOST_REQUIRE(s.endpoints.size() == 2u);
    auto const& p = s.endpoints[0];
    BOOST_TEST(p.name == "primary");
    BOOST_TEST(p.role == "primary");
    BOOST_TEST(p.address == config.primary.address());
    BOOST_TEST(p.state == "up");
    BOOST_TEST(p.connections_open == 2);
    BOOST_TEST(p.connections_in_use == 1);
    BOOST_TEST(p.connections_idle == 1);
    BOOST_TEST(p.waiting == 0);
    BOOST_TEST(p.statements == 3u);
    BOOST_TEST(p.by_reason.at("write") == 2u);
    BOOST_TEST(p.by_reason.at("transaction_control") == 1u);
    BOOST_TEST(p.by_reason.count("select") == 0u);
    auto const& q = s.endpoints[1];
    BOOST_TEST(q.name == "replica-1");
    BOOST_TEST(q.role == "replica");
    BOOST_TEST(q.statements == 3u);
    BOOST_TEST(q.by_reason.at("select") == 3u);
    BOOST_TEST(q.fallbacks == 1u);
    BOOST_TEST(q.failures == 1u);
    BOOST_TEST(q.quarantines == 0u);
    BOOST_TEST(q.last_error == "canceling statement due to statement timeout");
    BOOST_TEST(q.lag_seconds == -1);
    BOOST_TEST(q.quarantined_until_ms == 0);
    BOOST_TEST(q.connections_in_use == 1);

    auto j = nlohmann::json::parse(s.to_json());
    BOOST_REQUIRE(j["endpoints"].size() == 2u);
    auto const& jp = j["endpoints"][0];
    BOOST_TEST(jp["name"] == "primary");
    BOOST_TEST(jp["role"] == "primary");
    BOOST_TEST(jp["address"] == config.primary.address());
    BOOST_TEST(jp["state"] == "up");
    BOOST_TEST(jp["connections"]["open"] == 2);
    BOOST_TEST(jp["connections"]["in_use"] == 1);
    BOOST_TEST(jp["connections"]["idle"] == 1);
    BOOST_TEST(jp["connections"]["waiting"] == 0);
    BOOST_TEST(jp["statements"] == 3);
    BOOST_TEST(jp["by_reason"]["write"] == 2);
    BOOST_TEST(jp["quarantined_until_ms"].is_null());
    BOOST_TEST(jp["lag_seconds"].is_null());
    auto const& jq = j["endpoints"][1];
    BOOST_TEST(jq["by_reason"]["select"] == 3);
    BOOST_TEST(jq["fallbacks"] == 1);
    BOOST_TEST(jq["failures"] == 1);
    BOOST_TEST(jq["quarantines"] == 0);
    BOOST_TEST(jq["connections_replaced"] == 0);
    BOOST_TEST(jq["connections_reset"] == 0);
    BOOST_TEST(jp["connections_opened"] == 2);  // the two leases above, each on a new connection
    BOOST_TEST(jp["connect_seconds"].get<double>() > 0);
    BOOST_TEST(jp["placements"] == 0);  // statements are placed by the plugin, not by the pool's own users
    BOOST_TEST(jp["moves"] == 0);
    BOOST_TEST(jq["settings_replays"] == 0);
    BOOST_TEST(jq["settings_replay_failures"] == 0);
    BOOST_TEST(jq["last_error"] == "canceling statement due to statement timeout");

    std::string const prom = s.to_prometheus();
    BOOST_TEST(has_line(prom, R"(soci_routing_statements_total{endpoint="replica-1",role="replica",reason="select"} 3)"));
    BOOST_TEST(has_line(prom, R"(soci_routing_statements_total{endpoint="primary",role="primary",reason="write"} 2)"));
    BOOST_TEST(has_line(prom, R"(soci_routing_connections{endpoint="primary",role="primary",state="open"} 2)"));
    BOOST_TEST(has_line(prom, R"(soci_routing_connections{endpoint="primary",role="primary",state="in_use"} 1)"));
    BOOST_TEST(has_line(prom, R"(soci_routing_connections{endpoint="primary",role="primary",state="idle"} 1)"));
    BOOST_TEST(has_line(prom, R"(soci_routing_waiting{endpoint="primary",role="primary"} 0)"));
    BOOST_TEST(has_line(prom, R"(soci_routing_fallbacks_total{endpoint="replica-1",role="replica"} 1)"));
    BOOST_TEST(has_line(prom, R"(soci_routing_failures_total{endpoint="replica-1",role="replica"} 1)"));
    BOOST_TEST(has_line(prom, R"(soci_routing_quarantines_total{endpoint="replica-1",role="replica"} 0)"));
    BOOST_TEST(has_line(prom, R"(soci_routing_connections_replaced_total{endpoint="primary",role="primary"} 0)"));
    BOOST_TEST(has_line(prom, R"(soci_routing_connections_reset_total{endpoint="primary",role="primary"} 0)"));
    BOOST_TEST(has_line(prom, R"(soci_routing_connections_opened_total{endpoint="primary",role="primary"} 2)"));
    BOOST_TEST(has_line(prom, R"(soci_routing_moves_total{endpoint="primary",role="primary"} 0)"));
    BOOST_TEST(has_line(prom, R"(soci_routing_placement_seconds_total{endpoint="primary",role="primary",phase="lease"} 0)"));
    BOOST_TEST(has_line(prom, R"(soci_routing_settings_replays_total{endpoint="replica-1",role="replica"} 0)"));
    BOOST_TEST(has_line(prom, R"(soci_routing_settings_replay_failures_total{endpoint="replica-1",role="replica"} 0)"));
    BOOST_TEST(has_line(prom, R"(soci_routing_up{endpoint="primary",role="primary"} 1)"));
    BOOST_TEST(has_line(prom, R"(soci_routing_up{endpoint="replica-1",role="replica"} 1)"));
    BOOST_TEST(prom.find("soci_routing_replication_lag_seconds{") == std::string::npos);  // unknown: no sample
    for (char const* family : {"soci_routing_up", "soci_routing_statements_total", "soci_routing_connections",
                               "soci_routing_waiting", "soci_routing_fallbacks_total", "soci_routing_failures_total",
                               "soci_routing_quarantines_total", "soci_routing_replication_lag_seconds",
                               "soci_routing_connections_replaced_total", "soci_routing_connections_reset_total",
                               "soci_routing_settings_replays_total", "soci_routing_settings_replay_failures_total",
                               "soci_routing_connections_opened_total", "soci_routing_connect_seconds_total",
                               "soci_routing_placements_total", "soci_routing_moves_total",
                               "soci_routing_placement_seconds_total"})
    {
        BOOST_TEST(count(prom, std::string("# HELP ") + family + " ") == 1u, family);
        BOOST_TEST(count(prom, std::string("# TYPE ") + family + " ") == 1u, family);
    }
    BOOST_TEST(has_line(prom, "# TYPE soci_routing_statements_total counter"));
    BOOST_TEST(has_line(prom, "# TYPE soci_routing_connections gauge"));
}

BOOST_AUTO_TEST_CASE(counts_from_many_threads_add_up_exactly)
{
    // Each thread counts into a shard of its own; more threads than shards share them. Either way, stats() adds
    // up every count made, of every counter.
    auto config = test_cluster(1);
    cluster c(config);
    endpoint_pool& r = c.replica(0);
    int const threads = 40;
    int const each = 500;
    std::vector<std::thread> running;
    for (int t = 0; t < threads; ++t)
    {
        running.emplace_back([&] {
            for (int i = 0; i < each; ++i)
            {
                r.record_routed(i % 2 == 0 ? reason::select : reason::locking_read);
                r.record_placement(i % 4 == 0, std::chrono::microseconds(1), std::chrono::microseconds(2),
                                   std::chrono::microseconds(i % 4 == 0 ? 3 : 0));
                r.record_causal_read(i % 5 == 0, 0.000001);
                r.record_fallback();
            }
        });
    }
    for (auto& t : running)
        t.join();
    auto const s = c.stats().endpoints.at(1);
    std::uint64_t const n = std::uint64_t(threads) * each;
    BOOST_TEST(s.statements == n);
    BOOST_TEST(s.by_reason.at("select") == n / 2);
    BOOST_TEST(s.by_reason.at("locking_read") == n / 2);
    BOOST_TEST(s.fallbacks == n);
    BOOST_TEST(s.placements == n);
    BOOST_TEST(s.moves == n / 4);
    BOOST_TEST(s.placement_lease_seconds == static_cast<double>(n) * 1e-6, boost::test_tools::tolerance(1e-9));
    BOOST_TEST(s.placement_prepare_seconds == static_cast<double>(n) * 2e-6, boost::test_tools::tolerance(1e-9));
    BOOST_TEST(s.placement_replay_seconds == static_cast<double>(n / 4) * 3e-6, boost::test_tools::tolerance(1e-9));
    BOOST_TEST(s.causal_reads == n);
    BOOST_TEST(s.causal_waits == n / 5);
    BOOST_TEST(c.stats().endpoints.at(0).statements == 0u);  // the primary's counters are its own
}

// A cluster whose one replica ("replica-bad", a closed port) is quarantined at its first failure, its next
// recovery probe `retry_window` seconds away.
namespace
{
cluster_config one_bad_replica(double retry_window)
{
    auto config = test_cluster(0);
    config.replicas.push_back(closed_port(config.primary, "replica-bad"));
    config.routing.failures = 1;
    config.routing.retry_window = retry_window;
    return config;
}
} // namespace

BOOST_AUTO_TEST_CASE(quarantined_endpoint_is_down_in_prometheus_with_its_window)
{
    auto const config = one_bad_replica(10);
    cluster c(config);
    BOOST_CHECK_THROW(c.replica(0).acquire(), soci::soci_error);
    auto s = c.stats();
    auto const& r = s.endpoints.at(1);
    BOOST_TEST(r.state == "quarantined");
    BOOST_TEST(r.quarantined_until_ms > unix_ms());
    BOOST_TEST(r.failures == 1u);
    BOOST_TEST(r.quarantines == 1u);
    BOOST_TEST(r.last_error.find("127.0.0.1:1") != std::string::npos);
    BOOST_TEST(r.last_error.find(config.primary.password) == std::string::npos);
    BOOST_TEST(r.last_error.find('\n') == std::string::npos);
    std::string const prom = s.to_prometheus();
    BOOST_TEST(has_line(prom, R"(soci_routing_up{endpoint="replica-bad",role="replica"} 0)"));
    BOOST_TEST(has_line(prom, R"(soci_routing_quarantines_total{endpoint="replica-bad",role="replica"} 1)"));
    auto j = nlohmann::json::parse(s.to_json());
    BOOST_TEST(j["endpoints"][1]["state"] == "quarantined");
    BOOST_TEST(j["endpoints"][1]["quarantined_until_ms"] == r.quarantined_until_ms);
}

// When the next recovery probe is due is one instant: a monitor that reads stats in a loop sees
// quarantined_until_ms change only when a probe is scheduled, never by a millisecond between two reads.
BOOST_AUTO_TEST_CASE(quarantined_until_is_the_same_on_every_read_until_the_next_probe)
{
    cluster c(one_bad_replica(30));
    BOOST_CHECK_THROW(c.replica(0).acquire(), soci::soci_error);
    std::int64_t const first = c.stats().endpoints.at(1).quarantined_until_ms;
    BOOST_REQUIRE(first > unix_ms());
    // The reads compete for the CPU, as on a busy machine: a reader switched out between two clock readings
    // must not see the instant move.
    std::atomic<bool> stop{false};
    std::vector<std::thread> busy;
    for (unsigned i = 0; i < 2 * std::max(1u, std::thread::hardware_concurrency()); ++i)
        busy.emplace_back([&stop] {
            while (!stop.load(std::memory_order_relaxed))
            {
            }
        });
    int reads = 0;
    int changed = 0;
    std::int64_t last_other = 0;
    auto const end = std::chrono::steady_clock::now() + std::chrono::milliseconds(1500);
    while (std::chrono::steady_clock::now() < end)
    {
        std::int64_t const until = c.stats().endpoints.at(1).quarantined_until_ms;
        ++reads;
        if (until != first)
        {
            ++changed;
            last_other = until;
        }
    }
    stop = true;
    for (auto& t : busy)
        t.join();
    BOOST_TEST_MESSAGE(reads << " reads of stats, " << changed << " with another quarantined_until_ms");
    BOOST_TEST(changed == 0, changed << " of " << reads << " reads gave " << last_other << ", not " << first);
}

// A server's message is not always valid UTF-8 (a client encoding mismatch, a truncated multi-byte
// character): the JSON stats replace the bytes (U+FFFD) rather than throw from nlohmann::json.
BOOST_AUTO_TEST_CASE(json_stats_survive_an_error_text_that_is_not_utf8)
{
    soci::routing_stats s;
    soci::routing_endpoint_stats e;
    e.name = "replica-1";
    e.role = "replica";
    e.state = "down";
    e.last_error = "FATAL: \xff\xfe invalid \xc3";
    s.endpoints.push_back(e);
    std::string json;
    BOOST_REQUIRE_NO_THROW(json = s.to_json());
    BOOST_TEST(json.find("invalid") != std::string::npos);
    BOOST_TEST(json.find("\xef\xbf\xbd") != std::string::npos);  // U+FFFD
}

BOOST_AUTO_TEST_CASE(prometheus_label_values_are_escaped)
{
    soci::routing_stats s;
    soci::routing_endpoint_stats e;
    e.name = "odd\"name\\with\nnewline";
    e.role = "replica";
    e.state = "up";
    e.lag_seconds = 0.25;
    e.by_reason["select"] = 7;
    s.endpoints.push_back(e);
    std::string const prom = s.to_prometheus();
    std::string const labels = R"(endpoint="odd\"name\\with\nnewline",role="replica")";
    BOOST_TEST(has_line(prom, "soci_routing_statements_total{" + labels + R"(,reason="select"} 7)"));
    BOOST_TEST(has_line(prom, "soci_routing_replication_lag_seconds{" + labels + "} 0.25"));
    // Every line is a comment or a sample: no raw newline inside a label.
    std::size_t start = 0;
    while (start < prom.size())
    {
        auto const end = prom.find('\n', start);
        std::string const line = prom.substr(start, end - start);
        BOOST_TEST((line.rfind("# ", 0) == 0 || line.rfind("soci_routing_", 0) == 0), line);
        start = end + 1;
    }
}

BOOST_AUTO_TEST_SUITE_END()
