//! Personal-data types never print their content: not in Debug, Display, logs or panic messages.

use crate::support::logs;
use leancart::kernel::pii::{AddressText, Email, PersonName, Phone, PostalCode};
use leancart::kernel::secret::SecretString;

#[test]
fn redacted_types_never_print_their_content() {
    logs::init();
    let email = Email::parse("ada.lovelace@example.org").unwrap();
    let name = PersonName::parse("Ada Lovelace").unwrap();
    let phone = Phone::parse("+44 20 7946 0123").unwrap();
    let line = AddressText::parse("12 Analytical Row").unwrap();
    let postal = PostalCode::parse("SW1A 1AA").unwrap();
    let secret = SecretString::new("sk_test_supersecret");

    let printed =
        format!("{email} {email:?} {name} {name:?} {phone} {phone:?} {line:?} {postal:?} {secret:?} {secret}");
    for needle in ["ada.lovelace", "Lovelace", "7946", "Analytical", "SW1A", "supersecret"] {
        assert!(!printed.contains(needle), "{needle} leaked in {printed}");
    }
    assert!(printed.contains("[redacted:email]") && printed.contains("[redacted:name]"));

    tracing::info!(email = ?email, name = %name, phone = ?phone, "customer event for redaction test");
    let captured = logs::all();
    assert!(captured.contains("customer event for redaction test"));
    assert!(!captured.contains("ada.lovelace") && !captured.contains("2079460123"));

    let panic = std::panic::catch_unwind(|| panic!("failed for {email:?} / {name}")).unwrap_err();
    let msg = panic.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(msg.contains("[redacted:email]") && !msg.contains("ada.lovelace"), "{msg}");
}
