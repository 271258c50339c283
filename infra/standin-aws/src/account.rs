//! The stand-in's "AWS account": every live resource with its id, ARN, inputs and outputs,
//! kept in one JSON file so that it outlives the provider process (the engine starts a new
//! one per command), exactly like the real account outlives `pulumi up`.
//!
//! Besides existence it models the refusals a deploy and a redeploy meet most: a physical name
//! already taken (AWS's `AlreadyExists`/`ResourceConflictException`); deleting a resource that
//! another live resource still refers to (EC2's `DependencyViolation`, IAM's `DeleteConflict`);
//! what a deletion leaves behind — a secret deleted with a recovery window keeps its name
//! until the window ends, an RDS instance deleted with a final snapshot leaves a snapshot whose
//! name cannot be used again — and deleting an RDS instance with deletion protection on.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Live {
    #[serde(rename = "type")]
    pub type_token: String,
    pub id: String,
    /// The logical name (from the URN), for messages.
    pub logical: String,
    pub inputs: Map<String, Value>,
    pub outputs: Map<String, Value>,
}

impl Live {
    fn arn(&self) -> Option<&str> {
        self.outputs.get("arn").and_then(Value::as_str)
    }

    fn name_scope(&self) -> Option<&str> {
        scope_of(&self.type_token, &self.inputs)
    }

    /// Names AWS does not require to be unique (saved queries and HTTP APIs have ids).
    fn name_is_unique(&self) -> bool {
        !matches!(
            self.type_token.as_str(),
            "aws:cloudwatch/queryDefinition:QueryDefinition" | "aws:apigatewayv2/api:Api"
        )
    }

    /// A resource's own settings, known by that resource's name or ARN (their id is it, with a
    /// qualifier): a string naming the resource names the resource, not them, and nothing else
    /// refers to them (AWS deletes them with it, and never refuses to) — a function's
    /// asynchronous invocation config and URL, a secret's resource policy.
    fn is_known_by_its_function(&self) -> bool {
        matches!(
            self.type_token.as_str(),
            "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig"
                | "aws:lambda/functionUrl:FunctionUrl"
                | "aws:secretsmanager/secretPolicy:SecretPolicy"
        )
    }

    fn physical_name(&self) -> Option<&str> {
        ["name", "identifier", "dashboardName"]
            .iter()
            .find_map(|key| self.inputs.get(*key).and_then(Value::as_str))
    }

    /// Whether this resource's inputs refer to `other`: its ARN anywhere in a string (also
    /// inside policy documents), a generated id (`vpc-…`, a queue URL) likewise, or a
    /// name-like id as the whole value of a property named for `other`'s kind (`role`,
    /// `functionName`, `dbSubnetGroupName`…) — names alone are shared across kinds.
    fn refers_to(&self, other: &Live) -> bool {
        if other.is_known_by_its_function() {
            return false;
        }
        let arn = other.arn();
        // An id AWS made up (`vpc-…`, a URL, an ARN) — not a name, nor one of the resource's
        // own inputs (a default target group's id is its proxy's name).
        let generated = other.physical_name() != Some(other.id.as_str())
            && !other
                .inputs
                .values()
                .any(|v| v.as_str() == Some(other.id.as_str()));
        let kind_words = camel_words(other.type_token.rsplit(':').next().unwrap_or_default());
        let mut by_arn_or_generated_id = false;
        let mut by_name = false;
        let mut names_scope = false;
        let scope = other.name_scope();
        visit_strings("", &Value::Object(self.inputs.clone()), &mut |key, s| {
            let key = key.to_ascii_lowercase();
            by_arn_or_generated_id |= arn.is_some_and(|arn| contains_token(s, arn))
                || (generated && contains_token(s, &other.id));
            by_name |= s == other.id && kind_words.iter().any(|w| key.contains(w.as_str()));
            names_scope |= scope.is_some_and(|scope| contains_token(s, scope));
        });
        // A scoped id (`$default`) names this resource only beside its parent (the API's id).
        by_arn_or_generated_id || (by_name && (scope.is_none() || names_scope))
    }
}

/// `SecurityGroup` → `["security", "group"]`.
fn camel_words(kind: &str) -> Vec<String> {
    let mut words: Vec<String> = Vec::new();
    for c in kind.chars() {
        if c.is_ascii_uppercase() || words.is_empty() {
            words.push(String::new());
        }
        words.last_mut().unwrap().push(c.to_ascii_lowercase());
    }
    words
}

