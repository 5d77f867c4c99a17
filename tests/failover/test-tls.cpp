// soci-routing failover tests: TLS that cannot be downgraded. ci/clusters gives every server a certificate of a
// private CA and a user, routing_tls, that the servers accept over TLS only; these tests connect as that user
// with the driver's own TLS options and check what each connection really is (pg_stat_ssl, Ssl_cipher), on the
// node each statement ran on. What the drivers do differs, and the tests say so where it does:
//   PostgreSQL (libpq): every ssl* keyword of the primary's options is inherited by the replicas;
//     sslmode=verify-full checks the chain and the host name, and never falls back to plain text.
//   MariaDB (SOCI 4.0.3's mysql backend, Connector/C 3.3): sslca, sslcert, sslkey only (sslcert/sslkey only
//     together with sslca); the chain is checked, the host name is not, and a server that offers no TLS gets
//     the login in plain text: only the server's REQUIRE SSL refuses it.

#include <boost/test/unit_test.hpp>

#include "failover-support.h"

#include <soci/mysql/soci-mysql.h>  // <mysql.h>: MARIADB_PACKAGE_VERSION_ID, the Connector/C version

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

using namespace failover_test;

namespace
{

// ------------------------------------------------------------------------------------------------ set-up

/// What `ci/clusters env` says about TLS: the CAs, the TLS-only user, and the client certificates next to
/// the CA (client.crt of the CA, wrong-client.crt of the unrelated one; both CN routing_tls).
struct tls_setup
{
    std::string ca;
    std::string wrong_ca;
    std::string user;
    std::string client_cert;
    std::string client_key;
    std::string wrong_client_cert;
    std::string wrong_client_key;
};

std::string required_env(char const* name)
{
    char const* v = std::getenv(name);
    if (v == nullptr || *v == '\0')
        throw std::runtime_error(std::string(name) + " is not set: start the test cluster and run "
                                 "eval \"$(ci/clusters env)\" first");
    return v;
}

tls_setup const& tls()
{
    static tls_setup const t = [] {
        tls_setup s;
        s.ca = required_env("SOCI_ROUTING_TLS_CA");
        s.wrong_ca = required_env("SOCI_ROUTING_TLS_WRONG_CA");
        s.user = required_env("SOCI_ROUTING_TLS_USER");
        std::string const dir = std::filesystem::path(s.ca).parent_path().string();
        s.client_cert = dir + "/client.crt";
        s.client_key = dir + "/client.key";
        s.wrong_client_cert = dir + "/wrong-client.crt";
        s.wrong_client_key = dir + "/wrong-client.key";
        return s;
    }();
    return t;
}

/// The TLS options that verify the server with `ca`: PostgreSQL verify-full (chain and host name), MariaDB
/// sslca (all SOCI 4.0.3 passes).
std::map<std::string, std::string> verifying(std::string const& ca)
{
    if (cluster().is_pg())
        return {{"sslmode", "verify-full"}, {"sslrootcert", ca}};
    return {{"sslca", ca}};
}

/// A configuration of the TLS tests: the user is routing_tls, whatever else write_config() would write.
struct tls_spec
{
    std::string primary_host = "127.0.0.1";
    int primary_port = 0;  ///< 0: the real primary
    std::map<std::string, std::string> primary_options;
    std::map<std::string, std::string> replica_options;  ///< each replica's own, over what it inherits
    std::string user;  ///< empty: routing_tls (TLS only); "routing" accepts plain connections too
};

/// Writes the configuration (as write_config() does, with a tag that makes its pools the test's own) and
/// returns `routing://config=PATH`.
std::string tls_uri(tls_spec const& spec)
{
    test_cluster const& c = cluster();
    std::string const tag = unique_tag("tls");
    std::ostringstream t;
    t << "# written by the soci-routing TLS tests\n";
    // rebalance = 0: one session's reads meet every replica.
    t << "[routing]\nsticky = 0.0\nfallback = true\nbalance = \"round_robin\"\nrebalance = 0.0\n";
    t << "\n[primary]\n";
    t << "driver = " << toml_string(c.driver) << "\n";
    t << "host = " << toml_string(spec.primary_host) << "\n";
    t << "port = " << (spec.primary_port != 0 ? spec.primary_port : c.primary.port) << "\n";
    t << "database = " << toml_string(c.primary.database) << "\n";
    t << "username = " << toml_string(spec.user.empty() ? tls().user : spec.user) << "\n";
    t << "password = " << toml_string(c.primary.password) << "\n";
    t << "timeout = 2.0\n";
    auto options = spec.primary_options;
    if (c.is_pg())
        options.emplace("application_name", tag);  // inherited by the replicas
    if (!options.empty())
        t << "options = " << toml_inline_table(options) << "\n";
    for (auto const& r : real_replicas())
    {
        t << "\n[[replicas]]\n";
        t << "name = " << toml_string(r.name) << "\n";
        t << "host = \"127.0.0.1\"\n";
        t << "port = " << r.port << "\n";
        if (!spec.replica_options.empty())
            t << "options = " << toml_inline_table(spec.replica_options) << "\n";
    }
    if (c.is_mysql())
    {
        // A function no test calls makes the configuration, and so its pools and counters, the test's own.
        std::string function = "tls_" + tag;
        for (char& ch : function)
            if (ch == '-')
                ch = '_';
        t << "\n[classifier]\nprimary_functions = [" << toml_string(function) << "]\n";
    }
    std::filesystem::path const path = config_dir() / (tag + ".toml");
    std::ofstream out(path);
    out << t.str();
    out.close();
    if (!out)
        throw std::runtime_error("cannot write " + path.string());
    BOOST_TEST_MESSAGE("configuration: primary " << spec.primary_host << ":"
                                                  << (spec.primary_port != 0 ? spec.primary_port : c.primary.port)
                                                  << " options " << toml_inline_table(options)
                                                  << ", replicas' own options " << toml_inline_table(spec.replica_options));
    return routing_uri(path.string());
}

// ------------------------------------------------------------------------------------ what a connection is

/// What the server says of the connection a statement ran on, and where the router sent that statement.
struct connection_seen
{
    std::string endpoint;   ///< soci::routing.last_endpoint()
    std::string reason;     ///< soci::routing.last_reason()
    bool tls = false;
    std::string protocol;   ///< PostgreSQL: the TLS version; MariaDB: the cipher
    std::string client_dn;  ///< PostgreSQL: the client certificate's subject ("" when none was presented)
};

std::ostream& operator<<(std::ostream& o, connection_seen const& s)
{
    return o << s.endpoint << " (" << s.reason << "): " << (s.tls ? "TLS " + s.protocol : std::string("plain"))
             << (s.client_dn.empty() ? "" : ", client certificate " + s.client_dn);
}

/// Asks, through the routing session, whether the connection the statement runs on is TLS: one read, routed
/// like any other, so it reports on the very connection it ran on. (PostgreSQL: not `pid = pg_backend_pid()`,
/// which the classifier sends to the primary as a session-bound function; the client's address and port
/// name the connection as well.)
connection_seen seen_by_server(soci::session& sql)
{
    connection_seen s;
    if (cluster().is_pg())
    {
        int ssl = 0;
        sql << "SELECT s.ssl::int, coalesce(s.version, ''), coalesce(s.client_dn, '')"
               " FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid)"
               " WHERE a.client_addr = inet_client_addr() AND a.client_port = inet_client_port()",
            soci::into(ssl), soci::into(s.protocol), soci::into(s.client_dn);
        BOOST_REQUIRE_MESSAGE(sql.got_data(), "pg_stat_activity has no row for this connection");
        s.tls = ssl != 0;
    }
    else
    {
        std::string name;
        soci::indicator ind = soci::i_null;
        sql << "SHOW SESSION STATUS LIKE 'Ssl_cipher'", soci::into(name), soci::into(s.protocol, ind);
        BOOST_REQUIRE_MESSAGE(sql.got_data(), "SHOW SESSION STATUS LIKE 'Ssl_cipher' returned no row");
        if (ind != soci::i_ok)
            s.protocol.clear();
        s.tls = !s.protocol.empty();
    }
    s.endpoint = soci::routing.last_endpoint(sql);
    s.reason = soci::routing.last_reason(sql);
    return s;
}

/// Logins of the TLS user that a server refused because they came without TLS, so far: PostgreSQL — its log's
/// `pg_hba.conf rejects connection ... user "routing_tls" ... no encryption` lines (the `host ... reject`
/// line); MariaDB — Access_denied_errors (REQUIRE SSL; the tests are alone on the cluster). A count that
/// does not grow means no plain-text login of that user reached the server.
long plain_logins_refused(server const& s)
{
    if (cluster().is_mysql())
    {
        std::string name;
        long n = -1;
        *direct(s) << "SHOW GLOBAL STATUS LIKE 'Access_denied_errors'", soci::into(name), soci::into(n);
        return n;
    }
    std::string const log = required_env("SOCI_ROUTING_CLUSTER_DIR") + "/pg/log/" + s.node + ".log";
    std::ifstream in(log);
    BOOST_REQUIRE_MESSAGE(in, "cannot read " << log);
    long n = 0;
    std::string const who = "user \"" + tls().user + "\"";
    for (std::string line; std::getline(in, line);)
        if (contains(line, "pg_hba.conf rejects connection") && contains(line, who) && contains(line, "no encryption"))
            ++n;
    return n;
}

/// The plain-text refusals of every node, to compare before and after.
std::vector<long> plain_logins_refused_everywhere()
{
    std::vector<long> n{plain_logins_refused(cluster().primary)};
    for (auto const& r : cluster().replicas)
        n.push_back(plain_logins_refused(r));
    return n;
}

/// Opens a routing session on `uri`, expecting it to fail; returns the error's text ("" when it opened).
std::string open_failure(std::string const& uri)
{
    try
    {
        soci::session sql(uri);
        return "";
    }
    catch (soci::soci_error const& e)
    {
        return e.what();
    }
}

/// The error of a session that could not open names the primary and its address, not the password.
void check_names_the_primary(std::string const& error, std::string const& address)
{
    BOOST_TEST_MESSAGE("opening the session failed: " << error);
    BOOST_CHECK_MESSAGE(contains(error, "primary"), "the error does not name the primary: " << error);
    BOOST_CHECK_MESSAGE(contains(error, address), "the error does not name " << address << ": " << error);
    BOOST_CHECK_MESSAGE(contains(error, tls().user), "the error does not name the user: " << error);
    BOOST_CHECK(!contains(error, cluster().primary.password));
}

std::string primary_address(int port = 0)
{
    return "127.0.0.1:" + std::to_string(port != 0 ? port : cluster().primary.port);
}

/// The table the TLS tests write to, made by routing_tls (who may not write to the routing user's tables).
std::string const& tls_table()
{
    static std::string const name = "tls_test_writes";
    return name;
}

void create_tls_table(soci::session& sql)
{
    if (cluster().is_pg())
        sql << "CREATE TABLE IF NOT EXISTS " + tls_table() + " (id bigserial PRIMARY KEY, tag text NOT NULL)";
    else
        sql << "CREATE TABLE IF NOT EXISTS " + tls_table()
                + " (id BIGINT AUTO_INCREMENT PRIMARY KEY, tag VARCHAR(200) NOT NULL)";
}

// -------------------------------------------------------------------------------- a man in the middle

/// A man in the middle on loopback that tells the client its server has no TLS — PostgreSQL: it answers the
/// client's SSLRequest with 'N' itself; MariaDB: it clears CLIENT_SSL in the server's greeting — and forwards
/// the rest. What the client sends after that travels in plain text, and is kept.
class tls_stripping_proxy
{
public:
    explicit tls_stripping_proxy(int target_port) : target_port_(target_port)
    {
        listen_fd_ = socket(AF_INET, SOCK_STREAM, 0);
        if (listen_fd_ < 0)
            throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
        int one = 1;
        setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        sockaddr_in a = loopback(0);
        socklen_t len = sizeof a;
        if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(listen_fd_, 16) != 0
            || getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0)
        {
            close(listen_fd_);
            throw std::runtime_error(std::string("tls_stripping_proxy: ") + std::strerror(errno));
        }
        port_ = ntohs(a.sin_port);
        acceptor_ = std::thread([this] { accept_loop(); });
    }

