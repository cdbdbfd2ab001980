// The library's parts, re-exported so `import BinlogReconciler` gives a user (the CLI, the
// simulator, the benchmarks) the whole public API, as before the split into targets.
@_exported import ReconcileEngine
@_exported import ReconcilerCore
@_exported import RedisClient
@_exported import ReplicationClient
