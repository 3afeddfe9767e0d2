//! Integration tests of `rapport-metrics`, one binary: the incremental metrics projection, the
//! SLA evaluation, the report and the business-hours arithmetic against an independent
//! from-scratch model (`model`), and the QA section against its own (`qa_model`), under
//! proptest.

mod model;
mod qa_model;
