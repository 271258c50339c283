//! `donut-cli catalogue apply <file>`: the live catalogue made to match a committed file.
//!
//! The file (TOML; JSON of the same shape when it ends in `.json`) lists the products as
//! `[[product]]` tables: `id`, `name`, `price_cents`, `reorder_point`, `reorder_quantity`,
//! `factory_product_id`, and an optional `stock` used only when the product is created.
//! `docs/catalogue.example.toml` is the dev seed's five donuts.
//!
//! The plan is computed against `GET /admin/products`: products to create, fields to change,
//! retired products in the file to restore, and — only with `--retire-missing` — products
//! missing from the file to retire. Stock is the shelf's: an existing product's stock is never
//! set here (adjustments only, with a reason: `donut-cli stock adjust`). Applying is one call
//! per product, under one reference (the audit keeps it); the plan is then computed again, so a
//! second apply says "nothing to do". An apply stopped half-way is finished by running it again.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context;
use donut_api::contract::{AdminProduct, NewProductRequest, ProductPatch};
use serde::Deserialize;

use crate::operators::{Operators, describe};

/// The file: its products.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogueFile {
    #[serde(default)]
    product: Vec<FileProduct>,
}

/// One product as the file has it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileProduct {
    pub id: String,
    pub name: String,
    pub price_cents: i64,
    pub reorder_point: u32,
    pub reorder_quantity: u32,
    pub factory_product_id: String,
    /// The shelf's stock when the product is created; ignored for an existing product.
    pub stock: Option<u32>,
}

/// Reads a catalogue file: JSON when its name ends in `.json`, TOML otherwise. Every product is
/// checked as the API checks it, and ids must be unique, before anything is planned.
pub fn read(path: &Path) -> anyhow::Result<Vec<FileProduct>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let json = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"));
    parse(&text, json).with_context(|| format!("{}", path.display()))
}

/// Parses a catalogue (TOML, or JSON when `json`) and checks it.
pub fn parse(text: &str, json: bool) -> anyhow::Result<Vec<FileProduct>> {
    let file: CatalogueFile = if json {
        serde_json::from_str(text)?
    } else {
        toml::from_str(text)?
    };
    let mut seen = BTreeSet::new();
    for p in &file.product {
        let id = donut_domain::ProductId::parse(&p.id)
            .map_err(|e| anyhow::anyhow!("product {:?}: {e}", p.id))?;
        anyhow::ensure!(
            seen.insert(p.id.clone()),
            "product {} is listed twice",
            p.id
        );
        donut_domain::NewProduct {
            id,
            name: p.name.clone(),
            price_cents: p.price_cents,
            stock: p.stock.unwrap_or(0),
            reorder: donut_domain::ReorderRule {
                point: p.reorder_point,
                quantity: p.reorder_quantity,
            },
            factory_product_id: p.factory_product_id.clone(),
        }
        .checked()
        .map_err(|e| anyhow::anyhow!("product {}: {e}", p.id))?;
    }
    Ok(file.product)
}

/// One field that differs: its name, the live value and the file's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldChange {
    pub field: &'static str,
    pub live: String,
    pub file: String,
}

/// One change the plan makes.
#[derive(Debug, Clone)]
pub enum Change {
    /// Not in the catalogue: created (with the file's `stock`, or 0).
    Create(NewProductRequest),
    /// In the catalogue, differing: its fields set, and brought back when retired.
    Update {
        id: String,
        fields: Vec<FieldChange>,
        restore: bool,
        patch: ProductPatch,
    },
    /// On sale, not in the file, and `--retire-missing` asked.
    Retire { id: String },
}

impl Change {
    pub fn product_id(&self) -> &str {
        match self {
            Change::Create(p) => &p.product_id,
            Change::Update { id, .. } | Change::Retire { id } => id,
        }
    }
}