/// Calls `f(key, string)` for every string in `value`, with the nearest object key.
fn visit_strings(key: &str, value: &Value, f: &mut impl FnMut(&str, &str)) {
    match value {
        Value::String(s) => f(key, s),
        Value::Array(items) => items.iter().for_each(|item| visit_strings(key, item, f)),
        Value::Object(map) => map.iter().for_each(|(k, v)| visit_strings(k, v, f)),
        _ => {}
    }
}

/// `needle` occurs in `haystack` and is not just the start of a longer name.
fn contains_token(haystack: &str, needle: &str) -> bool {
    haystack.match_indices(needle).any(|(at, _)| {
        let after = haystack[at + needle.len()..].chars().next();
        !after.is_some_and(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    })
}

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("the stand-in account file {0}: {1}")]
    Io(PathBuf, std::io::Error),
    #[error("the stand-in account file {0} is not valid: {1}")]
    Corrupt(PathBuf, serde_json::Error),
    #[error(
        "AlreadyExists: a {type_token} named '{name}' already exists in this account (it belongs to {owner}); \
         give this one another name or delete the other first"
    )]
    NameTaken {
        type_token: String,
        name: String,
        owner: String,
    },
    #[error("{0}")]
    Refused(String),
    #[error(
        "DependencyViolation: {type_token} {id} ({logical}) has dependent objects and cannot be deleted: \
         still referred to by {by}"
    )]
    InUse {
        type_token: String,
        id: String,
        logical: String,
        by: String,
    },
}

#[derive(Default, Serialize, Deserialize)]
struct Resources {
    /// By `type id`.
    live: BTreeMap<String, Live>,
    /// What deletions left behind, by `kind name`: names that cannot be used again.
    #[serde(default)]
    left_behind: BTreeMap<String, String>,
    /// The account's quotas (a test writes a new account's; absent: a standard account's).
    #[serde(default)]
    quotas: Quotas,
    /// What AWS accepts but leaves doing nothing: an alarm on a metric no live resource
    /// publishes, a policy naming a resource that does not exist. Tests read these.
    #[serde(default)]
    findings: Vec<String>,
}

/// Service quotas the stand-in enforces, as `GetAccountSettings` reports them.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Quotas {
    /// Lambda's concurrent executions in the Region (`AccountLimit.ConcurrentExecutions`):
    /// 1,000 by default; new accounts start lower (the Lambda quotas page: "New AWS accounts
    /// have reduced concurrency and memory quotas"; 10 and 50 are seen in practice).
    pub lambda_concurrent_executions: u32,
}

impl Default for Quotas {
    fn default() -> Self {
        Quotas {
            lambda_concurrent_executions: 1000,
        }
    }
}

impl Quotas {
    /// What must stay unreserved: 100 ("as long as you leave at least 100 simultaneous
    /// executions unreserved", PutFunctionConcurrency), or the whole quota when it is lower (the
    /// refusals real low-quota accounts get name 50 and 10).
    pub fn unreserved_minimum(&self) -> u32 {
        self.lambda_concurrent_executions.min(100)
    }
}

const FUNCTION: &str = "aws:lambda/function:Function";

/// A function's reserved concurrency (`None`: unreserved, -1 or unset).
fn reserved(live: &Live) -> Option<u32> {
    // Numbers arrive as doubles (protobuf `Struct`).
    live.inputs
        .get("reservedConcurrentExecutions")
        .and_then(Value::as_f64)
        .filter(|n| *n >= 0.0)
        .map(|n| n as u32)
}

/// Lambda's refusal of a reservation that leaves the account below its unreserved minimum
/// (`InvalidParameterValueException`, HTTP 400, word for word as AWS answers it).
fn check_reservation(resources: &Resources, function: &Live) -> Result<(), AccountError> {
    let Some(wanted) = reserved(function) else {
        return Ok(());
    };
    let others: u32 = resources
        .live
        .values()
        .filter(|l| l.type_token == FUNCTION && l.id != function.id)
        .filter_map(reserved)
        .sum();
    let quotas = &resources.quotas;
    let minimum = quotas.unreserved_minimum();
    if others + wanted + minimum > quotas.lambda_concurrent_executions {
        return Err(AccountError::Refused(format!(
            "InvalidParameterValueException: Specified ReservedConcurrentExecutions for function \
             decreases account's UnreservedConcurrentExecution below its minimum value of [{minimum}]."
        )));
    }
    Ok(())
}

