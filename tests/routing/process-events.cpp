// What a process does around its routing sessions: fork() with sessions open or just closed, as pre-fork
// servers and daemons do; start a program; wait for signals. Run by
// routing_process_test (test-process-events.cpp), one scenario per process:
//
//   process-events parent-open | parent-closed | inherited | exec | signals
//
// A child process shares its parent's sockets. A connection both processes use carries two protocol streams
// at once (each may read the other's answers), and a child that closes an inherited connection closes the
// parent's. So the child must get connections of its own, and never touch the parent's: not use them, not
// close them, not wait for the parent's threads, which it did not inherit.
//
// A program the process starts (popen(), system(), fork() and exec) must not inherit a connection at all: it
// would hold an authenticated socket to the database, and keep the server's side of it open after the process
// that owned it is gone (with its transaction and locks, if it crashed mid-transaction). The `exec` scenario
// counts the sockets such a program finds open.
//
// A signal sent to the process (SIGTERM, SIGINT, SIGCHLD, ...) is delivered to any thread that does not block
// it. An application that waits for its signals with sigwait() in one thread, the others blocking them, must
// get every one: a thread of the router's may not take it (its handler would run there, or its default action
// end the process). The `signals` scenario blocks SIGUSR1 only after its session started the router's
// threads, as a server that sets up its signal thread after connecting does.
//
// It prints what each process saw: whether the child's connections are its own (the server's id of the
// connection differs from the parent's), whether the parent's are still the same and alive afterwards. A child
// that does not end within 30 s is killed and reported as hung.
//
// The cluster comes from the environment `ci/clusters env` prints (SOCI_ROUTING_TEST_DRIVER picks the driver);
// the connect string names the primary and one replica, so that every read of the parent meets the same
// replica connection.

#include "helper-env.h"

#include <soci/soci.h>

#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <memory>
#include <string>
#include <thread>

