//! Finding the object a URI names, and reading its attributes.
//!
//! Guarantees: a lookup that finds no object, or more than one, is an error that says which; the
//! attributes read here are public ones (labels, ids, public key parts), never secret values — except
//! through [`secret_value`], used only on the session object that holds an unwrapped data key.

use super::error::{call, ErrorKind};
use super::session::KeySession;
use super::uri::{ObjectType, Pkcs11Uri};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;
use zeroize::Zeroizing;

/// A found key: its handle, class and key type.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Found {
    pub(crate) handle: ObjectHandle,
    pub(crate) class: ObjectClass,
    pub(crate) key_type: KeyType,
}

/// Every key object matching the URI's `object=`, `id=` and `type=`.
pub(crate) fn find_keys(ks: &KeySession, uri: &Pkcs11Uri) -> Result<Vec<Found>, ErrorKind> {
    let mut template = Vec::new();
    if let Some(label) = &uri.object {
        template.push(Attribute::Label(label.as_bytes().to_vec()));
    }
    if let Some(id) = &uri.id {
        template.push(Attribute::Id(id.clone()));
    }
    match uri.object_type {
        Some(ObjectType::Private) => template.push(Attribute::Class(ObjectClass::PRIVATE_KEY)),
        Some(ObjectType::Public) => template.push(Attribute::Class(ObjectClass::PUBLIC_KEY)),
        Some(ObjectType::SecretKey) => template.push(Attribute::Class(ObjectClass::SECRET_KEY)),
        Some(ObjectType::Cert) => {
            return Err(ErrorKind::Object(
                "type=cert names a certificate; modelseal needs a key object".into(),
            ))
        }
        None => {}
    }
    ks.with(|s| {
        let handles = s
            .find_objects(&template)
            .map_err(|e| call("C_FindObjects", &e))?;
        let mut found = Vec::new();
        for handle in handles {
            let attrs = s
                .get_attributes(handle, &[AttributeType::Class, AttributeType::KeyType])
                .map_err(|e| call("C_GetAttributeValue", &e))?;
            let mut class = None;
            let mut key_type = None;
            for a in attrs {
                match a {
                    Attribute::Class(c) => class = Some(c),
                    Attribute::KeyType(k) => key_type = Some(k),
                    _ => {}
                }
            }
            // Certificates and data objects have no key type: not keys.
            if let (Some(class), Some(key_type)) = (class, key_type) {
                found.push(Found {
                    handle,
                    class,
                    key_type,
                });
            }
        }
        Ok(found)
    })
}

/// "no key object matches …" with the token named.
pub(crate) fn not_found(ks: &KeySession, what: &str) -> ErrorKind {
    ErrorKind::Object(format!(
        "no {what} matches in token {:?} (check object=/id=; is the key on this token, and visible after login?)",
        ks.token.label
    ))
}

/// Exactly one of `found`, or an error naming how many matched.
pub(crate) fn exactly_one(
    ks: &KeySession,
    found: Vec<Found>,
    what: &str,
) -> Result<Found, ErrorKind> {
    match found.len() {
        1 => Ok(found[0]),
        0 => Err(not_found(ks, what)),
        n => Err(ErrorKind::Object(format!(
            "{n} objects match as {what}; add id= or type= to pick one"
        ))),
    }
}

/// One byte-string attribute of an object (absent → `None`).
pub(crate) fn bytes_attr(
    s: &Session,
    handle: ObjectHandle,
    ty: AttributeType,
) -> Result<Option<Vec<u8>>, ErrorKind> {
    let attrs = s
        .get_attributes(handle, &[ty])
        .map_err(|e| call("C_GetAttributeValue", &e))?;
    Ok(attrs.into_iter().find_map(|a| match a {
        Attribute::Id(v)
        | Attribute::Label(v)
        | Attribute::EcParams(v)
        | Attribute::EcPoint(v)
        | Attribute::Modulus(v)
        | Attribute::PublicExponent(v) => Some(v),
        _ => None,
    }))
}

/// One boolean attribute (absent → false).
pub(crate) fn bool_attr(
    s: &Session,
    handle: ObjectHandle,
    ty: AttributeType,
) -> Result<bool, ErrorKind> {
    let attrs = s
        .get_attributes(handle, &[ty])
        .map_err(|e| call("C_GetAttributeValue", &e))?;
    Ok(attrs.into_iter().any(|a| {
        matches!(
            a,
            Attribute::Encrypt(true)
                | Attribute::Decrypt(true)
                | Attribute::Wrap(true)
                | Attribute::Unwrap(true)
                | Attribute::Sign(true)
        )
    }))
}

/// The `CKA_VALUE` of a (session) secret-key object, zeroized when dropped.
pub(crate) fn secret_value(
    s: &Session,
    handle: ObjectHandle,
) -> Result<Zeroizing<Vec<u8>>, ErrorKind> {
    let attrs = s
        .get_attributes(handle, &[AttributeType::Value])
        .map_err(|e| call("C_GetAttributeValue", &e))?;
    for a in attrs {
        if let Attribute::Value(v) = a {
            return Ok(Zeroizing::new(v));
        }
    }
    Err(ErrorKind::Object(
        "the unwrapped data key has no readable value".into(),
    ))
}
