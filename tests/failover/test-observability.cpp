// soci-routing failover tests: stats and check, field by field, after known traffic.

#include <boost/test/unit_test.hpp>

#include "failover-support.h"
#include "tcp-proxy.h"

#include <nlohmann/json.hpp>

#include <cmath>
#include <regex>
#include <set>
#include <sstream>

using namespace failover_test;

namespace
{

std::string address(int port)
{
    return cluster().primary.host + ":" + std::to_string(port);
}

// The value of the one Prometheus sample `name{labels}`; NaN when absent, and a test error when repeated.
double sample(std::string const& text, std::string const& name, std::string const& labels)
{
    std::istringstream in(text);
    std::string line;
    std::string const prefix = name + "{" + labels + "} ";
    double value = std::nan("");
    int found = 0;
    while (std::getline(in, line))
        if (line.compare(0, prefix.size(), prefix) == 0)
        {
            ++found;
            value = std::stod(line.substr(prefix.size()));
        }
    BOOST_CHECK_MESSAGE(found <= 1, prefix << "appears " << found << " times");
    return value;
}

std::string endpoint_labels(soci::routing_endpoint_stats const& e)
{
    return "endpoint=\"" + e.name + "\",role=\"" + e.role + "\"";
}

} // namespace

BOOST_AUTO_TEST_SUITE(observability)

