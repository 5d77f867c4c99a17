// soci-routing: the session backend. Holds the primary connection for its life; everything the core asks of a
// session (transactions, sequences, DDL helpers, blobs) is the primary's.

#include "soci-routing-backend.h"

#include <soci/connection-parameters.h>

#include <utility>

namespace soci_routing
{

namespace
{

dialect dialect_of(driver d) noexcept
{
    return d == driver::mysql ? dialect::mysql : dialect::postgresql;
}

std::chrono::steady_clock::duration seconds_to_duration(double s)
{
    return std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(s));
}

} // namespace

session_state::session_state(cluster_config const& config)
    : cluster_(cluster::obtain(config)),
      driver_(cluster_->config().primary.drv),
      dialect_(dialect_of(driver_)),
      sticky_(seconds_to_duration(cluster_->config().routing.sticky)),
      fallback_(cluster_->config().routing.fallback),
      replicas_(cluster_->replica_count()),
      scope_(std::make_shared<soci::routing_scope>())
{
    // The classifier keeps no copy of its options: the views point into the cluster's own configuration,
    // which lives as long as cluster_.
    for (std::string const& f : cluster_->config().classifier.primary_functions)
        primary_functions_.emplace_back(f);
    classify_options_.primary_functions = primary_functions_.empty() ? nullptr : primary_functions_.data();
    classify_options_.primary_function_count = primary_functions_.size();
}

session_state::~session_state() = default;

route_state session_state::facts(classification const& c) const noexcept
{
    route_state s;
    s.in_transaction = in_transaction_;
    s.pinned = pinned_;
    s.forced_primary = force_primary_ > 0;
    s.forced_replica = force_replica_ > 0;
    // Reading the clock only matters for reads.
    s.within_window = c.where == target::replica && sticky_.count() > 0 && scope_->within_window(sticky_);
    s.replica_unavailable = replicas_.empty();
    s.fallback = fallback_;
    return s;
}

std::shared_ptr<endpoint_handle> session_state::replica_handle(std::size_t index)
{
    if (std::shared_ptr<endpoint_handle> h = replicas_[index].lock())
    {
        if (!h->broken_)
            return h;
    }
    endpoint_pool& pool = cluster_->replica(index);
    // This session's own connection of that replica when it is idle (a session leases a replica
    // connection per statement): warm caches, statement cache included.
    lease l = pool.acquire(this);
    if (!l)
        throw soci::soci_error(pool.exhausted_message());
    auto h = std::make_shared<endpoint_handle>(std::move(l), pool, static_cast<int>(index));
    replicas_[index] = h;
    return h;
}

void session_state::forget_replica(endpoint_handle& h) noexcept
{
    h.discard();
    if (h.replica_index_ >= 0 && static_cast<std::size_t>(h.replica_index_) < replicas_.size())
        replicas_[h.replica_index_].reset();
}

std::size_t session_state::index_of(endpoint_pool const* p) const noexcept
{
    std::size_t const n = cluster_->replica_count();
    for (std::size_t i = 0; i != n; ++i)
    {
        if (&cluster_->replica(i) == p)
            return i;
    }
    return n;
}

void session_state::note_executed(classification const& c, bool procedure, endpoint_handle const& where,
                                  char const* reason) noexcept
{
    last_pool_ = where.pool_;
    last_reason_ = reason;
    if (c.begins_transaction)
        note_begin();
    if (c.is_write || procedure)
    {
        scope_->note_write();
        if (in_transaction_)
            transaction_wrote_ = true;
    }
    if (c.ends_transaction)
        note_end();
    // Session state (SET, temporary tables, ...) exists on the primary's connection only, for good.
    if (c.pins_session)
        pinned_ = true;
}

void session_state::note_begin() noexcept
{
    in_transaction_ = true;
    transaction_wrote_ = false;
}

void session_state::note_end() noexcept
{
    // The window restarts at the commit: a transaction longer than `sticky` must still be read back.
    if (transaction_wrote_)
        scope_->note_write();
    in_transaction_ = false;
    transaction_wrote_ = false;
}

void session_state::sync_failover() noexcept
{
    if (owner_ == nullptr || owner_->failoverCallback_ == nullptr)
        return;
    soci::details::session_backend* inner = primary_->session().get_backend();
    if (inner != nullptr && inner->failoverCallback_ != owner_->failoverCallback_)
    {
        inner->failoverCallback_ = owner_->failoverCallback_;
        inner->session_ = owner_->session_;
    }
}

