// soci-routing: the session backend. Everything the core asks of a session (transactions, sequences, DDL helpers,
// blobs) is the primary's; the primary connection is leased for a statement or a transaction, not for the
// session's life (session_state in soci-routing-backend.h).

#include "soci-routing-backend.h"
#include "text-facts.h"

#include <soci/connection-parameters.h>

#include <algorithm>
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
      causal_(cluster_->config().routing.consistency == consistency_mode::causal),
      causal_timeout_(seconds_to_duration(cluster_->config().routing.causal_timeout)),
      replicas_(cluster_->replica_count()),
      rebalance_(seconds_to_duration(cluster_->config().routing.rebalance)),
      scope_(std::make_shared<soci::routing_scope>())
{
    // The classifier keeps no copy of its options: the views point into the cluster's own configuration,
    // which lives as long as cluster_.
    for (std::string const& f : cluster_->config().classifier.primary_functions)
        primary_functions_.emplace_back(f);
    classify_options_.primary_functions = primary_functions_.empty() ? nullptr : primary_functions_.data();
    classify_options_.primary_function_count = primary_functions_.size();
    // Every session of the configuration has the same options: they share the cached texts.
    classify_key_ = primary_functions_.empty() ? 0 : cluster_->serial();
}

session_state::~session_state()
{
    // Drop the held lease first (it goes back clean), then let the session's idle connections serve anyone.
    primary_held_.reset();
    for (std::size_t i = 0; i != cluster_->node_count(); ++i)
        cluster_->node(i).forget_affinity(this);
    // The next session of this configuration finds the pools warm (cluster_ itself goes last, after the
    // handles that give leases back to its pools).
    cluster::linger(cluster_);
}

void session_state::throw_inherited() const
{
    throw soci::soci_error(cluster_->inherited_message());
}

route_state session_state::facts(classification const& c) const noexcept
{
    route_state s;
    s.in_transaction = in_transaction_;
    s.pinned = pinned_;
    s.forced_primary = force_primary_ > 0;
    s.forced_replica = force_replica_ > 0;
    // Reading the clock only matters for reads. Causal mode has no window (but on servers without positions).
    s.within_window = c.where == target::replica && (!causal_ || positions_unsupported_) && sticky_.count() > 0
        && scope_->within_window(sticky_);
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
    replicas_[index].reset();  // the last handle's memory, free once nobody holds it, is the new one's
    auto h = std::allocate_shared<endpoint_handle>(handle_memory::allocator<endpoint_handle>(handle_memory_),
                                                   std::move(l), pool, static_cast<int>(index));
    replicas_[index] = h;
    return h;
}

