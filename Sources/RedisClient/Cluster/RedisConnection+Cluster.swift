import ReconcilerCore
// MARK: - Cluster commands on one node

extension RedisConnection {
    /// The cluster's slot map as this node sees it: `CLUSTER SHARDS`, or `CLUSTER SLOTS` when the
    /// server does not know that command (before 7.0). Empty hosts in the reply are this
    /// connection's host.
    ///
    /// - Throws: `.server` when the node is not in cluster mode (`ERR This instance has cluster
    ///   support disabled`); `.protocol` for a reply that is no slot map; transport errors.
    public func clusterTopology() throws(RedisError) -> RedisClusterTopology {
        var host: String?
        if case .tcp(let h, _) = configuration.endpoint { host = h }
        do {
            let reply = try command(["CLUSTER", "SHARDS"])
            return try RedisClusterTopology(clusterShardsReply: reply, connectedHost: host)
        } catch where error.kind == .server && Self.isUnknownSubcommand(error) {
            let reply = try command(["CLUSTER", "SLOTS"])
            return try RedisClusterTopology(clusterSlotsReply: reply, connectedHost: host)
        }
    }

    /// Sends `ASKING` and then `args` in one round trip (what an `ASK` redirect asks of the
    /// client, on a connection to the redirect's target) and returns the command's reply.
    ///
    /// - Throws: `.server` when either command is refused (the reply's text in `serverMessage`,
    ///   e.g. another `ASK` or `MOVED`); transport errors.
    public func commandAfterAsking(_ args: [String]) throws(RedisError) -> RedisReply {
        let replies = try pipeline([["ASKING"], args])
        guard replies.count == 2 else { throw RedisError(.protocol, "ASKING pipeline at \(configuration.endpoint): \(replies.count) replies") }
        if let message = replies[0].errorMessage { throw serverError(message, doing: "ASKING") }
        if let message = replies[1].errorMessage { throw serverError(message, doing: Self.commandName(args.first)) }
        return replies[1]
    }

    /// Whether the error is the server not knowing a (sub)command: `ERR unknown subcommand`,
    /// `ERR Unknown subcommand or wrong number of arguments`, `ERR unknown command`.
    private static func isUnknownSubcommand(_ error: RedisError) -> Bool {
        guard let m = error.serverMessage?.lowercased() else { return false }
        return m.hasPrefix("err unknown subcommand") || m.hasPrefix("err unknown command")
    }
}
