//! f32 reference forward pass (placeholder: being written).
