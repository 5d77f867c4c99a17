// soci-routing: the mode a statement that starts a transaction asks for (BEGIN READ ONLY, START TRANSACTION
// ISOLATION LEVEL SERIALIZABLE, READ ONLY, ...), for running read-only transactions on a replica. Pure: no I/O,
// no allocation.

#ifndef SOCI_ROUTING_TRANSACTION_MODE_H_INCLUDED
#define SOCI_ROUTING_TRANSACTION_MODE_H_INCLUDED

#include "classifier.h"

#include <string_view>

namespace soci_routing
{

struct transaction_mode
{
    bool starts = false;        ///< the text is one statement that starts a transaction, fully understood
    bool read_only = false;     ///< READ ONLY
    bool serializable = false;  ///< ISOLATION LEVEL SERIALIZABLE (a PostgreSQL standby refuses it)
};

/// The mode of `sql` when it is one BEGIN / START TRANSACTION statement (PostgreSQL: BEGIN [WORK | TRANSACTION]
/// and START TRANSACTION with ISOLATION LEVEL, READ ONLY / READ WRITE, [NOT] DEFERRABLE, separated by spaces or
/// commas; MySQL: START TRANSACTION with READ ONLY / READ WRITE / WITH CONSISTENT SNAPSHOT, separated by commas,
/// and BEGIN [WORK]). Anything else, or anything not understood: `starts` false.
transaction_mode transaction_mode_of(std::string_view sql, dialect d) noexcept;

/// The same for one `SET TRANSACTION <modes>` statement (the current transaction's modes on PostgreSQL, the next
/// transaction's on MySQL); `starts` says it was understood.
transaction_mode set_transaction_mode_of(std::string_view sql, dialect d) noexcept;

/// True when `sql` begins a read-only transaction a replica can run (READ ONLY, and on PostgreSQL not
/// SERIALIZABLE, which a hot standby refuses).
inline bool begins_replica_transaction(std::string_view sql, dialect d) noexcept
{
    transaction_mode const m = transaction_mode_of(sql, d);
    return m.starts && m.read_only && !(m.serializable && d == dialect::postgresql);
}

} // namespace soci_routing

#endif // SOCI_ROUTING_TRANSACTION_MODE_H_INCLUDED
