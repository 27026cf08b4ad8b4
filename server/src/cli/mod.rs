//! Command-line parsing and dispatch. Every failure becomes one line on
//! stderr and an exit code: 2 for a bad argument (usage errors included),
//! 1 for a failure while doing the work.

mod args;
mod build;
mod demo;
mod engine;
mod gen;
mod ir;
mod kernels;
mod measure;
mod mutate;
mod progress;
mod search;
mod tiers;
mod tune;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "hektor",
    version,
    about = "A vector-search engine built around a kernel compiler"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build an HNSW index from a vector file (.fvecs, .bvecs, .npy) into one durable index file.
    Build(build::BuildArgs),
    /// The whole engine on built-in data: generate, build, and sweep ef for recall and latency.
    Demo(demo::DemoArgs),
    /// Add vectors to an index file (each synced to its write-ahead log).
    Insert(mutate::InsertArgs),
    /// Delete vectors from an index file by id (each synced to its log).
    Delete(mutate::DeleteArgs),
    /// Rebuild an index file without its deleted vectors; ids are kept.
    Compact(mutate::CompactArgs),
    /// Search an index with a query file: recall, QPS and latency percentiles per ef.
    Search(search::SearchArgs),
    /// Generate a synthetic data set and its exact ground truth (base/queries.fvecs, gt.ivecs).
    Gen(gen::GenArgs),
    /// Show every stage of one kernel: kernel IR, each pass, Cranelift IR, machine code.
    Ir(ir::IrArgs),
    /// Generate, verify and time every kernel an index of this dimension needs.
    Kernels(kernels::KernelsArgs),
    /// Watch tiered compilation: Cranelift serves at once, LLVM swaps in.
    Tiers(tiers::TiersArgs),
    /// Time candidate schedules on this machine and store the fastest.
    Tune(tune::TuneArgs),
}

/// A failure, with the exit code it maps to.
pub enum Failure {
    /// The user asked for something impossible: exit code 2.
    Usage(String),
    /// The work failed: exit code 1.
    Runtime(String),
}

impl Failure {
    pub fn message(self) -> String {
        match self {
            Failure::Usage(m) | Failure::Runtime(m) => m,
        }
    }
}

impl From<hektor_kernels::SpecError> for Failure {
    fn from(e: hektor_kernels::SpecError) -> Self {
        Failure::Usage(e.to_string())
    }
}

impl From<hektor_codegen::CodegenError> for Failure {
    fn from(e: hektor_codegen::CodegenError) -> Self {
        use hektor_codegen::CodegenError as E;
        match e {
            E::Spec(_) | E::UnsupportedSchedule { .. } => Failure::Usage(e.to_string()),
            _ => Failure::Runtime(e.to_string()),
        }
    }
}

impl From<hektor_runtime::RegistryError> for Failure {
    fn from(e: hektor_runtime::RegistryError) -> Self {
        match e {
            hektor_runtime::RegistryError::Spec(s) => s.into(),
            hektor_runtime::RegistryError::Codegen(c) => c.into(),
            e @ hektor_runtime::RegistryError::NotPrepared(_) => Failure::Runtime(e.to_string()),
            // A flag combination the user chose (--dtype f16 --backend cranelift).
            e @ hektor_runtime::RegistryError::UnsupportedType { .. } => {
                Failure::Usage(e.to_string())
            }
        }
    }
}

pub fn run() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Build(a) => build::run(a),
        Command::Demo(a) => demo::run(a),
        Command::Gen(a) => gen::run(a),
        Command::Search(a) => search::run(a),
        Command::Insert(a) => mutate::insert(a),
        Command::Delete(a) => mutate::delete(a),
        Command::Compact(a) => mutate::compact(a),
        Command::Ir(a) => ir::run(a),
        Command::Kernels(a) => kernels::run(a),
        Command::Tune(a) => tune::run(a),
        Command::Tiers(a) => tiers::run(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(m)) => {
            eprintln!("error: {m}");
            ExitCode::from(2)
        }
        Err(Failure::Runtime(m)) => {
            eprintln!("error: {m}");
            ExitCode::from(1)
        }
    }
}
