//! Sealing personal data at rest, per person.
//!
//! - A **data key** (AES-256, random) belongs to one data subject. Every personal field of that person
//!   is sealed with it: AES-256-GCM, a random nonce, and the field's kind ([`Field`]: e-mail, name,
//!   phone, …) as associated data, so a sealed name cannot be passed off as a phone. Rows of one person
//!   share the key, so a sealed field moved between that person's rows moves only their own data — as
//!   when a cart becomes an order, which takes the cart's sealed fields as they are, without opening
//!   them. Destroying the data key makes every copy of the person's data unreadable at once — live
//!   database, replicas and backups alike (crypto-shredding).
//! - Data keys are stored **wrapped** by the master key (AES-256-GCM, the subject's id as associated
//!   data), in a keyring that can live apart from the shop's data. Rotating the master key re-wraps
//!   data keys; no sealed row changes.
//! - Look-ups by e-mail use a **blind index**: HMAC-SHA256 of the normalised address under an index key
//!   of its own (itself wrapped by the master key, so rotation leaves indexes valid) — never the
//!   plaintext.
//!
//! Formats (ASCII, safe in any text column): a sealed field is `s1.` + base64url(nonce ‖ ciphertext ‖
//! tag); a wrapped key is `w1.` + the master key's id + `.` + base64url(nonce ‖ ciphertext ‖ tag).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::{aead, hmac, rand as ring_rand};
use sha2::{Digest, Sha256};

const SEALED: &str = "s1.";
const WRAPPED: &str = "w1.";

/// Why key material could not be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    #[error("a key must be 32 bytes, as 64 hex digits or base64")]
    BadLength,
    #[error("the system's random source failed")]
    Random,
    #[error("the wrapped key is not ours or was altered")]
    Unwrap,
}

fn random_bytes<const N: usize>() -> Result<[u8; N], KeyError> {
    use ring_rand::SecureRandom;
    let mut out = [0u8; N];
    ring_rand::SystemRandom::new().fill(&mut out).map_err(|_| KeyError::Random)?;
    Ok(out)
}

fn aes(bytes: &[u8; 32]) -> Result<aead::LessSafeKey, KeyError> {
    let key = aead::UnboundKey::new(&aead::AES_256_GCM, bytes).map_err(|_| KeyError::BadLength)?;
    Ok(aead::LessSafeKey::new(key))
}

/// AES-256-GCM with a random nonce: nonce ‖ ciphertext ‖ tag.
fn seal_bytes(key: &aead::LessSafeKey, aad: &[u8], plain: &[u8]) -> Result<Vec<u8>, KeyError> {
    let nonce = random_bytes::<{ aead::NONCE_LEN }>()?;
    let mut data = plain.to_vec();
    key.seal_in_place_append_tag(aead::Nonce::assume_unique_for_key(nonce), aead::Aad::from(aad), &mut data)
        .map_err(|_| KeyError::Random)?;
    let mut out = nonce.to_vec();
    out.extend_from_slice(&data);
    Ok(out)
}

fn open_bytes(key: &aead::LessSafeKey, aad: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
    if sealed.len() < aead::NONCE_LEN + aead::AES_256_GCM.tag_len() {
        return None;
    }
    let (nonce, rest) = sealed.split_at(aead::NONCE_LEN);
    let nonce = aead::Nonce::try_assume_unique_for_key(nonce).ok()?;
    let mut data = rest.to_vec();
    let plain = key.open_in_place(nonce, aead::Aad::from(aad), &mut data).ok()?;
    Some(plain.to_vec())
}

/// The master key: wraps data keys and the index key, nothing else. Its id (a fingerprint) is kept
/// with every wrapped key, so a keyring knows which master key to ask for.
pub struct MasterKey {
    id: String,
    key: aead::LessSafeKey,
}

