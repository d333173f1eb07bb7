use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    local_stack::cli::main(local_stack::cli::Cli::parse()).await
}
