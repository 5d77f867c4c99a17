// soci-routing: every place where the project reaches past SOCI's backend interface (soci-backend.h) into the
// members of SOCI 4.0.3's postgresql and mysql backend classes. Nothing else in pools/ or backend/ names those
// members; porting to another SOCI version starts here.
//
// Why reach in at all: the pools read the client library's view of a connection (libpq's transaction status,
// MySQL's server status flags, the socket for the read watchdog, TLS state) without a round trip, and the
// statement cache makes a one-time postgresql statement execute a server-side prepared statement by name.
// SOCI 4.0.3 declares these members public in <soci/postgresql/soci-postgresql.h> and <soci/mysql/soci-mysql.h>;
// Debian's libsoci_postgresql/libsoci_mysql export no typeinfo for the classes, so a session's backend is cast
// with static_cast after checking its driver (the callers know it from their endpoint, or ask
// get_backend_name()).
//
// SOCI 4.1 (not packaged for Debian 12; nothing here has been built against it):
//  - the plugin's file name follows SOCI's ABI version: SOVERSION 4.1 in backend/CMakeLists.txt
//    (libsoci_routing.so.4.1), and the package depends on libsoci-core4.1 and its backends;
//  - the members used below (postgresql_session_backend::conn_ and single_row_mode_, postgresql_statement_backend
//    ::query_, names_, statementName_ and stType_, mysql_session_backend::conn_) must be checked against 4.1's
//    headers: each accessor here is the one line to change;
//  - the routing backend classes override soci::details::*_backend (backend/soci-routing-backend.h): any
//    signature 4.1 changed there (column description types, integer exchange types) is a compile error in that
//    one header and its definitions, never a silent mismatch, because every override is marked `override`.

#ifndef SOCI_ROUTING_SOCI_INTERNALS_H
#define SOCI_ROUTING_SOCI_INTERNALS_H

#include <soci/mysql/soci-mysql.h>
#include <soci/postgresql/soci-postgresql.h>
#include <soci/session.h>

#include <cstddef>
#include <string>

namespace soci_routing::soci_internals
{

/// The libpq connection of a session opened with the postgresql backend (nullptr if it has none).
inline PGconn* pg_connection(soci::session& sql) noexcept
{
    auto* b = static_cast<soci::postgresql_session_backend*>(sql.get_backend());
    return b != nullptr ? b->conn_ : nullptr;
}

/// The Connector/C handle of a session opened with the mysql backend (nullptr if it has none).
inline MYSQL* mysql_connection(soci::session& sql) noexcept
{
    auto* b = static_cast<soci::mysql_session_backend*>(sql.get_backend());
    return b != nullptr ? b->conn_ : nullptr;
}

/// True if the postgresql session fetches row by row (`singlerows=true` in its connect string).
inline bool pg_single_row_mode(soci::session& sql) noexcept
{
    auto* b = static_cast<soci::postgresql_session_backend*>(sql.get_backend());
    return b != nullptr && b->single_row_mode_;
}

/// A prepared postgresql statement's text as it goes to the server (`:name` already rewritten to `$n`).
inline std::string const& pg_server_text(soci::details::statement_backend& st) noexcept
{
    return static_cast<soci::postgresql_statement_backend&>(st).query_;
}

/// How many parameters the server text has.
inline std::size_t pg_parameter_count(soci::details::statement_backend& st) noexcept
{
    return static_cast<soci::postgresql_statement_backend&>(st).names_.size();
}

/// Makes a prepared (one-time) postgresql statement execute the server-side prepared statement `name`.
inline void pg_execute_by_name(soci::details::statement_backend& st, std::string const& name)
{
    auto& pg = static_cast<soci::postgresql_statement_backend&>(st);
    pg.stType_ = soci::details::st_repeatable_query;
    pg.statementName_ = name;
}

/// Undoes pg_execute_by_name(): the statement's destructor must not DEALLOCATE a name it does not own.
inline void pg_forget_name(soci::details::statement_backend& st) noexcept
{
    auto& pg = static_cast<soci::postgresql_statement_backend&>(st);
    pg.statementName_.clear();
    pg.stType_ = soci::details::st_one_time_query;
}

} // namespace soci_routing::soci_internals

#endif // SOCI_ROUTING_SOCI_INTERNALS_H
