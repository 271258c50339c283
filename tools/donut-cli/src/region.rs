//! Where `--aws` calls AWS: the ordinary credential chain, in the stack's Region.
//!
//! A stack lives in its `aws:region` (`Pulumi.<stage>.yaml`); the caller's environment
//! (`AWS_REGION`, a profile's `region`) may name another one, or none. Reading another Region's
//! Lambda quota, queues or alarms answers the wrong question, so every `--aws` command calls the
//! stack's Region unless `--region` says otherwise.

/// The Region a command calls, and what to tell the operator about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegionChoice {
    pub region: String,
    /// Set when the environment or `--region` names another Region than the stack's.
    pub note: Option<String>,
}

/// `--region` when given, else the stack's `aws:region`; never the environment's. `env` is
/// what the environment says (`AWS_REGION`, else `AWS_DEFAULT_REGION`), only to say that it is
/// not used.
pub fn choose_region(
    stage: &str,
    stack_region: &str,
    flag: Option<&str>,
    env: Option<&str>,
) -> RegionChoice {
    let flag = flag.map(str::trim).filter(|r| !r.is_empty());
    let env = env.map(str::trim).filter(|r| !r.is_empty());
    match flag {
        Some(region) => RegionChoice {
            region: region.to_owned(),
            note: (region != stack_region).then(|| {
                format!(
                    "--region {region}: the {stage} stack lives in {stack_region} (aws:region in \
                     Pulumi.{stage}.yaml)"
                )
            }),
        },
        None => RegionChoice {
            region: stack_region.to_owned(),
            note: env.filter(|r| *r != stack_region).map(|r| {
                format!(
                    "AWS_REGION={r} is not used: the {stage} stack lives in {stack_region} \
                     (aws:region in Pulumi.{stage}.yaml); --region overrides"
                )
            }),
        },
    }
}

/// The environment's Region, as the SDK would read it.
pub fn env_region() -> Option<String> {
    std::env::var("AWS_REGION")
        .ok()
        .or_else(|| std::env::var("AWS_DEFAULT_REGION").ok())
}

/// The SDK configuration for real AWS: the default credential chain (environment, profile,
/// SSO, …) and `region`, whatever the environment or profile say.
pub async fn aws_config(region: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(region.to_owned()))
        .load()
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stack_region_wins_over_the_environment_and_the_flag_over_both() {
        let none = choose_region("dev", "eu-west-1", None, None);
        assert_eq!(none.region, "eu-west-1");
        assert_eq!(none.note, None);

        let same = choose_region("dev", "eu-west-1", None, Some("eu-west-1"));
        assert_eq!((same.region.as_str(), same.note), ("eu-west-1", None));

        let other = choose_region("dev", "eu-west-1", None, Some("us-east-1"));
        assert_eq!(other.region, "eu-west-1");
        assert_eq!(
            other.note.as_deref(),
            Some(
                "AWS_REGION=us-east-1 is not used: the dev stack lives in eu-west-1 (aws:region \
                 in Pulumi.dev.yaml); --region overrides"
            )
        );

        let flag = choose_region("dev", "eu-west-1", Some("us-east-1"), Some("eu-west-1"));
        assert_eq!(flag.region, "us-east-1");
        assert!(
            flag.note
                .as_deref()
                .is_some_and(|n| n.contains("lives in eu-west-1")),
            "{flag:?}"
        );
        let blank = choose_region("dev", "eu-west-1", Some(" "), Some(""));
        assert_eq!((blank.region.as_str(), blank.note), ("eu-west-1", None));
    }
}
