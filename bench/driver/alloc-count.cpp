// soci-routing-bench: the counting allocator (see alloc-count.h).
//
// glibc exports its allocator under __libc_* names; every entry point below counts, then calls it. The
// counter is a thread_local of the executable (static TLS: reading it allocates nothing).
#include "alloc-count.h"

#include <cerrno>
#include <cstddef>

extern "C" {
void* __libc_malloc(std::size_t size);
void* __libc_calloc(std::size_t n, std::size_t size);
void* __libc_realloc(void* p, std::size_t size);
void* __libc_memalign(std::size_t alignment, std::size_t size);
void __libc_free(void* p);
}

namespace {
thread_local std::uint64_t allocations = 0;
} // namespace

namespace bench_alloc {
std::uint64_t count() noexcept { return allocations; }
bool counting() noexcept { return true; }
} // namespace bench_alloc

extern "C" {

void* malloc(std::size_t size)
{
    ++allocations;
    return __libc_malloc(size);
}

void* calloc(std::size_t n, std::size_t size)
{
    ++allocations;
    return __libc_calloc(n, size);
}

void* realloc(void* p, std::size_t size)
{
    ++allocations;
    return __libc_realloc(p, size);
}

void free(void* p) { __libc_free(p); }

void* memalign(std::size_t alignment, std::size_t size)
{
    ++allocations;
    return __libc_memalign(alignment, size);
}

void* aligned_alloc(std::size_t alignment, std::size_t size)
{
    ++allocations;
    return __libc_memalign(alignment, size);
}

int posix_memalign(void** out, std::size_t alignment, std::size_t size)
{
    if (alignment < sizeof(void*) || (alignment & (alignment - 1)) != 0)
        return EINVAL;
    ++allocations;
    void* p = __libc_memalign(alignment, size);
    if (p == nullptr && size != 0)
        return ENOMEM;
    *out = p;
    return 0;
}

} // extern "C"
