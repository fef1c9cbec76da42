//! Fault tests of the MLflow backend against a scripted fake server.
