// soci-routing failover tests: the module, and the state of the cluster every test starts from.

#define BOOST_TEST_MODULE soci_routing_failover
#include <boost/test/unit_test.hpp>

#include "failover-support.h"

#include <cstdlib>
#include <iostream>

using namespace failover_test;

namespace
{

// Every test starts from a whole cluster: every node running, replication not paused, and the table the tests
// write to. A replica left down or paused by a run that was killed half-way is brought back; a primary that
// is down means the cluster is not started (or someone stopped it): that is an error, not something to fix
// behind their back.
struct whole_cluster
{
    whole_cluster()
    {
        test_cluster const& c = cluster();  // throws, naming the missing variable, without the environment
        BOOST_TEST_MESSAGE("failover tests on the " << c.driver << " cluster (SOCI_ROUTING_TEST_DRIVER)");
        // A case run by another case in a process of its own (test-causal.cpp) finds the cluster as its parent
        // left it, replication paused included.
        if (std::getenv("SOCI_ROUTING_TEST_CHILD") != nullptr)
            return;
        try
        {
            direct(c.primary);
        }
        catch (std::exception const& e)
        {
            throw std::runtime_error("the " + c.driver + " test cluster's primary is not reachable (start it with "
                                     "`ci/clusters start`): " + e.what());
        }
        for (std::size_t i = 0; i < c.replicas.size(); ++i)
        {
            server const& r = c.replicas[i];
            try
            {
                direct(r);
            }
            catch (std::exception const& e)
            {
                std::cerr << "failover tests: " << r.node << " is not reachable (" << e.what() << "); starting it"
                          << std::endl;
                if (!node_guard().start(r.node))
                    throw std::runtime_error("cannot start " + r.node + " with ci/clusters");
            }
            auto sql = direct(r);
            if (c.is_pg())
                *sql << "SELECT pg_wal_replay_resume()";
            else
            {
                *sql << "START SLAVE";  // a note, not an error, when it runs
                // The query-timeout test sets a global statement limit on the replica for a moment.
                double limit = 0;
                *sql << "SELECT @@global.max_statement_time", soci::into(limit);
                if (limit != 0)
                {
                    std::cerr << "failover tests: " << r.node << " has max_statement_time = " << limit
                              << " left by an interrupted run; resetting it" << std::endl;
                    *mysql_root(r) << "SET GLOBAL max_statement_time = 0";
                }
            }
        }
        auto sql = direct(c.primary);
        int exists = 0;
        if (c.is_pg())
            *sql << "SELECT (to_regclass(:t) IS NOT NULL)::int", soci::use(writes_table()), soci::into(exists);
        else
            *sql << "SELECT count(*) FROM information_schema.TABLES"
                    " WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = :t",
                soci::use(writes_table()), soci::into(exists);
        if (exists)
            return;
        if (c.is_pg())
            *sql << "CREATE TABLE IF NOT EXISTS " + writes_table()
                    + " (id bigserial PRIMARY KEY, tag text NOT NULL, v integer NOT NULL DEFAULT 0)";
        else
            *sql << "CREATE TABLE IF NOT EXISTS " + writes_table()
                    + " (id BIGINT AUTO_INCREMENT PRIMARY KEY, tag VARCHAR(200) NOT NULL, v INT NOT NULL DEFAULT 0)";
    }
};

} // namespace

BOOST_TEST_GLOBAL_FIXTURE(whole_cluster);
