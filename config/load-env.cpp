// soci-routing: the environment overrides of routing.env_prefix (`DB_HOST`, `DB_REPLICA_1_PORT`, ...).

#include "load-detail.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

extern char** environ;

namespace soci_routing::detail
{

namespace
{

class env_loader
{
public:
    env_loader(draft& d, std::string prefix) : d_(d), prefix_(std::move(prefix) + "_") {}

    void load()
    {
        std::map<std::string, std::string> vars;  // ours only, sorted: slots apply in order
        for (char** e = environ; e && *e; ++e)
        {
            std::string_view const entry(*e);
            auto const eq = entry.find('=');
            if (eq == std::string_view::npos || entry.compare(0, prefix_.size(), prefix_) != 0)
                continue;
            vars.emplace(std::string(entry.substr(0, eq)), std::string(entry.substr(eq + 1)));
        }
        driver const drv = d_.primary.drv.value_or(driver::postgresql);

        // The primary: PREFIX_HOST, PREFIX_PORT, ...
        bool any_primary = false;
        for (auto const& suffix : endpoint_suffixes)
            if (vars.count(prefix_ + suffix))
                any_primary = true;
        if (any_primary)
        {
            if (!d_.has_primary)
                d_.where["primary"] = at(prefix_ + "HOST");
            d_.has_primary = true;
            endpoint(vars, prefix_, "primary", d_.primary, drv);
        }

        // PREFIX_ROUTING_<KEY>
        std::string const routing_prefix = prefix_ + "ROUTING_";
        std::map<int, bool> slots;
        for (auto const& [name, text] : vars)
        {
            if (name.compare(0, routing_prefix.size(), routing_prefix) == 0)
            {
                std::string field = name.substr(routing_prefix.size());
                for (auto& c : field)
                    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
                auto const* f = field == "env_prefix" ? nullptr : find_field(routing_fields, field);
                if (!f)
                {
                    d_.problem(at(name), name, fmt::format("unknown routing key \"{}\", expected {}ROUTING_STICKY, "
                                                           "_FALLBACK, _BALANCE, _MAX_LAG, _FAILURES, ...",
                                                           field, prefix_));
                    continue;
                }
                if (auto const v = convert_text(d_, at(name), name, *f, text))
                {
                    set_routing_field(d_.routing, field, *v);
                    d_.where["routing." + field] = at(name);
                }
            }
        }

        // PREFIX_REPLICA_<N>_<KEY>: a slot with a HOST adds or overrides replica N (1-based).
        std::string const replica_prefix = prefix_ + "REPLICA_";
        for (auto const& [name, text] : vars)
        {
            if (name.compare(0, replica_prefix.size(), replica_prefix) != 0)
                continue;
            std::string const rest = name.substr(replica_prefix.size());
            auto const underscore = rest.find('_');
            auto const slot = parse_integer(rest.substr(0, underscore));
            std::string const suffix = underscore == std::string::npos ? "" : rest.substr(underscore + 1);
            if (!slot || *slot < 1 || *slot > 1000 || suffix.empty())
            {
                d_.problem(at(name), name, fmt::format("expected {}N_KEY with N = 1, 2, ...", replica_prefix));
                continue;
            }
            if (std::find(std::begin(endpoint_suffixes), std::end(endpoint_suffixes), suffix)
                == std::end(endpoint_suffixes))
            {
                std::vector<std::string> known(std::begin(endpoint_suffixes), std::end(endpoint_suffixes));
                d_.problem(at(name), name,
                           fmt::format("unknown replica key \"{}\"{}, expected one of: {}", suffix,
                                       detail::did_you_mean(suffix, known), fmt::join(known, ", ")));
                continue;
            }
            slots[static_cast<int>(*slot)] = true;
        }
        for (auto const& [slot, _] : slots)
        {
            std::string const slot_prefix = fmt::format("{}{}_", replica_prefix, slot);
            if (!vars.count(slot_prefix + "HOST"))
                continue;  // a slot without a host is not used
            std::size_t index = static_cast<std::size_t>(slot - 1);
            if (index >= d_.replicas.size())
            {
                // Beyond the configured replicas: appended in slot order.
                index = d_.replicas.size();
                d_.replicas.emplace_back();
                d_.where[replica_key(index)] = at(slot_prefix + "HOST");
            }
            endpoint(vars, slot_prefix, replica_key(index), d_.replicas[index], drv);
        }
    }

private:
    static constexpr char const* endpoint_suffixes[] = {"HOST",    "PORT",      "NAME",     "USER",
                                                        "PASS",    "TIMEOUT",   "STATEMENTS", "SSLMODE",
                                                        "SSLVERIFY", "SSLPEER", "SSLCAFILE", "POOL_MIN",
                                                        "POOL_MAX"};

