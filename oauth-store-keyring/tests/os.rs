//! `OsStore`: which stores are built in, their size limits and names.

use oauth_store_keyring::OsStore;

#[test]
fn the_native_store_of_this_platform_is_built_in() {
    let native = OsStore::native();
    if cfg!(target_os = "linux") {
        assert_eq!(native, OsStore::SecretService);
        assert!(native.is_built_in());
        assert_eq!(
            OsStore::Keyutils.is_built_in(),
            cfg!(feature = "keyutils"),
            "keyutils follows its feature"
        );
        assert!(!OsStore::AppleKeychain.is_built_in());
        assert!(!OsStore::WindowsCredentialManager.is_built_in());
    }
}

#[test]
fn sizes_are_counted_as_the_store_encodes_them() {
    let text = "é1"; // 3 bytes of UTF-8, 2 units of UTF-16
    assert_eq!(OsStore::SecretService.value_size(text), 3);
    assert_eq!(OsStore::WindowsCredentialManager.value_size(text), 4);
    assert_eq!(OsStore::SecretService.value_cap(), None);
    assert_eq!(OsStore::AppleKeychain.value_cap(), None);
    assert_eq!(OsStore::Keyutils.value_cap(), Some(32_767));
    assert_eq!(OsStore::WindowsCredentialManager.value_cap(), Some(2_560));
}

#[test]
fn names_are_stable_and_distinct() {
    let names: Vec<&str> = OsStore::ALL.iter().map(|o| o.as_str()).collect();
    assert_eq!(
        names,
        [
            "secret-service",
            "keyutils",
            "apple-keychain",
            "windows-credential-manager"
        ]
    );
    assert_eq!(OsStore::SecretService.to_string(), "secret-service");
    for os in OsStore::ALL {
        assert_eq!(os.as_str().parse::<OsStore>(), Ok(*os));
    }
    let unknown = "kwallet".parse::<OsStore>().expect_err("unknown");
    assert_eq!(unknown.to_string(), "unknown OS keyring store `kwallet`");
    assert!(OsStore::SecretService.can_list());
    assert!(!OsStore::Keyutils.can_list());
}