const SECRET: &str = "aws:secretsmanager/secret:Secret";
const DB_INSTANCE: &str = "aws:rds/instance:Instance";

fn remains(kind: &str, name: &str) -> String {
    format!("{kind} {name}")
}

pub struct Account {
    path: PathBuf,
    catalogue: crate::references::Catalogue,
}

/// What a name (and an id) is unique within: the account, or for resources AWS scopes to a
/// parent (an inline policy's role, a stage's API) that parent.
fn scope_of<'a>(type_token: &str, inputs: &'a Map<String, Value>) -> Option<&'a str> {
    let parent = match type_token {
        "aws:iam/rolePolicy:RolePolicy" => "role",
        "aws:apigatewayv2/stage:Stage" => "apiId",
        // An alias's name is its function's (CreateAlias: the same name on two functions is
        // two aliases); its id, the alias ARN, names the function too.
        "aws:lambda/alias:Alias" => "functionName",
        _ => return None,
    };
    inputs.get(parent).and_then(Value::as_str)
}

/// Where a resource is kept: its type, its id and, for scoped ids, its parent.
fn key(type_token: &str, id: &str, properties: &Map<String, Value>) -> String {
    match scope_of(type_token, properties) {
        Some(scope) => format!("{type_token} {scope}/{id}"),
        None => format!("{type_token} {id}"),
    }
}

impl Account {
    pub fn at(path: PathBuf) -> Self {
        Account {
            path,
            catalogue: crate::references::Catalogue::located(),
        }
    }

    /// Refuses what AWS refuses of `live`'s references; records what it accepts but leaves
    /// doing nothing (`findings`).
    fn check_references(&self, resources: &mut Resources, live: &Live) -> Result<(), AccountError> {
        let all: Vec<&Live> = resources
            .live
            .values()
            .filter(|other| other.id != live.id || other.type_token != live.type_token)
            .collect();
        if let Some(refused) = crate::references::refusal(live, &all) {
            return Err(AccountError::Refused(refused));
        }
        let found = crate::references::findings(live, &all, &self.catalogue)
            .map_err(AccountError::Refused)?;
        for finding in found {
            if !resources.findings.contains(&finding) {
                resources.findings.push(finding);
            }
        }
        Ok(())
    }

