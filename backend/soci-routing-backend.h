// soci-routing: the backend's internal header (like SOCI's soci-postgresql.h, but not installed).
//
// The statement and element backends are proxies: they record what SOCI tells them and drive an inner
// statement of the postgresql or mysql backend on the endpoint route() chose, re-preparing it and replaying
// the bindings when the target changes (DESIGN.md, "Proxies").

#ifndef SOCI_ROUTING_BACKEND_H_INCLUDED
#define SOCI_ROUTING_BACKEND_H_INCLUDED

#include "route.h"
#include "scope.h"

#include "classifier.h"
#include "config.h"
#include "pools.h"
#include "session-effect.h"
#include "transaction-mode.h"

#include <boost/container/small_vector.hpp>

#include <soci/routing/soci-routing.h>
#include <soci/soci-backend.h>
#include <soci/soci.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <array>
#include <list>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace soci_routing
{

class routing_session_backend;

/// One query text of a connection's statement cache (statement-cache.cpp).
struct statement_cache_entry
{
    std::string text;  ///< the query as SOCI gave it (the key)
    std::string name;  ///< the server-side prepared statement; empty: not prepared (yet)
    unsigned runs = 0; ///< successful uncached executions: a text is prepared when it comes again
    int users = 0;     ///< routing statements using it now: never evicted while in use
};

/// The server-side prepared statements of one inner PostgreSQL connection, for repeated one-time query texts:
/// at most `capacity` statements, least recently used out (DEALLOCATE), plus as many candidates (texts run
/// once, not prepared: a text is prepared when it comes again). It lives with the connection (a registry
/// keyed by the pooled soci::session, checked against the libpq connection and its backend pid), not with a
/// routing session, so that pooled sessions keep its benefit. Used by the one routing session holding the
/// connection's lease: no lock.
class statement_cache
{
public:
    explicit statement_cache(std::size_t capacity) : capacity_(capacity) {}
    ~statement_cache();
    statement_cache(statement_cache const&) = delete;
    statement_cache& operator=(statement_cache const&) = delete;

    /// The entry of `text` on `sql`'s connection, made most recently used (inserted, evicting the least
    /// recently used unused entry, when new). nullptr when the text cannot be cached now.
    std::shared_ptr<statement_cache_entry> lookup(soci::session& sql, std::string const& text);
    /// Prepares `e` on the server as the query `st` (a PostgreSQL one-time statement, prepared but not run)
    /// rewrote. false: not prepared (run uncached); throws the server's error inside a transaction block.
    bool prepare_on_server(soci::session& sql, statement_cache_entry& e, soci::details::statement_backend& st);
    /// The server dropped every prepared statement (DISCARD ALL, DEALLOCATE ALL, reconnect): forget them.
    void forget_all() noexcept;
    /// `e` is unusable (its plan changed result type): DEALLOCATE it (now, or before the next use of the
    /// connection when its transaction failed) and forget it.
    void drop(soci::session& sql, statement_cache_entry& e) noexcept;
    std::size_t size() const noexcept { return lru_.size(); }
    std::size_t capacity() const noexcept { return capacity_; }

private:
    using list = std::list<std::shared_ptr<statement_cache_entry>>;
    bool check_connection(soci::session& sql) noexcept;
    void deallocate(std::string const& name) noexcept;
    /// Removes the entry (DEALLOCATE when prepared).
    void erase(list::iterator it) noexcept;
    /// Evicts the least recently used unused prepared entry (or candidate); false when there is none.
    bool evict_one(bool prepared) noexcept;

    std::size_t capacity_;
    void* conn_ = nullptr;  ///< the PGconn the names belong to
    int pid_ = 0;           ///< and its server process
    list lru_;              ///< most recently used first: prepared entries and candidates (texts seen once)
    std::size_t prepared_ = 0;  ///< entries with a server-side statement: at most capacity_
    std::unordered_map<std::string_view, list::iterator> index_;  ///< keys view the entries' text
    std::vector<std::string> garbage_;  ///< names to DEALLOCATE when the connection can run commands again
};

/// The statement cache of a pooled connection, kept with it in its pool (`lease::attachment()`) and shared by
/// every lease of that connection; nullptr when the endpoint does not cache (MySQL, `statements = 0`).
std::shared_ptr<statement_cache> obtain_statement_cache(lease& l, endpoint_config const& config);

/// One leased endpoint connection of a routing session, shared by the session's statements on it: two live
/// statements on replica-1 use one connection (never wait for a second connection of the same pool).
struct endpoint_handle
{
    endpoint_handle(lease l, endpoint_pool& pool, int replica_index) noexcept
        : lease_(std::move(l)), pool_(&pool), replica_index_(replica_index)
    {
        try
        {
            cache_ = obtain_statement_cache(lease_, pool.config());
        }
        catch (...)
        {
            // The cache is an optimisation: without it, statements run uncached.
        }
    }

    soci::session& session() const noexcept { return lease_.session(); }
    bool is_primary() const noexcept { return replica_index_ < 0; }

    lease lease_;
    endpoint_pool* pool_;
    int replica_index_;    ///< -1: the primary
    bool broken_ = false;  ///< a connection failure was seen: no new statement goes here
    std::shared_ptr<statement_cache> cache_;  ///< the connection's statement cache, or nullptr

    /// The connection is broken: it will be closed, and its cache with it.
    void discard() noexcept
    {
        broken_ = true;
        lease_.discard();
        if (cache_)
        {
            // Closed with the connection (its lease's attachment); statements still holding it run uncached.
            cache_->forget_all();
            cache_.reset();
        }
    }
};

/// The memory of one replica handle that went, kept for the next one: a session reading from replicas leases
/// and gives back a replica connection, and makes and frees its endpoint_handle, at every one-time statement.
/// Single-threaded, as the session it belongs to.
class handle_memory
{
public:
    handle_memory() = default;
    handle_memory(handle_memory const&) = delete;
    handle_memory& operator=(handle_memory const&) = delete;
    ~handle_memory() { ::operator delete(block_); }

    void* take(std::size_t bytes)
    {
        if (block_ != nullptr && size_ == bytes)
            return std::exchange(block_, nullptr);
        return ::operator new(bytes);
    }
    void give(void* p, std::size_t bytes) noexcept
    {
        if (block_ == nullptr)
        {
            block_ = p;
            size_ = bytes;
            return;
        }
        ::operator delete(p);
    }

    /// std::allocate_shared's allocator over it.
    template <typename T>
    struct allocator
    {
        using value_type = T;
        handle_memory* memory;
        explicit allocator(handle_memory& m) noexcept : memory(&m) {}
        template <typename U>
        allocator(allocator<U> const& other) noexcept : memory(other.memory) {}
        T* allocate(std::size_t n) { return static_cast<T*>(memory->take(n * sizeof(T))); }
        void deallocate(T* p, std::size_t n) noexcept { memory->give(p, n * sizeof(T)); }
        template <typename U>
        bool operator==(allocator<U> const& other) const noexcept { return memory == other.memory; }
        template <typename U>
        bool operator!=(allocator<U> const& other) const noexcept { return memory != other.memory; }
    };

private:
    void* block_ = nullptr;
    std::size_t size_ = 0;
};

/// A replayable setting of a routing session (SET, RESET x, SET NAMES, USE db, SET @v = 1): the statement as the
/// application wrote it, replayed verbatim on every connection the session uses that does not carry it yet.
struct recorded_setting
{
    std::vector<std::string> keys;  ///< session_effect_info::keys; {"*"}: RESET ALL
    std::string text;
    bool restores_default = false;  ///< a no-op on a connection where no earlier entry set one of `keys`
};

/// The state of one routing session. Statements keep it alive with a shared_ptr, so that a statement that
/// outlives its session backend (session::reconnect() deletes it) still has its connection.
///
/// A session owns no connection (DESIGN.md, "Leases"): each statement leases one from its endpoint's pool,
/// and the live statements of the session on one endpoint share that lease (endpoint_handle). The primary's
/// lease is held across statements only while the session needs that server session: a transaction is open
/// there (as the server reports it), the session holds state that cannot be moved (pinned), or a blob lives
/// on it. Otherwise it goes back to the pool when the session's last statement on it is done, clean or closed.
struct session_state
{
    explicit session_state(cluster_config const& config);
    ~session_state();

    /// A child of fork() may not use a session its parent opened (pools/fork.h): throws saying so.
    void check_process() const
    {
        if (generation_ != process_generation())
            throw_inherited();
    }
    [[noreturn]] void throw_inherited() const;
    /// The process generation that opened the session (pools/fork.h).
    std::uint32_t const generation_ = process_generation();

    /// The facts route() needs, for a statement of classification `c`.
    route_state facts(classification const& c) const noexcept;
    /// The shared connection to replica `index`, leased on first use. Throws when the connect fails.
    std::shared_ptr<endpoint_handle> replica_handle(std::size_t index);
    /// The replica for a read, not one of `exclude` (bit i: replica i): the session's own while it takes reads
    /// and `rebalance` has not run out since `balance` gave it, else the one `balance` gives now (which becomes
    /// the session's own). nullptr when no replica may take the read.
    endpoint_pool* pick_replica(std::uint64_t exclude);
    /// Replica `index`'s connection broke: later statements lease another one.
    void forget_replica(endpoint_handle& h) noexcept;
    /// The index of a replica pool of the cluster.
    std::size_t index_of(endpoint_pool const* p) const noexcept;
    /// Bookkeeping after a statement ran: transaction, pin, read-after-write window, last endpoint.
    void note_executed(classification const& c, bool procedure, endpoint_handle& where, char const* reason,
                       unsigned dirt, session_effect_info const* effect, std::string const& text) noexcept;
    /// Brings connection `h` to the session's settings (replays what it does not carry; nothing when its lease's
    /// carried() tag is the session's). Throws the server's error when a replayed statement fails; the
    /// connection is then left to be reset when it goes back.
    void sync_settings(endpoint_handle& h);
    /// The primary's connection for a statement (primary()), brought to the session's settings. A replay the
    /// primary refuses throws its error, naming the primary.
    std::shared_ptr<endpoint_handle> synced_primary();
    /// sync_settings() on replica connection `h`; false when the replica refused a setting (counted and
    /// reported on it, and the replica not used again until the settings change).
    bool try_sync_replica(endpoint_handle& h) noexcept;
    /// What a session-state statement that ran on the primary connection `where` did: records a setting,
    /// pins or unpins. Returns the lease dirt to use instead of the statement's own (dirt_settings for a
    /// setting, else `dirt`).
    unsigned note_session_effect(session_effect_info const& e, std::string const& text, endpoint_handle& where,
                                 unsigned dirt) noexcept;
    /// The settings changed: a new tag (never 0), so that every connection replays them.
    void bump_settings() noexcept;
    /// True when the session is pinned by `cause` alone.
    bool pinned_only_by(pin_cause cause) const noexcept
    {
        if (opaque_pin_)
            return false;
        for (std::size_t i = 0; i != pins_.size(); ++i)
            if (!pins_[i].empty() && i != static_cast<std::size_t>(cause))
                return false;
        return true;
    }
    /// Recomputes pinned_ from the causes.
    void update_pinned() noexcept;
    /// The causes that pin the session now ("temp_table", "opaque", ...), for messages and tests.
    std::string pin_causes() const;
    /// Causal mode: the position a read of the session's scope must find on a replica (empty: none). Reads
    /// the primary's position first when the scope wrote since it was last read, or when the scope's
    /// position is of another history than the primary's (replaced then by the primary's). Throws when the
    /// primary cannot be asked. nullptr when nothing is required (or positions are unsupported: window rule).
    /// The position is the session's copy, valid until the next call; it is copied from the scope only when
    /// the scope changed.
    causal_position const* causal_requirement();
    /// A write committed (or may have) on primary connection `where` (nullptr: unknown): its window restarts;
    /// in causal mode the scope's position grows by the GTID the commit reported (MariaDB, tracked), else it
    /// is pending until the primary's position is read.
    void note_scope_write(endpoint_handle* where) noexcept;
    void note_begin() noexcept;
    /// The transaction ended (on primary connection `where`, when known).
    void note_end(endpoint_handle* where = nullptr) noexcept;
    /// A read-only transaction began on a replica instead: the primary's fresh transaction (PostgreSQL) is
    /// rolled back, MySQL's pending SET TRANSACTION forgotten (its connection is reset when it goes back).
    void leave_primary_for_replica_transaction() noexcept;
    /// Passes the application's failover callback on to the primary's driver session.
    void sync_failover() noexcept;
    /// The primary connection the session uses now (held, or shared by a live statement); nullptr when none.
    std::shared_ptr<endpoint_handle> current_primary() const noexcept;
    /// The primary's connection for a new statement: the one the session holds or a live statement uses, else
    /// a new lease (this session's own idle connection first). When the current one broke (discarded after a
    /// connection failure) and no transaction is open, a fresh one is leased (throws, naming the primary, when
    /// the connect fails). Statements still on the old connection keep it alive.
    std::shared_ptr<endpoint_handle> primary();
    /// After a statement (or begin/commit/rollback) ran or failed on the primary connection `h`: the session's
    /// transaction state becomes the server's, and the lease is held or let go accordingly. `failed`: MySQL's
    /// status flags are refreshed first (an error packet carries none).
    void settle_primary(endpoint_handle& h, bool failed) noexcept;
    /// Keeps the current primary connection for the rest of the session (a blob lives on it).
    void keep_primary(std::shared_ptr<endpoint_handle> h) noexcept;
    /// Leases a primary connection; connect errors name the endpoint, never with a password.
    lease acquire_primary();
    /// The pool writes go to now (topology = "discover": waits for the prober when none is known; throws
    /// when there is none).
    endpoint_pool& writable_node();
    /// A statement (or begin/commit/rollback) on the primary connection `h` failed with `e`: the error names
    /// the primary; a connection failure discards the connection (the next statement outside a transaction
    /// leases a fresh one). Never retries. Call before rethrowing.
    void primary_failed(endpoint_handle& h, std::exception const& e) noexcept;

    std::shared_ptr<cluster> cluster_;
    driver driver_;
    dialect dialect_;
    std::vector<std::string_view> primary_functions_;  ///< views into cluster_->config()
    classify_options classify_options_;
    std::uint64_t classify_key_ = 0;  ///< names classify_options_ in facts_of()'s cache (0: the default options)
    std::chrono::steady_clock::duration sticky_;
    bool fallback_;
    bool causal_;  ///< consistency = "causal"
    std::chrono::steady_clock::duration causal_timeout_;
    /// Causal mode on a server without positions (MySQL proper): the `sticky` window serves instead.
    bool positions_unsupported_ = false;
    /// causal_requirement()'s copy of the scope's position, and the scope (id) and version it was copied at.
    causal_position causal_copy_;
    std::uint64_t causal_copy_scope_ = 0;
    std::uint64_t causal_copy_version_ = 0;
    /// replica_handle()'s memory. Declared before every member that holds a handle, so that it outlives them
    /// (statements hold their session state longer than their handle).
    handle_memory handle_memory_;
    std::shared_ptr<endpoint_handle> primary_held_;  ///< while in a transaction, pinned or keeping a blob
    std::weak_ptr<endpoint_handle> primary_shared_;  ///< the primary connection live statements use
    bool keep_primary_ = false;                      ///< a blob was made: hold the primary connection
    /// Every primary connection a blob or rowid was made on: never freed under it, even when a broken one is
    /// replaced for later statements.
    std::vector<std::shared_ptr<endpoint_handle>> kept_;
    long long last_insert_id_ = 0;                   ///< MySQL: after the last statement on the primary
    std::vector<std::weak_ptr<endpoint_handle>> replicas_;
    /// The replica this session reads from (`rebalance`): its index (npos: none yet) and until when.
    std::size_t home_ = static_cast<std::size_t>(-1);
    std::chrono::steady_clock::time_point home_until_{};
    std::chrono::steady_clock::duration rebalance_;
    std::shared_ptr<soci::routing_scope> scope_;

    bool in_transaction_ = false;
    bool transaction_wrote_ = false;
    bool pinned_ = false;  ///< opaque_pin_ or any pin object: the primary connection is held, reads go there
    /// Replayable settings, in order (collapsed: a later setting of the same keys replaces earlier ones).
    std::vector<recorded_setting> settings_;
    /// The settings' tag (this session's id and the settings' version); 0 while the session has set nothing.
    std::uint64_t settings_tag_ = 0;
    std::uint64_t settings_id_ = 0;    ///< unique per session state (the high half of its tags); set with the first setting
    std::uint64_t settings_version_ = 0;
    /// PostgreSQL: the settings make transactions SERIALIZABLE, which a hot standby refuses (at the first
    /// statement): replicas cannot serve the session, as if they had refused the settings.
    bool serializable_settings_ = false;
    /// Replicas (bit i: replica i) where replaying settings_tag_'s settings failed: not used until they change.
    std::uint64_t replay_failed_ = 0;
    std::uint64_t replay_failed_tag_ = 0;
    /// Pinned state by cause (pin_cause): the objects created (a multiset: an advisory lock taken twice is
    /// released twice); "" for a cause without names (LOCK TABLES, SET TRANSACTION).
    std::array<std::vector<std::string>, static_cast<std::size_t>(pin_cause::count_)> pins_;
    bool opaque_pin_ = false;  ///< session state that cannot be followed: pinned for the session's life

    /// A read-only transaction (BEGIN READ ONLY, START TRANSACTION READ ONLY) runs on this replica connection:
    /// every statement goes there until it ends.
    std::shared_ptr<endpoint_handle> replica_txn_;
    /// The statements that began it (run on the primary, in order, if it moves there).
    std::vector<std::string> replica_txn_begin_;
    bool replica_txn_answered_ = false;   ///< a statement of it succeeded: its rows may have reached the application
    /// The session is gone: the connections it held for itself (a transaction, a pin, a read-only transaction on
    /// a replica) go back to their pools. A statement that outlives its session (SOCI cannot use it any more; it
    /// may only be destroyed) keeps only the connection it runs on, and a statement SOCI never destroys (see
    /// routing_statement_backend::let_go()) keeps none. A connection a blob or rowid was made on stays held:
    /// the driver's blob refers to it, and SOCI gives no way to see the blob go.
    void session_closed() noexcept
    {
        if (!keep_primary_)
            primary_held_.reset();
        end_replica_transaction();
    }

    void end_replica_transaction() noexcept
    {
        replica_txn_.reset();
        replica_txn_begin_.clear();
        replica_txn_answered_ = false;
    }
    /// The transaction on the primary has run nothing but its BEGIN (`txn_begin_text_`): PostgreSQL's
    /// `BEGIN; SET TRANSACTION READ ONLY` may still move it to a replica.
    bool txn_fresh_ = false;
    std::string txn_begin_text_;
    /// MySQL: the SET TRANSACTION that set the next transaction's characteristics (pin_cause::next_transaction).
    std::string next_transaction_text_;
    int force_primary_ = 0;
    int force_replica_ = 0;
    /// Routed executions begun in this session (any statement): a statement's remembered placement holds for its
    /// next execution only while none came between (routing_statement_backend::placement_holds()).
    std::uint64_t executions_ = 0;
    endpoint_pool const* last_pool_ = nullptr;
    char const* last_reason_ = "";

    routing_session_backend* owner_ = nullptr;  ///< the live session backend, or nullptr after reconnect
};

class routing_session_backend : public soci::details::session_backend
{
public:
    explicit routing_session_backend(soci::connection_parameters const& parameters);
    ~routing_session_backend() override;

    bool is_connected() override;

    void begin() override;
    void commit() override;
    void rollback() override;

    bool get_next_sequence_value(soci::session& s, std::string const& sequence, long long& value) override;
    bool get_last_insert_id(soci::session& s, std::string const& table, long long& value) override;

    std::string get_table_names_query() const override;
    std::string get_column_descriptions_query() const override;
    std::string create_table(std::string const& table_name) override;
    std::string drop_table(std::string const& table_name) override;
    std::string truncate_table(std::string const& table_name) override;
    std::string create_column_type(soci::data_type dt, int precision, int scale) override;
    std::string add_column(std::string const& table_name, std::string const& column_name, soci::data_type dt,
                           int precision, int scale) override;
    std::string alter_column(std::string const& table_name, std::string const& column_name, soci::data_type dt,
                             int precision, int scale) override;
    std::string drop_column(std::string const& table_name, std::string const& column_name) override;
    std::string constraint_unique(std::string const& name, std::string const& column_names) override;
    std::string constraint_primary_key(std::string const& name, std::string const& column_names) override;
    std::string constraint_foreign_key(std::string const& name, std::string const& column_names,
                                       std::string const& ref_table_name,
                                       std::string const& ref_column_names) override;
    std::string empty_blob() override;
    std::string nvl() override;
    std::string get_dummy_from_table() const override;
    std::string get_backend_name() const override;

    soci::details::statement_backend* make_statement_backend() override;
    soci::details::rowid_backend* make_rowid_backend() override;
    soci::details::blob_backend* make_blob_backend() override;

    std::shared_ptr<session_state> const& state() const noexcept { return state_; }
    /// A primary connection's driver backend, for what only formats SQL (DDL helpers): leased for the call.
    template <typename F>
    auto with_primary_backend(F f) const
    {
        std::shared_ptr<endpoint_handle> const h = state_->primary();
        return f(*h->session().get_backend());
    }

private:
    std::shared_ptr<session_state> state_;
    std::string connect_string_;  ///< for session::reconnect() (reconnect_carry)
};

class routing_statement_backend;

/// What every element proxy offers its statement for replaying.
class routing_element
{
public:
    virtual ~routing_element() = default;
    /// Deletes the inner element (before the inner statement goes).
    virtual void drop_inner() noexcept = 0;
    /// Makes the inner element on the new inner statement and repeats define/bind.
    virtual void replay_definition(soci::details::statement_backend& inner) = 0;
    /// Repeats the pre_use / pre_fetch / pre_exec calls SOCI made in the execution under way.
    virtual void replay_execution() = 0;
    /// The execution is over: forget its pending calls.
    virtual void execution_done() noexcept = 0;
    /// The statement goes away first (should not happen with SOCI's core): forget it.
    virtual void orphan() noexcept = 0;
};

class routing_statement_backend : public soci::details::statement_backend
{
public:
    explicit routing_statement_backend(std::shared_ptr<session_state> state);
    ~routing_statement_backend() override;

    void alloc() override {}
    void clean_up() override;
    void prepare(std::string const& query, soci::details::statement_type type) override;

    exec_fetch_result execute(int number) override;
    exec_fetch_result fetch(int number) override;

    long long get_affected_rows() override;
    int get_number_of_rows() override;
    std::string get_parameter_name(int index) const override;
    std::string rewrite_for_procedure_call(std::string const& query) override;

    int prepare_for_describe() override;
    void describe_column(int col_num, soci::data_type& dtype, std::string& column_name) override;

    soci::details::standard_into_type_backend* make_into_type_backend() override;
    soci::details::standard_use_type_backend* make_use_type_backend() override;
    soci::details::vector_into_type_backend* make_vector_into_type_backend() override;
    soci::details::vector_use_type_backend* make_vector_use_type_backend() override;

    // For the element proxies.
    soci::details::statement_backend* inner() noexcept { return inner_.get(); }
    /// Makes sure an inner statement exists (after a failed re-preparation), on the current route.
    soci::details::statement_backend& ensure_inner();
    void attach(routing_element* e);
    void detach(routing_element* e) noexcept;
    /// An element failed to define or bind (no memory): the statement lets go of its inner statement and its
    /// connection. SOCI's statement_impl constructor does not clean up when define_and_bind() throws; the
    /// statement and this backend are then never destroyed, and a connection they held would stay lent from
    /// its pool for good. A statement that is used again is placed again.
    void let_go() noexcept;
    /// A new element proxy of this statement (make_into_type_backend() ...); lets go (above) when it cannot.
    template <typename Element>
    Element* make_element();
    /// The statement exchanges a blob or a rowid: it runs on the primary.
    void require_primary() noexcept { primary_only_ = true; }

private:
    /// Decides the route now and returns the connection to run on (may lease a replica).
    std::shared_ptr<endpoint_handle> choose(char const*& reason);
    /// Drops the inner statement and prepares a new one on `target`, replaying elements.
    void move_to(std::shared_ptr<endpoint_handle> target, bool replay_execution);
    /// move_to()'s work on the new endpoint: the inner statement made, prepared, its elements replayed.
    void prepare_inner(bool replay_execution);
    /// Places the inner statement where route() says (no-op when already there).
    void place(bool replay_execution);
    void drop_inner() noexcept;
    /// drop_inner() in a child of fork(), for a statement of its parent's (pools/fork.h).
    [[gnu::cold, gnu::noinline]] void abandon_inner() noexcept;
    void finish_execution() noexcept;
    /// An execution failed: the endpoint it ran on is the session's last one.
    void note_failed() noexcept;
    /// Counts one fallback on `pool`: at most once per read (prepare and execution, with all their attempts).
    void count_fallback(endpoint_pool& pool) noexcept;
    /// A read failed on a replica: decides between retrying on the primary (returns normally, the inner
    /// statement moved) and letting the error through (throws). Call from a catch block.
    void recover_or_rethrow(std::exception const& e, bool replay_execution);
    template <typename Run>
    auto run_routed(Run run) -> decltype(run());
    /// Runs `f` (a driver call that may wait for the server) on the current endpoint under its read timeout
    /// (replicas only): a cut connection throws deadline_error, naming the replica and the timeout.
    template <typename F>
    auto watched(F f) -> decltype(f());
    /// Makes the new inner statement (a one-time query, prepared but not run) use the connection's cached
    /// server-side statement of the same text, preparing it when the text comes again.
    void use_statement_cache();
    /// Forgets the cached statement the inner statement uses (before the inner statement goes).
    void release_cached() noexcept;
    /// A cached statement failed because the server dropped it (26000) or its result type changed (0A000):
    /// invalidates it and, when the connection is not inside a failed transaction, re-prepares the inner
    /// statement uncached and returns true (run it again). Call from a catch block.
    bool retry_uncached(std::exception const& e);
    /// After a successful execution: counts an uncached run of a cacheable text; DISCARD ALL / DEALLOCATE ALL
    /// empty the connection's cache.
    void note_cache_effects() noexcept;
    /// After a successful execution: a read-only transaction began on a replica, went on, or ended there.
    void note_replica_transaction() noexcept;
    /// Runs replica_txn_prelude_ on `h`, which is to run the transaction; false (nothing moves) on failure.
    bool open_replica_transaction(endpoint_handle& h) noexcept;
    /// Causal mode: waits on replica connection `h` up to causal_timeout for `required` (what it learns of the
    /// replica's position is noted on its pool); `waited`: seconds. False when the wait ran out (counted).
    /// A failure of the replica is recorded on it and thrown.
    bool wait_for(endpoint_handle& h, causal_position const& required, double& waited);
    /// True while choose() decides for an execution (false: for a prepare, which does not count).
    bool executing_ = false;
    /// The facts the statement was last placed on: by the prepare of a one-time statement (SOCI runs its
    /// execution right after; only application code converting its use elements runs in between), or by the
    /// last execution of a prepared statement that runs on a replica. While nothing the route depends on changed
    /// (no statement of the session ran, no guard, transaction or scope write came), the next execution runs
    /// there without another choose().
    struct placement_facts
    {
        bool holds = false;  ///< set by remember_placement(): the next execution may skip choose()
        std::uint64_t executions = 0;
        soci::routing_scope const* scope = nullptr;
        std::int64_t last_write = 0;
        int force_primary = 0;
        int force_replica = 0;
        bool in_transaction = false;
        bool pinned = false;
        bool primary_only = false;  ///< the statement's own: its elements bind a blob or a rowid after the prepare
    } placed_on_;
    /// True when the execution under way may run where the statement was placed (placed_on_ still true, its
    /// connection still usable); consumes placed_on_.
    bool placement_holds() noexcept;
    /// Sets placed_on_ from the session's facts now, unless choose() has more to do than route (causal mode,
    /// read-only transactions).
    void remember_placement() noexcept;
    /// After a successful execution of a prepared statement on a replica: remember_placement().
    void remember_repeatable_placement() noexcept;
    /// The statement has been placed on a connection before (a placement now is a move), and how long
    /// place()'s choose() took to get the connection of the placement under way (0 for other placements:
    /// a fallback, an uncached retry).
    bool placed_before_ = false;
    std::chrono::steady_clock::duration lease_time_{};
    /// When place() had the connection, if nothing came between that and prepare_inner() (the statement had no
    /// inner statement to drop): prepare_inner() starts its clock there instead of reading it again.
    std::chrono::steady_clock::time_point leased_at_{};
    /// Causal: the prepare waited this long for a replica (-1: it did not), or its wait ran out; the execution
    /// counts the first and does not wait again after the second.
    double prepare_waited_ = -1;
    bool prepare_wait_ran_out_ = false;
    /// What choose() did for causal consistency, counted once the execution is routed.
    struct causal_outcome
    {
        enum kind { replica, after_wait, primary };
        endpoint_pool* pool = nullptr;  ///< nullptr: nothing to count
        kind what = replica;
        double seconds = 0;             ///< the wait
    } causal_outcome_;
    /// The statement runs inside the session's read-only transaction on a replica: its connection.
    std::shared_ptr<endpoint_handle> in_replica_transaction(char const*& reason);
    /// A statement of the read-only transaction on a replica failed with `e` (from a catch block): before any
    /// statement of it succeeded, the transaction moves to the primary (returns, the statement moved there);
    /// else the error reaches the application (throws).
    void replica_transaction_failed(std::exception const& e, bool replay_execution);

    std::shared_ptr<session_state> state_;
    std::string query_;
    soci::details::statement_type type_ = soci::details::st_one_time_query;
    classification class_;
    bool prepared_ = false;
    bool procedure_ = false;
    bool primary_only_ = false;
    unsigned dirt_ = dirt_none;    ///< what running query_ does to the server session (lease_dirt)
    bool read_only_begin_ = false; ///< query_ begins a read-only transaction a replica can run
    bool set_read_only_ = false;   ///< query_ is SET TRANSACTION ... READ ONLY (and not SERIALIZABLE on PostgreSQL)
    /// The execution under way opens a read-only transaction on the replica choose() returned: the statements
    /// to run there before query_ (PostgreSQL's BEGIN; MySQL's SET TRANSACTION), and to run on the primary
    /// before a later statement if the transaction has to move.
    bool opening_replica_txn_ = false;
    std::vector<std::string> replica_txn_prelude_;
    bool has_effect_ = false;      ///< query_ may create or remove session state: effect_ says how
    session_effect_info effect_;
    bool described_ = false;       ///< prepare_for_describe ran the query of the execution under way
    bool cacheable_ = false;       ///< a PostgreSQL DML query (one-time or repeatable): may use the statement cache
    bool no_cache_ = false;        ///< a cached statement failed: this statement runs uncached
    bool cached_inner_ = false;    ///< inner_ executes the cached server-side statement cached_->name
    std::shared_ptr<statement_cache_entry> cached_;  ///< the cache entry of query_ on endpoint_, checked out
    char const* reason_ = "";
    bool fallback_counted_ = false;  ///< the read under way (prepare to end of execution) counted its fallback
    /// Replicas (bit i: replica i) that failed to connect for the read under way (prepare to end of execution).
    std::uint64_t failed_replicas_ = 0;
    std::shared_ptr<endpoint_handle> endpoint_;
    std::unique_ptr<soci::details::statement_backend> inner_;
    /// In definition order. A statement has a few (its intos and uses): held inline, no allocation per statement.
    boost::container::small_vector<routing_element*, 4> elements_;
};

/// Cleans up and destroys an element proxy's inner element. Never throws: its connection may be broken, and the
/// element is gone either way.
template <typename Element>
void discard_inner_element(std::unique_ptr<Element>& inner) noexcept
{
    if (!inner)
        return;
    try
    {
        inner->clean_up();
    }
    catch (...)
    {
    }
    inner.reset();
}

/// What the four element proxies share. SOCI defines (or binds) an element once and then calls pre_exec /
/// pre_fetch / pre_use for each execution; the proxy records the definition and the calls of the execution
/// under way, forwards everything to its inner element on the statement's current inner statement, and repeats
/// both on a new inner statement when the statement moves (replay_definition, replay_execution). The derived
/// proxy records its own arguments and says how to make an inner element, define it, and repeat its
/// pre_fetch / pre_use.
template <typename Inner>
class element_proxy : public routing_element
{
public:
    void drop_inner() noexcept final { discard_inner_element(inner_); }

    void replay_definition(soci::details::statement_backend& st) final
    {
        if (!defined_)
            return;
        inner_.reset(make_inner(st));
        int position = position_;
        apply_definition(*inner_, position);
    }

    void replay_execution() final
    {
        if (!inner_)
            return;
        if (pending_pre_)
            replay_pre(*inner_);
        if (pending_pre_exec_ >= 0)
            inner_->pre_exec(pending_pre_exec_);
    }

    void execution_done() noexcept final
    {
        pending_pre_exec_ = -1;
        pending_pre_ = false;
    }

    void orphan() noexcept final
    {
        drop_inner();
        statement_ = nullptr;
        attached_ = false;
    }

protected:
    element_proxy(routing_statement_backend& st, char const* what) : statement_(&st), what_(what) {}

    /// Makes an inner element of the inner statement `st`.
    virtual Inner* make_inner(soci::details::statement_backend& st) = 0;
    /// Repeats the recorded define_by_pos / bind_by_* call on `inner` (by-position calls advance `position`).
    virtual void apply_definition(Inner& inner, int& position) = 0;
    /// Repeats the pre_fetch / pre_use call of the execution under way.
    virtual void replay_pre(Inner& inner) = 0;

    /// The inner element, preparing the statement's inner statement first if it has none yet.
    Inner& inner()
    {
        if (!inner_ && statement_ != nullptr)
            statement_->ensure_inner();
        if (!inner_)
            throw soci::soci_error(std::string("routing: ") + what_ + " used after its statement was cleaned up");
        return *inner_;
    }

    /// After the derived proxy recorded its arguments: defines the element on the current inner statement
    /// (none yet: a by-position call still advances `position`, as SOCI expects). `position`: nullptr for
    /// by-name binds.
    void define(int* position)
    {
        defined_ = true;
        drop_inner();
        try
        {
            if (!attached_)
            {
                statement_->attach(this);
                attached_ = true;
            }
            soci::details::statement_backend* st = statement_->inner();
            if (st == nullptr)
            {
                if (position != nullptr)
                    ++*position;
                return;
            }
            inner_.reset(make_inner(*st));
            int scratch = position_;
            apply_definition(*inner_, position != nullptr ? *position : scratch);
        }
        catch (...)
        {
            statement_->let_go();
            throw;
        }
    }

    /// SOCI's clean_up(): the element is deleted right after (or defined again, after undefine_and_bind()).
    void forget_definition() noexcept
    {
        drop_inner();
        defined_ = false;
        if (attached_ && statement_ != nullptr)
            statement_->detach(this);
        attached_ = false;
    }

    void forward_pre_exec(int num)
    {
        inner().pre_exec(num);
        pending_pre_exec_ = num;
    }

    /// A pre_fetch / pre_use was forwarded: repeat it if the statement moves during this execution.
    void note_pre() noexcept { pending_pre_ = true; }

    routing_statement_backend* statement_;
    int position_ = 0;  ///< the recorded position of by-position calls (before the inner element advances it)

private:
    char const* what_;
    bool attached_ = false;  ///< in the statement's element list
    std::unique_ptr<Inner> inner_;
    bool defined_ = false;
    int pending_pre_exec_ = -1;
    bool pending_pre_ = false;
};

class routing_standard_into_type_backend : public soci::details::standard_into_type_backend,
                                           public element_proxy<soci::details::standard_into_type_backend>
{
public:
    explicit routing_standard_into_type_backend(routing_statement_backend& st) : element_proxy(st, "into element") {}
    ~routing_standard_into_type_backend() override;

    void define_by_pos(int& position, void* data, soci::details::exchange_type type) override;
    void pre_exec(int num) override;
    void pre_fetch() override;
    void post_fetch(bool got_data, bool called_from_fetch, soci::indicator* ind) override;
    void clean_up() override;

private:
    soci::details::standard_into_type_backend* make_inner(soci::details::statement_backend& st) override;
    void apply_definition(soci::details::standard_into_type_backend& inner, int& position) override;
    void replay_pre(soci::details::standard_into_type_backend& inner) override;

    void* data_ = nullptr;
    soci::details::exchange_type type_ = soci::details::x_integer;
};

class routing_standard_use_type_backend : public soci::details::standard_use_type_backend,
                                          public element_proxy<soci::details::standard_use_type_backend>
{
public:
    explicit routing_standard_use_type_backend(routing_statement_backend& st) : element_proxy(st, "use element") {}
    ~routing_standard_use_type_backend() override;

    void bind_by_pos(int& position, void* data, soci::details::exchange_type type, bool read_only) override;
    void bind_by_name(std::string const& name, void* data, soci::details::exchange_type type,
                      bool read_only) override;
    void pre_exec(int num) override;
    void pre_use(soci::indicator const* ind) override;
    void post_use(bool got_data, soci::indicator* ind) override;
    void clean_up() override;

private:
    soci::details::standard_use_type_backend* make_inner(soci::details::statement_backend& st) override;
    void apply_definition(soci::details::standard_use_type_backend& inner, int& position) override;
    void replay_pre(soci::details::standard_use_type_backend& inner) override;

    std::string name_;
    bool by_name_ = false;
    void* data_ = nullptr;
    soci::details::exchange_type type_ = soci::details::x_integer;
    bool read_only_ = false;
    soci::indicator const* last_ind_ = nullptr;
};

class routing_vector_into_type_backend : public soci::details::vector_into_type_backend,
                                         public element_proxy<soci::details::vector_into_type_backend>
{
public:
    explicit routing_vector_into_type_backend(routing_statement_backend& st)
        : element_proxy(st, "vector into element")
    {
    }
    ~routing_vector_into_type_backend() override;

    void define_by_pos_bulk(int& position, void* data, soci::details::exchange_type type, std::size_t begin,
                            std::size_t* end) override;
    void define_by_pos(int& position, void* data, soci::details::exchange_type type) override;
    void pre_exec(int num) override;
    void pre_fetch() override;
    void post_fetch(bool got_data, soci::indicator* ind) override;
    void resize(std::size_t sz) override;
    std::size_t size() override;
    void clean_up() override;

private:
    soci::details::vector_into_type_backend* make_inner(soci::details::statement_backend& st) override;
    void apply_definition(soci::details::vector_into_type_backend& inner, int& position) override;
    void replay_pre(soci::details::vector_into_type_backend& inner) override;

    void* data_ = nullptr;
    soci::details::exchange_type type_ = soci::details::x_integer;
    bool bulk_ = false;
    std::size_t begin_ = 0;
    std::size_t* end_ = nullptr;
};

class routing_vector_use_type_backend : public soci::details::vector_use_type_backend,
                                        public element_proxy<soci::details::vector_use_type_backend>
{
public:
    explicit routing_vector_use_type_backend(routing_statement_backend& st)
        : element_proxy(st, "vector use element")
    {
    }
    ~routing_vector_use_type_backend() override;

    void bind_by_pos(int& position, void* data, soci::details::exchange_type type) override;
    void bind_by_pos_bulk(int& position, void* data, soci::details::exchange_type type, std::size_t begin,
                          std::size_t* end) override;
    void bind_by_name(std::string const& name, void* data, soci::details::exchange_type type) override;
    void bind_by_name_bulk(std::string const& name, void* data, soci::details::exchange_type type,
                           std::size_t begin, std::size_t* end) override;
    void pre_exec(int num) override;
    void pre_use(soci::indicator const* ind) override;
    std::size_t size() override;
    void clean_up() override;

private:
    soci::details::vector_use_type_backend* make_inner(soci::details::statement_backend& st) override;
    void apply_definition(soci::details::vector_use_type_backend& inner, int& position) override;
    void replay_pre(soci::details::vector_use_type_backend& inner) override;
    /// Records a call's arguments and defines the element (`position`: nullptr for by-name calls).
    void record(int* position, std::string const* name, void* data, soci::details::exchange_type type, bool bulk,
                std::size_t begin, std::size_t* end);

    std::string name_;
    bool by_name_ = false;
    void* data_ = nullptr;
    soci::details::exchange_type type_ = soci::details::x_integer;
    bool bulk_ = false;
    std::size_t begin_ = 0;
    std::size_t* end_ = nullptr;
    soci::indicator const* last_ind_ = nullptr;
};

/// Adds context to an error on its way to the application, keeping its type and message (soci_error only).
void add_context(std::exception const& e, std::string const& context);

/// The routing session backend behind `sql`, or nullptr when `sql` is not routed.
routing_session_backend* find_routing_backend(soci::session& sql) noexcept;
/// The same; throws soci_error("session is not a routing session").
routing_session_backend& require_routing_backend(soci::session& sql);

} // namespace soci_routing

#endif // SOCI_ROUTING_BACKEND_H_INCLUDED
