import ReconcilerCore
package enum KeyspaceEventFlags {
    /// `K` (keyspace channel), `$` (string commands), `g` (DEL, EXPIRE, RENAME...), `x` (expired),
    /// `e` (evicted), plus `h` (hash commands) when hash fields are watched.
    package static func required(hashEvents: Bool) -> String { hashEvents ? "K$gxeh" : "K$gxe" }

    /// The flags of `required` that `current` (a `notify-keyspace-events` value) lacks, in
    /// order. `A` in `current` stands for every event class (`g$lshzxet` and `d`, `m`).
    package static func missing(current: String, required: String) -> String {
        var missing = ""
        for flag in required {
            if current.contains(flag) { continue }
            if flag != "K", flag != "E", current.contains("A") { continue }
            missing.append(flag)
        }
        return missing
    }
}