/// What an apply would do.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// Creations first, then changes and restorations, then retirements.
    pub changes: Vec<Change>,
    /// Products of the file the catalogue already has as the file says.
    pub unchanged: usize,
    /// On sale, not in the file, left as they are (no `--retire-missing`).
    pub left_alone: Vec<String>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// The plan, one line a product.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for change in &self.changes {
            let line = match change {
                Change::Create(p) => format!(
                    "  create  {:<24} \"{}\", {} cents, reorder point {}, reorder quantity {}, \
                     factory product {}, stock {}",
                    p.product_id,
                    p.name,
                    p.price_cents,
                    p.reorder_point,
                    p.reorder_quantity,
                    p.factory_product_id,
                    p.stock
                ),
                Change::Update {
                    id,
                    fields,
                    restore,
                    ..
                } => {
                    let fields = fields
                        .iter()
                        .map(|f| format!("{} {} → {}", f.field, f.live, f.file))
                        .collect::<Vec<_>>()
                        .join(", ");
                    match (restore, fields.is_empty()) {
                        (true, true) => format!("  restore {id:<24} retired, in the file"),
                        (true, false) => {
                            format!("  restore {id:<24} retired, in the file; {fields}")
                        }
                        (false, _) => format!("  change  {id:<24} {fields}"),
                    }
                }
                Change::Retire { id } => {
                    format!("  retire  {id:<24} not in the file (--retire-missing)")
                }
            };
            out.push_str(&line);
            out.push('\n');
        }
        for id in &self.left_alone {
            let _ = writeln!(
                out,
                "  leave   {id:<24} not in the file, left on sale (--retire-missing retires it)"
            );
        }
        if self.unchanged > 0 {
            let _ = writeln!(
                out,
                "  {} product(s) already as the file says",
                self.unchanged
            );
        }
        out
    }
}

fn quoted(s: &str) -> String {
    format!("{s:?}")
}

/// The plan that makes `live` match `file`. Stock never enters it but as a new product's
/// initial stock.
pub fn plan(file: &[FileProduct], live: &[AdminProduct], retire_missing: bool) -> Plan {
    let live_by_id: BTreeMap<&str, &AdminProduct> =
        live.iter().map(|p| (p.product_id.as_str(), p)).collect();
    let in_file: BTreeSet<&str> = file.iter().map(|p| p.id.as_str()).collect();
    let mut creates = Vec::new();
    let mut updates = Vec::new();
    let mut plan = Plan::default();
    for want in file {
        let Some(have) = live_by_id.get(want.id.as_str()) else {
            creates.push(Change::Create(NewProductRequest {
                product_id: want.id.clone(),
                name: want.name.clone(),
                price_cents: want.price_cents,
                stock: want.stock.unwrap_or(0),
                reorder_point: want.reorder_point,
                reorder_quantity: want.reorder_quantity,
                factory_product_id: want.factory_product_id.clone(),
            }));
            continue;
        };
        let mut fields = Vec::new();
        let mut patch = ProductPatch::default();
        if have.name != want.name {
            fields.push(FieldChange {
                field: "name",
                live: quoted(&have.name),
                file: quoted(&want.name),
            });
            patch.name = Some(want.name.clone());
        }
        if have.price_cents != want.price_cents {
            fields.push(FieldChange {
                field: "price_cents",
                live: have.price_cents.to_string(),
                file: want.price_cents.to_string(),
            });
            patch.price_cents = Some(want.price_cents);
        }
        if have.reorder_point != want.reorder_point {
            fields.push(FieldChange {
                field: "reorder_point",
                live: have.reorder_point.to_string(),
                file: want.reorder_point.to_string(),
            });
            patch.reorder_point = Some(want.reorder_point);
        }
        if have.reorder_quantity != want.reorder_quantity {
            fields.push(FieldChange {
                field: "reorder_quantity",
                live: have.reorder_quantity.to_string(),
                file: want.reorder_quantity.to_string(),
            });
            patch.reorder_quantity = Some(want.reorder_quantity);
        }
        if have.factory_product_id != want.factory_product_id {
            fields.push(FieldChange {
                field: "factory_product_id",
                live: quoted(&have.factory_product_id),
                file: quoted(&want.factory_product_id),
            });
            patch.factory_product_id = Some(want.factory_product_id.clone());
        }
        let restore = have.retired;
        if restore {
            patch.retired = Some(false);
        }
        if fields.is_empty() && !restore {
            plan.unchanged += 1;
        } else {
            updates.push(Change::Update {
                id: want.id.clone(),
                fields,
                restore,
                patch,
            });
        }
    }
    let mut retires = Vec::new();
    for have in live {
        if have.retired || in_file.contains(have.product_id.as_str()) {
            continue;
        }
        if retire_missing {
            retires.push(Change::Retire {
                id: have.product_id.clone(),
            });
        } else {
            plan.left_alone.push(have.product_id.clone());
        }
    }
    plan.changes = creates.into_iter().chain(updates).chain(retires).collect();
    plan
}

