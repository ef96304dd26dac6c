//! `toolgate`: the gateway's command line.

#![forbid(unsafe_code)]

mod apply_cmd;
mod audit;
mod config;
mod explain_text;
mod json_diff;
mod policy_cmd;
mod policy_test_cmd;
mod redis_names;
mod scan_cmd;
mod serve;
mod telemetry;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::{DatabaseArgs, LogFormat, ServeArgs};
use crate::serve::Role;

/// mimalloc's thread-local free lists suit a proxy that allocates and frees
/// small buffers on every request across worker threads; the system
/// allocator spent about a tenth of the gateway's CPU time in malloc/free.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "toolgate",
    version,
    about = "A multi-tenant policy gateway for MCP servers"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run everything on one port: the control plane API and the gateway.
    Serve(ServeArgs),
    /// Run the control plane alone.
    Control(ServeArgs),
    /// Run the gateway alone (a stateless replica; scale it out).
    Proxy(ServeArgs),
    /// Create the database if missing and apply pending migrations, then exit.
    Migrate(DatabaseArgs),
    /// Work with policy documents offline.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// List an MCP server's tools with the risk Toolgate sees in each, and
    /// optionally write the policy it recommends (no database needed).
    Scan(scan_cmd::ScanArgs),
    /// Make an account's servers' policies match the files in a directory
    /// (`<server name>.json` each), through the control plane's API.
    Apply(apply_cmd::ApplyArgs),
}

#[derive(Subcommand)]
enum PolicyCommand {
    /// Validate a policy file: exit 0 if valid, else list every error and exit 1.
    Check { file: PathBuf },
    /// Print the decision a policy makes for one tool call, as JSON.
    Eval {
        file: PathBuf,
        /// The tool's name.
        #[arg(long)]
        tool: String,
        /// The call's arguments, as a JSON object.
        #[arg(long)]
        args: Option<String>,
        /// Print the decision's trace instead: which keys match in which
        /// order and which decides, which do not and why, schema errors with
        /// their paths, and the limits the call would count.
        #[arg(long)]
        explain: bool,
    },
    /// Check a policy against a file of expected decisions (JSON; see
    /// docs/policy.md): exit 0 if every case passes, else list each
    /// failure and exit 1.
    Test {
        /// The policy file.
        file: PathBuf,
        /// The cases file.
        cases: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.command) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Serve(args) => serve(args, Role::All),
        Command::Control(args) => serve(args, Role::Control),
        Command::Proxy(args) => serve(args, Role::Gateway),
        Command::Migrate(args) => {
            let telemetry = telemetry::init(LogFormat::Text, "toolgate-migrate")?;
            let migrated = runtime()?.block_on(async {
                serve::prepare_database(&args).await?;
                tracing::info!("database is migrated");
                anyhow::Ok(())
            });
            telemetry.shutdown();
            migrated?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Policy(PolicyCommand::Check { file }) => policy_cmd::check(&file),
        Command::Policy(PolicyCommand::Eval {
            file,
            tool,
            args,
            explain,
        }) => policy_cmd::eval(&file, &tool, args.as_deref(), explain),
        Command::Policy(PolicyCommand::Test { file, cases }) => policy_test_cmd::run(&file, &cases),
        Command::Scan(args) => scan_cmd::scan(&args),
        Command::Apply(args) => runtime()?.block_on(apply_cmd::apply(&args)),
    }
}

fn serve(args: ServeArgs, role: Role) -> anyhow::Result<ExitCode> {
    let telemetry = telemetry::init(args.log_format, &format!("toolgate-{}", role.name()))?;
    let served = runtime()?.block_on(serve::run(args, role));
    // After the runtime is gone: the exporter blocks on its own client.
    telemetry.shutdown();
    served?;
    Ok(ExitCode::SUCCESS)
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}
