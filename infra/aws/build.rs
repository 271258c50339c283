//! Generates the bindings from the committed schema subset (infra/schema/aws-subset.json):
//! never the full provider, and no Pulumi CLI needed.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let schema = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../schema/aws-subset.json");
    pulumi_gestalt_build::generate_from_schema_with_filter(
        &schema,
        &[
            "apigatewayv2",
            "cloudwatch",
            "ec2",
            "iam",
            "kms",
            "lambda",
            "rds",
            "secretsmanager",
            "sns",
            "sqs",
        ],
    )?;
    Ok(())
}
