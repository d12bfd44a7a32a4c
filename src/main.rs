// glibc's malloc was ~13 % of the server's CPU under the checkout benchmark (many small, short-lived
// allocations across threads); mimalloc serves them from per-thread pages.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    leancart::cli::main()
}