    fn load(&self) -> Result<Resources, AccountError> {
        match std::fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| AccountError::Corrupt(self.path.clone(), e)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Resources::default()),
            Err(e) => Err(AccountError::Io(self.path.clone(), e)),
        }
    }

    fn save(&self, resources: &Resources) -> Result<(), AccountError> {
        let io = |e| AccountError::Io(self.path.clone(), e);
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let partial = self.path.with_extension("partial");
        let json = serde_json::to_vec_pretty(resources).expect("resources serialise");
        std::fs::write(&partial, json).map_err(io)?;
        std::fs::rename(&partial, &self.path).map_err(io)
    }

    /// The live resource of this type and id (`properties`: its last known inputs or outputs,
    /// which name the parent of a scoped id).
    pub fn get(
        &self,
        type_token: &str,
        id: &str,
        properties: &Map<String, Value>,
    ) -> Result<Option<Live>, AccountError> {
        Ok(self.load()?.live.remove(&key(type_token, id, properties)))
    }

    /// Adds a new resource, refusing a physical name its type already has in the account.
    pub fn create(&self, live: Live) -> Result<(), AccountError> {
        let mut resources = self.load()?;
        if live.type_token == FUNCTION {
            check_reservation(&resources, &live)?;
        }
        self.check_references(&mut resources, &live)?;
        if live.type_token == SECRET
            && let Some(name) = live.physical_name()
            && resources.left_behind.contains_key(&remains(SECRET, name))
        {
            return Err(AccountError::Refused(format!(
                "InvalidRequestException: You can't create this secret because a secret with the name \
                 {name} is already scheduled for deletion (recovery window)"
            )));
        }
        if let Some(name) = live.physical_name().filter(|_| live.name_is_unique()) {
            let taken = resources.live.values().find(|other| {
                other.type_token == live.type_token
                    && other.name_scope() == live.name_scope()
                    && other.physical_name() == Some(name)
            });
            if let Some(owner) = taken {
                return Err(AccountError::NameTaken {
                    type_token: live.type_token.clone(),
                    name: name.to_owned(),
                    owner: owner.logical.clone(),
                });
            }
        }
        resources
            .live
            .insert(key(&live.type_token, &live.id, &live.inputs), live);
        self.save(&resources)
    }

    pub fn update(&self, live: Live) -> Result<(), AccountError> {
        let mut resources = self.load()?;
        if live.type_token == FUNCTION {
            check_reservation(&resources, &live)?;
        }
        self.check_references(&mut resources, &live)?;
        resources
            .live
            .insert(key(&live.type_token, &live.id, &live.inputs), live);
        self.save(&resources)
    }

    /// Deletes a resource unless another live resource still refers to it.
    pub fn delete(
        &self,
        type_token: &str,
        id: &str,
        properties: &Map<String, Value>,
    ) -> Result<(), AccountError> {
        let mut resources = self.load()?;
        let at = key(type_token, id, properties);
        let Some(doomed) = resources.live.get(&at).cloned() else {
            return Ok(()); // already gone: deleting is idempotent, as in AWS
        };
        let users: Vec<String> = resources
            .live
            .values()
            .filter(|other| key(&other.type_token, &other.id, &other.inputs) != at)
            .filter(|other| other.refers_to(&doomed))
            .map(|other| format!("{} ({})", other.logical, other.type_token))
            .collect();
        if !users.is_empty() {
            return Err(AccountError::InUse {
                type_token: type_token.to_owned(),
                id: id.to_owned(),
                logical: doomed.logical,
                by: users.join(", "),
            });
        }
        let text = |key: &str| {
            doomed
                .inputs
                .get(key)
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        let flag = |key: &str| {
            doomed
                .inputs
                .get(key)
                .and_then(Value::as_bool)
                .unwrap_or(false)
        };
        let number = |key: &str| doomed.inputs.get(key).and_then(Value::as_f64);
        match type_token {
            SECRET if number("recoveryWindowInDays") != Some(0.0) => {
                // Secrets Manager's default window is 30 days.
                let name = doomed.physical_name().unwrap_or(id).to_owned();
                resources
                    .left_behind
                    .insert(remains(SECRET, &name), "scheduled for deletion".into());
            }
            DB_INSTANCE if flag("deletionProtection") => {
                return Err(AccountError::Refused(format!(
                    "InvalidParameterCombination: Cannot delete protected DB Instance {id}, please disable \
                     deletion protection and try again"
                )));
            }
            DB_INSTANCE if !flag("skipFinalSnapshot") => {
                let Some(snapshot) = text("finalSnapshotIdentifier") else {
                    return Err(AccountError::Refused(
                        "InvalidParameterCombination: FinalSnapshotIdentifier is required when a final \
                         snapshot is requested"
                            .into(),
                    ));
                };
                let taken = remains("db-snapshot", &snapshot);
                if resources.left_behind.contains_key(&taken) {
                    return Err(AccountError::Refused(format!(
                        "DBSnapshotAlreadyExists: Cannot create the snapshot because a snapshot with the \
                         identifier {snapshot} already exists"
                    )));
                }
                resources
                    .left_behind
                    .insert(taken, format!("final snapshot of {id}"));
            }
            _ => {}
        }
        resources.live.remove(&at);
        self.save(&resources)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn live(type_token: &str, id: &str, inputs: Value, arn: Option<&str>) -> Live {
        let mut outputs = Map::new();
        if let Some(arn) = arn {
            outputs.insert("arn".into(), json!(arn));
        }
        Live {
            type_token: type_token.into(),
            id: id.into(),
            logical: id.into(),
            inputs: inputs.as_object().unwrap().clone(),
            outputs,
        }
    }

    fn account() -> (Account, PathBuf) {
        let dir = std::env::temp_dir().join(format!(
            "standin-account-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        (Account::at(dir.join("account.json")), dir)
    }

    #[test]
    fn a_referenced_resource_cannot_be_deleted_until_its_user_is_gone() {
        let (account, dir) = account();
        account
            .create(live(
                "aws:ec2/vpc:Vpc",
                "vpc-1",
                json!({}),
                Some("arn:aws:ec2:r:1:vpc/vpc-1"),
            ))
            .unwrap();
        account
            .create(live(
                "aws:ec2/subnet:Subnet",
                "subnet-1",
                json!({"vpcId": "vpc-1"}),
                None,
            ))
            .unwrap();
        let refused = account
            .delete("aws:ec2/vpc:Vpc", "vpc-1", &Map::new())
            .unwrap_err();
        assert!(
            refused.to_string().starts_with("DependencyViolation"),
            "{refused}"
        );
        account
            .delete("aws:ec2/subnet:Subnet", "subnet-1", &Map::new())
            .unwrap();
        account
            .delete("aws:ec2/vpc:Vpc", "vpc-1", &Map::new())
            .unwrap();
        assert!(
            account
                .get("aws:ec2/vpc:Vpc", "vpc-1", &Map::new())
                .unwrap()
                .is_none()
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    fn function(id: &str, reserved: i64) -> Live {
        live(
            FUNCTION,
            id,
            json!({ "name": id, "reservedConcurrentExecutions": reserved }),
            None,
        )
    }

    #[test]
    fn reservations_leave_the_unreserved_minimum_as_lambda_requires() {
        let (account, dir) = account();
        // A standard account: 1000, of which 100 stay unreserved.
        account.create(function("a", 880)).unwrap();
        account.create(function("b", 20)).unwrap();
        let refused = account.create(function("c", 1)).unwrap_err().to_string();
        assert_eq!(
            refused,
            "InvalidParameterValueException: Specified ReservedConcurrentExecutions for function \
             decreases account's UnreservedConcurrentExecution below its minimum value of [100]."
        );
        account.create(function("d", -1)).unwrap();
        // A new account (quota 10): nothing can be reserved.
        let mut resources = account.load().unwrap();
        resources.live.clear();
        resources.quotas.lambda_concurrent_executions = 10;
        account.save(&resources).unwrap();
        let refused = account.create(function("e", 1)).unwrap_err().to_string();
        assert!(refused.ends_with("minimum value of [10]."), "{refused}");
        account.create(function("f", -1)).unwrap();
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn arns_inside_documents_count_but_longer_names_do_not() {
        let topic = live(
            "aws:sns/topic:Topic",
            "t",
            json!({}),
            Some("arn:aws:sns:r:1:donut"),
        );
        let policy = live(
            "aws:sqs/queuePolicy:QueuePolicy",
            "p",
            json!({"policy": "{\"Condition\":{\"ArnEquals\":{\"aws:SourceArn\":\"arn:aws:sns:r:1:donut\"}}}"}),
            None,
        );
        let other = live(
            "x",
            "o",
            json!({"topic": "arn:aws:sns:r:1:donut-ops"}),
            None,
        );
        let logs = live(
            "y",
            "l",
            json!({"resource": "arn:aws:sns:r:1:donut:*"}),
            None,
        );
        assert!(policy.refers_to(&topic));
        assert!(!other.refers_to(&topic));
        assert!(logs.refers_to(&topic));
    }

    #[test]
    fn a_functions_name_refers_to_the_function_not_its_settings() {
        let function = live(
            FUNCTION,
            "relay",
            json!({"name": "relay"}),
            Some("arn:aws:lambda:r:1:function:relay"),
        );
        let settings = live(
            "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig",
            "relay",
            json!({"functionName": "relay", "maximumRetryAttempts": 0}),
            None,
        );
        let alarm = live(
            "aws:cloudwatch/metricAlarm:MetricAlarm",
            "a",
            json!({"dimensions": {"FunctionName": "relay"}}),
            None,
        );
        assert!(settings.refers_to(&function));
        assert!(alarm.refers_to(&function));
        assert!(!alarm.refers_to(&settings));
        // A secret's resource policy is known by the secret's ARN: what names the secret (a
        // function's environment) names the secret, not its policy.
        let secret_arn = "arn:aws:secretsmanager:r:1:secret:login-AbCdEf";
        let policy = live(
            "aws:secretsmanager/secretPolicy:SecretPolicy",
            secret_arn,
            json!({"secretArn": secret_arn, "policy": "{}"}),
            None,
        );
        let reader = live(
            FUNCTION,
            "reader",
            json!({"environment": {"variables": {"DB_SECRET_ARN": secret_arn}}}),
            None,
        );
        assert!(!reader.refers_to(&policy));
    }

    #[test]
    fn a_name_counts_only_under_a_property_named_for_its_kind() {
        let mut role = live(
            "aws:iam/role:Role",
            "sales",
            json!({"name": "sales"}),
            Some("arn:aws:iam::1:role/sales"),
        );
        role.logical = "role".into();
        let policy = live(
            "aws:iam/rolePolicy:RolePolicy",
            "sales:p",
            json!({"role": "sales"}),
            None,
        );
        let alarm = live(
            "x",
            "a",
            json!({"dimensions": {"FunctionName": "sales"}}),
            None,
        );
        assert!(policy.refers_to(&role));
        assert!(!alarm.refers_to(&role));
        assert_eq!(camel_words("SecurityGroup"), vec!["security", "group"]);
    }

    #[test]
    fn deletions_leave_names_behind_and_protection_refuses() {
        let (account, dir) = account();
        let secret = |id: &str, window: f64| {
            live(
                SECRET,
                id,
                json!({"name": "cb", "recoveryWindowInDays": window}),
                None,
            )
        };
        account.create(secret("s1", 0.0)).unwrap();
        account.delete(SECRET, "s1", &Map::new()).unwrap();
        account.create(secret("s2", 7.0)).unwrap();
        account.delete(SECRET, "s2", &Map::new()).unwrap();
        let refused = account.create(secret("s3", 7.0)).unwrap_err().to_string();
        assert!(refused.contains("scheduled for deletion"), "{refused}");

        let db = |id: &str, inputs: Value| live(DB_INSTANCE, id, inputs, None);
        account
            .create(db(
                "db1",
                json!({"identifier": "db1", "deletionProtection": true}),
            ))
            .unwrap();
        assert!(
            account
                .delete(DB_INSTANCE, "db1", &Map::new())
                .unwrap_err()
                .to_string()
                .contains("protected")
        );
        let snapshot = json!({"identifier": "db2", "skipFinalSnapshot": false, "finalSnapshotIdentifier": "final"});
        account.create(db("db2", snapshot.clone())).unwrap();
        account.delete(DB_INSTANCE, "db2", &Map::new()).unwrap();
        account.create(db("db3", json!({"identifier": "db3", "skipFinalSnapshot": false, "finalSnapshotIdentifier": "final"}))).unwrap();
        let refused = account
            .delete(DB_INSTANCE, "db3", &Map::new())
            .unwrap_err()
            .to_string();
        assert!(refused.starts_with("DBSnapshotAlreadyExists"), "{refused}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// An alias's name is its function's: `live` on two functions is two aliases, twice on one
    /// function is refused.
    #[test]
    fn alias_names_are_unique_per_function() {
        let (account, dir) = account();
        let alias = |function: &str| {
            let arn = format!(
                "arn:aws:lambda:r:{}:function:{function}:live",
                crate::shapes::ACCOUNT
            );
            live(
                "aws:lambda/alias:Alias",
                &arn,
                json!({"functionName": function, "name": "live", "functionVersion": "1"}),
                Some(&arn),
            )
        };
        for name in ["sales", "restock"] {
            let mut function = live(FUNCTION, name, json!({"name": name, "publish": true}), None);
            function.outputs.insert("name".into(), json!(name));
            function.outputs.insert("version".into(), json!("1"));
            account.create(function).unwrap();
        }
        account.create(alias("sales")).unwrap();
        account.create(alias("restock")).unwrap();
        let mut again = alias("sales");
        again.id.push('x');
        let refused = account.create(again).unwrap_err().to_string();
        assert!(refused.starts_with("AlreadyExists"), "{refused}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_taken_name_is_refused() {
        let (account, dir) = account();
        account
            .create(live(
                "aws:sqs/queue:Queue",
                "u1",
                json!({"name": "q"}),
                None,
            ))
            .unwrap();
        let refused = account
            .create(live(
                "aws:sqs/queue:Queue",
                "u2",
                json!({"name": "q"}),
                None,
            ))
            .unwrap_err();
        assert!(
            refused.to_string().starts_with("AlreadyExists"),
            "{refused}"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}
