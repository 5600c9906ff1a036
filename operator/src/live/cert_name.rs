//! The subject common name of an X.509 certificate (DER), which is how Kubernetes names a
//! front proxy (`requestheader-allowed-names`). Read only from certificates rustls has
//! already verified against the front proxy's CA; anything unexpected reads as no name.

const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const OID: u8 = 0x06;
/// `[0]` EXPLICIT: the version, before the serial number.
const VERSION: u8 = 0xa0;
/// 2.5.4.3, commonName.
const COMMON_NAME: &[u8] = &[0x55, 0x04, 0x03];

/// One DER element: (tag, contents, what follows).
fn element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let width = usize::from(first & 0x7f);
        if width == 0 || width > 4 || rest.len() < width {
            return None;
        }
        let (bytes, rest) = rest.split_at(width);
        let len = bytes.iter().fold(0usize, |n, &b| (n << 8) | usize::from(b));
        (len, rest)
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

fn expect(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (found, contents, rest) = element(input)?;
    (found == tag).then_some((contents, rest))
}

/// The first commonName of the certificate's subject.
pub fn common_name(der: &[u8]) -> Option<String> {
    let (certificate, _) = expect(der, SEQUENCE)?;
    let (mut tbs, _) = expect(certificate, SEQUENCE)?;
    if tbs.first() == Some(&VERSION) {
        tbs = element(tbs)?.2;
    }
    // serial number, signature algorithm, issuer, validity: then the subject.
    for _ in 0..4 {
        tbs = element(tbs)?.2;
    }
    let (mut names, _) = expect(tbs, SEQUENCE)?;
    while !names.is_empty() {
        let (set, rest) = expect(names, SET)?;
        names = rest;
        let (attribute, _) = expect(set, SEQUENCE)?;
        let (oid, value) = expect(attribute, OID)?;
        if oid == COMMON_NAME {
            let (_, text, _) = element(value)?;
            return String::from_utf8(text.to_vec()).ok();
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair};

    fn certificate(names: &[(DnType, &str)]) -> Vec<u8> {
        let mut params = CertificateParams::new(vec!["ignored.example".to_owned()]).unwrap();
        let mut subject = DistinguishedName::new();
        for (kind, value) in names {
            subject.push(kind.clone(), *value);
        }
        params.distinguished_name = subject;
        let key = KeyPair::generate().unwrap();
        params.self_signed(&key).unwrap().der().to_vec()
    }

    #[test]
    fn reads_the_subject_common_name_not_a_san_or_another_attribute() {
        let der = certificate(&[
            (DnType::OrganizationName, "system:masters"),
            (DnType::CommonName, "front-proxy-client"),
        ]);
        assert_eq!(common_name(&der).as_deref(), Some("front-proxy-client"));
        assert_eq!(
            common_name(&certificate(&[(DnType::OrganizationName, "o")])),
            None
        );
    }

    #[test]
    fn anything_cut_short_or_garbled_has_no_name() {
        let der = certificate(&[(DnType::CommonName, "front-proxy-client")]);
        for len in 0..der.len() - 1 {
            // Cut anywhere before the end of the name: never a panic, never a wrong name.
            if let Some(name) = common_name(&der[..len]) {
                assert_eq!(name, "front-proxy-client");
            }
        }
        assert_eq!(common_name(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]), None);
        assert_eq!(common_name(&[0x30, 0x89, 1, 2, 3, 4, 5, 6, 7, 8, 9]), None);
    }
}
