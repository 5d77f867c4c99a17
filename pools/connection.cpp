// soci-routing: what a pool knows of a connection's server session — its transaction status, whether it is
// alive — and how a connection is made clean before another borrower gets it.
//
// Both drivers keep the server's last word on the transaction in the client library: libpq's
// PQtransactionStatus (from every ReadyForQuery) and MySQL's server status flags (from every OK/EOF packet).
// Reading them costs nothing; only MySQL after an error needs a round trip (an error packet carries no status).

#include "pools.h"
#include "pools-detail.h"

#include "causal.h"
#include "soci-internals.h"

#include <libpq-fe.h>
#include <mysql.h>

#include <fcntl.h>

namespace soci_routing
{

namespace
{

// A pool's sessions are opened with its endpoint's driver (detail::open_session), so the driver says which
// backend class they are. (Debian's SOCI exports no typeinfo for them: dynamic_cast would not link.)
PGconn* pg_conn(soci::session& sql) noexcept
{
    return soci_internals::pg_connection(sql);
}

MYSQL* my_conn(soci::session& sql) noexcept
{
    return soci_internals::mysql_connection(sql);
}

} // namespace

bool detail::mysql_encrypted(soci::session& sql) noexcept
{
    MYSQL* conn = my_conn(sql);
    return conn != nullptr && mysql_get_ssl_cipher(conn) != nullptr;
}

namespace
{

unsigned my_server_status(MYSQL* conn) noexcept
{
    unsigned status = 0;
    if (mariadb_get_infov(conn, MARIADB_CONNECTION_SERVER_STATUS, &status) != 0)
        return 0;
    return status;
}

/// Runs `sql` (one or more statements) on a PostgreSQL connection; true when every statement succeeded.
bool pg_exec(PGconn* conn, char const* sql) noexcept
{
    PGresult* r = PQexec(conn, sql);
    if (r == nullptr)
        return false;
    bool ok = true;
    // PQexec returns the last result; an error stops the string there and is that last result.
    ExecStatusType const st = PQresultStatus(r);
    ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_EMPTY_QUERY;
    PQclear(r);
    return ok && PQstatus(conn) == CONNECTION_OK;
}

// Everything DISCARD ALL resets except DEALLOCATE ALL and DISCARD PLANS: the connection's prepared statements
// (the statement cache's) survive; SQL-level PREPARE is reset with DISCARD ALL instead (dirt_prepared).
// `SET SESSION AUTHORIZATION DEFAULT` first, as DISCARD ALL does: RESET ALL does not undo it.
constexpr char const* pg_reset_session =
    "SET SESSION AUTHORIZATION DEFAULT; RESET ALL; CLOSE ALL; UNLISTEN *; SELECT pg_advisory_unlock_all(); "
    "DISCARD TEMP; DISCARD SEQUENCES";

} // namespace

server_transaction transaction_status(soci::session& sql, driver d) noexcept
{
    if (d == driver::postgresql)
    {
        PGconn* conn = pg_conn(sql);
        if (conn == nullptr || PQstatus(conn) != CONNECTION_OK)
            return server_transaction::unknown;
        switch (PQtransactionStatus(conn))
        {
        case PQTRANS_IDLE: return server_transaction::idle;
        case PQTRANS_INTRANS:
        case PQTRANS_INERROR: return server_transaction::open;
        default: return server_transaction::unknown;  // a command in progress, or a bad connection
        }
    }
    MYSQL* conn = my_conn(sql);
    if (conn == nullptr)
        return server_transaction::unknown;
    return (my_server_status(conn) & SERVER_STATUS_IN_TRANS) != 0 ? server_transaction::open
                                                                   : server_transaction::idle;
}

bool refresh_transaction_status(soci::session& sql, driver d) noexcept
{
    if (d == driver::postgresql)
        return transaction_status(sql, d) != server_transaction::unknown;
    MYSQL* conn = my_conn(sql);
    // COM_PING's OK packet carries the server status flags.
    return conn != nullptr && mysql_ping(conn) == 0;
}

long long last_insert_id(soci::session& sql, driver d) noexcept
{
    if (d != driver::mysql)
        return 0;
    MYSQL* conn = my_conn(sql);
    return conn != nullptr ? static_cast<long long>(mysql_insert_id(conn)) : 0;
}

void keep_from_programs(soci::session& sql, driver d) noexcept
{
    // libpq marks its sockets close-on-exec itself; MariaDB Connector/C does not.
    if (d != driver::mysql)
        return;
    MYSQL* conn = my_conn(sql);
    if (conn == nullptr)
        return;
    int const fd = static_cast<int>(mysql_get_socket(conn));
    if (fd < 0)
        return;
    int const flags = fcntl(fd, F_GETFD);
    if (flags >= 0 && (flags & FD_CLOEXEC) == 0)
        fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
}

namespace detail
{

bool connection_alive(soci::session& sql, driver d) noexcept
{
    if (d == driver::postgresql)
    {
        PGconn* conn = pg_conn(sql);
        if (conn == nullptr || PQstatus(conn) != CONNECTION_OK)
            return false;
        // The empty query: one round trip, no parse, no plan.
        return pg_exec(conn, "") && PQtransactionStatus(conn) == PQTRANS_IDLE;
    }
    MYSQL* conn = my_conn(sql);
    return conn != nullptr && mysql_ping(conn) == 0;
}

clean_result make_clean(soci::session& sql, driver d, unsigned dirt, std::string const& database,
                        bool track_gtid) noexcept
{
    if (d == driver::postgresql)
    {
        PGconn* conn = pg_conn(sql);
        if (conn == nullptr || PQstatus(conn) != CONNECTION_OK)
            return clean_result::failed;
        bool rolled_back = false;
        switch (PQtransactionStatus(conn))
        {
        case PQTRANS_IDLE: break;
        case PQTRANS_INTRANS:
        case PQTRANS_INERROR:
            // A borrower that went away inside a transaction (an exception unwound the request): nothing of
            // it may commit with the next borrower's statements.
            if (!pg_exec(conn, "ROLLBACK"))
                return clean_result::failed;
            rolled_back = true;
            break;
        default: return clean_result::failed;  // a command still running: the connection is not reusable
        }
        if ((dirt & dirt_prepared) != 0)
            return pg_exec(conn, "DISCARD ALL") ? clean_result::reset_all : clean_result::failed;
        if ((dirt & (dirt_session | dirt_settings)) != 0)
            return pg_exec(conn, pg_reset_session) ? clean_result::reset : clean_result::failed;
        return rolled_back ? clean_result::reset : clean_result::clean;
    }

    MYSQL* conn = my_conn(sql);
    if (conn == nullptr)
        return clean_result::failed;
    if (dirt != dirt_none)
    {
        // Rolls back, drops temporary tables, releases GET_LOCK and LOCK TABLES, resets session and user
        // variables, SQL prepared statements and autocommit: everything COM_CHANGE_USER does, without
        // authenticating again.
        if (mysql_reset_connection(conn) != 0)
            return clean_result::failed;
        // ... but keeps the current database: a USE is undone here. Connector/C follows the current database
        // (session tracking), so a connection that never left its database costs no round trip.
        if (!database.empty() && (conn->db == nullptr || database != conn->db)
            && mysql_select_db(conn, database.c_str()) != 0)
            return clean_result::failed;
        if (track_gtid)
            mysql_track_last_gtid(sql);  // refused: commits' positions are read from the primary instead
        return clean_result::reset_all;
    }
    if ((my_server_status(conn) & SERVER_STATUS_IN_TRANS) != 0)
        return mysql_query(conn, "ROLLBACK") == 0 ? clean_result::reset : clean_result::failed;
    return clean_result::clean;
}

} // namespace detail
} // namespace soci_routing
