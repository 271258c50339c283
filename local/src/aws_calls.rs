//! Which AWS API calls each function makes, recorded while the local stack runs: what its
//! IAM role must allow on AWS. With `DONUT_AWS_CALLS=<file>` set, every call of the clients
//! the stack builds for a function is appended to that file as one JSON line — the function,
//! the IAM action (`sns:Publish`; batch operations as the action IAM checks them under), and
//! the kind of resource (`stock-out`, `factory-orders`: the name after the stack's prefix, as
//! the infra program names the same resource). `infra/tests/least_privilege.rs` holds those
//! calls to the roles the program deploys.
//!
//! The factory-requester's SQS calls are made by the event-source driver, as on AWS the event
//! source mapping polls with the function's role.

use std::io::Write;
use std::sync::{Mutex, OnceLock};

use aws_sdk_sns::config::interceptors::BeforeSerializationInterceptorContextRef;
use aws_sdk_sns::config::{ConfigBag, Intercept};
use aws_sdk_sns::error::BoxError;
use donut_config::Function;

fn sink() -> Option<&'static Mutex<std::fs::File>> {
    static SINK: OnceLock<Option<Mutex<std::fs::File>>> = OnceLock::new();
    SINK.get_or_init(|| {
        let path = std::env::var_os("DONUT_AWS_CALLS")?;
        let path = std::path::PathBuf::from(path);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).ok()?;
        }
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .ok()
            .map(Mutex::new)
    })
    .as_ref()
}

/// Whether calls are being recorded.
pub fn recording() -> bool {
    sink().is_some()
}

/// Records that `function` called `action` on the resource of `kind`.
fn record(function: Function, action: &str, kind: &str) {
    let Some(sink) = sink() else { return };
    let line =
        serde_json::json!({ "function": function.name(), "action": action, "resource": kind });
    let mut file = sink
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let _ = writeln!(file, "{line}");
}

/// An SDK interceptor that records each call of one function's client.
#[derive(Debug, Clone)]
pub struct Recorder {
    function: Function,
    /// (ARN or URL, kind) of the stack's resources.
    kinds: Vec<(String, String)>,
}

impl Recorder {
    pub fn new(function: Function, kinds: Vec<(String, String)>) -> Self {
        Self { function, kinds }
    }

    fn kind_of(&self, arn_or_url: Option<&str>) -> String {
        let target = arn_or_url.unwrap_or_default();
        self.kinds
            .iter()
            .find(|(known, _)| known == target)
            .map(|(_, kind)| kind.clone())
            .unwrap_or_else(|| format!("unknown:{target}"))
    }
}

impl Intercept for Recorder {
    fn name(&self) -> &'static str {
        "donut-aws-call-recorder"
    }

    fn read_before_execution(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        use aws_sdk_secretsmanager::operation::get_random_password::GetRandomPasswordInput;
        use aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueInput;
        use aws_sdk_secretsmanager::operation::put_secret_value::PutSecretValueInput;
        use aws_sdk_sns::operation::publish::PublishInput;
        use aws_sdk_sqs::operation as sqs;
        let input = context.input();
        let (action, target) = if let Some(i) = input.downcast_ref::<PublishInput>() {
            ("sns:Publish", i.topic_arn())
        } else if let Some(i) =
            input.downcast_ref::<sqs::receive_message::ReceiveMessageInput>()
        {
            ("sqs:ReceiveMessage", i.queue_url())
        } else if let Some(i) =
            input.downcast_ref::<sqs::delete_message_batch::DeleteMessageBatchInput>()
        {
            ("sqs:DeleteMessage", i.queue_url())
        } else if let Some(i) = input.downcast_ref::<sqs::delete_message::DeleteMessageInput>() {
            ("sqs:DeleteMessage", i.queue_url())
        } else if let Some(i) = input
            .downcast_ref::<sqs::change_message_visibility_batch::ChangeMessageVisibilityBatchInput>(
            ) {
            ("sqs:ChangeMessageVisibility", i.queue_url())
        } else if let Some(i) = input
            .downcast_ref::<sqs::change_message_visibility::ChangeMessageVisibilityInput>()
        {
            ("sqs:ChangeMessageVisibility", i.queue_url())
        } else if let Some(i) =
            input.downcast_ref::<sqs::get_queue_attributes::GetQueueAttributesInput>()
        {
            ("sqs:GetQueueAttributes", i.queue_url())
        } else if let Some(i) = input.downcast_ref::<GetSecretValueInput>() {
            ("secretsmanager:GetSecretValue", i.secret_id())
        } else if let Some(i) = input.downcast_ref::<PutSecretValueInput>() {
            ("secretsmanager:PutSecretValue", i.secret_id())
        } else if input.downcast_ref::<GetRandomPasswordInput>().is_some() {
            // No resource: IAM grants it on `*`.
            ("secretsmanager:GetRandomPassword", None)
        } else {
            ("unknown:operation", None)
        };
        record(self.function, action, &self.kind_of(target));
        Ok(())
    }
}