    ~tls_stripping_proxy()
    {
        stop_ = true;
        acceptor_.join();
        for (auto& t : connections_)
            t.join();
        close(listen_fd_);
    }

    tls_stripping_proxy(tls_stripping_proxy const&) = delete;
    tls_stripping_proxy& operator=(tls_stripping_proxy const&) = delete;

    int port() const noexcept { return port_; }
    int accepted() const noexcept { return accepted_.load(); }
    /// Connections whose client was told that the server has no TLS.
    int stripped() const noexcept { return stripped_.load(); }
    /// What the clients sent in plain text after that.
    std::string plain_from_clients() const
    {
        std::lock_guard<std::mutex> lock(mutex_);
        return plain_;
    }

private:
    static sockaddr_in loopback(int port)
    {
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(static_cast<std::uint16_t>(port));
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        return a;
    }

    void accept_loop()
    {
        while (!stop_)
        {
            pollfd p{listen_fd_, POLLIN, 0};
            if (poll(&p, 1, 50) <= 0)
                continue;
            int const client = accept(listen_fd_, nullptr, nullptr);
            if (client < 0)
                continue;
            ++accepted_;
            connections_.emplace_back([this, client] {
                if (cluster().is_pg())
                    serve_postgresql(client);
                else
                    serve_mysql(client);
                close(client);
            });
        }
    }

