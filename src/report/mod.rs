//! Reports: one model built from runner events, and one module per output format.
//! Only this module formats results.

pub mod model;
pub mod progress;
pub mod terminal;

pub use model::Report;
