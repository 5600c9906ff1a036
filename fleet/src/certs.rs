//! Certificates made at run time: a CA, one server certificate every simulated agent shares
//! (named `tracejob-agent`, as the chart's; the operator checks that name through
//! `TRACEJOB_AGENT_TLS_DOMAIN`), and the operator's client certificate, written as files for
//! the operator's `--agent-*` flags.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use tonic::transport::{Certificate, Identity, ServerTlsConfig};

/// The name in every simulated agent's certificate.
pub const AGENT_NAME: &str = "tracejob-agent";
/// The name in the operator's client certificate.
pub const OPERATOR_NAME: &str = "tracejob-operator";

/// The files the operator is given, and the agents' server configuration.
#[derive(Debug)]
pub struct FleetTls {
    pub dir: PathBuf,
    pub ca: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
    server: ServerTlsConfig,
}

impl FleetTls {
    /// Makes the certificates and writes the operator's files into `dir`.
    pub fn create(dir: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "tracejob-fleet-ca");
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate()?)?;
        let leaf = |name: &str, usages| -> anyhow::Result<(String, String)> {
            let mut params = CertificateParams::new(vec![name.to_owned()])?;
            params.distinguished_name.push(DnType::CommonName, name);
            params.extended_key_usages = usages;
            let key = KeyPair::generate()?;
            let cert = params.signed_by(&key, &issuer)?;
            Ok((cert.pem(), key.serialize_pem()))
        };
        let (server_cert, server_key) =
            leaf(AGENT_NAME, vec![ExtendedKeyUsagePurpose::ServerAuth])?;
        let (client_cert, client_key) =
            leaf(OPERATOR_NAME, vec![ExtendedKeyUsagePurpose::ClientAuth])?;
        let ca_pem = issuer.pem();
        let tls = FleetTls {
            dir: dir.to_owned(),
            ca: dir.join("ca.crt"),
            client_cert: dir.join("operator.crt"),
            client_key: dir.join("operator.key"),
            server: ServerTlsConfig::new()
                .identity(Identity::from_pem(server_cert, server_key))
                .client_ca_root(Certificate::from_pem(&ca_pem))
                .client_auth_optional(false),
        };
        std::fs::write(&tls.ca, &ca_pem)?;
        std::fs::write(&tls.client_cert, client_cert)?;
        std::fs::write(&tls.client_key, client_key)?;
        Ok(tls)
    }

    /// The agents' side: their certificate, and client certificates must come from the CA.
    pub fn server(&self) -> ServerTlsConfig {
        self.server.clone()
    }
}
