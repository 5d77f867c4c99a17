// Topology discovery's decision (topology = "discover"): which node is the primary given what each node's role
// probe saw. Pure: no server (the promotion itself is exercised against real servers in tests/failover).

#define BOOST_TEST_MODULE pools_topology_rules
#include <boost/test/unit_test.hpp>

#include "pools-detail.h"

using namespace soci_routing;
using detail::decide_topology;
using detail::node_observation;

namespace
{

node_observation writable(long long timeline = 1, std::string sysid = "7001")
{
    node_observation o;
    o.reachable = true;
    o.writable = true;
    o.timeline = timeline;
    o.system_id = std::move(sysid);
    o.note = "writable";
    return o;
}

node_observation standby(std::string sysid = "7001")
{
    node_observation o;
    o.reachable = true;
    o.system_id = std::move(sysid);
    o.note = "in recovery (a standby)";
    return o;
}

node_observation unreachable()
{
    node_observation o;
    o.note = "connection refused";
    return o;
}

std::vector<std::string> const names = {"primary \"a\"", "replica \"b\"", "replica \"c\""};

} // namespace

BOOST_AUTO_TEST_SUITE(topology_rules)

BOOST_AUTO_TEST_CASE(the_one_writable_node_is_the_primary_whatever_its_configured_role)
{
    std::string sysid;
    auto const d = decide_topology({unreachable(), writable(2), standby()}, driver::postgresql, sysid, names);
    BOOST_TEST(d.primary == 1);
    BOOST_TEST(d.problem.empty());
    BOOST_TEST(sysid == "7001");
}

BOOST_AUTO_TEST_CASE(no_writable_node_names_every_node_and_its_state)
{
    std::string sysid;
    auto const d = decide_topology({unreachable(), standby(), standby()}, driver::postgresql, sysid, names);
    BOOST_TEST(d.primary == -1);
    BOOST_TEST(d.problem.find("no writable node") == 0, d.problem);
    BOOST_TEST(d.problem.find("primary \"a\": unreachable: connection refused") != std::string::npos, d.problem);
    BOOST_TEST(d.problem.find("replica \"c\": in recovery") != std::string::npos, d.problem);
}

BOOST_AUTO_TEST_CASE(a_node_this_process_could_not_probe_is_named_as_such_not_as_unreachable)
{
    node_observation unprobed = unreachable();
    unprobed.unprobed = true;
    unprobed.note = "could not create socket: Too many open files";
    std::string sysid;
    auto const d = decide_topology({unprobed, standby(), standby()}, driver::postgresql, sysid, names);
    BOOST_TEST(d.primary == -1);
    BOOST_TEST(d.problem.find("primary \"a\": not probed (this process could not connect): could not create socket")
                   != std::string::npos,
               d.problem);
    BOOST_TEST(d.problem.find("unreachable") == std::string::npos, d.problem);
}

BOOST_AUTO_TEST_CASE(split_brain_on_postgresql_goes_to_the_newest_timeline_and_fences_the_other)
{
    std::string sysid;
    auto const d = decide_topology({writable(1), writable(2), standby()}, driver::postgresql, sysid, names);
    BOOST_TEST(d.primary == 1);
    BOOST_TEST(d.fenced[0]);
    BOOST_TEST(!d.fenced[1]);
    BOOST_TEST(!d.fenced[2]);
}

BOOST_AUTO_TEST_CASE(split_brain_with_equal_or_unknown_timelines_refuses_writes)
{
    std::string sysid;
    auto const equal = decide_topology({writable(2), writable(2), standby()}, driver::postgresql, sysid, names);
    BOOST_TEST(equal.primary == -1);
    BOOST_TEST(equal.problem.find("2 writable nodes (split brain)") == 0, equal.problem);
    auto const unknown = decide_topology({writable(-1), writable(3), standby()}, driver::postgresql, sysid, names);
    BOOST_TEST(unknown.primary == -1);
    BOOST_TEST(!unknown.fenced[0]);
}

BOOST_AUTO_TEST_CASE(split_brain_on_mysql_always_refuses_writes)
{
    std::string sysid;
    node_observation a = writable(-1, "");
    node_observation b = writable(-1, "");
    auto const d = decide_topology({a, b, standby("")}, driver::mysql, sysid, names);
    BOOST_TEST(d.primary == -1);
    BOOST_TEST(d.problem.find("split brain") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_node_of_another_cluster_is_fenced_and_never_the_primary)
{
    std::string sysid = "7001";  // seen before
    auto const d = decide_topology({unreachable(), writable(1, "9999"), standby()}, driver::postgresql, sysid, names);
    BOOST_TEST(d.primary == -1);
    BOOST_TEST(d.fenced[1]);
    BOOST_TEST(d.problem.find("system identifier 9999 is not the cluster's 7001") != std::string::npos, d.problem);
}

BOOST_AUTO_TEST_SUITE_END()
