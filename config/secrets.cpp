// soci-routing: a configuration file that holds a password in clear and that other users can read.

#include "config.h"

#include <fmt/format.h>
#include <toml++/toml.h>

#include <sys/stat.h>

namespace soci_routing
{
namespace
{

/// True when `node` is a password written in clear (not `${VAR}` taken from the environment).
bool clear_password(toml::node const* node)
{
    if (node == nullptr)
        return false;
    auto const text = node->value<std::string>();
    return text && !text->empty() && text->find("${") == std::string::npos;
}

/// The file a CLI SOURCE reads: the SOURCE itself, or the `config=FILE` of a `routing://` string.
std::string file_of(std::string const& source)
{
    std::string_view const scheme = "routing://";
    if (source.compare(0, scheme.size(), scheme) != 0)
        return source;
    std::string_view rest(source);
    rest.remove_prefix(scheme.size());
    std::size_t at = 0;
    while (at < rest.size())
    {
        while (at < rest.size() && rest[at] == ' ')
            ++at;
        std::size_t const end_key = rest.find('=', at);
        if (end_key == std::string_view::npos)
            return {};
        std::string_view const key = rest.substr(at, end_key - at);
        std::size_t p = end_key + 1;
        std::string value;
        if (p < rest.size() && rest[p] == '\'')
        {
            for (++p; p < rest.size() && rest[p] != '\''; ++p)
            {
                if (rest[p] == '\\' && p + 1 < rest.size())
                    ++p;
                value += rest[p];
            }
            ++p;
        }
        else
        {
            while (p < rest.size() && rest[p] != ' ')
                value += rest[p++];
        }
        if (key == "config")
            return value;
        at = p;
    }
    return {};
}

} // namespace

std::string password_file_warning(std::string const& source)
{
    std::string const path = file_of(source);
    struct stat st
    {
    };
    if (path.empty() || ::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)
        || (st.st_mode & (S_IRGRP | S_IROTH)) == 0)
        return {};
    std::vector<std::string> keys;
    try
    {
        toml::table const root = toml::parse_file(path);
        if (clear_password(root.at_path("primary.password").node()))
            keys.push_back("primary.password");
        if (auto const* replicas = root["replicas"].as_array())
            for (std::size_t i = 0; i < replicas->size(); ++i)
                if (auto const* r = (*replicas)[i].as_table(); r != nullptr && clear_password(r->get("password")))
                    keys.push_back(fmt::format("replicas[{}].password", i));
    }
    catch (std::exception const&)
    {
        return {};  // the loader reports what is wrong with the file
    }
    if (keys.empty())
        return {};
    return fmt::format("warning: {} holds a password ({}) and is readable by other users (mode {:04o}): "
                       "chmod 600 it, or take the password from the environment (password = \"${{DB_PASSWORD}}\")",
                       path, fmt::join(keys, ", "), st.st_mode & 07777);
}

} // namespace soci_routing