    location at(std::string const& variable) const { return location{"environment (" + variable + ")", 0, 0}; }

    void endpoint(std::map<std::string, std::string> const& vars, std::string const& prefix,
                  std::string const& key_prefix, endpoint_layer& e, driver drv)
    {
        auto get = [&](char const* suffix) -> std::string const* {
            auto const it = vars.find(prefix + suffix);
            return it == vars.end() ? nullptr : &it->second;
        };
        auto set = [&](char const* suffix, char const* field) {
            auto const* text = get(suffix);
            if (!text)
                return;
            std::string const var = prefix + suffix;
            auto const* f = find_field(endpoint_fields, field);
            if (auto const v = convert_text(d_, at(var), var, *f, *text))
            {
                set_endpoint_field(e, field, *v);
                d_.where[key_prefix + "." + field] = at(var);
            }
        };
        set("HOST", "host");
        set("PORT", "port");
        set("NAME", "database");  // PREFIX_NAME is the database, so PREFIX_REPLICA_N_NAME is too
        set("USER", "username");
        set("PASS", "password");
        set("TIMEOUT", "timeout");
        set("STATEMENTS", "statements");
        for (auto const& [suffix, field] : {std::pair{"POOL_MIN", "min"}, std::pair{"POOL_MAX", "max"}})
        {
            if (auto const* text = get(suffix))
            {
                std::string const var = prefix + suffix;
                if (auto const v = convert_text(d_, at(var), var, *find_field(pool_fields, field), *text))
                {
                    set_pool_field(e.pool, field, *v);
                    d_.where[key_prefix + ".pool." + field] = at(var);
                }
            }
        }
        tls(prefix, key_prefix, e, drv, get);
    }

    template <typename Get>
    void tls(std::string const& prefix, std::string const& key_prefix, endpoint_layer& e, driver drv, Get get)
    {
        auto option = [&](char const* suffix, std::string const& name, std::string const& text) {
            e.options[name] = text;
            d_.where[key_prefix + ".options." + name] = at(prefix + suffix);
        };
        auto const* mode = get("SSLMODE");
        auto const* verify = get("SSLVERIFY");
        auto const* peer = get("SSLPEER");
        auto const* ca = get("SSLCAFILE");
        if (drv == driver::mysql)
        {
            // SOCI 4.0.3's mysql backend has sslca, sslcert and sslkey only: no mode, no verification switch.
            for (auto const& [suffix, value] : {std::pair{"SSLMODE", mode}, std::pair{"SSLVERIFY", verify},
                                                 std::pair{"SSLPEER", peer}})
                if (value)
                    d_.problem(at(prefix + suffix), prefix + suffix,
                               "not supported by SOCI 4.0.3's mysql backend, expected only _SSLCAFILE (sslca)");
            if (ca)
                option("SSLCAFILE", "sslca", *ca);
            return;
        }
        if (mode)
            option("SSLMODE", "sslmode", *mode);
        if (ca)
            option("SSLCAFILE", "sslrootcert", *ca);
        if (peer)
            d_.problem(at(prefix + "SSLPEER"), prefix + "SSLPEER",
                       "not supported by libpq, expected _SSLMODE=verify-full (which checks the host name)");
        if (verify)
        {
            auto const b = parse_bool(*verify);
            if (!b)
                d_.problem(at(prefix + "SSLVERIFY"), prefix + "SSLVERIFY",
                           fmt::format("expected {}, got {}", detail::expect_bool, show(*verify)));
            else if (mode)
                d_.problem(at(prefix + "SSLVERIFY"), prefix + "SSLVERIFY",
                           fmt::format("conflicts with {}SSLMODE, expected only one of them", prefix));
            else
                option("SSLVERIFY", "sslmode", *b ? "verify-full" : "require");
        }
    }

    draft& d_;
    std::string prefix_;
};

} // namespace

void load_environment_into(draft& d)
{
    if (!d.routing.env_prefix.empty())
        env_loader(d, d.routing.env_prefix).load();
}

} // namespace soci_routing::detail
