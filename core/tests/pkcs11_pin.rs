//! PIN handling against a real SoftHSM2 token: a PIN file others can read is refused before any
//! login; a wrong PIN costs exactly one `C_Login` and is reported, clearly and again, without a
//! second attempt (tokens lock after a few); the PIN never appears in an error or `Debug` output.
//! Its own test process, because the login state is per process.

mod softhsm;

use modelseal::internals::keys::pkcs11::{self, ErrorKind};
use modelseal::internals::keys::{self, KeyError, KeyOptions, KeyRef};
use std::os::unix::fs::PermissionsExt;

fn open(uri: &str) -> KeyError {
    let key: KeyRef = uri.parse().unwrap();
    keys::open_signer(&key, &KeyOptions::default()).unwrap_err()
}

#[test]
fn insecure_pin_file_then_wrong_pin_once_then_never_retried() {
    let hsm = softhsm::shared();
    let dir = tempfile::tempdir().unwrap();
    let right = hsm.pin();

    // A PIN file that others can read: refused, and no login attempted.
    let loose = dir.path().join("loose.pin");
    std::fs::write(&loose, format!("{right}\n")).unwrap();
    std::fs::set_permissions(&loose, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = open(&hsm.uri_with("ec-p256", &loose));
    let text = err.to_string();
    assert!(
        text.contains("permissions 644 let others read the PIN"),
        "{text}"
    );
    assert!(!text.contains(&right) && !format!("{err:?}").contains(&right));
    assert_eq!(pkcs11::call_counts().logins, 0);

    // A wrong PIN: one C_Login, a clear error that names the URI and not the PIN.
    let wrong_pin = format!("{right}x");
    let wrong = dir.path().join("wrong.pin");
    std::fs::write(&wrong, &wrong_pin).unwrap();
    std::fs::set_permissions(&wrong, std::fs::Permissions::from_mode(0o400)).unwrap();
    let uri = hsm.uri_with("ec-p256", &wrong);
    let err = open(&uri);
    let text = err.to_string();
    assert!(
        text.starts_with("pkcs11:token=modelseal-test;object=ec-p256?"),
        "{text}"
    );
    assert!(
        text.contains("CKR_PIN_INCORRECT") && text.contains("not retrying"),
        "{text}"
    );
    for shown in [text.clone(), format!("{err:?}")] {
        assert!(
            !shown.contains(&wrong_pin) && !shown.contains(&right),
            "{shown}"
        );
    }
    assert!(matches!(err, KeyError::Pkcs11(ref e) if matches!(e.kind, ErrorKind::PinIncorrect)));
    assert_eq!(pkcs11::call_counts().logins, 1);

    // Asked again in the same process — even with the right PIN file — no second C_Login.
    let again = open(&uri);
    assert!(again.to_string().contains("CKR_PIN_INCORRECT"));
    let with_right = open(&hsm.uri("ec-p256"));
    assert!(with_right.to_string().contains("CKR_PIN_INCORRECT"));
    assert_eq!(pkcs11::call_counts().logins, 1);

    // One failure did not lock the token: pkcs11-tool logs in with the right PIN.
    let out = hsm.pkcs11_tool(&[
        "--token-label",
        &hsm.token,
        "--login",
        "--pin",
        "env:MODELSEAL_TEST_PIN",
        "--list-objects",
        "--type",
        "privkey",
    ]);
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("ec-p256"));
}
