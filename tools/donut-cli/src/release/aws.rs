//! The release's ports on the SDK: Lambda (`GetAlias`, `UpdateAlias`, `ListVersionsByFunction`,
//! `DeleteFunction` of one version) and CloudWatch (`DescribeAlarms`, `GetMetricStatistics` of
//! Lambda's `Invocations` by alias and executed version).

use std::collections::HashMap;

use anyhow::Context;
use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, StateValue, Statistic};
use aws_sdk_lambda::types::AliasRoutingConfiguration;

use super::{Alias, AliasUpdate, Lambda, Watch};

/// Lambda through the SDK.
pub struct SdkLambda(pub aws_sdk_lambda::Client);

/// CloudWatch through the SDK.
pub struct SdkWatch(pub aws_sdk_cloudwatch::Client);

fn text<E: std::error::Error + Send + Sync + 'static>(e: E) -> String {
    aws_sdk_lambda::error::DisplayErrorContext(e).to_string()
}

impl Lambda for SdkLambda {
    async fn get_alias(&self, function: &str, alias: &str) -> anyhow::Result<Alias> {
        let out = self
            .0
            .get_alias()
            .function_name(function)
            .name(alias)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("GetAlias {function}:{alias}: {}", text(e)))?;
        let routing = out
            .routing_config
            .and_then(|r| r.additional_version_weights)
            .and_then(|weights| weights.into_iter().next());
        Ok(Alias {
            primary: out
                .function_version
                .context("GetAlias answered no FunctionVersion")?,
            routing,
            description: out.description.unwrap_or_default(),
            revision_id: out.revision_id,
        })
    }

    async fn update_alias(
        &self,
        function: &str,
        alias: &str,
        update: &AliasUpdate,
        revision: Option<&str>,
    ) -> anyhow::Result<bool> {
        // An empty AdditionalVersionWeights removes the routing (Lambda API reference,
        // AliasRoutingConfiguration; "To remove the routing configuration, specify an empty
        // map" in the UpdateAlias CLI reference).
        let weights: HashMap<String, f64> = update.routing.iter().cloned().collect();
        let sent = self
            .0
            .update_alias()
            .function_name(function)
            .name(alias)
            .function_version(&update.primary)
            .routing_config(
                AliasRoutingConfiguration::builder()
                    .set_additional_version_weights(Some(weights))
                    .build(),
            )
            .description(update.mark.describe())
            .set_revision_id(revision.map(str::to_owned))
            .send()
            .await;
        match sent {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_precondition_failed_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(anyhow::anyhow!(
                "UpdateAlias {function}:{alias}: {}",
                text(e)
            )),
        }
    }

    async fn list_versions(&self, function: &str) -> anyhow::Result<Vec<String>> {
        let mut versions = Vec::new();
        let mut marker = None;
        loop {
            let out = self
                .0
                .list_versions_by_function()
                .function_name(function)
                .set_marker(marker)
                .send()
                .await
                .map_err(|e| anyhow::anyhow!("ListVersionsByFunction {function}: {}", text(e)))?;
            versions.extend(
                out.versions
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|v| v.version),
            );
            marker = out.next_marker;
            if marker.is_none() {
                return Ok(versions);
            }
        }
    }

    async fn delete_version(&self, function: &str, version: &str) -> anyhow::Result<()> {
        self.0
            .delete_function()
            .function_name(function)
            .qualifier(version)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("DeleteFunction {function}:{version}: {}", text(e)))?;
        Ok(())
    }
}

impl Watch for SdkWatch {
    async fn firing(&self, alarms: &[String]) -> anyhow::Result<Vec<String>> {
        let mut firing = Vec::new();
        // DescribeAlarms takes at most 100 names a call.
        for chunk in alarms.chunks(100) {
            let out = self
                .0
                .describe_alarms()
                .set_alarm_names(Some(chunk.to_vec()))
                .send()
                .await
                .map_err(|e| anyhow::anyhow!("DescribeAlarms: {}", text(e)))?;
            let found = out.metric_alarms.unwrap_or_default();
            for name in chunk {
                let alarm = found
                    .iter()
                    .find(|a| a.alarm_name.as_deref() == Some(name))
                    .with_context(|| format!("the canary alarm {name} does not exist"))?;
                if alarm.state_value == Some(StateValue::Alarm) {
                    firing.push(name.clone());
                }
            }
        }
        Ok(firing)
    }

    async fn invocations(
        &self,
        function: &str,
        alias: &str,
        version: &str,
        since: u64,
    ) -> anyhow::Result<u64> {
        let dimension =
            |name: &str, value: String| Dimension::builder().name(name).value(value).build();
        let now = super::unix_now();
        let out = self
            .0
            .get_metric_statistics()
            .namespace("AWS/Lambda")
            .metric_name("Invocations")
            .dimensions(dimension("FunctionName", function.to_owned()))
            .dimensions(dimension("Resource", format!("{function}:{alias}")))
            .dimensions(dimension("ExecutedVersion", version.to_owned()))
            // Whole minutes: the datapoint of the canary's first minute counts whole (it may
            // hold a few calls from before the start, of the same version: none before it).
            .start_time(DateTime::from_secs((since - since % 60) as i64))
            .end_time(DateTime::from_secs((now + 60) as i64))
            .period(60)
            .statistics(Statistic::Sum)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("GetMetricStatistics Invocations: {}", text(e)))?;
        Ok(out
            .datapoints
            .unwrap_or_default()
            .iter()
            .filter_map(|d| d.sum)
            .sum::<f64>() as u64)
    }
}
