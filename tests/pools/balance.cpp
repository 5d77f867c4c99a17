// Balancing policies and weights, observed on real servers (each leased session asks its server for its port):
// the two PostgreSQL hot standbys; with MariaDB, which has one replica, replica-1 and the primary configured as
// a second read target (two_read_targets() in support.h).

#include <boost/test/unit_test.hpp>

#include "support.h"

#include <map>

using namespace pools_test;

namespace
{

/// Picks `n` times, runs a query on a lease of each pick, and counts the servers' ports.
std::map<int, int> spread(cluster& c, int n)
{
    std::map<int, int> ports;
    for (int i = 0; i < n; ++i)
    {
        endpoint_pool* p = c.pick_replica();
        BOOST_REQUIRE(p != nullptr);
        lease l = p->acquire();
        BOOST_REQUIRE(l);
        ++ports[server_port(l.session())];
    }
    return ports;
}

} // namespace

BOOST_AUTO_TEST_SUITE(pools_balance)

BOOST_AUTO_TEST_CASE(round_robin_alternates_between_replicas)
{
    auto config = two_read_targets();
    config.routing.balance = balance_policy::round_robin;
    cluster c(config);
    int const p1 = config.replicas[0].effective_port();
    int const p2 = config.replicas[1].effective_port();
    int previous = 0;
    std::map<int, int> ports;
    for (int i = 0; i < 10; ++i)
    {
        endpoint_pool* p = c.pick_replica();
        BOOST_REQUIRE(p != nullptr);
        lease l = p->acquire();
        BOOST_REQUIRE(l);
        int const port = server_port(l.session());
        BOOST_TEST(port != previous);
        previous = port;
        ++ports[port];
    }
    BOOST_TEST(ports[p1] == 5);
    BOOST_TEST(ports[p2] == 5);
}

BOOST_AUTO_TEST_CASE(round_robin_follows_weights_exactly)
{
    auto config = two_read_targets();
    config.routing.balance = balance_policy::round_robin;
    config.replicas[0].weight = 1;
    config.replicas[1].weight = 3;
    cluster c(config);
    auto ports = spread(c, 12);
    BOOST_TEST(ports[config.replicas[0].effective_port()] == 3);
    BOOST_TEST(ports[config.replicas[1].effective_port()] == 9);
}

BOOST_AUTO_TEST_CASE(random_spreads_reads_by_weight)
{
    auto config = two_read_targets();
    config.routing.balance = balance_policy::random;
    config.replicas[0].weight = 1;
    config.replicas[1].weight = 3;
    cluster c(config);
    int const n = 400;
    auto ports = spread(c, n);
    int const light = ports[config.replicas[0].effective_port()];
    int const heavy = ports[config.replicas[1].effective_port()];
    BOOST_TEST(light + heavy == n);
    // Expected 100 / 300; the bounds are more than six standard deviations (8.7) away.
    BOOST_TEST(light > 45);
    BOOST_TEST(light < 155);
}

BOOST_AUTO_TEST_CASE(least_connections_prefers_the_replica_with_fewer_leases)
{
    auto config = two_read_targets();
    config.routing.balance = balance_policy::least_connections;
    cluster c(config);
    int const p1 = config.replicas[0].effective_port();
    int const p2 = config.replicas[1].effective_port();
    lease held = c.replica(0).acquire();
    BOOST_REQUIRE(held);
    for (int i = 0; i < 5; ++i)
    {
        endpoint_pool* p = c.pick_replica();
        BOOST_REQUIRE(p != nullptr);
        lease l = p->acquire();
        BOOST_REQUIRE(l);
        BOOST_TEST(server_port(l.session()) == p2);
    }
    lease a = c.replica(1).acquire();
    lease b = c.replica(1).acquire();
    BOOST_REQUIRE(a && b);
    endpoint_pool* p = c.pick_replica();
    BOOST_REQUIRE(p != nullptr);
    lease l = p->acquire();
    BOOST_REQUIRE(l);
    BOOST_TEST(server_port(l.session()) == p1);
}

BOOST_AUTO_TEST_CASE(least_connections_ties_alternate)
{
    auto config = two_read_targets();
    config.routing.balance = balance_policy::least_connections;
    cluster c(config);
    auto ports = spread(c, 6);
    BOOST_TEST(ports[config.replicas[0].effective_port()] == 3);
    BOOST_TEST(ports[config.replicas[1].effective_port()] == 3);
}

BOOST_AUTO_TEST_CASE(pick_replica_skips_excluded_replicas)
{
    auto config = two_read_targets();
    cluster c(config);
    for (int i = 0; i < 4; ++i)
        BOOST_TEST(c.pick_replica(1u) == &c.replica(1));
    BOOST_TEST(c.pick_replica(3u) == nullptr);
}

BOOST_AUTO_TEST_CASE(cluster_without_replicas_picks_none)
{
    cluster c(test_cluster(0));
    BOOST_TEST(c.replica_count() == 0u);
    BOOST_TEST(c.pick_replica() == nullptr);
}

BOOST_AUTO_TEST_SUITE_END()
