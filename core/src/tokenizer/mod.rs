//! BERT tokenization (placeholder: being written).
