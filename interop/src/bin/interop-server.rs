//! `interop-server`: grpc.testing.TestService on 127.0.0.1, as the interop suite's reference
//! servers run (`--port=N`, `--use_tls`). Prints `listening on 127.0.0.1:PORT` once it
//! accepts connections; stops on Ctrl-C or SIGTERM.

use std::process::ExitCode;

use grpc_interop::server::{self, ServerOptions};

fn main() -> ExitCode {
    let options = match ServerOptions::from_args(std::env::args().skip(1)) {
        Ok(options) => options,
        Err(error) => {
            eprintln!("interop-server: {error}\n{}", server::USAGE);
            return ExitCode::from(2);
        }
    };
    match grpc_interop::block_on(server::serve(&options)) {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(error)) | Err(error) => {
            eprintln!("interop-server: {error}");
            ExitCode::FAILURE
        }
    }
}
