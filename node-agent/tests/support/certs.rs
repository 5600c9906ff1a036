//! A CA, an agent (server) certificate and an operator (client) certificate, as PEM files.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};

/// The name every test agent's certificate carries.
pub const AGENT_NAME: &str = "tracejob-agent";
/// The name the operator's client certificate carries and agents require.
pub const OPERATOR_NAME: &str = "tracejob-operator";

pub struct Pem {
    pub cert: String,
    pub key: String,
}

pub struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl Ca {
    pub fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().expect("CA key");
        Ca {
            issuer: CertifiedIssuer::self_signed(params, key).expect("self-signed CA"),
        }
    }

    pub fn pem(&self) -> String {
        self.issuer.pem()
    }

    fn leaf(&self, name: &str, usages: Vec<ExtendedKeyUsagePurpose>) -> Pem {
        let mut params = CertificateParams::new(vec![name.to_owned()]).expect("leaf params");
        params.distinguished_name.push(DnType::CommonName, name);
        params.extended_key_usages = usages;
        let key = KeyPair::generate().expect("leaf key");
        let cert = params.signed_by(&key, &self.issuer).expect("signed leaf");
        Pem {
            cert: cert.pem(),
            key: key.serialize_pem(),
        }
    }

    /// Like the chart's (Helm's genSignedCert): usable for server AND client auth, so only
    /// the agent's check of the client's name keeps it from driving other agents.
    pub fn server(&self) -> Pem {
        self.leaf(
            AGENT_NAME,
            vec![
                ExtendedKeyUsagePurpose::ServerAuth,
                ExtendedKeyUsagePurpose::ClientAuth,
            ],
        )
    }

    pub fn client(&self) -> Pem {
        self.client_named(OPERATOR_NAME)
    }

    /// A client certificate of this CA with another name than the operator's.
    pub fn client_named(&self, name: &str) -> Pem {
        self.leaf(name, vec![ExtendedKeyUsagePurpose::ClientAuth])
    }
}

/// The agent's TLS files in a fresh directory.
pub struct AgentFiles {
    pub dir: PathBuf,
    /// The agent's own certificate and key.
    pub agent: Pem,
}

impl AgentFiles {
    pub fn write(ca: &Ca, tag: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("tracejob-agent-tls-{}-{tag}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("tls dir");
        let server = ca.server();
        write(&dir.join("agent.crt"), &server.cert);
        write(&dir.join("agent.key"), &server.key);
        write(&dir.join("ca.crt"), &ca.pem());
        AgentFiles { dir, agent: server }
    }

    pub fn args(&self) -> Vec<String> {
        let path = |name: &str| self.dir.join(name).display().to_string();
        vec![
            "--tls-cert".into(),
            path("agent.crt"),
            "--tls-key".into(),
            path("agent.key"),
            "--client-ca".into(),
            path("ca.crt"),
        ]
    }
}

impl Drop for AgentFiles {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).expect("write a PEM file");
}
