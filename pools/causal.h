// soci-routing: causal positions (`[routing] consistency = "causal"`).
//
// A write is read back from a replica once that replica has replayed the write's position in the primary's
// history: a PostgreSQL WAL position (LSN) with its timeline, or MariaDB GTIDs (per replication domain, the
// sequence number and the server that wrote it). This file holds the position type, its merge and its token
// (the text form applications pass between processes), and the few queries that read positions and wait
// for a replica; the decisions are the backend's (statement.cpp).

#ifndef SOCI_ROUTING_CAUSAL_H_INCLUDED
#define SOCI_ROUTING_CAUSAL_H_INCLUDED

#include "config.h"

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace soci
{
class session;
}

namespace soci_routing
{

/// A point of the primary's history. Empty (nothing required) when it has no LSN and no domain.
struct causal_position
{
    /// PostgreSQL: the WAL position in bytes from 0/0 (0: none) and the timeline it was written on (0: unknown).
    std::uint64_t lsn = 0;
    std::uint32_t timeline = 0;

    /// MariaDB: one GTID per replication domain (the highest sequence number seen, and the server that wrote it).
    struct gtid
    {
        std::uint32_t server = 0;
        std::uint64_t seq = 0;
        bool operator==(gtid const& o) const noexcept { return server == o.server && seq == o.seq; }
    };
    std::map<std::uint32_t, gtid> domains;

    bool empty() const noexcept { return lsn == 0 && domains.empty(); }
    bool operator==(causal_position const& o) const noexcept
    {
        return lsn == o.lsn && timeline == o.timeline && domains == o.domains;
    }
};

/// Grows `into` to cover `p` too (positions of one scope never go back): PostgreSQL, the higher LSN on the
/// same timeline, `p` as a whole on a later one; MariaDB, the higher sequence number of each domain.
void merge(causal_position& into, causal_position const& p);

/// True when a replica that has replayed `replayed` has everything `required` names (LSN / each domain's
/// sequence number; timelines and servers are the caller's business: see same_history()).
bool covers(causal_position const& replayed, causal_position const& required) noexcept;

/// True when `required` belongs to the primary's current history as `primary` (the primary's own position,
/// read recently) describes it: the same timeline (PostgreSQL), and for each domain of `required` the
/// server that the primary's position names for it (MariaDB). A position from before a promotion is not:
/// its numbers may name writes the new primary never had.
bool same_history(causal_position const& required, causal_position const& primary) noexcept;

/// MariaDB GTID list text (`0-1-14,1-2-7`) as a position; nullopt when it is not one (MySQL's `uuid:1-5`).
std::optional<causal_position> parse_gtid_list(std::string_view text);
/// `0-1-14,1-2-7`.
std::string gtid_list(causal_position const& p);
/// PostgreSQL's text form of an LSN (`0/3000060`).
std::string lsn_text(std::uint64_t lsn);

/// The causal token of a position: `pg:TIMELINE:LSN` (`pg:1:0/3000060`) or `mariadb:GTIDS`
/// (`mariadb:0-1-14,1-2-7`); "" for the empty position.
std::string to_token(causal_position const& p, driver d);
/// Reads a token of driver `d`; "" is the empty position. Throws soci_error naming what is wrong (a token of
/// the other driver, a malformed one), never returns a silent default.
causal_position parse_token(std::string_view token, driver d);

/// The primary's position now (PostgreSQL: insert LSN and timeline; MariaDB: @@gtid_binlog_pos with the
/// servers). Covers every transaction committed before the call. Throws on error; nullopt where the server
/// has no such position (MySQL proper).
std::optional<causal_position> read_primary_position(soci::session& primary, driver d);

/// What replica `sql` has replayed (PostgreSQL pg_last_wal_replay_lsn(); MariaDB @@gtid_slave_pos). Throws on
/// a connection error; nullopt when unknown (not a standby, MySQL proper).
std::optional<causal_position> read_replayed_position(soci::session& sql, driver d);

/// Waits on replica `sql` until it has replayed `required` or `timeout` passes: PostgreSQL polls
/// pg_last_wal_replay_lsn() (backing off from 100 µs to 2 ms), MariaDB runs MASTER_GTID_WAIT(). Returns what
/// it knows the replica has replayed (at least `required` when the wait succeeded), nullopt when it learned
/// nothing. Throws on a connection error.
std::optional<causal_position> wait_for_position(soci::session& sql, driver d, causal_position const& required,
                                                 std::chrono::steady_clock::duration timeout, bool& reached);

/// MariaDB: a GTID list variable (`SELECT @@global.gtid_binlog_pos`, ...) as a position; the empty position
/// for NULL; nullopt when the server has no such variable (MySQL proper) or it is not a MariaDB list.
/// Connection errors propagate.
std::optional<causal_position> read_gtid_variable(soci::session& sql, char const* query);

/// MariaDB: asks the server to report the session's `last_gtid` with every OK packet that changes it (session
/// state tracking), so that a commit's GTID comes with its answer, with no round trip. One round trip now;
/// false when the server refuses (MySQL proper). A connection reset (COM_RESET_CONNECTION) forgets it.
bool mysql_track_last_gtid(soci::session& sql) noexcept;
/// MariaDB: the GTID of the transaction the last statement on `sql` committed, as session tracking reported
/// it (mysql_track_last_gtid()); nullopt when that statement committed nothing or tracking is off.
std::optional<causal_position> mysql_tracked_gtid(soci::session& sql) noexcept;

} // namespace soci_routing

#endif // SOCI_ROUTING_CAUSAL_H_INCLUDED