impl MasterKey {
    /// From configuration: 64 hex digits or the base64 of 32 bytes (whitespace around is ignored).
    pub fn parse(text: &str) -> Result<MasterKey, KeyError> {
        let text = text.trim();
        let bytes = if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            hex::decode(text).map_err(|_| KeyError::BadLength)?
        } else {
            base64::engine::general_purpose::STANDARD.decode(text).map_err(|_| KeyError::BadLength)?
        };
        let bytes: [u8; 32] = bytes.try_into().map_err(|_| KeyError::BadLength)?;
        MasterKey::from_bytes(&bytes)
    }

    /// A new random master key and its hex form (what a key file holds).
    pub fn generate() -> Result<(MasterKey, String), KeyError> {
        let bytes = random_bytes::<32>()?;
        Ok((MasterKey::from_bytes(&bytes)?, hex::encode(bytes)))
    }

    fn from_bytes(bytes: &[u8; 32]) -> Result<MasterKey, KeyError> {
        let fingerprint = Sha256::digest([b"leancart-master-key-id\0".as_slice(), bytes].concat());
        Ok(MasterKey { id: hex::encode(&fingerprint[..6]), key: aes(bytes)? })
    }

    /// Which master key this is (safe to log and store).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Wrap key material for `owner` (a data subject's id, or the index key's name).
    fn wrap(&self, owner: &str, material: &[u8; 32]) -> Result<String, KeyError> {
        let sealed = seal_bytes(&self.key, owner.as_bytes(), material)?;
        Ok(format!("{}{}", MasterKey::wrapped_prefix(&self.id), URL_SAFE_NO_PAD.encode(sealed)))
    }

    fn unwrap(&self, owner: &str, wrapped: &str) -> Result<[u8; 32], KeyError> {
        let rest = wrapped.strip_prefix(WRAPPED).ok_or(KeyError::Unwrap)?;
        let (id, body) = rest.split_once('.').ok_or(KeyError::Unwrap)?;
        if id != self.id {
            return Err(KeyError::Unwrap);
        }
        let sealed = URL_SAFE_NO_PAD.decode(body).map_err(|_| KeyError::Unwrap)?;
        let plain = open_bytes(&self.key, owner.as_bytes(), &sealed).ok_or(KeyError::Unwrap)?;
        plain.try_into().map_err(|_| KeyError::Unwrap)
    }

    /// How every key this master key wraps begins (`w1.<id>.`).
    pub fn wrapped_prefix(id: &str) -> String {
        format!("{WRAPPED}{id}.")
    }

    /// The id of the master key that wrapped `wrapped`, if it is a wrapped key at all.
    pub fn wrapped_by(wrapped: &str) -> Option<&str> {
        wrapped.strip_prefix(WRAPPED)?.split_once('.').map(|(id, _)| id)
    }
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MasterKey({}, [redacted])", self.id)
    }
}

/// One data subject's key. Never stored unwrapped; never logged.
pub struct DataKey(aead::LessSafeKey);

impl DataKey {
    /// A new key for `subject`, and its wrapped form for the keyring.
    pub fn generate(master: &MasterKey, subject: &str) -> Result<(DataKey, String), KeyError> {
        let bytes = random_bytes::<32>()?;
        Ok((DataKey(aes(&bytes)?), master.wrap(subject, &bytes)?))
    }

    /// The key of `subject` from its wrapped form.
    pub fn unwrap(master: &MasterKey, subject: &str, wrapped: &str) -> Result<DataKey, KeyError> {
        Ok(DataKey(aes(&master.unwrap(subject, wrapped)?)?))
    }

    /// Re-wrap a wrapped key under another master key (rotation: the key itself, and every row sealed
    /// with it, stay as they are).
    pub fn rewrap(old: &MasterKey, new: &MasterKey, subject: &str, wrapped: &str) -> Result<String, KeyError> {
        new.wrap(subject, &old.unwrap(subject, wrapped)?)
    }

    /// Seal a field at its place (a [`Field`]'s name): it opens only there, with this key.
    pub fn seal(&self, place: &str, plain: &str) -> Result<String, KeyError> {
        Ok(format!("{SEALED}{}", URL_SAFE_NO_PAD.encode(seal_bytes(&self.0, place.as_bytes(), plain.as_bytes())?)))
    }

