// soci-routing: what a session-state statement does to the server session, so that the router can carry it to
// other connections (replay) or know when it is gone (unpin).
//
// classify() says *that* a statement changes session state (classification::pins_session); session_effect()
// says *how*: a setting that can be replayed on any connection (SET search_path, SET NAMES, USE db, SET @v = 1),
// state that exists on one connection only (a temporary table, an advisory lock, LISTEN, a PREPAREd statement,
// @v assigned by a query, LOCK TABLES, a cursor WITH HOLD), or the statement that provably removes such state
// (DROP TABLE of the temporary table, pg_advisory_unlock_all(), UNLISTEN *, DEALLOCATE ALL, UNLOCK TABLES,
// DISCARD ALL, ...). Pure: no I/O, no global state. It runs only for statements that classify() marked as
// session state (rare), so it may allocate.

#ifndef SOCI_ROUTING_SESSION_EFFECT_H_INCLUDED
#define SOCI_ROUTING_SESSION_EFFECT_H_INCLUDED

#include "classifier.h"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace soci_routing
{

/// What kind of session state a statement creates or removes.
enum class effect_kind : std::uint8_t
{
    none,       ///< no session state to track: SET LOCAL / SET TRANSACTION / SET CONSTRAINTS (PostgreSQL, this
                ///< transaction only), SET GLOBAL / SET PERSIST (server-wide, not this session), a statement
                ///< classify() did not mark as session state
    setting,    ///< replayable: `keys` are the variables it sets (SET, RESET x, SET x TO DEFAULT, SET NAMES, ...)
    reset_all,  ///< PostgreSQL RESET ALL: every setting back to its default (pinned state stays)
    discard,    ///< PostgreSQL DISCARD ALL / DISCARD TEMP (TEMPORARY) / DISCARD PLANS / DISCARD SEQUENCES:
                ///< `releases` says what is gone (all causes for DISCARD ALL, with `resets_settings`)
    pin,        ///< creates state of one connection: `cause`, `objects` (the names it creates)
    unpin,      ///< removes such state: `cause`, `objects` (empty: every object of that cause)
    opaque,     ///< session state this analysis cannot follow: the session stays on the primary for good
};

/// Connection-bound state that pins a session to its primary connection until it is removed.
enum class pin_cause : std::uint8_t
{
    none,
    temp_table,         ///< CREATE TEMP[ORARY] TABLE, SELECT ... INTO TEMP (PostgreSQL), CREATE TEMPORARY TABLE
    advisory_lock,      ///< pg_advisory_lock / pg_try_advisory_lock (session level), MySQL GET_LOCK
    listen,             ///< LISTEN channel
    prepared,           ///< SQL-level PREPARE name
    user_variable,      ///< MySQL @v assigned by a query (SET @v = (SELECT ...), SELECT ... INTO @v, @v := ...)
    table_lock,         ///< MySQL LOCK TABLES
    cursor,             ///< DECLARE name CURSOR (WITH HOLD outlives the transaction)
    next_transaction,   ///< MySQL SET TRANSACTION ... outside a transaction: characteristics of the next one
    count_              ///< number of causes (not a cause)
};

/// The stable name of a cause ("temp_table", ...), for stats and messages.
char const* to_string(pin_cause c) noexcept;
/// The stable name of a kind ("setting", ...).
char const* to_string(effect_kind k) noexcept;

/// What one statement does to the session.
struct session_effect_info
{
    effect_kind kind = effect_kind::none;

    // setting
    /// Variables set, lower case, unquoted; dialect-specific canonical names so that two spellings of one
    /// variable collapse: PostgreSQL `SET TIME ZONE x` -> "timezone", `SET NAMES x` -> "client_encoding",
    /// `SET SCHEMA x` -> "search_path", `SET SESSION x ...` -> "x", `SET ROLE` -> "role",
    /// `SET SESSION AUTHORIZATION` -> "session_authorization", `SET SESSION CHARACTERISTICS AS TRANSACTION`
    /// -> "default_transaction_characteristics"; MySQL `SET [SESSION | LOCAL | @@session. | @@local. | @@] x`
    /// -> "x", `SET NAMES` -> "names", `SET CHARACTER SET` / `SET CHARSET` -> "character set",
    /// `SET SESSION TRANSACTION ...` -> "session_transaction", `USE db` -> "use", `SET @v = 1` -> "@v" (user
    /// variables keep their case rules: MySQL user variable names are case-insensitive, lower-cased here).
    std::vector<std::string> keys;
    /// The statement only restores defaults (RESET x, SET x TO DEFAULT, SET x = DEFAULT): replaying it on a
    /// connection that never had x set changes nothing.
    bool restores_default = false;
    /// The value depends on the connection's current state (MySQL: it reads a variable, `@@sql_mode` or `@v`):
    /// earlier settings of the same keys must not be collapsed away.
    bool reads_session = false;

    // discard
    bool resets_settings = false;                 ///< DISCARD ALL
    bool releases[static_cast<int>(pin_cause::count_)] = {};  ///< by cause: DISCARD ALL all, DISCARD TEMP temp_table

    // pin / unpin
    pin_cause cause = pin_cause::none;
    /// Names of the objects created or removed, normalised (lower case unless quoted; PostgreSQL advisory
    /// lock keys as their argument text without spaces, e.g. "1" or "1,2"; MySQL GET_LOCK names as the string
    /// value). Empty for unpin: every object of the cause (UNLISTEN *, DEALLOCATE ALL, pg_advisory_unlock_all(),
    /// RELEASE_ALL_LOCKS(), UNLOCK TABLES, CLOSE ALL).
    std::vector<std::string> objects;
};

/// What `sql` (classified as `c`) does to the session. `c.pins_session` false and not one of the releasing
/// statements (DROP TABLE, UNLISTEN, DEALLOCATE, pg_advisory_unlock*, RELEASE_LOCK, RELEASE_ALL_LOCKS,
/// UNLOCK TABLES, CLOSE, DISCARD): effect_kind::none. Several statements in one text, or anything not
/// recognised with certainty: opaque (the safe answer: the session stays on the primary).
session_effect_info session_effect(std::string_view sql, dialect d, classification const& c);

} // namespace soci_routing

#endif // SOCI_ROUTING_SESSION_EFFECT_H_INCLUDED
