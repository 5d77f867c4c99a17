// Writes the fuzz targets' seed corpora from the tests: every statement of the classifier's rule rows, and
// the configuration fixtures and examples the config tests use. Usage: fuzz-seeds SOURCE_DIR OUTPUT_DIR
// (ci/fuzz runs it; OUTPUT_DIR/<target>/ gets one file per seed).

#include "rows.h"

#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

namespace fs = std::filesystem;

namespace
{

void write(fs::path const& dir, std::size_t n, std::string const& text)
{
    fs::create_directories(dir);
    std::ofstream(dir / ("seed-" + std::to_string(n)), std::ios::binary) << text;
}

std::string read(fs::path const& file)
{
    std::ifstream in(file, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

} // namespace

int main(int argc, char** argv)
{
    if (argc != 3)
    {
        std::cerr << "usage: fuzz-seeds SOURCE_DIR OUTPUT_DIR\n";
        return 2;
    }
    fs::path const source = argv[1];
    fs::path const out = argv[2];
    std::size_t n = 0;
    for (rule_row const& r : rule_rows())
    {
        write(out / "fuzz-classifier", n, r.sql);
        write(out / "fuzz-session-effect", n++, r.sql);
    }

    n = 0;
    for (auto const& entry : fs::directory_iterator(source / "tests" / "config" / "fixtures"))
        if (entry.path().extension() == ".toml")
            write(out / "fuzz-toml", n++, read(entry.path()));

    std::vector<std::string> const inline_seeds = {
        "primary='postgresql://host=a port=5432 dbname=app user=app password=secret' replica='host=b' sticky=5",
        "primary='mysql://host=a db=app user=app password=secret' replica='host=b port=3307' replica='host=c' "
        "balance=least_connections max_lag=2 read_timeout=1.5",
        "config=/etc/app/db.toml",
        "primary='host=a pool_max=4 pool_min=1 pool_idle_check=0.5' replica='host=b weight=3 name=r1'"};
    n = 0;
    for (auto const& s : inline_seeds)
        write(out / "fuzz-inline", n++, s);

    std::vector<std::string> const env_seeds = {"HOST=db1\nPORT=5433\nNAME=app\nUSER=u\nPASS=p",
                                                "REPLICA_1_HOST=r1\nREPLICA_1_PORT=6432\nREPLICA_2_HOST=r2",
                                                "ROUTING_STICKY=2\nROUTING_MAX_LAG=0.5\nTIMEOUT=3"};
    n = 0;
    for (auto const& s : env_seeds)
        write(out / "fuzz-env", n++, s);

    std::vector<std::string> const redact_seeds = {
        std::string("connection to server failed: password authentication failed for user \"app\"") + '\0'
            + "hunter2hunter2",
        "Cannot establish connection: host=a password='x y' user=b", "mysql://u:p@h/db"};
    n = 0;
    for (auto const& s : redact_seeds)
        write(out / "fuzz-redact", n++, s);
    return 0;
}