/// What [`apply`] did.
#[derive(Debug, Clone)]
pub struct Applied {
    /// One line a change made.
    pub lines: Vec<String>,
}

/// Applies `plan` in order, one call per product; `each` hears of every change as it is made.
/// Stops at the first refusal (what was done stays done: the next apply plans the rest).
pub async fn apply(
    api: &Operators,
    plan: &Plan,
    mut each: impl FnMut(&str),
) -> anyhow::Result<Applied> {
    let mut lines = Vec::new();
    for change in &plan.changes {
        let id = change.product_id();
        let (done, answer) = match change {
            Change::Create(product) => ("created", api.create(product).await),
            Change::Update { patch, restore, .. } => (
                if *restore { "restored" } else { "changed" },
                api.update(id, patch).await,
            ),
            Change::Retire { .. } => (
                "retired",
                api.update(
                    id,
                    &ProductPatch {
                        retired: Some(true),
                        ..ProductPatch::default()
                    },
                )
                .await,
            ),
        };
        let answer = answer.with_context(|| {
            format!(
                "{id} not {done} ({} of {} change(s) made; running the apply again plans the rest)",
                lines.len(),
                plan.changes.len()
            )
        })?;
        let line = format!("{done} {}", describe(&answer.value.product));
        each(&line);
        lines.push(line);
    }
    Ok(Applied { lines })
}

