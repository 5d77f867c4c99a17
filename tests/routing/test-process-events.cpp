// A process's events around its routing sessions: fork() (a pre-fork server's workers, a daemon that checks its
// database and then forks), a program it starts, signals it waits for. A child of fork() inherits the parent's
// sessions and pools as memory only: their connections are the parent's sockets, their threads stayed in the
// parent, their locks may be held by one of those threads. Each scenario runs in its own process
// (process-events.cpp), which reports what it (and its child) saw.

#define BOOST_TEST_MODULE routing_process
#include <boost/test/unit_test.hpp>

#include "helper-process.h"

#include <string>

namespace
{

void check(std::string const& scenario, std::string const& expected)
{
    helper_process::check(PROCESS_EVENTS, scenario, expected);
}

} // namespace

BOOST_AUTO_TEST_SUITE(routing_process)

// The child's session gets connections of its own, the child ends, and the parent's connections are intact.
BOOST_AUTO_TEST_CASE(child_gets_its_own_connections_while_the_parent_keeps_its_session)
{
    check("parent-open", "parent: probed\n"
                         "child: primary own, replica own\n"
                         "child: exited 0\n"
                         "parent: primary same, replica same\n");
}

// The parent's pooled connections outlive its session (linger): the child neither takes them nor closes them,
// and it ends without waiting for the parent's threads.
BOOST_AUTO_TEST_CASE(child_neither_takes_nor_closes_the_connections_its_parent_pooled)
{
    check("parent-closed", "parent: probed\n"
                           "child: primary own, replica own\n"
                           "child: exited 0\n"
                           "parent: primary same, replica same\n");
}

// A session or statement opened before fork() refuses to run in the child, naming fork(), and reports itself
// not connected; reconnect() gives it connections of the child's own. The parent's prepared statement and
// connections are untouched by the child's destroying its copies.
BOOST_AUTO_TEST_CASE(session_opened_before_fork_refuses_in_the_child_until_reconnected)
{
    check("inherited", "parent: probed\n"
                       "parent: statement 2\n"
                       "child: statement refused\n"
                       "child: session refused\n"
                       "child: connected no\n"
                       "child: reconnected, primary own, replica own\n"
                       "child: exited 0\n"
                       "parent: statement 2\n"
                       "parent: primary same, replica same\n");
}

// A program the process starts (popen) finds none of the pooled connections open: an authenticated socket to
// the database is not its to have, and it would keep the server's side open after the owner is gone.
BOOST_AUTO_TEST_CASE(programs_the_process_starts_inherit_no_connection)
{
    check("exec", "parent: probed\n"
                  "exec: 0 sockets inherited\n");
}

// A process-directed signal waits for the application's thread that waits for it (sigwait), never lands on a
// thread of the router's: that thread's handler would run there, or the signal's default action end the process.
BOOST_AUTO_TEST_CASE(signals_sent_to_the_process_reach_the_thread_that_waits_for_them)
{
    check("signals", "parent: probed\n"
                     "signals: 20 of 20 waited for, 0 handled on other threads\n");
}

BOOST_AUTO_TEST_SUITE_END()
