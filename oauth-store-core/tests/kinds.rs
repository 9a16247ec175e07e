use std::fmt::{Debug, Display};
use std::str::FromStr;

use oauth_store_core::{KeyringBackend, ResolutionReason, StoreKind, StoreMode, UnknownName};
use proptest::prelude::*;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::TestResult;

/// Checks the stable-name contract of one enum: `as_str`, `Display`, `FromStr` and
/// serde all use the same names, and they are distinct.
fn names_agree<T>(all: &[T], as_str: fn(&T) -> &'static str) -> TestResult
where
    T: Copy
        + PartialEq
        + Debug
        + Display
        + FromStr<Err = UnknownName>
        + Serialize
        + DeserializeOwned,
{
    let mut seen = Vec::new();
    for &value in all {
        let name = as_str(&value);
        assert!(!seen.contains(&name), "`{name}` is used twice");
        seen.push(name);
        assert_eq!(value.to_string(), name);
        assert_eq!(name.parse::<T>()?, value);
        assert_eq!(serde_json::to_string(&value)?, format!("\"{name}\""));
        assert_eq!(serde_json::from_str::<T>(&format!("\"{name}\""))?, value);
    }
    Ok(())
}

#[test]
fn every_kind_round_trips_through_its_stable_name() -> TestResult {
    names_agree(StoreKind::ALL, StoreKind::as_str)?;
    names_agree(StoreMode::ALL, StoreMode::as_str)?;
    names_agree(KeyringBackend::ALL, KeyringBackend::as_str)?;
    names_agree(ResolutionReason::ALL, ResolutionReason::as_str)
}

#[test]
fn the_seven_resolution_reasons_are_the_design_names() {
    let names: Vec<_> = ResolutionReason::ALL
        .iter()
        .map(ResolutionReason::as_str)
        .collect();
    assert_eq!(
        names,
        [
            "auto_load_keyring",
            "auto_load_file_keyring_missing",
            "auto_load_file_keyring_error",
            "auto_save_keyring",
            "auto_save_file_keyring_error",
            "configured_load",
            "configured_save",
        ]
    );
}

#[test]
fn defaults_are_auto_and_direct() {
    assert_eq!(StoreMode::default(), StoreMode::Auto);
    assert_eq!(KeyringBackend::default(), KeyringBackend::Direct);
}

#[test]
fn unknown_names_are_errors_naming_type_and_name() {
    let err = "File"
        .parse::<StoreKind>()
        .expect_err("names are case sensitive");
    assert_eq!(
        err,
        UnknownName {
            what: "StoreKind",
            name: "File".to_owned()
        }
    );
    assert_eq!(err.to_string(), "unknown StoreKind `File`");
    assert!(serde_json::from_str::<StoreMode>(r#""keychain""#).is_err());
}

proptest! {
    #[test]
    fn any_name_that_parses_is_the_stable_name(s in prop_oneof![any::<String>(), "[a-z_]{3,32}"]) {
        if let Ok(v) = s.parse::<StoreKind>() { prop_assert_eq!(v.as_str(), s.as_str()); }
        if let Ok(v) = s.parse::<StoreMode>() { prop_assert_eq!(v.as_str(), s.as_str()); }
        if let Ok(v) = s.parse::<KeyringBackend>() { prop_assert_eq!(v.as_str(), s.as_str()); }
        if let Ok(v) = s.parse::<ResolutionReason>() { prop_assert_eq!(v.as_str(), s.as_str()); }
    }
}

#[test]
fn another_backend_has_a_kind_of_its_own_name() -> TestResult {
    use oauth_store_core::BackendName;
    const PG: StoreKind = StoreKind::Other(BackendName::new("postgres"));
    assert_eq!(PG.to_string(), "postgres");
    assert!(!PG.is_builtin() && StoreKind::File.is_builtin());
    assert_eq!("postgres".parse::<StoreKind>()?, PG);
    assert_eq!(serde_json::to_string(&PG)?, "\"postgres\"");
    assert_eq!(serde_json::from_str::<StoreKind>("\"postgres\"")?, PG);
    // A backend never takes one of ours, and names stay plain.
    for bad in [
        "file",
        "keyring",
        "secrets",
        "",
        "Vault",
        "9lives",
        "a b",
        "x\n",
        &"a".repeat(33),
    ] {
        assert!(BackendName::parse(bad).is_err(), "{bad:?}");
        assert!(
            bad.parse::<StoreKind>().map_or(true, |k| k.is_builtin()),
            "{bad:?}"
        );
    }
    Ok(())
}

#[test]
fn parsed_backend_names_are_bounded() {
    use oauth_store_core::BackendName;
    // However many distinct names a hostile document holds, the process keeps at most
    // 64: past that, new names are refused, known ones still parse.
    let accepted = (0..200)
        .filter(|i| BackendName::parse(&format!("hostile-{i}")).is_ok())
        .count();
    assert!(accepted <= 64, "{accepted}");
    assert!(BackendName::parse("hostile-0").is_ok() || accepted == 0);
}
