use std::process::ExitCode;

use everbright_sync::{demo, local};

#[tokio::main]
async fn main() -> ExitCode {
    let command = std::env::args().nth(1).unwrap_or_default();
    match command.as_str() {
        "demo" => {
            let root = local::workspace_root();
            tokio::select! {
                report = demo::run(&root) => match report {
                    Ok(report) => {
                        print!("{}", demo::render(&report));
                        ExitCode::SUCCESS
                    }
                    Err(error) => {
                        eprintln!("demo failed: {error}");
                        ExitCode::FAILURE
                    }
                },
                _ = tokio::signal::ctrl_c() => {
                    eprintln!("interrupted: stopping everything the demo started");
                    ExitCode::from(130)
                }
            }
        }
        _ => {
            eprintln!(
                "usage: everbright-sync demo\n\n  demo   run the whole pipeline on the sample events in events/, on a local moto and EverBright stand-in"
            );
            ExitCode::from(2)
        }
    }
}