// After 4 reads and 1 write on a fresh cluster (sticky off): every field of every endpoint, then the same
// numbers in to_json() and to_prometheus().
BOOST_AUTO_TEST_CASE(stats_report_every_field_after_known_traffic)
{
    test_cluster const& c = cluster();
    config_spec spec;
    soci::session sql(routing_uri(spec));
    BOOST_CHECK_EQUAL(soci::routing.last_endpoint(sql), "");
    BOOST_CHECK(soci::routing.is_routed(sql));

    std::size_t const replicas = c.replicas.size();
    std::size_t const endpoints = 1 + replicas;
    for (int i = 0; i < 4; ++i)
    {
        int const port = read_port(sql);
        std::string const where = soci::routing.last_endpoint(sql);
        BOOST_CHECK_EQUAL(port_of_endpoint(where), port);
        BOOST_CHECK_NE(where, "primary");
        BOOST_CHECK_EQUAL(soci::routing.last_reason(sql), "select");
    }
    std::string const tag = unique_tag("stats");
    sql << "INSERT INTO " + writes_table() + " (tag) VALUES (:tag)", soci::use(tag);
    BOOST_CHECK_EQUAL(soci::routing.last_endpoint(sql), "primary");
    BOOST_CHECK_EQUAL(soci::routing.last_reason(sql), "write");

    soci::routing_stats const s = soci::routing.stats(sql);
    BOOST_REQUIRE_EQUAL(s.endpoints.size(), endpoints);
    struct expected
    {
        std::string name;
        char const* role;
        int port;
        char const* reason;
        std::uint64_t statements;
    };
    std::vector<expected> rows = {{"primary", "primary", c.primary.port, "write", 1}};
    for (auto const& r : real_replicas())
        rows.push_back({r.name, "replica", r.port, "select", 4 / replicas});  // round robin: 4 reads shared
    for (std::size_t i = 0; i < endpoints; ++i)
    {
        expected const& x = rows[i];
        soci::routing_endpoint_stats const& e = s.endpoints[i];  // primary first, replicas in order
        BOOST_TEST_CONTEXT(x.name)
        {
            BOOST_CHECK_EQUAL(e.name, x.name);
            BOOST_CHECK_EQUAL(e.role, x.role);
            BOOST_CHECK_EQUAL(e.address, address(x.port));
            BOOST_CHECK_EQUAL(e.state, "up");
            BOOST_CHECK_EQUAL(e.quarantined_until_ms, 0);
            BOOST_CHECK_EQUAL(e.lag_seconds, -1.0);  // max_lag off: never measured
            // One statement at a time: one connection each. No statement is alive, so no replica connection is
            // lent; the primary's may be (a routing session may keep its primary connection, as a plain
            // soci::session keeps its connection).
            BOOST_CHECK_EQUAL(e.connections_open, 1);
            BOOST_CHECK_LE(e.connections_in_use, e.role == "primary" ? 1 : 0);
            BOOST_CHECK_EQUAL(e.connections_idle + e.connections_in_use, e.connections_open);
            BOOST_CHECK_EQUAL(e.waiting, 0);
            BOOST_CHECK_EQUAL(e.statements, x.statements);
            BOOST_CHECK_EQUAL(e.by_reason.size(), 1u);
            BOOST_CHECK_EQUAL(e.by_reason.count(x.reason), 1u);
            if (e.by_reason.count(x.reason))
                BOOST_CHECK_EQUAL(e.by_reason.at(x.reason), x.statements);
            BOOST_CHECK_EQUAL(e.fallbacks, 0u);
            BOOST_CHECK_EQUAL(e.failures, 0u);
            BOOST_CHECK_EQUAL(e.quarantines, 0u);
            BOOST_CHECK_EQUAL(e.last_error, "");
        }
    }

    // JSON: the same numbers.
    nlohmann::json j;
    try
    {
        j = nlohmann::json::parse(s.to_json());
    }
    catch (std::exception const& e)
    {
        BOOST_FAIL("to_json() is not JSON: " << e.what() << "\n" << s.to_json());
    }
    BOOST_REQUIRE(j.contains("endpoints") && j["endpoints"].is_array());
    BOOST_REQUIRE_EQUAL(j["endpoints"].size(), endpoints);
    for (std::size_t i = 0; i < endpoints; ++i)
    {
        auto const& e = s.endpoints[i];
        auto const& o = j["endpoints"][i];
        BOOST_TEST_CONTEXT("JSON " << e.name)
        {
            try
            {
                BOOST_CHECK_EQUAL(o.at("name").get<std::string>(), e.name);
                BOOST_CHECK_EQUAL(o.at("role").get<std::string>(), e.role);
                BOOST_CHECK_EQUAL(o.at("address").get<std::string>(), e.address);
                BOOST_CHECK_EQUAL(o.at("state").get<std::string>(), e.state);
                BOOST_CHECK(o.at("quarantined_until_ms").is_null());   // 0: not quarantined
                BOOST_CHECK(o.at("lag_seconds").is_null());            // -1: unknown
                BOOST_CHECK_EQUAL(o.at("connections").at("open").get<int>(), e.connections_open);
                BOOST_CHECK_EQUAL(o.at("connections").at("in_use").get<int>(), e.connections_in_use);
                BOOST_CHECK_EQUAL(o.at("connections").at("idle").get<int>(), e.connections_idle);
                BOOST_CHECK_EQUAL(o.at("connections").at("waiting").get<int>(), e.waiting);
                BOOST_CHECK_EQUAL(o.at("statements").get<std::uint64_t>(), e.statements);
                BOOST_CHECK_EQUAL(o.at("by_reason").size(), e.by_reason.size());
                for (auto const& [why, n] : e.by_reason)
                    BOOST_CHECK_EQUAL(o.at("by_reason").at(why).get<std::uint64_t>(), n);
                BOOST_CHECK_EQUAL(o.at("fallbacks").get<std::uint64_t>(), e.fallbacks);
                BOOST_CHECK_EQUAL(o.at("failures").get<std::uint64_t>(), e.failures);
                BOOST_CHECK_EQUAL(o.at("quarantines").get<std::uint64_t>(), e.quarantines);
                BOOST_CHECK_EQUAL(o.at("last_error").get<std::string>(), e.last_error);
            }
            catch (nlohmann::json::exception const& x)
            {
                BOOST_ERROR("JSON field missing or of the wrong type: " << x.what() << "\n" << o.dump());
            }
        }
    }

    // Prometheus text format: every sample line is well formed and belongs to a family declared with # TYPE;
    // the samples carry the struct's numbers.
    std::string const prom = s.to_prometheus();
    std::regex const sample_line(R"(^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*",?)*\})? )"
                                 R"((-?[0-9.]+([eE][-+]?[0-9]+)?|NaN|[-+]Inf)$)");
    std::set<std::string> typed;
    std::istringstream in(prom);
    std::string line;
    int samples = 0;
    while (std::getline(in, line))
    {
        if (line.rfind("# TYPE ", 0) == 0)
        {
            std::istringstream t(line.substr(7));
            std::string family;
            t >> family;
            typed.insert(family);
            continue;
        }
        if (line.empty() || line[0] == '#')
            continue;
        std::smatch m;
        BOOST_CHECK_MESSAGE(std::regex_match(line, m, sample_line), "malformed Prometheus line: " << line);
        if (!m.empty())
        {
            ++samples;
            BOOST_CHECK_MESSAGE(typed.count(m[1].str()), "sample of an undeclared family: " << line);
        }
    }
    BOOST_CHECK_GT(samples, 0);
    for (auto const& e : s.endpoints)
    {
        BOOST_TEST_CONTEXT("Prometheus " << e.name)
        {
            std::string const l = endpoint_labels(e);
            BOOST_CHECK_EQUAL(sample(prom, "soci_routing_up", l), 1.0);
            for (auto const& [why, n] : e.by_reason)
                BOOST_CHECK_EQUAL(sample(prom, "soci_routing_statements_total", l + ",reason=\"" + why + "\""),
                                  static_cast<double>(n));
            BOOST_CHECK_EQUAL(sample(prom, "soci_routing_connections", l + ",state=\"open\""),
                              static_cast<double>(e.connections_open));
            BOOST_CHECK_EQUAL(sample(prom, "soci_routing_connections", l + ",state=\"in_use\""),
                              static_cast<double>(e.connections_in_use));
            BOOST_CHECK_EQUAL(sample(prom, "soci_routing_connections", l + ",state=\"idle\""),
                              static_cast<double>(e.connections_idle));
            BOOST_CHECK_EQUAL(sample(prom, "soci_routing_waiting", l), static_cast<double>(e.waiting));
            BOOST_CHECK_EQUAL(sample(prom, "soci_routing_fallbacks_total", l), static_cast<double>(e.fallbacks));
            BOOST_CHECK_EQUAL(sample(prom, "soci_routing_failures_total", l), static_cast<double>(e.failures));
            BOOST_CHECK_EQUAL(sample(prom, "soci_routing_quarantines_total", l),
                              static_cast<double>(e.quarantines));
            BOOST_CHECK_EQUAL(sample(prom, "soci_routing_quarantined_until_seconds", l), 0.0);
        }
    }
    BOOST_CHECK(!contains(prom, c.primary.password));
    BOOST_CHECK(!contains(s.to_json(), c.primary.password));

    // use_primary: reads go to the primary while the guard lives, and only then.
    {
        auto forced = soci::routing.use_primary(sql);
        BOOST_CHECK_EQUAL(read_port(sql), c.primary.port);
        BOOST_CHECK_EQUAL(soci::routing.last_endpoint(sql), "primary");
        BOOST_CHECK_EQUAL(soci::routing.last_reason(sql), "forced_primary");
    }
    int const port = read_port(sql);
    BOOST_CHECK_NE(port, c.primary.port);
    BOOST_CHECK_EQUAL(port_of_endpoint(soci::routing.last_endpoint(sql)), port);
}