    /// Open what [`DataKey::seal`] sealed at `place`; `None` for another key, place or any change.
    pub fn open(&self, place: &str, sealed: &str) -> Option<String> {
        let bytes = URL_SAFE_NO_PAD.decode(sealed.strip_prefix(SEALED)?).ok()?;
        String::from_utf8(open_bytes(&self.0, place.as_bytes(), &bytes)?).ok()
    }
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey([redacted])")
    }
}

/// Whether a stored value is a sealed field (and not plaintext left behind).
pub fn is_sealed(value: &str) -> bool {
    value.starts_with(SEALED)
}

/// The kinds of personal field, each sealed with its own associated data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Email,
    ShipName,
    ShipLine1,
    ShipLine2,
    ShipCity,
    ShipPostalCode,
    ShipPhone,
    StaffNote,
    /// A link's secret token, kept sealed until the message carrying it is sent.
    LinkToken,
    /// An account holder's name.
    Name,
    /// A second factor's shared secret (TOTP), hex.
    TotpSecret,
    /// A partner endpoint's signing secret.
    WebhookSecret,
}

impl Field {
    pub fn as_str(self) -> &'static str {
        match self {
            Field::Email => "email",
            Field::ShipName => "ship.name",
            Field::ShipLine1 => "ship.line1",
            Field::ShipLine2 => "ship.line2",
            Field::ShipCity => "ship.city",
            Field::ShipPostalCode => "ship.postal_code",
            Field::ShipPhone => "ship.phone",
            Field::StaffNote => "staff.note",
            Field::LinkToken => "link.token",
            Field::Name => "name",
            Field::TotpSecret => "totp.secret",
            Field::WebhookSecret => "partner.webhook_secret",
        }
    }
}

/// A value that can be sealed: a personal-data type of `kernel::pii`, or plain text (a staff note).
pub trait Sealable: Sized {
    fn plain(&self) -> &str;
    /// The value from what [`Sealable::plain`] gave when it was sealed (validated then).
    fn from_opened(plain: String) -> Self;
}

impl Sealable for String {
    fn plain(&self) -> &str {
        self
    }
    fn from_opened(plain: String) -> Self {
        plain
    }
}

/// A personal field as stored: sealed under its person's data key. The only form in which a
/// personal-data type reaches the database (those types have no SQL mapping of their own), so a field
/// cannot be written in clear by mistake. `Debug` shows nothing of it.
#[derive(Clone, PartialEq, Eq, diesel::expression::AsExpression, diesel::deserialize::FromSqlRow)]
#[diesel(sql_type = diesel::sql_types::Text)]
pub struct Sealed<T> {
    text: String,
    of: std::marker::PhantomData<fn() -> T>,
}

impl<T: Sealable> Sealed<T> {
    /// Seal `value` as a `field` of the person whose key this is.
    pub fn seal(key: &DataKey, field: Field, value: &T) -> Result<Sealed<T>, KeyError> {
        Ok(Sealed { text: key.seal(field.as_str(), value.plain())?, of: std::marker::PhantomData })
    }

    /// The value, if `key` is the key it was sealed with (`None` once that key is destroyed).
    pub fn open(&self, key: &DataKey, field: Field) -> Option<T> {
        key.open(field.as_str(), &self.text).map(T::from_opened)
    }
}

impl<T> Sealed<T> {
    /// What the database holds (`s1.…`).
    pub fn stored(&self) -> &str {
        &self.text
    }

    /// A stored value read as text (a raw query); it opens only if it was sealed.
    pub fn from_stored(text: String) -> Sealed<T> {
        Sealed { text, of: std::marker::PhantomData }
    }
}

impl<T> std::fmt::Debug for Sealed<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[sealed]")
    }
}

impl<T, DB> diesel::serialize::ToSql<diesel::sql_types::Text, DB> for Sealed<T>
where
    DB: diesel::backend::Backend,
    str: diesel::serialize::ToSql<diesel::sql_types::Text, DB>,
{
    fn to_sql<'b>(&'b self, out: &mut diesel::serialize::Output<'b, '_, DB>) -> diesel::serialize::Result {
        self.text.as_str().to_sql(out)
    }
}

