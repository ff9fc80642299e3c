//! The sled snapshot: the second stage of the flow. (stub, being written)
