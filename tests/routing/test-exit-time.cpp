// Routing sessions that outlive main(): a static soci::session, a static soci::connection_pool of routing
// sessions, a statement in an atexit handler, a session opened at exit; and a worker thread's thread_local
// session, closed as the thread ends. Each scenario runs in its own process (exit-time-sessions.cpp),
// which must end normally with every statement answered: the plugin must not touch the main thread's
// thread_local objects once the process has destroyed them, nor anything else destroyed before the
// application's statics.

#define BOOST_TEST_MODULE routing_exit
#include <boost/test/unit_test.hpp>

#include "helper-process.h"

#include <string>

namespace
{

void check(std::string const& scenario, std::string const& expected)
{
    helper_process::check(EXIT_TIME_SESSIONS, scenario, expected);
}

} // namespace

BOOST_AUTO_TEST_SUITE(routing_exit)

BOOST_AUTO_TEST_CASE(static_routing_session_runs_and_closes_after_main_returns)
{
    check("static-session", "main: 1\nrequest: 2\nexit: 2\nclosed\n");
}

BOOST_AUTO_TEST_CASE(static_connection_pool_of_routing_sessions_closes_after_main_returns)
{
    check("static-pool", "main: 1\nrequest: 2\nexit: 2\nclosed\n");
}

BOOST_AUTO_TEST_CASE(statement_in_an_atexit_handler_runs_on_a_function_static_session)
{
    check("function-static", "main: 1\nrequest: 2\nexit: 2\n");
}

BOOST_AUTO_TEST_CASE(thread_local_routing_session_runs_and_closes_when_its_thread_ends)
{
    check("thread-local", "thread: 1\nthread request: 2\nthread exit: 2\nthread closed\nmain: 1\nrequest: 2\n");
}

BOOST_AUTO_TEST_CASE(routing_session_opened_at_exit_shares_the_cluster_of_a_static_one)
{
    check("open-at-exit", "main: 1\nmain: 1\nmain: 1\nmain: 1\nrequest: 2\nexit: 2\nclosed\nexit: 2\nclosed\n");
}

BOOST_AUTO_TEST_SUITE_END()
