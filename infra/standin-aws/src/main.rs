//! `pulumi-resource-aws` — a TEST DOUBLE of the Pulumi AWS provider, for running the real
//! Pulumi engine against the program on a machine with no AWS account and no way to build or
//! download the real provider (see docs/architecture.md, "Tested on the real Pulumi engine"). It deploys nothing.
//!
//! - `Check` validates every input against `infra/schema/aws-subset.json` (the same schema
//!   the program's bindings come from): unknown or misspelt properties, missing required
//!   inputs, wrong types, values outside enums.
//! - Names follow AWS's rules per type (`names`): what the provider's validation refuses fails
//!   `Check`, what only the service refuses fails `Create`, each with the real error text.
//! - `Create` answers ids in the real provider's form (`shapes::ID_FORMS`; `--id-table` prints
//!   the table), ARNs, queue URLs, endpoints; `Diff` compares old and
//!   new inputs property by property; `Read`, `Update`, `Delete` act on a fake account kept in
//!   a JSON file (`DONUT_AWS_STANDIN_ACCOUNT`, default `$PULUMI_HOME/donut-aws-standin.json`).
//! - `Delete` refuses, like AWS's DependencyViolation, while another live resource still
//!   refers to the resource's id or ARN — so the order `pulumi destroy` deletes in is tested.
//!
//! The engine starts it with its own address as the last argument; it serves on 127.0.0.1
//! and prints its port, as every Pulumi plugin does.

mod account;
mod names;
mod provider;
mod references;
mod schema;
mod shapes;
mod wire;

use std::path::PathBuf;

use pulumi_gestalt_proto::pulumi::pulumirpc::resource_provider_server::ResourceProviderServer;

fn account_path() -> PathBuf {
    if let Some(path) = std::env::var_os("DONUT_AWS_STANDIN_ACCOUNT") {
        return PathBuf::from(path);
    }
    let home = std::env::var_os("PULUMI_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".pulumi")))
        .unwrap_or_else(|| PathBuf::from("."));
    home.join("donut-aws-standin.json")
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    if std::env::args().any(|a| a == "--version") {
        println!("{}", provider::VERSION);
        return Ok(());
    }
    if std::env::args().any(|a| a == "--id-table") {
        println!("| type | id | read instead | source |\n|---|---|---|---|");
        for f in shapes::ID_FORMS {
            println!(
                "| `{}` | {} | {} | {} |",
                f.type_token, f.id, f.read, f.source
            );
        }
        return Ok(());
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let provider = provider::Provider::new(account::Account::at(account_path()));
    // The engine reads the port from the first line of stdout.
    println!("{port}");
    tonic::transport::Server::builder()
        .add_service(ResourceProviderServer::new(provider))
        .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
        .await?;
    Ok(())
}