impl<T, DB> diesel::deserialize::FromSql<diesel::sql_types::Text, DB> for Sealed<T>
where
    DB: diesel::backend::Backend,
    String: diesel::deserialize::FromSql<diesel::sql_types::Text, DB>,
{
    fn from_sql(bytes: DB::RawValue<'_>) -> diesel::deserialize::Result<Self> {
        String::from_sql(bytes).map(Sealed::from_stored)
    }
}

/// The keyed blind index of e-mail addresses.
pub struct BlindIndex(hmac::Key);

/// The keyring's name for the index key's owner.
pub const INDEX_KEY_OWNER: &str = "leancart:blind-index";

impl BlindIndex {
    pub fn generate(master: &MasterKey) -> Result<(BlindIndex, String), KeyError> {
        let bytes = random_bytes::<32>()?;
        Ok((BlindIndex(hmac::Key::new(hmac::HMAC_SHA256, &bytes)), master.wrap(INDEX_KEY_OWNER, &bytes)?))
    }

    pub fn unwrap(master: &MasterKey, wrapped: &str) -> Result<BlindIndex, KeyError> {
        Ok(BlindIndex(hmac::Key::new(hmac::HMAC_SHA256, &master.unwrap(INDEX_KEY_OWNER, wrapped)?)))
    }

    /// The index entry of an e-mail address (as `kernel::pii::Email` normalises it): hex of
    /// HMAC-SHA256 under the index key. Equal addresses give equal entries; nothing else can be read
    /// from one without the key.
    pub fn email(&self, normalised: &str) -> String {
        hex::encode(hmac::sign(&self.0, format!("email\0{normalised}").as_bytes()).as_ref())
    }
}

/// Signs links sent by mail (an access export's download link): HMAC-SHA256 under a key of its own,
/// wrapped by the master key like the others.
pub struct LinkSigner(hmac::Key);

/// The keyring's name for the link-signing key's owner.
pub const LINK_KEY_OWNER: &str = "leancart:link-signing";

impl LinkSigner {
    pub fn generate(master: &MasterKey) -> Result<(LinkSigner, String), KeyError> {
        let bytes = random_bytes::<32>()?;
        Ok((LinkSigner(hmac::Key::new(hmac::HMAC_SHA256, &bytes)), master.wrap(LINK_KEY_OWNER, &bytes)?))
    }

    pub fn unwrap(master: &MasterKey, wrapped: &str) -> Result<LinkSigner, KeyError> {
        Ok(LinkSigner(hmac::Key::new(hmac::HMAC_SHA256, &master.unwrap(LINK_KEY_OWNER, wrapped)?)))
    }

    /// The signature of `message` (hex).
    pub fn sign(&self, message: &str) -> String {
        hex::encode(hmac::sign(&self.0, message.as_bytes()).as_ref())
    }

    /// Whether `signature` (hex) signs `message`, compared in constant time.
    pub fn verify(&self, message: &str, signature: &str) -> bool {
        hex::decode(signature).is_ok_and(|sig| hmac::verify(&self.0, message.as_bytes(), &sig).is_ok())
    }
}

impl std::fmt::Debug for LinkSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LinkSigner([redacted])")
    }
}

