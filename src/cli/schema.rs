//! `deployer schema`: the JSON Schemas of the configuration files, of generate's matrices and of
//! `deployer generate --output json`.

use std::process::ExitCode;

use clap::ValueEnum;
use deployer::base::runner;

#[derive(Debug, clap::Args)]
pub(super) struct SchemaArgs {
    #[arg(value_enum)]
    file: SchemaFile,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum SchemaFile {
    /// config/clusters/<cluster>/cluster.yaml
    Cluster,
    /// deployer.yaml
    Settings,
    /// generate's two matrix outputs (and `deployer generate --output json`): one item per job, or batched legs
    Legs,
    /// `deployer generate --output json`: every key, always present
    GenerateOutput,
}

pub(super) fn run(args: SchemaArgs) -> anyhow::Result<ExitCode> {
    let SchemaArgs { file } = args;
    let schema = match file {
        SchemaFile::Cluster => schemars::schema_for!(deployer::config::raw::RawCluster),
        SchemaFile::Settings => schemars::schema_for!(deployer::config::raw::RawSettings),
        SchemaFile::Legs => schemars::schema_for!(deployer::planning::legs::Matrices),
        SchemaFile::GenerateOutput => schemars::schema_for!(deployer::presentation::GenerateJson<'static>),
    };
    let mut json = serde_json::to_string_pretty(&schema)?;
    json.push('\n');
    runner::print_json(&json);
    Ok(ExitCode::SUCCESS)
}
