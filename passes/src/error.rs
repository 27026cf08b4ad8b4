use thiserror::Error;

/// A text-form kernel that could not be parsed; `line` is 1-based.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("line {line}: {message}")]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

/// IR that breaks a structural rule (a type mismatch, a use out of scope).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("invalid kernel IR: {0}")]
pub struct VerifyError(pub String);

/// A pass that cannot apply to the IR it was given, or left it invalid.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PassError {
    #[error("pass `{pass}`: {message}")]
    NotApplicable { pass: String, message: String },
    #[error("pass `{pass}` produced invalid IR: {source}")]
    Broke {
        pass: String,
        #[source]
        source: VerifyError,
    },
    #[error("unknown pass `{0}`")]
    UnknownPass(String),
    #[error("bad pipeline `{0}`")]
    BadPipeline(String),
}

impl PassError {
    pub fn not_applicable(pass: &str, message: impl Into<String>) -> Self {
        PassError::NotApplicable {
            pass: pass.to_string(),
            message: message.into(),
        }
    }
}