// A quarantined endpoint in stats, JSON and Prometheus: state, quarantined_until_ms, and the "up" gauge.
BOOST_AUTO_TEST_CASE(stats_report_a_quarantined_replica_in_every_format)
{
    test_cluster const& c = cluster();
    tcp_proxy dead(c.replicas.back().port);
    dead.set_mode(tcp_proxy::mode::reject);
    config_spec spec;
    spec.failures = 1;
    spec.retry_window = 5.0;  // stays quarantined while the test looks
    // The real replicas, the last one replaced by the dead proxy (MariaDB: the only one).
    spec.replicas = real_replicas();
    std::size_t const dead_index = spec.replicas->size();  // in stats: the primary first
    std::string const dead_name = spec.replicas->back().name;
    spec.replicas->back().port = dead.port();
    soci::session sql(routing_uri(spec));
    for (int i = 0; i < 4; ++i)
        BOOST_CHECK_NE(read_port(sql), c.replicas.back().port);

    std::int64_t const now = unix_ms();
    soci::routing_stats const s = soci::routing.stats(sql);
    auto const* r = find(s, dead_name);
    BOOST_REQUIRE(r != nullptr);
    BOOST_CHECK_EQUAL(r->state, "quarantined");
    BOOST_CHECK_GT(r->quarantined_until_ms, now + 3000);       // 5 s -20%, minus the reads
    BOOST_CHECK_LE(r->quarantined_until_ms, now + 6000 + 50);  // 5 s +20%
    BOOST_CHECK_EQUAL(r->quarantines, 1u);
    BOOST_CHECK_EQUAL(r->failures, 1u);
    BOOST_CHECK_EQUAL(r->statements, 0u);
    BOOST_CHECK_EQUAL(r->connections_open, 0);
    BOOST_CHECK(contains(r->last_error, dead_name));  // names the endpoint it is about
    BOOST_CHECK(!contains(r->last_error, c.primary.password));

    auto const j = nlohmann::json::parse(s.to_json());
    auto const& o = j.at("endpoints").at(dead_index);
    BOOST_CHECK_EQUAL(o.at("name").get<std::string>(), dead_name);
    BOOST_CHECK_EQUAL(o.at("state").get<std::string>(), "quarantined");
    BOOST_CHECK_EQUAL(o.at("quarantined_until_ms").get<std::int64_t>(), r->quarantined_until_ms);
    BOOST_CHECK_EQUAL(o.at("last_error").get<std::string>(), r->last_error);

    std::string const prom = s.to_prometheus();
    std::string const l = endpoint_labels(*r);
    BOOST_CHECK_EQUAL(sample(prom, "soci_routing_up", l), 0.0);
    BOOST_CHECK_CLOSE(sample(prom, "soci_routing_quarantined_until_seconds", l),
                      static_cast<double>(r->quarantined_until_ms) / 1000.0, 1e-9);
    BOOST_CHECK_EQUAL(sample(prom, "soci_routing_quarantines_total", l), 1.0);
}

