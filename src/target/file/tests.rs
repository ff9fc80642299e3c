//! The file adapter on real files: the document's shape, each kind of change, repeats after a
//! crash, and a file it cannot read left as it was.

use std::collections::BTreeMap;

use super::*;
use crate::plan::{Delta, Deprovision};

fn create(id: &str, name: &str) -> Change {
    let attributes: BTreeMap<String, String> = [
        ("userName", format!("{name}@contoso.com")),
        ("displayName", name.to_owned()),
        ("externalId", id.to_owned()),
        (
            "emails[type eq \"work\"].value",
            format!("{name}@contoso.com"),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    Change {
        id: id.to_owned(),
        user_name: format!("{name}@contoso.com"),
        target_id: None,
        operation: Operation::Create {
            attributes,
            permissions: vec!["Full User".into(), "Member".into()],
            department: Some("Sales".into()),
        },
    }
}

fn on(id: &str, name: &str, operation: Operation) -> Change {
    Change {
        id: id.to_owned(),
        user_name: format!("{name}@contoso.com"),
        target_id: Some(id.to_owned()),
        operation,
    }
}

fn run(target: &FileTarget, changes: &[Change]) -> Vec<Applied> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime for the test");
    runtime.block_on(target.apply(changes))
}

#[test]
fn the_document_is_a_sorted_list_response_of_user_resources() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("out/users.json");
    let target = FileTarget::new(&path);
    let results = run(&target, &[create("2", "bo"), create("1", "anna")]);
    assert!(
        results.iter().all(|r| matches!(r, Applied::Created { .. })),
        "{results:?}"
    );
    let document: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("written")).expect("JSON");
    assert_eq!(document["schemas"], json!([LIST_SCHEMA]));
    assert_eq!(document["totalResults"], 2);
    let anna = &document["Resources"][0];
    assert_eq!(anna["userName"], "anna@contoso.com");
    assert_eq!(anna["externalId"], "1");
    assert_eq!(anna["active"], true);
    assert_eq!(
        anna["roles"],
        json!([{"value": "Full User", "primary": true}, {"value": "Member", "primary": false}])
    );
    assert_eq!(department_of(anna), Some("Sales"));
    let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("out"))
        .expect("dir")
        .collect();
    assert_eq!(leftovers.len(), 1, "no temporary file is left behind");
}

#[test]
fn updates_deactivations_and_deletions_change_only_their_user() {
    let dir = tempfile::tempdir().expect("tempdir");
    let target = FileTarget::new(dir.path().join("users.json"));
    run(
        &target,
        &[create("1", "anna"), create("2", "bo"), create("3", "cy")],
    );
    let delta = Delta {
        attributes: [
            ("displayName".to_owned(), Some("Anna Berg".to_owned())),
            ("externalId".to_owned(), None),
        ]
        .into(),
        added: Default::default(),
        permissions: Some((
            vec!["Full User".into(), "Member".into()],
            vec!["Member".into()],
        )),
        department: Some(Some("Finance".into())),
        active: None,
    };
    let results = run(
        &target,
        &[
            on("1", "anna", Operation::Update { delta }),
            on(
                "2",
                "bo",
                Operation::Deactivate {
                    why: Deprovision::LeftScope,
                },
            ),
            on(
                "3",
                "cy",
                Operation::Delete {
                    why: Deprovision::Deleted,
                },
            ),
        ],
    );
    assert_eq!(
        results,
        [Applied::Updated, Applied::Deactivated, Applied::Deleted]
    );
    let users = target.read().expect("reads");
    assert_eq!(
        users.len(),
        2,
        "the deleted one went, the deactivated one stayed"
    );
    assert_eq!(users[0]["displayName"], "Anna Berg");
    assert!(users[0].get("externalId").is_none());
    assert_eq!(
        users[0]["roles"],
        json!([{"value": "Member", "primary": true}])
    );
    assert_eq!(department_of(&users[0]), Some("Finance"));
    assert_eq!(
        users[0]["emails"][0]["value"], "anna@contoso.com",
        "untouched attributes stay as they were"
    );
    assert_eq!(users[1]["active"], false);
    assert_eq!(users[1]["displayName"], "bo");
}

#[test]
fn a_create_repeated_after_a_crash_adopts_instead_of_duplicating() {
    let dir = tempfile::tempdir().expect("tempdir");
    let target = FileTarget::new(dir.path().join("users.json"));
    run(&target, &[create("1", "anna")]);
    let again = run(&target, &[create("1", "anna")]);
    assert_eq!(
        again,
        [Applied::Adopted {
            target_id: "1".into()
        }]
    );
    assert_eq!(target.read().expect("reads").len(), 1);
    // Deleting or deactivating someone already gone is done, too.
    let gone = run(
        &target,
        &[on(
            "9",
            "nobody",
            Operation::Delete {
                why: Deprovision::LeftScope,
            },
        )],
    );
    assert_eq!(gone, [Applied::Deleted]);
}

#[test]
fn a_file_it_cannot_read_is_left_alone_and_every_change_fails() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("users.json");
    std::fs::write(&path, "{ this is not json").expect("write");
    let target = FileTarget::new(&path);
    let results = run(&target, &[create("1", "anna"), create("2", "bo")]);
    assert_eq!(results.len(), 2);
    for result in &results {
        let Applied::Failed { message } = result else {
            panic!("{result:?}");
        };
        assert!(
            message.contains("users.json") && message.contains("never overwrites"),
            "{message}"
        );
    }
    assert_eq!(
        std::fs::read_to_string(&path).expect("reads"),
        "{ this is not json"
    );
}

#[test]
fn a_new_document_is_created_0600_and_an_existing_one_keeps_its_mode() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |path: &std::path::Path| {
        std::fs::metadata(path)
            .expect("exists")
            .permissions()
            .mode()
            & 0o777
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("users.json");
    let target = FileTarget::new(&path);
    // Whatever the umask of the test process (usually 022), a new document is the owner's only.
    run(&target, &[create("1", "anna")]);
    assert_eq!(mode(&path), 0o600, "created 0600");
    // The owner lets the application's group read it: the next replacement keeps that.
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).expect("chmod");
    run(&target, &[create("2", "bo")]);
    assert_eq!(mode(&path), 0o640, "an existing document keeps its mode");
    assert_eq!(target.read().expect("reads").len(), 2);
}
