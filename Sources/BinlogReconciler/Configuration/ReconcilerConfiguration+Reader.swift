/// How the configuration is read: where errors point (`Location`) and the typed, typo-rejecting
/// reader of one table (`Reader`).
extension ReconcilerConfiguration {
    /// The file errors are about; makes `FILE:LINE: message` (`line LINE: message` without a file,
    /// `FILE: message` without a line).
    struct Location {
        let file: String?

        /// The start of an error message about `line` (0 or nil: no line).
        func prefix(_ line: Int?) -> String {
            let line = line.flatMap { $0 > 0 ? $0 : nil }
            switch (file, line) {
            case let (f?, l?): return "\(f):\(l): "
            case let (f?, nil): return "\(f): "
            case let (nil, l?): return "line \(l): "
            case (nil, nil): return ""
            }
        }

        func error(_ line: Int?, _ message: String) -> ConfigurationError { ConfigurationError(prefix(line) + message) }
    }

    /// Reads typed keys of one table and rejects keys it does not know (typos). Its errors name
    /// the line of the key they are about (of the table's header for a missing key).
    struct Reader {
        let t: TOMLTable
        /// How messages name the table: `[redis]`, `[[watch]] #2`.
        let label: String
        let at: Location
        var used = Set<String>()
        init(_ t: TOMLTable, _ label: String, _ at: Location) { self.t = t; self.label = label; self.at = at }

        mutating func allow(_ keys: String...) { for k in keys { used.insert(k) } }

        mutating func get(_ k: String) -> TOMLValue? { used.insert(k); return t[k] }

        /// `LINE: [table] key: message`, at the key's line.
        func error(_ k: String, _ message: String) -> ConfigurationError {
            at.error(t.lines[k] ?? t.line, "\(label) \(k): \(message)")
        }

        /// `LINE: [table] key must …`, at the key's line.
        func rangeError(_ k: String, _ message: String) -> ConfigurationError {
            at.error(t.lines[k] ?? t.line, "\(label) \(k) \(message)")
        }

        /// `LINE: [table] missing key 'key' (hint)`, at the table's header line.
        func missing(_ k: String, _ hint: String) -> ConfigurationError {
            at.error(t.line, "\(label) missing key '\(k)' (\(hint))")
        }

        func typeError(_ k: String, _ want: String, _ got: TOMLValue) -> ConfigurationError {
            error(k, "expected \(want), got \(got.typeName)")
        }

        /// A number for messages: `3600`, `0.1`.
        static func text(_ d: Double) -> String {
            if d.isFinite, d == d.rounded(), abs(d) < 1e15 { return String(Int64(d)) }
            return "\(d)"
        }

        mutating func string(_ k: String) throws(ConfigurationError) -> String? {
            guard let v = get(k) else { return nil }
            guard let s = v.string else { throw typeError(k, "a string", v) }
            return s
        }

        /// A string or a list of strings (`key = "id"`, `key = ["shop_id", "sku"]`).
        mutating func stringOrStrings(_ k: String) throws(ConfigurationError) -> [String]? {
            guard let v = get(k) else { return nil }
            if let s = v.string { return [s] }
            guard let a = v.array else { throw typeError(k, "a string or a list of strings", v) }
            var out: [String] = []
            for e in a {
                guard let s = e.string else { throw typeError(k, "a list of strings", e) }
                out.append(s)
            }
            return out
        }

        mutating func int(_ k: String, in range: ClosedRange<Int>? = nil) throws(ConfigurationError) -> Int? {
            guard let v = get(k) else { return nil }
            guard let i = v.integer else { throw typeError(k, "an integer", v) }
            let value = Int(i)
            if let range, !range.contains(value) {
                if range.upperBound == Int.max { throw rangeError(k, "must be at least \(range.lowerBound), got \(value)") }
                throw rangeError(k, "must be between \(range.lowerBound) and \(range.upperBound), got \(value)")
            }
            return value
        }

        mutating func double(_ k: String, in range: ClosedRange<Double>? = nil) throws(ConfigurationError) -> Double? {
            guard let v = get(k) else { return nil }
            guard let d = v.number else { throw typeError(k, "a number", v) }
            guard d.isFinite else { throw error(k, "expected a finite number, got \(d)") }
            if let range, !range.contains(d) {
                throw rangeError(k, "must be between \(Self.text(range.lowerBound)) and \(Self.text(range.upperBound)), got \(Self.text(d))")
            }
            return d
        }

        mutating func bool(_ k: String) throws(ConfigurationError) -> Bool? {
            guard let v = get(k) else { return nil }
            guard let b = v.bool else { throw typeError(k, "true or false", v) }
            return b
        }

        func finish() throws(ConfigurationError) {
            let unknown = Set(t.keys).subtracting(used)
            // The first in the file, so that fixing errors one by one goes from the top.
            if let k = unknown.min(by: { (t.lines[$0] ?? 0, $0) < (t.lines[$1] ?? 0, $1) }) {
                throw at.error(t.lines[k] ?? t.line, "\(label) unknown key '\(k)'")
            }
        }
    }
}