namespace
{

bool mysql()
{
    return helper_env::mysql();
}

std::string env(char const* name)
{
    return helper_env::get("process-events", name);
}

std::string connect_string()
{
    // linger: the parent's closed session leaves its cluster (and idle connections) in place for the child to
    // find, as a session closed just before a fork() does.
    if (mysql())
        return "routing://primary='mysql://" + env("SOCI_ROUTING_MYSQL_PRIMARY") + "' replica='"
            + env("SOCI_ROUTING_MYSQL_REPLICA_1") + "' sticky=0 linger=60";
    return "routing://primary='postgresql://" + env("SOCI_ROUTING_PG_PRIMARY") + "' replica='"
        + env("SOCI_ROUTING_PG_REPLICA_1") + "' sticky=0 linger=60";
}

/// The server's ids of the connections a session's statements ran on.
struct ids
{
    long long primary = 0;
    long long replica = 0;
};

// The row of the statement itself: no other connection is running it (the other process waits meanwhile).
long long connection_id(soci::session& sql)
{
    long long id = 0;
    if (mysql())
        sql << "SELECT ID FROM information_schema.PROCESSLIST WHERE COMMAND = 'Query' AND INFO LIKE '%fork_probe%'",
            soci::into(id);
    else
        sql << "SELECT pid FROM pg_stat_activity WHERE state = 'active' AND query LIKE '%fork_probe%'",
            soci::into(id);
    return id;
}

ids probe(soci::session& sql)
{
    ids out;
    sql.begin();  // in a transaction: on the primary
    out.primary = connection_id(sql);
    sql.commit();
    out.replica = connection_id(sql);  // a read: on the replica
    return out;
}

void say(std::string const& line)
{
    std::printf("%s\n", line.c_str());
    std::fflush(stdout);
}

std::string own(ids const& child, ids const& parent)
{
    return std::string("primary ") + (child.primary != parent.primary ? "own" : "shared") + ", replica "
        + (child.replica != parent.replica ? "own" : "shared");
}

std::string same(ids const& now, ids const& before)
{
    return std::string("primary ") + (now.primary == before.primary ? "same" : "changed") + ", replica "
        + (now.replica == before.replica ? "same" : "changed");
}

char const* statement_text()
{
    return mysql() ? "SELECT CAST(:n AS SIGNED) + 1 AS fork_value" : "SELECT CAST(:n AS INTEGER) + 1 AS fork_value";
}

/// Forks; the child runs `child` and exits with its status (1 on an exception). The parent waits for it (30 s
/// at most) and says how it ended.
template <typename F>
void in_child(F child)
{
#if defined(__SANITIZE_ADDRESS__)
    // AddressSanitizer's allocator (GCC 12) is not fork-safe: a child forked while another thread is inside it
    // can wait for ever on a lock of it (seen: parent-closed, the cluster keeper's thread starting as the
    // parent's session closed). glibc's malloc takes its locks around fork(). Under ASan, the router's threads
    // get a moment to settle first.
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
#endif
    std::fflush(stdout);
    pid_t const pid = fork();
    if (pid < 0)
    {
        std::perror("process-events: fork");
        std::exit(2);
    }
    if (pid == 0)
    {
        try
        {
            child();
        }
        catch (std::exception const& e)
        {
            say(std::string("child: error: ") + e.what());
            std::exit(1);
        }
        std::exit(0);  // runs the exit handlers and static destructors, as a child that ends normally does
    }
    int status = 0;
    auto const deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    for (;;)
    {
        pid_t const r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            break;
        if (std::chrono::steady_clock::now() > deadline)
        {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            say("child: hung");
            return;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (WIFEXITED(status))
        say("child: exited " + std::to_string(WEXITSTATUS(status)));
    else
        say("child: killed by signal " + std::to_string(WTERMSIG(status)));
}

// The parent keeps its session open; the child opens one of the same configuration.
void parent_open(std::string const& cs)
{
    soci::session sql(cs);
    ids const before = probe(sql);
    say("parent: probed");
    in_child([&] {
        soci::session mine(cs);
        say("child: " + own(probe(mine), before));
    });
    say("parent: " + same(probe(sql), before));
}

// The parent closes its session before the fork (its connections wait in the pools for `linger`).
void parent_closed(std::string const& cs)
{
    ids before;
    {
        soci::session sql(cs);
        before = probe(sql);
    }
    say("parent: probed");
    in_child([&] {
        soci::session mine(cs);
        say("child: " + own(probe(mine), before));
    });
    soci::session again(cs);
    say("parent: " + same(probe(again), before));
}

// The child uses the session and the prepared statement it inherited, then reconnects the session.
void inherited(std::string const& cs)
{
    soci::session sql(cs);
    ids const before = probe(sql);
    say("parent: probed");
    int n = 1;
    long long value = 0;
    auto st = std::make_unique<soci::statement>((sql.prepare << statement_text(), soci::use(n), soci::into(value)));
    st->execute(true);
    say("parent: statement " + std::to_string(value));
    in_child([&] {
        try
        {
            st->execute(true);
            say("child: statement ran, " + std::to_string(value));
        }
        catch (soci::soci_error const& e)
        {
            bool const named = std::string(e.what()).find("fork()") != std::string::npos;
            say(named ? "child: statement refused" : std::string("child: statement failed: ") + e.what());
        }
        try
        {
            probe(sql);
            say("child: session ran");
        }
        catch (soci::soci_error const& e)
        {
            bool const named = std::string(e.what()).find("fork()") != std::string::npos;
            say(named ? "child: session refused" : std::string("child: session failed: ") + e.what());
        }
        say(std::string("child: connected ") + (sql.is_connected() ? "yes" : "no"));
        st.reset();  // the parent's prepared statement must stay
        sql.reconnect();
        say("child: reconnected, " + own(probe(sql), before));
    });
    value = 0;
    st->execute(true);
    say("parent: statement " + std::to_string(value));
    say("parent: " + same(probe(sql), before));
}

// A program started while the session's pooled connections are open (to the primary and the replica).
void exec(std::string const& cs)
{
    soci::session sql(cs);
    probe(sql);
    say("parent: probed");
    std::fflush(stdout);
    FILE* listing = popen("ls -l /proc/self/fd", "r");
    if (listing == nullptr)
    {
        std::perror("process-events: popen");
        std::exit(2);
    }
    int sockets = 0;
    char line[512];
    while (std::fgets(line, sizeof line, listing) != nullptr)
        sockets += std::string(line).find("socket:") != std::string::npos ? 1 : 0;
    if (pclose(listing) != 0)
    {
        std::fprintf(stderr, "process-events: ls failed\n");
        std::exit(2);
    }
    say("exec: " + std::to_string(sockets) + " sockets inherited");
}

std::atomic<int> handled_elsewhere{0};

// Process-directed signals after the router's threads started: each must wait, pending, for the thread that
// waits for it.
void signals(std::string const& cs)
{
    struct sigaction action = {};
    action.sa_handler = [](int) { handled_elsewhere.fetch_add(1); };
    sigemptyset(&action.sa_mask);
    sigaction(SIGUSR1, &action, nullptr);
    sigset_t usr1;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);

    soci::session sql(cs);
    probe(sql);  // the cluster's threads run now (and the statements' watchdog)
    say("parent: probed");
    pthread_sigmask(SIG_BLOCK, &usr1, nullptr);  // from now on this thread takes SIGUSR1 with sigtimedwait()
    int const sent = 20;
    int waited = 0;
    for (int i = 0; i != sent; ++i)
    {
        kill(getpid(), SIGUSR1);
        timespec const second{1, 0};
        if (sigtimedwait(&usr1, nullptr, &second) == SIGUSR1)
            ++waited;
        probe(sql);
    }
    say("signals: " + std::to_string(waited) + " of " + std::to_string(sent) + " waited for, "
        + std::to_string(handled_elsewhere.load()) + " handled on other threads");
}

} // namespace

int main(int argc, char** argv)
{
    std::string const scenario = argc > 1 ? argv[1] : "";
    std::string const cs = connect_string();
    try
    {
        if (scenario == "parent-open")
            parent_open(cs);
        else if (scenario == "parent-closed")
            parent_closed(cs);
        else if (scenario == "inherited")
            inherited(cs);
        else if (scenario == "exec")
            exec(cs);
        else if (scenario == "signals")
            signals(cs);
        else
        {
            std::fprintf(stderr, "usage: process-events parent-open | parent-closed | inherited | exec | signals\n");
            return 2;
        }
    }
    catch (std::exception const& e)
    {
        say(std::string("parent: error: ") + e.what());
        return 1;
    }
    return 0;
}