impl std::fmt::Debug for BlindIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BlindIndex([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn master() -> MasterKey {
        MasterKey::parse(&"ab".repeat(32)).unwrap()
    }

    #[test]
    fn a_field_opens_only_with_its_key_at_its_place() {
        let m = master();
        let (key, wrapped) = DataKey::generate(&m, "sub_1").unwrap();
        let sealed = key.seal("orders.email:ord_1", "ada@example.org").unwrap();
        // base64url: no '@' or '.' can appear, so the address cannot be in it (a short run of its letters
        // can, by chance).
        assert!(is_sealed(&sealed) && !sealed.contains("ada@") && !sealed[3..].contains('.'));
        assert_eq!(key.open("orders.email:ord_1", &sealed).as_deref(), Some("ada@example.org"));
        assert_eq!(key.open("orders.email:ord_2", &sealed), None, "another row");
        assert_eq!(key.open("carts.email:ord_1", &sealed), None, "another column");
        let (other, _) = DataKey::generate(&m, "sub_2").unwrap();
        assert_eq!(other.open("orders.email:ord_1", &sealed), None, "another person's key");
        let mut altered = sealed.clone().into_bytes();
        let last = altered.len() - 2;
        altered[last] = if altered[last] == b'A' { b'B' } else { b'A' };
        assert_eq!(key.open("orders.email:ord_1", &String::from_utf8(altered).unwrap()), None);
        // Two seals of one value differ (random nonces): equal data cannot be spotted in the table.
        assert_ne!(key.seal("orders.email:ord_1", "ada@example.org").unwrap(), sealed);
        // The wrapped key opens for its subject and its master key only.
        let again = DataKey::unwrap(&m, "sub_1", &wrapped).unwrap();
        assert_eq!(again.open("orders.email:ord_1", &sealed).as_deref(), Some("ada@example.org"));
        assert_eq!(DataKey::unwrap(&m, "sub_2", &wrapped).err(), Some(KeyError::Unwrap));
        let other_master = MasterKey::parse(&"cd".repeat(32)).unwrap();
        assert_eq!(DataKey::unwrap(&other_master, "sub_1", &wrapped).err(), Some(KeyError::Unwrap));
    }

    #[test]
    fn rotation_rewraps_keys_and_leaves_sealed_fields_as_they_are() {
        let (old, new) = (master(), MasterKey::generate().unwrap().0);
        let (key, wrapped) = DataKey::generate(&old, "sub_1").unwrap();
        let sealed = key.seal("carts.ship_line1:cart_1", "1 Analytical Row").unwrap();
        let rewrapped = DataKey::rewrap(&old, &new, "sub_1", &wrapped).unwrap();
        assert_eq!(MasterKey::wrapped_by(&rewrapped), Some(new.id()));
        let key = DataKey::unwrap(&new, "sub_1", &rewrapped).unwrap();
        assert_eq!(key.open("carts.ship_line1:cart_1", &sealed).as_deref(), Some("1 Analytical Row"));
        assert!(DataKey::unwrap(&old, "sub_1", &rewrapped).is_err());
    }

    #[test]
    fn the_blind_index_is_keyed_and_stable() {
        let m = master();
        let (index, wrapped) = BlindIndex::generate(&m).unwrap();
        let entry = index.email("ada@example.org");
        assert_eq!(entry.len(), 64);
        assert!(entry.bytes().all(|b| b.is_ascii_hexdigit()), "hex only: nothing of the address");
        assert_eq!(BlindIndex::unwrap(&m, &wrapped).unwrap().email("ada@example.org"), entry, "stable");
        assert_ne!(index.email("grace@example.org"), entry);
        let (other, _) = BlindIndex::generate(&m).unwrap();
        assert_ne!(other.email("ada@example.org"), entry, "keyed: another key, another entry");
    }

    #[test]
    fn master_keys_parse_from_hex_or_base64_and_never_print() {
        let hex_key = MasterKey::parse(&"0f".repeat(32)).unwrap();
        let b64 = base64::engine::general_purpose::STANDARD.encode([0x0f_u8; 32]);
        assert_eq!(MasterKey::parse(&b64).unwrap().id(), hex_key.id());
        assert_eq!(MasterKey::parse("short").err(), Some(KeyError::BadLength));
        assert_eq!(MasterKey::parse(&"0f".repeat(31)).err(), Some(KeyError::BadLength));
        let shown = format!("{hex_key:?}");
        assert!(!shown.contains("0f0f") && shown.contains("redacted"));
        let (generated, text) = MasterKey::generate().unwrap();
        assert_eq!(MasterKey::parse(&text).unwrap().id(), generated.id());
    }
}
