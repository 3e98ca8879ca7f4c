//! `interop-client`: runs interop test cases against a TestService server, with the
//! reference clients' flags (`--server_host`, `--server_port`, `--server_host_override`,
//! `--test_case`, `--use_tls`, `--use_test_ca`; also `--ca_file`, `--bearer_token`).
//!
//! Prints one line per case: `PASS case`, `SKIP case: why` (does not apply here) or
//! `FAIL case: what`. Exits 0 unless a case failed (1); 2 for bad flags.

use std::io::Write;
use std::process::ExitCode;

use grpc_interop::client::{self, Invocation};

fn main() -> ExitCode {
    let invocation = match Invocation::from_args(std::env::args().skip(1)) {
        Ok(invocation) => invocation,
        Err(error) => {
            eprintln!("interop-client: {error}\n{}", client::USAGE);
            return ExitCode::from(2);
        }
    };
    let cases = invocation.cases();
    let run = client::run_cases(&invocation.options, &cases, |case, outcome| {
        println!("{}", outcome.line(case.name()));
        let _ = std::io::stdout().flush();
    });
    match grpc_interop::block_on(run) {
        Ok(outcomes) if outcomes.iter().any(|(_, outcome)| outcome.is_fail()) => ExitCode::FAILURE,
        Ok(_) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("interop-client: cannot start the runtime: {error}");
            ExitCode::FAILURE
        }
    }
}
