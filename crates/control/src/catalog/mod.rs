//! The tool catalog in the control plane: discovery attempts (on
//! registration, on demand, periodically) and the views the API shows.

pub mod refresh;
pub mod view;
