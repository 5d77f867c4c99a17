// soci-routing failover tests: the module, and the state of the cluster every test starts from.

#define BOOST_TEST_MODULE soci_routing_failover
#include <boost/test/unit_test.hpp>

#include "failover-support.h"

#include <iostream>

using namespace failover_test;

namespace
{

// Every test starts from a whole cluster: all three PostgreSQL nodes running, replay not paused, and the table
// the tests write to. A standby left down or paused by a run that was killed half-way is brought back; a
// primary that is down means the cluster is not started (or someone stopped it): that is an error, not
// something to fix behind their back.
struct whole_cluster
{
    whole_cluster()
    {
        test_cluster const& c = cluster();  // throws, naming the missing variable, without the environment
        try
        {
            direct(c.primary);
        }
        catch (std::exception const& e)
        {
            throw std::runtime_error(std::string("the PostgreSQL test cluster's primary is not reachable (start it "
                                                 "with `ci/clusters start pg`): ")
                                     + e.what());
        }
        struct node
        {
            char const* name;
            pg_server const& server;
        };
        for (node const& n : {node{"pg-replica-1", c.replica_1}, node{"pg-replica-2", c.replica_2}})
        {
            try
            {
                direct(n.server);
            }
            catch (std::exception const& e)
            {
                std::cerr << "failover tests: " << n.name << " is not reachable (" << e.what() << "); starting it"
                          << std::endl;
                if (!node_guard().start(n.name))
                    throw std::runtime_error(std::string("cannot start ") + n.name + " with ci/clusters");
            }
            auto sql = direct(n.server);
            *sql << "SELECT pg_wal_replay_resume()";
        }
        auto sql = direct(c.primary);
        int exists = 0;
        *sql << "SELECT (to_regclass(:t) IS NOT NULL)::int", soci::use(writes_table()), soci::into(exists);
        if (!exists)
            *sql << "CREATE TABLE IF NOT EXISTS " + writes_table()
                    + " (id bigserial PRIMARY KEY, tag text NOT NULL, v integer NOT NULL DEFAULT 0)";
    }
};

} // namespace

BOOST_TEST_GLOBAL_FIXTURE(whole_cluster);
