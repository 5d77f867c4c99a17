// A plain SOCI program, as a newcomer writes it from the README: no plugin header, no link with the plugin;
// SOCI's loader finds libsoci_routing.so.4.0 by name. Reads land on a replica, writes on the primary.

#define BOOST_TEST_MODULE routing_plain_soci
#include <boost/test/unit_test.hpp>

#include "routing-fixture.h"

#include <soci/soci.h>

#include <climits>
#include <cstdlib>
#include <dlfcn.h>
#include <set>
#include <string>

using namespace routing_test;

namespace
{
std::string real_path(std::string const& path)
{
    char buf[PATH_MAX];
    return realpath(path.c_str(), buf) != nullptr ? std::string(buf) : path;
}
} // namespace

// SOCI tries a bare dlopen() before SOCI_BACKENDS_PATH: an installed copy of the plugin (ci/demo installs one)
// would be tested instead of this build's, unless the test environment puts this build first.
BOOST_AUTO_TEST_CASE(the_plugin_loaded_by_name_is_this_build_s)
{
    servers srv;
    soci::session sql("routing://" + routing_cs("sticky=0"));
    void* handle = dlopen("libsoci_routing.so.4.0", RTLD_LAZY | RTLD_NOLOAD);
    BOOST_TEST_REQUIRE(handle != nullptr, "SOCI did not load libsoci_routing.so.4.0");
    void* factory = dlsym(handle, "factory_routing");
    BOOST_TEST_REQUIRE(factory != nullptr);
    Dl_info info{};
    BOOST_TEST_REQUIRE(dladdr(factory, &info) != 0);
    BOOST_TEST(real_path(info.dli_fname) == real_path(SOCI_ROUTING_PLUGIN_FILE));
    dlclose(handle);
}

BOOST_AUTO_TEST_CASE(plain_soci_session_by_name_routes_reads_and_writes)
{
    servers srv;
    soci::session sql("routing://" + routing_cs("sticky=0 rebalance=0"));  // each read balanced: every replica
    BOOST_TEST(sql.get_backend_name() == profile().driver);

    std::set<int> seen;
    for (int i = 0; i != 6; ++i)
        seen.insert(port_of(sql));
    BOOST_TEST(seen == srv.replica_ports);

    std::string const table = table_name("plain");
    sql << "drop table if exists " + table;  // DDL: would fail on a standby
    sql << "create table " + table + " (id integer, name varchar(20))";
    int id = 1;
    std::string name = "plain";
    sql << "insert into " + table + " (id, name) values (:id, :name)", soci::use(id), soci::use(name);

    std::string got;
    {
        soci::transaction tr(sql);  // on the primary: sees the row at once
        sql << "select name from " + table + " where id = 1", soci::into(got);
        tr.commit();
    }
    BOOST_TEST(got == "plain");
    sql << "drop table " + table;
}

BOOST_AUTO_TEST_CASE(plain_soci_connection_pool_of_routing_sessions)
{
    servers srv;
    soci::connection_pool pool(3);
    for (std::size_t i = 0; i != 3; ++i)
        pool.at(i).open("routing", routing_cs("sticky=0"));
    soci::session sql(pool);
    BOOST_TEST(srv.is_replica_port(port_of(sql)));
}
