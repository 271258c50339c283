//! The Lambda functions of Donut-States: one enum the infra program, the routes, the budget
//! and the tests list them from.

/// The Lambda functions, by their crate under `lambdas/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Function {
    SalesApi,
    WarehouseRestock,
    FactoryRequester,
    OutboxRelay,
    Migrate,
    FactoryWatchdog,
    /// The operators' API (`/admin/…`, IAM-authorized): the catalogue, stock, factory orders.
    AdminApi,
}

impl Function {
    pub const ALL: [Function; 7] = [
        Function::SalesApi,
        Function::WarehouseRestock,
        Function::FactoryRequester,
        Function::OutboxRelay,
        Function::Migrate,
        Function::FactoryWatchdog,
        Function::AdminApi,
    ];

    /// The crate (and the resource names) of the function.
    pub const fn name(self) -> &'static str {
        match self {
            Function::SalesApi => "sales-api",
            Function::WarehouseRestock => "warehouse-restock",
            Function::FactoryRequester => "factory-requester",
            Function::OutboxRelay => "outbox-relay",
            Function::Migrate => "migrate",
            Function::FactoryWatchdog => "factory-watchdog",
            Function::AdminApi => "admin-api",
        }
    }
}

/// The factory simulator's function, deployed in stages that simulate the legacy factory: no
/// part of the system (not in [`Function::ALL`]), but packaged and deployed like one.
pub const FACTORY_SIMULATOR: &str = "factory-simulator";

/// Every package `make lambdas` builds (`target/lambda/<name>/bootstrap.zip`).
pub fn packages() -> impl Iterator<Item = &'static str> {
    Function::ALL
        .into_iter()
        .map(Function::name)
        .chain([FACTORY_SIMULATOR])
}

impl std::fmt::Display for Function {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    /// `make lambdas` (a shell script) lists the packages again: it must build each one.
    #[test]
    fn make_lambdas_builds_every_package() {
        let script = include_str!("../../../scripts/lambdas.sh");
        let mut listed: Vec<&str> = script
            .lines()
            .find_map(|l| l.strip_prefix("FUNCTIONS=("))
            .and_then(|l| l.strip_suffix(')'))
            .expect("scripts/lambdas.sh lists FUNCTIONS=(…)")
            .split_whitespace()
            .collect();
        let mut packages: Vec<&str> = super::packages().collect();
        listed.sort();
        packages.sort();
        assert_eq!(listed, packages);
    }
}
