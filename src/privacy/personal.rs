//! A shopper's personal details as a cart or an order holds them: sealed at rest ([`SealedDetails`],
//! the stored form) and opened with the person's key ([`Details`], for the response to that person,
//! an authorised export or the mailer). The region and country stay in clear (the registry says why).

use super::sealing::{DataKey, Field, KeyError, Sealed};
use crate::kernel::pii::{AddressText, Email, PersonName, Phone, PostalCode};

/// Personal details, open.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Details {
    pub email: Option<Email>,
    pub name: Option<PersonName>,
    pub line1: Option<AddressText>,
    pub line2: Option<AddressText>,
    pub city: Option<AddressText>,
    pub postal_code: Option<PostalCode>,
    pub phone: Option<Phone>,
}

/// Personal details as stored: each field sealed under the person's key.
#[derive(Debug, Clone, Default)]
pub struct SealedDetails {
    pub email: Option<Sealed<Email>>,
    pub name: Option<Sealed<PersonName>>,
    pub line1: Option<Sealed<AddressText>>,
    pub line2: Option<Sealed<AddressText>>,
    pub city: Option<Sealed<AddressText>>,
    pub postal_code: Option<Sealed<PostalCode>>,
    pub phone: Option<Sealed<Phone>>,
}

fn seal<T: super::sealing::Sealable>(
    key: &DataKey,
    field: Field,
    value: &Option<T>,
) -> Result<Option<Sealed<T>>, KeyError> {
    value.as_ref().map(|v| Sealed::seal(key, field, v)).transpose()
}

fn open<T: super::sealing::Sealable>(key: &DataKey, field: Field, value: &Option<Sealed<T>>) -> Option<T> {
    value.as_ref().and_then(|v| v.open(key, field))
}

impl Details {
    /// The details of a row written before sealing existed (its fields in clear).
    pub fn in_clear(stored: &SealedDetails) -> Details {
        Details {
            email: SealedDetails::clear(&stored.email),
            name: SealedDetails::clear(&stored.name),
            line1: SealedDetails::clear(&stored.line1),
            line2: SealedDetails::clear(&stored.line2),
            city: SealedDetails::clear(&stored.city),
            postal_code: SealedDetails::clear(&stored.postal_code),
            phone: SealedDetails::clear(&stored.phone),
        }
    }

    pub fn seal(&self, key: &DataKey) -> Result<SealedDetails, KeyError> {
        Ok(SealedDetails {
            email: seal(key, Field::Email, &self.email)?,
            name: seal(key, Field::ShipName, &self.name)?,
            line1: seal(key, Field::ShipLine1, &self.line1)?,
            line2: seal(key, Field::ShipLine2, &self.line2)?,
            city: seal(key, Field::ShipCity, &self.city)?,
            postal_code: seal(key, Field::ShipPostalCode, &self.postal_code)?,
            phone: seal(key, Field::ShipPhone, &self.phone)?,
        })
    }
}

impl SealedDetails {
    /// Fields written before sealing existed, which hold their value in clear (the start-up backfill
    /// reads them this way once, to seal them).
    fn clear<T: super::sealing::Sealable>(value: &Option<Sealed<T>>) -> Option<T> {
        value.as_ref().map(|v| T::from_opened(v.stored().to_owned()))
    }

    /// The details, opened with the person's key; nothing without it (erased: the key is gone).
    pub fn open(&self, key: Option<&DataKey>) -> Details {
        let Some(key) = key else { return Details::default() };
        Details {
            email: open(key, Field::Email, &self.email),
            name: open(key, Field::ShipName, &self.name),
            line1: open(key, Field::ShipLine1, &self.line1),
            line2: open(key, Field::ShipLine2, &self.line2),
            city: open(key, Field::ShipCity, &self.city),
            postal_code: open(key, Field::ShipPostalCode, &self.postal_code),
            phone: open(key, Field::ShipPhone, &self.phone),
        }
    }
}

/// How a store lists the rows written before sealing existed, and seals one in place.
pub struct Unsealed<R> {
    /// Up to `limit` rows still in clear.
    pub list: fn(&mut crate::db::DbConn, i64) -> diesel::QueryResult<Vec<R>>,
    /// A row's id and its fields as stored (in clear).
    pub parts: fn(&R) -> (String, SealedDetails),
    /// Write the sealed fields and the subject, if the row is still unsealed.
    pub seal: fn(&mut crate::db::DbConn, &str, &str, &SealedDetails) -> diesel::QueryResult<usize>,
}

/// Seal rows written before sealing existed under their person's key (made now), a batch at a time
/// (start-up; safe in several processes: a row is sealed only while it is still unsealed). Returns how
/// many were sealed.
pub async fn seal_earlier<R: Send + 'static>(
    db: &crate::db::Db,
    vault: &super::vault::Vault,
    rows: Unsealed<R>,
) -> Result<usize, crate::error::ApiError> {
    use crate::error::ApiError;
    let mut done = 0;
    loop {
        let list = rows.list;
        let batch = db.run(move |conn| Ok(list(conn, 200)?)).await?;
        let mut progressed = false;
        for row in &batch {
            let (id, stored) = (rows.parts)(row);
            let details = Details::in_clear(&stored);
            let Some(email) = &details.email else { continue };
            let key = vault.for_email(email).await?;
            let sealed = details.seal(&key.key).map_err(|e| ApiError::internal(format!("sealing: {e}")))?;
            let seal = rows.seal;
            done += db.run(move |conn| Ok(seal(conn, &id, &key.subject, &sealed)?)).await?;
            progressed = true;
        }
        // A batch with nothing to seal (no e-mail to find a person by) would come back forever.
        if !progressed {
            return Ok(done);
        }
    }
}
