//! DSSE envelopes (v1.0) signed with ECDSA P-256 / SHA-256, and in-toto
//! Statement v1 helpers for provenance and test-result attestations.

use sealtune_contract::{Exit, ExitStatus};
use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use p256::ecdsa::signature::{Signer as _, Verifier as _};
use p256::ecdsa::{DerSignature, Signature, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

/// DSSE payload type of in-toto statements.
pub const IN_TOTO_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";
/// `_type` of an in-toto Statement v1.
pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";

/// Why a DSSE envelope or statement was rejected.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureError {
    /// The envelope or statement JSON is malformed.
    #[error("malformed envelope: {0}")]
    Malformed(String),
    /// The envelope carries another payload type.
    #[error("payload type {found:?}, expected {expected:?}")]
    PayloadType {
        /// Type found.
        found: String,
        /// Type required.
        expected: &'static str,
    },
    /// No signature in the envelope verifies under the given public key.
    #[error("no signature verifies with the given public key (wrong signer or modified payload)")]
    NoValidSignature,
    /// The key could not produce a signature.
    #[error("signing failed: {0}")]
    Signing(String),
}

impl ExitStatus for SignatureError {
    /// Exit code following DESIGN.md: 77 for a wrong signer, 65 for malformed data.
    fn exit(&self) -> Exit {
        match self {
            Self::NoValidSignature => Exit::NoPerm,
            Self::Signing(_) => Exit::Software,
            _ => Exit::DataErr,
        }
    }
}

/// One signature of an envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvelopeSignature {
    /// Base64 of the DER-encoded ECDSA signature.
    pub sig: String,
    /// Key identifier; sealtune writes the key hint (see [`crate::keys::key_hint`]).
    #[serde(default)]
    pub keyid: String,
}

/// A DSSE envelope in its JSON form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Envelope {
    /// Base64 of the payload bytes.
    pub payload: String,
    /// Media type of the payload.
    pub payload_type: String,
    /// Signatures over PAE(payload_type, payload).
    pub signatures: Vec<EnvelopeSignature>,
}

/// DSSE v1 pre-authentication encoding.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut v = format!(
        "DSSEv1 {} {} {} ",
        payload_type.len(),
        payload_type,
        payload.len()
    )
    .into_bytes();
    v.extend_from_slice(payload);
    v
}

/// Signs `payload` into a single-signature envelope.
pub fn sign_envelope(
    payload_type: &str,
    payload: &[u8],
    key: &SigningKey,
    keyid: &str,
) -> Result<Envelope, SignatureError> {
    let sig: Signature = key
        .try_sign(&pae(payload_type, payload))
        .map_err(|e| SignatureError::Signing(e.to_string()))?;
    Ok(Envelope {
        payload: B64.encode(payload),
        payload_type: payload_type.to_owned(),
        signatures: vec![EnvelopeSignature {
            sig: B64.encode(sig.to_der().as_bytes()),
            keyid: keyid.to_owned(),
        }],
    })
}

/// Verifies that some signature of `env` is valid under `key` and returns the
/// payload bytes. `expected_type` must match the envelope's payload type.
pub fn verify_envelope(
    env: &Envelope,
    key: &VerifyingKey,
    expected_type: &'static str,
) -> Result<Vec<u8>, SignatureError> {
    if env.payload_type != expected_type {
        return Err(SignatureError::PayloadType {
            found: env.payload_type.clone(),
            expected: expected_type,
        });
    }
    let payload = B64
        .decode(&env.payload)
        .map_err(|_| SignatureError::Malformed("payload is not base64".into()))?;
    let msg = pae(&env.payload_type, &payload);
    for s in &env.signatures {
        let Ok(der) = B64.decode(&s.sig) else {
            continue;
        };
        let Ok(sig) = DerSignature::from_bytes(&der) else {
            continue;
        };
        let Ok(sig) = Signature::try_from(sig) else {
            continue;
        };
        if key.verify(&msg, &sig).is_ok() {
            return Ok(payload);
        }
    }
    Err(SignatureError::NoValidSignature)
}

/// An in-toto resource descriptor (the fields sealtune uses).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceDescriptor {
    /// Name of the artifact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// URI of the artifact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    /// Digests by algorithm name (`sha256` → lowercase hex).
    #[serde(default)]
    pub digest: BTreeMap<String, String>,
}

/// An in-toto Statement v1 with an arbitrary JSON predicate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Statement {
    /// Always [`STATEMENT_TYPE`].
    #[serde(rename = "_type")]
    pub type_: String,
    /// What the statement is about.
    pub subject: Vec<ResourceDescriptor>,
    /// Predicate type URI, e.g. `https://slsa.dev/provenance/v1`.
    #[serde(rename = "predicateType")]
    pub predicate_type: String,
    /// Predicate body.
    pub predicate: serde_json::Value,
}

impl Statement {
    /// A statement of `predicate_type` about `subject`.
    pub fn new(
        subject: Vec<ResourceDescriptor>,
        predicate_type: &str,
        predicate: serde_json::Value,
    ) -> Self {
        Self {
            type_: STATEMENT_TYPE.into(),
            subject,
            predicate_type: predicate_type.into(),
            predicate,
        }
    }
}

/// Serializes and signs a statement into a DSSE envelope.
pub fn sign_statement(st: &Statement, key: &SigningKey) -> Result<Envelope, SignatureError> {
    let payload = serde_json::to_vec(st).map_err(|e| SignatureError::Signing(e.to_string()))?;
    let keyid = crate::keys::key_hint(key.verifying_key())
        .map_err(|e| SignatureError::Signing(e.to_string()))?;
    sign_envelope(IN_TOTO_PAYLOAD_TYPE, &payload, key, &keyid)
}

/// Verifies an envelope and parses its in-toto statement.
pub fn verify_statement(env: &Envelope, key: &VerifyingKey) -> Result<Statement, SignatureError> {
    let payload = verify_envelope(env, key, IN_TOTO_PAYLOAD_TYPE)?;
    let st: Statement = serde_json::from_slice(&payload)
        .map_err(|e| SignatureError::Malformed(format!("statement: {e}")))?;
    if st.type_ != STATEMENT_TYPE {
        return Err(SignatureError::Malformed(format!(
            "_type {:?}, expected {STATEMENT_TYPE:?}",
            st.type_
        )));
    }
    Ok(st)
}

/// Verifies every line of a JSON Lines file of envelopes (such as
/// `provenance.intoto.jsonl`); returns the statements in order.
pub fn verify_jsonl(
    text: &str,
    key: &VerifyingKey,
) -> Result<Vec<Statement>, (usize, SignatureError)> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            let env: Envelope = serde_json::from_str(l)
                .map_err(|e| (i + 1, SignatureError::Malformed(e.to_string())))?;
            verify_statement(&env, key).map_err(|e| (i + 1, e))
        })
        .collect()
}
