//! The role matrix: every org route in the OpenAPI document × every role, allowed or refused as
//! the "Roles" table of ARCHITECTURE.md says. The test reads the table from the markdown, so the
//! document and the code cannot disagree; a route without a case, or a case whose action has no
//! row, fails.

use std::collections::BTreeMap;

use gsm_proto::rest::{ErrorBody, OrgInitialized};

use crate::harness::TestServer;
use crate::isolation::{Fixture, call, cases_for_every_org_route, snapshot};

/// The Roles table: action → role → allowed.
type Table = BTreeMap<String, BTreeMap<String, bool>>;

/// Parses the first table under `## Roles` in ARCHITECTURE.md. Its first column starts with the
/// action's name (`RunJobs (create, cancel)`), the other columns are roles holding `yes` or `no`.
fn roles_table() -> Table {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../ARCHITECTURE.md");
    let text = std::fs::read_to_string(path).unwrap();
    let section =
        text.split("\n## Roles\n").nth(1).expect("ARCHITECTURE.md has a `## Roles` section");
    let section = section.split("\n## ").next().unwrap();
    let mut rows = section.lines().filter(|line| line.starts_with('|')).map(|line| {
        line.trim_matches('|').split('|').map(|cell| cell.trim().to_owned()).collect::<Vec<_>>()
    });
    let header = rows.next().expect("the Roles section has a table");
    let roles = &header[1..];
    let mut table = Table::new();
    for row in rows.filter(|row| !row[0].starts_with("---")) {
        let action = row[0].split_whitespace().next().unwrap().to_owned();
        let allowed = roles
            .iter()
            .zip(&row[1..])
            .map(|(role, cell)| match cell.as_str() {
                "yes" => (role.clone(), true),
                "no" => (role.clone(), false),
                other => panic!("Roles table: {action}/{role} is {other:?}, not yes or no"),
            })
            .collect();
        table.insert(action, allowed);
    }
    assert!(!table.is_empty(), "the Roles table has no rows");
    table
}

/// A new API key of `role` in `org`, written straight to the store.
async fn key_with_role(server: &TestServer, org: &OrgInitialized, role: &str) -> String {
    let store = &server.state.store;
    let (owner_key_id, _) = gsm_server::secrets::parse_api_key(&org.api_key).unwrap();
    let mut record = store.find_api_key(owner_key_id).await.unwrap().unwrap();
    let key = gsm_server::secrets::new_api_key();
    record.key_id = key.key_id;
    record.secret_hash = key.secret_hash;
    record.name = format!("{role} key");
    record.role = role.to_owned();
    store.create_api_key(&record).await.unwrap();
    key.full
}

#[tokio::test]
async fn every_role_may_call_exactly_the_org_routes_the_roles_table_allows() {
    let server = TestServer::start().await;
    let table = roles_table();
    let cases = cases_for_every_org_route(&server).await;
    let roles: Vec<String> = table.values().next().unwrap().keys().cloned().collect();
    for role in ["owner", "admin", "operator", "viewer"] {
        assert!(roles.iter().any(|r| r == role), "the Roles table has no {role} column");
    }
    for case in cases {
        let route = format!("{} {}", case.method, case.path);
        let row = table.get(case.action).unwrap_or_else(|| {
            panic!("{route} needs {}, which has no row in the Roles table", case.action)
        });
        for role in &roles {
            // A fresh org for every call: some calls (deleting the org) end the one they act on.
            let org = server.other_org().await;
            let key = key_with_role(&server, &org, role).await;
            let fixture = Fixture::create(&server, org.org, &org.api_key).await;
            let before = snapshot(&server, org.org).await;
            let (status, body) = call(&server, case, &key, &fixture.ids, &fixture.ids).await;
            if row[role] {
                assert_eq!(status, case.ok, "{route} as {role} should be allowed: {body}");
            } else {
                let code = serde_json::from_value::<ErrorBody>(body.clone()).map(|e| e.error.code);
                assert_eq!(
                    (status, code.ok()),
                    (403, Some("forbidden".into())),
                    "{route} as {role} should be refused: {body}"
                );
                let after = snapshot(&server, org.org).await;
                assert_eq!(after, before, "{route} as {role} was refused but changed the org");
            }
        }
    }
}
