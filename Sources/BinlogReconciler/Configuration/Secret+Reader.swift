extension Secret {
    /// `password_env = "NAME"` or `password_file = "/path"` (one of them); a literal `password` is
    /// refused. The file must be a regular file of at most 64 KiB that only its owner can access
    /// (see `readSecretFile`); trailing line terminators are stripped. Errors name the key's line.
    static func read(_ r: inout ReconcilerConfiguration.Reader, env: [String: String], prefix: String = "") throws(ConfigurationError) -> Secret {
        if r.t[prefix + "password"] != nil {
            throw r.error(prefix + "password", "passwords are not accepted in the file; use \(prefix)password_env = \"VAR\" or \(prefix)password_file = \"/path\"")
        }
        let name = try r.string(prefix + "password_env")
        let path = try r.string(prefix + "password_file")
        if name != nil, path != nil {
            throw r.error(prefix + "password_file", "give \(prefix)password_env or \(prefix)password_file, not both")
        }
        if let name {
            guard let v = env[name] else { throw r.error(prefix + "password_env", "environment variable \(name) is not set") }
            return Secret(value: v, source: "$" + name)
        }
        if let path {
            var bytes: [UInt8]
            switch readSecretFile(path) {
            case .success(let b): bytes = b
            case .failure(let e): throw r.error(prefix + "password_file", e.message)
            }
            while let last = bytes.last, last == 0x0A || last == 0x0D { bytes.removeLast() }
            return Secret(value: String(decoding: bytes, as: UTF8.self), source: path)
        }
        return Secret(value: nil, source: "none")
    }
}