    /// Reads up to `n` bytes (exactly `n` unless the peer closes or 5 s pass).
    std::string read_some(int fd, std::size_t n, bool exactly)
    {
        std::string out;
        auto const deadline = failover_test::clock::now() + 5s;
        while (out.size() < n && !stop_ && failover_test::clock::now() < deadline)
        {
            pollfd p{fd, POLLIN, 0};
            if (poll(&p, 1, 50) <= 0)
                continue;
            char buf[4096];
            ssize_t const r = recv(fd, buf, std::min(sizeof buf, n - out.size()), 0);
            if (r <= 0)
                break;
            out.append(buf, static_cast<std::size_t>(r));
            if (!exactly)
                break;
        }
        return out;
    }

    static bool send_all(int fd, std::string const& data)
    {
        std::size_t done = 0;
        while (done < data.size())
        {
            ssize_t const w = send(fd, data.data() + done, data.size() - done, MSG_NOSIGNAL);
            if (w <= 0)
                return false;
            done += static_cast<std::size_t>(w);
        }
        return true;
    }

    void keep_plain(std::string const& data)
    {
        std::lock_guard<std::mutex> lock(mutex_);
        plain_ += data;
    }

    // PostgreSQL: an SSLRequest (or GSSENCRequest) is 8 bytes, length 8 and a magic code; the server answers
    // one byte, 'S' or 'N'. Whatever comes after an 'N' is a plain-text startup: kept, never forwarded.
    void serve_postgresql(int client)
    {
        for (;;)
        {
            std::string const head = read_some(client, 8, true);
            if (head.size() < 8)
            {
                keep_plain(head);
                return;
            }
            auto const word = [&](std::size_t at) {
                return (static_cast<std::uint32_t>(static_cast<unsigned char>(head[at])) << 24)
                       | (static_cast<std::uint32_t>(static_cast<unsigned char>(head[at + 1])) << 16)
                       | (static_cast<std::uint32_t>(static_cast<unsigned char>(head[at + 2])) << 8)
                       | static_cast<std::uint32_t>(static_cast<unsigned char>(head[at + 3]));
            };
            bool const encryption_request = word(0) == 8 && (word(4) == 80877103 || word(4) == 80877104);
            if (!encryption_request)
            {
                keep_plain(head);
                for (std::string more; !(more = read_some(client, 65536, false)).empty();)
                    keep_plain(more);
                return;
            }
            ++stripped_;
            if (!send_all(client, "N"))
                return;
        }
    }

