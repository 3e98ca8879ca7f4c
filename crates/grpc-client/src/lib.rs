//! grpc-client (work in progress in this session; see docs/ARCHITECTURE.md).
