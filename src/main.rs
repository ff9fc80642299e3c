//! The `entrasync` binary: parse the command line, run it, map the outcome to an exit status
//! (ARCHITECTURE §3: 0 done, 1 could not run, 2 bad usage or config, 3 partly done).

use std::process::ExitCode;

use clap::Parser;

use entrasync::cli::{self, Cli};

fn main() -> ExitCode {
    // First, while this is the only thread: nothing entrasync creates is for other users.
    entrasync::files::restrict_umask();
    let cli = Cli::parse();
    cli::init_logging(&cli);
    let log_format = cli.log_format;
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("entrasync: cannot start the async runtime: {err}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(cli::run(cli)) {
        Ok(status) => ExitCode::from(status),
        Err(err) => {
            cli::print_error(&err, log_format);
            ExitCode::from(cli::exit_status(&err))
        }
    }
}
