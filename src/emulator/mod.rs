//! A local Microsoft Graph for the tests and the demo. (stub, being written)
