//! grpc-codegen (work in progress in this session; see docs/ARCHITECTURE.md).
