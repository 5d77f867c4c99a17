// soci-routing: the SQL classifier.
//
// Decides, for one SQL statement, whether it may run on a read replica. It knows SQL text and nothing else:
// no I/O, no global state, no heap allocation, one pass over the text. Anything that is not a known-safe
// read is sent to the primary.

#ifndef SOCI_ROUTING_CLASSIFIER_H_INCLUDED
#define SOCI_ROUTING_CLASSIFIER_H_INCLUDED

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace soci_routing
{

/// The SQL dialect a statement is written in; it decides comment, quoting and keyword rules.
enum class dialect : std::uint8_t { postgresql, mysql };

/// Where a statement may run.
enum class target : std::uint8_t { replica, primary };

/// The broad kind of a statement.
enum class statement_kind : std::uint8_t
{
    read,                 ///< a known-safe read
    write,                ///< changes data or schema, or has side effects
    transaction_control,  ///< BEGIN, COMMIT, SAVEPOINT, ...
    session_state,        ///< SET, PREPARE, LISTEN, temporary tables, ...
    unknown               ///< empty, unparseable, or not recognised
};

/// The stable reason for a decision; `to_string()` gives the name used in logs, stats and the CLI.
enum class reason : std::uint8_t
{
    // replica
    select,                 ///< SELECT, VALUES, TABLE t
    show,                   ///< SHOW ...
    explain,                ///< EXPLAIN / DESCRIBE / DESC of a read, without ANALYZE
    cte_read,               ///< WITH ... whose every part is a read
    // primary
    write,                  ///< INSERT, UPDATE, DELETE, DDL, maintenance, any other first word
    locking_read,           ///< FOR UPDATE / FOR SHARE / LOCK IN SHARE MODE, anywhere
    select_into,            ///< SELECT ... INTO (a table, @v, OUTFILE, DUMPFILE), @v := ...
    explain_analyze,        ///< EXPLAIN ANALYZE (any syntax), MariaDB ANALYZE SELECT, EXPLAIN of a write
    cte_write,              ///< a data-modifying CTE
    side_effect_function,   ///< calls a function that writes or depends on the session
    multi_statement,        ///< more than one statement in the text
    transaction_control,    ///< BEGIN, COMMIT, ROLLBACK, SAVEPOINT, XA, ...
    session_state,          ///< SET, RESET, PREPARE, LISTEN, temp tables, LOCK, USE, ...
    hint,                   ///< a `/* soci-routing: primary */` hint comment
    unknown                 ///< empty, only comments, unterminated literal or comment, invalid bytes
};

/// The stable name of a reason ("select", "locking_read", ...).
char const* to_string(reason r) noexcept;
/// "replica" or "primary".
char const* to_string(target t) noexcept;
/// "read", "write", "transaction_control", "session_state" or "unknown".
char const* to_string(statement_kind k) noexcept;

/// Extra knobs; the classifier keeps no copy and allocates nothing.
struct classify_options
{
    /// Extra function names (lower case, unqualified) whose call sends a statement to the primary,
    /// with reason side_effect_function. Filled from the `[classifier] primary_functions` config key.
    std::string_view const* primary_functions = nullptr;
    std::size_t primary_function_count = 0;
};

/// The result of classifying one statement.
struct classification
{
    target where = target::primary;
    statement_kind kind = statement_kind::unknown;
    reason why = reason::unknown;
    bool begins_transaction = false;  ///< BEGIN, START TRANSACTION, XA START
    bool ends_transaction = false;    ///< COMMIT, ROLLBACK (not TO SAVEPOINT), END, ABORT, XA END/COMMIT/ROLLBACK
    bool pins_session = false;        ///< the statement changes session state: keep the session on the primary
    bool is_write = false;            ///< the statement may change data: starts the read-after-write window
};

/// Classifies one SQL statement. Never throws, never allocates.
classification classify(std::string_view sql, dialect d, classify_options const& options = {}) noexcept;

} // namespace soci_routing

#endif // SOCI_ROUTING_CLASSIFIER_H_INCLUDED
