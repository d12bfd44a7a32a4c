fn main() -> std::process::ExitCode {
    leancart::cli::main()
}