endpoint_pool* session_state::pick_replica(std::uint64_t exclude)
{
    // One replica per session for a while: the session's reads meet one server connection, as they would on
    // a plain session (a server process woken on another core for every other read costs the client more
    // system time than the routing itself), and they never step back in time between two replicas' lags.
    // `balance` still spreads the sessions, each `rebalance` seconds anew.
    bool const keeps = rebalance_.count() > 0;
    auto const now = keeps ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point{};
    std::size_t const n = cluster_->replica_count();
    if (keeps && home_ < n && home_ < 64 && (exclude >> home_ & 1u) == 0 && now < home_until_)
    {
        endpoint_pool& home = cluster_->replica(home_);
        if (home.usable())
            return &home;
    }
    endpoint_pool* p = cluster_->pick_replica(exclude);
    if (p != nullptr && keeps)
    {
        home_ = index_of(p);
        home_until_ = now + rebalance_;
    }
    return p;
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

void session_state::note_executed(classification const& c, bool procedure, endpoint_handle& where,
                                  char const* reason, unsigned dirt, session_effect_info const* effect,
                                  std::string const& text) noexcept
{
    last_pool_ = where.pool_;
    last_reason_ = reason;
    if (c.is_write || procedure)
    {
        // Causal mode: a write inside a transaction counts at its COMMIT (uncommitted, nobody sees it).
        if (!causal_ || !in_transaction_)
            note_scope_write(&where);
        if (in_transaction_)
            transaction_wrote_ = true;
    }
    // Session state: a setting is recorded for replay, state of this connection pins the session to it (until
    // removed). Without an analysis (none was needed), a session-state statement pins for good.
    if (effect != nullptr && where.is_primary())
        dirt = note_session_effect(*effect, text, where, dirt);
    else if (c.pins_session)
    {
        opaque_pin_ = true;
        update_pinned();
    }
    where.lease_.mark_dirty(dirt);
    if (where.is_primary())
    {
        settle_primary(where, false);
        // BEGIN alone so far: PostgreSQL's BEGIN; SET TRANSACTION READ ONLY may still move it to a replica.
        txn_fresh_ = in_transaction_ && c.begins_transaction;
        if (txn_fresh_)
        {
            try
            {
                txn_begin_text_ = text;
            }
            catch (...)
            {
                txn_fresh_ = false;
            }
        }
    }
}

void session_state::leave_primary_for_replica_transaction() noexcept
{
    std::shared_ptr<endpoint_handle> const p = current_primary();
    if (in_transaction_ && txn_fresh_ && p && !p->broken_)
    {
        try
        {
            p->session().get_backend()->rollback();
        }
        catch (...)
        {
            p->discard();  // the pool must not lend a connection in an unknown state
        }
    }
    in_transaction_ = false;
    transaction_wrote_ = false;
    txn_fresh_ = false;
    pins_[static_cast<std::size_t>(pin_cause::next_transaction)].clear();
    next_transaction_text_.clear();
    update_pinned();
    if (p)
        settle_primary(*p, false);
}

void session_state::note_scope_write(endpoint_handle* where) noexcept
{
    scope_->note_write();
    if (!causal_)
        return;
    if (driver_ == driver::mysql && where != nullptr && where->is_primary() && !where->broken_)
    {
        if (std::optional<causal_position> const p = mysql_tracked_gtid(where->session()))
        {
            scope_access::note_write_at(*scope_, cluster_.get(), *p);
            try
            {
                cluster_->advance_primary_history(*p);
            }
            catch (...)
            {
            }
            return;
        }
    }
    scope_access::note_write(*scope_, cluster_.get());
}

causal_position const* session_state::causal_requirement()
{
    if (positions_unsupported_)
        return nullptr;
    void const* const key = cluster_.get();
    std::uint64_t const scope_id = scope_access::id(*scope_);
    if (causal_copy_scope_ != scope_id)
    {
        causal_copy_scope_ = scope_id;
        causal_copy_version_ = 0;
    }
    causal_need need;
    auto refresh = [&] {
        if (!scope_access::need(*scope_, key, need, causal_copy_version_))
            return false;
        if (need.copied)
        {
            causal_copy_ = std::move(need.position);
            causal_copy_version_ = need.version;
        }
        return true;
    };
    if (!refresh())
        return nullptr;
    bool const stale = !causal_copy_.empty() && !cluster_->of_primary_history(causal_copy_);
    if (need.pending || stale)
    {
        // One round trip on a primary connection (this session's own when it is idle): the primary's position
        // now covers every write committed before it.
        std::shared_ptr<endpoint_handle> h = primary();
        std::optional<causal_position> now;
        try
        {
            now = read_primary_position(h->session(), driver_);
        }
        catch (soci::soci_error& e)
        {
            primary_failed(*h, e);
            e.add_context("reading the primary's position for read-your-writes (consistency = \"causal\")");
            throw;
        }
        catch (std::exception const& e)
        {
            primary_failed(*h, e);
            throw;
        }
        settle_primary(*h, false);
        if (!now)
        {
            // MySQL proper (no MariaDB GTIDs): the `sticky` window decides, as in window mode.
            positions_unsupported_ = true;
            return nullptr;
        }
        cluster_->note_primary_position(*now);
        if (!causal_copy_.empty() && !same_history(causal_copy_, *now))
            scope_access::replace(*scope_, key, *now, need.writes);
        else
            scope_access::settle(*scope_, key, *now, need.writes);
        if (!refresh())
            return nullptr;
    }
    return causal_copy_.empty() ? nullptr : &causal_copy_;
}

void session_state::note_begin() noexcept
{
    in_transaction_ = true;
    transaction_wrote_ = false;
}

void session_state::note_end(endpoint_handle* where) noexcept
{
    // The window restarts at the commit: a transaction longer than `sticky` must still be read back.
    if (transaction_wrote_)
        note_scope_write(where);
    in_transaction_ = false;
    transaction_wrote_ = false;
    txn_fresh_ = false;
    // MySQL SET TRANSACTION (without SESSION) was for this transaction only.
    next_transaction_text_.clear();
    if (!pins_[static_cast<std::size_t>(pin_cause::next_transaction)].empty())
    {
        pins_[static_cast<std::size_t>(pin_cause::next_transaction)].clear();
        update_pinned();
    }
}

void session_state::sync_failover() noexcept
{
    if (owner_ == nullptr || owner_->failoverCallback_ == nullptr)
        return;
    std::shared_ptr<endpoint_handle> const h = current_primary();
    if (!h)
        return;
    soci::details::session_backend* inner = h->session().get_backend();
    // The pool clears it when the connection goes back: it points into this application session.
    if (inner != nullptr && inner->failoverCallback_ != owner_->failoverCallback_)
    {
        inner->failoverCallback_ = owner_->failoverCallback_;
        inner->session_ = owner_->session_;
    }
}

endpoint_pool& session_state::writable_node()
{
    if (endpoint_pool* w = cluster_->writable())
        return *w;
    // topology = "discover" and no writable node known: a promotion may be under way. Wait for the prober
    // as long as a connect could take, then fail with what every node is.
    auto const wait = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::duration<double>(cluster_->config().primary.timeout));
    if (endpoint_pool* w = cluster_->await_primary(wait))
        return *w;
    std::string why = cluster_->no_primary_message();
    throw soci::soci_error("no primary to write to: " + (why.empty() ? std::string("no role probe has answered") : why));
}