// check() on a healthy cluster: each endpoint reachable in its role, with latency and (replicas) lag.
BOOST_AUTO_TEST_CASE(check_reports_roles_latency_and_lag_of_a_healthy_cluster)
{
    test_cluster const& c = cluster();
    std::size_t const endpoints = 1 + c.replicas.size();
    config_spec spec;
    std::string const path = write_config(spec);
    soci::session sql(routing_uri(path));

    for (auto const& [how, check] : {std::pair<std::string, soci::routing_check>{"check(session)", soci::routing.check(sql)},
                                     {"check(file)", soci::routing.check(path)},
                                     {"check(routing://)", soci::routing.check(routing_uri(path))}})
    {
        BOOST_TEST_CONTEXT(how)
        {
            BOOST_CHECK(check.primary_ready);
            BOOST_CHECK(check.reads_servable);
            BOOST_CHECK(check.ready());
            BOOST_REQUIRE_EQUAL(check.endpoints.size(), endpoints);
            struct expected
            {
                std::string name;
                char const* role;
                int port;
            };
            std::vector<expected> rows = {{"primary", "primary", c.primary.port}};
            for (auto const& r : real_replicas())
                rows.push_back({r.name, "replica", r.port});
            for (std::size_t i = 0; i < endpoints; ++i)
            {
                auto const& e = check.endpoints[i];
                BOOST_TEST_CONTEXT(rows[i].name)
                {
                    BOOST_CHECK_EQUAL(e.name, rows[i].name);
                    BOOST_CHECK_EQUAL(e.role, rows[i].role);
                    BOOST_CHECK_EQUAL(e.address, address(rows[i].port));
                    BOOST_CHECK(e.reachable);
                    BOOST_CHECK(e.role_ok);
                    BOOST_CHECK_GE(e.latency_ms, 0.0);
                    BOOST_CHECK_LT(e.latency_ms, 2000.0);
                    if (e.role == "replica")
                    {
                        BOOST_CHECK_GE(e.lag_seconds, 0.0);  // measured, and small on a quiet cluster
                        BOOST_CHECK_LT(e.lag_seconds, 5.0);
                    }
                    BOOST_CHECK_EQUAL(e.error, "");
                    BOOST_CHECK(contains(check.to_text(), e.name));
                    BOOST_CHECK(contains(check.to_text(), e.address));
                }
            }
            BOOST_CHECK(contains(check.to_text(), "ready"));
            BOOST_CHECK(!contains(check.to_text(), "not ready"));
            try
            {
                auto const j = nlohmann::json::parse(check.to_json());
                BOOST_CHECK_EQUAL(j.at("ready").get<bool>(), true);
                BOOST_CHECK_EQUAL(j.at("primary_ready").get<bool>(), true);
                BOOST_CHECK_EQUAL(j.at("reads_servable").get<bool>(), true);
                BOOST_REQUIRE_EQUAL(j.at("endpoints").size(), endpoints);
                for (std::size_t i = 0; i < endpoints; ++i)
                {
                    auto const& o = j.at("endpoints").at(i);
                    auto const& e = check.endpoints[i];
                    BOOST_CHECK_EQUAL(o.at("name").get<std::string>(), e.name);
                    BOOST_CHECK_EQUAL(o.at("role").get<std::string>(), e.role);
                    BOOST_CHECK_EQUAL(o.at("address").get<std::string>(), e.address);
                    BOOST_CHECK_EQUAL(o.at("reachable").get<bool>(), e.reachable);
                    BOOST_CHECK_EQUAL(o.at("role_ok").get<bool>(), e.role_ok);
                    BOOST_CHECK_EQUAL(o.at("latency_ms").get<double>(), e.latency_ms);
                    BOOST_CHECK_EQUAL(o.at("error").get<std::string>(), e.error);
                }
            }
            catch (nlohmann::json::exception const& x)
            {
                BOOST_ERROR("check JSON: " << x.what() << "\n" << check.to_json());
            }
        }
    }
}

