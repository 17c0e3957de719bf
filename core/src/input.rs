//! Checks on the token ids handed to a forward pass, shared by every engine.
//!
//! A forward pass indexes embedding tables with these ids, so they are validated once, up
//! front, and the pass itself can then index without checks that could fail.

use crate::ModelConfig;
use core::fmt;

/// Why a forward pass refused its input or its buffers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunError {
    /// No tokens at all (even an empty text tokenizes to `[CLS] [SEP]`).
    EmptyInput,
    /// More tokens than position embeddings.
    TooLong {
        /// Tokens given.
        len: usize,
        /// `max_position_embeddings`.
        max: usize,
    },
    /// A token id outside the vocabulary.
    TokenId {
        /// Position in the input.
        position: usize,
        /// The offending id.
        id: u32,
    },
    /// A token type id outside `type_vocab_size`.
    TokenType {
        /// Position in the input.
        position: usize,
        /// The offending id.
        id: u32,
    },
    /// `token_type_ids` and `input_ids` differ in length.
    TokenTypesLength {
        /// Token ids given.
        ids: usize,
        /// Token type ids given.
        types: usize,
    },
    /// The caller's scratch buffer is smaller than the pass needs.
    ScratchTooSmall {
        /// Elements needed.
        need: usize,
        /// Elements given.
        got: usize,
    },
    /// The logits buffer is not `num_labels` long.
    LogitsLength {
        /// `num_labels`.
        need: usize,
        /// Elements given.
        got: usize,
    },
    /// Classification was asked of a model without a classifier head.
    NoClassifier,
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::EmptyInput => write!(f, "no tokens to run"),
            Self::TooLong { len, max } => {
                write!(f, "{len} tokens exceed the model's {max} position embeddings")
            }
            Self::TokenId { position, id } => {
                write!(f, "token id {id} at position {position} is outside the vocabulary")
            }
            Self::TokenType { position, id } => {
                write!(f, "token type id {id} at position {position} is outside type_vocab_size")
            }
            Self::TokenTypesLength { ids, types } => {
                write!(f, "{types} token type ids given for {ids} tokens")
            }
            Self::ScratchTooSmall { need, got } => {
                write!(f, "scratch buffer holds {got} elements, the pass needs {need}")
            }
            Self::LogitsLength { need, got } => {
                write!(f, "logits buffer holds {got} elements, the model has {need} labels")
            }
            Self::NoClassifier => write!(f, "the model has no classification head"),
        }
    }
}

impl core::error::Error for RunError {}

/// Checks ids and token types against the config; `token_types` of `None` means all zero.
///
/// # Errors
/// The first problem found, as a [`RunError`].
pub fn validate(
    config: &ModelConfig,
    ids: &[u32],
    token_types: Option<&[u32]>,
) -> Result<(), RunError> {
    if ids.is_empty() {
        return Err(RunError::EmptyInput);
    }
    if ids.len() > config.max_position_embeddings {
        return Err(RunError::TooLong { len: ids.len(), max: config.max_position_embeddings });
    }
    if let Some((position, &id)) =
        ids.iter().enumerate().find(|(_, &id)| id as usize >= config.vocab_size)
    {
        return Err(RunError::TokenId { position, id });
    }
    if let Some(types) = token_types {
        if types.len() != ids.len() {
            return Err(RunError::TokenTypesLength { ids: ids.len(), types: types.len() });
        }
        if let Some((position, &id)) =
            types.iter().enumerate().find(|(_, &t)| t as usize >= config.type_vocab_size)
        {
            return Err(RunError::TokenType { position, id });
        }
    }
    Ok(())
}
