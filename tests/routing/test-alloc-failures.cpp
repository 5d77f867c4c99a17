// A process out of memory: the router's 0th, 1st, 2nd, ... allocation refused with std::bad_alloc (one per run),
// while sessions open, run statements and read stats. The process must not crash, the
// application must get std::bad_alloc or a soci_error, and once memory is back every session of the cluster must
// get its connections. The helper (alloc-failures.cpp) defines operator new; the servers are real.

#define BOOST_TEST_MODULE routing_alloc_failures
#include <boost/test/unit_test.hpp>

#include "helper-process.h"

BOOST_AUTO_TEST_SUITE(routing_alloc_failures)

BOOST_AUTO_TEST_CASE(an_allocation_the_router_cannot_make_is_an_exception_never_a_crash_nor_a_lost_connection)
{
    helper_process::check(ALLOC_FAILURES, "",
                          "started\n"
                          "open and use with allocations refused: every run clean\n"
                          "statements with allocations refused: every run clean\n"
                          "afterwards: statements ok, some allocations refused, no connection lent\n");
}

BOOST_AUTO_TEST_SUITE_END()