    // MariaDB: the server speaks first; its greeting's capability flags (after the protocol version, the
    // server version string, the connection id, 8 bytes of scramble and a filler) lose CLIENT_SSL (0x0800).
    // Then both ways are forwarded; everything the client sends is plain text.
    void serve_mysql(int client)
    {
        int const server = socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in a = loopback(target_port_);
        if (server < 0 || connect(server, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
        {
            if (server >= 0)
                close(server);
            return;
        }
        std::string const header = read_some(server, 4, true);
        if (header.size() == 4)
        {
            std::size_t const length = static_cast<unsigned char>(header[0])
                                       | (static_cast<std::size_t>(static_cast<unsigned char>(header[1])) << 8)
                                       | (static_cast<std::size_t>(static_cast<unsigned char>(header[2])) << 16);
            std::string greeting = read_some(server, length, true);
            std::size_t const version_end = greeting.find('\0', 1);
            std::size_t const flags = version_end + 1 + 4 + 8 + 1;
            if (greeting.size() == length && version_end != std::string::npos && flags + 2 <= greeting.size())
            {
                greeting[flags + 1] = static_cast<char>(greeting[flags + 1] & ~0x08);
                ++stripped_;
                if (send_all(client, header + greeting))
                    forward(client, server);
            }
        }
        close(server);
    }

    void forward(int client, int server)
    {
        while (!stop_)
        {
            pollfd p[2] = {{client, POLLIN, 0}, {server, POLLIN, 0}};
            if (poll(p, 2, 50) <= 0)
                continue;
            char buf[65536];
            if (p[0].revents != 0)
            {
                ssize_t const r = recv(client, buf, sizeof buf, 0);
                if (r <= 0)
                    return;
                keep_plain(std::string(buf, static_cast<std::size_t>(r)));
                if (!send_all(server, std::string(buf, static_cast<std::size_t>(r))))
                    return;
            }
            if (p[1].revents != 0)
            {
                ssize_t const r = recv(server, buf, sizeof buf, 0);
                if (r <= 0 || !send_all(client, std::string(buf, static_cast<std::size_t>(r))))
                    return;
            }
        }
    }

    int target_port_;
    int listen_fd_ = -1;
    int port_ = 0;
    std::atomic<bool> stop_{false};
    std::atomic<int> accepted_{0};
    std::atomic<int> stripped_{0};
    mutable std::mutex mutex_;
    std::string plain_;
    std::vector<std::thread> connections_;  // touched by the acceptor thread only, until it is joined
    std::thread acceptor_;
};

/// A name other than localhost that resolves to 127.0.0.1 here (the host's own name, or another name of
/// 127.0.0.1 in /etc/hosts): not in the server certificate, which names localhost and 127.0.0.1. Empty when
/// there is none.
std::string loopback_alias()
{
    std::vector<std::string> candidates;
    char host[256] = {};
    if (gethostname(host, sizeof host - 1) == 0)
        candidates.emplace_back(host);
    std::ifstream hosts("/etc/hosts");
    for (std::string line; std::getline(hosts, line);)
    {
        std::istringstream words(line.substr(0, line.find('#')));
        std::string address, name;
        if (words >> address && address == "127.0.0.1")
            while (words >> name)
                candidates.push_back(name);
    }
    for (auto const& name : candidates)
    {
        if (name.empty() || name == "localhost" || name.find_first_not_of("0123456789.") == std::string::npos)
            continue;
        addrinfo hints{};
        hints.ai_family = AF_INET;
        hints.ai_socktype = SOCK_STREAM;
        addrinfo* found = nullptr;
        if (getaddrinfo(name.c_str(), nullptr, &hints, &found) != 0)
            continue;
        bool loopback = false;
        for (addrinfo* a = found; a != nullptr; a = a->ai_next)
            loopback = loopback
                       || reinterpret_cast<sockaddr_in*>(a->ai_addr)->sin_addr.s_addr == htonl(INADDR_LOOPBACK);
        freeaddrinfo(found);
        if (loopback)
            return name;
    }
    return "";
}

} // namespace

BOOST_AUTO_TEST_SUITE(tls_connections)

// `sslmode = "verify-full"` and `sslrootcert` (MariaDB: `sslca`) on the primary alone: every replica inherits
// them, a write runs on the primary, the reads on the replicas, and every one of those connections is TLS.
BOOST_AUTO_TEST_CASE(tls_settings_of_the_primary_are_inherited_by_every_replica)
{
    test_cluster const& c = cluster();
    tls_spec spec;
    spec.primary_options = verifying(tls().ca);
    soci::session sql(tls_uri(spec));

    create_tls_table(sql);
    std::string const tag = unique_tag("tls-inherited");
    sql << "INSERT INTO " + tls_table() + " (tag) VALUES (:tag)", soci::use(tag);
    BOOST_CHECK_EQUAL(soci::routing.last_endpoint(sql), "primary");
    {
        auto const on_primary = soci::routing.use_primary(sql);
        connection_seen const s = seen_by_server(sql);
        BOOST_TEST_MESSAGE(s);
        BOOST_CHECK_EQUAL(s.endpoint, "primary");
        BOOST_CHECK_MESSAGE(s.tls, "the primary's connection is not TLS: " << s);
    }

    std::set<std::string> replicas_seen;
    for (std::size_t i = 0; i < 2 * c.replicas.size(); ++i)
    {
        connection_seen const s = seen_by_server(sql);
        BOOST_TEST_MESSAGE("read " << i << ": " << s);
        BOOST_CHECK_MESSAGE(s.endpoint.rfind("replica-", 0) == 0, "read " << i << " did not run on a replica: " << s);
        BOOST_CHECK_MESSAGE(s.tls, "read " << i << " ran on a connection without TLS: " << s);
        replicas_seen.insert(s.endpoint);
    }
    BOOST_CHECK_EQUAL(replicas_seen.size(), c.replicas.size());

    for (auto const& e : soci::routing.stats(sql).endpoints)
    {
        BOOST_CHECK_MESSAGE(e.failures == 0, e.name << " failed: " << e.last_error);
        BOOST_CHECK_EQUAL(e.fallbacks, 0u);
    }
}

// A CA that did not sign the server's certificate: the session does not open (the primary is connected at
// open), and the error names the primary and its address, never the password. No plain-text login follows.
BOOST_AUTO_TEST_CASE(a_wrong_ca_fails_with_an_error_naming_the_endpoint)
{
    std::vector<long> const refused_before = plain_logins_refused_everywhere();
    tls_spec spec;
    spec.primary_options = verifying(tls().wrong_ca);
    std::string const error = open_failure(tls_uri(spec));
    BOOST_REQUIRE_MESSAGE(!error.empty(), "the session opened with a CA that did not sign the server's certificate");
    check_names_the_primary(error, primary_address());
    // libpq: "SSL error: certificate verify failed"; Connector/C: "TLS/SSL error: self-signed certificate in
    // certificate chain".
    BOOST_CHECK_MESSAGE(contains(error, "certificate"), "the error does not say it is the certificate: " << error);
    BOOST_CHECK(plain_logins_refused_everywhere() == refused_before);
}

// A host name that the server's certificate does not name. PostgreSQL: verify-full refuses it (the host is
// the name, hostaddr where to connect), while verify-ca, which checks the chain only, accepts it: it is the
// name that failed. MariaDB: Connector/C 3.3 checks a name only with MYSQL_OPT_SSL_VERIFY_SERVER_CERT, which
// SOCI 4.0.3 never sets: the connection is made (TLS, chain checked), and the test says so.
BOOST_AUTO_TEST_CASE(a_wrong_host_name_fails_verify_full)
{
    test_cluster const& c = cluster();
    if (c.is_pg())
    {
        tls_spec spec;
        spec.primary_host = "wrong.example";
        spec.primary_options = verifying(tls().ca);
        spec.primary_options["hostaddr"] = "127.0.0.1";
        std::string const error = open_failure(tls_uri(spec));
        BOOST_REQUIRE_MESSAGE(!error.empty(), "verify-full accepted a certificate that does not name the host");
        check_names_the_primary(error, "wrong.example:" + std::to_string(c.primary.port));
        // libpq: server certificate for "localhost" (and 1 other name) does not match host name "wrong.example"
        BOOST_CHECK_MESSAGE(contains(error, "does not match host name"), "not the host name check: " << error);

        spec.primary_options["sslmode"] = "verify-ca";
        soci::session sql(tls_uri(spec));
        auto const on_primary = soci::routing.use_primary(sql);
        connection_seen const s = seen_by_server(sql);
        BOOST_TEST_MESSAGE("the same with verify-ca: " << s);
        BOOST_CHECK(s.tls);
        return;
    }

    std::string const alias = loopback_alias();
    if (alias.empty())
    {
        BOOST_TEST_MESSAGE("MariaDB: no name but localhost resolves to 127.0.0.1 here: whether a wrong host name "
                           "is refused cannot be shown (SOCI 4.0.3 does not set MYSQL_OPT_SSL_VERIFY_SERVER_CERT)");
        return;
    }
    tls_spec spec;
    spec.primary_host = alias;
    spec.primary_options = verifying(tls().ca);
    std::string const uri = tls_uri(spec);
#if MARIADB_PACKAGE_VERSION_ID < 30400
    try
    {
        soci::session sql(uri);
        auto const on_primary = soci::routing.use_primary(sql);
        connection_seen const s = seen_by_server(sql);
        BOOST_CHECK(s.tls);
        BOOST_TEST_MESSAGE("MariaDB (Connector/C " MARIADB_PACKAGE_VERSION ", SOCI 4.0.3): host \""
                           << alias << "\", which the server certificate does not name, is accepted: the chain "
                           "is verified (sslca), the host name is not. " << s);
    }
    catch (soci::soci_error const& e)
    {
        BOOST_ERROR("Connector/C " MARIADB_PACKAGE_VERSION " refused a host name the certificate does not name, "
                    "which it did not when this test was written: update the README's TLS section. "
                    << e.what());
    }
#else
    std::string const error = open_failure(uri);
    BOOST_TEST_MESSAGE("MariaDB (Connector/C " MARIADB_PACKAGE_VERSION "), host \""
                       << alias << "\" not in the certificate: " << (error.empty() ? "accepted" : error));
#endif
}

// The replicas get the wrong CA in their own options, the primary the right one: every read falls back to the
// primary, on TLS; the replicas record the certificate error; and no plain-text login of routing_tls reaches
// any server (which would refuse it anyway: the count of those refusals does not move).
BOOST_AUTO_TEST_CASE(a_replica_that_fails_tls_never_gets_a_plain_connection)
{
    test_cluster const& c = cluster();
    std::vector<long> const refused_before = plain_logins_refused_everywhere();
    tls_spec spec;
    spec.primary_options = verifying(tls().ca);
    spec.replica_options = cluster().is_pg() ? std::map<std::string, std::string>{{"sslrootcert", tls().wrong_ca}}
                                             : std::map<std::string, std::string>{{"sslca", tls().wrong_ca}};
    soci::session sql(tls_uri(spec));

    for (int i = 0; i < 6; ++i)
    {
        connection_seen const s = seen_by_server(sql);
        BOOST_TEST_MESSAGE("read " << i << ": " << s);
        BOOST_CHECK_EQUAL(s.endpoint, "primary");
        BOOST_CHECK_MESSAGE(s.reason == "fallback" || s.reason == "no_replica", "reason: " << s.reason);
        BOOST_CHECK_MESSAGE(s.tls, "read " << i << " fell back to a connection without TLS: " << s);
    }

    auto const stats = soci::routing.stats(sql);
    for (std::size_t i = 0; i < c.replicas.size(); ++i)
    {
        std::string const name = "replica-" + std::to_string(i + 1);
        auto const* e = find(stats, name);
        BOOST_REQUIRE(e != nullptr);
        BOOST_TEST_MESSAGE(name << ": failures " << e->failures << ", state " << e->state << ", last error: "
                                << e->last_error);
        BOOST_CHECK_GE(e->failures, 1u);
        BOOST_CHECK_EQUAL(e->statements, 0u);
        BOOST_CHECK_MESSAGE(contains(e->last_error, c.is_pg() ? "certificate verify failed" : "certificate"),
                            name << "'s last error is not the certificate's: " << e->last_error);
        BOOST_CHECK(!contains(e->last_error, c.primary.password));
    }
    BOOST_CHECK(plain_logins_refused_everywhere() == refused_before);
    if (c.is_pg())
    {
        // And none is open: every connection of routing_tls on the replicas is TLS (the router's probes included).
        for (auto const& r : c.replicas)
        {
            int plain = -1;
            *direct(r) << "SELECT count(*) FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid)"
                          " WHERE a.usename = :u AND NOT s.ssl",
                soci::use(tls().user), soci::into(plain);
            BOOST_CHECK_EQUAL(plain, 0);
        }
    }
}

// Client certificates are options like the others: inherited from the primary, presented, and checked by the
// server against its CA. PostgreSQL shows the subject on every connection (pg_stat_ssl.client_dn); MariaDB
// shows none, but refuses a certificate of another CA. SOCI 4.0.3's mysql backend passes sslcert and sslkey
// only together with sslca: without it, it passes no TLS option at all, and REQUIRE SSL refuses the login.
BOOST_AUTO_TEST_CASE(client_certificates_are_inherited_and_checked_by_the_servers)
{
    test_cluster const& c = cluster();
    tls_spec spec;
    spec.primary_options = verifying(tls().ca);
    spec.primary_options["sslcert"] = tls().client_cert;
    spec.primary_options["sslkey"] = tls().client_key;
    {
        soci::session sql(tls_uri(spec));
        std::set<std::string> seen;
        for (std::size_t i = 0; i < 2 * c.replicas.size() + 1; ++i)
        {
            std::optional<soci::routing_use_primary> on_primary;  // the first on the primary, then the replicas
            if (i == 0)
                on_primary.emplace(sql);
            connection_seen const s = seen_by_server(sql);
            BOOST_TEST_MESSAGE(s);
            BOOST_CHECK(s.tls);
            if (c.is_pg())
                BOOST_CHECK_EQUAL(s.client_dn, "/CN=" + tls().user);
            seen.insert(s.endpoint);
        }
        BOOST_CHECK_EQUAL(seen.size(), c.replicas.size() + 1);
    }

    spec.primary_options["sslcert"] = tls().wrong_client_cert;
    spec.primary_options["sslkey"] = tls().wrong_client_key;
    std::string const error = open_failure(tls_uri(spec));
    BOOST_REQUIRE_MESSAGE(!error.empty(), "the server accepted a client certificate of another CA");
    check_names_the_primary(error, primary_address());

    if (c.is_mysql())
    {
        std::vector<long> const refused_before = plain_logins_refused_everywhere();
        tls_spec without_ca;
        without_ca.primary_options = {{"sslcert", tls().client_cert}, {"sslkey", tls().client_key}};
        std::string const plain_error = open_failure(tls_uri(without_ca));
        BOOST_TEST_MESSAGE("MariaDB, sslcert and sslkey without sslca (SOCI 4.0.3 passes none of them): "
                           << (plain_error.empty() ? "opened" : plain_error));
        BOOST_CHECK_MESSAGE(!plain_error.empty(), "routing_tls logged in without TLS");
        BOOST_CHECK(contains(plain_error, "Access denied"));
        BOOST_CHECK_GT(plain_logins_refused_everywhere()[0], refused_before[0]);  // refused by the server
    }
}

// A man in the middle says the server has no TLS. PostgreSQL with verify-full gives up before sending anything
// else: no plain-text startup, no password. MariaDB (Connector/C 3.3, SOCI 4.0.3): sslca does not make TLS
// mandatory, so the client goes on with its login in plain text; it is the server that refuses it (REQUIRE
// SSL). Either way, no session opens on a connection weaker than configured.
BOOST_AUTO_TEST_CASE(a_man_in_the_middle_refusing_tls_gets_no_plain_connection)
{
    test_cluster const& c = cluster();
    tls_stripping_proxy proxy(c.primary.port);
    tls_spec spec;
    spec.primary_port = proxy.port();
    spec.primary_options = verifying(tls().ca);
    std::string const error = open_failure(tls_uri(spec));
    BOOST_CHECK_GE(proxy.stripped(), 1);
    BOOST_REQUIRE_MESSAGE(!error.empty(), "a session opened although TLS was stripped");
    check_names_the_primary(error, primary_address(proxy.port()));
    std::string const plain = proxy.plain_from_clients();
    if (c.is_pg())
    {
        // libpq: "server does not support SSL, but SSL was required"
        BOOST_CHECK_MESSAGE(contains(error, "SSL"), "not the TLS refusal: " << error);
        BOOST_CHECK_MESSAGE(plain.empty(), "libpq sent " << plain.size() << " bytes in plain text");
        return;
    }
    BOOST_CHECK(contains(error, "Access denied"));
#if MARIADB_PACKAGE_VERSION_ID < 30400
    BOOST_CHECK_MESSAGE(contains(plain, tls().user),
                        "Connector/C " MARIADB_PACKAGE_VERSION " no longer sends its login in plain text when TLS "
                        "is stripped: update the README's TLS section");
#endif
    BOOST_TEST_MESSAGE("MariaDB (Connector/C " MARIADB_PACKAGE_VERSION ", SOCI 4.0.3), TLS stripped: the client "
                       << (contains(plain, tls().user) ? "sent its login (user " + tls().user + ") in plain text; "
                                                         "the server refused it (REQUIRE SSL)"
                                                       : std::string("sent no login in plain text")));
}

// MariaDB: Connector/C carries on in plain text when TLS is stripped, and a user without REQUIRE SSL is let in by
// the server. The router refuses such a connection itself when sslca asks for TLS: no session opens on it.
BOOST_AUTO_TEST_CASE(a_mysql_connection_without_tls_is_refused_when_sslca_asks_for_it)
{
    test_cluster const& c = cluster();
    if (!c.is_mysql())
    {
        BOOST_TEST_MESSAGE("PostgreSQL: libpq's sslmode = require / verify-* refuses it itself (the test above)");
        return;
    }
    tls_stripping_proxy proxy(c.primary.port);
    tls_spec spec;
    spec.primary_port = proxy.port();
    spec.primary_options = verifying(tls().ca);
    spec.user = c.primary.user;  // accepted without TLS by the server
    std::string const error = open_failure(tls_uri(spec));
    BOOST_CHECK_GE(proxy.stripped(), 1);
    BOOST_REQUIRE_MESSAGE(!error.empty(), "a session opened on a connection TLS was stripped from");
    BOOST_TEST_MESSAGE("opening the session failed: " << error);
    BOOST_CHECK(contains(error, "primary \"primary\" (" + primary_address(proxy.port())));
    BOOST_CHECK(!contains(error, c.primary.password));
    BOOST_CHECK_MESSAGE(contains(error, "sslca is set, but the connection is not encrypted"), error);
}

BOOST_AUTO_TEST_SUITE_END()
