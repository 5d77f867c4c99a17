// A process at its thread limit (a container's pid limit, RLIMIT_NPROC): every thread the router would start is
// refused, from the first, the second, ... on. The process must not crash, and the application must get a
// soci_error naming the thread, or its work done without the thread. The helper (thread-refusals.cpp) makes
// pthread_create() refuse as the kernel does; the servers are real.

#define BOOST_TEST_MODULE routing_thread_refusals
#include <boost/test/unit_test.hpp>

#include "helper-process.h"

BOOST_AUTO_TEST_SUITE(routing_thread_refusals)

BOOST_AUTO_TEST_CASE(a_thread_the_router_cannot_start_is_an_error_naming_it_never_a_crash)
{
    helper_process::check(THREAD_REFUSALS, "",
                          "started\n"
                          "open, starts refused after 0..11: 12 of 12 clean, some refused with the thread named, "
                          "some opened\n"
                          "statements with no thread to start: ran, the watchdog's start refused\n"
                          "check with no thread to start: primary ready, reads servable\n"
                          "closed with no thread to start\n"
                          "topology rounds with no thread to start: probe threads refused, roles as before, "
                          "statements ran\n"
                          "afterwards: statements ok, some starts refused\n");
}

BOOST_AUTO_TEST_SUITE_END()