// check() catches a cluster described wrongly: a replica configured as the primary (not writable: a hot
// standby, or read_only), the primary configured as a replica (not in recovery / writable, no replication),
// an endpoint that resets every connection; no password in any report.
BOOST_AUTO_TEST_CASE(check_reports_wrong_roles_and_unreachable_endpoints_without_passwords)
{
    test_cluster const& c = cluster();
    tcp_proxy dead(c.replicas.back().port);
    dead.set_mode(tcp_proxy::mode::reject);
    config_spec spec;
    spec.primary_port = c.replicas.front().port;  // a replica (MariaDB's only one serves as both)
    spec.replicas = std::vector<replica_spec>{{"replica-2", c.replicas.back().port, {}},
                                              {"not-a-replica", c.primary.port, {}},
                                              {"unreachable", dead.port(), {}}};
    std::string const path = write_config(spec);
    soci::routing_check const check = soci::routing.check(path);
    BOOST_TEST_MESSAGE(check.to_text());
    BOOST_REQUIRE_EQUAL(check.endpoints.size(), 4u);

    auto const& primary = check.endpoints[0];
    BOOST_CHECK_EQUAL(primary.name, "primary");
    BOOST_CHECK(primary.reachable);
    BOOST_CHECK(!primary.role_ok);
    BOOST_CHECK(!check.primary_ready);

    auto const* good = find(check, "replica-2");
    auto const* wrong = find(check, "not-a-replica");
    auto const* gone = find(check, "unreachable");
    BOOST_REQUIRE(good && wrong && gone);
    BOOST_CHECK(good->reachable && good->role_ok);
    BOOST_CHECK(wrong->reachable);
    BOOST_CHECK(!wrong->role_ok);
    BOOST_CHECK(!gone->reachable);
    BOOST_CHECK(!gone->role_ok);
    BOOST_CHECK(!gone->error.empty());
    BOOST_CHECK(check.reads_servable);  // replica-2 can
    BOOST_CHECK(!check.ready());

    for (auto const& e : check.endpoints)
        BOOST_CHECK_MESSAGE(!contains(e.error, c.primary.password), e.name << "'s error shows the password");
    BOOST_CHECK(!contains(check.to_text(), c.primary.password));
    BOOST_CHECK(!contains(check.to_json(), c.primary.password));
    BOOST_CHECK(contains(check.to_text(), "not ready"));
}

BOOST_AUTO_TEST_SUITE_END()