lease session_state::acquire_primary()
{
    endpoint_pool& primary = cluster_->primary();
    lease l;
    try
    {
        l = primary.acquire();
    }
    catch (soci::soci_error& e)
    {
        std::string const what = e.what();
        std::string const safe = redact(what);
        std::string const endpoint = primary.describe();
        if (safe != what)
            throw soci::soci_error(safe + " (while connecting to " + endpoint + ")");
        if (what.find(primary.name()) == std::string::npos)
            e.add_context("connecting to " + endpoint);
        throw;
    }
    if (!l)
        throw soci::soci_error(primary.exhausted_message());
    return l;
}

std::shared_ptr<endpoint_handle> const& session_state::primary()
{
    // Inside a transaction the broken connection stays: the transaction is lost, and its statements must
    // fail until the application ends it, rather than run on a new connection outside any transaction.
    if (primary_ && primary_->broken_ && !in_transaction_)
    {
        lease l = acquire_primary();
        // The old handle lives on while statements still use it (they hold it), then closes its connection.
        primary_ = std::make_shared<endpoint_handle>(std::move(l), cluster_->primary(), -1);
        in_transaction_ = false;
        transaction_wrote_ = false;
        sync_failover();
    }
    return primary_;
}

void session_state::primary_failed(endpoint_handle& h, std::exception const& e) noexcept
{
    try
    {
        // DESIGN.md: the primary's errors reach the application with the endpoint named (no password).
        // A broken connection must not serve another statement, nor go back to the pool: the next statement
        // (outside a transaction) leases a fresh one. The failing statement is not retried (a write may have
        // committed).
        if (!h.broken_ && classify_failure(e, driver_, &h.session()) == failure_class::connection)
        {
            h.discard();
            h.pool_->record_failure(failure_class::connection, redact(e.what()));
        }
        add_context(e, "on " + h.pool_->describe());
    }
    catch (...)
    {
        // Bookkeeping only: the application gets the original error either way.
    }
}

routing_session_backend::routing_session_backend(soci::connection_parameters const& parameters)
{
    cluster_config config = load_connect_string(parameters.get_connect_string());
    state_ = std::make_shared<session_state>(config);

    // The primary is connected at open: an application learns at once that its database is unreachable.
    lease l = state_->acquire_primary();

    // session::reconnect(): the application wants a fresh connection, not the pooled one it gave back.
    if (parameters.is_option_on(soci::option_reconnect))
        l.session().reconnect();

    state_->primary_ = std::make_shared<endpoint_handle>(std::move(l), state_->cluster_->primary(), -1);
    state_->owner_ = this;
}

routing_session_backend::~routing_session_backend()
{
    // Statements still alive keep the state and its connections; they only lose the failover callback.
    if (state_)
        state_->owner_ = nullptr;
}

bool routing_session_backend::is_connected()
{
    if (state_->primary_->broken_)
        return false;
    return primary_backend().is_connected();
}

void routing_session_backend::begin()
{
    std::shared_ptr<endpoint_handle> const h = state_->primary();
    state_->sync_failover();
    try
    {
        h->session().get_backend()->begin();
    }
    catch (std::exception const& e)
    {
        state_->primary_failed(*h, e);
        throw;
    }
    state_->note_begin();
}

void routing_session_backend::commit()
{
    std::shared_ptr<endpoint_handle> const h = state_->primary_;
    if (h->broken_)
    {
        // The connection broke inside the transaction: the server rolled it back.
        state_->in_transaction_ = false;
        state_->transaction_wrote_ = false;
        throw soci::soci_error("Cannot commit: the connection to " + h->pool_->describe()
                               + " broke during the transaction, which was rolled back.");
    }
    try
    {
        h->session().get_backend()->commit();
    }
    catch (std::exception const& e)
    {
        // A failed COMMIT ends the transaction too (the server rolled it back).
        state_->in_transaction_ = false;
        state_->transaction_wrote_ = false;
        state_->primary_failed(*h, e);
        throw;
    }
    state_->note_end();
}

void routing_session_backend::rollback()
{
    // Whatever the outcome, the transaction is over; a rolled-back write changed nothing to read back.
    state_->transaction_wrote_ = false;
    state_->in_transaction_ = false;
    std::shared_ptr<endpoint_handle> const h = state_->primary_;
    if (h->broken_)
        return;  // the connection is gone, and its transaction with it
    try
    {
        h->session().get_backend()->rollback();
    }
    catch (std::exception const& e)
    {
        state_->primary_failed(*h, e);
        throw;
    }
}

