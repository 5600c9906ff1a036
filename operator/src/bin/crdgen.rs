//! Prints the TraceJob CustomResourceDefinition as YAML (`make generate` writes it to `crds/`).

fn main() -> anyhow::Result<()> {
    print!("{}", tracejob_operator::crd::crd_yaml()?);
    Ok(())
}