/// `catalogue apply`: reads `path`, plans against the live catalogue, prints the plan and —
/// unless `dry_run` — applies it and checks that nothing is left to do. `out` receives every
/// line printed.
pub async fn apply_file(
    api: &Operators,
    path: &Path,
    retire_missing: bool,
    dry_run: bool,
    out: &mut dyn FnMut(&str),
) -> anyhow::Result<Plan> {
    let file = read(path)?;
    let live = api.products().await?.value.products;
    let planned = plan(&file, &live, retire_missing);
    let source = format!(
        "{} ({} product(s)) against {} ({} product(s), {} retired)",
        path.display(),
        file.len(),
        api.client().base_url(),
        live.len(),
        live.iter().filter(|p| p.retired).count()
    );
    if planned.is_empty() {
        out(&format!("catalogue {source}"));
        let rest = planned.render();
        for line in rest.lines() {
            out(line);
        }
        out("nothing to do: the catalogue matches the file");
        return Ok(planned);
    }
    out(&format!(
        "catalogue {source}: {} change(s)",
        planned.changes.len()
    ));
    for line in planned.render().lines() {
        out(line);
    }
    if dry_run {
        out("dry run: nothing applied");
        return Ok(planned);
    }
    let applied = apply(api, &planned, |line| out(line)).await?;
    let after = plan(&file, &api.products().await?.value.products, retire_missing);
    anyhow::ensure!(
        after.is_empty(),
        "applied {} change(s), yet the catalogue still differs from the file (changed by someone \
         else meanwhile?):\n{}",
        applied.lines.len(),
        after.render()
    );
    out(&format!(
        "applied {} change(s){}; the catalogue matches the file",
        applied.lines.len(),
        api.client()
            .reference()
            .map(|id| format!(" under reference {id} (`donut-cli audit` lists them)"))
            .unwrap_or_default()
    ));
    Ok(planned)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live(id: &str, retired: bool) -> AdminProduct {
        AdminProduct {
            product_id: id.into(),
            name: "Maple Bar".into(),
            price_cents: 225,
            stock: 7,
            reorder_point: 5,
            reorder_quantity: 20,
            factory_product_id: "5".into(),
            retired,
        }
    }

    fn wanted(id: &str) -> FileProduct {
        FileProduct {
            id: id.into(),
            name: "Maple Bar".into(),
            price_cents: 225,
            reorder_point: 5,
            reorder_quantity: 20,
            factory_product_id: "5".into(),
            stock: Some(40),
        }
    }

    #[test]
    fn the_example_file_is_the_dev_seed() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let products = read(&root.join("docs/catalogue.example.toml")).unwrap();
        let seed =
            std::fs::read_to_string(root.join("crates/warehouse/migrations/seed.sql")).unwrap();
        let rows: Vec<String> = products
            .iter()
            .map(|p| {
                format!(
                    "('{}', '{}', {}, {}, {}, {}, '{}')",
                    p.id,
                    p.name,
                    p.price_cents,
                    p.stock.unwrap(),
                    p.reorder_point,
                    p.reorder_quantity,
                    p.factory_product_id
                )
            })
            .collect();
        let squeezed = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
        let seed = squeezed(&seed);
        assert_eq!(rows.len(), 5);
        for row in rows {
            assert!(seed.contains(&squeezed(&row)), "{row} not in seed.sql");
        }
    }

    #[test]
    fn stock_is_never_planned_for_an_existing_product() {
        let mut file = wanted("maple-bar");
        file.stock = Some(999);
        let plan = plan(&[file], &[live("maple-bar", false)], true);
        assert!(plan.is_empty(), "{plan:?}");
        assert_eq!(plan.unchanged, 1);
    }

    #[test]
    fn creates_changes_restores_and_retires_only_when_asked() {
        let mut repriced = wanted("maple-bar");
        repriced.price_cents = 250;
        let file = [repriced, wanted("boston-cream"), wanted("cruller")];
        let now = [
            live("maple-bar", false),
            live("boston-cream", true),
            live("old-fashioned", false),
            live("long-gone", true),
        ];
        let kept = plan(&file, &now, false);
        let ids: Vec<_> = kept.changes.iter().map(Change::product_id).collect();
        assert_eq!(ids, ["cruller", "maple-bar", "boston-cream"]);
        assert_eq!(kept.left_alone, ["old-fashioned"]);
        let text = kept.render();
        assert!(text.contains("create  cruller"), "{text}");
        assert!(text.contains("price_cents 225 → 250"), "{text}");
        assert!(text.contains("restore boston-cream"), "{text}");
        assert!(!text.contains("long-gone"), "already retired: {text}");
        match &kept.changes[2] {
            Change::Update { patch, .. } => {
                assert_eq!(patch.retired, Some(false));
                assert_eq!(patch.price_cents, None);
            }
            other => panic!("{other:?}"),
        }

        let retiring = plan(&file, &now, true);
        assert!(matches!(
            retiring.changes.last(),
            Some(Change::Retire { id }) if id == "old-fashioned"
        ));
        assert!(retiring.left_alone.is_empty());
    }

    #[test]
    fn a_file_is_checked_before_anything_is_planned() {
        let twice = "[[product]]\nid = \"a\"\nname = \"A\"\nprice_cents = 1\nreorder_point = 1\n\
                     reorder_quantity = 1\nfactory_product_id = \"1\"\n";
        let err = parse(&twice.repeat(2), false).unwrap_err();
        assert!(err.to_string().contains("listed twice"), "{err}");
        let typo = twice.replace("price_cents", "price");
        assert!(parse(&typo, false).is_err());
        let negative = twice.replace("price_cents = 1", "price_cents = -1");
        let err = parse(&negative, false).unwrap_err();
        assert!(err.to_string().contains("product a"), "{err:#}");
        let json = r#"{"product": [{"id": "a", "name": "A", "price_cents": 1, "reorder_point": 1,
            "reorder_quantity": 1, "factory_product_id": "1"}]}"#;
        assert_eq!(parse(json, true).unwrap()[0].stock, None);
    }
}