lease session_state::acquire_primary()
{
    endpoint_pool* target = &writable_node();
    lease l;
    try
    {
        l = target->acquire(this);
    }
    catch (soci::soci_error& e)
    {
        // topology = "discover": the connect failed, so nothing reached the server; if the prober now finds
        // another node writable (a promotion), the statement goes there instead, once.
        // A connect that failed in this process (out of sockets or memory) says nothing of a promotion.
        if (cluster_->discovering() && classify_failure(e, driver_) == failure_class::connection
            && !local_connect_failure(e, driver_))
        {
            cluster_->suspect_primary();
            auto const wait = std::chrono::duration_cast<std::chrono::milliseconds>(
                std::chrono::duration<double>(cluster_->config().primary.timeout));
            endpoint_pool* next = cluster_->await_primary(wait);
            if (next == nullptr)
                throw soci::soci_error("no primary to write to: " + cluster_->no_primary_message());
            if (next != target)
            {
                l = next->acquire(this);
                if (!l)
                    throw soci::soci_error(next->exhausted_message());
                return l;
            }
        }
        endpoint_pool& primary = *target;
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
        throw soci::soci_error(target->exhausted_message());
    return l;
}

std::shared_ptr<endpoint_handle> session_state::current_primary() const noexcept
{
    if (primary_held_)
        return primary_held_;
    return primary_shared_.lock();
}

std::shared_ptr<endpoint_handle> session_state::primary()
{
    std::shared_ptr<endpoint_handle> h = current_primary();
    // Inside a transaction the broken connection stays: the transaction is lost, and its statements must
    // fail until the application ends it, rather than run on a new connection outside any transaction.
    if (h && (!h->broken_ || in_transaction_))
        return h;
    lease l = acquire_primary();
    endpoint_pool& pool = l.pool();
    // An old broken handle lives on while statements still use it (they hold it), then closes its connection.
    h = std::make_shared<endpoint_handle>(std::move(l), pool, -1);
    primary_shared_ = h;
    if (primary_held_)
        primary_held_ = h;  // pinned or keeping a blob: the state on the broken connection is gone anyway
    in_transaction_ = false;
    transaction_wrote_ = false;
    sync_failover();
    return h;
}

void session_state::settle_primary(endpoint_handle& h, bool failed) noexcept
{
    if (h.broken_)
        return;  // the server ended the transaction with the connection; statements fail until it is ended
    if (failed)
        refresh_transaction_status(h.session(), driver_);
    bool const open = transaction_status(h.session(), driver_) == server_transaction::open;
    if (open && !in_transaction_)
        note_begin();
    else if (!open && in_transaction_)
        note_end(&h);
    if (driver_ == driver::mysql && !failed)
        last_insert_id_ = last_insert_id(h.session(), driver_);
    // Hold the connection while the session needs its server session; else it goes back to the pool with the
    // session's last statement on it.
    if (in_transaction_ || pinned_ || keep_primary_)
    {
        if (primary_held_.get() != &h)
        {
            std::shared_ptr<endpoint_handle> const shared = primary_shared_.lock();
            if (shared.get() == &h)
                primary_held_ = shared;
        }
    }
    else if (primary_held_.get() == &h)
    {
        primary_shared_ = primary_held_;
        primary_held_.reset();
    }
}

void session_state::keep_primary(std::shared_ptr<endpoint_handle> h) noexcept
{
    keep_primary_ = true;
    try
    {
        if (std::find(kept_.begin(), kept_.end(), h) == kept_.end())
            kept_.push_back(h);
    }
    catch (...)
    {
    }
    primary_held_ = std::move(h);
}

void session_state::primary_failed(endpoint_handle& h, std::exception const& e) noexcept
{
    try
    {
        // DESIGN.md: the primary's errors reach the application with the endpoint named (no password).
        // A broken connection must not serve another statement, nor go back to the pool: the next statement
        // (outside a transaction) leases a fresh one. The failing statement is not retried (a write may have
        // committed).
        bool const connection = !h.broken_ && classify_failure(e, driver_, &h.session()) == failure_class::connection;
        if (connection)
        {
            h.discard();
            h.pool_->record_failure(failure_class::connection, redact(e.what()));
        }
        // topology = "discover": a lost primary or a refused write may mean another node is the primary now.
        if (connection || h.broken_ || refused_as_read_only(e, driver_))
            cluster_->suspect_primary();
        add_context(e, "on " + h.pool_->describe());
    }
    catch (...)
    {
        // Bookkeeping only: the application gets the original error either way.
    }
}

namespace
{

/// What session::reconnect() must not lose. SOCI deletes the session backend and makes a new one from the same
/// parameters (plus "reconnect"), on the same thread, with nothing in between: the old backend leaves these
/// here and the new one takes them. Only plain values and the scope: no connection, no cluster.
struct reconnect_carry
{
    std::string connect_string;
    std::shared_ptr<soci::routing_scope> scope;
    int force_primary = 0;
    int force_replica = 0;
};

// The thread's carry. A thread's thread_local objects are destroyed when it ends, and the main thread's when the
// process exits, before the static objects: a session closed after that (by a static soci::session or
// connection_pool, an atexit handler) must not touch the destroyed object. `carry_gone`, trivially destructible,
// stays readable to the end and says so.
thread_local bool carry_gone = false;
struct carry_holder
{
    reconnect_carry value;
    ~carry_holder() { carry_gone = true; }
};
thread_local carry_holder carried;

} // namespace

routing_session_backend::routing_session_backend(soci::connection_parameters const& parameters)
{
    std::string const& connect_string = parameters.get_connect_string();
    connect_string_ = connect_string;
    cluster_config config = load_connect_string(connect_string);
    state_ = std::make_shared<session_state>(config);
    reconnect_carry carry;
    if (!carry_gone)
    {
        carry = std::move(carried.value);
        carried.value = reconnect_carry{};
    }
    bool const reconnecting = parameters.is_option_on(soci::option_reconnect);
    if (reconnecting && carry.scope && carry.connect_string == connect_string)
    {
        // session::reconnect(): the same session to the application — its scope (read-after-write window,
        // shared with other sessions perhaps) and its live use_primary / use_replica guards carry over.
        state_->scope_ = std::move(carry.scope);
        state_->force_primary_ = carry.force_primary;
        state_->force_replica_ = carry.force_replica;
    }

    // The primary is connected (or its idle connection checked) at open, then given back: an application
    // learns at once that its database is unreachable, and an open session holds no connection.
    lease l;
    try
    {
        l = state_->acquire_primary();
    }
    catch (soci::soci_error const&)
    {
        // topology = "discover": with no writable node (a promotion under way, split brain) a session still
        // opens while a node answers: its reads can be served, its writes fail with the reason.
        if (!state_->cluster_->discovering() || !state_->cluster_->any_node_reachable())
            throw;
    }
    // session::reconnect(): the application wants a fresh connection, not the pooled one it gave back.
    if (reconnecting && l)
    {
        l.session().reconnect();
        keep_from_programs(l.session(), state_->driver_);
    }
    state_->owner_ = this;
}

routing_session_backend::~routing_session_backend()
{
    // Statements still alive keep the state and the connections they run on; they lose the failover callback,
    // and the connections the session held for itself go back to their pools.
    if (!state_)
        return;
    state_->owner_ = nullptr;
    state_->session_closed();
    if (carry_gone)
        return;  // the thread's thread_local objects are gone: no reconnect() can follow on it
    try
    {
        carried.value.connect_string = connect_string_;
        carried.value.scope = state_->scope_;
        carried.value.force_primary = state_->force_primary_;
        carried.value.force_replica = state_->force_replica_;
    }
    catch (...)
    {
        carried.value = reconnect_carry{};
    }
}

bool routing_session_backend::is_connected()
{
    // In a child of fork(), a session of its parent's is not connected (reconnect() gives it connections).
    if (state_->generation_ != process_generation())
        return false;
    try
    {
        std::shared_ptr<endpoint_handle> const h = state_->primary();
        return !h->broken_ && h->session().get_backend()->is_connected();
    }
    catch (...)
    {
        return false;
    }
}

void routing_session_backend::begin()
{
    state_->check_process();
    if (state_->replica_txn_)
        throw soci::soci_error("Cannot begin a transaction: a read-only transaction is open on "
                               + state_->replica_txn_->pool_->describe() + ".");
    std::shared_ptr<endpoint_handle> const h = state_->primary();
    state_->sync_failover();
    try
    {
        // Before BEGIN: PostgreSQL would undo settings replayed inside the transaction with its rollback.
        state_->sync_settings(*h);
        h->session().get_backend()->begin();
    }
    catch (std::exception const& e)
    {
        state_->primary_failed(*h, e);
        state_->settle_primary(*h, true);
        throw;
    }
    state_->settle_primary(*h, false);
    state_->txn_fresh_ = state_->in_transaction_;
    state_->txn_begin_text_ = state_->driver_ == driver::mysql ? "START TRANSACTION" : "BEGIN";
}

namespace
{

/// Ends the session's read-only transaction on its replica with `end` (the driver's commit or rollback).
template <typename End>
void end_on_replica(session_state& st, char const* what, End end)
{
    std::shared_ptr<endpoint_handle> const h = st.replica_txn_;
    st.end_replica_transaction();
    if (h->broken_)
    {
        if (std::string(what) == "rollback")
            return;  // the server rolled it back with the connection
        throw soci::soci_error("Cannot commit the read-only transaction: the connection to " + h->pool_->describe()
                               + " broke during it.");
    }
    try
    {
        end(*h->session().get_backend());
        st.last_pool_ = h->pool_;
        st.last_reason_ = "read_only_transaction";
    }
    catch (std::exception const& e)
    {
        if (classify_failure(e, st.driver_, &h->session()) == failure_class::connection)
            h->discard();
        add_context(e, "on " + h->pool_->describe() + " (read-only transaction)");
        throw;
    }
}

} // namespace

void routing_session_backend::commit()
{
    state_->check_process();
    if (state_->replica_txn_)
    {
        end_on_replica(*state_, "commit", [](soci::details::session_backend& b) { b.commit(); });
        return;
    }
    std::shared_ptr<endpoint_handle> const h = state_->primary();
    if (h->broken_ && state_->in_transaction_)
    {
        // The connection broke inside the transaction: the server rolled it back.
        state_->in_transaction_ = false;
        state_->transaction_wrote_ = false;
        state_->settle_primary(*h, false);
        throw soci::soci_error("Cannot commit: the connection to " + h->pool_->describe()
                               + " broke during the transaction, which was rolled back.");
    }
    try
    {
        h->session().get_backend()->commit();
    }
    catch (std::exception const& e)
    {
        // A failed COMMIT (a deferred constraint, a serialization failure) ends the transaction on the
        // server: the session follows what the server says, not what it asked for.
        state_->transaction_wrote_ = false;
        state_->primary_failed(*h, e);
        state_->settle_primary(*h, true);
        throw;
    }
    state_->settle_primary(*h, false);
}

void routing_session_backend::rollback()
{
    state_->check_process();
    if (state_->replica_txn_)
    {
        end_on_replica(*state_, "rollback", [](soci::details::session_backend& b) { b.rollback(); });
        return;
    }
    // Whatever the outcome, a rolled-back write changed nothing to read back.
    state_->transaction_wrote_ = false;
    std::shared_ptr<endpoint_handle> const h = state_->current_primary();
    if (!h || h->broken_)
    {
        // No connection holds a transaction of this session, or it broke (and its transaction with it).
        state_->in_transaction_ = false;
        return;
    }
    try
    {
        h->session().get_backend()->rollback();
    }
    catch (std::exception const& e)
    {
        state_->primary_failed(*h, e);
        state_->settle_primary(*h, true);
        throw;
    }
    state_->settle_primary(*h, false);
}

bool routing_session_backend::get_next_sequence_value(soci::session&, std::string const& sequence,
                                                      long long& value)
{
    state_->check_process();
    // PostgreSQL runs `select nextval(...)` on the session it is given: give it the primary's own.
    std::shared_ptr<endpoint_handle> const h = state_->primary();
    try
    {
        state_->sync_settings(*h);  // search_path names the sequence
        bool const ok = h->session().get_backend()->get_next_sequence_value(h->session(), sequence, value);
        state_->settle_primary(*h, false);
        return ok;
    }
    catch (std::exception const& e)
    {
        state_->primary_failed(*h, e);
        state_->settle_primary(*h, true);
        throw;
    }
}

bool routing_session_backend::get_last_insert_id(soci::session&, std::string const&, long long& value)
{
    // MySQL's last insert id belongs to the connection that inserted, which may have gone back to the pool:
    // it was read (client-side, mysql_insert_id) after each statement on the primary.
    if (state_->driver_ != driver::mysql)
        return false;
    value = state_->last_insert_id_;
    return true;
}

std::string routing_session_backend::get_table_names_query() const
{
    return with_primary_backend([&](soci::details::session_backend& b) { return b.get_table_names_query(); });
}

std::string routing_session_backend::get_column_descriptions_query() const
{
    return with_primary_backend([&](soci::details::session_backend& b) { return b.get_column_descriptions_query(); });
}

std::string routing_session_backend::create_table(std::string const& table_name)
{
    return with_primary_backend([&](soci::details::session_backend& b) { return b.create_table(table_name); });
}

std::string routing_session_backend::drop_table(std::string const& table_name)
{
    return with_primary_backend([&](soci::details::session_backend& b) { return b.drop_table(table_name); });
}

std::string routing_session_backend::truncate_table(std::string const& table_name)
{
    return with_primary_backend([&](soci::details::session_backend& b) { return b.truncate_table(table_name); });
}

std::string routing_session_backend::create_column_type(soci::data_type dt, int precision, int scale)
{
    return with_primary_backend([&](soci::details::session_backend& b) { return b.create_column_type(dt, precision, scale); });
}

std::string routing_session_backend::add_column(std::string const& table_name, std::string const& column_name,
                                                soci::data_type dt, int precision, int scale)
{
    return with_primary_backend([&](soci::details::session_backend& b) { return b.add_column(table_name, column_name, dt, precision, scale); });
}

std::string routing_session_backend::alter_column(std::string const& table_name, std::string const& column_name,
                                                  soci::data_type dt, int precision, int scale)
{
    return with_primary_backend([&](soci::details::session_backend& b) { return b.alter_column(table_name, column_name, dt, precision, scale); });
}

std::string routing_session_backend::drop_column(std::string const& table_name, std::string const& column_name)
{
    return with_primary_backend([&](soci::details::session_backend& b) { return b.drop_column(table_name, column_name); });
}

std::string routing_session_backend::constraint_unique(std::string const& name, std::string const& column_names)
{
    return with_primary_backend([&](soci::details::session_backend& b) { return b.constraint_unique(name, column_names); });
}

std::string routing_session_backend::constraint_primary_key(std::string const& name,
                                                            std::string const& column_names)
{
    return with_primary_backend([&](soci::details::session_backend& b) { return b.constraint_primary_key(name, column_names); });
}

std::string routing_session_backend::constraint_foreign_key(std::string const& name,
                                                            std::string const& column_names,
                                                            std::string const& ref_table_name,
                                                            std::string const& ref_column_names)
{
    return with_primary_backend([&](soci::details::session_backend& b) { return b.constraint_foreign_key(name, column_names, ref_table_name, ref_column_names); });
}

std::string routing_session_backend::empty_blob()
{
    return with_primary_backend([&](soci::details::session_backend& b) { return b.empty_blob(); });
}

std::string routing_session_backend::nvl()
{
    return with_primary_backend([&](soci::details::session_backend& b) { return b.nvl(); });
}

std::string routing_session_backend::get_dummy_from_table() const
{
    return with_primary_backend([&](soci::details::session_backend& b) { return b.get_dummy_from_table(); });
}

std::string routing_session_backend::get_backend_name() const
{
    // Applications pick their SQL dialect by this name: the primary's driver. soci::routing.is_routed()
    // tells a routed session apart.
    return to_string(state_->driver_);
}

soci::details::statement_backend* routing_session_backend::make_statement_backend()
{
    // A statement checks the process at its prepare and execution (check_process()).
    state_->sync_failover();
    return new routing_statement_backend(state_);
}

soci::details::rowid_backend* routing_session_backend::make_rowid_backend()
{
    state_->check_process();
    std::shared_ptr<endpoint_handle> h = state_->primary();
    state_->keep_primary(h);
    return h->session().get_backend()->make_rowid_backend();
}

soci::details::blob_backend* routing_session_backend::make_blob_backend()
{
    state_->check_process();
    // PostgreSQL blobs are large objects of the primary's connection; statements exchanging them run there.
    // The blob keeps a reference to that driver session, which SOCI gives no way to see go: the session holds
    // the connection from now on, so it is neither given back nor closed under the blob.
    std::shared_ptr<endpoint_handle> h = state_->primary();
    state_->keep_primary(h);
    state_->txn_fresh_ = false;  // the large object lives in this transaction: it stays on the primary
    return h->session().get_backend()->make_blob_backend();
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
    b->state()->check_process();
    return *b;
}

} // namespace soci_routing
