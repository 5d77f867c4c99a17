// soci-routing: the failure policy of DESIGN.md, as one function.

#include "pools.h"
#include "pools-detail.h"

#include "soci-internals.h"

#include <libpq-fe.h>

#include <cstring>

namespace soci_routing
{
namespace
{

bool pg_connection_bad(soci::session* inner)
{
    if (inner == nullptr)
        return false;
    soci::details::session_backend* any = inner->get_backend();
    // libsoci_postgresql does not export the typeinfo of its session backend: no dynamic_cast; its name
    // says what it is.
    if (any == nullptr || any->get_backend_name() != "postgresql")
        return false;
    PGconn* conn = soci_internals::pg_connection(*inner);
    return conn == nullptr || PQstatus(conn) != CONNECTION_OK;
}

failure_class classify_sqlstate(std::string const& state)
{
    // Class 08: connection exceptions. 57P01/57P02: the server is shutting down (admin, crash);
    // 57P03: it cannot accept connections now (starting up, recovering); 57P05: it closed an idle session
    // (idle_session_timeout).
    if (state.compare(0, 2, "08") == 0 || state == "57P01" || state == "57P02" || state == "57P03"
        || state == "57P05")
        return failure_class::connection;
    // 57014: statement timeout or cancel; 40001: serialization failure, which a hot standby also raises
    // for a recovery conflict; 25006: read-only transaction. The primary may well succeed.
    if (state == "57014" || state == "40001" || state == "25006")
        return failure_class::transient;
    return failure_class::statement;
}

failure_class classify_mysql(int err)
{
    switch (err)
    {
    case 2002:  // CR_CONNECTION_ERROR (socket)
    case 2003:  // CR_CONN_HOST_ERROR
    case 2005:  // CR_UNKNOWN_HOST
    case 2006:  // CR_SERVER_GONE_ERROR
    case 2013:  // CR_SERVER_LOST
    case 2026:  // CR_SSL_CONNECTION_ERROR
    case 2055:  // CR_SERVER_LOST_EXTENDED
    case 1927:  // ER_CONNECTION_KILLED
    case 1040:  // ER_CON_COUNT_ERROR: too many connections
    case 1053:  // ER_SERVER_SHUTDOWN
    case 1129:  // ER_HOST_IS_BLOCKED
    case 1130:  // ER_HOST_NOT_PRIVILEGED
        return failure_class::connection;
    case 1290:  // ER_OPTION_PREVENTS_STATEMENT (--read-only)
    case 1792:  // ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION
    case 3024:  // ER_QUERY_TIMEOUT (MySQL max_execution_time)
    case 1969:  // ER_STATEMENT_TIMEOUT (MariaDB max_statement_time)
    case 1205:  // ER_LOCK_WAIT_TIMEOUT: a replica's applier may hold the lock; the primary may not
        return failure_class::transient;
    default:
        return failure_class::statement;
    }
}

} // namespace

bool refused_as_read_only(std::exception const& e, driver d) noexcept
{
    (void)d;
    try
    {
        if (auto const* pe = dynamic_cast<soci::postgresql_soci_error const*>(&e))
            return pe->sqlstate() == "25006";
        if (auto const* me = dynamic_cast<soci::mysql_soci_error const*>(&e))
            return me->err_num_ == 1290 || me->err_num_ == 1792;
    }
    catch (...)
    {
    }
    return false;
}

namespace detail
{

bool server_in_transition(std::exception const& e, driver d) noexcept
{
    try
    {
        if (auto const* pe = dynamic_cast<soci::postgresql_soci_error const*>(&e))
        {
            std::string const state = pe->sqlstate();
            if (state == "57P01" || state == "57P03")
                return true;
        }
        if (auto const* me = dynamic_cast<soci::mysql_soci_error const*>(&e))
            return me->err_num_ == 1053;  // ER_SERVER_SHUTDOWN
        if (d != driver::postgresql)
            return false;
        // A failed PostgreSQL connect is a plain soci_error with libpq's message.
        std::string const message = e.what();
        for (char const* text : {"the database system is starting up", "the database system is shutting down",
                                 "the database system is not yet accepting connections",
                                 "the database system is in recovery mode"})
        {
            if (message.find(text) != std::string::npos)
                return true;
        }
    }
    catch (...)
    {
    }
    return false;
}

} // namespace detail

bool local_connect_failure(std::exception const& e, driver d) noexcept
{
    try
    {
        if (auto const* me = dynamic_cast<soci::mysql_soci_error const*>(&e))
            return me->err_num_ == 2001 || me->err_num_ == 2004 || me->err_num_ == 2008;
        if (d != driver::postgresql)
            return false;
        // A failed PostgreSQL connect is a plain soci_error with libpq's message.
        std::string const message = e.what();
        // libpq's own "out of memory"; a server's comes as "FATAL:  out of memory".
        return message.find("could not create socket") != std::string::npos
            || (message.find("out of memory") != std::string::npos && message.find("FATAL") == std::string::npos);
    }
    catch (...)
    {
    }
    return false;
}

char const* to_string(failure_class f) noexcept
{
    switch (f)
    {
    case failure_class::connection: return "connection";
    case failure_class::transient: return "transient";
    case failure_class::statement: return "statement";
    }
    return "statement";
}

failure_class classify_failure(std::exception const& e, driver d, soci::session* inner) noexcept
{
    try
    {
        // A broken connection is a connection failure whatever the error said.
        if (d == driver::postgresql && pg_connection_bad(inner))
            return failure_class::connection;
        if (auto const* pe = dynamic_cast<soci::postgresql_soci_error const*>(&e))
            return classify_sqlstate(pe->sqlstate());
        if (auto const* me = dynamic_cast<soci::mysql_soci_error const*>(&e))
            return classify_mysql(me->err_num_);
        if (auto const* se = dynamic_cast<soci::soci_error const*>(&e))
        {
            // A PostgreSQL connect failure is a plain soci_error.
            std::string const message = se->get_error_message();
            if (message.rfind("Cannot establish connection", 0) == 0
                || se->get_error_category() == soci::soci_error::connection_error)
                return failure_class::connection;
        }
    }
    catch (...)
    {
    }
    return failure_class::statement;
}

} // namespace soci_routing
