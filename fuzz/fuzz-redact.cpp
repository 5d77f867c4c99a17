// Fuzz target: the error redactor. Any input is redacted without a crash, and a password written as
// `password=SECRET` (or `:SECRET@` in a URI) into any text never survives redaction. The input is split at
// its first NUL: the text around, and the secret (letters and digits only, at least 8 of them).

#include "config.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace
{

std::size_t count(std::string const& text, std::string const& part)
{
    std::size_t n = 0;
    for (std::size_t at = text.find(part); at != std::string::npos; at = text.find(part, at + 1))
        ++n;
    return n;
}

bool plain(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size)
{
    std::string const input(reinterpret_cast<char const*>(data), size);
    (void)soci_routing::redact(input);

    std::size_t const nul = input.find('\0');
    if (nul == std::string::npos)
        return 0;
    std::string around = input.substr(0, nul);
    std::string secret;
    for (char c : input.substr(nul + 1))
        if (plain(c))
            secret += c;
    if (secret.size() < 8)
        return 0;
    // The surrounding text is free, except that it must not quote or continue the secret itself.
    for (char& c : around)
        if (c == '\'' || c == '"' || c == '\\' || c == '\0' || plain(c))
            c = ' ';
    std::string const half = around.substr(0, around.size() / 2);
    std::string const rest = around.substr(around.size() / 2);
    for (std::string const& text : {half + " password=" + secret + " " + rest,
                                    half + " postgresql://user:" + secret + "@host/db " + rest})
    {
        std::string const out = soci_routing::redact(text);
        if (count(out, secret) >= count(text, secret))
        {
            std::fprintf(stderr, "the secret survived redaction:\n  in:  %s\n  out: %s\n", text.c_str(), out.c_str());
            std::abort();
        }
    }
    return 0;
}
