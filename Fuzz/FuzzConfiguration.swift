// libFuzzer entry point for the configuration reader. Built and run by scripts/fuzz-config
// (swiftc -sanitize=fuzzer,address, with the files of Configuration/ (TOML, ReconcilerConfiguration
// and its settings), Shadow/RedisKeyTemplate.swift and the stand-ins of
// Fuzz/ConfigurationFuzzSupport.swift). The input is a configuration file (bytes, decoded as UTF-8
// the way `load` does). Findings: any trap or stack overflow, and a broken promise of the reader,
// checked here with preconditions:
//   - an error from `ReconcilerConfiguration.parse` names the file, and its line is a line of the input;
//   - a TOML error's line, and the line kept for every table and key, is a line of the input;
//   - a configuration that parses gives a source configuration, and its key templates render.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

let fuzzEnvironment = ["FUZZ_PASSWORD": "secret", "BR_SOURCE_PORT": "3307"]

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    // The reader counts lines at "\n" only.
    let lineCount = text.unicodeScalars.reduce(1) { $1 == "\n" ? $0 + 1 : $0 }

    do {
        let doc = try TOML.parse(text)
        checkLines(doc, lineCount: lineCount, depth: 0)
    } catch {
        precondition((1...lineCount).contains(error.line), "TOML error on line \(error.line) of \(lineCount): \(error)")
    }

    do {
        let c = try ReconcilerConfiguration.parse(text, file: "fuzz.toml", environment: fuzzEnvironment)
        precondition(!c.watches.isEmpty, "a configuration without watches was accepted")
        if c.source.password.value != nil { _ = try c.source.replicationConfiguration() }
        for w in c.watches {
            let key: ShadowKey = w.keyColumns.count == 1 ? .int(-1) : .composite(w.keyColumns.map { _ in "x" })
            _ = w.target.keyTemplate.render(key)
            _ = w.target.keyTemplate.candidates("k:1:2", integerColumns: w.keyColumns.map { _ in true })
        }
    } catch {
        let message = error.description
        precondition(message.hasPrefix("fuzz.toml:"), "an error that does not name the file: \(message)")
        // "fuzz.toml:LINE: ..." or "fuzz.toml: ..." (no line: a missing [[watch]] or [source]).
        let rest = message.dropFirst("fuzz.toml:".count)
        if let colon = rest.firstIndex(of: ":"), let line = Int(rest[..<colon]) {
            precondition((1...lineCount).contains(line), "error on line \(line) of \(lineCount): \(message)")
        } else {
            precondition(rest.hasPrefix(" "), "an error without a line or a space after the file: \(message)")
        }
    }
    return 0
}

/// Every table's and key's line is a line of the input (0 only for the root), and nesting stays
/// within TOML.maxDepth (tables, arrays and inline tables together, plus the dotted parts).
func checkLines(_ t: TOMLTable, lineCount: Int, depth: Int) {
    precondition(depth <= 3 * TOML.maxDepth + 4, "nesting \(depth) past the bound")
    precondition(depth == 0 ? t.line == 0 : (1...lineCount).contains(t.line), "table on line \(t.line) of \(lineCount)")
    for (k, v) in t.values {
        guard let line = t.lines[k] else { preconditionFailure("key \(k) has no line") }
        precondition((1...lineCount).contains(line), "key \(k) on line \(line) of \(lineCount)")
        checkValue(v, lineCount: lineCount, depth: depth + 1)
    }
    precondition(t.lines.count == t.values.count, "lines kept for keys that are not there")
}

func checkValue(_ v: TOMLValue, lineCount: Int, depth: Int) {
    switch v {
    case .table(let t): checkLines(t, lineCount: lineCount, depth: depth)
    case .array(let a):
        precondition(depth <= 3 * TOML.maxDepth + 4, "nesting \(depth) past the bound")
        for e in a { checkValue(e, lineCount: lineCount, depth: depth + 1) }
    default: break
    }
}