bool routing_session_backend::get_next_sequence_value(soci::session&, std::string const& sequence,
                                                      long long& value)
{
    // PostgreSQL runs `select nextval(...)` on the session it is given: give it the primary's own.
    std::shared_ptr<endpoint_handle> const h = state_->primary();
    try
    {
        return h->session().get_backend()->get_next_sequence_value(h->session(), sequence, value);
    }
    catch (std::exception const& e)
    {
        state_->primary_failed(*h, e);
        throw;
    }
}

bool routing_session_backend::get_last_insert_id(soci::session&, std::string const& table, long long& value)
{
    // MySQL's last insert id belongs to the connection that inserted: the primary's.
    std::shared_ptr<endpoint_handle> const h = state_->primary_;
    return h->session().get_backend()->get_last_insert_id(h->session(), table, value);
}

std::string routing_session_backend::get_table_names_query() const
{
    return primary_backend().get_table_names_query();
}

std::string routing_session_backend::get_column_descriptions_query() const
{
    return primary_backend().get_column_descriptions_query();
}

std::string routing_session_backend::create_table(std::string const& table_name)
{
    return primary_backend().create_table(table_name);
}

std::string routing_session_backend::drop_table(std::string const& table_name)
{
    return primary_backend().drop_table(table_name);
}

std::string routing_session_backend::truncate_table(std::string const& table_name)
{
    return primary_backend().truncate_table(table_name);
}

std::string routing_session_backend::create_column_type(soci::data_type dt, int precision, int scale)
{
    return primary_backend().create_column_type(dt, precision, scale);
}

std::string routing_session_backend::add_column(std::string const& table_name, std::string const& column_name,
                                                soci::data_type dt, int precision, int scale)
{
    return primary_backend().add_column(table_name, column_name, dt, precision, scale);
}

std::string routing_session_backend::alter_column(std::string const& table_name, std::string const& column_name,
                                                  soci::data_type dt, int precision, int scale)
{
    return primary_backend().alter_column(table_name, column_name, dt, precision, scale);
}

std::string routing_session_backend::drop_column(std::string const& table_name, std::string const& column_name)
{
    return primary_backend().drop_column(table_name, column_name);
}

std::string routing_session_backend::constraint_unique(std::string const& name, std::string const& column_names)
{
    return primary_backend().constraint_unique(name, column_names);
}

std::string routing_session_backend::constraint_primary_key(std::string const& name,
                                                            std::string const& column_names)
{
    return primary_backend().constraint_primary_key(name, column_names);
}

std::string routing_session_backend::constraint_foreign_key(std::string const& name,
                                                            std::string const& column_names,
                                                            std::string const& ref_table_name,
                                                            std::string const& ref_column_names)
{
    return primary_backend().constraint_foreign_key(name, column_names, ref_table_name, ref_column_names);
}

std::string routing_session_backend::empty_blob()
{
    return primary_backend().empty_blob();
}

std::string routing_session_backend::nvl()
{
    return primary_backend().nvl();
}

std::string routing_session_backend::get_dummy_from_table() const
{
    return primary_backend().get_dummy_from_table();
}

std::string routing_session_backend::get_backend_name() const
{
    // Applications pick their SQL dialect by this name: the primary's driver. soci::routing.is_routed()
    // tells a routed session apart.
    return primary_backend().get_backend_name();
}

soci::details::statement_backend* routing_session_backend::make_statement_backend()
{
    state_->sync_failover();
    return new routing_statement_backend(state_);
}

soci::details::rowid_backend* routing_session_backend::make_rowid_backend()
{
    return state_->primary()->session().get_backend()->make_rowid_backend();
}

soci::details::blob_backend* routing_session_backend::make_blob_backend()
{
    // PostgreSQL blobs are large objects of the primary's connection; statements exchanging them run there.
    return state_->primary()->session().get_backend()->make_blob_backend();
}

routing_session_backend* find_routing_backend(soci::session& sql) noexcept
{
    return dynamic_cast<routing_session_backend*>(sql.get_backend());
}

routing_session_backend& require_routing_backend(soci::session& sql)
{
    routing_session_backend* b = find_routing_backend(sql);
    if (b == nullptr)
        throw soci::soci_error("session is not a routing session");
    return *b;
}

} // namespace soci_routing
